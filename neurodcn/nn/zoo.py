"""The model zoo: every model buildable by name, and the registry users extend.

Registered here: the DCN paper's classifiers (neurodcn.nn.models, Table 1 and Table 5), the CC paper's CC-Net and
ConvNet (neurodcn.nn.ccnet, Table 3) and dcn-cc (neurodcn.nn.dcn_cc). A model carries a JSON ``config`` dict
holding "name" and its options, so build_model(**model.config) rebuilds its architecture (checkpoints rely on it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from neurodcn.nn.ccnet import CCNet, ConvNet
from neurodcn.nn.classifier import MODEL_SPECS
from neurodcn.nn.dcn_cc import build_dcn_cc
from neurodcn.nn.models import build_classifier
from neurodcn.validate import check_bool, check_callable, check_choice, check_str

__all__ = ["register_model", "build_model", "list_models"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, builder: Callable[..., nn.Module], *, replace: bool = False) -> None:
    """Register builder(**overrides) -> nn.Module under name. The module should carry a JSON-serialisable
    ``config`` dict holding "name" and its options, so that build_model(**model.config) rebuilds it."""
    check_str("name", name)
    replace = check_bool("replace", replace)
    check_callable("builder", builder)
    if name in _REGISTRY and not replace:
        raise ValueError(f"model {name!r} is already registered (pass replace=True to override it)")
    _REGISTRY[name] = builder


def list_models() -> list[str]:
    """Names accepted by build_model, in registration order."""
    return list(_REGISTRY)


def build_model(name: str, **overrides) -> nn.Module:
    """Build a registered model; overrides change its defaults (the built-in classifiers take width,
    num_classes, in_channels, act, gn_groups, seed, and where they apply solver (a SolverConfig or its dict),
    time_mode, cache_kernels, order, sigma_range, pair_size)."""
    check_choice("name", name, list_models())
    return _REGISTRY[name](**overrides)


for _name in MODEL_SPECS:
    register_model(_name, functools.partial(build_classifier, _name))
register_model("ccnet", CCNet)
register_model("convnet", ConvNet)
register_model("dcn-cc", build_dcn_cc)

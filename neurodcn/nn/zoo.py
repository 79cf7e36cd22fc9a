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
    """Register a model builder under a name, so that ``build_model`` builds it.

    The module the builder returns should carry a JSON-serialisable ``config`` dict holding "name" and its
    options, so that ``build_model(**model.config)`` rebuilds it (and checkpoints of it load).

    Args:
        name: the model's name.
        builder: a callable ``builder(**overrides) -> nn.Module``.
        replace: allow replacing a model registered under the same name.

    Raises:
        ValueError: ``name`` is taken and ``replace`` is False.

    Examples:
        >>> import torch, neurodcn as nd
        >>> def tiny(width=2, name="tiny-conv"):
        ...     model = torch.nn.Conv2d(3, width, 3)
        ...     model.config = {"name": name, "width": width}
        ...     return model
        >>> nd.register_model("tiny-conv", tiny, replace=True)
        >>> nd.build_model("tiny-conv", width=5).out_channels
        5
    """
    check_str("name", name)
    replace = check_bool("replace", replace)
    check_callable("builder", builder)
    if name in _REGISTRY and not replace:
        raise ValueError(f"model {name!r} is already registered (pass replace=True to override it)")
    _REGISTRY[name] = builder


def list_models() -> list[str]:
    """The names ``build_model`` accepts, in registration order.

    Returns:
        The DCN paper's ten models, then the continuous-convolution networks and any registered later.

    Examples:
        >>> import neurodcn as nd
        >>> nd.list_models()[:4]
        ['dcn-ode', 'dcn-full', 'dcn-sigma-ji', 'odenet']
        >>> "ccnet" in nd.list_models()
        True
    """
    return list(_REGISTRY)


def build_model(name: str, **overrides) -> nn.Module:
    """Build a registered model (the model zoo: ``list_models``).

    Args:
        name: a registered model name, e.g. "dcn-ode", "odenet", "resnet-blocks", "ccnet".
        **overrides: change the builder's defaults. The built-in classifiers take ``width``, ``num_classes``,
            ``in_channels``, ``act``, ``gn_groups``, ``seed``, and where they apply ``solver`` (a
            ``SolverConfig`` or its dict), ``time_mode``, ``cache_kernels``, ``order``, ``sigma_range``,
            ``pair_size``.

    Returns:
        The model, an ``nn.Module`` whose ``config`` dict (JSON) rebuilds it: ``build_model(**model.config)``.

    Examples:
        >>> import torch, neurodcn as nd
        >>> solver = nd.SolverConfig(method="rk4", step_size=0.5)
        >>> model = nd.build_model("dcn-ode", width=4, solver=solver)
        >>> tuple(model(torch.rand(2, 3, 32, 32)).shape)
        (2, 10)
        >>> [block["forward_nfe"] for block in model.nfe_report()]  # 4 rk4 steps of 4 evaluations each
        [16, 16, 16]
        >>> nd.build_model(**model.config).config == model.config
        True
    """
    check_choice("name", name, list_models())
    return _REGISTRY[name](**overrides)


for _name in MODEL_SPECS:
    register_model(_name, functools.partial(build_classifier, _name))
register_model("ccnet", CCNet)
register_model("convnet", ConvNet)
register_model("dcn-cc", build_dcn_cc)

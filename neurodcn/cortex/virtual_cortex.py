"""VirtualCortex: a network (any nn.Module) wrapped as something to record from and experiment on.

Every experiment returns a labelled xr.Dataset (the schema: neurodcn.schema). Physical units: the input image of
``image_size`` pixels spans ``visual_degrees`` horizontally; model time t maps to ms as
onset_ms + ms_per_unit_time * t. The defaults (25 ms per unit, onset 50 ms) put an ODE block's [0, 2] at
50-100 ms after stimulus onset, in the spirit of Brain-Score's V1 bins from 50 ms.
"""

from __future__ import annotations

import html

import numpy as np
import torch
import xarray as xr
from torch import nn

from neurodcn.cortex import compare as _compare
from neurodcn.cortex import completion as _completion
from neurodcn.cortex import contrast as _contrast
from neurodcn.cortex import physiology as _physiology
from neurodcn.cortex import receptive_fields as _rf
from neurodcn.cortex import record as _record
from neurodcn.cortex import rf_size as _rf_size
from neurodcn.cortex.baselines import Pixels, untrained_model
from neurodcn.cortex.inputs import check_images, resize_attrs
from neurodcn.cortex.readout import Readout, layer_geometry
from neurodcn.data.bundled import DEFAULT_CHECKPOINT, bundled_checkpoint, bundled_name
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.srf import SRFConv2d
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.validate import check_bool, check_int, check_pair, check_real, check_type

__all__ = ["VirtualCortex"]


class VirtualCortex:
    """A network to experiment on: any nn.Module, with the layers to record named by module name.

    Args:
        model: the network (input images [N, C, H, W] in [0, 1]); put in eval mode, never trained here.
        visual_degrees: width of the input image in degrees of visual angle (deg).
        ms_per_unit_time: milliseconds per unit of model time (ms).
        onset_ms: time of model t = 0 after stimulus onset (ms).
        batch_size: images per forward pass (memory is bounded by one batch).
        progress: show tqdm progress bars.
        image_size: input size in pixels, int or (height, width).
        layers: module names (``model.named_modules()``) to record, each one block of the recording; None: a
            staged classifier's blocks, else the model's continuous blocks, else its convolution layers
            (neurodcn.cortex.readout.default_layers).

    Named layers are all continuous blocks (ODE blocks, or modules meeting the protocol of
    neurodcn.cortex.readout: h(t) over model time, solver states marked) or all discrete layers. A discrete
    layer computes once per image, so it is recorded with one time point, model time 0 (time_ms = onset_ms):
    the blocks already order layers by depth, and a time per layer would invent latencies. record, rsa,
    predictivity, physiology and the map geometry work on every model; receptive_fields and srf_kernels need
    SRF layers; contrast_sweep and pattern_completion need a staged classifier (neurodcn.nn.classifier.Classifier),
    and their T-scaling regimes and D(t) its ODE blocks. Baselines: VirtualCortex.pixels(), .untrained(name).

    Examples:
        >>> import neurodcn as nd
        >>> vc = nd.VirtualCortex(nd.build_model("dcn-ode", width=4), progress=False)
        >>> vc.name, vc.visual_degrees, vc.image_size
        ('dcn-ode', 8.0, (32, 32))
        >>> vc.map_shape(0)  # (channels, height, width) of block 1's map
        (4, 30, 30)
    """

    def __init__(
        self,
        model: nn.Module,
        visual_degrees: float = 8.0,
        ms_per_unit_time: float = 25.0,
        onset_ms: float = 50.0,
        batch_size: int = 64,
        progress: bool = True,
        image_size=32,
        layers=None,
    ):
        check_type("model", model, nn.Module, "a torch nn.Module")
        self.model = model.eval()
        self.visual_degrees = check_real("visual_degrees", visual_degrees, lo=0.0, lo_open=True)
        self.ms_per_unit_time = check_real("ms_per_unit_time", ms_per_unit_time, lo=0.0, lo_open=True)
        self.onset_ms = check_real("onset_ms", onset_ms)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.progress = check_bool("progress", progress)
        self.image_size = check_pair("image_size", image_size, minimum=1)
        self.card: dict | None = None
        config = getattr(model, "config", None)
        self.model_config = dict(config) if isinstance(config, dict) else {}
        self.name = str(self.model_config.get("name", type(model).__name__))
        given = [getattr(model, "in_channels", None), self.model_config.get("in_channels")]
        given += [m.in_channels for m in model.modules() if isinstance(getattr(m, "in_channels", None), int)]
        self.in_channels = int(next((c for c in given if c), 3))
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.num_classes = self.model_config.get("num_classes") or (
            linear[-1].out_features if linear else None
        )
        if isinstance(model, Classifier) and min(self.image_size) < model.min_input_size():
            smallest = model.min_input_size()
            raise ValueError(f"image_size must be at least {smallest} x {smallest} px for {self.name!r} (smaller "
                             f"images leave a block map empty or a norm one value per group), got {image_size!r}")
        self.readout = Readout(model, layers)
        self._like = next(iter([*model.parameters(), *model.buffers()]), torch.zeros(()))
        try:
            self.geometry, self.layer_strides, self.geometry_method = layer_geometry(
                self.readout, self.in_channels, self.image_size, self._like)
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"image_size {image_size!r} (images [1, {self.in_channels}, *image_size]) did not pass "
                             f"through {self.name!r} and its layers: {err}") from err

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path, **kwargs) -> VirtualCortex:
        """A cortex on the model of a checkpoint written by ``neurodcn.save_checkpoint``.

        Args:
            path: the checkpoint file (.pt); it is loaded safely (``neurodcn.load_checkpoint``) and its model
                card kept in ``.card``.
            **kwargs: the other arguments of ``VirtualCortex`` (visual_degrees, ms_per_unit_time, ...).

        Returns:
            The cortex.

        Examples:
            >>> import tempfile, pathlib, neurodcn as nd
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
            >>> _ = nd.save_checkpoint(nd.build_model("dcn-ode", width=4), path)
            >>> vc = nd.VirtualCortex.from_checkpoint(path, progress=False)
            >>> vc.card["model"]["name"]
            'dcn-ode'
        """
        model, card = load_checkpoint(path)
        vc = cls(model, **kwargs)
        vc.card = card
        return vc

    @classmethod
    def pretrained(cls, name: str = DEFAULT_CHECKPOINT, **kwargs) -> VirtualCortex:
        """A cortex on a checkpoint bundled with the package (no network access).

        Args:
            name: a bundled checkpoint, ``<name>.pt`` of the package's checkpoints folder; default the
                solver-faithful dcn-ode. ``neurodcn.data.bundled.bundled_checkpoints()`` lists them; models
                trained on the CIFAR-10 subset are ``<name>-subset``, which a plain name without a model of its
                own also loads.
            **kwargs: the other arguments of ``VirtualCortex`` (visual_degrees, ms_per_unit_time, ...).

        Returns:
            The cortex, named after the checkpoint it loaded (dcn-ode-euler-subset is a dcn-ode trained with
            Euler), with the checkpoint's model card in ``.card``.

        Examples:
            >>> import neurodcn as nd
            >>> vc = nd.VirtualCortex.pretrained(progress=False)
            >>> vc.name, len(vc.model.blocks), vc.card["model"]["name"]
            ('dcn-ode', 3, 'dcn-ode')
            >>> vc.onset_ms + vc.ms_per_unit_time * 2  # model time t = 2 in ms after onset
            100.0
        """
        vc = cls.from_checkpoint(bundled_checkpoint(name), **kwargs)
        vc.name = bundled_name(name)
        return vc

    @classmethod
    def pixels(cls, in_channels: int = 3, **kwargs) -> VirtualCortex:
        """The pixel baseline: one block, the image itself at the model's input (resized to image_size),
        recorded at model time 0 (neurodcn.cortex.baselines.Pixels)."""
        return cls(Pixels(in_channels), layers=["image"], **kwargs)

    @classmethod
    def untrained(cls, name: str = DEFAULT_CHECKPOINT, seed: int | None = None, **kwargs) -> VirtualCortex:
        """An untrained copy of a bundled or zoo model, built by the zoo with its seed rule
        (neurodcn.cortex.baselines.untrained_model; default: a bundled model's own initialisation)."""
        vc = cls(untrained_model(name, seed), **kwargs)
        vc.name = f"{vc.name} (untrained, seed {vc.model_config['seed']})"
        return vc

    # ------------------------------------------------------------------ shared facts for the experiments
    @property
    def solver_config(self) -> dict:
        """The recorded continuous blocks' solver config (one dict if they agree, else {"block{k}": dict}): an
        ODE block's SolverConfig, another block's T and interpolant; {} for discrete layers."""
        configs = {
            f"block{k + 1}": (layer.module.solver.to_dict() if hasattr(layer.module, "solver")
                              else {"T": layer.T, "interpolant": self.readout.interpolant(k)})
            for k, layer in enumerate(self.readout.layers) if layer.T is not None
        }
        unique = {repr(c) for c in configs.values()}
        return next(iter(configs.values())) if len(unique) == 1 else configs

    def map_shape(self, i: int) -> tuple[int, int, int]:
        """(channels, height, width) of the map of recorded block i (0-based) for images of image_size."""
        g = self.geometry[i]
        return g.channels, g.height, g.width

    def check_images(self, images) -> torch.Tensor:
        """Validated images [N, in_channels, H, W] in [0, 1] on the model's device and dtype."""
        return check_images(images, self.in_channels, self.image_size, self._like)

    def stamp(self, ds: xr.Dataset, experiment: str, title: str | None = None, stimulus_size=None) -> xr.Dataset:
        """``ds`` with the provenance attrs (neurodcn.schema.stamp_provenance) and this cortex's visual_degrees
        (deg), ms_per_unit_time (ms), onset_ms (ms) and image_size ([H, W] px); given the (H, W) px of the
        images as passed in, also whether they were resized (neurodcn.cortex.inputs.resize_attrs). A cortex on
        a checkpoint adds ``training_data``: the data its model was trained on, as its card names it."""
        extra = {} if stimulus_size is None else resize_attrs(stimulus_size, self.image_size)
        if self.card and self.card.get("dataset"):
            extra["training_data"] = str(self.card["dataset"])
        return stamp_provenance(
            ds,
            experiment,
            self.name,
            model_config=self.model_config,
            solver_config=self.solver_config,
            title=title,
            visual_degrees=float(self.visual_degrees),
            ms_per_unit_time=float(self.ms_per_unit_time),
            onset_ms=float(self.onset_ms),
            image_size=list(self.image_size),
            **extra,
        )

    # ------------------------------------------------------------------ experiments
    def record(self, images, times=None, out=None, stimulus_table=None, stimulus_set=None, **budget) -> xr.DataTree:
        return _record.record(self, images, times, out=out, stimulus_table=stimulus_table, stimulus_set=stimulus_set,
                              **budget)

    def receptive_fields(self) -> xr.Dataset:
        return _rf.receptive_fields(self)

    def learned_scales(self) -> xr.Dataset:
        return _rf.learned_scales(self)

    def srf_kernels(self, layer=1, t=None) -> xr.Dataset:
        return _rf.srf_kernels(self, layer, t)

    def theoretical_rf(self, passes_per_block: int = 1) -> xr.Dataset:
        """The cumulative receptive field of a unit after each spatial layer (neurodcn.cortex.rf_size):
        rf_size_px/_deg (support, full width; pixels of the image, deg) and sigma_eff_px/_deg (effective
        Gaussian SD), for this cortex's image width and visual_degrees. receptive_fields' kernel_size_deg is
        one layer's filter only."""
        return _rf_size.theoretical_rf(self.model, self.visual_degrees, self.image_size[1], passes_per_block)

    def _staged(self, experiment: str) -> None:
        if not isinstance(self.model, Classifier):
            raise ValueError(f"{experiment} needs a staged classifier (neurodcn.nn.classifier.Classifier: stem, "
                             f"blocks, transitions, head) to run to its logits; model {self.name!r} is a "
                             f"{type(self.model).__name__}")

    def contrast_sweep(
        self, images, labels, contrasts, regime: str = "naive", per_image: bool = False, stimulus_table=None,
        **budget,
    ) -> xr.Dataset:
        self._staged("contrast_sweep")
        return _contrast.contrast_sweep(
            self, images, labels, contrasts, regime, per_image=per_image, stimulus_table=stimulus_table, **budget
        )

    def pattern_completion(
        self, images, labels, mask_sizes, times=None, stimulus_table=None, **budget
    ) -> xr.Dataset:
        self._staged("pattern_completion")
        return _completion.pattern_completion(
            self, images, labels, mask_sizes, times=times, stimulus_table=stimulus_table, **budget
        )

    def physiology(self, **kwargs) -> tuple[xr.Dataset, xr.Dataset]:
        return _physiology.physiology(self, **kwargs)

    def rsa(self, stimuli, brain, **kwargs) -> xr.Dataset:
        return _compare.rsa(self, stimuli, brain, **kwargs)

    def predictivity(self, stimuli, recordings, **kwargs) -> xr.Dataset:
        return _compare.predictivity(self, stimuli, recordings, **kwargs)

    record.__doc__ = _record.record.__doc__
    rsa.__doc__ = _compare.rsa.__doc__
    predictivity.__doc__ = _compare.predictivity.__doc__
    physiology.__doc__ = _physiology.physiology.__doc__
    receptive_fields.__doc__ = _rf.receptive_fields.__doc__
    learned_scales.__doc__ = _rf.learned_scales.__doc__
    srf_kernels.__doc__ = _rf.srf_kernels.__doc__
    contrast_sweep.__doc__ = _contrast.contrast_sweep.__doc__
    pattern_completion.__doc__ = _completion.pattern_completion.__doc__

    # ------------------------------------------------------------------ display
    def _rows(self) -> list[tuple]:
        rows = []
        for i, (name, block, T) in enumerate(self.readout.layers):
            c, h, w = self.map_shape(i)
            times = [None]
            if any(m.time_param for m in block.modules() if isinstance(m, SRFConv2d)) and T is not None:
                times = [0.0, T]
            sig = [m.sigma_summary(t) for m in block.modules() if isinstance(m, SRFConv2d) for t in times]
            sigma = (
                f"median {np.median(sig):.3g} (min {np.min(sig):.3g}, max {np.max(sig):.3g})" if sig else "-"
            )
            span = (
                f"t 0-{T:g} = {self.onset_ms:g}-{self.onset_ms + self.ms_per_unit_time * T:g} ms"
                if T is not None
                else f"discrete: t 0 = {self.onset_ms:g} ms"
            )
            stride = f"{self.geometry[i].stride:g}" + (" (centred)" if self.geometry_method[i] == "centred" else "")
            rows.append((i + 1, f"{name} ({type(block).__name__})", c, f"{h} x {w}", stride, span, sigma))
        return rows

    def _facts(self) -> list[tuple[str, str]]:
        n_params = sum(p.numel() for p in self.model.parameters())
        h, w = self.image_size
        return [
            ("model", self.name),
            ("parameters", f"{n_params:,}"),
            (
                "visual field",
                f"{self.visual_degrees:g} deg across {w} px ({self.visual_degrees / w:.4g} "
                f"deg/px), image {h} x {w} px",
            ),
            ("time", f"time_ms = {self.onset_ms:g} + {self.ms_per_unit_time:g} * t"),
        ]

    _HEAD = ("block", "layer", "channels", "map (px)", "stride (px)", "time", "sigma (px)")

    def __repr__(self) -> str:
        lines = [f"VirtualCortex({', '.join(f'{k}: {v}' for k, v in self._facts())})"]
        lines += ["  " + " | ".join(str(v) for v in row) for row in [self._HEAD] + self._rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        facts = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._facts()
        )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEAD)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in self._rows()
        )
        return (
            f"<div><b>VirtualCortex</b><table>{facts}</table>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

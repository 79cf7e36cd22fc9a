"""VirtualCortex: a trained staged classifier wrapped as something to record from and experiment on.

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
from neurodcn.cortex.geometry import model_geometry
from neurodcn.cortex.inputs import check_images, resize_attrs
from neurodcn.data.bundled import DEFAULT_CHECKPOINT, bundled_checkpoint
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.srf import SRFConv2d
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.validate import check_bool, check_int, check_pair, check_real, check_type

__all__ = ["VirtualCortex"]


class VirtualCortex:
    """A staged classifier (neurodcn.nn.classifier.Classifier: stem, blocks, transitions, head) to experiment on.

    Args:
        model: the network; put in eval mode, never trained here.
        visual_degrees: width of the input image in degrees of visual angle (deg).
        ms_per_unit_time: milliseconds per unit of model time (ms). onset_ms: time of model t = 0 (ms).
        batch_size: images per forward pass (memory is bounded by one batch).
        progress: show tqdm progress bars. image_size: input size in pixels, int or (height, width).

    ResNets (no ODE blocks) support receptive_fields (SRF variants), contrast_sweep with regime "naive" and
    pattern_completion accuracy; record, the T-scaling contrast regimes and D(t) need ODE blocks.
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
    ):
        check_type("model", model, nn.Module, "a torch nn.Module (a staged classifier)")
        if not isinstance(model, Classifier):
            raise ValueError(
                f"model must be a staged classifier (neurodcn.nn.classifier.Classifier: stem, blocks, "
                f"transitions, head), got {type(model).__name__}"
            )
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
        self.in_channels = int(
            self.model_config.get("in_channels")
            or next(m.in_channels for m in model.stem.modules() if hasattr(m, "in_channels"))
        )
        linear = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
        self.num_classes = self.model_config.get("num_classes") or (
            linear[-1].out_features if linear else None
        )
        self.geometry, self.layer_strides = model_geometry(model, self.in_channels, self.image_size)
        smallest = model.min_input_size()
        if min(self.image_size) < smallest:
            raise ValueError(f"image_size must be at least {smallest} x {smallest} px for {self.name!r} (smaller "
                             f"images leave a block map empty or a norm one value per group), got {image_size!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path, **kwargs) -> VirtualCortex:
        """A cortex on the model of a checkpoint written by neurodcn.save_checkpoint (card kept in .card)."""
        model, card = load_checkpoint(path)
        vc = cls(model, **kwargs)
        vc.card = card
        return vc

    @classmethod
    def pretrained(cls, name: str = DEFAULT_CHECKPOINT, **kwargs) -> VirtualCortex:
        """A cortex on a bundled checkpoint, <name>.pt of the package's checkpoints folder (no network
        access); default the solver-faithful dcn-ode. ``neurodcn.data.bundled.bundled_checkpoints()`` lists
        them."""
        return cls.from_checkpoint(bundled_checkpoint(name), **kwargs)

    # ------------------------------------------------------------------ shared facts for the experiments
    @property
    def solver_config(self) -> dict:
        """The ODE blocks' solver config (one dict if they agree, else {"block{k}": dict}); {} if none."""
        configs = {
            f"block{i + 1}": block.solver.to_dict() for i, block in self.model.ode_blocks()
        }
        unique = {repr(c) for c in configs.values()}
        return next(iter(configs.values())) if len(unique) == 1 else configs

    def map_shape(self, i: int) -> tuple[int, int, int]:
        """(channels, height, width) of the map of blocks[i] (0-based) for images of image_size."""
        g = self.geometry[i]
        return g.channels, g.height, g.width

    def check_images(self, images) -> torch.Tensor:
        """Validated images [N, in_channels, H, W] in [0, 1] on the model's device and dtype."""
        return check_images(images, self.in_channels, self.image_size, next(self.model.parameters()))

    def stamp(self, ds: xr.Dataset, experiment: str, title: str | None = None, stimulus_size=None) -> xr.Dataset:
        """``ds`` with the provenance attrs (neurodcn.schema.stamp_provenance) and this cortex's visual_degrees
        (deg), ms_per_unit_time (ms), onset_ms (ms) and image_size ([H, W] px); given the (H, W) px of the
        images as passed in, also whether they were resized (neurodcn.cortex.inputs.resize_attrs)."""
        resized = {} if stimulus_size is None else resize_attrs(stimulus_size, self.image_size)
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
            **resized,
        )

    # ------------------------------------------------------------------ experiments
    def record(self, images, times, out=None, stimulus_table=None, stimulus_set=None, **budget) -> xr.DataTree:
        return _record.record(self, images, times, out=out, stimulus_table=stimulus_table, stimulus_set=stimulus_set,
                              **budget)

    def receptive_fields(self) -> xr.Dataset:
        return _rf.receptive_fields(self)

    def theoretical_rf(self, passes_per_block: int = 1) -> xr.Dataset:
        """The cumulative receptive field of a unit after each spatial layer (neurodcn.cortex.rf_size):
        rf_size_px/_deg (support, full width; pixels of the image, deg) and sigma_eff_px/_deg (effective
        Gaussian SD), for this cortex's image width and visual_degrees. receptive_fields' kernel_size_deg is
        one layer's filter only."""
        return _rf_size.theoretical_rf(self.model, self.visual_degrees, self.image_size[1], passes_per_block)

    def contrast_sweep(
        self, images, labels, contrasts, regime: str = "naive", per_image: bool = False, stimulus_table=None,
        **budget,
    ) -> xr.Dataset:
        return _contrast.contrast_sweep(
            self, images, labels, contrasts, regime, per_image=per_image, stimulus_table=stimulus_table, **budget
        )

    def pattern_completion(
        self, images, labels, mask_sizes, times=None, stimulus_table=None, **budget
    ) -> xr.Dataset:
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
    contrast_sweep.__doc__ = _contrast.contrast_sweep.__doc__
    pattern_completion.__doc__ = _completion.pattern_completion.__doc__

    # ------------------------------------------------------------------ display
    def _rows(self) -> list[tuple]:
        rows = []
        for i, block in enumerate(self.model.blocks):
            c, h, w = self.map_shape(i)
            T = block.solver.T if hasattr(block, "solver") else None
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
                else "discrete"
            )
            rows.append(
                (i + 1, type(block).__name__, c, f"{h} x {w}", f"{self.geometry[i].stride:g}", span, sigma)
            )
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

    _HEAD = ("block", "kind", "channels", "map (px)", "stride (px)", "time", "sigma (px)")

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

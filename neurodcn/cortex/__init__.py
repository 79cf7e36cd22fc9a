"""The virtual cortex: a trained network to record from and run experiments on, returning xarray datasets."""

from neurodcn.cortex.baselines import Pixels, untrained_model
from neurodcn.cortex.completion import center_mask, mask_slices
from neurodcn.cortex.contrast import REGIMES
from neurodcn.cortex.ensembles import step_order_logits
from neurodcn.cortex.geometry import MapGeometry, model_geometry
from neurodcn.cortex.readout import Readout, is_continuous
from neurodcn.cortex.receptive_fields import preferred_frequency
from neurodcn.cortex.record import propagate
from neurodcn.cortex.virtual_cortex import VirtualCortex

__all__ = [
    "VirtualCortex",
    "Readout",
    "is_continuous",
    "Pixels",
    "untrained_model",
    "REGIMES",
    "MapGeometry",
    "model_geometry",
    "propagate",
    "preferred_frequency",
    "step_order_logits",
    "mask_slices",
    "center_mask",
]

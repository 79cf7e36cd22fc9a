"""neurodcn: Deep Continuous Networks, continuous convolutions, and a virtual cortex to record from."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurodcn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.io.assembly import to_assembly
from neurodcn.io.files import load_dataset, save_dataset
from neurodcn.io.nwb import to_nwb
from neurodcn.nn.dynamics import ODEBlock, SolverConfig
from neurodcn.nn.models import build_model, list_models, register_model
from neurodcn.nn.srf import SRFConv2d

__all__ = ["__version__", "SRFConv2d", "ODEBlock", "SolverConfig", "build_model", "list_models", "register_model"]
__all__ += ["save_dataset", "load_dataset"]
__all__ += ["to_nwb", "to_assembly"]
__all__ += ["VirtualCortex"]

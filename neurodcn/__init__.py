"""neurodcn: Deep Continuous Networks, continuous convolutions, and a virtual cortex to record from."""

from neurodcn._version import __version__
from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.data.stimulus_sets import load_stimuli
from neurodcn.io.assembly import to_assembly
from neurodcn.io.files import load_dataset, save_dataset
from neurodcn.io.lab_recordings import from_pynapple, load_lab_nwb
from neurodcn.io.nwb import to_nwb
from neurodcn.nn.cc import ContinuousConv2d
from neurodcn.nn.dynamics import SOLVERS, ODEBlock, SolverConfig
from neurodcn.nn.resize import resize
from neurodcn.nn.srf import SRFConv2d
from neurodcn.nn.zoo import build_model, list_models, register_model
from neurodcn.threads import set_from_env as _set_threads_from_env
from neurodcn.threads import set_threads
from neurodcn.train.checkpoint import load_checkpoint, save_checkpoint

_set_threads_from_env()  # torch threads: $NEURODCN_THREADS, else at most the cores free (neurodcn.threads)

__all__ = [
    "__version__",
    "SRFConv2d", "ContinuousConv2d", "resize", "ODEBlock", "SolverConfig", "SOLVERS",
    "build_model", "list_models", "register_model",
    "load_cifar10", "load_stimuli", "load_checkpoint", "save_checkpoint",
    "VirtualCortex",
    "save_dataset", "load_dataset", "to_nwb", "to_assembly",
    "load_lab_nwb", "from_pynapple",
    "set_threads",
]

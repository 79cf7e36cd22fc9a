"""What every analysis script shares: its command line, and the package's results machinery.

A script is ``analyses/<name>.py`` with ``run(...) -> Result`` and ``main(argv) -> int``; the paper's demo
figures and tables are package functions (neurodcn.paper) and their scripts only parse the command line.
Command line (:func:`parser`): ``--checkpoint`` (default: the bundled dcn-ode), ``--out`` (results folder,
default results or the script's own), ``--quick`` (small settings, for tests and smoke runs), ``--seed``
(which images are drawn), ``--images-from`` (stimulus source for neurodcn.load_stimuli: "cifar10-demo", a
cifar-10-batches-py folder, a .npz in the bundled format, or an image folder or .zip) and ``--num-images``.

Results go to the ``--out`` folder through :class:`neurodcn.paper.results.Outputs` (datasets as netCDF,
figures as .png, tables as .csv, each written atomically and recorded in the folder's results index).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from neurodcn.cli import nonnegative_int, positive_int
from neurodcn.data.cifar10 import ENV_VAR
from neurodcn.data.stimulus_sets import load_stimuli
from neurodcn.paper.inputs import DEFAULT_STIMULI, checkpoint_label, load_cortex, parameter_count
from neurodcn.paper.results import INDEX_NAME, Outputs, Result, read_index

__all__ = [
    "default_data_root",
    "checkpoint_label",
    "INDEX_NAME",
    "Result",
    "Outputs",
    "load_stimuli",
    "load_cortex",
    "parameter_count",
    "parser",
    "main",
    "read_index",
]


def default_data_root(data=None) -> Path:
    """The CIFAR-10 folder: ``data``, else $NEURODCN_CIFAR10, else ../shared/data/cifar-10-subset beside the
    repository."""
    if data is not None:
        return Path(data)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar-10-subset"


def parser(prog: str, description: str, images: bool = True, out: str = "results") -> argparse.ArgumentParser:
    """The shared command line of the analysis scripts (``images=False``: no stimulus options; ``out``: the
    default results folder)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint written by neurodcn train (default: the bundled dcn-ode)",
    )
    p.add_argument("--out", default=out, help=f"results folder (default: {out})")
    p.add_argument("--quick", action="store_true", help="small settings: a smoke run in well under a minute")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    if images:
        p.add_argument(
            "--images-from",
            default=DEFAULT_STIMULI,
            metavar="SOURCE",
            help=f"neurodcn.load_stimuli source: {DEFAULT_STIMULI!r} (default, bundled), a cifar-10-batches-py "
            "folder (test split), a .npz in the bundled format, or an image folder or .zip (<class>/<image>)",
        )
        p.add_argument(
            "--num-images",
            type=positive_int,
            default=None,
            help="how many images to draw from the source (default: the analysis's own)",
        )
        p.add_argument("--seed", type=nonnegative_int, default=0, help="which images are drawn (default 0)")
    return p


def solver_option(p: argparse.ArgumentParser) -> None:
    """Add ``--solver METHOD``: solve the checkpoint's ODE blocks with an adaptive method instead of its own."""
    from neurodcn.nn.dynamics import ADAPTIVE_METHODS

    p.add_argument("--solver", choices=ADAPTIVE_METHODS, default=None, metavar="METHOD",
                   help="solve the model's ODE blocks with this adaptive method at their own tolerances, e.g. "
                   "dopri5 for a model trained with fixed rk4 steps (default: the checkpoint's solver)")


def main(run: Callable[..., Result], p: argparse.ArgumentParser, argv=None) -> int:
    """Parse ``argv`` with ``p``, call ``run(**options)``, print the summary and the files; exit code."""
    args = vars(p.parse_args(argv))
    try:
        result = run(**args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    for line in result.summary:
        print(line)
    for path in result.files.values():
        print(f"wrote {path}")
    return 0

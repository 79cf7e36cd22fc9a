"""What every analysis script shares: its command line, the model, the stimuli, and writing results.

A script is ``analyses/<name>.py`` with ``run(...) -> Result`` and ``main(argv) -> int``. Command line
(:func:`parser`): ``--checkpoint`` (default: the bundled data/checkpoints/dcn-ode.pt), ``--out`` (results
folder, default results), ``--quick`` (small settings, for tests and smoke runs), ``--seed`` (which images
are drawn), ``--images-from`` (stimulus source: "bundled", a cifar-10-batches-py folder, or a .npz in the
bundled format) and ``--num-images``.

Results go to the ``--out`` folder through :class:`Outputs`: datasets as netCDF (.nc, checked against the
DESIGN.md conventions before writing), figures as .png, tables as .csv, each written atomically, and one
entry per file in the folder's results index ``index.json`` (file -> analysis and one-line description,
plus each analysis's settings), from which ``neurodcn demo`` writes the folder's README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.plots import save_figure
from neurodcn.cli import nonnegative_int, positive_int
from neurodcn.cortex.virtual_cortex import CHECKPOINT_DIR, VirtualCortex
from neurodcn.data.cifar10 import ENV_VAR, load_cifar10
from neurodcn.io.atomic import write_text
from neurodcn.io.files import save_dataset
from neurodcn.schema import validate_dataset

__all__ = [
    "default_data_root",
    "DEFAULT_CHECKPOINT",
    "BUNDLED_STIMULI",
    "INDEX_NAME",
    "Stimuli",
    "Result",
    "Outputs",
    "load_stimuli",
    "load_cortex",
    "parameter_count",
    "parser",
    "main",
    "read_index",
]

DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "dcn-ode.pt"
"""The bundled default model (written by the training job; see its .card.json)."""

BUNDLED_STIMULI = CHECKPOINT_DIR.parent / "stimuli" / "cifar10-test-first128.npz"
"""The first 128 CIFAR-10 test images (data/stimuli/README.md gives source and licence)."""

BUNDLED_SHA256 = "1ee02e792375dcf2164989c06fa5fafa2d72189bac113eacad6f081b5488fbc0"
"""sha256 of the bundled uint8 image array's bytes."""

INDEX_NAME = "index.json"


@dataclasses.dataclass(frozen=True)
class Stimuli:
    """Images float32 [N, 3, 32, 32] in [0, 1], labels int64 [N], a stimulus table (stimulus_id = index in
    the source, label, class_name) for the cortex experiments, and a one-line description of the source."""

    images: torch.Tensor
    labels: torch.Tensor
    table: pd.DataFrame
    source: str


@dataclasses.dataclass
class Result:
    """What a script's run() returns: the files written (name -> path), the datasets saved (name -> Dataset)
    and a few summary lines for people."""

    files: dict[str, Path]
    datasets: dict[str, xr.Dataset]
    summary: list[str]


def _read_npz(path: Path, verify: str | None) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(uint8 images [N, 3, 32, 32], int labels [N], class names, source indices [N]) of a stimulus .npz."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("images", "labels", "classes") if k not in f.files]
        if missing:
            raise ValueError(
                f"images_from {str(path)!r} lacks the arrays {missing} (see data/stimuli/README.md)"
            )
        images, labels, classes = f["images"], f["labels"], [str(c) for c in f["classes"]]
        index = f["test_index"] if "test_index" in f.files else np.arange(len(labels))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(
            f"images_from {str(path)!r}: images must be uint8 [N, 3, 32, 32], got "
            f"{images.dtype} {list(images.shape)}"
        )
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu" or index.shape != labels.shape:
        raise ValueError(
            f"images_from {str(path)!r}: labels and test_index must be {images.shape[0]} integers"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"images_from {str(path)!r}: labels must lie in [0, {len(classes)})")
    if verify is not None and hashlib.sha256(images.tobytes()).hexdigest() != verify:
        raise ValueError(f"{path} is not the bundled stimulus set (sha256 of its images differs)")
    return images, labels.astype(np.int64), classes, index.astype(np.int64)


def load_stimuli(source=None, num_images: int | None = None, seed: int = 0) -> Stimuli:
    """Images with labels from ``source``: None or "bundled" (data/stimuli), a cifar-10-batches-py folder
    (its test split), or a .npz file in the bundled format. ``num_images``: draw this many without
    replacement (torch.Generator seeded with ``seed``), kept in source order; None takes all."""
    if num_images is not None and (
        isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1
    ):
        raise ValueError(f"num_images must be a positive integer or None, got {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if source is None or source == "bundled":
        raw, labels, classes, index = _read_npz(BUNDLED_STIMULI, BUNDLED_SHA256)
        images = torch.from_numpy(raw).to(torch.float32) / 255.0
        what = f"the bundled stimulus set {BUNDLED_STIMULI.name} (CIFAR-10 test images 0-{len(labels) - 1})"
    elif isinstance(source, str | os.PathLike) and Path(source).suffix == ".npz":
        raw, labels, classes, index = _read_npz(Path(source), None)
        images = torch.from_numpy(raw).to(torch.float32) / 255.0
        what = f"{Path(source).name} ({len(labels)} images)"
    elif isinstance(source, str | os.PathLike) and Path(source).is_dir():
        data = load_cifar10(source, "test")
        images, labels, classes = data.images, data.labels.numpy(), list(data.classes)
        index, what = np.arange(len(labels)), data.source
    else:
        raise ValueError(
            f"images_from must be 'bundled', a cifar-10-batches-py folder or a .npz file, got {source!r}"
        )
    n = len(labels)
    if num_images is not None and num_images > n:
        raise ValueError(f"num_images must be at most {n} (the images in the source), got {num_images}")
    pick = np.arange(n)
    if num_images is not None and num_images < n:
        g = torch.Generator().manual_seed(seed)
        pick = np.sort(torch.randperm(n, generator=g)[:num_images].numpy())
        what += f"; {num_images} drawn with seed {seed}"
    table = pd.DataFrame(
        {
            "stimulus_id": index[pick],
            "label": labels[pick],
            "class_name": np.array(classes, dtype=object)[labels[pick]],
        }
    )
    table.attrs["units"] = {"stimulus_id": "1", "label": "1"}
    table.attrs["long_names"] = {
        "stimulus_id": "index of the image in its source",
        "label": "true class index",
        "class_name": "true class",
    }
    return Stimuli(images[torch.from_numpy(pick)].contiguous(), torch.from_numpy(labels[pick]), table, what)


def load_cortex(checkpoint=None, progress: bool = True) -> VirtualCortex:
    """A VirtualCortex on a checkpoint (default: the bundled dcn-ode), default visual field and time map."""
    path = Path(DEFAULT_CHECKPOINT if checkpoint is None else checkpoint)
    if not path.is_file():
        hint = (
            " (the bundled checkpoint is missing: train one with `neurodcn train` and pass --checkpoint)"
            if checkpoint is None
            else ""
        )
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist{hint}")
    return VirtualCortex.from_checkpoint(path, progress=progress)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of trainable-parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters())


def read_index(out) -> dict:
    """The results index of folder ``out``: {"files": {name: {...}}, "runs": {analysis: {...}}}."""
    path = Path(out) / INDEX_NAME
    if not path.is_file():
        return {"files": {}, "runs": {}}
    index = json.loads(path.read_text())
    if not isinstance(index, dict) or not isinstance(index.get("files"), dict):
        raise ValueError(f"{path} is not a neurodcn results index")
    index.setdefault("runs", {})
    return index


class Outputs:
    """The files of one analysis run in folder ``out`` (created if needed); :meth:`finish` records them and
    the run's settings in the results index."""

    def __init__(self, out, analysis: str):
        if not isinstance(out, str | os.PathLike):
            raise TypeError(f"out must be a str or os.PathLike, got {type(out).__name__}")
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.analysis = analysis
        self.files: dict[str, Path] = {}
        self.descriptions: dict[str, str] = {}
        self.datasets: dict[str, xr.Dataset] = {}
        self._start = time.perf_counter()

    def _add(self, name: str, description: str) -> Path:
        if Path(name).name != name or name == INDEX_NAME:
            raise ValueError(f"name must be a plain file name other than {INDEX_NAME}, got {name!r}")
        self.descriptions[name] = description
        self.files[name] = self.out / name
        return self.files[name]

    def dataset(self, ds: xr.Dataset, name: str, description: str) -> Path:
        """Validate ``ds`` (DESIGN.md conventions) and write it as netCDF ``name`` (.nc)."""
        path = self._add(name, description)
        save_dataset(validate_dataset(ds), path)
        self.datasets[name] = ds
        return path

    def figure(self, fig: Figure, name: str, description: str) -> Path:
        """Write ``fig`` as ``name`` (.png)."""
        return save_figure(fig, self._add(name, description))

    def table(self, df: pd.DataFrame, name: str, description: str) -> Path:
        """Write ``df`` as CSV ``name`` (no index column)."""
        return write_text(self._add(name, description), df.to_csv(index=False))

    def finish(self, settings: dict, summary: list[str]) -> Result:
        """Record the files and the run (settings, seconds, time) in the index; return the Result."""
        index = read_index(self.out)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for name, description in self.descriptions.items():
            index["files"][name] = {"analysis": self.analysis, "description": description, "created": created}
        index["runs"][self.analysis] = {
            "settings": settings,
            "summary": summary,
            "created": created,
            "seconds": round(time.perf_counter() - self._start, 2),
        }
        write_text(self.out / INDEX_NAME, json.dumps(index, indent=2, default=str) + "\n")
        return Result(dict(self.files), dict(self.datasets), list(summary))


def default_data_root(data=None) -> Path:
    """The CIFAR-10 folder: ``data``, else $NEURODCN_CIFAR10, else ../shared/data/cifar-10-subset beside the
    repository."""
    if data is not None:
        return Path(data)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar-10-subset"


def parser(prog: str, description: str, images: bool = True) -> argparse.ArgumentParser:
    """The shared command line of the analysis scripts (``images=False``: no stimulus options)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--checkpoint",
        default=None,
        help=f"checkpoint written by neurodcn train (default: the bundled {DEFAULT_CHECKPOINT.name})",
    )
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--quick", action="store_true", help="small settings: a smoke run in well under a minute")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    if images:
        p.add_argument(
            "--images-from",
            default=None,
            metavar="SOURCE",
            help="'bundled' (default: data/stimuli), a cifar-10-batches-py folder (test split) or "
            "a .npz in the bundled format",
        )
        p.add_argument(
            "--num-images",
            type=positive_int,
            default=None,
            help="how many images to draw from the source (default: the analysis's own)",
        )
        p.add_argument("--seed", type=nonnegative_int, default=0, help="which images are drawn (default 0)")
    return p


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

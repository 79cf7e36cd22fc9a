"""Files shipped inside the package (``neurodcn/_data``), found through importlib.resources.

Three folders, each with a README.md on its sources:

* ``checkpoints``: pretrained models. A model ``<name>`` is the file ``<name>.pt`` (with its readable card
  ``<name>.card.json`` and training log ``<name>.metrics.csv`` beside it); dropping such files into the folder
  is all it takes to bundle another model. Models trained on the CIFAR-10 subset are named ``<name>-subset``;
  a plain name with no full-data model of its own resolves to its subset model.
* ``stimuli``: the demo stimulus set (the first 128 CIFAR-10 test images, uint8 in a .npz).
* ``bio``: published V1 tables (CSV) for the physiology comparison.

An installed wheel holds the same folders as a source checkout, so these paths work from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from neurodcn.validate import check_choice

__all__ = ["KINDS", "DEFAULT_CHECKPOINT", "SUBSET_SUFFIX", "bundled_dir", "bundled_checkpoints", "bundled_name",
           "bundled_checkpoint"]

KINDS = ("checkpoints", "stimuli", "bio")
"""The folders of bundled data."""

DEFAULT_CHECKPOINT = "dcn-ode"
"""The bundled model used when none is named: the solver-faithful dcn-ode."""

SUBSET_SUFFIX = "-subset"
"""The suffix of models trained on the CIFAR-10 subset (4,660 train / 932 test images)."""


def bundled_dir(kind: str) -> Path:
    """The folder of bundled data ``kind`` (one of KINDS) on the file system."""
    check_choice("kind", kind, KINDS)
    root = resources.files("neurodcn").joinpath("_data", kind)
    if not isinstance(root, Path):
        raise FileNotFoundError(
            f"the bundled {kind} of neurodcn are not on the file system ({root!r}): install neurodcn unpacked "
            "(pip install, not a zipped import)"
        )
    if not root.is_dir():
        raise FileNotFoundError(f"the bundled {kind} folder {root} is missing: reinstall neurodcn")
    return root


def bundled_checkpoints() -> dict[str, Path]:
    """Every bundled model: name -> path of ``<name>.pt``, sorted by name."""
    return {p.stem: p for p in sorted(bundled_dir("checkpoints").glob("*.pt"))}


def _resolve(name, available) -> str | None:
    if not isinstance(name, str):
        return None
    return next((n for n in (name, name + SUBSET_SUFFIX) if n in available), None)


def bundled_name(name) -> str | None:
    """The bundled checkpoint ``name`` stands for: itself, else its subset model ``<name>-subset`` when there is no
    ``<name>.pt``; None when neither is bundled (or ``name`` is not a str)."""
    return _resolve(name, bundled_checkpoints())


def bundled_checkpoint(name: str) -> Path:
    """The path of the bundled checkpoint ``name`` stands for (``bundled_name``); ValueError listing the names for
    an unknown one."""
    available = bundled_checkpoints()
    resolved = _resolve(name, available)
    if resolved is None:
        raise ValueError(
            f"name must be a bundled checkpoint (one of {sorted(available) or 'none'}; folder "
            f"{bundled_dir('checkpoints')}), got {name!r}"
        )
    return available[resolved]

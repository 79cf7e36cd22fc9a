"""Writing results: datasets (.nc), figures (.png) and tables (.csv) into one folder, with an index and a README.

:class:`Outputs` writes each file atomically and records it in the folder's results index ``index.json``
(file -> analysis, one-line description, creation time; plus each analysis's settings and summary), from
which :func:`write_readme` writes the folder's README.md. Datasets are validated against the dataset
conventions of :mod:`neurodcn.io.files` before they are written.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.plots import save_figure
from neurodcn.io.atomic import write_text
from neurodcn.io.files import save_dataset
from neurodcn.schema import validate_dataset
from neurodcn.validate import check_path

__all__ = ["INDEX_NAME", "Result", "Outputs", "read_index", "write_readme"]

INDEX_NAME = "index.json"
"""The results index of a folder."""


@dataclasses.dataclass
class Result:
    """What a paper function returns: the files written (name -> path), the datasets saved (name -> Dataset)
    and a few summary lines for people."""

    files: dict[str, Path]
    datasets: dict[str, xr.Dataset]
    summary: list[str]


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
    the run's settings in the results index, with the seconds since this object was made: make it before the
    work."""

    def __init__(self, out, analysis: str):
        self.out = check_path("out", out)
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
        """Validate ``ds`` (the dataset conventions) and write it as netCDF ``name`` (.nc), replacing an older
        run's file."""
        path = self._add(name, description)
        save_dataset(validate_dataset(ds), path, overwrite=True)
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


def write_readme(out, this_run=(), title: str = "neurodcn demo results", preamble=()) -> Path:
    """Write ``<out>/README.md``: one line per file of the folder (from the results index; ``this_run``:
    the names written by this run, others are marked as older or foreign), then each analysis's summary."""
    out = Path(out)
    index = read_index(out)
    own = {
        "README.md": "this file",
        INDEX_NAME: "the results index: every file's analysis, description and "
        "creation time, and each analysis's settings and summary (JSON)",
    }
    present = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    present = sorted(set(present) | {"README.md"})
    lines = [f"# {title}", "", *preamble, "", "| file | what it holds |", "|---|---|"]
    for name in present:
        entry = index["files"].get(name)
        if name in own:
            what = own[name]
        elif entry is None:
            what = "not written by the neurodcn analyses"
        else:
            what = f"{entry['description']} ({entry['analysis']})"
            if this_run and name not in this_run:
                what += f"; from an earlier run ({entry['created']})"
        lines.append(f"| `{name}` | {what.replace('|', '/')} |")
    for analysis, run in index["runs"].items():
        lines += [
            "",
            f"## {analysis}",
            "",
            *(f"    {s}" for s in run.get("summary", [])),
            "",
            f"Run {run.get('created')}, {run.get('seconds')} s; settings:",
            f"`{json.dumps(run.get('settings'))}`",
        ]
    return write_text(out / "README.md", "\n".join(lines) + "\n")

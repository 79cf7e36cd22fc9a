"""What every figure of neurodcn shares: the palette, new figures, dataset checks, bootstrap intervals and
bands, chance lines, saving.

Figures are built without pyplot (nothing accumulates in pyplot's figure list), take an ``ax``/``axes``
argument to draw into an existing figure, and label axes in words with units in parentheses only where the
quantity has one ("contrast", "time after stimulus onset (ms)"). Means over stimuli come with a seeded
percentile-bootstrap confidence interval (:func:`bootstrap_ci`) or a standard deviation band.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from neurodcn.io.atomic import atomic_path
from neurodcn.validate import check_real

__all__ = [
    "FORMATS",
    "CI_LEVEL",
    "BAND_ALPHA",
    "colors",
    "new_figure",
    "check_dataset",
    "named_datasets",
    "block_numbers",
    "log_ticks",
    "bootstrap_ci",
    "band",
    "ci_band",
    "chance_level",
    "chance_line",
    "accuracy_label",
    "save_figure",
]

FORMATS = (".png", ".pdf", ".svg")
"""File types :func:`save_figure` writes."""

CI_LEVEL = 0.95
"""Confidence level of the intervals drawn around means."""

BAND_ALPHA = 0.25
"""Opacity of CI and SD bands."""


def colors(n: int) -> list:
    """``n`` colours of the colour-blind-safe palette used by every figure."""
    return list(sns.color_palette("colorblind", n))


def new_figure(ax=None, ncols: int = 1, width: float = 4.5, height: float = 3.5, nrows: int = 1):
    """(figure, axes list): a new constrained-layout Figure with nrows x ncols axes (row-major), or the given
    ``ax`` (one Axes or a sequence of nrows * ncols Axes) and its figure."""
    if ax is None:
        fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
        return fig, list(np.ravel(fig.subplots(nrows, ncols, squeeze=False)))
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(ax))
    n = nrows * ncols
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"ax must be {'an Axes' if n == 1 else f'a sequence of {n} Axes'}, got {ax!r}")
    return axes[0].figure, axes


def check_dataset(ds, experiment, variables=(), coords=(), what: str = "ds") -> xr.Dataset:
    """``ds`` if it is a dataset of ``experiment`` (attrs neurodcn_experiment; a name or a tuple of names)
    holding ``variables`` and ``coords``; TypeError or ValueError naming what is wrong otherwise."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{what} must be an xarray.Dataset, got {type(ds).__name__}")
    allowed = (experiment,) if isinstance(experiment, str) else tuple(experiment)
    got = ds.attrs.get("neurodcn_experiment")
    if got not in allowed:
        names = " or ".join(map(repr, allowed))
        raise ValueError(f"{what} must be a {names} dataset (attrs neurodcn_experiment), got {got!r}")
    missing = [v for v in variables if v not in ds.data_vars] + [c for c in coords if c not in ds.coords]
    if missing:
        raise ValueError(f"{what} ({got}) lacks the variables/coords {missing}")
    return ds


def named_datasets(data, experiment: str, variables=(), coords=(), attr: str = "model", what: str = "data") -> dict:
    """A dataset or a dict name -> dataset, as a dict (a lone dataset is named by its attr ``attr``), every
    dataset checked by :func:`check_dataset` (named ``<what>[<name>]`` in its errors)."""
    if isinstance(data, xr.Dataset):
        named = {str(data.attrs.get(attr, data.attrs.get("model", "model"))): data}
    elif isinstance(data, dict) and data and all(isinstance(v, xr.Dataset) for v in data.values()):
        named = {str(k): v for k, v in data.items()}
    else:
        raise TypeError(f"{what} must be an xarray.Dataset or a non-empty dict name -> Dataset, got {type(data)}")
    for name, ds in named.items():
        check_dataset(ds, experiment, variables, coords, what=f"{what}[{name!r}]")
    return named


def block_numbers(ds: xr.Dataset, prefix: str) -> list[int]:
    """The sorted k of the variables ``<prefix><k>`` of ``ds`` (e.g. D_block1, D_block2 -> [1, 2])."""
    return sorted(
        int(n[len(prefix) :]) for n in map(str, ds.data_vars) if n.startswith(prefix) and n[len(prefix) :].isdigit()
    )


def log_ticks(ax: Axes, values) -> None:
    """Log x axis with ticks at the tested values (no minor labels, which crowd a sub-decade range)."""
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(values, [f"{v:.2g}" for v in values], fontsize="small")


def bootstrap_ci(samples, axis: int = 0, level: float = CI_LEVEL, n_resamples: int = 2000, seed: int = 0):
    """(low, high): the percentile-bootstrap confidence interval of the mean of ``samples`` along ``axis``
    (scipy.stats.bootstrap, resampling the samples with replacement, numpy Generator seeded with ``seed``).
    NaN samples (e.g. a failed solve) are left out of their column; a column with fewer than two samples gets
    NaN bounds."""
    x = np.moveaxis(np.asarray(samples, dtype=np.float64), axis, -1)
    level = check_real("level", level, lo=0, hi=1, lo_open=True, hi_open=True)
    flat = x.reshape(-1, x.shape[-1])
    lo, hi = np.full(flat.shape[0], np.nan), np.full(flat.shape[0], np.nan)
    rng = np.random.default_rng(seed)
    for i, row in enumerate(flat):
        row = row[np.isfinite(row)]
        if row.size < 2:
            continue
        if np.all(row == row[0]):  # no spread: every resample has the same mean
            lo[i] = hi[i] = row[0]
            continue
        res = stats.bootstrap(
            (row,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile", random_state=rng
        )
        lo[i], hi[i] = res.confidence_interval
    return lo.reshape(x.shape[:-1]), hi.reshape(x.shape[:-1])


def band(ax: Axes, x, low, high, color) -> None:
    """A CI or SD band from ``low`` to ``high`` over ``x`` (1-D, equal lengths), in ``color`` at BAND_ALPHA."""
    ax.fill_between(x, low, high, color=color, alpha=BAND_ALPHA, lw=0)


def ci_band(ax: Axes, x, samples, color, seed: int = 0) -> None:
    """The :func:`bootstrap_ci` of the mean over axis 0 of ``samples`` [n_samples, len(x)] as a :func:`band`."""
    band(ax, x, *bootstrap_ci(samples, axis=0, seed=seed), color)


def chance_level(ds: xr.Dataset) -> float | None:
    """1 / num_classes of the dataset's model (attrs model_config, a dict or its JSON), or None if unknown."""
    config = ds.attrs.get("model_config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    n = config.get("num_classes") if isinstance(config, dict) else None
    return 1.0 / n if isinstance(n, int) and n > 1 else None


def chance_line(ax: Axes, level: float) -> None:
    """A dashed line at chance accuracy ``level`` (a fraction), labelled with it."""
    ax.axhline(level, color="0.4", ls="--", lw=1, label=f"chance ({level:.2g})")


def accuracy_label(named: dict) -> str:
    """The accuracy axis label: with the CI level where every dataset of ``named`` (name -> dataset) holds the
    per-image ``correct`` its band is drawn from."""
    return f"accuracy (mean, {CI_LEVEL:.0%} CI)" if all("correct" in ds for ds in named.values()) else "accuracy"


def save_figure(fig: Figure, path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (.png, .pdf or .svg), atomically (temporary name, then rename)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.suffix not in FORMATS:
        raise ValueError(f"path must end in one of {FORMATS}, got {str(path)!r}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"the directory of path {str(p)!r} does not exist")
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format=p.suffix[1:], dpi=dpi)
    return p

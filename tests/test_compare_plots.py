"""Figures of the comparison datasets: the right lines, bands and numbers end up on the axes."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.plots import (
    plot_block_region_matrix,
    plot_predictivity_distributions,
    plot_similarity_over_time,
)


def _rsa(seed=0):
    rng = np.random.default_rng(seed)
    sim = rng.uniform(0, 0.3, size=(2, 3, 2))
    return xr.Dataset(
        {
            "similarity": (("block", "time", "region"), sim),
            "similarity_ci_low": (("block", "time", "region"), sim - 0.05),
            "similarity_ci_high": (("block", "time", "region"), sim + 0.05),
            "ceiling_lower": (("region",), [0.4, np.nan]),
            "ceiling_upper": (("region",), [0.5, np.nan]),
        },
        coords={"block": ["block1", "block2"], "time": [0.0, 1.0, 2.0], "time_ms": ("time", [50.0, 75.0, 100.0]),
                "region": ["IT", "V4"]},
        attrs={"neurodcn_experiment": "rsa", "method": "rho-a"},
    )


def test_similarity_over_time_draws_each_block_and_the_ceiling_band():
    ds = _rsa()
    fig = plot_similarity_over_time(ds)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    it, v4 = fig.axes
    lines = [ln for ln in it.get_lines() if ln.get_label().startswith("block")]
    np.testing.assert_allclose(lines[1].get_ydata(), ds["similarity"].sel(block="block2", region="IT"))
    np.testing.assert_allclose(lines[0].get_xdata(), [50, 75, 100])
    assert len(it.patches) == 1 and len(v4.patches) == 0  # a ceiling band only where there is a ceiling
    assert "ms" in it.get_xlabel()
    with pytest.raises(ValueError, match="time_bin"):
        plot_similarity_over_time(ds.expand_dims(time_bin=2))


def test_block_region_matrix_shows_the_best_score_over_time():
    ds = _rsa(1)
    fig = plot_block_region_matrix(ds)
    image = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(image, ds["similarity"].max("time").transpose("block", "region"))
    rel = plot_block_region_matrix(ds, relative=True).axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(rel[:, 0], ds["similarity"].max("time").sel(region="IT") / 0.4)


def test_predictivity_distributions_use_each_blocks_best_time():
    rng = np.random.default_rng(2)
    r = rng.uniform(-0.2, 0.8, size=(2, 3, 5))
    med = np.median(r, axis=2)[..., None]
    ds = xr.Dataset(
        {"r": (("block", "time", "neuroid"), r), "median_r": (("block", "time", "region"), med)},
        coords={"block": ["block1", "block2"], "time": [0.0, 1.0, 2.0], "time_ms": ("time", [50.0, 75.0, 100.0]),
                "region": ["V4"], "neuroid_region": ("neuroid", ["V4"] * 5)},
        attrs={"neurodcn_experiment": "predictivity"},
    )
    fig = plot_predictivity_distributions(ds)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    best = np.argmax(med[..., 0], axis=1)
    assert labels == [f"block{i + 1}\n{[50, 75, 100][b]:g} ms" for i, b in enumerate(best)]
    with pytest.raises(ValueError, match="predictivity"):
        plot_predictivity_distributions(_rsa())

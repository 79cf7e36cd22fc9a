"""Figures a newcomer misread: lines that join incomparable sigmas, identical paired bars, a 'best time' named
on flat curves, and D(t) whose direction differs from the paper's."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
from cortex_fixtures import make_receptive_fields_dataset

from neurodcn.analysis.plots import plot_sigma_vs_depth


def test_px_panel_joins_sigmas_only_on_one_map_grid():
    ds = make_receptive_fields_dataset(convs_per_block=(2, 3), stem_layers=1)  # 6 layers
    stride = np.array([1, 1, 1, 2, 2, 4.0])  # input pixels per pixel of each layer's input map
    ds = ds.assign_coords(map_stride_px=("layer", stride, {"units": "pixel"}))
    ax = plot_sigma_vs_depth(ds, unit="px").axes[0]
    joined = [line.get_xdata().tolist() for line in ax.lines]
    assert joined == [[1, 2, 3], [4, 5]]  # depth 6 (stride 4) stands alone; no line crosses grids
    for line in ax.lines:
        depth = np.asarray(line.get_xdata(), dtype=int)
        assert np.unique(stride[depth - 1]).size == 1
    # in degrees every sigma is on one scale: one line through all layers
    assert [line.get_xdata().tolist() for line in plot_sigma_vs_depth(ds, unit="deg").axes[0].lines] == [
        [1, 2, 3, 4, 5, 6]
    ]


def test_table1_chart_has_one_bar_per_model_and_says_where_it_matches():
    from neurodcn.paper import table1_parameters as table1

    table = table1.count_table()
    ax = table1._figure(table).axes[0]
    assert len(ax.patches) == len(table)  # no second bar that repeats the first
    np.testing.assert_allclose([p.get_height() for p in ax.patches], table["parameters"] / 1e3)
    notes = [t.get_text() for t in ax.texts]
    want = ["not in Table 1" if r is None else ("= paper" if r else f"paper {p / 1e3:.0f}k")
            for r, p in zip(table["rounds_to_paper"], table["paper_rounded"], strict=True)]
    assert notes == want


def test_fig4_says_where_d_rises_against_the_paper():
    from cortex_fixtures import make_pattern_completion_dataset

    from neurodcn.paper import fig4_pattern_completion as fig4

    falls = make_pattern_completion_dataset(mask_sizes=(0, 14), n_blocks=2)  # D decays over t, as in the paper
    rises = falls.copy()
    for k in (1, 2):
        rises[f"D_block{k}"] = falls[f"D_block{k}"].copy(data=falls[f"D_block{k}"].values[..., ::-1])
    d = falls["D_block1"].sel(mask_size=14).mean("stimulus").values
    assert fig4.d_change(falls, 14) == {1: d[-1] - d[0], 2: fig4.d_change(falls, 14)[2]} and d[-1] < d[0]
    title = fig4.dynamics_figure(rises, 14, "m")._suptitle.get_text()
    assert "D(t) rises in blocks 1, 2, where the paper's D(t) falls" in title
    assert "falls in every block, as in the paper's" in fig4.dynamics_figure(falls, 14, "m")._suptitle.get_text()


def test_block_region_matrix_names_a_best_time_only_where_the_curve_is_not_flat():
    import xarray as xr

    from neurodcn.analysis.plots import plot_block_region_matrix

    # block1: a peak at t = 1 far outside the CI of the other times; block2: within 0.01 of its best everywhere
    sim = np.array([[[0.05], [0.30], [0.10]], [[0.20], [0.21], [0.205]]])
    ds = xr.Dataset(
        {"similarity": (("block", "time", "region"), sim),
         "similarity_ci_low": (("block", "time", "region"), sim - 0.05),
         "similarity_ci_high": (("block", "time", "region"), sim + 0.05)},
        coords={"block": ["block1", "block2"], "time": [0.0, 1.0, 2.0],
                "time_ms": ("time", [50.0, 75.0, 100.0]), "region": ["IT"]},
        attrs={"neurodcn_experiment": "rsa", "method": "rho-a"},
    )
    texts = [t.get_text() for t in plot_block_region_matrix(ds).axes[0].texts]
    assert texts == ["0.30\n75 ms", "0.21\nflat in CI"]


def test_contrast_axis_labels_the_contrasts_once():
    from cortex_fixtures import make_contrast_sweep_dataset

    from neurodcn.analysis.plots import plot_contrast_sweep

    ds = make_contrast_sweep_dataset()
    fig = plot_contrast_sweep(ds)
    fig.canvas.draw()
    c = ds["contrast"].values
    for ax in fig.axes:
        minor = [t.get_text() for t in ax.get_xticklabels(minor=True)]
        assert not any(minor)  # a log axis under a decade labels its minor ticks: 2x10^-1, 3x10^-1, ... overlap
        np.testing.assert_allclose(ax.get_xticks(), c)
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == [f"{v:g}" for v in c]

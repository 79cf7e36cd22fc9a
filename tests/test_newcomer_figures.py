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

"""A recording's tidy table (ds.dcn.to_dataframe): one row per recorded value, never multiplied by other dims."""

import numpy as np
import pytest
import xarray as xr
from cortex_fixtures import make_record_dataset

import neurodcn  # noqa: F401  (registers ds.dcn)


def _with_solver_vars(rec: xr.DataTree, steps=(5, 3)) -> xr.DataTree:
    """``rec`` with what VirtualCortex.record adds: per block solver_state (stimulus, time) and a ragged
    solver_step_time (stimulus, step); solver_failure (stimulus) at the root."""
    rec = rec.copy()
    n_s, n_t = rec.sizes["stimulus"], rec.sizes["time"]
    rec.dataset = rec.dataset.assign(solver_failure=("stimulus", np.zeros(n_s, np.int8)))
    for k, n_step in enumerate(steps, start=1):
        g = rec[f"block{k}"]
        g.dataset = g.to_dataset(inherit=False).assign(
            solver_state=(("stimulus", "time"), np.arange(n_s * n_t).reshape(n_s, n_t) % 2),
            solver_step_time=(("stimulus", "step"), np.tile(np.linspace(0, 2, n_step), (n_s, 1))),
        )
    return rec


def test_one_row_per_value_of_h_across_blocks():
    rec = _with_solver_vars(make_record_dataset(n_stimuli=3, n_times=4, blocks=((4, 6, 6), (8, 3, 3))))
    broadcast = rec["block1"].to_dataset().to_dataframe()  # the README's old route: h times the 5 steps
    assert len(broadcast) == 5 * rec["block1"]["h"].size
    df = rec.dcn.to_dataframe()
    assert len(df) == 3 * 4 * (4 * 36 + 8 * 9)  # every h value once, no step dim
    assert list(df.columns[:7]) == ["block", "stimulus_id", "time", "channel", "y", "x", "h"]
    assert {"time_ms", "y_deg", "x_deg", "solver_state", "solver_failure", "contrast"} <= set(df.columns)
    assert "solver_step_time" not in df.columns and "step" not in df.columns
    # a hand-picked row: block 2, stimulus 1, time 2, channel 5, y 1, x 2
    row = df[(df.block == 2) & (df.stimulus_id == "synthetic/000101") & (df.time == rec["time"].values[2])
             & (df.channel == 5) & (df.y == 1) & (df.x == 2)]
    assert len(row) == 1
    assert row["h"].item() == rec["block2"]["h"].values[1, 2, 5, 1, 2]
    assert row["x_deg"].item() == rec["block2"]["x_deg"].values[2]
    assert row["solver_state"].item() == (1 * 4 + 2) % 2
    assert row["time_ms"].item() == rec["time_ms"].values[2]


def test_one_block_and_other_datasets():
    rec = _with_solver_vars(make_record_dataset(n_stimuli=2, n_times=3))
    one = rec.dcn.to_dataframe(blocks=[2])
    assert len(one) == rec["block2"]["h"].size and set(one["block"]) == {2}
    with pytest.raises(ValueError, match=r"blocks must be block numbers in \[1, 2\], got \[3\]"):
        rec.dcn.to_dataframe(blocks=[3])
    ds = xr.Dataset(
        {"accuracy": ("contrast", [0.5, 0.4]), "nfe": (("contrast", "block"), [[1, 2], [3, 4]])},
        coords={"contrast": [1.0, 0.5], "block": [1, 2]},
    )
    table = ds.dcn.to_dataframe("nfe")
    assert len(table) == 4 and list(table.columns) == ["contrast", "block", "nfe", "accuracy"]
    assert table.loc[(table.contrast == 0.5) & (table.block == 2), "nfe"].item() == 4
    with pytest.raises(ValueError, match=r"var must be a data variable of ds \(one of \['accuracy', 'nfe'\]\)"):
        ds.dcn.to_dataframe("h")

"""DCN paper Table 1 (and the Table 5 variants): trainable parameters of every model of the zoo.

Each of the ten DCN-paper models is built with its CIFAR-10 defaults (width 32, 10 classes) and its
parameters counted; beside them stand the paper's rounded numbers (Table 1; the three meta-parametrised
variants of Table 5 have none) and the exact counts of the reference implementation
(github.com/ntomen/Deep-Continuous-Networks). The checkpoint's own model is counted too (it may have another
width). Writes table1_parameters.nc, table1_parameters.csv and table1_parameters.png (bars: ours against the
paper's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.nn.classifier import MODEL_SPECS
from neurodcn.nn.zoo import build_model
from neurodcn.paper.inputs import checkpoint_label, load_cortex, parameter_count
from neurodcn.paper.results import Outputs, Result
from neurodcn.schema import stamp_provenance
from neurodcn.validate import check_bool

__all__ = ["run", "PAPER_ROUNDED", "REFERENCE_EXACT", "count_table"]

NAME = "table1_parameters"

PAPER_ROUNDED = {
    "dcn-ode": 429_000,
    "dcn-full": 326_000,
    "dcn-sigma-ji": 472_000,
    "odenet": 560_000,
    "resnet-blocks": 555_000,
    "resnet-srf-blocks": 426_000,
    "resnet-srf-full": 323_000,
}
"""DCN paper Table 1, "Parameters" column (rounded to thousands)."""

REFERENCE_EXACT = {
    "dcn-ode": 428_752,
    "dcn-full": 325_843,
    "dcn-sigma-ji": 472_202,
    "odenet": 559_562,
    "resnet-blocks": 554_634,
    "resnet-srf-blocks": 425_616,
    "resnet-srf-full": 322_707,
    "dcn-sigma-t": 428_758,
    "dcn-sigma-t2": 428_764,
    "dcn-sigma-alpha-t": 689_494,
}
"""Exact counts of the reference implementation with CIFAR-10 defaults (github.com/ntomen/Deep-Continuous-Networks)."""


def count_table() -> pd.DataFrame:
    """One row per DCN-paper model (MODEL_SPECS order): model, parameters (ours, built with defaults),
    paper_rounded and reference_exact (nullable integers, <NA> where the source gives none), and whether
    ours rounds to the paper's number and equals the reference's."""
    rows = []
    for name in MODEL_SPECS:
        n = parameter_count(build_model(name))
        paper, exact = PAPER_ROUNDED.get(name, np.nan), REFERENCE_EXACT.get(name, np.nan)
        rows.append(
            {
                "model": name,
                "parameters": n,
                "paper_rounded": paper,
                "reference_exact": exact,
                "rounds_to_paper": bool(round(n, -3) == paper) if name in PAPER_ROUNDED else None,
                "equals_reference": bool(n == exact) if name in REFERENCE_EXACT else None,
            }
        )
    return pd.DataFrame(rows).astype({"paper_rounded": "Int64", "reference_exact": "Int64"})


def _dataset(table: pd.DataFrame, vc) -> xr.Dataset:
    count = {"units": "count"}
    flag = {"units": "1", "flag_values": np.array([-1, 0, 1], np.int8), "flag_meanings": "no_published_number no yes"}

    def as_flag(col):
        return np.array([-1 if v is None else int(v) for v in table[col]], dtype=np.int8)

    ds = xr.Dataset(
        {
            "parameters": (
                "model",
                table["parameters"].to_numpy(np.int64),
                {"long_name": "trainable parameters (neurodcn, CIFAR-10 defaults)", **count},
            ),
            "paper_rounded": (
                "model",
                table["paper_rounded"].to_numpy(np.float64, na_value=np.nan),
                {"long_name": "parameters in DCN paper Table 1, rounded (NaN: not listed)", **count},
            ),
            "reference_exact": (
                "model",
                table["reference_exact"].to_numpy(np.float64, na_value=np.nan),
                {"long_name": "parameters of the reference implementation", **count},
            ),
            "rounds_to_paper": (
                "model",
                as_flag("rounds_to_paper"),
                {"long_name": "ours rounded to thousands equals the paper's number", **flag},
            ),
            "equals_reference": (
                "model",
                as_flag("equals_reference"),
                {"long_name": "ours equals the reference implementation's count", **flag},
            ),
        },
        coords={"model": ("model", table["model"].to_numpy(str), {"long_name": "model name"})},
    )
    ds.attrs.update(checkpoint_model=vc.name, checkpoint_parameters=parameter_count(vc.model))
    return stamp_provenance(
        ds,
        "parameter_counts",
        vc.name,
        model_config=vc.model_config,
        solver_config=vc.solver_config,
        title="DCN paper Table 1: parameter counts",
    )


def _figure(table: pd.DataFrame) -> Figure:
    """One bar per model (our count), labelled "= paper" where it rounds to Table 1's number, else the
    paper's number or "not in Table 1" (a second bar of the same height would say nothing)."""
    fig = Figure(figsize=(8.0, 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(table))
    ours = table["parameters"].to_numpy(np.float64) / 1e3
    ax.bar(x, ours, width=0.6, color="0.55")
    for xi, yi, match, paper in zip(x, ours, table["rounds_to_paper"], table["paper_rounded"], strict=True):
        note = "not in Table 1" if match is None else ("= paper" if match else f"paper {paper / 1e3:.0f}k")
        ax.annotate(note, (xi, yi), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=8, rotation=90 if match is None else 0)
    ax.set_xticks(x, table["model"], rotation=40, ha="right")
    ax.set_ylabel("trainable parameters (thousands)")
    ax.set_ylim(0, ours.max() * 1.65)
    ax.set_title("DCN paper Table 1: our parameter counts against the paper's (rounded to thousands)")
    return fig


def run(checkpoint=None, out="results", quick: bool = False, progress: bool = True) -> Result:
    """Count the zoo's parameters and write the table (``quick`` changes nothing: counting is fast)."""
    check_bool("quick", quick)
    outputs = Outputs(out, NAME)  # starts the clock
    vc = load_cortex(checkpoint, progress=progress)
    table = count_table()
    outputs.dataset(
        _dataset(table, vc),
        f"{NAME}.nc",
        "parameter counts of the ten DCN-paper models with the "
        "paper's rounded and the reference's exact numbers",
    )
    outputs.table(
        table,
        f"{NAME}.csv",
        "the same table as CSV (model, parameters, paper_rounded, reference_exact, "
        "rounds_to_paper, equals_reference)",
    )
    outputs.figure(
        _figure(table), f"{NAME}.png", "bar chart of the parameter counts: ours against the paper's"
    )
    ok = table["equals_reference"].eq(True).sum()
    summary = [
        f"{NAME}: {ok} of {len(table)} zoo models match the reference's exact counts; "
        f"checkpoint model {vc.name}: {parameter_count(vc.model):,} parameters"
    ]
    return outputs.finish(
        {"checkpoint": checkpoint_label(checkpoint), "model": vc.name}, summary
    )

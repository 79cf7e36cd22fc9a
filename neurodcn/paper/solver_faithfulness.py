"""Is the checkpoint an ODE model? Accuracy and block outputs under several solvers (neurodcn.cortex.faithfulness).

Writes solver_faithfulness.nc (accuracy per solver, forward NFE per solver and block, relative L2 distance of
each block's h(T) from dopri5 per test image) and solver_faithfulness.png. The criteria: accuracy under dopri5
(rtol = atol = 1e-3), rk4 (step 0.25) and the training solver within 1 point; h(T) under dopri5 and rk4
(step 0.05) within 1 % relative L2, median over the images. On request, solver_convergence.nc: each solver's
own error, the distance of h(T) from a converged dopri5 (rtol = atol = 1e-6), on the first images; the solvers are
the criteria's, the training solver, and dopri5 at rtol = 1e-3 with atol = 1e-6 (which part of dopri5's error
is its absolute tolerance).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from neurodcn.cortex.faithfulness import CONVERGED, FAITHFUL_SOLVERS, faithfulness_summary, solver_agreement
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.paper.inputs import checkpoint_label, load_cortex
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool, check_int

__all__ = ["run"]

NAME = "solver_faithfulness"


def run(checkpoint=None, out="results", data=None, num_images: int | None = None, converged_images: int = 0,
        quick: bool = False, progress: bool = True) -> Result:
    """Solver agreement of the checkpoint on the first ``num_images`` test images of the CIFAR-10 folder
    ``data`` (default: all; ``quick``: 100); with ``converged_images`` > 0, also each solver's distance from the
    converged reference on the first that many of them."""
    if data is None:
        raise ValueError("data must name a cifar-10-batches-py folder (the test split is used)")
    if check_bool("quick", quick) or num_images is not None:
        num_images = check_int("num_images", 100 if num_images is None else num_images, 1)
    converged_images = check_int("converged_images", converged_images, 0)
    outputs = Outputs(out, NAME)  # starts the clock
    test = load_cifar10(data, "test")
    n = len(test) if num_images is None else min(num_images, len(test))
    vc = load_cortex(checkpoint, progress=progress)
    ds = solver_agreement(vc.model, test.images[:n], test.labels[:n], progress=progress)
    ds.attrs.update(checkpoint=checkpoint_label(checkpoint),
                    images=f"first {n} test images of {test.describe()['source']}")
    summary = faithfulness_summary(ds)
    outputs.dataset(ds, f"{NAME}.nc", f"accuracy, NFE and h(T) distances of {vc.name} under several solvers")
    outputs.figure(_figure(ds, vc.name), f"{NAME}.png",
                   "accuracy per solver; relative L2 distance of each block's h(T) from dopri5, per image")
    acc = ", ".join(f"{k} {v:.1f} %" for k, v in summary["accuracy_percent"].items())
    l2 = ", ".join(f"{100 * v:.2f} %" for v in summary["median_relative_l2"])
    lines = [f"{NAME}: {vc.name} on {n} test images: accuracy {acc} (spread "
             f"{summary['accuracy_spread_points']:.2f} points); median relative L2 of h(T), rk4 step 0.05 vs "
             f"dopri5, per block: {l2}; faithful: {summary['faithful']}"]
    if converged_images:
        k = min(converged_images, n)
        loose = FAITHFUL_SOLVERS["dopri5"]  # the criterion's dopri5, and the same with a 1000x smaller atol
        solvers = {"converged": CONVERGED, **FAITHFUL_SOLVERS, "dopri5_atol_1e-6": loose.replace(atol=1e-6),
                   "training": vc.model.ode_blocks()[0][1].solver}
        conv = solver_agreement(vc.model, test.images[:k], test.labels[:k], solvers, reference="converged",
                                progress=progress)
        conv.attrs.update(checkpoint=checkpoint_label(checkpoint), images=f"first {k} of the same test images")
        outputs.dataset(conv, "solver_convergence.nc", f"h(T) of {vc.name} under each solver against dopri5 "
                        "(rtol = atol = 1e-6)")
        outputs.figure(_figure(conv, vc.name), "solver_convergence.png",
                       "relative L2 distance of each block's h(T) from the converged dopri5, per image")
        errors = conv.relative_l2.median("image")
        lines.append(f"solver_convergence: median relative L2 of h(T) from dopri5 (1e-6) on {k} images, per block: "
                     + "; ".join(f"{s} " + " / ".join(f"{100 * v:.3f} %" for v in errors.sel(solver=s).values)
                                 for s in solvers if s != "converged"))
    return outputs.finish({"checkpoint": checkpoint_label(checkpoint), "num_images": n,
                           "converged_images": converged_images}, lines)


def _figure(ds, name: str) -> Figure:
    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    ax_acc, ax_l2 = fig.subplots(1, 2, width_ratios=[1, 2])
    solvers = [str(s) for s in ds.solver.values]
    ax_acc.bar(solvers, 100 * ds.accuracy.values, color="0.6")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_xlabel("solver")
    ax_acc.tick_params(axis="x", rotation=30)
    for label in ax_acc.get_xticklabels():
        label.set_horizontalalignment("right")
    same = [s for s in solvers if s != ds.attrs["reference"] and not ds.relative_l2.sel(solver=s).any()]
    others = [s for s in solvers if s != ds.attrs["reference"] and s not in same]
    width = 0.8 / len(others)
    for j, s in enumerate(others):
        for b, block in enumerate(ds.block.values):
            values = 100 * ds.relative_l2.sel(solver=s, block=block).values
            pos = b + (j - (len(others) - 1) / 2) * width
            ax_l2.boxplot(values, positions=[pos], widths=0.8 * width, showfliers=False,
                          patch_artist=True, boxprops={"facecolor": f"C{j}"}, medianprops={"color": "k"})
        ax_l2.plot([], [], "s", color=f"C{j}", label=s)
    ax_l2.axhline(1.0, color="k", ls=":", lw=1, label="1 % criterion")
    ax_l2.set_yscale("log")
    ax_l2.set_xticks(np.arange(len(ds.block)), [f"block {int(b)}" for b in ds.block.values])
    ax_l2.set_ylabel(f"h(T) distance from\n{ds.attrs['reference']} (%, relative L2)")
    ax_l2.legend(fontsize="small", title="solver", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    same_note = f" ({', '.join(same)} = {ds.attrs['reference']}: identical)" if same else ""
    fig.suptitle(f"Solver agreement of {name}{same_note}")
    return fig

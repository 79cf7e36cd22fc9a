"""Is a model an ODE model? The same weights solved with other solvers must give the same answers.

A network trained with a coarse fixed-step solver can exploit that solver's error; solved accurately it then
behaves differently, and every dynamical measurement on it describes the solver. ``solver_agreement`` runs one
model under several solvers on the same images and reports, per solver: accuracy, forward NFE per block, and
per block the relative L2 distance of the block output h(T) from the reference solver's, per image
(||h - h_ref||_2 / ||h_ref||_2 over the block's whole map).
"""

from __future__ import annotations

import json

import numpy as np
import torch
import xarray as xr

from neurodcn.cortex.inputs import batch_slices
from neurodcn.cortex.record import propagate
from neurodcn.cortex.sweep import Sweep, failure_summary, per_image_nfe, solved_with
from neurodcn.nn.dynamics import SolverConfig, SolverError
from neurodcn.schema import stamp_provenance
from neurodcn.validate import check_bool, check_choice, check_int

__all__ = ["FAITHFUL_SOLVERS", "CONVERGED", "solved_outputs", "solver_agreement", "faithfulness_summary"]

FAITHFUL_SOLVERS = {
    "dopri5": SolverConfig(method="dopri5", rtol=1e-3, atol=1e-3, adjoint=False),
    "rk4_0.25": SolverConfig(method="rk4", step_size=0.25, adjoint=False),
    "rk4_0.05": SolverConfig(method="rk4", step_size=0.05, adjoint=False),
}
"""The solvers of the faithfulness criteria: accuracy under dopri5 (1e-3) and rk4 (step 0.25) within one point of
the training solver; h(T) under dopri5 within 1 % (relative L2, median over images) of rk4 with step 0.05."""

CONVERGED = SolverConfig(method="dopri5", rtol=1e-6, atol=1e-6, adjoint=False)
"""A converged reference, against which each solver's own error in h(T) is measured (``reference`` of
``solver_agreement``)."""


def solved_outputs(model, x: torch.Tensor, solver, batch_size: int = 100, progress: bool = False,
                   desc: str = "solve"):
    """(logits [N, classes], [h(T) of each ODE block [N, ...]], forward NFE [N, block] of each image's own
    solve) of a staged classifier on images ``x`` [N, C, H, W] under ``solver`` (a SolverConfig or dict; every
    image with its own steps: neurodcn.cortex.sweep). A failed image raises SolverError."""
    solver = SolverConfig.coerce(solver)
    blocks = [b for _, b in model.ode_blocks()]
    batches = [sl for _, sl in batch_slices(len(x), batch_size, False, "")]
    logits, outs, nfe = [], [], []
    with solved_with(model, solver), Sweep(model, progress=progress, desc=desc, total=len(batches)) as sweep:
        for sl in batches:
            done = sweep.run(lambda: propagate(model, x[sl], times=[solver.T]), sl.stop - sl.start)  # noqa: B023
            if done.codes.any():
                raise SolverError(f"solver {desc!r} failed: {failure_summary(done.codes, 'images')}")
            out, trajectories = done.result
            logits.append(out.float().cpu())
            outs.append([h[-1].float().cpu() for h in trajectories if h is not None])
            nfe.append(per_image_nfe(done.solves, blocks, sl.stop - sl.start))
    return torch.cat(logits), [torch.cat(block) for block in zip(*outs, strict=True)], np.concatenate(nfe)


def solver_agreement(model, images: torch.Tensor, labels: torch.Tensor, solvers: dict | None = None,
                     reference: str = "dopri5", batch_size: int = 100, progress: bool = True) -> xr.Dataset:
    """Accuracy, NFE and block outputs of ``model`` under each solver, against ``reference``.

    model: a staged classifier with ODE blocks (run under each solver by neurodcn.cortex.sweep.solved_with: its
    own solver and config are untouched; every image gets its own adaptive steps). images [N, C, H, W] in
    [0, 1], labels [N]. solvers: name -> SolverConfig or dict (default FAITHFUL_SOLVERS plus the model's own
    solver as "training"). Returns a Dataset: accuracy [solver], forward_nfe [solver, block] (mean over images),
    forward_nfe_per_image [solver, image, block] and relative_l2 [solver, image, block] =
    ||h(T) - h_ref(T)|| / ||h_ref(T)||. A solver that fails on any image raises SolverError.
    """
    if not hasattr(model, "ode_blocks") or not model.ode_blocks():
        raise ValueError("model must be a classifier with ODE blocks (see nd.list_models())")
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"images must be a tensor [N, C, H, W], got {getattr(images, 'shape', type(images))}")
    if not torch.is_tensor(labels) or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be a tensor [{images.shape[0]}], got {getattr(labels, 'shape', labels)}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    progress = check_bool("progress", progress)
    own = model.ode_blocks()[0][1].solver
    solvers = dict(FAITHFUL_SOLVERS, training=own) if solvers is None else dict(solvers)
    check_choice("reference", reference, solvers)
    solvers = {name: SolverConfig.coerce(s) for name, s in solvers.items()}
    results = {name: solved_outputs(model, images, solver, batch_size, progress, f"solver {name}")
               for name, solver in solvers.items()}
    _, ref_outs, _ = results[reference]
    names = list(solvers)
    acc = [float((results[n][0].argmax(1) == labels).float().mean()) for n in names]
    rel = np.stack([np.stack([((o - r).flatten(1).norm(dim=1) / r.flatten(1).norm(dim=1)).numpy()
                              for o, r in zip(results[n][1], ref_outs, strict=True)], axis=1) for n in names])
    ds = xr.Dataset(
        {
            "accuracy": (("solver",), np.asarray(acc), {"long_name": "test accuracy", "units": "1"}),
            "forward_nfe": (("solver", "block"), np.stack([results[n][2].mean(axis=0) for n in names]),
                            {"long_name": "forward function evaluations, mean over images of their own solves",
                             "units": "count"}),
            "forward_nfe_per_image": (("solver", "image", "block"), np.stack([results[n][2] for n in names]),
                                      {"long_name": "forward function evaluations of the image's own solve",
                                       "units": "count"}),
            "relative_l2": (("solver", "image", "block"), rel,
                            {"long_name": f"relative L2 distance of h(T) from the {reference} solution",
                             "units": "1"}),
        },
        coords={"solver": ("solver", names), "block": ("block", [i + 1 for i, _ in model.ode_blocks()]),
                "image": ("image", np.arange(len(labels)))},
    )
    ds["solver_config"] = ("solver", [json.dumps(solvers[n].to_dict()) for n in names],
                           {"long_name": "solver configuration (JSON)", "units": "1"})
    return stamp_provenance(ds, "solver_agreement", model.config.get("name", type(model).__name__),
                            model_config=model.config, solver_config=own, reference=reference)


def faithfulness_summary(ds: xr.Dataset, training: str = "training", fine: str = "rk4_0.05",
                         accuracy_points: float = 1.0, max_relative_l2: float = 0.01) -> dict:
    """The faithfulness criteria on a ``solver_agreement`` dataset (reference dopri5): accuracy spread (points)
    of dopri5, rk4_0.25 and the training solver; median relative L2 of h(T) between dopri5 and ``fine`` per
    block; and whether both are within their bounds."""
    acc = 100 * ds.accuracy.sel(solver=["dopri5", "rk4_0.25", training]).values
    spread = float(acc.max() - acc.min())
    l2 = ds.relative_l2.sel(solver=fine).median("image").values
    return {"accuracy_percent": dict(zip(["dopri5", "rk4_0.25", training], acc.round(2).tolist(), strict=True)),
            "accuracy_spread_points": spread, "median_relative_l2": l2.tolist(),
            "faithful": bool(spread <= accuracy_points and (l2 <= max_relative_l2).all())}

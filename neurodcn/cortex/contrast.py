"""Contrast sweeps: accuracy and solver effort against input contrast (experiment "contrast_sweep"; Fig. 5).

The network input is c * image for every regime; the regimes differ in what else follows c:
- "naive": nothing else (Fig. 5 top, solid lines).
- "scale_T_block1": the first ODE block integrates to c * T instead of T (Fig. 5 top, dashed).
- "scale_all": every ODE block integrates to c * T, and the map entering every later block is multiplied by c
  (block 1 already receives the contrast through the image), so every block starts from a map of amplitude ~c
  (Fig. 5 bottom). Why it can work: GroupNorm makes f nearly scale invariant, f(t, c h) ~ f(t, h), so
  c h(s / c) solves the same ODE from c h0 and is reached at s = c T; the time input and GN's eps break this
  slightly.
NFE is the forward NFE of each ODE block's solve of each image: every image has its own adaptive steps
(neurodcn.cortex.sweep), so its NFE and class do not depend on the other images of its batch; the reported NFE
is the mean over images. Solver effort is bounded (steps per image, seconds per batch and in total). An image
whose solve fails (too many steps, step-size underflow, non-finite state or logits, out of time) marks its
contrast solver_failed = 1 and solver_failure = why (the first failure's code), and that contrast's accuracy
and NFE are NaN; it never raises. Contrasts computed before a failure keep their results.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurodcn.cortex.inputs import batch_slices, check_labels
from neurodcn.cortex.record import propagate
from neurodcn.cortex.sweep import DEFAULT_MAX_NUM_STEPS, DEFAULT_SOLVE_BUDGET_S, Sweep, failure_attrs, per_image_nfe
from neurodcn.schema import stimulus_coords
from neurodcn.validate import check_bool, check_choice

__all__ = ["REGIMES", "regime_settings", "contrast_sweep"]

REGIMES = ("naive", "scale_T_block1", "scale_all")


def regime_settings(model, regime: str, c: float) -> tuple[list, list]:
    """(T, input_scale) per block for neurodcn.cortex.record.propagate at contrast c (None T: solver.T)."""
    check_choice("regime", regime, REGIMES)
    ode = [i for i, _ in model.ode_blocks()]
    T, scale = [None] * len(model.blocks), [1.0] * len(model.blocks)
    if regime != "naive" and not ode:
        raise ValueError(
            f"regime {regime!r} scales integration times and needs ODE blocks; this model has none "
            "(only 'naive' applies)"
        )
    for i in ode[:1] if regime == "scale_T_block1" else ode if regime == "scale_all" else []:
        T[i] = c * model.blocks[i].solver.T
        if regime == "scale_all" and i > 0:
            scale[i] = c
    return T, scale


def _contrasts(contrasts) -> np.ndarray:
    cs = np.atleast_1d(np.asarray(contrasts, dtype=np.float64))
    if (
        cs.ndim != 1
        or cs.size == 0
        or not np.all(np.isfinite(cs))
        or np.any(cs <= 0)
        or np.unique(cs).size != cs.size
    ):
        raise ValueError(
            f"contrasts must be a non-empty 1-D sequence of distinct finite numbers > 0, got {cs.tolist()}"
        )
    return cs


def contrast_sweep(
    vc,
    images,
    labels,
    contrasts,
    regime: str = "naive",
    per_image: bool = False,
    stimulus_table=None,
    max_num_steps: int = DEFAULT_MAX_NUM_STEPS,
    solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S,
    time_budget_s: float | None = None,
) -> xr.Dataset:
    """Accuracy and forward NFE per ODE block and in total at each contrast c (experiment "contrast_sweep").

    Needs a staged classifier (its T-scaling regimes need ODE blocks). A solve past its bounds is flagged in
    ``solver_failed``/``solver_failure``, not raised.

    Args:
        images: [N, C, H, W] in [0, 1] (overshoot within float rounding is clipped, as in ``record``).
        labels: N class indices.
        contrasts: factors c > 0 (input = c * image, may exceed 1).
        regime: one of ``REGIMES``: "naive" (every block integrates to T), "scale_T_block1" (block 1 to c T) or
            "scale_all" (every block to c T, maps scaled by c), as in the DCN paper's Fig. 5.
        per_image: add ``correct`` and ``nfe_per_image`` on dim stimulus (coords from ``stimulus_table``,
            optional, as in ``record``), and run every batch even after a failure at its contrast.
        stimulus_table: optional stimulus table for the per-image coordinates.
        max_num_steps: step attempts per image and block solve (``neurodcn.cortex.sweep``).
        solve_budget_s: seconds per batch (s).
        time_budget_s: seconds for the whole sweep (s), or None.

    Returns:
        A Dataset on dims contrast and block: ``accuracy`` (contrast), ``nfe`` (contrast, block), ``nfe_total``,
        ``solver_failed``, ``solver_failure``; attr ``regime``.

    Examples:
        >>> import neurodcn as nd
        >>> vc = nd.VirtualCortex.pretrained(progress=False)
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=2)
        >>> cs = vc.contrast_sweep(stim.images, stim.labels, contrasts=[0.25, 1], regime="scale_all")
        >>> dict(cs.sizes), cs.regime
        ({'contrast': 2, 'block': 3}, 'scale_all')
    """
    check_bool("per_image", per_image)
    model = vc.model
    regime_settings(model, regime, 1.0)  # validates regime against the model
    x = vc.check_images(images)
    n = x.shape[0]
    y = check_labels(labels, n, vc.num_classes)
    cs = _contrasts(contrasts)
    stim = stimulus_coords(n, stimulus_table, images=x.cpu().numpy()) if per_image else {}
    ode = [b for _, b in model.ode_blocks()]
    correct = np.zeros((n, cs.size), np.int8)
    nfe = np.full((n, cs.size, len(ode)), np.nan)
    failure = np.zeros(cs.size, np.int8)
    batches = list(batch_slices(n, vc.batch_size, False, "", repeat=cs.size))
    with Sweep(model, max_num_steps=max_num_steps, solve_budget_s=solve_budget_s, time_budget_s=time_budget_s,
               progress=vc.progress, desc=f"contrast ({regime})", total=len(batches)) as sweep:
        for ci, sl in batches:
            if failure[ci] and not per_image:  # the contrast is already flagged: skip its remaining batches
                correct[sl, ci] = -1
                continue
            T, scale = regime_settings(model, regime, float(cs[ci]))
            done = sweep.run(lambda: propagate(model, x[sl] * float(cs[ci]), T=T, input_scale=scale),  # noqa: B023
                             sl.stop - sl.start)
            bad = done.codes > 0
            if bad.any():
                failure[ci] = failure[ci] or done.codes[bad][0]
            if done.result is None:
                correct[sl, ci] = -1
                continue
            correct[sl, ci] = np.where(bad, -1, (done.result[0].argmax(1).cpu() == y[sl]).numpy())
            nfe[sl, ci] = np.where(bad[:, None], np.nan, per_image_nfe(done.solves, ode, sl.stop - sl.start))
    failed = failure > 0
    accuracy = np.where(failed, np.nan, correct.mean(axis=0, dtype=np.float64))
    mean_nfe = np.where(failed[:, None], np.nan, nfe.mean(axis=0))
    coords = {
        "contrast": ("contrast", cs, {"long_name": "contrast factor c (input = c * image)", "units": "1"}),
        "block": (
            "block",
            np.array([i + 1 for i, _ in model.ode_blocks()], dtype=np.int64),
            {"long_name": "ODE block", "units": "1"},
        ),
        **stim,
    }
    data = {
        "accuracy": (
            "contrast",
            accuracy,
            {"long_name": "fraction correct (NaN: solver failed)", "units": "1"},
        ),
        "nfe": (
            ("contrast", "block"),
            mean_nfe,
            {
                "long_name": "forward function evaluations of the block, mean over images of their own "
                "solves (NaN: solver failed)",
                "units": "count",
            },
        ),
        "nfe_total": (
            "contrast",
            mean_nfe.sum(axis=1),
            {"long_name": "forward function evaluations summed over ODE blocks", "units": "count"},
        ),
        "solver_failed": (
            "contrast",
            failed.astype(np.int8),
            {
                "long_name": "an ODE solve failed at this contrast",
                "units": "1",
                "flag_values": np.array([0, 1], dtype=np.int8),
                "flag_meanings": "ok solver_failed",
            },
        ),
        "solver_failure": ("contrast", failure, failure_attrs("the contrast (its first failed batch)")),
    }
    if per_image:
        data["correct"] = (
            ("stimulus", "contrast"),
            correct,
            {
                "long_name": "image classified correctly",
                "units": "1",
                "flag_values": np.array([-1, 0, 1], dtype=np.int8),
                "flag_meanings": "solver_failed incorrect correct",
            },
        )
        data["nfe_per_image"] = (
            ("stimulus", "contrast", "block"),
            nfe,
            {
                "long_name": "forward function evaluations of the image's own solve (NaN: solver failed)",
                "units": "count",
            },
        )
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["regime"] = regime
    return vc.stamp(ds, "contrast_sweep", title=f"contrast_sweep {regime} ({vc.name})",
                    stimulus_size=np.shape(images)[-2:])

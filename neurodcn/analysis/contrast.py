"""Fig. 5 within a regime: one contrast against another on the same images (data side of contrast sweeps).

Input: contrast sweeps with per-image results (neurodcn.cortex.contrast.contrast_sweep with ``per_image=True``).
Per regime, images whose solve failed at either contrast are left out (``images_failed``), so both contrasts are
scored on the same images and every change is paired. Changes are c_low minus c_high: a negative accuracy change
is accuracy lost at the low contrast, a negative NFE change is effort saved.
- Accuracy at each contrast with its Wilson interval (neurodcn.analysis.accuracy.accuracy_table).
- Accuracy change with a percentile bootstrap interval over images (the same resampled images at both contrasts;
  neurodcn.analysis.plots.style.bootstrap_ci, seeded), and the exact McNemar test of equal accuracy
  (neurodcn.analysis.accuracy.mcnemar_table: the images right at one contrast only). The bootstrap is chosen
  for the interval because it is unconditional (an exact interval given the discordant images ignores the spread
  of their number) and is the same method as the NFE interval.
- Mean per-image forward NFE per ODE block and in total at each contrast; the paired change of the total with a
  bootstrap interval; the relative change (change over the mean at c_high).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.analysis.accuracy import accuracy_table, mcnemar_table
from neurodcn.analysis.plots.style import bootstrap_ci
from neurodcn.schema import require_experiment
from neurodcn.validate import check_int, check_real

__all__ = ["contrast_pairs"]

_PCT, _COUNT = {"units": "percent"}, {"units": "count"}


def _at(parts: list[xr.Dataset], c: float, regime: str) -> xr.Dataset:
    """The sweep of ``parts`` at contrast c (equal to 1e-6 relative)."""
    for ds in parts:
        hit = np.flatnonzero(np.isclose(ds["contrast"].values, c, rtol=1e-6, atol=0))
        if hit.size:
            return ds.isel(contrast=hit[0])
    held = sorted({float(v) for ds in parts for v in ds["contrast"].values})
    raise ValueError(f"no sweep of regime {regime!r} holds contrast {c:g} (they hold {held})")


def _pair(parts: list[xr.Dataset], regime: str, cs: tuple[float, float], confidence: float, n_boot: int,
          seed: int) -> xr.Dataset:
    """The paired comparison of one regime (see the module docstring) on dims contrast (the two) and block."""
    high, low = (_at(parts, c, regime) for c in cs)
    if not np.array_equal(high["stimulus_id"].values, low["stimulus_id"].values):
        raise ValueError(f"the sweeps of regime {regime!r} at contrasts {cs[0]:g} and {cs[1]:g} hold different "
                         "stimuli; a paired comparison needs the same images")
    ok = (high["correct"].values >= 0) & (low["correct"].values >= 0)
    if not ok.any():
        raise ValueError(f"regime {regime!r}: no image was solved at both contrasts {cs[0]:g} and {cs[1]:g}")
    correct = pd.DataFrame([d["correct"].values[ok] for d in (high, low)], index=["high", "low"]).astype(bool)
    acc = accuracy_table(correct, confidence)
    mc = mcnemar_table(correct).iloc[0]
    nfe = np.stack([d["nfe_per_image"].values[ok] for d in (high, low)])  # [2, images, blocks]
    total = nfe.sum(axis=2)
    boot = dict(level=confidence, n_resamples=n_boot, seed=seed)
    right = correct.to_numpy(np.float64)  # [2 (high, low), images]
    acc_lo, acc_hi = bootstrap_ci(100.0 * (right[1] - right[0]), **boot)
    nfe_change = total[1] - total[0]
    nfe_lo, nfe_hi = bootstrap_ci(nfe_change, **boot)
    interval = f"{100 * confidence:g} % bootstrap interval over images (paired)"
    wilson = f"{100 * confidence:g} % Wilson interval"
    return xr.Dataset(
        {
            "images": ((), int(ok.sum()), dict(_COUNT, long_name="images solved at both contrasts (compared)")),
            "images_failed": ((), int((~ok).sum()),
                              dict(_COUNT, long_name="images left out: the solve failed at either contrast")),
            "accuracy": ("contrast", acc["accuracy_pct"].to_numpy(), dict(_PCT, long_name="test accuracy")),
            "accuracy_low": ("contrast", acc["ci_low_pct"].to_numpy(),
                             dict(_PCT, long_name=f"test accuracy: {wilson}, low")),
            "accuracy_high": ("contrast", acc["ci_high_pct"].to_numpy(),
                              dict(_PCT, long_name=f"test accuracy: {wilson}, high")),
            "accuracy_change": ((), 0.0 - float(mc["difference_pct"]),  # 0.0 - : no negative zero
                                dict(_PCT, long_name="accuracy at c_low minus accuracy at c_high (points)")),
            "accuracy_change_low": ((), float(acc_lo), dict(_PCT, long_name=f"accuracy change: {interval}, low")),
            "accuracy_change_high": ((), float(acc_hi), dict(_PCT, long_name=f"accuracy change: {interval}, high")),
            "only_high_correct": ((), int(mc["only_a"]), dict(_COUNT, long_name="images right at c_high only")),
            "only_low_correct": ((), int(mc["only_b"]), dict(_COUNT, long_name="images right at c_low only")),
            "mcnemar_p": ((), float(mc["p_value"]), {"long_name": "exact McNemar test of equal accuracy at the two "
                                                     "contrasts: two-sided p-value", "units": "1"}),
            "nfe": (("contrast", "block"), nfe.mean(axis=1),
                    dict(_COUNT, long_name="forward NFE of the block, mean over images of their own solves")),
            "nfe_total": ("contrast", total.mean(axis=1),
                          dict(_COUNT, long_name="forward NFE summed over ODE blocks, mean over images")),
            "nfe_change": ((), float(nfe_change.mean()),
                           dict(_COUNT, long_name="total forward NFE per image at c_low minus at c_high, mean")),
            "nfe_change_low": ((), float(nfe_lo), dict(_COUNT, long_name=f"NFE change: {interval}, low")),
            "nfe_change_high": ((), float(nfe_hi), dict(_COUNT, long_name=f"NFE change: {interval}, high")),
            "nfe_relative_change": ((), 100 * float(nfe_change.mean() / total[0].mean()),
                                    dict(_PCT, long_name="NFE change over the mean total NFE at c_high")),
        },
        coords={"contrast": ("contrast", list(cs), {"long_name": "contrast factor c (c_high, c_low)", "units": "1"}),
                "block": high["block"], "regime": regime},
    )


def contrast_pairs(sweeps, c_high: float = 1.0, c_low: float = 0.06, confidence: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> xr.Dataset:
    """Per regime, contrast c_high against c_low on the same images: accuracy, NFE and their paired changes.

    Args:
        sweeps: per-image contrast sweeps (``contrast_sweep(..., per_image=True)``): one Dataset, or a sequence
            or mapping (its values) of them; sweeps of the same regime (attr ``regime``) are pooled, so c_high
            and c_low may come from two sweeps of the same images.
        c_high: the reference contrast (> 0), held by a sweep of every regime (equal to 1e-6 relative).
        c_low: the contrast compared with it (> 0, likewise held).
        confidence: level of every interval (0 < confidence < 1).
        n_boot: bootstrap resamples.
        seed: the bootstrap's numpy Generator seed (every interval uses the same seed).

    Returns:
        A Dataset on dims regime, contrast ([c_high, c_low]) and block (see the module docstring): images,
        images_failed, only_high_correct, only_low_correct (count); accuracy with accuracy_low/_high (percent,
        Wilson); accuracy_change with _low/_high (percentage points, bootstrap) and mcnemar_p; nfe (regime,
        contrast, block) and nfe_total (count, mean per image); nfe_change with _low/_high (count, bootstrap);
        nfe_relative_change (percent). Attrs: c_high, c_low, confidence, bootstrap, bootstrap_seed.
    """
    datasets = [sweeps] if isinstance(sweeps, xr.Dataset) else (  # a Dataset is a Mapping too
        list(sweeps.values()) if isinstance(sweeps, Mapping) else list(sweeps))
    cs = (check_real("c_high", c_high, lo=0, lo_open=True), check_real("c_low", c_low, lo=0, lo_open=True))
    if cs[0] == cs[1]:
        raise ValueError(f"c_high and c_low must differ, got {c_high!r} twice")
    confidence = check_real("confidence", confidence, lo=0, hi=1, lo_open=True, hi_open=True)
    n_boot, seed = check_int("n_boot", n_boot, 1), check_int("seed", seed, 0)
    by_regime: dict[str, list[xr.Dataset]] = {}
    for ds in datasets:
        require_experiment(ds, "contrast_sweep", "every sweep")
        if "correct" not in ds or "nfe_per_image" not in ds:
            raise ValueError("every sweep needs its per-image results: run contrast_sweep(..., per_image=True)")
        by_regime.setdefault(ds.attrs["regime"], []).append(ds)
    if not by_regime:
        raise ValueError("sweeps must hold at least one contrast sweep")
    out = xr.concat([_pair(parts, regime, cs, confidence, n_boot, seed) for regime, parts in by_regime.items()],
                    dim="regime")
    out["regime"].attrs["long_name"] = "contrast regime (neurodcn.cortex.contrast.REGIMES)"
    out.attrs.update(c_high=cs[0], c_low=cs[1], confidence=confidence, bootstrap=n_boot, bootstrap_seed=seed)
    return out

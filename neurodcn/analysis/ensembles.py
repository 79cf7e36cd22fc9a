"""Test accuracy of ensembles of forward passes (members) against a single pass, with bootstrap intervals.

A member is one pass of the same network under another test-time setting (a CC-Net scale sequence, a dcn-cc
step order); an ensemble of k members averages the logits of the first k. Intervals are percentile bootstraps
over test images (neurodcn.analysis.plots.style.bootstrap_ci, seeded); the gain of an ensemble over the single
pass is paired (the same images resampled for both). The members' logits come from the model side
(neurodcn.cortex.ensembles.step_order_logits for dcn-cc step orders).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from neurodcn.analysis.plots.style import bootstrap_ci
from neurodcn.validate import check_int

__all__ = ["ensemble_accuracy"]

_PCT = {"units": "percent"}


def _correct(logits, labels: np.ndarray) -> np.ndarray:
    return (np.asarray(torch.as_tensor(logits).argmax(-1)) == labels).astype(np.float64)


def _with_interval(name: str, what: str, correct: np.ndarray, dim: str, n_boot: int, seed: int) -> dict:
    """{name, name_low, name_high}: the mean of ``correct`` [n_dim, N] in percent and its 95 % interval."""
    low, high = bootstrap_ci(correct, axis=1, n_resamples=n_boot, seed=seed)
    return {
        name: (dim, 100 * correct.mean(axis=1), dict(_PCT, long_name=what)),
        f"{name}_low": (dim, 100 * low, dict(_PCT, long_name=f"{what}: 95 % bootstrap interval, low")),
        f"{name}_high": (dim, 100 * high, dict(_PCT, long_name=f"{what}: 95 % bootstrap interval, high")),
    }


def ensemble_accuracy(member_logits, single_logits, labels, members, member_names=None, n_boot: int = 2000,
                      seed: int = 0) -> xr.Dataset:
    """Accuracy (percent) of each member alone and of ensembles of the first k members, k in ``members``.

    member_logits: [M, N, classes]; single_logits: [N, classes] (the network's default pass); labels: N class
    indices; members: ensemble sizes 1 .. M; member_names: M labels of the members (default "0" .. "M-1").
    Returns dims ``member`` (member_accuracy with interval) and ``members`` (accuracy and gain over the single
    pass, each with its interval); attrs single_pass_accuracy and single_pass_interval (percent).
    """
    logits = torch.as_tensor(member_logits)
    if logits.dim() != 3:
        raise ValueError(f"member_logits must be [members, images, classes], got shape {tuple(logits.shape)}")
    m, n = logits.shape[:2]
    y = np.asarray(labels).reshape(-1)
    if y.size != n or tuple(torch.as_tensor(single_logits).shape[:1]) != (n,):
        raise ValueError(f"labels ({y.size}) and single_logits ({tuple(torch.as_tensor(single_logits).shape)}) must "
                         f"cover the {n} images of member_logits")
    sizes = sorted({check_int("members", k, 1) for k in members})
    if not sizes or sizes[-1] > m:
        raise ValueError(f"members must be ensemble sizes from 1 to {m} (the members given), got {list(members)!r}")
    names = [str(i) for i in range(m)] if member_names is None else [str(s) for s in member_names]
    if len(names) != m:
        raise ValueError(f"member_names must name the {m} members, got {len(names)}")
    n_boot, seed = check_int("n_boot", n_boot, 1), check_int("seed", seed, 0)
    single = _correct(single_logits, y)
    alone = np.stack([_correct(logits[i], y) for i in range(m)])
    together = np.stack([_correct(logits[:k].mean(0), y) for k in sizes])
    ds = xr.Dataset(
        {
            **_with_interval("member_accuracy", "test accuracy of the member alone", alone, "member", n_boot, seed),
            **_with_interval("accuracy", "test accuracy of the ensemble", together, "members", n_boot, seed),
            **_with_interval("gain", "ensemble accuracy minus the single pass's (paired)", together - single,
                             "members", n_boot, seed),
        },
        coords={
            "members": ("members", sizes, {"long_name": "members averaged (the first k)", "units": "1"}),
            "member": ("member", names, {"long_name": "member (test-time setting of the pass)"}),
        },
    )
    low, high = bootstrap_ci(single, n_resamples=n_boot, seed=seed)
    ds.attrs.update(single_pass_accuracy=100 * float(single.mean()),
                    single_pass_interval=np.array([100 * float(low), 100 * float(high)]), bootstrap=n_boot,
                    bootstrap_seed=seed, test_images=n)
    return ds

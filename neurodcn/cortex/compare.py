"""Model side of the model-brain comparison: a block's features at every model time, then RSA or predictivity.

Stimuli of any size are resized to the model's input (``vc.image_size``) with neurodcn.nn.resize (cubic,
antialiased); the resized image spans ``vc.visual_degrees`` horizontally, so a stimulus shown to the brain
at S degrees should be given with visual_degrees = S (recorded in the attrs). Features of recorded block k at
model time t are its state h(t) (the solver's output grid for a continuous block, as neurodcn.cortex.record;
a discrete layer's output at its one time, 0), average-pooled
over space to pool x pool positions (torch adaptive_avg_pool2d; None keeps the full map) and flattened.
The comparisons themselves are neurodcn.analysis.compare's.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from neurodcn.analysis.compare.brain import as_regions, brain_rdms
from neurodcn.analysis.compare.predictivity import DEFAULT_ALPHAS, predictivity_over_time
from neurodcn.analysis.compare.rsa import rsa_over_time
from neurodcn.cortex.sweep import failure_summary, sweep_readout
from neurodcn.schema import time_coords
from neurodcn.validate import check_int

__all__ = ["DEFAULT_TIMES", "prepare_stimuli", "block_features", "rsa", "predictivity"]

DEFAULT_TIMES = 5
"""Model times used when none are given: this many, evenly spaced over [0, T] of the continuous blocks."""


def prepare_stimuli(vc, stimuli) -> torch.Tensor:
    """stimuli [N, C, H, W] (torch or numpy, floats in [0, 1], any H x W) resized to vc.image_size
    (VirtualCortex.check_images)."""
    x = torch.from_numpy(np.asarray(stimuli)) if isinstance(stimuli, np.ndarray) else stimuli
    if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
        raise TypeError(
            f"stimuli must be a float tensor or array [N, C, H, W] with values in [0, 1], got "
            f"{type(stimuli).__name__} {list(getattr(stimuli, 'shape', []))}"
        )
    return vc.check_images(x)


def block_features(vc, stimuli, times=None, pool: int | None = 4, progress=None,
                   time_budget_s: float | None = None) -> tuple[dict, np.ndarray]:
    """({"block{k}": features [n_times, N, F]} for every recorded block, model times). pool: output positions
    per side of the spatial average pool (None: the full map, F = C H W). A stimulus whose solve fails has NaN
    features (with a warning); time_budget_s bounds the whole pass (s)."""
    if pool is not None:
        pool = check_int("pool", pool, 1)
    times = vc.readout.times(times, DEFAULT_TIMES)
    x = prepare_stimuli(vc, stimuli)
    parts: dict[str, list] = {f"block{i + 1}": [] for i in range(len(vc.readout.layers))}

    def keep(sl: slice, done) -> None:
        for i, h in enumerate(done.result[1] if done.result is not None else [None] * len(parts)):
            if h is None:  # the batch did not run: NaN features of the right size
                c, hh, ww = vc.map_shape(i)
                side = (min(pool, hh), min(pool, ww)) if pool is not None else (hh, ww)
                h = torch.full((len(times), sl.stop - sl.start, c, *side), torch.nan)
            elif pool is not None:  # [T, b, C, H, W]
                h = F.adaptive_avg_pool2d(h.flatten(0, 1), min(pool, h.shape[-1])).unflatten(0, h.shape[:2])
            parts[f"block{i + 1}"].append(h.flatten(2).to(torch.float64).cpu().numpy())

    codes = sweep_readout(vc, x, times, "model features", keep, progress=progress, time_budget_s=time_budget_s)
    if codes.any():
        warnings.warn(f"model features: {failure_summary(codes, 'stimuli')}; their features are NaN", stacklevel=2)
    return {k: np.concatenate(v, axis=1) for k, v in parts.items()}, times


def _ids(stimuli, stimulus_id) -> np.ndarray:
    n = np.shape(stimuli)[0]
    ids = np.arange(n) if stimulus_id is None else np.asarray(stimulus_id)
    if ids.shape != (n,) or np.unique(ids).size != n:
        raise ValueError(f"stimulus_id must hold one distinct id per stimulus ({n}), got shape {ids.shape}")
    return ids


def _finish(ds, vc, stimuli, times, pool, experiment: str):
    ds = ds.assign_coords(time_coords(times, vc.ms_per_unit_time, vc.onset_ms))
    ds = ds.assign_coords(block_index=("block", [int(b[5:]) for b in ds["block"].values]))
    ds["block"].attrs.update(long_name="recorded block of the model")
    ds["block_index"].attrs.update(long_name="block number (1-based)", units="1")
    ds = vc.stamp(ds, experiment, stimulus_size=np.shape(stimuli)[2:])
    ds.attrs.update(
        stimulus_degrees=float(vc.visual_degrees),
        spatial_pool=-1 if pool is None else int(pool),
    )
    return ds


def rsa(vc, stimuli, brain, times=None, stimulus_id=None, method: str = "rho-a", rdm_method: str = "correlation",
        pool: int | None = 4, n_boot: int = 1000, ci: float = 0.95, seed: int = 0, progress=None,
        keep_samples: bool = False):
    """RSA over model time: each recorded block's RDM at each model time against brain RDMs (experiment "rsa").

    Needs ``pip install "neurodcn[compare]"`` (rsatoolbox). With time-resolved brain data every model time meets
    every time bin, and the time mapping (onset_ms, ms_per_unit_time) is fitted (``neurodcn.analysis.compare``).

    Args:
        stimuli: [N, C, H, W] in [0, 1], any size (resized to the model's input).
        brain: per region (a dict region -> data): RDM arrays or DataArrays, Brain-Score-style response
            DataArrays, or the path of an NWB file (``neurodcn.analysis.compare.brain``).
        times: model times (default ``DEFAULT_TIMES`` over [0, T]; discrete layers: 0).
        stimulus_id: ids of the stimuli matching the brain data's (default 0..N-1).
        method: RDM comparison (default "rho-a", as rsatoolbox recommends; also "spearman", "tau-a",
            "cosine_cov", ...).
        rdm_method: model dissimilarity (default correlation distance).
        pool: spatial pooling of each block's map to pool x pool positions (None: the full map; see
            ``block_features``).
        n_boot: bootstrap samples over stimuli for the CIs.
        ci: confidence level of the intervals.
        seed: seed of the bootstrap.
        progress: show progress bars (default: the cortex's setting).
        keep_samples: keep the bootstrap samples as ``similarity_samples`` (sample x block x time x region
            [x time_bin]); models run with the same seed on the same stimuli share them, for
            ``neurodcn.analysis.compare.paired.paired_rsa``.

    Returns:
        A Dataset block x time x region [x time_bin]: ``similarity``, ``similarity_ci_low``/``_high``,
        ``ceiling_lower``/``_upper``, coords ``time`` (model) and ``time_ms``, and with time bins the fitted
        ``onset_ms`` / ``ms_per_unit_time`` with CIs.

    Examples:
        >>> import numpy as np, neurodcn as nd
        >>> vc = nd.VirtualCortex.pretrained(progress=False)
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=6)
        >>> rdm = 1 - np.corrcoef(np.random.default_rng(0).random((6, 10)))  # a stand-in brain RDM, 6 x 6
        >>> rsa = vc.rsa(stim.images, {"IT": rdm}, times=[0, 2], n_boot=10)
        >>> rsa.similarity.dims, rsa.time_ms.values.tolist()
        (('block', 'time', 'region'), [50.0, 100.0])
    """
    show = vc.progress if progress is None else progress
    ids = _ids(stimuli, stimulus_id)
    regions = brain_rdms(brain, ids, rdm_method)
    feats, times = block_features(vc, stimuli, times, pool, show)
    ds = rsa_over_time(feats, times, regions, method, rdm_method, n_boot, ci, seed, show, keep_samples)
    return _finish(ds, vc, stimuli, times, pool, "rsa")


def predictivity(vc, stimuli, recordings, times=None, stimulus_id=None, pool: int | None = 4, pca=None,
                 n_splits: int = 5, alphas=DEFAULT_ALPHAS, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                 progress=None, keep_samples: bool = False):
    """Neural predictivity over model time: cross-validated ridge regression from each recorded block's features at
    each model time to every recorded neuron (experiment "predictivity").

    Needs ``pip install "neurodcn[compare]"`` (scikit-learn).

    Args:
        stimuli: [N, C, H, W] in [0, 1], any size (resized to the model's input).
        recordings: region -> response DataArray (presentation x neuroid [x time_bin], coord ``stimulus_id``) or
            the path of an NWB file.
        times: model times (default ``DEFAULT_TIMES`` over [0, T]).
        stimulus_id: ids of the stimuli (default 0..N-1).
        pool: spatial pooling of each block's map to pool x pool positions (None: the full map).
        pca: number of principal components, fitted on the training folds (None: no PCA).
        n_splits: cross-validation folds.
        alphas: RidgeCV penalties.
        n_boot: bootstrap samples over neurons for the CIs.
        ci: confidence level of the intervals.
        seed: seed of the folds and the bootstrap.
        progress: show progress bars (default: the cortex's setting).
        keep_samples: keep the bootstrap samples of the medians as ``median_r_samples`` (sample x block x time x
            region [x time_bin]); models run with the same seed on the same recordings share them, for
            ``neurodcn.analysis.compare.paired.paired_predictivity``.

    Returns:
        A Dataset with ``r`` per neuron and ``median_r`` per block, time and region with CIs over neurons;
        ceilings where the recordings have repeated presentations (attr ``ceiling_note`` says where none is
        possible).

    Examples:
        >>> import numpy as np, xarray as xr, neurodcn as nd
        >>> vc = nd.VirtualCortex.pretrained(progress=False)
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=10)
        >>> v4 = xr.DataArray(np.random.default_rng(0).random((10, 3)), dims=("presentation", "neuroid"),
        ...                   coords={"stimulus_id": ("presentation", np.arange(10))})  # 3 stand-in neurons
        >>> pred = vc.predictivity(stim.images, {"V4": v4}, times=[2], n_splits=2, n_boot=10)
        >>> pred.median_r.dims, pred.sizes["neuroid"]
        (('block', 'time', 'region'), 3)
    """
    show = vc.progress if progress is None else progress
    ids = _ids(stimuli, stimulus_id)
    regions = as_regions(recordings)
    feats, times = block_features(vc, stimuli, times, pool, show)
    ds = predictivity_over_time(feats, times, regions, ids, n_splits, alphas, pca, n_boot, ci, seed, show,
                                keep_samples)
    return _finish(ds, vc, stimuli, times, pool, "predictivity")

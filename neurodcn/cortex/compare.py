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

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neurodcn.analysis.compare.brain import as_regions, brain_rdms
from neurodcn.analysis.compare.predictivity import DEFAULT_ALPHAS, predictivity_over_time
from neurodcn.analysis.compare.rsa import rsa_over_time
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


def block_features(vc, stimuli, times=None, pool: int | None = 4, progress=None) -> tuple[dict, np.ndarray]:
    """({"block{k}": features [n_times, N, F]} for every recorded block, model times). pool: output positions
    per side of the spatial average pool (None: the full map, F = C H W)."""
    if pool is not None:
        pool = check_int("pool", pool, 1)
    times = vc.readout.times(times, DEFAULT_TIMES)
    x = prepare_stimuli(vc, stimuli)
    parts: dict[str, list] = {f"block{i + 1}": [] for i in range(len(vc.readout.layers))}
    vc.model.eval()
    show = vc.progress if progress is None else progress
    starts = range(0, x.shape[0], vc.batch_size)
    for s in tqdm(starts, desc="model features", disable=not show, leave=False):
        with torch.no_grad():
            _, trajs = vc.readout(x[s : s + vc.batch_size], times)
        for i, h in enumerate(trajs):  # [T, b, C, H, W]
            if pool is not None:
                h = F.adaptive_avg_pool2d(h.flatten(0, 1), min(pool, h.shape[-1])).unflatten(0, h.shape[:2])
            parts[f"block{i + 1}"].append(h.flatten(2).to(torch.float64).cpu().numpy())
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
        pool: int | None = 4, n_boot: int = 1000, ci: float = 0.95, seed: int = 0, progress=None):
    """RSA over model time: each recorded block's RDM at each model time against brain RDMs (experiment "rsa").

    stimuli: [N, C, H, W] in [0, 1], any size (resized to the model's input); brain: RDMs, response
    DataArrays or an NWB path, per region (neurodcn.analysis.compare.brain); stimulus_id: ids of the stimuli
    matching the brain data's (default 0..N-1); times: model times (default DEFAULT_TIMES over [0, T];
    discrete layers: 0); method: RDM comparison (default "rho-a", as rsatoolbox recommends; also "spearman", "tau-a",
    "cosine_cov", ...); rdm_method: model dissimilarity (default correlation distance); pool: spatial
    pooling (see block_features); n_boot, ci, seed: bootstrap over stimuli.
    Returns block x time x region [x time_bin]: similarity, similarity_ci_low/high, ceiling_lower/upper,
    coords time (model) and time_ms, and with time bins the fitted onset_ms / ms_per_unit_time with CIs.
    """
    show = vc.progress if progress is None else progress
    ids = _ids(stimuli, stimulus_id)
    regions = brain_rdms(brain, ids, rdm_method)
    feats, times = block_features(vc, stimuli, times, pool, show)
    ds = rsa_over_time(feats, times, regions, method, rdm_method, n_boot, ci, seed, show)
    return _finish(ds, vc, stimuli, times, pool, "rsa")


def predictivity(vc, stimuli, recordings, times=None, stimulus_id=None, pool: int | None = 4, pca=None,
                 n_splits: int = 5, alphas=DEFAULT_ALPHAS, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                 progress=None):
    """Neural predictivity over model time: cross-validated ridge from each recorded block's features at each
    model time to every recorded neuron (experiment "predictivity").

    recordings: region -> response DataArray (presentation x neuroid [x time_bin], coord stimulus_id) or an
    NWB path; stimulus_id: ids of the stimuli (default 0..N-1); pool, pca: feature reduction (spatial pooling,
    then principal components fitted on the training folds); n_splits folds; alphas: RidgeCV penalties.
    Returns r per neuron and median_r per region with CIs over neurons; ceilings where the recordings have
    repeated presentations (attrs ceiling_note says where none is possible).
    """
    show = vc.progress if progress is None else progress
    ids = _ids(stimuli, stimulus_id)
    regions = as_regions(recordings)
    feats, times = block_features(vc, stimuli, times, pool, show)
    ds = predictivity_over_time(feats, times, regions, ids, n_splits, alphas, pca, n_boot, ci, seed, show)
    return _finish(ds, vc, stimuli, times, pool, "predictivity")

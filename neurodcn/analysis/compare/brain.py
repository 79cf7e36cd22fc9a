"""Brain data in the forms labs hold, turned into what the comparisons need.

Accepted per region (a dict region -> data, or one item, named "brain"):

* RDMs: a numpy array [n, n], [n_rdm, n, n], [n_pairs] or [n_rdm, n_pairs] (upper triangles in scipy
  ``squareform`` order), or a DataArray with dims (["time_bin",] "rdm", "stimulus_a", "stimulus_b") as the
  loaders of neurodcn.data.recordings return (coord ``subject`` on "rdm" groups RDMs for noise ceilings);
* responses: a Brain-Score-style DataArray presentation x neuroid [x time_bin] with coord stimulus_id
  (time_bin_start / time_bin_end in ms when time-resolved; repeated stimulus_ids are trials and are averaged;
  a neuroid coord ``subject`` gives one RDM per subject);
* a path to an NWB file with presentations, as neurodcn.io.nwb.to_nwb writes: read with read_nwb and turned
  into an assembly (one region per block) with neurodcn.io.assembly.to_assembly; or a lab's NWB file (Units
  with spike times, a trials table naming the stimuli): rates over the whole trial, see
  neurodcn.io.lab_recordings.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial.distance import squareform

from neurodcn.analysis.compare.rdm import calc_rdms

__all__ = ["BrainRDMs", "as_regions", "brain_rdms", "brain_responses", "responses_from_nwb", "time_bins"]

_RDM_DIMS = ("rdm", "stimulus_a", "stimulus_b")


@dataclasses.dataclass
class BrainRDMs:
    """One region's RDMs: rdms [n_bins, n_rdm, n_pairs] (n_bins = 1 when not time-resolved), the subject of
    each RDM [n_rdm] and bins [n_bins, 2] ms (None when not time-resolved)."""

    rdms: np.ndarray
    subject: np.ndarray
    bins: np.ndarray | None = None


def responses_from_nwb(path, region: str = "") -> dict[str, xr.DataArray]:
    """An NWB file as Brain-Score-style DataArrays: a neurodcn file (to_nwb) one per block ("block1", ...,
    after ``region`` and a space if given); a lab's file (Units with spike times, a trials table) one named
    ``region`` (default "brain"): rates over the whole trial in one bin (neurodcn.io.lab_recordings.load_lab_nwb
    with its defaults; call it yourself to choose the window and bins)."""
    from neurodcn.io.assembly import record_blocks, to_assembly
    from neurodcn.io.lab_recordings import load_lab_nwb
    from neurodcn.io.nwb import ForeignNWBError, read_nwb

    try:
        ds = read_nwb(path)
    except ForeignNWBError:
        return {region or "brain": load_lab_nwb(path)}
    blocks = record_blocks(ds)
    assembly = to_assembly(ds, {f"block{k}": f"block{k}" for k in blocks})
    return {
        f"{region} block{k}".strip(): assembly.isel(neuroid=assembly["region"].values == f"block{k}") for k in blocks
    }


def as_regions(data) -> dict:
    """``data`` as a dict region -> item (an NWB path expands to its blocks, or is a lab's recording)."""
    if isinstance(data, str | os.PathLike):
        return responses_from_nwb(Path(data))
    if isinstance(data, dict):
        if not data or not all(isinstance(k, str) and k for k in data):
            raise ValueError(f"brain data must be a non-empty dict with region names (str) as keys, got {data!r}")
        out = {}
        for k, v in data.items():
            if isinstance(v, str | os.PathLike):
                out.update(responses_from_nwb(Path(v), k))
            else:
                out[k] = v
        return out
    return {"brain": data}


def _order(ids, stimulus_id: np.ndarray, what: str) -> np.ndarray:
    """Indices into ``ids`` that put them in the order of stimulus_id."""
    ids = np.asarray(ids)
    pos = {v: i for i, v in enumerate(ids.tolist())}
    missing = [s for s in stimulus_id.tolist() if s not in pos]
    if missing:
        raise ValueError(f"{what} lacks the stimulus_ids {missing[:5]} of the stimuli ({len(missing)} in all)")
    return np.array([pos[s] for s in stimulus_id.tolist()])


def time_bins(da: xr.DataArray) -> np.ndarray | None:
    """[n_bins, 2] (start, end) ms of a time-resolved DataArray, or None without a time_bin dim."""
    if "time_bin" not in da.dims:
        return None
    missing = [c for c in ("time_bin_start", "time_bin_end") if c not in da.coords]
    if missing:
        raise ValueError(f"time-resolved brain data must have coords time_bin_start/end (ms); lacks {missing}")
    return np.stack([da["time_bin_start"].values, da["time_bin_end"].values], axis=1).astype(np.float64)


def brain_responses(da, stimulus_id: np.ndarray, region: str = "brain") -> xr.DataArray:
    """Responses (presentation x neuroid [x time_bin]) averaged over repeats, in the stimuli's order."""
    if not isinstance(da, xr.DataArray) or "presentation" not in da.dims or "neuroid" not in da.dims:
        raise TypeError(
            f"responses of region {region!r} must be an xarray.DataArray with dims presentation and neuroid, "
            f"got {type(da).__name__} {getattr(da, 'dims', '')}"
        )
    extra = set(da.dims) - {"presentation", "neuroid", "time_bin"}
    if extra:
        raise ValueError(f"responses of region {region!r} have unknown dims {sorted(extra)}")
    if "stimulus_id" not in da.coords:
        raise ValueError(f"responses of region {region!r} lack the presentation coord stimulus_id")
    ids = da["stimulus_id"].values
    if np.unique(ids).size != ids.size:  # trials: average the repeats of each stimulus
        da = da.groupby("stimulus_id").mean("presentation").rename(stimulus_id="presentation")
        da = da.assign_coords(stimulus_id=("presentation", da["presentation"].values))
    out = da.isel(presentation=_order(da["stimulus_id"].values, stimulus_id, f"region {region!r}"))
    out = out.transpose("presentation", "neuroid", *(["time_bin"] if "time_bin" in da.dims else []))
    if not np.all(np.isfinite(out.values)):
        raise ValueError(f"responses of region {region!r} hold non-finite values")
    return out


def _rdm_stack(arr: np.ndarray, n: int, region: str) -> np.ndarray:
    """[n_rdm, n_pairs] from [n, n], [k, n, n], [n_pairs] or [k, n_pairs]; dissimilarities must be >= 0."""
    pairs = n * (n - 1) // 2
    if np.nanmin(arr, initial=0.0) < 0:
        raise ValueError(f"RDMs of region {region!r} must hold dissimilarities >= 0, got {int(np.sum(arr < 0))} "
                         f"negative values (min {np.nanmin(arr):g}); similarities (e.g. correlations) must be "
                         "turned into dissimilarities first (e.g. 1 - r)")
    if arr.ndim >= 2 and arr.shape[-2:] == (n, n):
        mats = arr.reshape(-1, n, n)
        if not np.allclose(mats, mats.transpose(0, 2, 1), equal_nan=True):
            raise ValueError(f"RDMs of region {region!r} must be symmetric")
        return np.stack([squareform(m, checks=False) for m in mats])
    if arr.shape[-1] == pairs and arr.ndim in (1, 2):
        return arr.reshape(-1, pairs)
    raise ValueError(
        f"RDMs of region {region!r} must have shape [n, n], [n_rdm, n, n], [{pairs}] or [n_rdm, {pairs}] for "
        f"n = {n} stimuli, got {list(arr.shape)}"
    )


def brain_rdms(data, stimulus_id, rdm_method: str = "correlation") -> dict[str, BrainRDMs]:
    """Every region of ``data`` as BrainRDMs over the stimuli (n = len(stimulus_id), in that order).

    Responses become RDMs with rsatoolbox.rdm.calc_rdm (``rdm_method``), one per time bin and subject.
    """
    stimulus_id = np.asarray(stimulus_id)
    n = stimulus_id.size
    out = {}
    for region, item in as_regions(data).items():
        if isinstance(item, xr.DataArray) and "presentation" in item.dims:
            da = brain_responses(item, stimulus_id, region)
            bins = time_bins(da)
            subj = da["subject"].values if "subject" in da.coords and da["subject"].dims == ("neuroid",) else None
            groups = [None] if subj is None else list(dict.fromkeys(subj.tolist()))
            per_bin = []
            for b in range(1 if bins is None else len(bins)):
                x = da.values if bins is None else da.values[..., b]
                feats = [x if g is None else x[:, subj == g] for g in groups]
                per_bin.append(calc_rdms(feats, rdm_method).dissimilarities)
            subjects = np.array(["all" if g is None else str(g) for g in groups])
            out[region] = BrainRDMs(np.stack(per_bin), subjects, bins)
        elif isinstance(item, xr.DataArray):
            dims = tuple(d for d in item.dims if d != "time_bin")
            if dims != _RDM_DIMS:
                raise ValueError(
                    f"RDMs of region {region!r} must have dims {_RDM_DIMS} (optionally with time_bin first), "
                    f"got {item.dims}"
                )
            item = item.transpose(*(["time_bin"] if "time_bin" in item.dims else []), *_RDM_DIMS)
            idx = {d: _order(item[d if d in item.coords else "stimulus_a"].values, stimulus_id,
                             f"region {region!r} ({d})") for d in ("stimulus_a", "stimulus_b")}
            item = item.isel(idx)  # each axis by its own labels
            bins = time_bins(item)
            vals = item.values if bins is not None else item.values[None]
            rdms = np.stack([_rdm_stack(v, n, region) for v in vals])
            subj = item["subject"].values if "subject" in item.coords else np.arange(rdms.shape[1])
            out[region] = BrainRDMs(rdms, np.asarray(subj).astype(str), bins)
        elif isinstance(item, np.ndarray):
            rdms = _rdm_stack(np.asarray(item, dtype=np.float64), n, region)[None]
            out[region] = BrainRDMs(rdms, np.arange(rdms.shape[1]).astype(str), None)
        else:
            raise TypeError(
                f"brain data of region {region!r} must be a numpy RDM array, an RDM or response DataArray or "
                f"an NWB path, got {type(item).__name__}"
            )
        if not np.all(np.isfinite(out[region].rdms)):
            raise ValueError(f"RDMs of region {region!r} hold non-finite values")
    return out

"""Time mapping from data: which model time best matches each recorded time bin, and the line through them.

Given a similarity matrix S[model time, time bin] (RSA or predictivity of every model time against every
bin), the model time that best matches bin b is the peak of S[:, b], refined by the vertex of a parabola
through the peak and its two neighbours (numpy.polyfit). Bins whose peak lies on the first or last model time
are left out (the true peak may lie outside the recorded model times). A least-squares line through
(bin centre in ms, peak model time) (scipy.stats.linregress) gives t = (ms - onset_ms) / ms_per_unit_time,
i.e. time_ms = onset_ms + ms_per_unit_time * t, the convention of neurodcn.VirtualCortex. The uncertainty is
the spread of the same fit over resampled similarity matrices (e.g. bootstrap over stimuli or neurons).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from neurodcn.validate import check_real

__all__ = ["peak_times", "fit_time_mapping"]


def peak_times(similarity: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Model time of the peak of each column of similarity [n_times, n_bins]; nan where the peak is at an end
    of ``times`` or not finite."""
    s = np.asarray(similarity, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    out = np.full(s.shape[1], np.nan)
    for b in range(s.shape[1]):
        col = s[:, b]
        if not np.all(np.isfinite(col)):
            continue
        i = int(np.argmax(col))
        if i == 0 or i == len(t) - 1:
            continue
        a, c, _ = np.polyfit(t[i - 1 : i + 2], col[i - 1 : i + 2], 2)
        out[b] = -c / (2 * a) if a < 0 else t[i]
    return out


def _line(peaks: np.ndarray, centres: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(peaks)
    if ok.sum() < 2 or np.ptp(centres[ok]) == 0:
        return float("nan"), float("nan"), int(ok.sum())
    fit = stats.linregress(centres[ok], peaks[ok])  # t = intercept + slope * ms
    if fit.slope <= 0:
        return float("nan"), float("nan"), int(ok.sum())
    return float(-fit.intercept / fit.slope), float(1.0 / fit.slope), int(ok.sum())


def fit_time_mapping(similarity, times, bins_ms, samples=None, ci: float = 0.95) -> dict:
    """Fit time_ms = onset_ms + ms_per_unit_time * t from a similarity matrix.

    similarity: [n_times, n_bins]; times: model times [n_times] (increasing, >= 3); bins_ms: [n_bins, 2]
    (start, end) ms or [n_bins] centres; samples: optional resampled matrices [n_samples, n_times, n_bins].
    Returns onset_ms, ms_per_unit_time (nan when fewer than two bins peak inside the model times or the
    peaks do not increase with time), n_bins_used, and with samples their ci-level percentile intervals
    (onset_ms_ci, ms_per_unit_time_ci: (low, high)) and the fraction of samples with a valid fit.
    """
    s = np.asarray(similarity, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    b = np.asarray(bins_ms, dtype=np.float64)
    centres = b.mean(axis=1) if b.ndim == 2 else b
    if s.ndim != 2 or s.shape != (t.size, centres.size) or t.size < 3 or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"similarity must be [n_times >= 3, n_bins] for increasing times, got similarity {list(s.shape)}, "
            f"{t.size} times, {centres.size} bins"
        )
    check_real("ci", ci, 0, 1, lo_open=True, hi_open=True)
    onset, scale, used = _line(peak_times(s, t), centres)
    out = {"onset_ms": onset, "ms_per_unit_time": scale, "n_bins_used": used}
    if samples is not None:
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 3 or samples.shape[1:] != s.shape:
            raise ValueError(f"samples must be [n_samples, {s.shape[0]}, {s.shape[1]}], got {list(samples.shape)}")
        fits = np.array([_line(peak_times(x, t), centres)[:2] for x in samples])
        ok = np.all(np.isfinite(fits), axis=1)
        q = [50 * (1 - ci), 50 * (1 + ci)]
        lo_hi = np.percentile(fits[ok], q, axis=0) if ok.any() else np.full((2, 2), np.nan)
        out.update(
            onset_ms_ci=(float(lo_hi[0, 0]), float(lo_hi[1, 0])),
            ms_per_unit_time_ci=(float(lo_hi[0, 1]), float(lo_hi[1, 1])),
            valid_fraction=float(ok.mean()),
        )
    return out

"""The single-neuron property score of Marques, Schrimpf & DiCarlo (2021): how closely the distribution of one
property over a model's units matches a published V1 histogram, on Brain-Score's scale.

It is the metric of Brain-Score's V1 property benchmarks ("Multi-scale hierarchical neural network models that
bridge from single neurons in the primate primary visual cortex to object recognition behavior"; brain-score/vision
``metrics/distribution_similarity`` and ``benchmarks/marques2020``), in four steps:

1. Binning. Model values are clipped to the published range [edges[0], edges[-1]] and binned on the published
   edges (np.histogram's bins: [lo, hi), the last one closed). Where a cell lies inside its bin never matters, so
   the biological sample is the published counts themselves: bin k repeated count_k times.
2. Similarity. D = max_k |P_k - Q_k|, the KS distance between the cumulative fractions P (model) and Q (biology)
   over bins (``scipy.stats.ks_2samp`` on bin indices), is divided by D_max, the largest D any sample can reach
   against Q (all of it in the first or in the last bin: D_max = max(1 - Q_0, Q_{K-2})). similarity = 1 - D /
   D_max, in [0, 1].
3. Ceiling. The expected similarity of the biology to itself: the mean similarity of ``n_boot`` seeded resamples
   of the n published cells (n drawn with replacement) to the published histogram (Brain-Score's
   NeuronalPropertyCeiling, which scores the data against the data). A split-half ceiling (two random halves
   of the cells scored against each other) is lower, e.g. 0.93 instead of 0.966 for De Valois' peak SF, and is
   not what Brain-Score divides by; tests/test_property_score.py reproduces Brain-Score's published ceilings.
4. Neuron-matched bootstrap. ``n_boot`` seeded resamples of the model's finite values, each of the biological
   n (with replacement), give similarity_b and score_b = similarity_b / ceiling. The score is **not clipped at
   1**, as in Brain-Score (``ceil_score`` divides only): above 1, the model's n-unit samples lie closer to the
   published histogram than the biology's own resamples do on average. Reported: the mean (Brain-Score's
   centre) and a percentile interval.

Seeds: ``numpy.random.SeedSequence(seed).spawn(2)`` gives the ceiling's stream and the model's, so the ceiling
of a property depends only on the histogram, n_boot and seed, never on the model.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from neurodcn.analysis.biology import PROPERTIES, as_histogram, reference_histogram
from neurodcn.validate import check_int, check_real

__all__ = ["bin_index", "ks_similarity", "ceiling_similarities", "score_property"]


def bin_index(values, edges) -> np.ndarray:
    """Bin of each value on ``edges`` [K + 1] after clipping to [edges[0], edges[-1]]: int array in 0..K-1, the
    shape of ``values`` (bins [lo, hi), the last one closed, as np.histogram)."""
    edges = np.asarray(edges, dtype=np.float64)
    clipped = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    return np.clip(np.searchsorted(edges, clipped, side="right") - 1, 0, edges.size - 2)


def _reference_bins(counts: np.ndarray) -> np.ndarray:
    """The published cells as bin indices [n]: bin k repeated counts[k] times."""
    return np.repeat(np.arange(counts.size), counts.astype(np.int64))


def _similarity(model_bins: np.ndarray, ref_bins: np.ndarray, n_bins: int) -> np.ndarray:
    """1 - D / D_max of model bin indices [..., m] (last axis: one sample) against reference bin indices [n]."""
    d = stats.ks_2samp(np.atleast_2d(model_bins), ref_bins[None, :], axis=-1, method="asymp").statistic
    extremes = np.array([[0], [n_bins - 1]])  # all mass in the first or in the last bin
    d_max = stats.ks_2samp(extremes, ref_bins[None, :], axis=-1, method="asymp").statistic.max()
    return (1.0 - d / d_max).reshape(np.shape(model_bins)[:-1])


def _checked_histogram(reference):
    """as_histogram, with whole-number counts in at least 2 bins."""
    hist = as_histogram(reference)
    if np.any(hist.counts != np.round(hist.counts)):
        raise ValueError(f"reference counts must be whole numbers of cells, got {hist.counts.tolist()}")
    if hist.counts.size < 2:
        raise ValueError("a reference histogram needs at least 2 bins (with one, every D and D_max are 0)")
    return hist


def ks_similarity(model_values, reference) -> float:
    """KS similarity 1 - D / D_max (Brain-Score's ks_similarity; module docstring, step 2) of finite model
    values [N] against a reference histogram (Histogram, (edges, counts) or a DataFrame: bin_lo, bin_hi, count)."""
    hist = _checked_histogram(reference)
    values = np.asarray(model_values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"model_values must be a non-empty 1-D array of finite values, got {model_values!r}")
    return float(_similarity(bin_index(values, hist.edges), _reference_bins(hist.counts), hist.counts.size))


def ceiling_similarities(reference, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Similarity [n_boot] of each seeded resample of the reference's n cells (n with replacement) to the
    reference histogram; their mean is the ceiling (module docstring, step 3)."""
    hist = _checked_histogram(reference)
    n_boot = check_int("n_boot", n_boot, minimum=1)
    rng = np.random.default_rng(np.random.SeedSequence(check_int("seed", seed, minimum=0)).spawn(2)[0])
    ref = _reference_bins(hist.counts)
    return _similarity(rng.choice(ref, size=(n_boot, ref.size)), ref, hist.counts.size)


def score_property(model_values, reference, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> xr.Dataset:
    """Marques et al. (2021) score of a model's values of one V1 property (module docstring).

    model_values: 1-D values in the property's units; non-finite ones (units where the property could not be
    measured) are dropped and counted. reference: a property name of neurodcn.analysis.biology.PROPERTIES (its
    published histogram) or a histogram (Histogram, (edges, counts), DataFrame), named "custom".

    Returns an xr.Dataset with dims property (1), bootstrap (n_boot) and bin (K): score and similarity
    (property, bootstrap) of the neuron-matched model resamples, ceiling_similarity (property, bootstrap) of the
    biological resamples; ceiling, score_mean, score_ci_low, score_ci_high (percentile interval ``ci``),
    similarity_mean and similarity_all_units (every finite unit, no resampling) on property; reference_fraction
    and model_fraction (clipped model values, so the fractions sum to 1) on bin with coords bin_lo, bin_hi,
    bin_center (geometric for log-scaled properties). attrs: units, n_neurons_model, n_neurons_biology, n_boot,
    seed, ci, the dropped and clipped unit counts and the reference's citation.
    """
    n_boot = check_int("n_boot", n_boot, minimum=1)
    ci = check_real("ci", ci, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if isinstance(reference, str):
        hist, table = reference_histogram(reference)
        name, units, scale = reference, PROPERTIES[reference]["units"], PROPERTIES[reference]["scale"]
        cite = dict(reference_citation=table.attrs["citation"], reference_source=table.attrs["source"])
    else:
        hist, name, units, scale, cite = as_histogram(reference), "custom", "1", "linear", {}
    hist = _checked_histogram(hist)
    values = np.asarray(model_values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"model_values must be 1-D, got shape {values.shape}")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"model_values must contain at least one finite value, got {values.size} values")

    edges, counts = hist
    ceiling_sims = ceiling_similarities(hist, n_boot, seed)
    ceiling = float(ceiling_sims.mean())
    ref, model = _reference_bins(counts), bin_index(finite, edges)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    sims = _similarity(rng.choice(model, size=(n_boot, ref.size)), ref, counts.size)
    score = sims / ceiling
    lo, hi = np.percentile(score, [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)])
    centers = np.sqrt(edges[:-1] * edges[1:]) if scale == "log" else 0.5 * (edges[:-1] + edges[1:])
    one = dict(units="1")
    per_boot = ("property", "bootstrap")
    ds = xr.Dataset(
        {
            "score": (per_boot, score[None], dict(one, long_name="similarity / ceiling (not clipped at 1)")),
            "similarity": (per_boot, sims[None], dict(one, long_name="1 - KS / KS_max, neuron-matched model sample")),
            "ceiling_similarity": (
                per_boot,
                ceiling_sims[None],
                dict(one, long_name="1 - KS / KS_max, resample of the published cells"),
            ),
            "ceiling": ("property", [ceiling], dict(one, long_name="mean ceiling_similarity over bootstrap")),
            "score_mean": ("property", [score.mean()], dict(one, long_name="mean score over bootstrap")),
            "score_ci_low": ("property", [lo], dict(one, long_name=f"{100 * ci:g} % percentile interval, low")),
            "score_ci_high": ("property", [hi], dict(one, long_name=f"{100 * ci:g} % percentile interval, high")),
            "similarity_mean": ("property", [sims.mean()], dict(one, long_name="mean similarity (not ceiled)")),
            "similarity_all_units": (
                "property",
                [float(_similarity(model, ref, counts.size))],
                dict(one, long_name="1 - KS / KS_max, every finite model unit"),
            ),
            "reference_fraction": ("bin", counts / counts.sum(), dict(one, long_name="fraction of cells (published)")),
            "model_fraction": (
                "bin",
                np.bincount(model, minlength=counts.size) / model.size,
                dict(one, long_name="fraction of model units (values clipped to the published range)"),
            ),
        },
        coords={
            "property": ("property", [name], dict(long_name="V1 property")),
            "bootstrap": ("bootstrap", np.arange(n_boot), dict(long_name="bootstrap sample")),
            "bin_lo": ("bin", edges[:-1], dict(long_name="lower bin edge", units=units)),
            "bin_hi": ("bin", edges[1:], dict(long_name="upper bin edge", units=units)),
            "bin_center": ("bin", centers, dict(long_name=f"{scale} bin centre", units=units)),
        },
        attrs=dict(
            property=name,
            units=units,
            n_neurons_model=int(finite.size),
            n_neurons_biology=int(ref.size),
            n_boot=n_boot,
            seed=int(seed),
            ci=ci,
            n_model_nonfinite_dropped=int(values.size - finite.size),
            n_model_below_range=int(np.sum(finite < edges[0])),
            n_model_above_range=int(np.sum(finite > edges[-1])),
            method="Marques et al. 2021 (Brain-Score): binned KS / KS_max, bootstrap ceiling, neuron-matched "
            "bootstrap; score not clipped at 1",
            **cite,
        ),
    )
    return ds

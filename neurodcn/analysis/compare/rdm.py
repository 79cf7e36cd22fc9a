"""RDMs, their comparison and noise ceilings, all computed by rsatoolbox (Schütt et al. 2023, eLife 12:e82566).

Comparison methods are rsatoolbox.rdm.compare's: e.g. "rho-a" (Spearman's rho under random tie-breaking,
the default: rsatoolbox's documentation, "Comparing RDMs", recommends it over Spearman's rho and Kendall's
tau-a and it is fast), "spearman", "tau-a" (Kendall's tau-a), "corr", "cosine", "corr_cov" (whitened
correlation) and "cosine_cov" (whitened cosine, Diedrichsen et al. 2021).
"""

from __future__ import annotations

import warnings

import numpy as np

from neurodcn.io.extras import require
from neurodcn.validate import check_choice

__all__ = ["COMPARE_METHODS", "RDM_METHODS", "calc_rdms", "rdms_object", "compare_rdms",
           "noise_ceiling"]

COMPARE_METHODS = ("rho-a", "spearman", "tau-a", "kendall", "corr", "cosine", "corr_cov", "cosine_cov")
"""RDM comparison methods (rsatoolbox.rdm.compare); the first is the default."""

RDM_METHODS = ("correlation", "euclidean", "mahalanobis", "poisson")
"""Dissimilarities computed from one response per stimulus (rsatoolbox.rdm.calc_rdm); default correlation."""

_WHAT = "RSA (RDMs, their comparison and noise ceilings)"
"""The feature the optional rsatoolbox serves, as named in a missing-package error."""


def calc_rdms(features: list, method: str = "correlation"):
    """rsatoolbox RDMs, one per array of ``features`` (each [n_stimuli, n_features])."""
    rsatoolbox = require("rsatoolbox", _WHAT)
    check_choice("rdm_method", method, RDM_METHODS)
    data = []
    for i, f in enumerate(features):
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] < 3 or f.shape[1] < 1:
            raise ValueError(f"features[{i}] must be [n_stimuli >= 3, n_features >= 1], got {list(f.shape)}")
        data.append(rsatoolbox.data.Dataset(f))
    return rsatoolbox.rdm.calc_rdm(data, method=method)


def rdms_object(dissimilarities: np.ndarray, subject=None):
    """rsatoolbox RDMs from upper triangles [n_rdm, n_pairs] (scipy squareform order), with a subject
    descriptor (default: one subject per RDM)."""
    RDMs = require("rsatoolbox.rdm", _WHAT).RDMs
    d = np.atleast_2d(np.asarray(dissimilarities, dtype=np.float64))
    subject = np.arange(d.shape[0]).astype(str) if subject is None else np.asarray(subject).astype(str)
    return RDMs(d, rdm_descriptors={"subject": list(subject)})


def compare_rdms(model, brain, method: str = "rho-a") -> np.ndarray:
    """Similarity of every model RDM with the brain: mean over the brain RDMs of rsatoolbox.rdm.compare
    (rsatoolbox's evaluation of a fixed model). model, brain: rsatoolbox RDMs. Returns [model.n_rdm]."""
    compare = require("rsatoolbox.rdm", _WHAT).compare
    check_choice("method", method, COMPARE_METHODS)
    return np.mean(compare(model, brain, method=method), axis=1)


def noise_ceiling(brain, method: str = "rho-a") -> tuple[float, float]:
    """(lower, upper) noise ceiling of rsatoolbox.inference.boot_noise_ceiling (leave one subject out vs
    all subjects; RDMs grouped by the subject descriptor); (nan, nan) with fewer than two subjects."""
    boot_noise_ceiling = require("rsatoolbox.inference", _WHAT).boot_noise_ceiling
    check_choice("method", method, COMPARE_METHODS)
    if len(set(brain.rdm_descriptors["subject"])) < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Noise ceiling for tau based on averaged ranks")
        lo, hi = boot_noise_ceiling(brain, method=method, rdm_descriptor="subject")
    return float(lo), float(hi)

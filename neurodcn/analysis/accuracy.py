"""Test accuracy of several classifiers on the same images: binomial intervals and paired McNemar tests.

Input is a per-image correctness table (models x images, True where the model's top class is the label), so
every model is scored on exactly the same images and differences between two models are paired.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from neurodcn.validate import check_real

__all__ = ["accuracy_table", "mcnemar_table"]


def _correctness(correct) -> pd.DataFrame:
    """``correct`` as a boolean DataFrame (index: model names, columns: images), validated."""
    if not isinstance(correct, pd.DataFrame):
        raise TypeError(f"correct must be a pandas DataFrame (models x images, booleans), got "
                        f"{type(correct).__name__}")
    if correct.shape[0] < 1 or correct.shape[1] < 1:
        raise ValueError(f"correct must hold at least one model and one image, got shape {correct.shape}")
    if not correct.index.is_unique:
        raise ValueError(f"correct's index (model names) must be unique, got {list(correct.index)}")
    values = correct.to_numpy()
    if values.dtype != bool:
        if not np.isin(values, (0, 1)).all():
            raise ValueError("correct must hold only True/False (or 1/0) per model and image")
        correct = correct.astype(bool)
    return correct


def accuracy_table(correct: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy of each model (percent) with its Wilson score interval.

    correct: models x images booleans. Returns one row per model: correct (count), images (count),
    accuracy_pct, ci_low_pct, ci_high_pct (the ``confidence`` Wilson interval of a binomial proportion).
    """
    correct = _correctness(correct)
    confidence = check_real("confidence", confidence, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    rows = []
    for name, row in correct.iterrows():
        k, n = int(row.sum()), len(row)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        rows.append({"model": name, "correct": k, "images": n, "accuracy_pct": 100 * k / n,
                     "ci_low_pct": 100 * ci.low, "ci_high_pct": 100 * ci.high})
    return pd.DataFrame(rows).set_index("model")


def mcnemar_table(correct: pd.DataFrame) -> pd.DataFrame:
    """Exact McNemar test for every pair of models on the same images.

    For models a and b, only_a counts images a gets right and b wrong, only_b the reverse; under the null
    hypothesis of equal accuracy only_a ~ Binomial(only_a + only_b, 1/2), and p_value is that two-sided exact
    binomial test (1 when the two never disagree). difference_pct = accuracy of a minus accuracy of b.
    """
    correct = _correctness(correct)
    rows = []
    for a, b in itertools.combinations(correct.index, 2):
        ca, cb = correct.loc[a].to_numpy(), correct.loc[b].to_numpy()
        only_a, only_b = int((ca & ~cb).sum()), int((cb & ~ca).sum())
        p = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        rows.append({"model_a": a, "model_b": b, "only_a": only_a, "only_b": only_b,
                     "difference_pct": 100 * (ca.mean() - cb.mean()), "p_value": float(p)})
    return pd.DataFrame(rows, columns=["model_a", "model_b", "only_a", "only_b", "difference_pct", "p_value"])

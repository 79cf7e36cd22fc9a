"""Accuracy with Wilson intervals and paired exact McNemar tests, against hand-worked binomial values."""

import math

import numpy as np
import pandas as pd
import pytest

from neurodcn.analysis.accuracy import accuracy_table, mcnemar_table


def _table():
    a = [1] * 8 + [0] * 2          # 8 / 10
    b = [1] * 2 + [0] * 6 + [1] * 2  # 4 / 10; a alone right on images 2-7 (6), b alone on 8-9 (2)
    c = list(a)
    return pd.DataFrame([a, b, c], index=["a", "b", "c"]).astype(bool)


def test_wilson_interval_matches_the_formula():
    t = accuracy_table(_table())
    k, n, z = 8, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert t.loc["a", "accuracy_pct"] == 80.0 and t.loc["a", "correct"] == 8 and t.loc["a", "images"] == 10
    assert t.loc["a", "ci_low_pct"] == pytest.approx(100 * (centre - half), rel=1e-9)
    assert t.loc["a", "ci_high_pct"] == pytest.approx(100 * (centre + half), rel=1e-9)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_images():
    t = mcnemar_table(_table()).set_index(["model_a", "model_b"])
    ab = t.loc[("a", "b")]
    assert (ab.only_a, ab.only_b) == (6, 2)
    # two-sided exact: 2 * P(X <= 2 | n = 8, 1/2) = 2 * (1 + 8 + 28) / 256
    assert ab.p_value == pytest.approx(2 * 37 / 256)
    assert ab.difference_pct == pytest.approx(40.0)
    ac = t.loc[("a", "c")]
    assert (ac.only_a, ac.only_b, ac.p_value) == (0, 0, 1.0)  # identical predictions never disagree
    assert len(t) == 3  # every pair once


@pytest.mark.parametrize("bad, word", [(np.ones((2, 3)), "DataFrame"),
                                       (pd.DataFrame([[0.5, 1]], index=["a"]), "True/False"),
                                       (pd.DataFrame([[1], [0]], index=["a", "a"]), "unique")])
def test_bad_tables_are_refused(bad, word):
    with pytest.raises((TypeError, ValueError), match=word):
        accuracy_table(bad)

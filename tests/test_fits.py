import math

import numpy as np
import pytest
from scipy import stats

from neurodcn.analysis.fits import _RNG, N_MC_SAMPLES, fit_lognormal, fit_naka_rushton, naka_rushton


def test_lognormal_recovers_parameters_of_large_sample():
    rng = np.random.default_rng(0)
    mu, sigma = math.log(1.7), 0.45
    x = rng.lognormal(mu, sigma, size=20000)
    fit = fit_lognormal(x)
    # ML estimates of mu and sigma have SE sigma/sqrt(n) ~ 0.003 and sigma/sqrt(2n) ~ 0.002
    assert fit.mu == pytest.approx(mu, abs=0.015)
    assert fit.sigma == pytest.approx(sigma, abs=0.01)
    assert fit.scale == pytest.approx(math.exp(fit.mu), rel=1e-12)
    assert fit.ks_pvalue > 0.01
    # log-normal skewness (e^s2 + 2) sqrt(e^s2 - 1)
    s2 = sigma**2
    assert fit.skewness == pytest.approx((math.exp(s2) + 2) * math.sqrt(math.exp(s2) - 1), rel=0.15)
    assert abs(fit.log_skewness) < 0.05
    assert fit.n == 20000


def test_lognormal_equals_scipy_fit_and_closed_form():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0.3, 0.8, size=257)
    fit = fit_lognormal(x)
    shape, loc, scale = stats.lognorm.fit(x, floc=0)
    assert loc == 0
    assert fit.shape == pytest.approx(shape, rel=1e-9)
    assert fit.scale == pytest.approx(scale, rel=1e-9)
    # closed-form ML with loc 0: mean and (biased) SD of log x
    assert fit.mu == pytest.approx(np.log(x).mean(), rel=1e-6)
    assert fit.sigma == pytest.approx(np.log(x).std(), rel=1e-6)
    ks = stats.kstest(x, "lognorm", args=(shape, 0, scale))
    assert fit.ks_statistic == pytest.approx(ks.statistic, rel=1e-9)
    assert fit.skewness == pytest.approx(stats.skew(x), rel=1e-12)


def test_lognormal_ks_rejects_a_non_lognormal_sample():
    x = np.random.default_rng(2).uniform(1.0, 2.0, size=5000)
    fit = fit_lognormal(x)
    assert fit.ks_pvalue == pytest.approx(1 / (N_MC_SAMPLES + 1))  # none of the bootstrap fits is this bad


def test_goodness_of_fit_is_a_seeded_parametric_bootstrap():
    """The p-values equal scipy.stats.goodness_of_fit's with the same seed; with the parameters fitted the KS
    distance has a narrower null distribution than kstest assumes, so the bootstrap p-value is the smaller."""
    x = np.random.default_rng(5).lognormal(0.2, 0.6, size=150)
    fit = fit_lognormal(x, n_mc_samples=99, seed=7)
    seeded = {_RNG: np.random.default_rng(7)}  # scipy's generator argument: rng (>= 1.15) or random_state
    want = stats.goodness_of_fit(stats.lognorm, x, known_params={"loc": 0}, statistic="ks", n_mc_samples=99,
                                 **seeded)
    assert fit.ks_pvalue == want.pvalue and fit.ks_statistic == want.statistic
    assert fit.normal_ks_pvalue == stats.goodness_of_fit(stats.norm, x, statistic="ks", n_mc_samples=99,
                                                         **seeded).pvalue
    assert fit_lognormal(x, n_mc_samples=99, seed=7) == fit
    assert fit_lognormal(x, n_mc_samples=99, seed=8).ks_pvalue != fit.ks_pvalue
    # p-values are (k + 1) / (n_mc_samples + 1)
    assert ((fit.ks_pvalue * 100) % 1 == pytest.approx(0, abs=1e-9)) and fit.n_mc_samples == 99


def test_lognormal_sample_passes_and_non_lognormal_samples_fail_at_n_200():
    rng = np.random.default_rng(11)
    assert fit_lognormal(rng.lognormal(0.5, 0.4, size=200)).ks_pvalue > 0.2
    uniform = rng.uniform(1.0, 2.0, size=200)
    bimodal = np.concatenate([rng.lognormal(0.0, 0.15, 100), rng.lognormal(0.8, 0.15, 100)])
    for x in (uniform, bimodal):
        assert fit_lognormal(x).ks_pvalue < 0.05


def test_the_old_fitted_ks_p_value_was_anti_conservative():
    """Hand example: uniform on [1, 2], n = 200. kstest against the log-normal fitted to the same samples gives
    p = 0.077 and would keep the log-normal; the parametric bootstrap of the same KS distance rejects it."""
    x = np.random.default_rng(1).uniform(1.0, 2.0, size=200)
    fit = fit_lognormal(x)
    old = stats.kstest(x, stats.lognorm(fit.shape, 0, fit.scale).cdf)
    assert old.statistic == pytest.approx(fit.ks_statistic, rel=1e-12)
    assert old.pvalue == pytest.approx(0.0775, abs=5e-4)
    assert fit.ks_pvalue < 0.05 < old.pvalue


def test_normal_ks_sets_the_lognormal_against_a_normal():
    """The normal alternative (Lilliefors: mean and SD (ddof 1) fitted, parametric bootstrap): it rejects a skewed
    log-normal sample (shape 0.46, the sigma_ji initialisation's) and accepts a normal one."""
    rng = np.random.default_rng(3)
    skewed = rng.lognormal(0.0, 0.46, size=4000)
    fit = fit_lognormal(skewed)
    ks = stats.kstest(skewed, "norm", args=(skewed.mean(), skewed.std(ddof=1)))
    assert fit.normal_ks_statistic == pytest.approx(ks.statistic, rel=1e-12)
    assert fit.normal_ks_pvalue < 0.05 < fit.ks_pvalue
    normal = rng.normal(5.0, 0.5, size=4000)  # positive, so the log-normal fit is defined
    assert fit_lognormal(normal).normal_ks_pvalue > 0.05


def test_lognormal_attrs_are_flat_numbers():
    attrs = fit_lognormal([1.0, 2.0, 4.0, 3.0]).as_attrs()
    assert set(attrs) >= {"lognorm_shape", "lognorm_scale", "lognorm_ks_pvalue", "lognorm_n", "lognorm_n_mc_samples"}
    assert all(isinstance(v, int | float) for v in attrs.values())


@pytest.mark.parametrize(
    "samples, match",
    [
        ([1.0, 2.0, 0.0], "> 0"),
        ([1.0, -2.0, 3.0], "> 0"),
        ([1.0, 2.0], "at least 3"),
        ([[1.0, 2.0], [3.0, 4.0]], "one-dimensional"),
        ([1.0, np.nan, 3.0], "finite"),
        ([2.0, 2.0, 2.0], "all be equal"),
    ],
)
def test_lognormal_rejects_bad_samples(samples, match):
    with pytest.raises(ValueError, match=match):
        fit_lognormal(samples)


def test_lognormal_rejects_non_numbers():
    with pytest.raises(TypeError, match="samples"):
        fit_lognormal(["a", "b", "c"])


def test_naka_rushton_formula_at_c50_is_half_max():
    assert naka_rushton(0.2, c50=0.2, n=3.0, r_max=8.0, baseline=1.0) == pytest.approx(5.0)
    assert naka_rushton(0.0, c50=0.2, n=3.0, r_max=8.0) == 0.0


def test_naka_rushton_recovers_noiseless_curve():
    c = np.logspace(-3, 0.7, 30)  # the contrast grid of the DCN paper
    r = naka_rushton(c, c50=0.12, n=2.3, r_max=0.9)
    fit = fit_naka_rushton(c, r)
    assert fit.success
    assert fit.c50 == pytest.approx(0.12, rel=1e-5)
    assert fit.n == pytest.approx(2.3, rel=1e-5)
    assert fit.r_max == pytest.approx(0.9, rel=1e-5)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(fit.predict(c), r, atol=1e-7)


def test_naka_rushton_recovers_noisy_curve_with_baseline():
    rng = np.random.default_rng(3)
    c = np.repeat(np.logspace(-2, 0, 12), 8)
    truth = dict(c50=0.08, n=1.6, r_max=20.0, baseline=3.0)
    r = naka_rushton(c, **truth) + rng.normal(0, 0.5, size=c.size)
    fit = fit_naka_rushton(c, r, baseline=True)
    assert fit.success and fit.fit_baseline
    for name, value in truth.items():
        err = getattr(fit, "stderr_" + name)
        assert np.isfinite(err) and err > 0
        assert abs(getattr(fit, name) - value) < 4 * err, name
    # residual variance close to the noise variance: R^2 = 1 - 0.25 n / SS_tot
    ss_tot = np.sum((r - r.mean()) ** 2)
    assert fit.r_squared == pytest.approx(1 - 0.25 * c.size / ss_tot, abs=0.02)


def test_naka_rushton_flat_response_is_a_flagged_failure():
    fit = fit_naka_rushton([0.0, 0.1, 0.5, 1.0], [2.0, 2.0, 2.0, 2.0])
    assert not fit.success
    assert "flat" in fit.message
    assert math.isnan(fit.c50) and np.all(np.isnan(fit.predict([0.5])))


def test_naka_rushton_unsaturated_curve_is_not_a_success():
    c = np.linspace(0.01, 0.1, 10)
    fit = fit_naka_rushton(c, 5.0 * c)  # a straight line: c50 and r_max trade off until one meets its bound
    assert not fit.success and fit.unidentified and "does not saturate" in fit.message
    assert fit.r_max == pytest.approx(100 * 5.0 * c.max())  # its upper bound, 100 x the largest response
    good = fit_naka_rushton(c, naka_rushton(c, 0.04, 2.0, 1.0))  # c50 inside the range tested
    assert good.success and not good.unidentified and good.c50 == pytest.approx(0.04, rel=1e-4)


@pytest.mark.parametrize(
    "c, r, kwargs, exc, match",
    [
        ([0.1, 0.2, 0.3], [1.0, 2.0], {}, ValueError, "same shape"),
        ([0.1, -0.2, 0.3], [1.0, 2.0, 3.0], {}, ValueError, ">= 0"),
        ([0.1, 0.2, 0.2], [1.0, 2.0, 3.0], {}, ValueError, "at least 3 distinct"),
        ([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], {"baseline": True}, ValueError, "at least 4 distinct"),
        ([0.1, 0.2, 0.3], [1.0, np.inf, 3.0], {}, ValueError, "finite"),
        ([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], {"baseline": 1}, TypeError, "baseline"),
    ],
)
def test_naka_rushton_rejects_bad_input(c, r, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_naka_rushton(c, r, **kwargs)

"""Parametric fits used to describe a virtual cortex: log-normal scale distributions and contrast responses.

* :func:`fit_lognormal` fits scipy's ``lognorm`` with ``loc`` fixed at 0 to positive samples (for example the
  learned sigma of every filter pair in one ODE block, in pixels) and tests how well it fits with a parametric
  bootstrap (scipy.stats.goodness_of_fit), against the fitted normal as well.
* :func:`fit_naka_rushton` fits r(c) = baseline + r_max c^n / (c^n + c50^n) to a contrast-response curve with
  bounded least squares from several starting points; it never raises on data it cannot fit, it returns a
  result with ``success=False`` and a message instead.

Both return frozen dataclasses whose :meth:`as_attrs` gives a flat dict of numbers and strings, ready to be
stored as netCDF attributes.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from neurodcn.validate import check_bool, check_int

_RNG = "rng" if "rng" in inspect.signature(stats.goodness_of_fit).parameters else "random_state"
"""goodness_of_fit's generator argument: ``rng`` from scipy 1.15, ``random_state`` before (the floor is 1.10)."""

__all__ = ["N_MC_SAMPLES", "LogNormalFit", "NakaRushtonFit", "fit_lognormal", "naka_rushton", "fit_naka_rushton"]


def _as_1d_float(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite value(s)")
    return arr


@dataclass(frozen=True)
class LogNormalFit:
    """A log-normal fit with loc = 0: X = exp(mu + sigma Z), Z standard normal.

    ``shape`` and ``scale`` are scipy's parameters (shape = sigma, scale = exp(mu)) in the units of the data;
    ``mu`` and ``sigma`` are the mean and SD of log(X) (natural log). ``ks_statistic`` is the Kolmogorov-Smirnov
    distance of the samples to the fitted log-normal. ``ks_pvalue`` is the p-value of a parametric bootstrap
    (scipy.stats.goodness_of_fit, statistic "ks", a Lilliefors-type test): of ``n_mc_samples`` samples of the
    same size drawn from the fitted log-normal, each refitted (loc 0), k have a KS distance to their own fit of at
    least ``ks_statistic``, and p = (k + 1) / (n_mc_samples + 1). It is the probability of a fit this bad if the
    data were log-normal with some shape and scale; it lies in [1 / (n_mc_samples + 1), 1] (that floor is its
    resolution). The plain KS p-value of scipy.stats.kstest against the fitted distribution, which earlier
    versions reported, ignores that the parameters were fitted to the same samples and is too large
    (anti-conservative). ``normal_ks_statistic``/``normal_ks_pvalue`` are the same test against the normal
    (mean and SD with ddof 1 fitted: the Lilliefors test), the alternative the DCN paper sets the log-normal
    against. ``skewness`` is the sample skewness of X (scipy.stats.skew, biased estimator) and ``log_skewness``
    that of log(X) (0 for a log-normal). ``n_mc_samples`` and ``seed`` are the bootstraps' (both seeded).
    """

    shape: float
    scale: float
    mu: float
    sigma: float
    ks_statistic: float
    ks_pvalue: float
    normal_ks_statistic: float
    normal_ks_pvalue: float
    skewness: float
    log_skewness: float
    n: int
    n_mc_samples: int
    seed: int

    def as_attrs(self, prefix: str = "lognorm_") -> dict:
        """The fit as flat netCDF-safe attributes, keys prefixed with ``prefix``."""
        return {prefix + k: v for k, v in asdict(self).items()}


N_MC_SAMPLES = 199
"""Default bootstrap samples of :func:`fit_lognormal`'s goodness-of-fit tests: p-values resolve to 1 / 200 =
0.005, enough to tell p < 0.05 from p > 0.05 in tests and quick runs; use 999 or more for p-values reported near
a threshold (each sample refits the distribution, so the cost grows with n_mc_samples x samples)."""


def fit_lognormal(samples, min_samples: int = 3, n_mc_samples: int = N_MC_SAMPLES, seed: int = 0) -> LogNormalFit:
    """Maximum-likelihood log-normal fit (scipy.stats.lognorm.fit with floc=0) of positive samples, with
    parametric-bootstrap goodness-of-fit p-values against it and against the fitted normal (see LogNormalFit).

    samples: 1-D array-like of positive finite numbers (any unit); at least ``min_samples`` (>= 3) of them,
    not all equal. n_mc_samples: bootstrap samples per test (>= 1; p-values resolve to 1 / (n_mc_samples + 1)).
    seed: seeds the bootstraps (numpy Generator).
    """
    min_samples = check_int("min_samples", min_samples, minimum=3)
    n_mc_samples = check_int("n_mc_samples", n_mc_samples, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    x = _as_1d_float("samples", samples)
    if x.size < min_samples:
        raise ValueError(f"samples must hold at least {min_samples} values, got {x.size}")
    if np.any(x <= 0):
        raise ValueError(f"samples must be > 0 for a log-normal fit, got minimum {x.min()!r}")
    if np.all(x == x[0]):
        raise ValueError(f"samples must not all be equal (got {x.size} copies of {x[0]!r}): sigma would be 0")
    rng = np.random.default_rng(seed)
    gof = stats.goodness_of_fit(stats.lognorm, x, known_params={"loc": 0.0}, statistic="ks",
                                n_mc_samples=n_mc_samples, **{_RNG: rng})
    gof_normal = stats.goodness_of_fit(stats.norm, x, statistic="ks", n_mc_samples=n_mc_samples, **{_RNG: rng})
    shape, scale = gof.fit_result.params.s, gof.fit_result.params.scale
    logs = np.log(x)
    return LogNormalFit(
        shape=float(shape),
        scale=float(scale),
        mu=float(math.log(scale)),
        sigma=float(shape),
        ks_statistic=float(gof.statistic),
        ks_pvalue=float(gof.pvalue),
        normal_ks_statistic=float(gof_normal.statistic),
        normal_ks_pvalue=float(gof_normal.pvalue),
        skewness=float(stats.skew(x)),
        log_skewness=float(stats.skew(logs)),
        n=int(x.size),
        n_mc_samples=n_mc_samples,
        seed=seed,
    )


def naka_rushton(contrast, c50: float, n: float, r_max: float, baseline: float = 0.0) -> np.ndarray:
    """r(c) = baseline + r_max c^n / (c^n + c50^n), for contrast c >= 0 (same unit as c50)."""
    c = np.asarray(contrast, dtype=np.float64)
    cn = np.power(c, n)
    return baseline + r_max * cn / (cn + np.power(c50, n))


@dataclass(frozen=True)
class NakaRushtonFit:
    """Result of :func:`fit_naka_rushton`.

    c50 is in the unit of the contrasts given, r_max and baseline in the unit of the responses, n is
    dimensionless. ``r_squared`` = 1 - SS_res / SS_tot on the data fitted. ``stderr_*`` come from the
    covariance estimated by curve_fit (NaN where it is not defined). When the fit fails (a flat response, no
    start converges) the parameters are NaN and ``message`` says why. A fit whose c50 or r_max ends on a bound
    of its search range is not a success either: the response does not saturate within the contrasts tested (c50
    and r_max then trade off) or rises only below the lowest one, so c50 is not identified. Its parameters are
    kept for inspection, ``unidentified`` is True and ``message`` says so. Other parameters on a bound (e.g. a
    step-like n) are named in ``message`` of a successful fit.
    """

    c50: float
    n: float
    r_max: float
    baseline: float
    r_squared: float
    stderr_c50: float
    stderr_n: float
    stderr_r_max: float
    stderr_baseline: float
    success: bool
    message: str
    fit_baseline: bool
    unidentified: bool = False

    def predict(self, contrast) -> np.ndarray:
        """The fitted curve at ``contrast`` (NaN everywhere when the fit failed)."""
        return naka_rushton(contrast, self.c50, self.n, self.r_max, self.baseline)

    def as_attrs(self, prefix: str = "naka_rushton_") -> dict:
        """The fit as flat netCDF-safe attributes (booleans become 0/1 integers)."""
        return {prefix + k: (int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}


N_BOUNDS = (0.1, 10.0)
"""Allowed range of the Naka-Rushton exponent n."""


def _failed(message: str, fit_baseline: bool) -> NakaRushtonFit:
    nan = float("nan")
    return NakaRushtonFit(nan, nan, nan, nan, nan, nan, nan, nan, nan, False, message, fit_baseline)


def _c50_guess(c: np.ndarray, r: np.ndarray) -> float:
    """Contrast where the response first crosses half way between its lowest and highest value."""
    order = np.argsort(c)
    c, r = c[order], r[order]
    half = 0.5 * (r.min() + r.max())
    above = np.nonzero(r >= half)[0]
    i = int(above[0]) if above.size else len(c) - 1
    positive = c[c > 0]
    return float(c[i]) if c[i] > 0 else float(positive.min())


def fit_naka_rushton(contrast, response, baseline: bool = False, max_nfev: int = 5000) -> NakaRushtonFit:
    """Least-squares Naka-Rushton fit of ``response`` against ``contrast`` (1-D, same length, c >= 0).

    Bounds: c50 in [min positive c / 100, max c * 100], n in ``N_BOUNDS``, r_max in [0, 100 * range(r)], and,
    with ``baseline=True``, baseline in [min r - range, max r]. Several starting points (c50 from the half-
    maximum crossing and a decade either side; n in {1, 2, 4}) are tried and the lowest residual is kept.
    Returns ``success=False`` (no exception) when the response is flat, no start converges, or c50 or r_max
    ends on one of its bounds (see :class:`NakaRushtonFit`).
    """
    check_bool("baseline", baseline)
    c = _as_1d_float("contrast", contrast)
    r = _as_1d_float("response", response)
    if c.shape != r.shape:
        raise ValueError(f"contrast and response must have the same shape, got {c.shape} and {r.shape}")
    if np.any(c < 0):
        raise ValueError(f"contrast must be >= 0, got minimum {c.min()!r}")
    n_params = 4 if baseline else 3
    if np.unique(c).size < n_params:
        raise ValueError(
            f"contrast must hold at least {n_params} distinct values to fit {n_params} parameters, "
            f"got {np.unique(c).size}"
        )
    if not np.any(c > 0):
        raise ValueError("contrast must contain at least one value > 0")
    span = float(r.max() - r.min())
    if span == 0.0:
        return _failed("response is flat: c50 and n are not identifiable", baseline)

    c_pos_min = float(c[c > 0].min())
    lower = [c_pos_min / 100.0, N_BOUNDS[0], 0.0]
    upper = [float(c.max()) * 100.0, N_BOUNDS[1], 100.0 * max(span, float(np.abs(r).max()))]
    if baseline:
        lower.append(float(r.min()) - span)
        upper.append(float(r.max()))

        def model(x, c50, n, r_max, b):
            return naka_rushton(x, c50, n, r_max, b)
    else:

        def model(x, c50, n, r_max):
            return naka_rushton(x, c50, n, r_max)

    c50_0 = _c50_guess(c, r)
    r_max0 = span if baseline else max(float(r.max()), 1e-12)
    best = None
    messages = []
    for c50_start in (c50_0, c50_0 * 10.0, c50_0 / 10.0):
        for n_start in (2.0, 1.0, 4.0):
            p0 = [c50_start, n_start, r_max0] + ([float(r.min())] if baseline else [])
            p0 = np.clip(p0, lower, upper)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optimize.OptimizeWarning)
                    popt, pcov = optimize.curve_fit(model, c, r, p0=p0, bounds=(lower, upper), max_nfev=max_nfev)
            except (RuntimeError, ValueError) as exc:
                messages.append(str(exc))
                continue
            sse = float(np.sum((model(c, *popt) - r) ** 2))
            if np.isfinite(sse) and (best is None or sse < best[0]):
                best = (sse, popt, pcov)
    if best is None:
        return _failed("no starting point converged: " + "; ".join(sorted(set(messages))), baseline)

    sse, popt, pcov = best
    names = ["c50", "n", "r_max", "baseline"][: len(popt)]
    at_bound = [
        k
        for k, v, lo, hi in zip(names, popt, lower, upper, strict=True)
        if np.isclose(v, lo, rtol=1e-6, atol=0) or np.isclose(v, hi, rtol=1e-6, atol=0)
    ]
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    with np.errstate(invalid="ignore"):
        stderr = np.sqrt(np.diag(pcov)) if np.all(np.isfinite(pcov)) else np.full(len(popt), np.nan)
    stderr = list(stderr) + ([float("nan")] if not baseline else [])
    unidentified = "c50" in at_bound or "r_max" in at_bound
    if unidentified:
        low = np.isclose(popt[0], lower[0], rtol=1e-6, atol=0)
        why = "saturates below the lowest of" if low else "does not saturate within"
        message = f"{', '.join(at_bound)} at a bound: the response {why} the contrasts tested; c50 not identified"
    else:
        message = "ok" if not at_bound else "ok; at a bound (weakly identified): " + ", ".join(at_bound)
    return NakaRushtonFit(
        c50=float(popt[0]),
        n=float(popt[1]),
        r_max=float(popt[2]),
        baseline=float(popt[3]) if baseline else 0.0,
        r_squared=1.0 - sse / ss_tot,
        stderr_c50=float(stderr[0]),
        stderr_n=float(stderr[1]),
        stderr_r_max=float(stderr[2]),
        stderr_baseline=float(stderr[3]),
        success=not unidentified,
        message=message,
        fit_baseline=baseline,
        unidentified=unidentified,
    )

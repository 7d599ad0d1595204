"""Thin wrappers over scipy and statsmodels: each picks the method, feeds the right counts and sidedness,
and turns an undefined result into NaN or None. The one formula written here is the probability to beat
control, which no maintained library provides.

Which statistic comes from where (grep ``LIBRARY:`` for this list in the code):

- rate interval: ``statsmodels.stats.proportion.proportion_confint(method="wilson")``
- absolute lift interval: ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb",
  compare="diff")``
- relative lift interval: ``confint_proportions_2indep(method="log-adjusted", compare="ratio")`` minus 1
- two-proportion test: ``statsmodels.stats.proportion.proportions_ztest`` (pooled variance, two-sided)
- Welch's t-test: ``scipy.stats.ttest_ind_from_stats(equal_var=False)``; its interval from
  ``scipy.stats.t.interval`` on the Welch-Satterthwaite degrees of freedom (scipy returns no degrees of
  freedom from summary statistics)
- sample-ratio mismatch: ``scipy.stats.chisquare``
- Holm correction: ``statsmodels.stats.multitest.multipletests(method="holm")``
- effect size: ``statsmodels.stats.proportion.proportion_effectsize`` (Cohen's h)
- power and sample size: ``statsmodels.stats.power.NormalIndPower``
- probability to beat control: our own closed form (Miller 2015), see ``prob_beat_control``
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from engine.errors import InsufficientDataError, SchemaError

DEFAULT_CONFIDENCE = 0.95
DEFAULT_SRM_THRESHOLD = 0.001  # the usual SRM alarm level: a real mismatch, not noise


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t-test of ``mean1 - mean2``."""

    difference: float
    t_statistic: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SrmCheck:
    """Sample-ratio mismatch check: observed exposures against the intended split.

    ``mismatch`` is True when ``p_value < threshold``: the split is off and the result must not be trusted.
    """

    variants: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float
    mismatch: bool


def _alpha(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise SchemaError(f"A confidence level must be between 0 and 1, not {confidence}.")
    return 1 - confidence


def wilson_interval(
    successes: float, trials: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval of a proportion; ``(nan, nan)`` with no trials."""
    alpha = _alpha(confidence)
    if trials <= 0:
        return math.nan, math.nan
    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")  # LIBRARY: statsmodels
    return float(low), float(high)


def lift_interval(
    successes: float,
    trials: float,
    control_successes: float,
    control_trials: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float]:
    """Newcombe hybrid score interval of ``rate - control_rate``; nan when an arm has no trials."""
    alpha = _alpha(confidence)
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    low, high = confint_proportions_2indep(  # LIBRARY: statsmodels
        successes, trials, control_successes, control_trials, method="newcomb", compare="diff", alpha=alpha
    )
    return float(low), float(high)


def relative_lift_interval(
    successes: float,
    trials: float,
    control_successes: float,
    control_trials: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float]:
    """Interval of ``rate / control_rate - 1`` from the log risk ratio with 0.5 added to each count
    (defined with zero conversions in either arm); nan when an arm has no trials."""
    alpha = _alpha(confidence)
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    low, high = confint_proportions_2indep(  # LIBRARY: statsmodels
        successes,
        trials,
        control_successes,
        control_trials,
        method="log-adjusted",
        compare="ratio",
        alpha=alpha,
    )
    return float(low) - 1, float(high) - 1


def two_proportion_ztest(
    successes: float, trials: float, control_successes: float, control_trials: float
) -> tuple[float, float]:
    """Two-sided z-test of equal proportions with pooled variance: ``(z, p_value)``, z positive when the
    variant converts more; nan when undefined (an arm without trials, or everyone or no one converted)."""
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    pooled = (successes + control_successes) / (trials + control_trials)
    if pooled in (0.0, 1.0):  # no variance: statsmodels would divide by zero
        return math.nan, math.nan
    z, p = proportions_ztest(  # LIBRARY: statsmodels
        [successes, control_successes], [trials, control_trials], alternative="two-sided"
    )
    return float(z), float(p)


def welch_test(
    mean1: float,
    sd1: float,
    n1: float,
    mean2: float,
    sd2: float,
    n2: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> WelchResult | None:
    """Welch's t-test and interval for ``mean1 - mean2`` from summary statistics (sample sd, ddof=1).

    None when it is undefined (fewer than two observations per group, or no variance at all).
    """
    alpha = _alpha(confidence)
    if n1 < 2 or n2 < 2 or any(_missing(v) for v in (mean1, sd1, mean2, sd2)):
        return None
    v1, v2 = sd1 * sd1 / n1, sd2 * sd2 / n2
    if v1 + v2 <= 0:
        return None
    t, p = stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False)  # LIBRARY: scipy
    # Welch-Satterthwaite degrees of freedom (Welch 1947): scipy computes them but does not return them
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    diff = mean1 - mean2
    low, high = stats.t.interval(1 - alpha, df, loc=diff, scale=math.sqrt(v1 + v2))  # LIBRARY: scipy
    return WelchResult(diff, float(t), float(df), float(p), float(low), float(high))


def srm_check(
    observed: Sequence[float],
    shares: Sequence[float] | None = None,
    threshold: float = DEFAULT_SRM_THRESHOLD,
    variants: Sequence[str] | None = None,
) -> SrmCheck:
    """Chi-square goodness of fit of exposures per variant against intended ``shares`` (default equal)."""
    obs = np.asarray(observed, dtype=float)
    if len(obs) < 2:
        raise InsufficientDataError(
            "A sample-ratio check needs at least two variants.", needed=2, found=len(obs)
        )
    weights = np.ones(len(obs)) if shares is None else np.asarray(shares, dtype=float)
    if len(weights) != len(obs) or (weights <= 0).any():
        raise SchemaError("The intended split needs one positive share per variant.")
    expected = obs.sum() * weights / weights.sum()
    if obs.sum() == 0:
        chi2, p = math.nan, math.nan
    else:
        result = stats.chisquare(obs, expected)  # LIBRARY: scipy
        chi2, p = float(result.statistic), float(result.pvalue)
    names = tuple(variants) if variants is not None else tuple(str(i) for i in range(len(obs)))
    return SrmCheck(
        variants=names,
        observed=tuple(int(x) for x in obs),
        expected=tuple(float(x) for x in expected),
        chi2=chi2,
        p_value=p,
        threshold=threshold,
        mismatch=bool(p < threshold) if not math.isnan(p) else False,
    )


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (nan stays nan and does not count as a comparison)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    known = ~np.isnan(p)
    if known.any():
        out[known] = multipletests(p[known], method="holm")[1]  # LIBRARY: statsmodels
    return out.tolist()


def cohens_h(rate: float, baseline_rate: float) -> float:
    """Effect size of two proportions on the arcsine scale (Cohen's h), positive when ``rate`` is higher."""
    return float(proportion_effectsize(rate, baseline_rate))  # LIBRARY: statsmodels


def power_two_proportions(effect_size: float, per_variant: float, alpha: float = 0.05) -> float:
    """Power of a two-sided z-test on Cohen's h with ``per_variant`` customers in each of two groups."""
    return float(  # LIBRARY: statsmodels
        NormalIndPower().power(abs(effect_size), per_variant, alpha, ratio=1, alternative="two-sided")
    )


def sample_size_two_proportions(effect_size: float, alpha: float, power: float) -> float:
    """Customers per group (not rounded) for a two-sided z-test on Cohen's h to reach ``power``."""
    return float(  # LIBRARY: statsmodels
        NormalIndPower().solve_power(
            effect_size=abs(effect_size), alpha=alpha, power=power, ratio=1, alternative="two-sided"
        )
    )


def detectable_effect_size(per_variant: float, alpha: float, power: float) -> float:
    """Smallest Cohen's h a two-sided z-test with ``per_variant`` customers per group detects with ``power``."""
    return float(  # LIBRARY: statsmodels
        NormalIndPower().solve_power(
            nobs1=per_variant, alpha=alpha, power=power, ratio=1, alternative="two-sided"
        )
    )


def prob_beat_control(successes: int, trials: int, control_successes: int, control_trials: int) -> float:
    """P(variant rate > control rate) under Beta(1 + successes, 1 + failures) posteriors (uniform priors).

    No maintained library computes this, so it is written here: the exact closed form of E. Miller,
    "Formulas for Bayesian A/B Testing" (2015), summed in log space over the smaller integer shape
    parameter; for very large counts (over two million terms) a normal approximation of the posteriors.
    """
    a_t, b_t = 1 + int(successes), 1 + int(trials) - int(successes)
    a_c, b_c = 1 + int(control_successes), 1 + int(control_trials) - int(control_successes)
    if b_t < 1 or b_c < 1:
        raise SchemaError("Conversions cannot exceed exposures.")
    if min(a_t, a_c) > 2_000_000:
        m_t, m_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
        v_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1))
        v_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
        return float(stats.norm.sf(0, loc=m_t - m_c, scale=math.sqrt(v_t + v_c)))

    def greater(a1: int, b1: int, a2: int, b2: int) -> float:
        # P(X1 > X2) = sum_{i < a1} B(a2 + i, b2 + b1) / ((b1 + i) B(1 + i, b1) B(a2, b2))
        i = np.arange(a1, dtype=float)
        terms = (
            special.betaln(a2 + i, b2 + b1)
            - np.log(b1 + i)
            - special.betaln(1 + i, b1)
            - special.betaln(a2, b2)
        )
        return float(np.exp(special.logsumexp(terms)))

    if a_t <= a_c:
        return min(1.0, max(0.0, greater(a_t, b_t, a_c, b_c)))
    return min(1.0, max(0.0, 1.0 - greater(a_c, b_c, a_t, b_t)))


def _missing(value: object) -> bool:
    """True for None, NaN and pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the only value not equal to itself
    except TypeError:  # pandas.NA refuses a truth value
        return True

"""A/B test results: per-variant rates with intervals, lift, tests, sample-ratio mismatch, Bayesian
probability to beat control, a multiple-comparison correction, a plain-language verdict and a planner.

Counting is done in DuckDB (one aggregate per call); the statistics run on those few numbers with
numpy and scipy. Methods (each checked against statsmodels or scipy in the tests):

- conversion rate interval: Wilson score;
- absolute lift (variant - control) interval: Newcombe's hybrid score (from the Wilson intervals);
- relative lift interval: log risk ratio with 0.5 added to counts (defined with zero conversions);
- p-value: two-sided two-proportion z-test with pooled variance;
- revenue per exposed customer: Welch's t-test and interval (one-row-per-customer data only);
- sample-ratio mismatch: chi-square goodness of fit against the intended split (default equal);
- probability to beat control: exact P(p_variant > p_control) under Beta(1 + conversions,
  1 + non-conversions) posteriors (uniform priors);
- several variants against one control: Holm-adjusted p-values decide significance, and lift
  intervals are Bonferroni-widened so that together they hold at the stated confidence;
- planner: two-sided z-test power on Cohen's h (arcsine-transformed proportions).

Unit of analysis: the customer. Rows naming a customer are merged per customer and variant (converted
when any row converted; revenue summed, blank revenue counts as none); customers seen in more than one
variant are left out and counted. Rows without a customer are count-form rows (exposures and
conversions per variant) and are summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from engine.errors import InsufficientDataError, SchemaError
from engine.store import Connection

# Variant names (compared case-insensitively) taken as the control, in this order of preference.
CONTROL_NAMES: tuple[str, ...] = ("control", "a", "baseline", "original")

DEFAULT_CONFIDENCE = 0.95
DEFAULT_SRM_THRESHOLD = 0.001  # the usual SRM alarm level: a real mismatch, not noise
DEFAULT_MIN_EXPOSURES = 100  # per variant, before any verdict other than "not enough data"
DEFAULT_MIN_CONVERSIONS = 10  # over all variants
CORRECTION = "Holm"

VERDICT_LEVELS = ("winner", "loser", "inconclusive", "invalid", "insufficient")


# --------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class ExperimentAnalysis:
    """Everything the Experiments page shows for one experiment.

    Attributes
    ----------
    variants : one row per variant (control first), see ``VARIANT_COLUMNS``.
    srm : the sample-ratio mismatch check over the variants' customers.
    verdict_level : one of ``VERDICT_LEVELS``; ``winner`` only when a variant significantly beats control
        after correction, the SRM check passes and the data suffice.
    verdict : the plain-language verdict.
    notes : data-quality notes (left-out customers, repeated rows, revenue caveats).
    correction : how several variants were compared against control.
    """

    experiment_id: str
    control: str
    confidence: float
    variants: pd.DataFrame
    srm: SrmCheck
    verdict_level: str
    verdict: str
    notes: tuple[str, ...]
    correction: str
    revenue_available: bool
    crossover_customers: int
    first_exposure: pd.Timestamp | None
    last_exposure: pd.Timestamp | None


@dataclass(frozen=True)
class ExperimentPlan:
    """Sample size for a planned test: customers per variant to detect ``relative_lift`` on ``baseline_rate``."""

    baseline_rate: float
    relative_lift: float
    target_rate: float
    alpha: float
    alpha_per_comparison: float
    power: float
    variants: int
    effect_size: float
    per_variant: int
    total: int
    days: int | None


VARIANT_COLUMNS = (
    "variant",
    "is_control",
    "exposures",
    "conversions",
    "conversion_rate",
    "rate_ci_low",
    "rate_ci_high",
    "abs_lift",
    "abs_lift_ci_low",
    "abs_lift_ci_high",
    "rel_lift",
    "rel_lift_ci_low",
    "rel_lift_ci_high",
    "z_statistic",
    "p_value",
    "p_value_adjusted",
    "significant",
    "prob_beat_control",
    "revenue",
    "revenue_per_exposed",
    "revenue_sd",
    "revenue_diff",
    "revenue_diff_ci_low",
    "revenue_diff_ci_high",
    "revenue_p_value",
    "revenue_p_value_adjusted",
    "intended_share",
    "observed_share",
    "outcome",
)


# --------------------------------------------------------------------------- statistics


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise SchemaError(f"A confidence level must be between 0 and 1, not {confidence}.")
    return float(stats.norm.isf((1 - confidence) / 2))


def wilson_interval(
    successes: float, trials: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval of a proportion; ``(nan, nan)`` with no trials."""
    if trials <= 0:
        return math.nan, math.nan
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return centre - half, centre + half


def lift_interval(
    successes: float,
    trials: float,
    control_successes: float,
    control_trials: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float]:
    """Newcombe hybrid score interval of ``rate - control_rate`` (statsmodels' default ``newcomb``)."""
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    p1, p2 = successes / trials, control_successes / control_trials
    l1, u1 = wilson_interval(successes, trials, confidence)
    l2, u2 = wilson_interval(control_successes, control_trials, confidence)
    diff = p1 - p2
    return diff - math.hypot(p1 - l1, u2 - p2), diff + math.hypot(u1 - p1, p2 - l2)


def relative_lift_interval(
    successes: float,
    trials: float,
    control_successes: float,
    control_trials: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float]:
    """Interval of ``rate / control_rate - 1`` from the log risk ratio with 0.5 added to each count."""
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    x1, n1, x2, n2 = successes + 0.5, trials + 0.5, control_successes + 0.5, control_trials + 0.5
    log_ratio = math.log((x1 / n1) / (x2 / n2))
    half = _z(confidence) * math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return math.exp(log_ratio - half) - 1, math.exp(log_ratio + half) - 1


def two_proportion_ztest(
    successes: float, trials: float, control_successes: float, control_trials: float
) -> tuple[float, float]:
    """Two-sided z-test of equal proportions with pooled variance: ``(z, p_value)``; nan when undefined
    (no trials, or every customer converted or none did)."""
    if trials <= 0 or control_trials <= 0:
        return math.nan, math.nan
    pooled = (successes + control_successes) / (trials + control_trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / trials + 1 / control_trials))
    if se == 0:
        return math.nan, math.nan
    z = (successes / trials - control_successes / control_trials) / se
    return z, float(2 * stats.norm.sf(abs(z)))


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
    if n1 < 2 or n2 < 2 or any(map(_missing, (mean1, sd1, mean2, sd2))):
        return None
    v1, v2 = sd1 * sd1 / n1, sd2 * sd2 / n2
    se2 = v1 + v2
    if se2 <= 0:
        return None
    se = math.sqrt(se2)
    df = se2 * se2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    diff = mean1 - mean2
    t = diff / se
    crit = float(stats.t.isf((1 - confidence) / 2, df))
    return WelchResult(diff, t, df, float(2 * stats.t.sf(abs(t), df)), diff - crit * se, diff + crit * se)


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
        chi2 = float(((obs - expected) ** 2 / expected).sum())
        p = float(stats.chi2.sf(chi2, len(obs) - 1))
    names = tuple(variants) if variants is not None else tuple(str(i) for i in range(len(obs)))
    return SrmCheck(
        names,
        tuple(int(x) for x in obs),
        tuple(float(x) for x in expected),
        chi2,
        p,
        threshold,
        bool(p < threshold) if not math.isnan(p) else False,
    )


def prob_beat_control(successes: int, trials: int, control_successes: int, control_trials: int) -> float:
    """P(variant rate > control rate) under Beta(1 + successes, 1 + failures) posteriors.

    Exact closed form (a sum over the smaller integer shape parameter, in log space); for very large
    counts (over two million terms) a normal approximation of the two posteriors.
    """
    a_t, b_t = 1 + int(successes), 1 + int(trials) - int(successes)
    a_c, b_c = 1 + int(control_successes), 1 + int(control_trials) - int(control_successes)
    if b_t < 1 or b_c < 1:
        raise SchemaError("Conversions cannot exceed exposures.")
    # P(T > C) = sum_{i < a_t} B(a_c + i, b_c + b_t) / ((b_t + i) B(1 + i, b_t) B(a_c, b_c))
    if min(a_t, a_c) > 2_000_000:
        m_t, m_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
        v_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1))
        v_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
        return float(stats.norm.sf(0, loc=m_t - m_c, scale=math.sqrt(v_t + v_c)))

    def greater(a1: int, b1: int, a2: int, b2: int) -> float:
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


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (nan stays nan and does not count as a comparison)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    known = np.flatnonzero(~np.isnan(p))
    m = len(known)
    if m == 0:
        return out.tolist()
    order = known[np.argsort(p[known], kind="mergesort")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out.tolist()


def cohens_h(rate: float, baseline_rate: float) -> float:
    """Effect size of two proportions on the arcsine scale: ``2 asin(sqrt(rate)) - 2 asin(sqrt(baseline))``."""
    return 2 * math.asin(math.sqrt(rate)) - 2 * math.asin(math.sqrt(baseline_rate))


def power_two_proportions(effect_size: float, per_variant: float, alpha: float = 0.05) -> float:
    """Power of a two-sided z-test on Cohen's h with ``per_variant`` customers in each of two groups."""
    shift = abs(effect_size) * math.sqrt(per_variant / 2)
    crit = float(stats.norm.isf(alpha / 2))
    return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift))


def _check_rate(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise SchemaError(f"The {name} must be between 0% and 100% (exclusive), not {value:.4g}.")


def plan_experiment(
    baseline_rate: float,
    relative_lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    daily_exposures: float | None = None,
) -> ExperimentPlan:
    """Customers per variant needed to detect a relative lift with a two-sided test.

    Parameters
    ----------
    baseline_rate : control's expected conversion rate (0-1).
    relative_lift : smallest lift worth detecting, relative (0.1 = +10%; may be negative).
    alpha : false-positive rate for the whole test; with more than two variants it is split over the
        comparisons with control (Bonferroni), matching the correction used on results.
    power : chance of detecting a true lift of that size.
    variants : number of variants, control included.
    daily_exposures : customers entering the test per day, for the duration; None leaves it out.
    """
    _check_rate(baseline_rate, "baseline conversion rate")
    target = baseline_rate * (1 + relative_lift)
    _check_rate(target, "target conversion rate (baseline x (1 + lift))")
    if relative_lift == 0:
        raise SchemaError("The lift to detect cannot be zero.")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise SchemaError("Power and significance level must be between 0 and 1.")
    if variants < 2:
        raise SchemaError("A test needs at least two variants (control and one more).")
    alpha_each = alpha / (variants - 1)
    h = cohens_h(target, baseline_rate)
    n = optimize.brentq(lambda n: power_two_proportions(h, n, alpha_each) - power, 1e-6, 1e13, xtol=1e-9)
    per_variant = math.ceil(n - 1e-9)
    days = None
    if daily_exposures:
        days = math.ceil(per_variant * variants / daily_exposures)
    return ExperimentPlan(
        baseline_rate,
        relative_lift,
        target,
        alpha,
        alpha_each,
        power,
        variants,
        h,
        per_variant,
        per_variant * variants,
        days,
    )


def minimum_detectable_lift(
    baseline_rate: float, per_variant: float, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> float | None:
    """Smallest upward relative lift a test with ``per_variant`` customers per variant detects with the
    given power; None when no lift short of a 100% conversion rate would be detected."""
    if not 0 < baseline_rate < 1 or per_variant <= 0:
        return None
    alpha_each = alpha / max(variants - 1, 1)
    h_max = cohens_h(1.0, baseline_rate)
    if power_two_proportions(h_max, per_variant, alpha_each) < power:
        return None
    h = optimize.brentq(lambda h: power_two_proportions(h, per_variant, alpha_each) - power, 1e-12, h_max)
    rate = math.sin(math.asin(math.sqrt(baseline_rate)) + h / 2) ** 2
    return rate / baseline_rate - 1


# --------------------------------------------------------------------------- data


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def detect_control(variants: Sequence[str], override: str | None = None) -> str:
    """The control variant: ``override`` if given, else one named in ``CONTROL_NAMES`` (in that order of
    preference, case-insensitive), else the first in sorted order."""
    names = [str(v) for v in variants]
    if override is not None:
        if override not in names:
            raise SchemaError(
                f"Variant {override!r} is not in this experiment. Variants: {', '.join(sorted(names))}."
            )
        return override
    lowered = {n.strip().lower(): n for n in sorted(names)}
    for candidate in CONTROL_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    return sorted(names)[0]


_COUNTS_SQL = """
    WITH units AS (
        -- one unit per exposed customer: converted when any of their rows converted
        SELECT experiment_id,
               min(variant) AS variant,
               min(variant) <> max(variant) AS crossover,
               count(*) AS row_count,
               bool_or(coalesce(conversions > 0, converted, false)) AS converted,
               sum(revenue) AS revenue
        FROM experiments
        WHERE {where} AND customer_id IS NOT NULL
        GROUP BY experiment_id, customer_id
    ), customer_variants AS (
        SELECT experiment_id,
               CASE WHEN crossover THEN NULL ELSE variant END AS variant,
               count(*) AS units,
               count(*) AS exposures,
               count(*) FILTER (WHERE converted) AS conversions,
               sum(revenue) AS revenue,
               count(revenue) AS units_with_revenue,
               false AS has_count_rows,
               stddev_samp(coalesce(revenue, 0)) AS revenue_sd,
               sum(row_count) - count(*) AS repeated_rows
        FROM units
        GROUP BY ALL
    ), count_variants AS (
        -- count-form rows (no customer): exposures and conversions per row, summed per variant
        SELECT experiment_id, variant, count(*) AS units,
               sum(coalesce(exposures, 1)) AS exposures,
               sum(coalesce(conversions, CAST(converted AS BIGINT), 0)) AS conversions,
               sum(revenue) AS revenue,
               count(revenue) AS units_with_revenue,
               true AS has_count_rows,
               CAST(NULL AS DOUBLE) AS revenue_sd,
               0 AS repeated_rows
        FROM experiments
        WHERE {where} AND customer_id IS NULL
        GROUP BY ALL
    ), variants AS (
        SELECT experiment_id, variant, sum(units) AS units, sum(exposures) AS exposures,
               sum(conversions) AS conversions, sum(revenue) AS revenue,
               sum(units_with_revenue) AS units_with_revenue, bool_or(has_count_rows) AS has_count_rows,
               max(revenue_sd) AS revenue_sd, sum(repeated_rows) AS repeated_rows
        FROM (SELECT * FROM customer_variants UNION ALL BY NAME SELECT * FROM count_variants)
        GROUP BY ALL
    ), dates AS (
        -- a plain scan: cheaper than carrying dates through the per-customer merge
        SELECT experiment_id, min(exposure_date) AS first_seen, max(exposure_date) AS last_seen
        FROM experiments
        WHERE {where}
        GROUP BY experiment_id
    )
    SELECT v.*, d.first_seen, d.last_seen
    FROM variants v JOIN dates d USING (experiment_id)
    ORDER BY experiment_id, variant NULLS LAST
"""


def experiment_counts(con: Connection, experiment_id: str | None = None) -> pd.DataFrame:
    """Per experiment and variant: customers (units), exposures, conversions, revenue and its spread.

    A row with ``variant`` NULL counts the customers of that experiment seen in more than one variant
    (left out of every variant). Ordered by experiment and variant.
    """
    where, params = ("experiment_id = ?", [experiment_id]) if experiment_id is not None else ("true", [])
    return con.execute(_COUNTS_SQL.format(where=where), params * 3).df()


def experiment_variants(con: Connection, experiment_id: str) -> list[str]:
    """The variant names of one experiment, sorted."""
    rows = con.execute(
        "SELECT DISTINCT variant FROM experiments WHERE experiment_id = ? AND variant IS NOT NULL ORDER BY variant",
        [experiment_id],
    ).fetchall()
    return [str(r[0]) for r in rows]


def experiment_list(con: Connection) -> pd.DataFrame:
    """The experiments in the store: ``experiment_id, variants, rows, first_exposure, last_exposure``."""
    return con.execute(
        """
        SELECT experiment_id, count(DISTINCT variant) AS variants, count(*) AS rows,
               min(exposure_date) AS first_exposure, max(exposure_date) AS last_exposure
        FROM experiments
        GROUP BY experiment_id
        ORDER BY experiment_id
        """
    ).df()


# --------------------------------------------------------------------------- analysis


def _pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    if _missing(x):
        return "n/a"
    return f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"


def _pts(x: float) -> str:
    return f"{x * 100:+.2f} pts"


def _p(x: float | None) -> str:
    if _missing(x):
        return "n/a"
    return "p < 0.001" if x < 0.001 else f"p = {x:.3f}"


def _none(x: float) -> float | None:
    return None if _missing(x) or not math.isfinite(x) else float(x)


def analyse_counts(
    counts: pd.DataFrame,
    experiment_id: str,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
) -> ExperimentAnalysis:
    """Analyse one experiment from the rows of ``experiment_counts`` (see ``analyse_experiment``)."""
    rows = counts[counts["experiment_id"] == experiment_id]
    crossover = int(rows.loc[rows["variant"].isna(), "units"].sum())
    rows = rows[rows["variant"].notna()]
    if len(rows) < 2:
        raise InsufficientDataError(
            f"Experiment {experiment_id!r} has {len(rows)} variant(s) with exposures; a test needs at least "
            f"two (a control and one more). Check the variant column of the experiments file.",
            needed=2,
            found=len(rows),
        )
    names = [str(v) for v in rows["variant"]]
    control_name = detect_control(names, control)
    rows = pd.concat([rows[rows["variant"] == control_name], rows[rows["variant"] != control_name]])
    rows = rows.reset_index(drop=True)
    names = [str(v) for v in rows["variant"]]
    n = rows["exposures"].astype(float).to_numpy()
    x = rows["conversions"].astype(float).to_numpy()
    bad = [name for name, ni, xi in zip(names, n, x, strict=True) if xi > ni]
    if bad:
        raise SchemaError(
            f"experiments: variant(s) {', '.join(bad)} of {experiment_id!r} have more conversions than "
            f"exposures. Check the exposures and conversions columns."
        )
    if split is not None:
        unknown = [k for k in names if k not in split]
        if unknown:
            raise SchemaError(f"The intended split gives no share for variant(s) {', '.join(unknown)}.")
        shares = np.array([float(split[k]) for k in names])
    else:
        shares = np.ones(len(names))
    srm = srm_check(n, shares, srm_threshold, names)

    m = len(names) - 1
    family_conf = 1 - (1 - confidence) / m  # Bonferroni-widened lift intervals
    revenue_available = bool(rows["units_with_revenue"].sum() > 0)
    welch_ok = revenue_available and not bool(rows["has_count_rows"].any())
    revenue = (
        rows["revenue"].astype(float).fillna(0.0).to_numpy() if revenue_available else np.full(len(n), np.nan)
    )
    rev_sd = rows["revenue_sd"].astype(float).to_numpy() if welch_ok else np.full(len(n), np.nan)
    rate = np.divide(x, n, out=np.full(len(n), np.nan), where=n > 0)
    rev_mean = np.divide(revenue, n, out=np.full(len(n), np.nan), where=n > 0)

    records = []
    xc, nc = x[0], n[0]
    for i, name in enumerate(names):
        lo, hi = wilson_interval(x[i], n[i], confidence)
        rec = {
            "variant": name,
            "is_control": i == 0,
            "exposures": int(n[i]),
            "conversions": int(x[i]),
            "conversion_rate": _none(rate[i]),
            "rate_ci_low": _none(lo),
            "rate_ci_high": _none(hi),
            "revenue": _none(revenue[i]),
            "revenue_per_exposed": _none(rev_mean[i]),
            "revenue_sd": _none(rev_sd[i]),
            "intended_share": float(shares[i] / shares.sum()),
            "observed_share": _none(n[i] / n.sum()),
        }
        if i > 0:
            dlo, dhi = lift_interval(x[i], n[i], xc, nc, family_conf)
            rlo, rhi = relative_lift_interval(x[i], n[i], xc, nc, family_conf)
            z, p = two_proportion_ztest(x[i], n[i], xc, nc)
            rel = rate[i] / rate[0] - 1 if rate[0] > 0 else math.nan
            welch = (
                welch_test(rev_mean[i], rev_sd[i], n[i], rev_mean[0], rev_sd[0], nc, family_conf)
                if welch_ok
                else None
            )
            rec.update(
                {
                    "abs_lift": _none(rate[i] - rate[0]),
                    "abs_lift_ci_low": _none(dlo),
                    "abs_lift_ci_high": _none(dhi),
                    "rel_lift": _none(rel),
                    "rel_lift_ci_low": _none(rlo),
                    "rel_lift_ci_high": _none(rhi),
                    "z_statistic": _none(z),
                    "p_value": _none(p),
                    "prob_beat_control": prob_beat_control(int(x[i]), int(n[i]), int(xc), int(nc))
                    if n[i] > 0 and nc > 0
                    else None,
                    "revenue_diff": welch.difference if welch else None,
                    "revenue_diff_ci_low": welch.ci_low if welch else None,
                    "revenue_diff_ci_high": welch.ci_high if welch else None,
                    "revenue_p_value": welch.p_value if welch else None,
                }
            )
        records.append(rec)
    frame = pd.DataFrame.from_records(records).reindex(columns=list(VARIANT_COLUMNS))
    adjusted = holm_adjust([np.nan if _missing(v) else v for v in frame["p_value"].iloc[1:]])
    frame.loc[1:, "p_value_adjusted"] = adjusted
    rev_adjusted = holm_adjust([np.nan if _missing(v) else v for v in frame["revenue_p_value"].iloc[1:]])
    frame.loc[1:, "revenue_p_value_adjusted"] = rev_adjusted
    alpha = 1 - confidence
    frame["significant"] = [
        False if i == 0 or _missing(p) or math.isnan(p) else bool(p < alpha)
        for i, p in enumerate(frame["p_value_adjusted"])
    ]
    float_cols = [
        c
        for c in VARIANT_COLUMNS
        if c not in ("variant", "is_control", "exposures", "conversions", "significant", "outcome")
    ]
    for col in float_cols:
        frame[col] = pd.array([None if _missing(v) else float(v) for v in frame[col]], dtype="Float64")

    notes = []
    if crossover:
        notes.append(f"{crossover:,} customers were exposed to more than one variant and are left out.")
    repeated = int(rows["repeated_rows"].fillna(0).sum())
    if repeated:
        notes.append(
            f"{repeated:,} repeated rows for the same customer and variant were merged (a customer "
            f"counts once; converted if any row converted)."
        )
    if revenue_available and not welch_ok:
        notes.append(
            "Revenue is compared per exposed customer without a test: count-form rows (totals per "
            "variant) carry no spread, so Welch's t-test needs one row per customer."
        )
    if not revenue_available:
        notes.append("The experiment file has no revenue, so revenue per exposed customer is not shown.")

    level, verdict, outcomes = _verdict(frame, srm, confidence, min_exposures, min_conversions, m)
    frame["outcome"] = outcomes
    if m > 1:
        correction = (
            f"{m} variants are compared with control: p-values are {CORRECTION}-adjusted and lift "
            f"intervals are {family_conf:.1%} (Bonferroni) so that together they hold at "
            f"{confidence:.0%}."
        )
    else:
        correction = "One comparison with control: no multiple-comparison correction needed."
    first = rows["first_seen"].min()
    last = rows["last_seen"].max()
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        control=control_name,
        confidence=confidence,
        variants=frame,
        srm=srm,
        verdict_level=level,
        verdict=verdict,
        notes=tuple(notes),
        correction=correction,
        revenue_available=revenue_available,
        crossover_customers=crossover,
        first_exposure=None if pd.isna(first) else pd.Timestamp(first),
        last_exposure=None if pd.isna(last) else pd.Timestamp(last),
    )


def _verdict(
    frame: pd.DataFrame,
    srm: SrmCheck,
    confidence: float,
    min_exposures: int,
    min_conversions: int,
    comparisons: int,
) -> tuple[str, str, list[str]]:
    """(level, text, per-variant outcome) following the rules in the module docstring."""
    control = frame.iloc[0]
    others = frame.iloc[1:]
    outcomes = ["control"] + ["no clear difference"] * len(others)
    if srm.mismatch:
        text = (
            f"Do not act on this test: the split between variants is off (sample-ratio mismatch, "
            f"{_p(srm.p_value)}; expected {', '.join(f'{e:,.0f}' for e in srm.expected)}, got "
            f"{', '.join(f'{o:,}' for o in srm.observed)}). Assignment or logging is broken, so the "
            f"differences below cannot be trusted. Fix the split and rerun."
        )
        return "invalid", text, ["control"] + ["not trustworthy (split is off)"] * len(others)
    smallest = int(frame["exposures"].min())
    total_conv = int(frame["conversions"].sum())
    if smallest < min_exposures or total_conv < min_conversions:
        text = (
            f"Not enough data yet: the smallest variant has {smallest:,} customers and there are "
            f"{total_conv:,} conversions in all (at least {min_exposures:,} per variant and "
            f"{min_conversions:,} conversions are needed before reading the result). Keep the test running."
        )
        return "insufficient", text, ["control"] + ["too early"] * len(others)

    conf = f"{confidence:.0%}"
    lift = others["abs_lift"].astype("Float64")
    better = others[(others["significant"] & (lift > 0)).fillna(False).astype(bool)]
    worse = others[(others["significant"] & (lift < 0)).fillna(False).astype(bool)]
    for idx in better.index:
        outcomes[idx] = "beats control"
    for idx in worse.index:
        outcomes[idx] = "worse than control"
    name = str(control["variant"])
    control_label = "control" if name.strip().lower() == "control" else f"control ({name})"
    base = f"{control_label} converts at {_pct(control['conversion_rate'], 2)}"
    if len(better):
        top = better.sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
        text = (
            f"Variant {top['variant']} is the winner: it converts at {_pct(top['conversion_rate'], 2)} while {base} "
            f"(relative lift {_pct(top['rel_lift'], signed=True)}, {conf} interval "
            f"{_pct(top['rel_lift_ci_low'], signed=True)} to {_pct(top['rel_lift_ci_high'], signed=True)}; "
            f"{_p(top['p_value_adjusted'])}"
            f"{' after correction' if comparisons > 1 else ''}). Probability to beat control: "
            f"{_pct(top['prob_beat_control'])}."
        )
        if len(better) > 1:
            text += (
                f" Variant(s) {', '.join(better['variant'].drop(top.name))} also beat control; the test "
                f"does not compare the variants with each other."
            )
        return "winner", text, outcomes
    if len(worse):
        names = ", ".join(worse["variant"])
        text = (
            f"No variant beats {control_label}. Variant {names} converts significantly worse "
            f"({_pct(worse.iloc[0]['conversion_rate'], 2)} vs {_pct(control['conversion_rate'], 2)}, "
            f"{_p(worse.iloc[0]['p_value_adjusted'])}): keep the control."
        )
        return "loser", text, outcomes
    best = others.sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
    control_rate = control["conversion_rate"]
    mde = (
        None
        if _missing(control_rate)
        else minimum_detectable_lift(
            float(control_rate), float(smallest), 1 - confidence, 0.8, comparisons + 1
        )
    )
    text = (
        f"No clear difference yet: the best variant ({best['variant']}) converts at "
        f"{_pct(best['conversion_rate'], 2)} while {base} (relative lift {_pct(best['rel_lift'], signed=True)}, "
        f"{conf} interval {_pct(best['rel_lift_ci_low'], signed=True)} to "
        f"{_pct(best['rel_lift_ci_high'], signed=True)}, {_p(best['p_value_adjusted'])}). The interval "
        f"includes no change, so this could be noise."
    )
    if mde is not None:
        text += (
            f" With {smallest:,} customers per variant the test reliably detects lifts of about "
            f"{_pct(mde, 0, signed=True)} or more; use the planner for a smaller lift."
        )
    return "inconclusive", text, outcomes


def analyse_experiment(
    con: Connection,
    experiment_id: str,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
) -> ExperimentAnalysis:
    """Results of one experiment: rates with intervals, lift, tests, SRM, Bayesian probability, verdict.

    Parameters
    ----------
    con : store connection.
    experiment_id : which experiment of the ``experiments`` table.
    control : the control variant; None detects it (``detect_control``).
    split : intended share per variant name (any positive weights); None means equal.
    confidence : level of every interval; ``1 - confidence`` is the significance level.
    srm_threshold : the SRM check fails below this p-value.
    min_exposures, min_conversions : below these the verdict is "not enough data".

    Returns
    -------
    ExperimentAnalysis
        ``variants`` has one row per variant, control first, with ``VARIANT_COLUMNS``; comparison columns
        are ``<NA>`` on the control row and wherever a statistic is undefined.

    Raises
    ------
    InsufficientDataError
        When the experiment does not exist or has fewer than two variants.
    """
    counts = experiment_counts(con, experiment_id)
    if counts.empty:
        raise InsufficientDataError(
            f"There is no experiment {experiment_id!r} in the experiments table.", needed=1, found=0
        )
    return analyse_counts(
        counts, experiment_id, control, split, confidence, srm_threshold, min_exposures, min_conversions
    )


def experiment_summary(
    con: Connection,
    controls: Mapping[str, str] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
) -> pd.DataFrame:
    """One row per experiment (one aggregate query for all): variants, customers, control, best variant,
    its lift and adjusted p-value, SRM p-value, verdict level and verdict. Equal intended splits.

    Experiments that cannot be analysed get the reason as verdict, with level ``insufficient`` (a single
    variant) or ``invalid`` (inconsistent counts).
    """
    counts = experiment_counts(con)
    records = []
    for experiment_id in dict.fromkeys(counts["experiment_id"]):
        try:
            result = analyse_counts(
                counts,
                experiment_id,
                (controls or {}).get(experiment_id),
                None,
                confidence,
                srm_threshold,
                min_exposures,
                min_conversions,
            )
        except (InsufficientDataError, SchemaError) as error:
            sub = counts[counts["experiment_id"] == experiment_id]
            level = "insufficient" if isinstance(error, InsufficientDataError) else "invalid"
            records.append(
                {
                    "experiment_id": experiment_id,
                    "variants": int(sub["variant"].notna().sum()),
                    "customers": int(sub["exposures"].sum()),
                    "verdict_level": level,
                    "verdict": str(error),
                }
            )
            continue
        v = result.variants
        best = v.iloc[1:].sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
        records.append(
            {
                "experiment_id": experiment_id,
                "variants": len(v),
                "customers": int(v["exposures"].sum()),
                "control": result.control,
                "control_rate": v.iloc[0]["conversion_rate"],
                "best_variant": best["variant"],
                "best_rate": best["conversion_rate"],
                "rel_lift": best["rel_lift"],
                "p_value_adjusted": best["p_value_adjusted"],
                "prob_beat_control": best["prob_beat_control"],
                "srm_p_value": result.srm.p_value,
                "verdict_level": result.verdict_level,
                "verdict": result.verdict,
            }
        )
    columns = [
        "experiment_id",
        "variants",
        "customers",
        "control",
        "control_rate",
        "best_variant",
        "best_rate",
        "rel_lift",
        "p_value_adjusted",
        "prob_beat_control",
        "srm_p_value",
        "verdict_level",
        "verdict",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in (
        "control_rate",
        "best_rate",
        "rel_lift",
        "p_value_adjusted",
        "prob_beat_control",
        "srm_p_value",
    ):
        frame[col] = pd.array([None if _missing(x) else float(x) for x in frame[col]], dtype="Float64")
    return frame


__all__ = [
    "CONTROL_NAMES",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_SRM_THRESHOLD",
    "DEFAULT_MIN_EXPOSURES",
    "DEFAULT_MIN_CONVERSIONS",
    "VERDICT_LEVELS",
    "VARIANT_COLUMNS",
    "WelchResult",
    "SrmCheck",
    "ExperimentAnalysis",
    "ExperimentPlan",
    "wilson_interval",
    "lift_interval",
    "relative_lift_interval",
    "two_proportion_ztest",
    "welch_test",
    "srm_check",
    "prob_beat_control",
    "holm_adjust",
    "cohens_h",
    "power_two_proportions",
    "plan_experiment",
    "minimum_detectable_lift",
    "detect_control",
    "experiment_counts",
    "experiment_list",
    "experiment_variants",
    "analyse_counts",
    "analyse_experiment",
    "experiment_summary",
]

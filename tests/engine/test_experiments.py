"""Experiment statistics against statsmodels/scipy reference implementations, and the verdict rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

import engine

# (successes, trials, control successes, control trials); the last is a large-sample case
PAIRS = [
    (12, 100, 8, 100),
    (0, 50, 3, 60),
    (45, 45, 40, 50),
    (306, 2300, 211, 2300),
    (51_234, 1_000_000, 50_000, 1_000_000),
]
CONFIDENCES = [0.95, 0.9, 0.99]


@pytest.mark.parametrize("x, n, _x2, _n2", PAIRS)
@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_wilson_interval_matches_statsmodels(x, n, _x2, _n2, confidence):
    ours = engine.wilson_interval(x, n, confidence)
    ref = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    assert ours == pytest.approx(ref, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("x1, n1, x2, n2", PAIRS)
@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_lift_intervals_match_statsmodels(x1, n1, x2, n2, confidence):
    diff = engine.lift_interval(x1, n1, x2, n2, confidence)
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=1 - confidence)
    assert diff == pytest.approx(ref, rel=1e-10, abs=1e-12)
    rel = engine.relative_lift_interval(x1, n1, x2, n2, confidence)
    ref = confint_proportions_2indep(
        x1, n1, x2, n2, method="log-adjusted", compare="ratio", alpha=1 - confidence
    )
    assert rel == pytest.approx((ref[0] - 1, ref[1] - 1), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("x1, n1, x2, n2", PAIRS[:2] + PAIRS[3:])
def test_ztest_matches_statsmodels(x1, n1, x2, n2):
    z, p = engine.two_proportion_ztest(x1, n1, x2, n2)
    ref_z, ref_p = proportions_ztest([x1, x2], [n1, n2])
    assert (z, p) == pytest.approx((ref_z, ref_p), rel=1e-9, abs=1e-300)


def test_ztest_undefined_when_nobody_or_everybody_converts():
    assert all(math.isnan(v) for v in engine.two_proportion_ztest(0, 10, 0, 10))
    assert all(math.isnan(v) for v in engine.two_proportion_ztest(10, 10, 5, 5))


@pytest.mark.parametrize("seed, sizes", [(1, (40, 55)), (2, (500, 480)), (3, (200_000, 200_000))])
def test_welch_matches_scipy(seed, sizes):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(3, 1, sizes[0]) * (rng.random(sizes[0]) < 0.2)
    b = rng.lognormal(3.1, 1.1, sizes[1]) * (rng.random(sizes[1]) < 0.25)
    ours = engine.welch_test(b.mean(), b.std(ddof=1), len(b), a.mean(), a.std(ddof=1), len(a), 0.95)
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert ours.t_statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-7)
    assert ours.df == pytest.approx(ref.df, rel=1e-9)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert engine.welch_test(1.0, 0.0, 10, 1.0, 0.0, 10) is None
    assert engine.welch_test(1.0, 1.0, 1, 1.0, 1.0, 10) is None


@pytest.mark.parametrize(
    "observed, shares",
    [
        ([5000, 5000], None),
        ([5000, 5300], None),
        ([1000, 1100, 950], None),
        ([6000, 4000], [60, 40]),
        ([500_000, 501_500], [1, 1]),
    ],
)
def test_srm_matches_scipy_chisquare(observed, shares):
    ours = engine.srm_check(observed, shares)
    expected = None if shares is None else np.array(shares) / sum(shares) * sum(observed)
    ref = stats.chisquare(observed, expected)
    assert ours.chi2 == pytest.approx(ref.statistic, rel=1e-10, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_srm_detects_a_skewed_split_and_accepts_an_intended_one():
    assert not engine.srm_check([5000, 5300]).mismatch  # p = 0.003: suspicious, not yet an alarm
    skewed = engine.srm_check([10_000, 10_600])
    assert skewed.mismatch and skewed.p_value < 0.001
    assert not engine.srm_check([10_000, 10_100]).mismatch
    assert not engine.srm_check([6000, 4000], [60, 40]).mismatch
    assert engine.srm_check([6000, 4000]).mismatch


def _prob_reference(x_t, n_t, x_c, n_c):
    t = stats.beta(1 + x_t, 1 + n_t - x_t)
    c = stats.beta(1 + x_c, 1 + n_c - x_c)
    lo = max(0.0, min(t.ppf(1e-12), c.ppf(1e-12)))
    hi = min(1.0, max(t.ppf(1 - 1e-12), c.ppf(1 - 1e-12)))
    value, _ = integrate.quad(lambda p: t.pdf(p) * c.cdf(p), lo, hi, limit=500, epsabs=1e-13, epsrel=1e-11)
    return value


@pytest.mark.parametrize(
    "x1, n1, x2, n2", PAIRS[:4] + [(8, 100, 12, 100), (5, 10, 5, 10), (5_100, 100_000, 5_000, 100_000)]
)
def test_probability_to_beat_control_matches_integration(x1, n1, x2, n2):
    assert engine.prob_beat_control(x1, n1, x2, n2) == pytest.approx(
        _prob_reference(x1, n1, x2, n2), abs=1e-7
    )


def test_probability_to_beat_control_is_symmetric_and_large_sample_safe():
    assert engine.prob_beat_control(5, 10, 5, 10) == pytest.approx(0.5)
    p = engine.prob_beat_control(51_234, 1_000_000, 50_000, 1_000_000)
    q = engine.prob_beat_control(50_000, 1_000_000, 51_234, 1_000_000)
    assert p + q == pytest.approx(1.0, abs=1e-9)
    z = (0.051234 - 0.05) / math.sqrt(0.051234 * 0.948766 / 1e6 + 0.05 * 0.95 / 1e6)
    assert p == pytest.approx(stats.norm.cdf(z), abs=1e-4)


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03], [0.2, 0.001], [0.5], [0.04, 0.04, 0.04, 0.001]])
def test_holm_matches_statsmodels(p_values):
    assert engine.holm_adjust(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))
    with_nan = engine.holm_adjust([float("nan"), *p_values])
    assert math.isnan(with_nan[0]) and with_nan[1:] == pytest.approx(engine.holm_adjust(p_values))


@pytest.mark.parametrize(
    "baseline, lift, alpha, power",
    [(0.10, 0.10, 0.05, 0.8), (0.02, 0.25, 0.05, 0.9), (0.5, -0.05, 0.01, 0.8), (0.001, 0.5, 0.05, 0.8)],
)
def test_planner_matches_statsmodels_power(baseline, lift, alpha, power):
    plan = engine.plan_experiment(baseline, lift, alpha, power, daily_exposures=1000)
    h = proportion_effectsize(baseline * (1 + lift), baseline)
    ref = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power, ratio=1)
    assert plan.per_variant == math.ceil(ref)
    assert plan.total == 2 * plan.per_variant
    assert plan.days == math.ceil(plan.total / 1000)
    assert engine.power_two_proportions(h, plan.per_variant, alpha) >= power
    assert engine.power_two_proportions(h, plan.per_variant - 1, alpha) < power


def test_planner_splits_alpha_over_comparisons_and_validates():
    three = engine.plan_experiment(0.1, 0.1, variants=3)
    assert three.alpha_per_comparison == 0.025
    ref = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.11, 0.1), alpha=0.025, power=0.8)
    assert three.per_variant == math.ceil(ref)
    assert three.total == 3 * three.per_variant and three.days is None
    for bad in [
        dict(baseline_rate=0),
        dict(baseline_rate=0.6, relative_lift=1.0),
        dict(relative_lift=0),
        dict(variants=1),
        dict(power=1.2),
    ]:
        args = dict(baseline_rate=0.1, relative_lift=0.1) | bad
        with pytest.raises(engine.SchemaError):
            engine.plan_experiment(**args)


def test_minimum_detectable_lift_inverts_the_planner():
    plan = engine.plan_experiment(0.08, 0.15)
    mde = engine.minimum_detectable_lift(0.08, plan.per_variant)
    assert mde == pytest.approx(0.15, rel=2e-3)
    assert engine.minimum_detectable_lift(0.5, 1) is None


def test_detect_control():
    assert engine.detect_control(["treatment", "Control"]) == "Control"
    assert engine.detect_control(["B", "A"]) == "A"
    assert engine.detect_control(["new", "Baseline", "a"]) == "a"  # 'control', 'a', 'baseline' in that order
    assert engine.detect_control(["v2", "v1", "Original"]) == "Original"
    assert engine.detect_control(["zeta", "beta"]) == "beta"
    assert engine.detect_control(["zeta", "beta"], "zeta") == "zeta"
    with pytest.raises(engine.SchemaError, match="beta"):
        engine.detect_control(["zeta", "beta"], "gamma")


# ---------------------------------------------------------------- from the store


def _insert_customers(con, experiment_id, variant, n, converted, revenue=None, prefix=None):
    """n one-row-per-customer exposures, the first `converted` of them converted."""
    prefix = prefix or variant
    frame = pd.DataFrame(
        {
            "experiment_id": experiment_id,
            "variant": variant,
            "customer_id": [f"{prefix}{i}" for i in range(n)],
            "converted": [i < converted for i in range(n)],
            "revenue": [(revenue(i) if revenue else None) if i < converted else None for i in range(n)],
        }
    )
    frame["exposures"] = 1
    frame["conversions"] = frame["converted"].astype(int)
    con.register("_rows", frame)
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted, revenue, exposures, "
        "conversions) SELECT * FROM _rows"
    )
    con.unregister("_rows")


def test_analysis_merges_repeats_drops_crossovers_and_matches_references(con):
    _insert_customers(con, "t1", "control", 1000, 100, revenue=lambda i: 10 + i % 7)
    _insert_customers(con, "t1", "B", 1000, 140, revenue=lambda i: 12 + i % 5)
    # B3 seen twice (one row converted): still one converted customer; X1 saw both variants: left out
    con.execute("""INSERT INTO experiments (experiment_id, variant, customer_id, converted, revenue, exposures,
                   conversions) VALUES ('t1', 'B', 'B3', false, NULL, 1, 0), ('t1', 'B', 'X1', true, 5, 1, 1),
                   ('t1', 'control', 'X1', false, NULL, 1, 0)""")
    result = engine.analyse_experiment(con, "t1")
    assert result.control == "control"
    assert result.crossover_customers == 1
    assert any("more than one variant" in note for note in result.notes)
    assert any("repeated rows" in note for note in result.notes)
    v = result.variants.set_index("variant")
    assert list(v.index) == ["control", "B"]
    assert v.loc["B", "exposures"] == 1000 and v.loc["B", "conversions"] == 140
    assert v.loc["B", "conversion_rate"] == 0.14
    assert v.loc["B", "abs_lift"] == pytest.approx(0.04)
    assert v.loc["B", "p_value"] == pytest.approx(proportions_ztest([140, 100], [1000, 1000])[1], rel=1e-9)
    assert pd.isna(v.loc["control", "p_value"])
    # Welch on the raw per-customer revenue (blank revenue is no revenue)
    rev_b = np.array([12 + i % 5 if i < 140 else 0.0 for i in range(1000)])
    rev_c = np.array([10 + i % 7 if i < 100 else 0.0 for i in range(1000)])
    ref = stats.ttest_ind(rev_b, rev_c, equal_var=False)
    assert v.loc["B", "revenue_per_exposed"] == pytest.approx(rev_b.mean())
    assert v.loc["B", "revenue_p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    assert v.loc["B", "revenue_diff_ci_low"] == pytest.approx(ref.confidence_interval().low, rel=1e-6)
    assert result.verdict_level == "winner"
    assert result.verdict.startswith("Variant B is the winner")


def test_count_form_rows(con):
    con.execute("""INSERT INTO experiments (experiment_id, variant, exposures, conversions, revenue) VALUES
                   ('t2', 'A', 4000, 200, 9000), ('t2', 'B', 2000, 110, 4000), ('t2', 'B', 2000, 120, 5000)""")
    result = engine.analyse_experiment(con, "t2")
    v = result.variants.set_index("variant")
    assert v.loc["B", "exposures"] == 4000 and v.loc["B", "conversions"] == 230
    assert v.loc["B", "revenue_per_exposed"] == 9000 / 4000
    assert pd.isna(v.loc["B", "revenue_p_value"])  # totals carry no spread
    assert any("Welch" in note for note in result.notes)
    ci = confint_proportions_2indep(230, 4000, 200, 4000, method="newcomb")
    assert (v.loc["B", "abs_lift_ci_low"], v.loc["B", "abs_lift_ci_high"]) == pytest.approx(ci)


def test_several_variants_are_holm_corrected_with_wider_intervals(con):
    _insert_customers(con, "t3", "control", 2000, 200)
    _insert_customers(con, "t3", "B", 2000, 245)
    _insert_customers(con, "t3", "C", 2000, 205)
    result = engine.analyse_experiment(con, "t3")
    v = result.variants.set_index("variant")
    raw = [proportions_ztest([x, 200], [2000, 2000])[1] for x in (245, 205)]
    assert list(v.loc[["B", "C"], "p_value_adjusted"]) == pytest.approx(
        list(multipletests(raw, method="holm")[1])
    )
    ci = confint_proportions_2indep(245, 2000, 200, 2000, method="newcomb", alpha=0.025)
    assert (v.loc["B", "abs_lift_ci_low"], v.loc["B", "abs_lift_ci_high"]) == pytest.approx(ci)
    assert "Holm" in result.correction and "97.5%" in result.correction


def test_verdict_never_says_winner_without_significance(con):
    _insert_customers(con, "flat", "control", 3000, 300)
    _insert_customers(con, "flat", "treatment", 3000, 318)
    result = engine.analyse_experiment(con, "flat")
    assert result.verdict_level == "inconclusive"
    assert "winner" not in result.verdict.lower()
    assert "No clear difference" in result.verdict
    assert list(result.variants["outcome"]) == ["control", "no clear difference"]


def test_verdict_never_says_winner_when_the_split_is_off(con):
    _insert_customers(con, "srm", "control", 2000, 200)
    _insert_customers(con, "srm", "treatment", 2400, 480)  # big lift, but a 45/55 split
    result = engine.analyse_experiment(con, "srm")
    assert result.srm.mismatch
    assert result.verdict_level == "invalid"
    assert "winner" not in result.verdict.lower()
    assert "sample-ratio mismatch" in result.verdict
    fine = engine.analyse_experiment(con, "srm", split={"control": 5, "treatment": 6})
    assert not fine.srm.mismatch and fine.verdict_level == "winner"


def test_verdict_for_a_losing_and_a_tiny_test(con):
    _insert_customers(con, "lose", "A", 3000, 300)
    _insert_customers(con, "lose", "B", 3000, 220)
    result = engine.analyse_experiment(con, "lose")
    assert result.verdict_level == "loser" and "winner" not in result.verdict.lower()
    assert result.control == "A"
    _insert_customers(con, "tiny", "A", 40, 4)
    _insert_customers(con, "tiny", "B", 40, 30)
    tiny = engine.analyse_experiment(con, "tiny")
    assert tiny.verdict_level == "insufficient" and "Not enough data" in tiny.verdict
    assert engine.analyse_experiment(con, "tiny", min_exposures=10).verdict_level == "winner"


def test_bad_experiments_raise_domain_errors(con):
    with pytest.raises(engine.InsufficientDataError):
        engine.analyse_experiment(con, "missing")
    _insert_customers(con, "solo", "A", 10, 1)
    with pytest.raises(engine.InsufficientDataError, match="two"):
        engine.analyse_experiment(con, "solo")
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, exposures, conversions) VALUES "
        "('bad', 'A', 10, 20), ('bad', 'B', 10, 1)"
    )
    with pytest.raises(engine.SchemaError, match="more conversions than exposures"):
        engine.analyse_experiment(con, "bad")
    summary = engine.experiment_summary(con).set_index("experiment_id")
    assert summary.loc["bad", "verdict_level"] == "invalid"
    assert "more conversions" in summary.loc["bad", "verdict"]
    assert summary.loc["solo", "verdict_level"] == "insufficient"


def test_summary_lists_every_experiment(con):
    _insert_customers(con, "e1", "control", 500, 50)
    _insert_customers(con, "e1", "B", 500, 90)
    _insert_customers(con, "e2", "A", 5, 1)
    summary = engine.experiment_summary(con)
    assert list(summary["experiment_id"]) == ["e1", "e2"]
    assert list(summary["verdict_level"]) == ["winner", "insufficient"]
    assert summary.loc[0, "best_variant"] == "B"
    assert list(engine.experiment_list(con)["variants"]) == [2, 1]


# ---------------------------------------------------------------- the sample shop


def test_sample_ab_test_shows_its_built_in_effect(sample_con):
    truth = engine.SAMPLE_STRUCTURE["experiment"]
    result = engine.analyse_experiment(sample_con, truth["experiment_id"])
    assert result.control == "control"
    assert not result.srm.mismatch
    treatment = result.variants.set_index("variant").loc["treatment"]
    true_lift = truth["treatment_rate"] - truth["control_rate"]
    assert treatment["abs_lift_ci_low"] <= true_lift <= treatment["abs_lift_ci_high"]
    assert treatment["abs_lift"] > 0
    assert treatment["prob_beat_control"] > 0.95
    # a winner exactly when the corrected p-value is below 5%; never a loser or an invalid test
    assert result.verdict_level == ("winner" if treatment["p_value_adjusted"] < 0.05 else "inconclusive")

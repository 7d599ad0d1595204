"""Experiment statistics against statsmodels/scipy reference implementations, and the verdict rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
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


def test_rate_interval_is_wilson_and_handles_zero_and_empty():
    # Wilson at zero successes has the closed form (0, z^2 / (n + z^2))
    z = stats.norm.isf(0.025)
    low, high = engine.wilson_interval(0, 50)
    assert low == pytest.approx(0.0, abs=1e-15) and high == pytest.approx(z * z / (50 + z * z))
    assert all(math.isnan(v) for v in engine.wilson_interval(0, 0))  # an empty arm has no rate
    narrow, wide = engine.wilson_interval(30, 100, 0.9), engine.wilson_interval(30, 100, 0.99)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]  # the confidence level reaches the library
    with pytest.raises(engine.SchemaError):
        engine.wilson_interval(3, 10, 1.5)


@pytest.mark.parametrize("x1, n1, x2, n2", PAIRS)
def test_lift_and_test_point_the_right_way(x1, n1, x2, n2):
    """Variant first, control second: a better variant gives a positive lift, interval and z."""
    lo, hi = engine.lift_interval(x1, n1, x2, n2)
    rlo, rhi = engine.relative_lift_interval(x1, n1, x2, n2)
    diff = x1 / n1 - x2 / n2
    assert lo <= diff <= hi
    # the relative interval brackets the ratio with 0.5 added to each count
    assert rlo <= ((x1 + 0.5) / (n1 + 0.5)) / ((x2 + 0.5) / (n2 + 0.5)) - 1 <= rhi
    # swapping the arms mirrors the difference interval
    back = engine.lift_interval(x2, n2, x1, n1)
    assert back == pytest.approx((-hi, -lo), rel=1e-9, abs=1e-12)
    z, p = engine.two_proportion_ztest(x1, n1, x2, n2)
    if not math.isnan(z):
        assert math.copysign(1, z) == math.copysign(1, diff) and 0 <= p <= 1
        # the pooled two-sided z-test by hand
        pooled = (x1 + x2) / (n1 + n2)
        z_hand = diff / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        assert z == pytest.approx(z_hand, rel=1e-9)
        assert p == pytest.approx(2 * stats.norm.sf(abs(z_hand)), rel=1e-6, abs=1e-300)


def test_zero_conversions_and_an_empty_arm():
    # no conversions in control: the relative interval is still finite (0.5 added to the counts)
    rlo, rhi = engine.relative_lift_interval(3, 60, 0, 50)
    assert math.isfinite(rlo) and math.isfinite(rhi) and rlo < rhi
    # nobody converted anywhere: no test, but the difference interval still brackets 0
    assert all(math.isnan(v) for v in engine.two_proportion_ztest(0, 10, 0, 10))
    assert all(math.isnan(v) for v in engine.two_proportion_ztest(10, 10, 5, 5))
    lo, hi = engine.lift_interval(0, 10, 0, 10)
    assert lo < 0 < hi
    # one arm empty: nothing is defined, nothing raises
    for fn in (engine.lift_interval, engine.relative_lift_interval, engine.two_proportion_ztest):
        assert all(math.isnan(v) for v in fn(5, 100, 0, 0))
        assert all(math.isnan(v) for v in fn(0, 0, 5, 100))


@pytest.mark.parametrize("seed, sizes", [(1, (40, 55)), (2, (500, 480)), (3, (200_000, 200_000))])
def test_welch_from_summaries_equals_the_test_on_raw_values(seed, sizes):
    """Our inputs (means and ddof=1 sds) give what scipy gives on the raw values."""
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


def test_srm_compares_counts_with_the_intended_split():
    # 6000/4000 against 60/40 is a perfect fit; against 50/50 chi2 = 2 x 1000^2 / 5000 = 400
    fit = engine.srm_check([6000, 4000], [60, 40])
    assert fit.chi2 == pytest.approx(0.0, abs=1e-12) and fit.expected == (6000.0, 4000.0)
    equal = engine.srm_check([6000, 4000])
    assert equal.chi2 == pytest.approx(400.0) and equal.mismatch
    assert equal.p_value == pytest.approx(stats.chi2.sf(400.0, 1))
    three = engine.srm_check([1000, 1100, 950])
    assert three.chi2 == pytest.approx(
        sum((o - 1016.6666666666666) ** 2 / 1016.6666666666666 for o in (1000, 1100, 950))
    )
    assert three.p_value == pytest.approx(stats.chi2.sf(three.chi2, 2))  # k - 1 degrees of freedom
    assert math.isnan(engine.srm_check([0, 0]).p_value) and not engine.srm_check([0, 0]).mismatch


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


def test_holm_by_hand_keeps_order_and_skips_missing():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06
    assert engine.holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    with_nan = engine.holm_adjust([float("nan"), 0.01, 0.04, 0.03])
    assert math.isnan(with_nan[0]) and with_nan[1:] == pytest.approx([0.03, 0.06, 0.06])
    assert engine.holm_adjust([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert engine.holm_adjust([]) == []


@pytest.mark.parametrize(
    "baseline, lift, alpha, power",
    [(0.10, 0.10, 0.05, 0.8), (0.02, 0.25, 0.05, 0.9), (0.5, -0.05, 0.01, 0.8), (0.001, 0.5, 0.05, 0.8)],
)
def test_planner_gives_the_textbook_sample_size(baseline, lift, alpha, power):
    plan = engine.plan_experiment(baseline, lift, alpha, power, daily_exposures=1000)
    # n = 2 ((z_(alpha/2) + z_power) / h)^2 per group with Cohen's h; the far tail adds at most one customer
    h = 2 * math.asin(math.sqrt(baseline * (1 + lift))) - 2 * math.asin(math.sqrt(baseline))
    by_hand = 2 * ((stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) / h) ** 2
    assert plan.effect_size == pytest.approx(h)
    assert math.ceil(by_hand) - 1 <= plan.per_variant <= math.ceil(by_hand)
    assert plan.total == 2 * plan.per_variant
    assert plan.days == math.ceil(plan.total / 1000)
    assert engine.power_two_proportions(h, plan.per_variant, alpha) >= power
    assert engine.power_two_proportions(h, plan.per_variant - 1, alpha) < power
    assert engine.power_two_proportions(-h, plan.per_variant, alpha) >= power  # two-sided: sign-free


def test_planner_splits_alpha_over_comparisons_and_validates():
    three = engine.plan_experiment(0.1, 0.1, variants=3)
    assert three.alpha_per_comparison == 0.025
    assert three.per_variant > engine.plan_experiment(0.1, 0.1, alpha=0.05).per_variant
    assert three.per_variant == engine.plan_experiment(0.1, 0.1, alpha=0.025).per_variant
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


@pytest.mark.parametrize(
    "variants, control",
    [
        (["treatment", "Control"], "Control"),
        (["B", "A"], "A"),
        (["Mens E-Mail", "No E-Mail", "Womens E-Mail"], "No E-Mail"),
        (["email", "no_email"], "no_email"),
        (["promo", "No Mail"], "No Mail"),
        (["10% off", "Holdout"], "Holdout"),
        (["send", "hold-out"], "hold-out"),
        (["new", "Baseline"], "Baseline"),
        (["coupon", "none"], "none"),
        (["v2", "v1", "Original"], "Original"),
        (["new", "Baseline", "a"], "Baseline"),  # list order: baseline before "a"
        (["Control group", "Variant B"], "Control group"),  # a control word inside a longer name
    ],
)
def test_control_is_found_from_names(variants, control):
    choice = engine.find_control(variants)
    assert choice.name == control
    assert repr(control) in choice.evidence
    assert engine.detect_control(variants) == control


def test_control_is_asked_when_no_name_says_so():
    choice = engine.find_control(["zeta", "beta"])
    assert choice.name is None and choice.rule == "ask" and not choice.confident
    assert "zeta" in choice.evidence and "beta" in choice.evidence
    with pytest.raises(engine.ControlNotFound, match="--control"):
        engine.detect_control(["zeta", "beta"])
    assert engine.detect_control(["zeta", "beta"], "zeta") == "zeta"
    with pytest.raises(engine.SchemaError, match="beta"):
        engine.detect_control(["zeta", "beta"], "gamma")
    # a whole-name match is confident; a second control-like name is said
    both = engine.find_control(["control", "A", "B"])
    assert both.name == "control" and both.others == ("A",) and not both.confident
    assert engine.find_control(["control", "B"]).confident


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
    # two outcomes (converted, revenue) are compared: each interval is 97.5% so both hold at 95%
    assert result.comparisons == 2
    assert v.loc["B", "revenue_diff_ci_low"] == pytest.approx(ref.confidence_interval(0.975).low, rel=1e-6)
    raw = [proportions_ztest([140, 100], [1000, 1000])[1], ref.pvalue]
    assert [v.loc["B", "p_value_adjusted"], v.loc["B", "revenue_p_value_adjusted"]] == pytest.approx(
        list(multipletests(raw, method="holm")[1]), rel=1e-6
    )
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
    # conversions and revenue are both compared, so the interval is 97.5%
    ci = confint_proportions_2indep(230, 4000, 200, 4000, method="newcomb", alpha=0.025)
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

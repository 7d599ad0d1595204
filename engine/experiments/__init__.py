"""A/B test results: per-variant rates or means with intervals, lift, tests, sample-ratio mismatch,
Bayesian probability to beat control, a multiple-comparison correction, a plain-language verdict and a
planner.

Counting is done in DuckDB (one aggregate per call); the statistics run on those few numbers through
scipy and statsmodels (``stats`` lists which function gives which number). Methods:

- conversion rate interval: Wilson score;
- absolute lift (variant - control) interval: Newcombe's hybrid score;
- relative lift interval: log risk ratio with 0.5 added to counts (defined with zero conversions);
- p-value of a 0/1 outcome: two-sided two-proportion z-test with pooled variance;
- a numeric outcome (revenue, spend, items ...): Welch's t-test and interval on the mean per unit
  (needs one row per unit: count-form totals carry no spread);
- sample-ratio mismatch: chi-square goodness of fit against the intended split (default equal);
- probability to beat control: exact P(p_variant > p_control) under Beta(1 + conversions,
  1 + non-conversions) posteriors (uniform priors);
- several variants and outcomes against one control: Holm-adjusted p-values over every comparison decide
  significance, and intervals are Bonferroni-widened so that together they hold at the stated confidence;
- planner: two-sided z-test power on Cohen's h (arcsine-transformed proportions).

Control: the variant named like one (``CONTROL_NAMES``: control, no e-mail, holdout, baseline, none, "A"
...), with the evidence; when no name says so the user is asked, never a silent guess.

Unit of analysis: the customer. Rows naming a customer are merged per customer and variant (converted
when any row converted; numbers summed, blanks count as none); customers seen in more than one variant are
left out and counted. A row without a customer is one unit of its own, unless it is a count-form row
(exposures other than one, with conversions per variant), whose totals are summed.
"""

from engine.experiments.analysis import (
    CORRECTION,
    DEFAULT_MIN_CONVERSIONS,
    DEFAULT_MIN_EXPOSURES,
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    VARIANT_COLUMNS,
    ExperimentAnalysis,
    analyse_counts,
    analyse_experiment,
    experiment_summary,
)
from engine.experiments.data import (
    CONTROL_NAMES,
    OUTCOME_HINTS,
    ControlChoice,
    ControlNotFound,
    Outcome,
    detect_control,
    experiment_counts,
    experiment_list,
    experiment_outcomes,
    experiment_variants,
    find_control,
    resolve_outcomes,
)
from engine.experiments.planning import ExperimentPlan, minimum_detectable_lift, plan_experiment
from engine.experiments.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_SRM_THRESHOLD,
    SrmCheck,
    WelchResult,
    cohens_h,
    holm_adjust,
    lift_interval,
    power_two_proportions,
    prob_beat_control,
    relative_lift_interval,
    srm_check,
    two_proportion_ztest,
    welch_test,
    wilson_interval,
)
from engine.experiments.verdict import VERDICT_LEVELS

__all__ = [
    "CONTROL_NAMES",
    "OUTCOME_HINTS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_SRM_THRESHOLD",
    "DEFAULT_MIN_EXPOSURES",
    "DEFAULT_MIN_CONVERSIONS",
    "CORRECTION",
    "VERDICT_LEVELS",
    "VARIANT_COLUMNS",
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
    "WelchResult",
    "SrmCheck",
    "ControlChoice",
    "ControlNotFound",
    "Outcome",
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
    "find_control",
    "detect_control",
    "experiment_outcomes",
    "resolve_outcomes",
    "experiment_counts",
    "experiment_list",
    "experiment_variants",
    "analyse_counts",
    "analyse_experiment",
    "experiment_summary",
]

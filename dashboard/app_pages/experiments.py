"""Experiments: did each A/B test's variant really win, can the split be trusted, and how big must the next be."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import engine
from dashboard import checks, components, share, state, words
from dashboard.charts import campaigns as cc
from dashboard.charts import experiments as ec
from dashboard.components import Kpi, fmt_int, fmt_pct


@st.cache_data(show_spinner=False, max_entries=8)
def load_summary(version: int):
    return engine.experiment_summary(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_list(version: int):
    return engine.experiment_list(state.cursor())


@st.cache_data(show_spinner=False, max_entries=32)
def load_variants(version: int, experiment_id: str) -> list[str]:
    return engine.experiment_variants(state.cursor(), experiment_id)


@st.cache_data(show_spinner=False, max_entries=32)
def load_outcomes(version: int, experiment_id: str) -> list:
    return engine.experiment_outcomes(state.cursor(), experiment_id)


@st.cache_data(show_spinner=False, max_entries=64)
def load_analysis(
    version: int,
    experiment_id: str,
    control: str | None,
    split: tuple | None,
    confidence: float,
    outcomes: tuple[str, ...] | None,
):
    return engine.analyse_experiment(
        state.cursor(),
        experiment_id,
        control,
        dict(split) if split else None,
        confidence,
        outcomes=list(outcomes) if outcomes else None,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def load_response(version: int, experiment_id: str):
    return engine.segment_response(state.cursor(), "experiments", experiment_id=experiment_id)


@st.cache_data(show_spinner=False, max_entries=64)
def plan(baseline: float, lift: float, alpha: float, power: float, variants: int, daily: float | None):
    return engine.plan_experiment(baseline, lift, alpha, power, variants, daily)


@st.cache_data(show_spinner=False, max_entries=64)
def plan_curve(baseline: float, alpha: float, power: float, variants: int) -> pd.DataFrame:
    rows = []
    for lift in [x / 100 for x in range(2, 101)]:
        try:
            rows.append(
                {
                    "relative_lift": lift,
                    "per_variant": engine.plan_experiment(baseline, lift, alpha, power, variants).per_variant,
                }
            )
        except engine.EngineError:  # the target rate would pass 100%
            break
    return pd.DataFrame(rows, columns=["relative_lift", "per_variant"])


VERDICT_BOX = {
    "winner": (st.success, ":material/emoji_events:"),
    "loser": (st.warning, ":material/trending_down:"),
    "inconclusive": (st.info, ":material/hourglass_top:"),
    "invalid": (st.error, ":material/report:"),
    "insufficient": (st.info, ":material/hourglass_empty:"),
    "no_control": (st.info, ":material/help:"),
}
LEVEL_LABELS = {
    "winner": "Winner",
    "loser": "Variant worse",
    "inconclusive": "No clear difference",
    "invalid": "Do not trust (split is off)",
    "insufficient": "Not enough data",
    "no_control": "Control to choose",
}
RESULT_HEADERS = {
    "variant": "Variant",
    "outcome": "Outcome",
    "exposures": "Customers",
    "conversions": "Conversions",
    "conversion_rate": "Conv. rate",
    "rate_ci_low": "Rate low",
    "rate_ci_high": "Rate high",
    "abs_lift": "Lift (pts)",
    "abs_lift_ci_low": "Lift low",
    "abs_lift_ci_high": "Lift high",
    "rel_lift": "Relative lift",
    "rel_lift_ci_low": "Rel. low",
    "rel_lift_ci_high": "Rel. high",
    "p_value": "p-value",
    "p_value_adjusted": "p (corrected)",
    "prob_beat_control": "P(beats control)",
    "revenue": "Revenue",
    "revenue_per_exposed": "Revenue / customer",
    "revenue_diff": "Diff / customer",
    "revenue_diff_ci_low": "Diff low",
    "revenue_diff_ci_high": "Diff high",
    "revenue_p_value": "Revenue p-value",
    "revenue_p_value_adjusted": "Revenue p (corrected)",
    "intended_share": "Intended share",
    "observed_share": "Observed share",
    "experiment_id": "Experiment",
    "variants": "Variants",
    "customers": "Customers",
    "control": "Control",
    "control_rate": "Control rate",
    "best_variant": "Best variant",
    "best_rate": "Best rate",
    "srm_p_value": "SRM p",
    "verdict_level": "Verdict",
    "expected": "Expected customers",
    "outcome_name": "Outcome",
    "units": "Units",
    "successes": "Successes",
    "value": "Rate or mean",
    "value_ci_low": "Low",
    "value_ci_high": "High",
    "test": "Test",
}


def show_table(
    frame: pd.DataFrame, columns: list[str], key: str, file_name: str, kinds: dict[str, str] | None = None
) -> None:
    shown = frame[[c for c in columns if c in frame.columns]]
    st.dataframe(
        cc.styled_table(shown, RESULT_HEADERS, kinds),
        hide_index=True,
        width="stretch",
        key=f"tbl_{key}",
        placeholder="—",
    )
    components.csv_download(shown, file_name, key=f"dl_{key}")


def planner(default_rate: float | None, follows: str = "") -> None:
    st.subheader(":material/calculate: Plan the next test")
    st.caption(
        "How many customers each variant needs so that a real lift of the chosen size is detected "
        "(two-sided test). With more than two variants the significance level is split over the "
        "comparisons with control, as on the results above."
    )
    c1, c2, c3, c4, c5 = st.columns(5)
    baseline = (
        c1.number_input(
            "Control conversion rate (%)",
            0.01,
            99.0,
            round((default_rate or 0.05) * 100, 2),
            step=0.5,
            # keyed by the experiment, control and outcome it starts from, so it follows a new choice
            key=f"plan_rate_{follows}",
            help="Starts at the chosen control's rate of the chosen 0/1 outcome; change it freely.",
        )
        / 100
    )
    lift = c2.number_input("Lift to detect (%, relative)", 1.0, 500.0, 10.0, step=1.0, key="plan_lift") / 100
    power = c3.select_slider(
        "Power", [0.7, 0.8, 0.9, 0.95], value=0.8, key="plan_power", format_func=lambda p: f"{p:.0%}"
    )
    variants = c4.number_input("Variants (incl. control)", 2, 10, 2, key="plan_variants")
    daily = c5.number_input(
        "Customers per day",
        0,
        10_000_000,
        1000,
        step=100,
        key="plan_daily",
        help="Customers entering the test per day, for the duration; 0 to leave it out.",
    )
    alpha = st.session_state.get("exp_alpha", 0.05)
    try:
        result = plan(baseline, lift, alpha, power, int(variants), float(daily) or None)
    except engine.EngineError as error:
        components.show_error(error)
        return
    components.kpi_row(
        [
            Kpi("Customers per variant", fmt_int(result.per_variant)),
            Kpi("Customers in total", fmt_int(result.total)),
            Kpi(
                "Days to run",
                "—" if result.days is None else f"{result.days:,}",
                help="Total customers / customers per day; run whole weeks to even out weekday effects.",
            ),
            Kpi(
                "Target rate",
                fmt_pct(result.target_rate, 2),
                help=f"Control {fmt_pct(baseline, 2)} x (1 + {lift:.0%}); significance level per comparison "
                f"{result.alpha_per_comparison:.3g}.",
            ),
        ]
    )
    curve = plan_curve(baseline, alpha, power, int(variants))
    if not curve.empty:
        share.chart(ec.plan_curve(curve, lift), curve, "experiment_plan")


st.title("Experiments")
st.caption(
    "Did each A/B test's variant really beat control, can the split be trusted, and how big must the next "
    "test be."
)
version = state.data_version()
counts = state.table_counts(version)
if counts["experiments"] == 0:
    components.no_data("experiments", "experiments")
    st.caption(
        "One row per exposed customer (experiment, variant, customer, converted, revenue), one row per "
        "exposure without customer ids, or one row per variant with exposures and conversions counts all work."
    )
    planner(None, "none")
    st.stop()
checks.show_id_warnings(version, ("experiments",))

summary = load_summary(version)
with st.expander(f"All experiments ({len(summary)})", expanded=len(summary) > 1, icon=":material/list:"):
    view = summary.assign(verdict_level=summary["verdict_level"].map(LEVEL_LABELS))
    show_table(
        view,
        [
            "experiment_id",
            "verdict_level",
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
        ],
        "summary",
        "experiments_summary.csv",
    )

experiments = load_list(version)
c1, c2, c3 = st.columns([2, 1.3, 1])
experiment_id = c1.selectbox("Experiment", list(experiments["experiment_id"]), key="exp_id")
variant_names = load_variants(version, experiment_id)
found = engine.find_control(variant_names)
control = c2.selectbox(
    "Control",
    variant_names,
    index=variant_names.index(found.name) if found.name else None,
    key=f"exp_control_{experiment_id}",
    placeholder="Which variant is the control?",
    help="Found from the variant names (control, no e-mail, holdout, baseline, none, A ...); change it if needed.",
)
confidence = c3.selectbox(
    "Confidence", [0.9, 0.95, 0.99], index=1, format_func=lambda c: f"{c:.0%}", key="exp_confidence"
)
st.session_state["exp_alpha"] = round(1 - confidence, 4)
if control is None:
    st.info(found.evidence, icon=":material/help:")
    st.stop()
if control == found.name:
    st.caption(f":material/search: {components.plain(found.evidence)}")

available = load_outcomes(version, experiment_id)
if not available:
    st.info(
        "This experiment has no outcome to test: load it with a converted or conversions column, a revenue "
        "column, or any 0/1 or numeric column (visit, click ...).",
        icon=":material/info:",
    )
    st.stop()
labels = {o.name: o.label + (" (0/1)" if o.kind == "binary" else " (number)") for o in available}
o1, o2 = st.columns([1, 2])
primary = o1.selectbox(
    "Outcome",
    list(labels),
    format_func=labels.get,
    key=f"exp_outcome_{experiment_id}",
    help="The outcome the verdict is about: any 0/1 column (a rate) or numeric column (a mean per unit) of "
    "the experiment file.",
)
default_more = [n for n in ("revenue",) if n in labels and n != primary]
more = o2.multiselect(
    "Also compare",
    [n for n in labels if n != primary],
    default=default_more,
    format_func=labels.get,
    key=f"exp_more_{experiment_id}_{primary}",
    help="Every outcome compared counts in the multiple-comparison correction: more outcomes, wider "
    "intervals.",
)
chosen_outcomes = (primary, *more)

split = None
with st.expander("Intended split", icon=":material/call_split:"):
    st.caption(
        "The share of customers each variant was meant to get (any numbers: 50/50, 90/10 ...). The "
        "sample-ratio check compares the real split with it."
    )
    cols = st.columns(min(len(variant_names), 6) or 1)
    weights = []
    for i, name in enumerate(variant_names):
        weights.append(
            cols[i % len(cols)].number_input(
                name, 0.1, 1000.0, 1.0, step=1.0, key=f"exp_split_{experiment_id}_{name}"
            )
        )
    if len(set(weights)) > 1:
        split = tuple(zip(variant_names, weights, strict=True))

try:
    result = load_analysis(version, experiment_id, control, split, confidence, chosen_outcomes)
except engine.EngineError as error:
    components.show_error(error)
    planner(None, f"{experiment_id}_{control}")
    st.stop()

box, icon = VERDICT_BOX[result.verdict_level]
box(components.plain(result.verdict), icon=icon)  # names variants as the file does

v = result.variants
control_row = v.iloc[0]
others = v.iloc[1:]
best = others.sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
binary = result.outcome_kind == "binary"
unit_word = {"customer": "Customers", "row": "Rows", "customer or row": "Units"}[result.unit]
primary_label = labels[result.outcome].rsplit(" (", 1)[0]


def show_value(value) -> str:
    if pd.isna(value):
        return "—"
    return fmt_pct(value, 2) if binary else f"{value:,.2f}"


period = ""
if result.first_exposure is not None:
    period = f"{result.first_exposure:%b %d, %Y} to {result.last_exposure:%b %d, %Y}"
p_best = best["p_value_adjusted"]
components.kpi_row(
    [
        Kpi(
            unit_word,
            fmt_int(v["exposures"].sum()),
            help=(f"Exposed units, {period}. " if period else "Exposed units. ")
            + {
                "customer": "One unit is one customer (their rows merged).",
                "row": "The file names no customers: each row is one unit.",
                "customer or row": "A customer's rows are one unit; a row without a customer is one unit.",
            }[result.unit],
        ),
        Kpi(
            "Control rate" if binary else "Control mean",
            show_value(control_row["conversion_rate"]),
            help=f"{primary_label} of the control, variant {result.control}"
            + (" (share of units)." if binary else " (mean per unit)."),
        ),
        Kpi(
            "Best rate" if binary else "Best mean",
            show_value(best["conversion_rate"]),
            delta=None if pd.isna(best["rel_lift"]) else f"{best['rel_lift']:+.1%}",
            delta_color="normal" if best["significant"] else "off",
            help=f"Variant {best['variant']}; the change is its relative lift over control.",
        ),
        Kpi(
            "p-value",
            "—" if pd.isna(p_best) else ("< 0.001" if p_best < 0.001 else f"{p_best:.3f}"),
            help=("Two-proportion z-test" if binary else "Welch's t-test")
            + (f", Holm-corrected over {result.comparisons} comparisons." if result.comparisons > 1 else "."),
        ),
        Kpi(
            "Chance to win",
            "—" if pd.isna(best["prob_beat_control"]) else fmt_pct(best["prob_beat_control"]),
            help="Bayesian probability that the variant's true rate is above control's (uniform priors). It is "
            "not the same as significance: read it together with the interval. For 0/1 outcomes only.",
        ),
        Kpi(
            "Sample ratio",
            "OK" if not result.srm.mismatch else "Mismatch",
            help=f"Chi-square test of the split against the intended one: p = {result.srm.p_value:.4g} "
            f"(alarm below {result.srm.threshold}).",
        ),
    ]
)

family = f"{1 - (1 - confidence) / result.comparisons:.1%}" if result.comparisons > 1 else f"{confidence:.0%}"
if binary:
    left, right = st.columns(2)
    with left:
        share.chart(
            ec.variant_rates(v, confidence), v, "experiment_rates", f"Exposures {period}" if period else None
        )
    with right:
        share.chart(
            ec.lift_chart(v, family),
            v,
            "experiment_lift",
            f"Exposures {period}" if period else None,
            engine.lift_takeaway(v, str(experiment_id)) if v["conversion_rate"].notna().any() else None,
        )

st.markdown(f"##### {primary_label}: results per variant")
st.caption(
    (
        f"{result.comparisons} comparisons with control: p-values are {words.label('holm')} and intervals "
        f"{words.label('bonferroni')}, so together they hold at {confidence:.0%}."
        if result.comparisons > 1
        else f"One comparison with control, at {confidence:.0%} confidence."
    ),
    help=f"{result.correction} {words.explain('holm')} {words.explain('bonferroni')}",
)
show_table(
    v,
    [
        "variant",
        "outcome",
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
        "p_value",
        "p_value_adjusted",
        "prob_beat_control",
    ],
    "results",
    f"experiment_{experiment_id}_results.csv",
)

if len(result.outcomes) > 1:
    st.markdown("##### Every outcome compared")
    st.caption(
        "Rates for yes/no outcomes, means per customer for numbers (blanks count as zero). The corrected "
        f"p-value is {words.label('holm')}: it accounts for every row below.",
        help="Yes/no outcomes: two-proportion z-test. Numbers: "
        f"{words.explain('welch')} {words.explain('holm')}",
    )
    every = result.results.assign(outcome_name=result.results["outcome"].map(lambda n: labels.get(n, n)))
    number = dict.fromkeys(
        ["value", "value_ci_low", "value_ci_high", "abs_lift", "abs_lift_ci_low", "abs_lift_ci_high"], "ratio"
    )
    rate = dict.fromkeys(["value", "value_ci_low", "value_ci_high"], "pct2") | dict.fromkeys(
        ["abs_lift", "abs_lift_ci_low", "abs_lift_ci_high"], "pts"
    )
    for name in result.outcomes:
        part = every[every["outcome"] == name]
        is_rate = part["kind"].iloc[0] == "binary"
        show_table(
            part,
            [
                "outcome_name",
                "variant",
                "units",
                *(["successes"] if is_rate else []),
                "value",
                "value_ci_low",
                "value_ci_high",
                "abs_lift",
                "abs_lift_ci_low",
                "abs_lift_ci_high",
                "rel_lift",
                "test",
                "p_value",
                "p_value_adjusted",
            ],
            f"outcome_{name}",
            f"experiment_{experiment_id}_{name}.csv",
            kinds=(rate if is_rate else number)
            | {"rel_lift": "spct", "units": "count", "successes": "count"},
        )

with st.expander(
    "Sample-ratio check and data notes",
    icon=":material/fact_check:",
    expanded=result.srm.mismatch or bool(result.notes),
):
    srm = pd.DataFrame(
        {
            "variant": result.srm.variants,
            "exposures": result.srm.observed,
            "expected": result.srm.expected,
            "intended_share": v["intended_share"].astype(float),
            "observed_share": v["observed_share"].astype(float),
        }
    )
    show_table(srm, list(srm.columns), "srm", f"experiment_{experiment_id}_srm.csv")
    st.caption(
        f"{words.label('chi_square')}: p = {result.srm.p_value:.4g}; a p-value below "
        f"{result.srm.threshold} means the split is off and the result is not trusted.",
        help=words.explain("chi_square", f"Statistic {result.srm.chi2:.2f}."),
    )
    for note in result.notes:
        st.markdown(f"- {note}")

with st.expander("By customer segment", icon=":material/grid_on:"):
    try:
        with st.spinner("Joining customers to their segments ..."):
            response = load_response(version, experiment_id)
    except engine.EngineError as error:
        components.show_error(error)
    else:
        st.caption(
            "Conversion per segment and variant. Segments are small: treat differences here as ideas to "
            "test, not results."
        )
        share.chart(
            cc.segment_heatmap(response, "response_rate"),
            response,
            "experiment_heat",
            f"Exposures {period}" if period else None,
        )
        show_table(
            response, list(response.columns), "exp_response", f"experiment_{experiment_id}_segments.csv"
        )

with st.expander("How these numbers are computed", icon=":material/functions:"):
    st.markdown(
        "- **Conversion rate interval**: Wilson score interval.\n"
        "- **Lift interval**: Newcombe's method for the difference in rates; relative lift from the log of the "
        "rate ratio.\n"
        "- **p-value**: two-sided two-proportion z-test for a 0/1 outcome, Welch's t-test on the mean per unit "
        "for a numeric one (revenue, spend ...). With several variants or outcomes, p-values are Holm-corrected "
        "over every comparison and intervals widened (Bonferroni) so the whole set holds at the chosen "
        "confidence.\n"
        "- **Unit**: a customer (their rows merged); a row without a customer id is a unit of its own.\n"
        "- **Sample-ratio mismatch**: chi-square test of customers per variant against the intended split.\n"
        "- **Probability to beat control**: Beta-Binomial model with uniform priors, computed exactly.\n"
        f"- A result is called a win only when the corrected p-value is below {1 - confidence:.2g}, the split "
        "check passes and every variant has enough customers."
    )

# the planner starts from the chosen control's rate of the first 0/1 outcome compared
rates = result.results[(result.results["kind"] == "binary") & result.results["is_control"]]
planner(
    None if rates.empty or pd.isna(rates.iloc[0]["value"]) else float(rates.iloc[0]["value"]),
    f"{experiment_id}_{result.control}_{rates.iloc[0]['outcome'] if len(rates) else ''}",
)

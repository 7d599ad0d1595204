"""Targeting: who a test's send works on, how sure that is, and the list to send to next."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import engine
from dashboard import components, share, state
from dashboard.charts import targeting as cu
from dashboard.charts.campaigns import styled_table
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_pct


@st.cache_data(show_spinner=False, max_entries=8)
def load_tests(version: int) -> pd.DataFrame:
    return engine.experiment_list(state.cursor())


@st.cache_data(show_spinner=False, max_entries=32)
def load_variants(version: int, experiment_id: str) -> pd.DataFrame:
    return engine.uplift_variants(state.cursor(), experiment_id)


@st.cache_data(show_spinner=False, max_entries=32)
def load_columns(version: int, experiment_id: str) -> pd.DataFrame:
    return engine.uplift_columns(state.cursor(), experiment_id)


@st.cache_data(show_spinner=False, max_entries=32)
def load_suggestion(
    version: int, experiment_id: str, treatment: str, control: str, outcome: str
) -> pd.DataFrame:
    return engine.suggest_uplift_attributes(state.cursor(), experiment_id, treatment, control, outcome)


@st.cache_data(show_spinner=False, max_entries=8)
def load_list(version: int, params_key: str, _result) -> pd.DataFrame:
    return engine.uplift_list(state.cursor(), _result)


def kpi_row(kpis: list[Kpi]) -> None:
    """Metric cards; a delta that is a detail (not a change) gets no arrow."""
    for column, kpi in zip(st.columns(len(kpis)), kpis, strict=True):
        column.metric(
            kpi.label,
            kpi.value,
            kpi.delta,
            help=kpi.help,
            delta_color=kpi.delta_color,
            delta_arrow="off" if kpi.delta_color == "off" else "auto",
            border=True,
        )


def analyse(
    experiment_id: str, treatment: str, control: str, outcome: str, attributes: list[str], learner: str
):
    """The stored analysis, or a fit with a progress bar (once per data version and choice)."""
    holder: dict = {}

    def progress(fraction: float, text: str) -> None:
        if "bar" not in holder:
            holder["bar"] = st.progress(0.0, text="Finding who responds…")
        holder["bar"].progress(min(max(fraction, 0.0), 1.0), text=text)

    result = engine.analyse_uplift(
        state.cursor(),
        experiment_id,
        treatment,
        control,
        outcome,
        attributes,
        learner=learner,
        progress=progress,
    )
    if "bar" in holder:
        holder["bar"].empty()
    return result


st.title(":material/ads_click: Who to target")
st.caption(
    "From a randomised test: whom the send changes, not who would buy anyway. Every score is measured on "
    "customers the model did not learn from."
)

version = state.data_version()
tests = load_tests(version)
if tests.empty:
    components.no_data("tests", "experiments")
    st.stop()

top = st.columns([1.2, 1, 1, 1])
experiment_id = top[0].selectbox("Test", tests["experiment_id"].astype(str).tolist(), key="uplift_test")
variants = load_variants(version, experiment_id)["variant"].astype(str).tolist()
if len(variants) < 2:
    st.info(
        f"Test **{components.plain(experiment_id)}** has one variant only: there is nothing to compare.",
        icon=":material/info:",
    )
    st.stop()
guessed, reason = engine.guess_uplift_control(variants)
control_default = guessed if guessed in variants else variants[-1]
treatments = [v for v in variants if v != control_default] + [control_default]
treatment = top[1].selectbox(
    "Send (treatment)",
    treatments,
    key=f"uplift_treatment_{experiment_id}",
    help="The variant whose effect is modelled.",
)
controls = [v for v in variants if v != treatment]
control = top[2].selectbox(
    "Compared with (control)",
    controls,
    index=controls.index(control_default) if control_default in controls else 0,
    key=f"uplift_control_{experiment_id}_{treatment}",
    help=reason,
)
columns = load_columns(version, experiment_id)
outcomes = engine.uplift_outcomes(state.cursor(), experiment_id, columns)
if not outcomes:
    st.warning(
        f"Test **{components.plain(experiment_id)}** has no 0/1 or numeric outcome column (converted, revenue, a visit or spend "
        "column). Load the test's file with its result columns on the **Data** page.",
        icon=":material/warning:",
    )
    st.stop()
outcome = top[3].selectbox(
    "Outcome",
    outcomes,
    key=f"uplift_outcome_{experiment_id}",
    help="Any 0/1 or numeric column of the test: conversion, a visit, spend.",
)
kind = str(columns.set_index("column").at[outcome, "kind"])
extra = engine.outcome_words(outcome, kind)

suggestion = load_suggestion(version, experiment_id, treatment, control, outcome)
suggested = suggestion.loc[suggestion["use"], "column"].tolist()
with st.expander(
    f"Attributes that tell customers apart: {len(suggested)} suggested of {len(suggestion)} columns",
    icon=":material/tune:",
):
    st.caption(
        "A result of the test (a visit, spend) or anything recorded after the send must not be used: it would "
        "make the model look good and target nobody well. Columns that differ between the arms are left out for "
        "that reason."
    )
    attribute_key = f"uplift_attributes_{experiment_id}_{treatment}_{control}_{outcome}"
    attributes = st.multiselect(
        "Attributes used", suggestion["column"].tolist(), default=suggested, key=attribute_key
    )
    st.dataframe(
        styled_table(
            suggestion,
            headers={
                "column": "Column",
                "source": "From",
                "kind": "Kind",
                "use": "Suggested",
                "smd": "Arms differ by (sd)",
                "reason": "Why",
            },
            kinds={"smd": "ratio"},
        ),
        hide_index=True,
        width="stretch",
    )
learner = st.session_state.get("uplift_learner", engine.DEFAULT_LEARNER)

result = analyse(experiment_id, treatment, control, outcome, attributes, learner)
checks = result.checks

st.subheader("Before modelling: can this test be trusted?")
balance = checks.balance.table
worst = balance["smd"].abs().max() if len(balance) else math.nan
kpi_row(
    [
        Kpi(
            f"Units in {treatment}",
            fmt_int(checks.treated_units),
            f"{checks.treated_with_outcome:,} with {outcome}",
            help=f"At least {checks.min_units_per_arm:,} units per arm and {checks.min_outcomes_per_arm} with a "
            "non-zero outcome are needed.",
            delta_color="off",
        ),
        Kpi(
            f"Units in {control}",
            fmt_int(checks.control_units),
            f"{checks.control_with_outcome:,} with {outcome}",
            help=f"At least {checks.min_units_per_arm:,} units per arm are needed.",
            delta_color="off",
        ),
        Kpi(
            "Split as intended",
            "Yes" if not checks.srm_mismatch else "No",
            f"p = {checks.srm_p_value:.2g}" if not math.isnan(checks.srm_p_value) else None,
            help="Sample-ratio mismatch check (chi-square against an equal split): a p-value under 0.001 means "
            "the arms are not the sizes the assignment intended.",
            delta_color="off",
        ),
        Kpi(
            "Attributes balanced",
            "Yes" if not checks.balance.unbalanced else f"No ({len(checks.balance.unbalanced)})",
            f"largest difference {worst:.2f} sd" if not math.isnan(worst) else None,
            help="Standardised mean difference of each attribute between arms; above 0.1 the arms differ.",
            delta_color="off",
        ),
    ]
)
if len(balance):
    with st.expander("Attribute balance between the arms", icon=":material/balance:"):
        share.chart(cu.balance_chart(balance, checks.balance.limit), balance, "targeting_balance")
for note in result.notes:
    st.caption(note)
if not checks.passed:
    st.warning(checks.message, icon=":material/block:")
    st.stop()

evaluation = result.evaluation
st.subheader(result.headline)
if evaluation.beats_random:
    st.success(result.verdict, icon=":material/target:")
else:
    st.info(result.verdict, icon=":material/info:")
st.markdown(f"**What to do:** {result.recommendation}")

rate = kind == "binary"
first_tenth = evaluation.deciles.iloc[0]
fmt_outcome = (lambda v: fmt_pct(v, 2)) if rate else (lambda v: f"{v:,.3f}")
kpi_row(
    [
        Kpi(
            "Average effect of the send",
            (f"{evaluation.average_uplift * 100:+.2f} pts" if rate else f"{evaluation.average_uplift:+,.3f}"),
            f"{fmt_outcome(evaluation.treated_mean)} vs {fmt_outcome(evaluation.control_mean)}",
            help=f"{outcome} per unit with the send minus without it, over the whole test (95% interval "
            f"{evaluation.average_uplift_low:+.4g} to {evaluation.average_uplift_high:+.4g}).",
            delta_color="off",
        ),
        Kpi(
            "Top tenth vs average",
            f"{evaluation.top_decile_ratio:.2f}x",
            f"{first_tenth['uplift_low'] / evaluation.average_uplift:.2f}x to "
            f"{first_tenth['uplift_high'] / evaluation.average_uplift:.2f}x"
            if evaluation.average_uplift > 0
            else None,
            delta_color="off",
            help="Observed uplift among the 10% with the highest predicted uplift, divided by the average uplift. "
            "Random targeting gives 1.00x.",
        ),
        Kpi(
            f"Top {evaluation.top_share:.0%} keeps",
            fmt_pct(evaluation.kept_share, 0),
            f"{fmt_pct(evaluation.kept_low, 0)} to {fmt_pct(evaluation.kept_high, 0)}",
            help=f"Share of all the {extra} that sending only to the top {evaluation.top_share:.0%} keeps, with "
            f"its 95% interval. Random targeting keeps {evaluation.top_share:.0%}.",
            delta_color="off",
        ),
        Kpi(
            "Better than random?",
            "Yes" if evaluation.beats_random else "No",
            "Qini {} ({} to {})".format(
                *components.fmt_small(evaluation.qini_coefficient, evaluation.qini_low, evaluation.qini_high)
            ),
            help="Qini coefficient: the area between the Qini curve and random targeting, per unit, with a 95% "
            f"bootstrap interval (units resampled within each arm). AUUC {evaluation.auuc:.4g} against "
            f"{evaluation.auuc_random:.4g} at random.",
            delta_color="off",
        ),
    ]
)

curve_tab, decile_tab, qini_tab = st.tabs(["Extra outcomes", "By tenth of the list", "Qini curve"])
share_pct = st.session_state.get("uplift_share", int(evaluation.top_share * 100))
with curve_tab:
    share.chart(cu.gain_curve(evaluation.curve, extra, share_pct / 100), evaluation.curve, "targeting_gain")
with decile_tab:
    share.chart(
        cu.decile_bars(evaluation.deciles, evaluation.average_uplift, outcome, rate),
        evaluation.deciles,
        "targeting_deciles",
    )
    st.dataframe(
        styled_table(
            evaluation.deciles,
            headers={
                "decile": "Tenth",
                "treated_mean": f"{outcome} with send",
                "control_mean": f"{outcome} without",
                "uplift": "Uplift",
                "uplift_low": "Low",
                "uplift_high": "High",
                "predicted": "Predicted uplift",
                "vs_average": "x average",
            },
            kinds={
                "units": "count",
                "treated": "count",
                "control": "count",
                "treated_mean": "pct2" if rate else "ratio",
                "control_mean": "pct2" if rate else "ratio",
                "uplift": "pts" if rate else "ratio",
                "uplift_low": "pts" if rate else "ratio",
                "uplift_high": "pts" if rate else "ratio",
                "predicted": "pts" if rate else "ratio",
                "vs_average": "ratio",
            },
        ),
        hide_index=True,
        width="stretch",
    )
with qini_tab:
    share.chart(cu.qini_curve(evaluation.curve), evaluation.curve, "targeting_qini")
    st.caption(
        "The Qini curve counts treated outcomes minus control outcomes scaled to the same number of treated "
        "units, down the list. Above the dashed line, the ranking finds responders better than chance."
    )

st.subheader("How far down the list?")
left, right = st.columns([1, 2])
with left:
    share_pct = st.slider(
        "Share of the list to send to",
        min_value=1,
        max_value=100,
        value=int(evaluation.top_share * 100),
        step=1,
        format="%d%%",
        key="uplift_share",
    )
    cost = st.number_input(
        f"Cost per send ({engine.currency().strip()})", min_value=0.0, value=0.0, step=0.01, key="uplift_cost"
    )
    event = engine.outcome_event(outcome, kind)
    value = st.number_input(
        f"Value of one {event} ({engine.currency().strip()})",
        min_value=0.0,
        value=0.0,
        step=0.5,
        key="uplift_value",
        help="Left at 0 the page counts outcomes and sends; give it a value to see profit.",
    )
plan = engine.targeting_plan(result, share_pct / 100, cost, value)
total_units = int(evaluation.curve["units"].iloc[-1])
# No value per outcome yet: a profit from a made-up price would mislead, so count outcomes and sends instead.
priced = value > 0
with right:
    counts = [
        Kpi("Sent to", fmt_int(plan.sent), f"{plan.share:.0%} of {total_units:,}", delta_color="off"),
        Kpi(
            extra.capitalize(),
            f"{plan.incremental:,.1f}",
            f"{plan.incremental_low:,.1f} to {plan.incremental_high:,.1f}",
            help="Measured on the test's held-out units: observed uplift among the units sent to, times their number.",
            delta_color="off",
        ),
    ]
    if priced:
        kpi_row(
            counts
            + [
                Kpi("Cost", fmt_money(plan.cost), delta_color="off"),
                Kpi(
                    "Profit",
                    fmt_money(plan.profit),
                    f"{fmt_money(plan.profit - plan.everyone_profit)} vs all",
                    help="Value of the extra outcomes minus the cost of the sends. Sending to no one makes 0.",
                ),
            ]
        )
        curve = engine.profit_curve(result, cost, value)
        share.chart(cu.profit_chart(curve, plan.share, plan.best_share), curve, "targeting_profit")
        if evaluation.beats_random or evaluation.top_decile_beats_average:
            st.caption(
                f"Most profit at the top {plan.best_share:.0%} ({fmt_money(plan.best_profit)}); sending to "
                f"everyone makes {fmt_money(plan.everyone_profit)}. The curve is measured on this test, so its "
                "small steps are noise: prefer round shares."
            )
        else:
            choice = "everyone" if plan.everyone_profit > 0 else "no one"
            st.caption(
                f"Targeting does not beat random here, so the peaks of this curve are noise: the choice is "
                f"between everyone ({fmt_money(plan.everyone_profit)}) and no one ({fmt_money(0)}). At these prices: "
                f"**{choice}**."
            )
    else:
        everyone = float(evaluation.curve["incremental"].iloc[-1])
        kpi_row(
            counts
            + [
                Kpi(
                    f"{extra.capitalize()} if sent to all",
                    f"{everyone:,.1f}",
                    f"{total_units - plan.sent:,} fewer sends" if plan.sent < total_units else None,
                    help="The same count when every unit is sent to: what the shorter list gives up, and what "
                    "it saves in sends.",
                    delta_color="off",
                ),
            ]
        )
        st.info(
            f"Set the value of a {event} to see profit: until then the page counts {extra} and sends "
            "rather than price them.",
            icon=":material/payments:",
        )

st.subheader("The list")
ranked = load_list(version, engine.result_key(result.params), result)
chosen = ranked.head(plan.sent)
id_label = "customer_id" if "customer_id" in ranked.columns else "row"
st.caption(
    f"{len(chosen):,} of {len(ranked):,} units, highest predicted uplift first. "
    + (
        "`row` is the row's number in the loaded file (1 = the first row after the header)."
        if "row" in ranked.columns
        else ""
    )
)
st.dataframe(chosen.head(200), hide_index=True, width="stretch")
components.csv_download(
    chosen,
    f"targets_{experiment_id}_{treatment}_{outcome}_top{share_pct}",
    f"Download the top {share_pct}% ({len(chosen):,} rows)",
    key="uplift_download_top",
)

st.subheader("What sets the top of the list apart")
if result.profiles.empty:
    st.caption("No attribute differs between the top and the bottom of the list.")
else:
    share.chart(cu.profile_chart(result.profiles), result.profiles, "targeting_profile")
    st.caption(
        "Mean (or share) of the attributes that differ most between the first and the last tenth, by tenth of "
        "the list. These describe who responds; they are not the model's internals."
    )

with st.expander("How sure is this? Models compared", icon=":material/science:"):
    st.caption(
        f"Three ways of modelling uplift, each scored out of fold ({result.folds}-fold cross-fitting: every unit "
        "is scored by models that never saw it). The chosen one feeds the page and the list."
    )
    st.dataframe(
        styled_table(
            result.learners.drop(columns=["learner"]),
            headers={
                "label": "Model",
                "chosen": "Shown",
                "qini_coefficient": "Qini",
                "qini_low": "Low",
                "qini_high": "High",
                "top_decile_ratio": "Top tenth x avg",
                "top_share_ratio": f"Top {evaluation.top_share:.0%} x avg",
                "kept_share": f"Top {evaluation.top_share:.0%} keeps",
            },
            kinds={
                "qini_coefficient": "ratio",
                "qini_low": "ratio",
                "qini_high": "ratio",
                "top_decile_ratio": "ratio",
                "top_share_ratio": "ratio",
                "kept_share": "pct1",
            },
        ),
        hide_index=True,
        width="stretch",
    )
    st.radio(
        "Model to use",
        list(engine.LEARNERS),
        format_func=engine.LEARNERS.get,
        key="uplift_learner",
        horizontal=True,
    )
    st.caption(f"Fitted in {result.fit_seconds:.1f} s; stored for this data version.")

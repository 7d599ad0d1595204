"""Personas: one card per RFM segment or cluster with the evidence behind every claim and an action."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
import streamlit as st

import engine
from dashboard import components, segment_builder, share, state, words
from dashboard.charts import color_map
from dashboard.charts import segments as charts_segments
from dashboard.components import fmt_int, fmt_money, fmt_money_short, fmt_pct

KIND_LABELS = {"attribute": "Attributes", "category": "Categories", "product": "Products"}


@st.cache_data(show_spinner=False, max_entries=16)
def load_guests(version: int, as_of: dt.date):
    """Guest orders up to the as-of date: counted in revenue, left out of customer analyses."""
    return engine.guest_orders(state.cursor(), None, as_of)


@st.cache_data(show_spinner=False, max_entries=16)
def load_cards(version: int, by: str, as_of: dt.date, params: engine.ClusterParams):
    return engine.persona_cards(
        state.cursor(), by=by, as_of=as_of, cluster_params=params if by == "cluster" else None
    )


@st.cache_data(show_spinner=False, max_entries=8)
def load_segment_value(version: int, as_of: dt.date) -> pd.DataFrame:
    """Predicted value and churn risk per RFM segment (the Predict page's model), keyed like persona groups."""
    prediction = engine.predict_customers(state.cursor(), as_of)
    if not prediction.checks.passed:
        raise engine.InsufficientDataError(" ".join(prediction.checks.messages))
    value = engine.segment_value(state.cursor(), prediction)
    return value.rename(columns={"segment": "group"})[
        ["group", "clv_per_customer", "churn_risk", "share_at_risk"]
    ]


def fit_clusters(as_of: dt.date, params: engine.ClusterParams) -> None:
    """Make sure the clusters exist (the engine stores them), with a progress bar only while fitting."""
    box = st.empty()
    widgets: dict = {}

    def progress(fraction: float, message: str) -> None:
        if "bar" not in widgets:
            widgets["bar"] = box.progress(0.0, text="Finding customer clusters ...")
        widgets["bar"].progress(min(max(fraction, 0.0), 1.0), text=message)

    engine.fit_clusters(state.cursor(), params, as_of, progress=progress)
    box.empty()


YES_NO = {"true": "yes", "false": "no"}


def trait_in_words(kind: str, column: str, value: str, is_range: bool) -> str:
    """A trait in words: an attribute ``loyalty_member`` = ``true`` -> ``Loyalty member: yes``, a range of
    ``age`` -> ``Age 18-29``; a category or product is its own name."""
    if kind != "attribute":
        return str(value)
    name = str(column).replace("_", " ").capitalize()
    if is_range:
        return f"{name} {value}"
    return f"{name}: {YES_NO.get(str(value).lower(), value)}"


def description_in_words(card: engine.PersonaCard) -> str:
    """The card's summary and the traits it stands out for, worded as in the trait lists."""
    if not card.standouts:
        return card.summary
    named = ", ".join(
        f"{trait_in_words(s.kind, s.column, s.value, s.is_range)} ({s.lift:.1f}x)" for s in card.standouts
    )
    return f"{card.summary} Stand out for {named}."


def trait_lines(card: engine.PersonaCard, kind: str, top: int = 3) -> list[str]:
    rows = card.top(kind, top)
    return [
        f"**{components.plain(trait_in_words(r.kind, r.column, r.value, r.is_range))}**: {_share(r.group_share)} vs "
        f"{_share(r.overall_share)} of all ({r.lift:.1f}x)"
        for r in rows.itertuples()
    ]


def _share(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def render_card(card: engine.PersonaCard, colour: str, by: str = "segment") -> None:
    with st.container(border=True):
        st.markdown(
            # the group name may come from the data: escaped, since this markdown allows HTML
            f"<span style='color:{html.escape(colour)};font-size:1.4rem'>&#9632;</span> "
            f"**{html.escape(card.group)}**",
            unsafe_allow_html=True,
        )
        a, b = st.columns(2)
        a.metric(
            "Customers",
            fmt_int(card.customers),
            f"{fmt_pct(card.customer_share)} of all",
            delta_color="off",
            delta_arrow="off",
        )
        b.metric(
            "Revenue",
            fmt_money_short(card.revenue),
            None if card.revenue_share is None else f"{fmt_pct(card.revenue_share)} of all",
            delta_color="off",
            delta_arrow="off",
        )
        if card.median_recency_days is not None:
            st.caption(
                f"Medians, each on its own: last order {card.median_recency_days:,.0f} days ago · "
                f"{card.median_frequency:,.0f} {'order' if card.median_frequency == 1 else 'orders'} · "
                f"{fmt_money(card.median_monetary)} spent in all · {fmt_money(card.median_aov)} per order"
            )
        else:
            st.caption("No purchase up to the as-of date.")
        st.markdown(description_in_words(card))
        st.success(f"**{card.action}**: {card.action_detail}", icon=":material/lightbulb:")
        if card.stability is not None:
            badge, meaning = engine.stability_badge(card.stability)
            st.caption(
                f":material/verified: Cluster {words.label('stability').lower()}: **{badge}** "
                f"({card.stability:.2f}). {meaning}.",
                help=words.explain("stability"),
            )
        shown = False
        for kind in ("attribute", "category", "product"):
            lines = trait_lines(card, kind)
            if lines:
                shown = True
                st.markdown(
                    f"**{KIND_LABELS[kind]} that stand out**\n\n" + "\n".join(f"- {x}" for x in lines)
                )
        if card.evidence_note:
            st.caption(f":material/info: {card.evidence_note}")
        elif not shown:
            st.caption(":material/info: No trait stands out with confidence.")
        field = "cluster_name" if by == "cluster" else "segment"
        if st.button("See these customers", key=f"persona_open_{by}_{card.group}", icon=":material/group:"):
            segment_builder.send_to_builder(
                {"conditions": [{"field": field, "op": "in", "value": [card.group]}]}
            )


st.title("Personas")
st.caption(
    "Who each group is, what sets it apart, and what to do next. A trait is shown only when it is "
    f"{words.label('hypergeometric')} ({words.label('benjamini_hochberg')}), held by at least "
    f"{engine.MIN_TRAIT_CUSTOMERS} customers and {engine.MIN_LIFT}x as common as in everyone; groups under "
    f"{engine.MIN_GROUP} customers get facts only.",
    help=f"{words.explain('hypergeometric')} {words.explain('benjamini_hochberg', f'q < {engine.ALPHA}.')}",
)
version = state.data_version()
counts = state.table_counts(version)
if counts["orders"] == 0 and counts["customers"] == 0:
    components.no_data("customers or orders", "orders")
    st.stop()

as_of = state.default_as_of(version)
settings = state.cluster_params()  # chosen on the Segments page

left, right = st.columns([1, 2])
with left:
    by = (
        st.segmented_control(
            "Cards per",
            ["segment", "cluster"],
            default="segment",
            format_func={"segment": "RFM segment", "cluster": "Cluster"}.get,
            key="personas_by",
        )
        or "segment"
    )
with right:
    note = f"As of {as_of:%b %d, %Y} (end of the sidebar date range)."
    if by == "cluster":
        k_text = "automatic k" if settings.k == "auto" else f"k = {settings.k}"
        attrs = ", attributes " + ", ".join(settings.attributes) if settings.attributes else ""
        note += f" Clusters: {k_text}{attrs} (change them on the Segments page)."
    st.caption(note)

components.guest_caption(load_guests(version, as_of))

try:
    if by == "cluster":
        fit_clusters(as_of, settings)
    cards = load_cards(version, by, as_of, settings)
except engine.EngineError as error:
    components.show_error(error)
    st.stop()

if not cards:
    components.no_data("customers", "customers or orders")
    st.stop()

names = [c.group for c in cards]
colours = color_map(names)
chosen = st.multiselect(
    "Compare", names, default=names, key=f"personas_chosen_{by}", help="Pick the groups to show side by side."
)
shown = [c for c in cards if c.group in chosen]
per_row = 3
for start in range(0, len(shown), per_row):
    columns = st.columns(per_row)
    for column, card in zip(columns, shown[start : start + per_row], strict=False):
        with column:
            render_card(card, colours[card.group], by)

if shown:
    st.subheader("Side by side")
    table = engine.persona_table(shown)
    share.chart(
        charts_segments.share_bars(table, label="group"),
        table,
        "personas_share",
        f"Customers measured at {as_of:%b %d, %Y}",
        engine.segment_share_takeaway(table, label="group"),
    )
    if by == "segment" and st.toggle(
        "Add predicted value and churn risk",
        key="personas_predictions",
        help="Per segment: predicted value over the next 365 days per customer (CLV), the mean churn risk and "
        "the share at risk or lost, from the Predict page's model.",
    ):
        try:
            table = table.merge(load_segment_value(version, as_of), on="group", how="left")
        except engine.EngineError as error:
            components.show_error(error)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        placeholder="n/a",
        column_config={
            "group": "Group",
            "customers": st.column_config.NumberColumn("Customers", format="localized"),
            "customer_share": st.column_config.NumberColumn("Share of customers", format="percent"),
            "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
            "revenue_share": st.column_config.NumberColumn("Share of revenue", format="percent"),
            "median_recency_days": st.column_config.NumberColumn("Median days since order", format="%.0f"),
            "median_frequency": st.column_config.NumberColumn("Median orders", format="%.1f"),
            "median_monetary": st.column_config.NumberColumn("Median spend", format="dollar"),
            "median_aov": st.column_config.NumberColumn("Median order value", format="dollar"),
            "stability": st.column_config.NumberColumn(
                words.label("stability"), format="%.2f", help=words.explain("stability")
            ),
            "clv_per_customer": st.column_config.NumberColumn(
                "Predicted value per customer", format="dollar"
            ),
            "churn_risk": st.column_config.NumberColumn("Mean churn risk", format="percent"),
            "share_at_risk": st.column_config.NumberColumn("At risk or lost", format="percent"),
        },
    )
    components.csv_download(
        table, f"personas_by_{by}_{as_of}.csv", "Download persona table", key="dl_persona_table"
    )

    with st.expander("Evidence: every trait tested for one group", icon=":material/fact_check:"):
        pick = st.selectbox("Group", [c.group for c in shown], key="personas_evidence_group")
        card = next(c for c in shown if c.group == pick)
        evidence = card.traits.copy()
        evidence["trait"] = [
            trait_in_words(r.kind, r.column, r.value, r.is_range) for r in evidence.itertuples()
        ]
        evidence = evidence.drop(columns=["column", "value", "is_range"])
        if evidence.empty:
            st.info(card.evidence_note or "Nothing was tested for this group.", icon=":material/info:")
        else:
            st.dataframe(
                evidence,
                hide_index=True,
                width="stretch",
                column_config={
                    "kind": "Kind",
                    "trait": "Trait",
                    "group_customers": st.column_config.NumberColumn(
                        "Customers in group", format="localized"
                    ),
                    "significant": "Stands out",
                    "group_share": st.column_config.NumberColumn("Share in group", format="percent"),
                    "overall_share": st.column_config.NumberColumn("Share overall", format="percent"),
                    "lift": st.column_config.NumberColumn("Lift", format="%.2f"),
                    "p_value": st.column_config.NumberColumn("p", format="%.2g"),
                    "q_value": st.column_config.NumberColumn("q (BH)", format="%.2g"),
                },
            )
            components.csv_download(
                pd.DataFrame(evidence),
                f"persona_evidence_{pick}_{as_of}.csv",
                "Download evidence",
                key="dl_persona_evidence",
            )

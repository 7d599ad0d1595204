"""Segment builder: pick customers by anything Segmint knows about them, see how many and who, save the
segment and download audience files for Meta, Google and a CRM."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import streamlit as st

import engine
from dashboard import auth, checks, components, segment_builder, state
from dashboard.components import Kpi, fmt_int, fmt_money_short, fmt_pct


@st.cache_data(show_spinner=False, max_entries=16)
def load_context(
    version: int, as_of: dt.date, params: engine.ClusterParams, sources: tuple
) -> engine.AudienceContext:
    """The fields at ``as_of``; ``sources`` (the stored cluster and prediction tables) is in the key, so
    clusters fitted or predictions made since the last run show up as fields."""
    return engine.audience_context(state.cursor(), as_of, params)


@st.cache_data(show_spinner=False, max_entries=64)
def load_values(version: int, context: engine.AudienceContext, field: str) -> list[str]:
    return engine.field_values(state.cursor(), context, field)


@st.cache_data(show_spinner=False, max_entries=64)
def load_summary(version: int, context: engine.AudienceContext, text: str) -> engine.AudienceSummary:
    return engine.audience_summary(state.cursor(), text, context)


@st.cache_data(show_spinner=False, max_entries=16)
def load_members(version: int, context: engine.AudienceContext, text: str, limit: int | None) -> pd.DataFrame:
    return engine.audience_members(state.cursor(), text, context, limit)


@st.cache_data(show_spinner=False, max_entries=16)
def load_guests(version: int, as_of: dt.date) -> engine.GuestOrders:
    """Guest orders up to the as-of date: counted in revenue, left out of customer analyses."""
    return engine.guest_orders(state.cursor(), None, as_of)


def load_saved(version: int) -> pd.DataFrame:
    """Saved segments are read fresh on every run: a colleague may have saved one a moment ago."""
    return engine.list_saved(state.cursor(), engine.SAVED_SEGMENT)


st.title("Segment builder")
st.caption(
    "Pick customers by anything Segmint knows about them, see who they are, save the segment and download "
    "files for your ad platforms and e-mail tool."
)
version = state.data_version()
counts = state.table_counts(version)
if counts["orders"] == 0 and counts["customers"] == 0:
    components.no_data("customers or orders", "orders")
    st.stop()
checks.show_id_warnings(version, ("orders", "customers", "products"))

bounds = state.order_date_bounds(version)
as_of = st.date_input(
    "Measure as of",
    value=state.default_as_of(version),
    min_value=bounds[0] if bounds else None,
    max_value=bounds[1] if bounds else None,
    key="builder_as_of",
    help="Recency, orders and spend count up to this date, as on the Segments page.",
)
params = state.cluster_params()
context = load_context(version, as_of, params, engine.joined_sources(state.cursor(), as_of, params))
fields = context.fields
saved = load_saved(version)

segment_builder.take_pending()  # a definition sent by a chart click, a saved segment or a link
start_options = ["", *engine.segment_order(), *[f"Saved: {n}" for n in saved["name"]]]
left, right = st.columns([2, 1])
start = left.selectbox(
    "Start from",
    start_options,
    format_func=lambda o: o or "Choose an RFM segment or a saved segment ...",
    key="builder_start",
    help="Fills in the conditions; change them freely afterwards.",
)
if start and st.session_state.get("builder_started_from") != start:
    st.session_state["builder_started_from"] = start
    if start.startswith("Saved: "):
        chosen = saved.loc[saved["name"] == start.removeprefix("Saved: "), "definition"]
        if len(chosen):
            segment_builder.load_definition(chosen.iloc[0])
    else:
        segment_builder.load_definition(engine.segment_definition([start]))
    st.rerun()
right.button(
    "Clear all conditions",
    icon=":material/restart_alt:",
    key="builder_clear",
    on_click=segment_builder.load_definition,
    args=({"match": "all", "conditions": []},),
)

definition = segment_builder.conditions_editor(fields, lambda field: load_values(version, context, field))
text = json.dumps(definition, sort_keys=True)
try:
    summary = load_summary(version, context, text)
except engine.EngineError as error:
    components.show_error(error)
    st.stop()

st.markdown(f"**Who:** {segment_builder.plain_markdown(engine.describe_definition(definition, context))}")
components.kpi_row(
    [
        Kpi("Customers", fmt_int(summary.members), help=f"Of {summary.customers:,} customers in all."),
        Kpi("Share of customers", fmt_pct(summary.customer_share)),
        Kpi("Their net spend", fmt_money_short(summary.revenue), help="Net revenue up to the as-of date."),
        Kpi(
            "Share of customer revenue",
            fmt_pct(summary.revenue_share),
            help="Their net revenue as a share of all customers' net revenue up to the as-of date. Guest "
            "orders (no customer id) count in the Overview's revenue but belong to no customer, so they are "
            "not in this share.",
        ),
    ]
)
components.guest_caption(load_guests(version, as_of))

tab_members, tab_files, tab_saved = st.tabs(
    [":material/table: Members", ":material/ios_share: Audience files", ":material/bookmark: Saved segments"],
    key="builder_tab",
    on_change="rerun",
)
with tab_members:
    if tab_members.open:
        preview = load_members(version, context, text, segment_builder.PREVIEW_ROWS)
        st.dataframe(
            preview, hide_index=True, width="stretch", column_config=segment_builder.member_columns(preview)
        )
        if summary.members > len(preview):
            st.caption(
                f"The first {len(preview):,} of {summary.members:,} customers; the download has them all."
            )
        if summary.members:
            components.csv_download(
                load_members(version, context, text, None),
                "segment_members.csv",
                f"Download {summary.members:,} members",
                key="dl_builder_members",
            )
with tab_files:
    if tab_files.open:
        segment_builder.audience_downloads(load_members(version, context, text, None), start)
with tab_saved:
    if tab_saved.open:
        segment_builder.saved_segments(saved, definition, context, auth.can("save_views"))

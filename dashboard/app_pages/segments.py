"""Segments: who the best customers are, who is slipping away, clusters, migration and member exports."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

import engine
from dashboard import checks, components, segment_builder, share, state, words
from dashboard.charts import segments as charts_segments
from dashboard.components import Kpi, fmt_pct

SLIPPING = ["About to Sleep", "At Risk", "Cannot Lose Them"]
BEST = ["Champions", "Loyal"]


@st.cache_data(show_spinner=False, max_entries=16)
def load_guests(version: int, as_of: dt.date):
    """Guest orders up to the as-of date: counted in revenue, left out of customer analyses."""
    return engine.guest_orders(state.cursor(), None, as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def load_summary(version: int, as_of: dt.date) -> pd.DataFrame:
    return engine.segment_summary(state.cursor(), as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def load_grid(version: int, as_of: dt.date, y: str) -> pd.DataFrame:
    return engine.score_grid(state.cursor(), as_of, y=y)


@st.cache_data(show_spinner=False, max_entries=32)
def load_empty_notes(version: int, as_of: dt.date, y: str) -> list[str]:
    return engine.empty_score_notes(state.cursor(), as_of, y=y)


@st.cache_data(show_spinner=False, max_entries=16)
def load_members(version: int, as_of: dt.date, chosen: tuple[str, ...]) -> pd.DataFrame:
    return engine.segment_members(state.cursor(), list(chosen), as_of)


@st.cache_data(show_spinner=False, max_entries=8)
def load_summary_with_value(version: int, as_of: dt.date) -> pd.DataFrame:
    """The segment table with each segment's predicted value and churn risk (the Predict page's model)."""
    prediction = engine.predict_customers(state.cursor(), as_of)
    if not prediction.checks.passed:
        raise engine.InsufficientDataError(" ".join(prediction.checks.messages))
    value = engine.segment_value(state.cursor(), prediction)
    added = ["clv", "clv_per_customer", "churn_risk", "share_at_risk"]
    summary = engine.segment_summary(state.cursor(), as_of).merge(
        value[["segment", *added]], on="segment", how="left"
    )
    # beside revenue, where the eye compares past and future value (the description stays last)
    order = [c for c in summary.columns if c not in added]
    cut = order.index("revenue_share") + 1 if "revenue_share" in order else len(order)
    return summary[order[:cut] + added + order[cut:]]


@st.cache_data(show_spinner=False, max_entries=8)
def load_predicted_members(version: int, as_of: dt.date, chosen: tuple[str, ...]) -> pd.DataFrame:
    """Members with their predicted value and churn risk (the Predict page's default horizon)."""
    prediction = engine.predict_customers(state.cursor(), as_of)
    if not prediction.checks.passed:
        raise engine.InsufficientDataError(" ".join(prediction.checks.messages))
    members = engine.segment_members(state.cursor(), list(chosen), as_of)
    return engine.with_predictions(state.cursor(), members, prediction)


@st.cache_data(show_spinner=False, max_entries=16)
def load_migration(version: int, as_of: dt.date, earlier: dt.date) -> pd.DataFrame:
    return engine.segment_migration(state.cursor(), as_of, earlier)


def fit_clusters(as_of: dt.date, params: engine.ClusterParams):
    """The fitted clusterer. The engine stores it per data version and parameters, so a rerun only reads
    it back; a progress bar appears only while it is really being computed."""
    box = st.empty()
    widgets: dict = {}

    def progress(fraction: float, message: str) -> None:
        if "bar" not in widgets:
            widgets["bar"] = box.progress(0.0, text="Finding customer clusters ...")
        widgets["bar"].progress(min(max(fraction, 0.0), 1.0), text=message)

    model = engine.fit_clusters(state.cursor(), params, as_of, progress=progress)
    box.empty()
    return model


@st.cache_data(show_spinner=False, max_entries=8)
def load_points(version: int, as_of: dt.date, params: engine.ClusterParams) -> pd.DataFrame:
    model = engine.fit_clusters(state.cursor(), params, as_of)
    return engine.cluster_points(state.cursor(), model, as_of)


@st.cache_data(show_spinner=False, max_entries=8)
def load_attributes(version: int) -> pd.DataFrame:
    return engine.customer_attributes(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_cluster_members(version: int, as_of: dt.date, params: engine.ClusterParams) -> pd.DataFrame:
    return engine.cluster_members(state.cursor(), params, as_of)


# Readable headers for member tables; customer attributes not listed here get their column name in words.
MEMBER_LABELS: dict[str, str] = {
    "customer_id": "Customer",
    "segment": "Segment",
    "cluster": "Cluster",
    "cluster_name": "Cluster name",
    "recency_days": "Days since last order",
    "frequency": "Orders",
    "r_score": "Recency score",
    "f_score": "Frequency score",
    "m_score": "Monetary score",
    "fm_score": "FM score",
    "tenure_days": "Days since first order",
}


def member_columns(frame: pd.DataFrame) -> dict:
    """Column config for a member table: words instead of column names, money as dollars, dates as dates."""
    config: dict = {}
    for column in frame.columns:
        label = MEMBER_LABELS.get(column, str(column).replace("_", " ").capitalize())
        if column == "monetary":
            config[column] = st.column_config.NumberColumn("Net spend", format="dollar")
        elif column == "aov":
            config[column] = st.column_config.NumberColumn("Average order value", format="dollar")
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            config[column] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD")
        else:
            config[column] = label
    return config


def segment_table(summary: pd.DataFrame) -> None:
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        height=35 * (len(summary) + 1) + 3,
        placeholder="n/a",
        column_config={
            "segment": st.column_config.TextColumn("Segment"),
            "customers": st.column_config.NumberColumn("Customers", format="localized"),
            "customer_share": st.column_config.ProgressColumn(
                "Share of customers", format="percent", min_value=0.0, max_value=1.0
            ),
            "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
            "revenue_share": st.column_config.ProgressColumn(
                "Share of revenue", format="percent", min_value=0.0, max_value=1.0
            ),
            "median_recency_days": st.column_config.NumberColumn("Median days since order", format="%.0f"),
            "median_frequency": st.column_config.NumberColumn("Median orders", format="%.1f"),
            "median_monetary": st.column_config.NumberColumn("Median spend", format="dollar"),
            "median_aov": st.column_config.NumberColumn("Median order value", format="dollar"),
            "avg_monetary": st.column_config.NumberColumn("Average spend", format="dollar"),
            "description": st.column_config.TextColumn("Who they are", width="large"),
            "clv": st.column_config.NumberColumn("Predicted value (CLV)", format="dollar"),
            "clv_per_customer": st.column_config.NumberColumn("CLV per customer", format="dollar"),
            "churn_risk": st.column_config.NumberColumn("Mean churn risk", format="percent"),
            "share_at_risk": st.column_config.ProgressColumn(
                "At risk or lost", format="percent", min_value=0.0, max_value=1.0
            ),
        },
    )


st.title("Segments")
st.caption("Who are your best customers, who is slipping away, and who moved where.")
version = state.data_version()
counts = state.table_counts(version)
if counts["orders"] == 0 and counts["customers"] == 0:
    components.no_data("customers or orders", "orders")
    st.stop()

bounds = state.order_date_bounds(version)
default_as_of = state.default_as_of(version)
as_of = st.date_input(
    "Measure as of",
    value=default_as_of,
    min_value=bounds[0] if bounds else None,
    max_value=bounds[1] if bounds else None,
    key="segments_as_of",
    help="Recency counts days up to this date; orders after it are ignored. Default: the last order date "
    "(or the end of the sidebar date range).",
)

components.guest_caption(load_guests(version, as_of))
checks.show_id_warnings(version, ("orders", "customers"))

try:
    summary = load_summary(version, as_of)
except engine.EngineError as error:
    components.show_error(error)
    st.stop()

by_segment = summary.set_index("segment")
total_customers = int(summary["customers"].sum())
buyers = int(summary.loc[summary["segment"] != engine.NO_PURCHASES, "customers"].sum())
best = summary[summary["segment"].isin(BEST)]
slipping = summary[summary["segment"].isin(SLIPPING)]
components.kpi_row(
    [
        Kpi(
            "Buyers",
            engine.compact_number(buyers),
            help=f"Customers with a purchase up to the as-of date, of {total_customers:,} customers in all.",
        ),
        Kpi("Best customers", engine.compact_number(best["customers"].sum()), help="Champions and Loyal."),
        Kpi(
            "Revenue from best",
            fmt_pct(best["revenue_share"].sum()),
            help="Share of all net revenue that Champions and Loyal customers brought.",
        ),
        Kpi(
            "Slipping away",
            engine.compact_number(slipping["customers"].sum()),
            help="About to Sleep, At Risk and Cannot Lose Them: valuable before, quiet lately.",
        ),
        Kpi(
            "Their past spend",
            engine.compact_number(slipping["revenue"].sum(), money=True),
            help="Net revenue the customers slipping away have brought so far: what is at stake.",
        ),
    ]
)

# controls inside the tabs below keep their values while their tab is closed (the cluster settings live in
# state.cluster_params(); dates and segment choices depend on the data and start afresh)
components.keep_state(
    segments_treemap_size="customers", segments_heatmap_axis="f_score", segments_scatter_colour="cluster_name"
)
tab_rfm, tab_clusters, tab_migration, tab_export = st.tabs(
    [
        ":material/grid_view: RFM segments",
        ":material/scatter_plot: Clusters",
        ":material/swap_horiz: Migration",
        ":material/download: Export members",
    ],
    key="seg_tab",
    on_change="rerun",
)

with tab_rfm:
    if tab_rfm.open:
        if buyers == 0:
            st.info(
                "No purchases up to this date, so every customer is in **No purchases**. Load orders on the "
                "**Data** page.",
                icon=":material/info:",
            )
        shown = summary
        if st.toggle(
            "Add predicted value and churn risk",
            key="segments_summary_predictions",
            help="Per segment: predicted value over the next 365 days (CLV) in all and per customer, the mean "
            "churn risk and the share at risk or lost, from the Predict page's model.",
        ):
            try:
                shown = load_summary_with_value(version, as_of)
            except engine.EngineError as error:
                components.show_error(error)
        segment_table(shown)
        components.csv_download(
            shown, f"segments_{as_of}.csv", "Download segment table", key="dl_segment_table"
        )
        left, right = st.columns(2)
        with left:
            size = (
                st.segmented_control(
                    "Size the treemap by",
                    ["customers", "revenue"],
                    format_func=str.capitalize,
                    key="segments_treemap_size",
                )
                or "customers"
            )
            share.chart(
                charts_segments.segment_treemap(summary, size),
                summary,
                "segments_treemap",
                f"Customers measured at {as_of:%b %d, %Y}",
            )
        with right:
            clicked = share.chart(
                charts_segments.share_bars(summary),
                summary,
                "segments_share",
                f"Customers measured at {as_of:%b %d, %Y}",
                engine.segment_share_takeaway(summary),
                chart_key="segments_share_bars",
                on_select="rerun",
                selection_mode="points",
            )
        picked = segment_builder.clicked_segment(clicked, list(summary["segment"]))
        segment_builder.note_click(  # a click shows the customers behind the bar
            "bars", {"title": picked, "definition": engine.segment_definition([picked])} if picked else None
        )
        axis = (
            st.segmented_control(
                "Heatmap columns",
                ["f_score", "m_score", "fm_score"],
                format_func={
                    "f_score": "Frequency",
                    "m_score": "Monetary",
                    "fm_score": "FM (segments use this)",
                }.get,
                key="segments_heatmap_axis",
            )
            or "f_score"
        )
        grid = load_grid(version, as_of, axis)
        cell = segment_builder.clicked_cell(
            share.chart(
                segment_builder.clickable_cells(charts_segments.score_heatmap(grid, axis), grid, axis),
                grid,
                "segments_grid",
                f"Customers measured at {as_of:%b %d, %Y}",
                chart_key=f"segments_heatmap_{axis}",
                on_select="rerun",
                selection_mode="points",
            )
        )
        empty_notes = load_empty_notes(version, as_of, axis) if grid["customers"].sum() else []
        if empty_notes:  # an empty row or column is the tie rule at work, not missing data
            st.caption(":material/info: " + " ".join(components.plain(n) for n in empty_notes))
        segment_builder.note_click("heatmap", segment_builder.cell_drill(cell, axis) if cell else None)
        segment_builder.drill_down(version, as_of)
        components.csv_download(grid, f"rfm_grid_{axis}_{as_of}.csv", "Download heatmap cells", key="dl_grid")
        with st.expander("How scores and segments are defined", icon=":material/rule:"):
            st.markdown(engine.SCORE_RULE)
            st.markdown("Rules, first match wins (scores are inclusive ranges):")
            st.dataframe(
                engine.SEGMENT_RULES,
                hide_index=True,
                width="stretch",
                height=35 * (len(engine.SEGMENT_RULES) + 1) + 3,
                column_config={
                    "segment": "Segment",
                    "r_min": "Recency score from",
                    "r_max": "Recency score to",
                    "fm_min": "FM score from",
                    "fm_max": "FM score to",
                    "description": st.column_config.TextColumn("Who they are", width="large"),
                },
            )
            components.csv_download(
                engine.SEGMENT_RULES, "segment_rules.csv", "Download rules", key="dl_rules"
            )
            layout = engine.rule_grid().pivot(index="r_score", columns="fm_score", values="segment")
            layout = layout.sort_index(ascending=False)
            layout.index = [f"R{r}" for r in layout.index]
            layout.columns = [f"FM{c}" for c in layout.columns]
            st.markdown("Segment of every R x FM cell:")
            st.dataframe(layout, width="stretch")

with tab_clusters:
    if tab_clusters.open:
        attributes = load_attributes(version)
        settings = state.cluster_params()
        c1, c2 = st.columns([1, 2])
        with c1:
            mode = st.radio(
                "Number of clusters",
                ["Automatic (clearest separation, 2-10)", "Choose"],
                index=0 if settings.k == "auto" else 1,
                key="segments_k_mode",
            )
            k: int | str = "auto"
            if mode == "Choose":
                k = st.slider("k", 2, 10, value=settings.k if settings.k != "auto" else 4, key="segments_k")
        with c2:
            chosen_attrs = st.multiselect(
                "Also cluster on customer attributes",
                list(attributes["column"]),
                default=[a for a in settings.attributes if a in set(attributes["column"])],
                key="segments_cluster_attributes",
                help="Numbers are scaled, categories one-hot encoded. Recency, frequency and monetary are "
                "always used (log-transformed and scaled).",
            )
        params = engine.ClusterParams(k=k, attributes=tuple(chosen_attrs))
        state.set_cluster_params(params)
        try:
            model = fit_clusters(as_of, params)
        except engine.EngineError as error:
            components.show_error(error)
            model = None
        if model is not None:
            badge, meaning = engine.stability_badge(model.stability_)
            stability_help = (
                f"{meaning}. {words.explain('stability')} Mean adjusted Rand index (1 = identical) between this clustering and re-fits on "
                f"{model.n_bootstrap} bootstrap resamples of {min(model.sample_size, len(model.labels_)):,} customers"
                + ("" if pd.isna(model.stability_) else f": {model.stability_:.2f}")
                + "."
            )
            components.kpi_row(
                [
                    Kpi(
                        "Clusters (automatic)" if k == "auto" else "Clusters (your choice)",
                        str(model.k_),
                        help="Automatic: the number from 2 to 10 whose groups separate most clearly (best "
                        "silhouette score) on a sample of customers.",
                    ),
                    Kpi(
                        words.label("silhouette"),
                        "n/a" if pd.isna(model.silhouette_) else f"{model.silhouette_:.2f}",
                        help=words.explain("silhouette", "Above 0.25 is reasonable for customers."),
                    ),
                    Kpi(
                        words.label("stability"),
                        badge if pd.isna(model.stability_) else f"{badge} ({model.stability_:.2f})",
                        help=stability_help,
                    ),
                ]
            )
            if k == "auto" and model.k_reason_:
                finer = model.alternative_k_
                st.caption(
                    f":material/info: {model.k_} clusters separate these customers most clearly of the numbers "
                    "tried" + (f"; the clearest finer split has {finer}." if finer else "."),
                    help=f"{model.k_reason_} {words.explain('silhouette')}",
                )
            if k == "auto" and model.alternative_k_ is not None:

                def use_finer(finer: int = model.alternative_k_) -> None:
                    st.session_state["segments_k_mode"] = "Choose"
                    st.session_state["segments_k"] = finer

                st.button(
                    f"Use {model.alternative_k_} clusters instead (separation {model.alternative_silhouette_:.2f})",
                    key="segments_use_finer_k",
                    on_click=use_finer,
                    icon=":material/call_split:",
                )
            for note in model.notes_:
                st.info(note, icon=":material/info:")
            profile = model.profile_.rename(columns={"name": "cluster_name"})
            profile = profile[
                [
                    "cluster",
                    "cluster_name",
                    "customers",
                    "share",
                    "median_recency_days",
                    "median_frequency",
                    "median_monetary",
                ]
            ]
            st.dataframe(
                profile,
                hide_index=True,
                width="stretch",
                column_config={
                    "cluster": "Cluster",
                    "cluster_name": "Name",
                    "customers": st.column_config.NumberColumn("Customers", format="localized"),
                    "share": st.column_config.ProgressColumn(
                        "Share", format="percent", min_value=0.0, max_value=1.0
                    ),
                    "median_recency_days": st.column_config.NumberColumn(
                        "Median days since order", format="%.0f"
                    ),
                    "median_frequency": st.column_config.NumberColumn("Median orders", format="%.1f"),
                    "median_monetary": st.column_config.NumberColumn("Median spend", format="dollar"),
                },
            )
            components.csv_download(
                profile, f"clusters_{as_of}.csv", "Download cluster table", key="dl_clusters"
            )
            left, right = st.columns(2)
            with left:
                share.chart(
                    charts_segments.k_selection_chart(model.silhouette_curve_, model.k_),
                    model.silhouette_curve_,
                    "segments_k",
                    f"Customers measured at {as_of:%b %d, %Y}",
                )
            with right:
                points = load_points(version, as_of, params)
                colour_by = (
                    st.segmented_control(
                        "Colour by",
                        ["cluster_name", "segment"],
                        format_func={"cluster_name": "Cluster", "segment": "RFM segment"}.get,
                        key="segments_scatter_colour",
                    )
                    or "cluster_name"
                )
                order = list(model.names_) if colour_by == "cluster_name" else engine.segment_order()
                share.chart(
                    charts_segments.cluster_scatter(points, colour_by, order),
                    points,
                    "segments_map",
                    f"Customers measured at {as_of:%b %d, %Y}",
                )
                st.caption(
                    f"{len(points):,} customers shown"
                    + (" (a fixed random sample)" if len(points) < len(model.labels_) else "")
                    + ". Customers close together are alike.",
                    help=f"Axes: {words.explain('component_1')} {words.explain('component_2')}",
                )
            with st.expander("Cluster members with scores", icon=":material/table:"):
                members = load_cluster_members(version, as_of, params)
                st.dataframe(
                    members.head(1000),
                    hide_index=True,
                    width="stretch",
                    column_config=member_columns(members),
                )
                if len(members) > 1000:
                    st.caption(
                        f"Showing the first 1,000 of {len(members):,} customers; the download has them all."
                    )
                components.csv_download(
                    members,
                    f"cluster_members_{as_of}.csv",
                    "Download cluster members",
                    key="dl_cluster_members",
                )

with tab_migration:
    if tab_migration.open:
        earliest = bounds[0] if bounds else as_of
        default_earlier = max(earliest, as_of - dt.timedelta(days=90))
        earlier = st.date_input(
            "Compare with",
            value=default_earlier,
            min_value=earliest,
            max_value=as_of,
            key="segments_earlier",
            help="Default: 90 days before the as-of date.",
        )
        if earlier >= as_of:
            st.info("Pick a comparison date before the as-of date.", icon=":material/info:")
        else:
            try:
                flows = load_migration(version, as_of, earlier)
            except engine.EngineError as error:
                components.show_error(error)
                flows = None
            if flows is not None:
                sentences = engine.migration_statements(flows, top=6)
                if sentences:
                    st.markdown("**Biggest moves**\n\n" + "\n".join(f"- {s}" for s in sentences))
                stayed = int(flows.loc[flows["from_segment"] == flows["to_segment"], "customers"].sum())
                st.caption(
                    f"{stayed:,} of {int(flows['customers'].sum()):,} customers stayed in the same segment."
                )
                share.chart(
                    charts_segments.migration_sankey(
                        flows,
                        [engine.NOT_YET] + engine.segment_order(),
                        f"{earlier:%b %d, %Y}",
                        f"{as_of:%b %d, %Y}",
                    ),
                    flows,
                    "segments_migration",
                    f"Customers measured at {earlier:%b %d, %Y} and {as_of:%b %d, %Y}",
                )
                st.dataframe(
                    flows,
                    hide_index=True,
                    width="stretch",
                    column_config={
                        "from_segment": f"Segment on {earlier}",
                        "to_segment": f"Segment on {as_of}",
                        "customers": "Customers",
                    },
                )
                components.csv_download(
                    flows,
                    f"migration_{earlier}_to_{as_of}.csv",
                    "Download migration table",
                    key="dl_migration",
                )

with tab_export:
    if tab_export.open:
        present = [s for s in engine.segment_order() if s in by_segment.index]
        chosen = st.multiselect(
            "Segments to export", present, default=present[:1], key="segments_export_choice"
        )
        if not chosen:
            st.info("Choose one or more segments.", icon=":material/info:")
        else:
            members = load_members(version, as_of, tuple(chosen))
            if st.toggle(
                "Add predicted value and churn risk",
                key="segments_export_predictions",
                help="Each member's chance of still being a customer (P(alive)), expected purchases, predicted "
                "value (CLV) and churn risk over the next 365 days, from the Predict page's model.",
            ):
                try:
                    members = load_predicted_members(version, as_of, tuple(chosen))
                except engine.EngineError as error:
                    components.show_error(error)
            st.caption(f"{len(members):,} customers, with their RFM values, scores and customer attributes.")
            st.dataframe(
                members.head(1000), hide_index=True, width="stretch", column_config=member_columns(members)
            )
            if len(members) > 1000:
                st.caption(
                    f"Showing the first 1,000 of {len(members):,} customers; the download has them all."
                )
            components.csv_download(
                members,
                f"segment_members_{'_'.join(chosen)}_{as_of}.csv",
                f"Download {len(members):,} members",
                key="dl_segment_members",
            )

"""Views as links: a URL's query (``?from=...&to=...&segment=...&experiment=...&control=...&outcome=...``)
sets the page's filters when it opens, and the sidebar offers the link of what is on screen and saved
views (analysts save and delete them; everyone may open them)."""

from __future__ import annotations

import datetime as dt
import json

import streamlit as st

import engine
from dashboard import auth, components, date_filter, segment_builder, state

APPLIED = "_view_query_applied"
SEGMENTS_EXPORT_TAB = ":material/download: Export members"


def _experiment_filters(filters: dict) -> None:
    cursor = state.cursor()
    experiment = filters.get("experiment")
    try:
        known = set(engine.experiment_list(cursor)["experiment_id"].astype(str))
    except engine.EngineError:
        return
    if experiment not in known:
        return
    st.session_state["exp_id"] = experiment
    control = filters.get("control")
    if control and control in engine.experiment_variants(cursor, experiment):
        st.session_state[f"exp_control_{experiment}"] = control
    outcome = filters.get("outcome")
    if outcome and outcome in {o.name for o in engine.experiment_outcomes(cursor, experiment)}:
        st.session_state[f"exp_outcome_{experiment}"] = outcome


def restore_from_url(bounds: tuple[dt.date, dt.date] | None) -> None:
    """Apply the view filters of this URL's query once (a later change by the person stays theirs)."""
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    filters = engine.filters_from_query(params)
    if not filters:
        return
    signature = json.dumps(sorted((k, str(v)) for k, v in filters.items()))
    if st.session_state.get(APPLIED) == signature:
        return
    st.session_state[APPLIED] = signature
    if bounds and ("from" in filters or "to" in filters):
        low, high = filters.get("from", bounds[0]), filters.get("to", bounds[1])
        low, high = min(low, high), max(low, high)
        st.session_state[date_filter.KEY] = (low, high)
        st.session_state[date_filter.STATE] = {"bounds": bounds, "user_set": True, "set_for": bounds}
    segment = filters.get("segment")
    if segment:
        try:
            definition = engine.resolve_segment(state.cursor(), segment)
        except engine.EngineError as error:
            st.warning(
                f"The link names a segment this data does not have. {error}", icon=":material/link_off:"
            )
        else:
            st.session_state[segment_builder.PENDING] = json.dumps(definition)
            if segment in engine.segment_order():
                st.session_state["segments_export_choice"] = [segment]
                st.session_state["seg_tab"] = SEGMENTS_EXPORT_TAB
    if "experiment" in filters:
        _experiment_filters(filters)


def current_filters(page_path: str) -> dict:
    """The filters on screen now, as a view would save them."""
    filters: dict = {}
    memo = st.session_state.get(date_filter.STATE) or {}
    chosen = state.date_range()
    if chosen and memo.get("user_set"):
        filters["from"], filters["to"] = chosen
    if page_path == "segments":
        chosen_segments = st.session_state.get("segments_export_choice") or []
        if len(chosen_segments) == 1:
            filters["segment"] = chosen_segments[0]
    elif page_path == "builder":
        start = st.session_state.get("builder_started_from") or ""
        if start:
            filters["segment"] = start.removeprefix("Saved: ")
    elif page_path == "experiments":
        experiment = st.session_state.get("exp_id")
        if experiment:
            filters["experiment"] = experiment
            for name, key in (
                ("control", f"exp_control_{experiment}"),
                ("outcome", f"exp_outcome_{experiment}"),
            ):
                if st.session_state.get(key):
                    filters[name] = st.session_state[key]
    return filters


def _who() -> str:
    account = auth.account()
    return (account.email or account.name) if account else ""


def share_box(page) -> None:
    """Sidebar: the link of this view, saving it (analysts) and the saved views (everyone)."""
    path = getattr(page, "url_path", "") or ""
    with st.expander("Share or save this view", icon=":material/link:"):
        link = engine.view_query(path, current_filters(path))
        st.caption("Open this link to see this page with the same filters:")
        st.code("/" + link, language=None)
        cursor = state.cursor()
        if auth.can("save_views"):
            name = st.text_input("View name", key="view_save_name", placeholder="e.g. Q1 loyal customers")
            if st.button("Save view", key="view_save", icon=":material/bookmark_add:"):
                try:
                    engine.save_named(
                        cursor,
                        engine.SAVED_VIEW,
                        name,
                        {"page": path, "filters": {k: str(v) for k, v in current_filters(path).items()}},
                        _who(),
                        replace=True,
                    )
                except engine.EngineError as error:
                    components.show_error(error)
                else:
                    st.caption(f"Saved **{' '.join(name.split())}**.")
        views = engine.list_saved(cursor, engine.SAVED_VIEW)
        if views.empty:
            return
        st.caption("Saved views:")
        for row in views.itertuples():
            try:
                target = engine.view_query(row.definition.get("page", ""), row.definition.get("filters", {}))
            except engine.EngineError:
                continue  # written by other code: not a link this app makes
            by = f" · {segment_builder.plain_markdown(row.saved_by)}" if row.saved_by else ""
            st.markdown(
                f"[{segment_builder.plain_markdown(row.name)}](/{target}) · {row.saved_at:%Y-%m-%d}{by}"
            )
        if auth.can("save_views"):
            chosen = st.selectbox("Rename or delete a view", ["", *views["name"]], key="view_manage_choice")
            if chosen:
                new_name = st.text_input("New name", key="view_new_name")
                left, right = st.columns(2)
                if left.button("Rename", key="view_rename", icon=":material/edit:"):
                    try:
                        engine.rename_saved(cursor, engine.SAVED_VIEW, chosen, new_name)
                    except engine.EngineError as error:
                        components.show_error(error)
                    else:
                        st.rerun()
                if right.button("Delete", key="view_delete", icon=":material/delete:"):
                    engine.delete_saved(cursor, engine.SAVED_VIEW, chosen)
                    st.rerun()

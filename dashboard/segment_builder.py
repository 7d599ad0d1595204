"""The Segment builder's parts: the conditions editor (definition <-> widgets), the hand-over of a
definition from a chart click or a link, audience file downloads and the saved segments list."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

import engine
from dashboard import auth, components, state
from dashboard.charts import literal
from engine.money import chart_symbol

CONDITIONS = "builder_conditions"
MATCH = "builder_match"
PENDING = "builder_pending"
NEXT_ID = "builder_next_id"
FLASH = "builder_flash"
WIDGET_PREFIX = "bc_"
PREVIEW_ROWS = 200
BUILDER_PAGE = "app_pages/builder.py"

MEMBER_LABELS: dict[str, str] = {
    "customer_id": "Customer",
    "segment": "Segment",
    "cluster_name": "Cluster",
    "recency_days": "Days since last order",
    "frequency": "Orders",
    "monetary": "Net spend",
    "r_score": "R",
    "f_score": "F",
    "m_score": "M",
    "fm_score": "FM",
    "tenure_days": "Days since first order",
    "aov": "Average order value",
    "first_order": "First order",
    "last_order": "Last order",
}

FORMAT_HELP = {
    "meta": (
        "Meta Custom Audiences",
        "Needs an e-mail or a phone number (with a country), or a first and last name with a postcode or city. "
        "Every value is normalised as Meta asks and SHA-256 hashed. Upload it in Meta Ads Manager: "
        "Audiences > Create audience > Custom audience > Customer list.",
    ),
    "google": (
        "Google Customer Match",
        "Needs an e-mail or a phone number (with a country), or first name, last name, country and postcode "
        "together. E-mail, phone and names are normalised and SHA-256 hashed; country and postcode stay "
        "plain, as Google asks. Upload it in Google Ads: Tools > Audience manager > Customer list.",
    ),
    "crm": (
        "CRM or e-mail tool",
        "A plain list for Klaviyo, Mailchimp or a CRM: e-mail, first name, segment, predicted value when "
        "there is one, and every column you uploaded for customers. Import it in the tool.",
    ),
}


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~-])")


def plain_markdown(text: str) -> str:
    """Text shown as itself in markdown: a name or value from the data cannot become a link or formatting."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def _next_id() -> int:
    value = int(st.session_state.get(NEXT_ID, 0))
    st.session_state[NEXT_ID] = value + 1
    return value


def load_definition(definition: Mapping[str, Any] | str) -> None:
    """Put a definition into the editor (its top-level conditions become rows; nested groups stay whole)."""
    parsed = engine.parse_definition(definition)
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIX)]:
        del st.session_state[key]
    rows = []
    for condition in parsed.get("conditions", []):
        if isinstance(condition, Mapping) and "conditions" in condition:
            rows.append({"id": _next_id(), "group": dict(condition)})
        elif isinstance(condition, Mapping):
            rows.append({"id": _next_id(), **dict(condition)})
    st.session_state[CONDITIONS] = rows
    st.session_state[MATCH] = parsed.get("match", "all") if parsed.get("match") in ("all", "any") else "all"


def send_to_builder(definition: Mapping[str, Any]) -> None:
    """Open the Segment builder with ``definition`` (a chart click's customers, a saved segment)."""
    st.session_state[PENDING] = json.dumps(definition)
    st.switch_page(BUILDER_PAGE)


def take_pending() -> None:
    """Load a definition handed over by another page, once."""
    pending = st.session_state.pop(PENDING, None)
    if pending:
        load_definition(pending)
        st.session_state["builder_start"] = ""
        st.session_state["builder_started_from"] = ""


JSON_ERROR = "builder_json_error"


def _use_json(key: str) -> None:
    """Load the typed JSON into the editor (a callback: it runs before the widgets are drawn again)."""
    try:
        load_definition(st.session_state.get(key, ""))
    except engine.EngineError as error:
        st.session_state[JSON_ERROR] = str(error)


def _add_row() -> None:
    st.session_state.setdefault(CONDITIONS, []).append(
        {"id": _next_id(), "field": "segment", "op": "in", "value": []}
    )


def _remove_row(row_id: int) -> None:
    st.session_state[CONDITIONS] = [r for r in st.session_state.get(CONDITIONS, []) if r["id"] != row_id]


def _shape(op: str) -> str:
    if op in engine.OPERATORS["bought"] or op in ("in", "not_in"):
        return "list"
    if op == "between":
        return "pair"
    if op in ("is_empty", "is_not_empty", "is_true", "is_false"):
        return "none"
    return "text" if op == "contains" else "one"


def _value_widget(
    column, row: dict, field: engine.AudienceField, op: str, values_for: Callable[[str], list[str]]
) -> tuple[Any, bool]:
    """Draw the value control for ``field`` and ``op``; returns (value, complete). The control is keyed by
    the shape of its value, so "is any of" -> "is none of" keeps the chosen values."""
    shape = _shape(op)
    key = f"{WIDGET_PREFIX}value_{row['id']}_{field.name}_{shape}"
    same = row.get("field") == field.name and _shape(str(row.get("op"))) == shape
    start = row.get("value") if same else None
    as_of = st.session_state.get("builder_as_of") or dt.date.today()
    if op in ("is_empty", "is_not_empty", "is_true", "is_false"):
        column.caption(" ")
        return None, True
    if field.kind in ("category", "bought") or (field.kind == "text" and op in ("in", "not_in")):
        options = values_for(field.name)
        chosen = [str(v) for v in (start or []) if str(v) in options] if isinstance(start, list) else []
        value = column.multiselect(
            "Values",
            options,
            default=chosen or None,
            key=key,
            label_visibility="collapsed",
            placeholder="Choose values",
        )
        return list(value), bool(value)
    if field.kind == "text":
        value = column.text_input("Text", value=str(start or ""), key=key, label_visibility="collapsed")
        return value, bool(value.strip())
    if field.kind == "number":
        if op == "between":
            low, high = start if isinstance(start, list) and len(start) == 2 else [0.0, 100.0]
            a, b = column.columns(2)
            lo = a.number_input("From", value=float(low), key=key + "_lo", label_visibility="collapsed")
            hi = b.number_input("To", value=float(high), key=key + "_hi", label_visibility="collapsed")
            return [lo, hi], True
        number = column.number_input(
            "Value",
            value=float(start) if start not in (None, "") else 0.0,
            key=key,
            label_visibility="collapsed",
        )
        return number, True
    # dates
    if op == "between":
        if isinstance(start, list) and len(start) == 2:
            chosen = tuple(dt.date.fromisoformat(str(v)[:10]) for v in start)
        else:
            chosen = (as_of - dt.timedelta(days=90), as_of)
        value = column.date_input("Dates", value=chosen, key=key, label_visibility="collapsed")
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return [value[0].isoformat(), value[1].isoformat()], True
        return None, False
    day = dt.date.fromisoformat(str(start)[:10]) if start else as_of - dt.timedelta(days=90)
    value = column.date_input("Date", value=day, key=key, label_visibility="collapsed")
    return value.isoformat(), True


def conditions_editor(
    fields: Mapping[str, engine.AudienceField], values_for: Callable[[str], list[str]]
) -> dict[str, Any]:
    """The conditions as rows of (field, test, value) and the all/any choice; returns the definition of the
    complete rows (a row still missing its values is left out and says so)."""
    rows = st.session_state.setdefault(CONDITIONS, [])
    st.session_state.setdefault(MATCH, "all")
    st.radio(
        "Customers who match",
        ["all", "any"],
        format_func={"all": "all of the conditions", "any": "any of the conditions"}.get,
        horizontal=True,
        key=MATCH,
    )
    names = list(fields)
    conditions: list[dict[str, Any]] = []
    incomplete = 0
    for row in rows:
        c_field, c_op, c_value, c_remove = st.columns([3, 2, 5, 1], vertical_alignment="bottom")
        if "group" in row:
            c_field.markdown("**Group**")
            c_value.markdown(
                plain_markdown(engine.describe_definition(row["group"], _DescribeContext(fields)))
            )
            conditions.append(row["group"])
        else:
            name = c_field.selectbox(
                "Field",
                names,
                index=names.index(row["field"]) if row.get("field") in names else 0,
                format_func=lambda n: fields[n].label,
                key=f"{WIDGET_PREFIX}field_{row['id']}",
                label_visibility="collapsed",
            )
            field = fields[name]
            ops = list(engine.OPERATORS[field.kind])
            op = c_op.selectbox(
                "Test",
                ops,
                index=ops.index(row["op"]) if row.get("field") == name and row.get("op") in ops else 0,
                format_func=engine.OPERATORS[field.kind].get,
                key=f"{WIDGET_PREFIX}op_{row['id']}_{name}",
                label_visibility="collapsed",
            )
            value, complete = _value_widget(c_value, row, field, op, values_for)
            row.update(field=name, op=op, value=value)
            if complete:
                conditions.append({"field": name, "op": op} | ({} if value is None else {"value": value}))
            else:
                incomplete += 1
        c_remove.button(
            "",
            icon=":material/close:",
            key=f"{WIDGET_PREFIX}remove_{row['id']}",
            help="Remove this condition",
            on_click=_remove_row,
            args=(row["id"],),
        )
    st.button("Add a condition", icon=":material/add:", key="builder_add", on_click=_add_row)
    if incomplete:
        st.caption(
            f"{incomplete} condition{'s' if incomplete > 1 else ''} without values yet: left out for now."
        )
    definition = {"match": st.session_state[MATCH], "conditions": conditions}
    with st.expander("Conditions as JSON (nested groups)", icon=":material/data_object:"):
        st.caption(
            "The definition is stored as this JSON and evaluated again on every data load. Groups nest: a "
            'condition may itself be {"match": "any", "conditions": [...]}.'
        )
        text = json.dumps(definition, indent=2)
        # keyed by its content, so the box shows the conditions as they are now after every edit
        key = "builder_json_" + hashlib.sha1(text.encode()).hexdigest()[:12]
        st.text_area("Definition", value=text, key=key, height=220)
        st.button(
            "Use this JSON", key="builder_use_json", icon=":material/input:", on_click=_use_json, args=(key,)
        )
        error = st.session_state.pop(JSON_ERROR, None)
        if error:
            st.error(error, icon=":material/error:")
    return definition


class _DescribeContext:
    """Just enough of an ``AudienceContext`` for ``describe_definition`` (its field labels)."""

    def __init__(self, fields: Mapping[str, engine.AudienceField]):
        self.fields = fields


def member_columns(frame: pd.DataFrame) -> dict:
    """Readable headers for a member table."""
    config: dict = {}
    for column in frame.columns:
        label = MEMBER_LABELS.get(column, str(column).replace("_", " ").capitalize())
        if column in ("monetary", "aov"):
            config[column] = st.column_config.NumberColumn(label, format="dollar")
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            config[column] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD")
        else:
            config[column] = label
    return config


def audience_downloads(members: pd.DataFrame, segment_name: str) -> None:
    """One card per audience format: identifiers found, rows written and left out, the download."""
    if members.empty:
        st.info("No customers match these conditions yet.", icon=":material/info:")
        return
    name = st.text_input(
        "Segment name written in the CRM list",
        value=segment_name or "Segment builder",
        key="builder_crm_name",
    )
    st.caption(
        "Files are made here, on your machine; nothing is sent anywhere. Upload them in the platform yourself."
    )
    for fmt, column in zip(engine.AUDIENCE_FORMATS, st.columns(3), strict=True):
        title, explanation = FORMAT_HELP[fmt]
        file = engine.audience_file(members, fmt, segment_name=name or None)
        with column.container(border=True):
            st.markdown(f"**{title}**")
            st.caption(explanation)
            found = ", ".join(f"{role.replace('_', ' ')} ({col})" for role, col in file.identifiers.items())
            st.caption(f"Identifiers found: {found or 'none'}.")
            st.metric(
                "Rows in the file", f"{file.rows:,}", help=f"Of {file.members:,} customers in the segment."
            )
            for note in file.notes:
                st.caption(f":material/info: {note}")
            st.download_button(
                f"Download {title} file",
                data=file.to_csv_bytes(),
                file_name=f"audience_{fmt}.csv",
                mime="text/csv",
                icon=":material/download:",
                key=f"dl_audience_{fmt}",
                on_click="ignore",
                disabled=file.rows == 0,
            )


def _who() -> str:
    account = auth.account()
    return (account.email or account.name) if account else ""


def saved_segments(
    saved: pd.DataFrame, definition: dict[str, Any], context: engine.AudienceContext, can_edit: bool
) -> None:
    """The saved segments with who saved them and when; analysts save, rename and delete."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/check:")
    if saved.empty:
        st.caption("No saved segments yet.")
    else:
        shown = saved.copy()

        def words(item: Any) -> str:
            try:
                return engine.describe_definition(item, context)
            except engine.EngineError as error:
                return f"(cannot be read: {error})"

        shown["definition"] = shown["definition"].map(words)
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config={
                "name": "Name",
                "definition": st.column_config.TextColumn("Who", width="large"),
                "saved_by": "Saved by",
                "saved_at": st.column_config.DatetimeColumn("Saved", format="YYYY-MM-DD HH:mm"),
                "updated_at": st.column_config.DatetimeColumn("Changed", format="YYYY-MM-DD HH:mm"),
            },
        )
        st.caption(
            "Open one with **Start from** above; the command line takes it too: `segmint audience --segment NAME`."
        )
    if not can_edit:
        auth.explain("save_views")
        return
    left, right = st.columns(2)
    with left.form("builder_save_form", border=True):
        st.markdown("**Save these conditions**")
        name = st.text_input("Name", key="builder_save_name", placeholder="e.g. Lapsed big spenders")
        replace = st.checkbox("Replace a saved segment of the same name", key="builder_save_replace")
        if st.form_submit_button("Save segment", icon=":material/bookmark_add:"):
            try:
                item = engine.save_named(
                    state.cursor(), engine.SAVED_SEGMENT, name, definition, _who(), replace=replace
                )
            except engine.EngineError as error:
                components.show_error(error)
            else:
                st.session_state[FLASH] = f"Saved **{item.name}**."
                st.rerun()
    if saved.empty:
        return
    with right.container(border=True):
        st.markdown("**Rename or delete**")
        chosen = st.selectbox("Saved segment", list(saved["name"]), key="builder_manage_choice")
        new_name = st.text_input("New name", key="builder_manage_name")
        a, b = st.columns(2)
        if a.button("Rename", key="builder_rename", icon=":material/edit:"):
            try:
                item = engine.rename_saved(state.cursor(), engine.SAVED_SEGMENT, chosen, new_name)
            except engine.EngineError as error:
                components.show_error(error)
            else:
                st.session_state[FLASH] = f"Renamed **{chosen}** to **{item.name}**."
                st.rerun()
        if b.button("Delete", key="builder_delete", icon=":material/delete:"):
            engine.delete_saved(state.cursor(), engine.SAVED_SEGMENT, chosen)
            st.session_state[FLASH] = f"Deleted **{chosen}**."
            st.rerun()


# --------------------------------------------------------------------------- drill-down from a chart

DRILL = "segments_drill"


def _points(event) -> list:
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    return [p for p in points or [] if isinstance(p, dict)]


def clicked_segment(event, known: list[str]) -> str | None:
    """The segment a click on the share bars picked (its bar's label), or None."""
    for point in _points(event):
        name = literal.unescape(point.get("y"))  # the chart shows names escaped
        if name in known:
            return str(name)
    return None


SCORE_LABELS = {"f_score": "Frequency score", "m_score": "Monetary score", "fm_score": "FM score"}


def clickable_cells(fig, grid: pd.DataFrame, axis: str):
    """``fig`` (the R-by-score heatmap) with an invisible marker on each cell: Plotly reports clicks on
    scatter points but not on heatmap cells. The markers carry the cell's numbers for the hover label."""
    letter = SCORE_LABELS.get(axis, axis)[0]
    cells = grid.rename(columns={axis: "score"})
    # the markers take over the hover label, so a click lands on them rather than on the cell underneath
    fig.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    fig.add_scatter(
        x=[f"{letter}{s}" for s in cells["score"]],
        y=[f"R{r}" for r in cells["r_score"]],
        customdata=cells[["r_score", "score", "customers", "revenue"]].to_numpy(),
        mode="markers",
        marker=dict(size=44, symbol="square", color="rgba(0,0,0,0)", opacity=0, line=dict(width=0)),
        selected=dict(marker=dict(opacity=0)),
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate="%{y} %{x}: %{customdata[2]:,} customers, "
        + chart_symbol()
        + "%{customdata[3]:,.0f}<extra></extra>",
        showlegend=False,
        name="cells",
    )
    return fig


def clicked_cell(event) -> tuple[int, int] | None:
    """(R score, column score) of a clicked heatmap cell, or None."""
    for point in _points(event):
        row, column = (
            re.search(r"(\d+)$", str(point.get("y", ""))),
            re.search(r"(\d+)$", str(point.get("x", ""))),
        )
        if str(point.get("y", "")).startswith("R") and row and column:
            return int(row.group(1)), int(column.group(1))
    return None


def note_click(chart: str, picked: dict | None) -> None:
    """Show the customers behind ``picked`` (title and definition) when it is a new click on ``chart``:
    a selection stays in a chart's state, so only a change counts, and the latest click of any chart wins."""
    memo = f"{DRILL}_last_{chart}"
    marker = json.dumps(picked, sort_keys=True) if picked else None
    if marker != st.session_state.get(memo):
        st.session_state[memo] = marker
        if picked:
            st.session_state[DRILL] = picked


@st.cache_data(show_spinner=False, max_entries=16)
def _drill_members(
    version: int, as_of: dt.date, text: str, limit: int | None
) -> tuple[engine.AudienceSummary, pd.DataFrame]:
    cursor = state.cursor()
    context = engine.audience_context(cursor, as_of)
    return engine.audience_summary(cursor, text, context), engine.audience_members(
        cursor, text, context, limit
    )


def drill_down(version: int, as_of: dt.date) -> None:
    """The customers behind the last chart click (``st.session_state[DRILL]``: a title and a definition),
    with a download, "save as segment" and a way into the Segment builder."""
    picked = st.session_state.get(DRILL)
    if not picked:
        st.caption(
            ":material/ads_click: Click a bar of the share chart or a cell of the heatmap above to see the "
            "customers behind it."
        )
        return
    definition = picked["definition"]
    text = json.dumps(definition, sort_keys=True)
    summary, preview = _drill_members(version, as_of, text, PREVIEW_ROWS)
    with st.container(border=True):
        st.markdown(
            f"**Customers behind your click: {plain_markdown(picked['title'])}** · {summary.members:,} customers, "
            f"{components.fmt_pct(summary.revenue_share)} of customer revenue"
        )
        st.dataframe(
            preview,
            hide_index=True,
            width="stretch",
            column_config=member_columns(preview),
            key="drill_table",
        )
        if summary.members > len(preview):
            st.caption(f"The first {len(preview):,} of {summary.members:,}; the download has them all.")
        components.csv_download(
            _drill_members(version, as_of, text, None)[1],
            f"customers_{picked['title']}.csv",
            f"Download {summary.members:,} customers",
            key="dl_drill",
        )
        left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
        if auth.can("save_views"):
            name = left.text_input("Save as segment", key="drill_save_name", placeholder="Segment name")
            if middle.button("Save as segment", key="drill_save", icon=":material/bookmark_add:"):
                try:
                    item = engine.save_named(state.cursor(), engine.SAVED_SEGMENT, name, definition, _who())
                except engine.EngineError as error:
                    components.show_error(error)
                else:
                    st.success(
                        f"Saved **{item.name}**: open it in the Segment builder.", icon=":material/check:"
                    )
        if right.button("Open in the Segment builder", key="drill_open", icon=":material/filter_alt:"):
            send_to_builder(definition)


def cell_drill(cell: tuple[int, int], axis: str) -> dict:
    """The title and definition of the customers in one heatmap cell."""
    r_score, score = cell
    label = SCORE_LABELS.get(axis, axis)
    return {
        "title": f"recency score {r_score}, {label.lower()} {score}",
        "definition": {
            "match": "all",
            "conditions": [
                {"field": "r_score", "op": "=", "value": r_score},
                {"field": axis, "op": "=", "value": score},
            ],
        },
    }

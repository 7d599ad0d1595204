"""Data: upload a file, check the suggested mapping, read the validation report, load, undo; profiles and
templates of every table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import engine
from dashboard import auth, charts, components, share, staging, state

LIMITS = engine.DEFAULT_LIMITS
NOT_MAPPED = "(not mapped)"
CONSTANT = "(type a constant)"

st.title("Data")
st.caption(
    "Upload CSV or other delimited text, Excel (.xlsx) or Parquet exports, under any file name. Segmint detects "
    "the format, delimiter, encoding, header and "
    "number style, suggests how columns map to its tables, and shows every problem before anything is written. "
    f"Limits per file: {LIMITS.max_bytes / 1024**2:,.0f} MB, {LIMITS.max_rows:,} rows, {LIMITS.max_columns:,} "
    "columns; the command line `segmint load` takes larger files."
)


def _currency_setting() -> None:
    """The symbol every page, chart and the PDF put before money; kept in the store with the data."""
    current = engine.currency()
    other = "other"
    options = [*engine.CURRENCY_CHOICES, other]
    with st.expander(f"Money is shown in {components.plain(current.strip())}", icon=":material/payments:"):
        with st.form("currency_form", border=False):
            choice = st.radio(
                "Currency",
                options,
                index=options.index(current) if current in options else len(options) - 1,
                format_func=lambda c: components.plain(
                    engine.CURRENCY_CHOICES.get(c, "Other (type it below)")
                ),
                horizontal=True,
                key="currency_choice",
            )
            typed = st.text_input(
                "Other symbol or code",
                value="" if current in engine.CURRENCY_CHOICES else current,
                max_chars=engine.MAX_CURRENCY_LENGTH,
                help=f"At most {engine.MAX_CURRENCY_LENGTH} characters: currency signs, letters, a dot or a "
                "space (end a code with a space to keep it apart from the number, e.g. 'SEK ').",
                key="currency_other",
            )
            if st.form_submit_button("Save currency", icon=":material/save:"):
                try:
                    engine.set_currency_setting(state.cursor(), typed if choice == other else choice)
                except engine.EngineError as error:
                    components.show_error(error)
                else:
                    st.rerun()


if auth.can("upload"):
    _currency_setting()

cur = state.cursor()
tab_upload, tab_history, tab_profile, tab_templates = st.tabs(
    [
        ":material/upload: Upload",
        ":material/history: History and undo",
        ":material/analytics: Tables",
        ":material/description: Templates",
    ]
)


@st.cache_data(show_spinner=False, max_entries=32)
def table_profile(version: int, name: str) -> dict:
    """Rows, date range, empty shares and sample rows of one table, once per data version."""
    return engine.table_profile(state.cursor(), name)


def _word(value) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _reset_upload() -> None:
    staged = st.session_state.pop("staged", None)
    guard = st.session_state.pop("staged_guard", None)
    if guard is not None:
        guard.release()
    elif staged is not None:
        staging.StagingGuard(state.cursor(), staged).release()
    for key in list(st.session_state):
        if key.startswith(("map_", "const_", "datefmt_", "comma_")) or key in (
            "mapping",
            "report",
            "amount_rule",
        ):
            del st.session_state[key]


def _stage(uploaded) -> None:
    """Write the upload to disk under a generated name and read it into staging."""
    _reset_upload()
    folder = engine.staging_dir(state.cursor())
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".upload", delete=False) as tmp:
        tmp.write(uploaded.getbuffer())
        tmp_path = Path(tmp.name)
    try:
        staged = engine.read_upload(state.cursor(), tmp_path, uploaded.name, limits=LIMITS)
    finally:
        tmp_path.unlink(missing_ok=True)
    st.session_state["staged"] = staged
    st.session_state["staged_guard"] = staging.StagingGuard(state.cursor(), staged)
    st.session_state["staged_for"] = uploaded.file_id


_plain = components.plain  # a header, a file name or an engine message naming them, shown as itself


def _take_hints(key: str, hints: dict[str, dict]) -> None:
    """Button callback: put the weak suggestions into their fields' selectboxes."""
    for fname, hint in hints.items():
        st.session_state[f"map_{key}_{fname}"] = hint["column"]


def _mapping_form(staged: engine.StagedUpload, table: str) -> engine.Mapping:
    """Editable mapping, pre-filled with the strong suggestions; weak ones are shown as hints beside their
    field (with the evidence in the help) and taken only when the user picks them."""
    spec = engine.get_table(table)
    key = f"{staged.token}_{table}"
    if st.session_state.get("mapping_key") != key:
        st.session_state["mapping"] = engine.suggest_mapping(state.cursor(), staged, table)
        st.session_state["mapping_key"] = key
    suggested: engine.Mapping = st.session_state["mapping"]
    options = [NOT_MAPPED, *staged.columns, CONSTANT]
    overrides: dict[str, str] = {}
    st.markdown(f"**Map the file's columns to `{table}`** (required fields are marked *)")
    hints = suggested.hints
    if hints:
        st.button(
            f"Take the {len(hints)} weak suggestion{'s' if len(hints) != 1 else ''} too",
            key=f"take_hints_{key}",
            on_click=_take_hints,
            args=(key, hints),
            icon=":material/done_all:",
            help="Weak suggestions rest on the content alone (or a doubtful header); check them before loading.",
        )
    head = st.columns([2, 3, 2, 2])
    head[0].caption("Field")
    head[1].caption("Column in your file")
    head[2].caption(
        "Suggestion and confidence",
        help=f"Scores run from 0 to 1. Only suggestions scoring at least {engine.PRESELECT_SCORE:.2f} are picked "
        "for you; they need a header that names the field and content that fits it. Weaker ones are hints.",
    )
    head[3].caption("Format")
    for fld in spec.fields:
        row = st.columns([2, 3, 2, 2])
        star = " \\*" if fld.required else ""
        row[0].markdown(f"`{fld.name}`{star}", help=fld.description)
        if fld.name in suggested.columns:
            default = suggested.columns[fld.name]
        elif fld.name in suggested.constants:
            default = CONSTANT
        else:
            default = NOT_MAPPED
        choice = row[1].selectbox(
            fld.name,
            options,
            index=options.index(default),
            key=f"map_{key}_{fld.name}",
            label_visibility="collapsed",
        )
        if choice == CONSTANT:
            value = row[1].text_input(
                f"Constant for {fld.name}",
                value=suggested.constants.get(fld.name, ""),
                key=f"const_{key}_{fld.name}",
                placeholder="same value for every row",
            )
            overrides[fld.name] = ":" + value if value else ""
        elif choice == NOT_MAPPED:
            overrides[fld.name] = ""
        else:
            overrides[fld.name] = choice
        how = suggested.confidence.get(fld.name)
        suggestion = suggested.suggestions.get(fld.name)
        if suggestion and choice == suggestion["column"] and how != "saved":
            score = float(suggestion["score"])
            level = "strong" if score >= engine.PRESELECT_SCORE else "weak, taken"
            row[2].caption(f"{level} {score:.2f}", help="; ".join(suggestion["evidence"]))
        elif suggestion and fld.name in hints and choice == NOT_MAPPED:
            row[2].caption(
                f"hint: {_plain(suggestion['column'])}? (weak {float(suggestion['score']):.2f})",
                help="Not picked for you: " + "; ".join(suggestion["evidence"]),
            )
        elif how and choice == default:
            row[2].caption(
                {
                    "header": "header name",
                    "content": "content (please check)",
                    "saved": "saved mapping",
                    "derived": "derived",
                    "constant": "constant",
                }.get(how, how)
            )
        if fld.kind in ("date", "timestamp") and choice not in (NOT_MAPPED, CONSTANT):
            formats = list(engine.DATE_FORMATS)
            current = suggested.date_formats.get(fld.name, "iso")
            if choice != suggested.columns.get(fld.name):
                # content decides the format of a column the user picked, too
                current = engine.apply_overrides(
                    state.cursor(), suggested, {fld.name: choice}, staged
                ).date_formats.get(fld.name, current)
            fmt = row[3].selectbox(
                "Date format",
                formats,
                index=formats.index(current) if current in formats else 0,
                format_func=lambda f: engine.DATE_FORMATS[f],
                key=f"datefmt_{key}_{fld.name}_{choice}",
                label_visibility="collapsed",
            )
            overrides[f"{fld.name}__date_format"] = fmt
        if fld.kind in ("number", "integer") and choice not in (NOT_MAPPED, CONSTANT):
            comma = row[3].checkbox(
                "1.234,56 style",
                value=suggested.decimal_comma.get(fld.name, False),
                key=f"comma_{key}_{fld.name}",
                help="Decimal comma and dot thousands",
            )
            overrides[f"{fld.name}__decimal_comma"] = "true" if comma else "false"
    if table == "orders":
        rules = ["column", "quantity_x_unit_price", "split_order_total"]
        labels = {
            "column": "amount is the line's money",
            "quantity_x_unit_price": "amount = quantity x unit price",
            "split_order_total": "amount is an order total repeated on each line: split it across the lines",
        }
        rule = st.radio(
            "Order amount",
            rules,
            index=rules.index(suggested.amount_rule),
            format_func=labels.get,
            key=f"amount_rule_{key}",
            horizontal=True,
        )
        overrides["amount_rule"] = rule
    mapping = engine.apply_overrides(state.cursor(), suggested, overrides, staged)
    # questions the user has answered through the form go away; the rest need an explicit confirmation
    mapping.questions = [q for q in mapping.questions if "No column found for required field" not in q]
    return mapping


def _show_report(report: engine.ValidationReport) -> None:
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{report.rows_read:,}", border=True)
    cols[1].metric("Will load", f"{report.rows_valid:,}", border=True)
    cols[2].metric("Rejected", f"{report.rows_rejected:,}", border=True)
    if report.date_range:
        lo, hi = report.date_range
        cols[3].metric(
            "Dates",
            f"{pd.Timestamp(lo):%b %Y} - {pd.Timestamp(hi):%b %Y}",
            border=True,
            help=f"From {pd.Timestamp(lo):%Y-%m-%d %H:%M} to {pd.Timestamp(hi):%Y-%m-%d %H:%M}",
        )
    for block in report.blocking:
        st.error(_plain(block), icon=":material/block:")
    if report.issues:
        money = report.rejected_money_text()
        st.warning(
            f"{report.rows_rejected:,} row{'s' if report.rows_rejected != 1 else ''} would be rejected"
            + (f"; they hold {money}" if money else "")
            + ". Every problem found in the file:",
            icon=":material/warning:",
        )
        issues = report.issues_frame()
        st.dataframe(issues, hide_index=True, width="stretch")
        components.csv_download(
            issues, f"problems_{report.file_name}", "Download the problems", key="dl_issues"
        )
    for warning in report.warnings:
        st.warning(_plain(warning), icon=":material/info:")
    for note in report.notes:
        st.caption(_plain(note))
    if report.totals:
        st.caption("Totals of valid rows: " + ", ".join(f"{k} {v:,.2f}" for k, v in report.totals.items()))
    if not report.preview.empty:
        with st.expander("Preview of the first rows as they will be stored", expanded=False):
            st.dataframe(report.preview, hide_index=True, width="stretch")


def _loaded_message(result: engine.LoadResult) -> str:
    money = ", ".join(f"{k} {v:,.2f}" for k, v in result.rejected_money.items())
    rejected = f"{result.rows_rejected:,} rejected" + (
        f" (holding {money})" if money and result.rows_rejected else ""
    )
    return (
        f"Loaded {result.rows_loaded:,} rows into **{result.table}** ({result.mode}); {rejected}, "
        f"{result.rows_skipped_existing:,} already present. The table now has {result.rows_after:,} rows "
        f"(was {result.rows_before:,}). Data version {result.data_version}."
    )


with tab_upload:
    if not auth.can("upload"):
        auth.explain("upload")
    else:
        result = st.session_state.pop("last_load", None)
        if result is not None:
            st.success(_loaded_message(result), icon=":material/task_alt:")
            if result.sample_note:
                st.info(result.sample_note, icon=":material/science:")
        left, right = st.columns([1, 2])
        table = left.selectbox(
            "This file holds",
            list(engine.TABLES),
            help="Which Segmint table the file fills. See the Templates tab for each table's fields.",
            key="upload_table",
        )
        # A new uploader after each load: the form comes back empty, so the same file is not loaded twice.
        generation = st.session_state.setdefault("uploader_generation", 0)
        uploaded = right.file_uploader(
            "Upload a file",
            key=f"uploader_{generation}",
            help="Any file name or extension: the content decides how it is read (CSV or other delimited text, "
            "Excel .xlsx, Parquet). A file that cannot be read is refused here, with the reason.",
        )
        if uploaded is None:
            if "staged" in st.session_state:
                _reset_upload()
            st.info(
                "Choose the table, then drop a file here. Nothing is written until you press **Load**.",
                icon=":material/upload_file:",
            )
        else:
            refused = st.session_state.get("refused")
            if refused and refused[0] == uploaded.file_id:
                right.error(f"Not read: {_plain(refused[1])}", icon=":material/block:")
            elif st.session_state.get("staged_for") != uploaded.file_id or "staged" not in st.session_state:
                try:
                    with right.status(f"Reading {_plain(uploaded.name)}...", expanded=False) as status:
                        _stage(uploaded)
                        status.update(label=f"Read {_plain(uploaded.name)}", state="complete")
                    st.session_state.pop("refused", None)
                except engine.EngineError as error:
                    # said in words next to the uploader; the same file is not read again on every rerun
                    st.session_state["refused"] = (uploaded.file_id, str(error))
                    right.error(f"Not read: {_plain(str(error))}", icon=":material/block:")
        if uploaded is not None and "staged" in st.session_state:
            try:
                staged: engine.StagedUpload = st.session_state["staged"]
                st.success(
                    f"**{_plain(staged.file_name)}**: "
                    + (f"{staged.rows:,} rows, " if staged.rows is not None else "")
                    + f"{len(staged.columns)} columns ("
                    + ", ".join(f"{k} {_word(v)}" for k, v in staged.detected.items())
                    + ")",
                    icon=":material/check_circle:",
                )
                mapping = _mapping_form(staged, table)
                report = engine.validate(state.cursor(), staged, mapping)
                st.divider()
                st.subheader("Validation report")
                _show_report(report)
                confirmed = True
                if mapping.questions:
                    for question in mapping.questions:
                        st.info(question, icon=":material/help:")
                    confirmed = st.checkbox(
                        "I checked the mapping and the questions above", key=f"confirm_{staged.token}"
                    )
                mode = st.radio(
                    "How to load",
                    ["replace", "append"],
                    horizontal=True,
                    key="load_mode",
                    format_func={
                        "replace": f"Replace the {table} table",
                        "append": f"Append to {table} (rows already stored are skipped)",
                    }.get,
                )
                accept = True
                if report.rows_rejected:
                    money = report.rejected_money_text()
                    accept = st.checkbox(
                        f"Load the {report.rows_valid:,} valid rows and skip the {report.rows_rejected:,} rejected ones"
                        + (f" (they hold {money})" if money else ""),
                        key=f"accept_{staged.token}",
                    )
                sample = engine.sample_to_clear(state.cursor())
                if sample:
                    st.warning(engine.sample_removed_line(sample, done=False), icon=":material/science:")
                ready = report.can_load and confirmed and accept
                go_col, cancel_col = st.columns([1, 5])
                if go_col.button(
                    "Load", type="primary", disabled=not ready, icon=":material/database_upload:"
                ):
                    with st.status(
                        f"Loading {_plain(staged.file_name)} into {table}...", expanded=True
                    ) as status:
                        result = engine.load(
                            state.cursor(), staged, mapping, mode, accept_rejects=accept, confirm=confirmed
                        )
                        status.update(label="Loaded", state="complete")
                    _reset_upload()
                    st.session_state.pop("staged_for", None)
                    st.session_state["uploader_generation"] = generation + 1
                    st.session_state["last_load"] = result
                    st.rerun()
                if cancel_col.button("Cancel", icon=":material/close:"):
                    _reset_upload()
                    st.session_state.pop("staged_for", None)
                    st.session_state["uploader_generation"] = generation + 1
                    st.rerun()
            except engine.EngineError as error:
                components.show_error(error)

with tab_history:
    history = engine.load_history(cur)
    if history.empty:
        st.info("No loads yet.")
    else:
        count = st.column_config.NumberColumn
        st.dataframe(
            history,
            hide_index=True,
            width="stretch",
            column_config={
                "load_id": count("Load", format="%d"),
                "loaded_at": st.column_config.DatetimeColumn("Loaded at", format="YYYY-MM-DD HH:mm"),
                "table": "Table",
                "file": "File",
                "mode": "Mode",
                "rows_read": count("Rows read", format="localized"),
                "rows_loaded": count("Rows loaded", format="localized"),
                "rows_rejected": count("Rejected", format="localized"),
                "rows_before": count("Rows before", format="localized"),
                "rows_after": count("Rows after", format="localized"),
                "data_version": count("Data version", format="%d"),
                "undone": "Undone",
                "sample": "Sample",
            },
        )
        components.csv_download(history, "load_history.csv", key="dl_history")
        last = history[~history["undone"]].head(1)
        if not last.empty:
            row = last.iloc[0]
            label = f"Undo the last load ({_plain(row['file'])} -> {row['table']}, {row['mode']}, {row['rows_loaded']:,} rows)"
            if auth.can("undo") and st.button(label, icon=":material/undo:"):
                try:
                    done = engine.undo_last_load(state.cursor())
                    st.toast(
                        f"Undid the load of {_plain(done['file'])} into {done['table']}.",
                        icon=":material/undo:",
                    )
                    st.rerun()
                except engine.EngineError as error:
                    components.show_error(error)
    st.divider()
    if auth.can("reset") and st.button(
        "Reset everything to the sample data",
        icon=":material/restart_alt:",
        help="Replaces every table with the bundled sample (undo brings tables back one by one).",
    ):
        with st.status("Loading the sample data...", expanded=False) as status:
            engine.load_sample(state.cursor())
            status.update(label="Sample data loaded", state="complete")
        st.session_state.pop("global_date_range_state", None)
        st.rerun()

with tab_profile:
    version = state.data_version()
    names = list(engine.TABLES)
    for name, sub in zip(names, st.tabs(names), strict=True):
        with sub:
            prof = table_profile(version, name)
            if prof["rows"] == 0:
                components.no_data(name, name)
                continue
            cols = st.columns(3)
            cols[0].metric("Rows", f"{prof['rows']:,}", border=True)
            if prof["date_range"]:
                lo, hi = prof["date_range"]
                cols[1].metric(f"First {prof['date_column']}", f"{pd.Timestamp(lo):%b %d, %Y}", border=True)
                cols[2].metric(f"Last {prof['date_column']}", f"{pd.Timestamp(hi):%b %d, %Y}", border=True)
            nulls = prof["nulls"]
            if (nulls["null_rate"] > 0).any():
                fig = px.bar(nulls, x="column", y="null_rate", labels={"null_rate": "Empty", "column": ""})
                fig.update_yaxes(tickformat=".0%", range=[0, 1])
                fig.update_traces(marker_color=charts.PRIMARY)
                share.chart(
                    charts.style(fig, "Share of empty values per column", height=300),
                    nulls,
                    f"nulls_{name}",
                    chart_key=f"nulls_{name}",
                )
            else:
                st.caption(":material/check_circle: No empty values in any column.")
            sample = prof["sample"]
            dated = {
                col: st.column_config.DateColumn(col, format="YYYY-MM-DD")
                for col in sample.columns
                if pd.api.types.is_datetime64_any_dtype(sample[col])
                and (sample[col].dropna() == sample[col].dropna().dt.normalize()).all()
            }
            st.dataframe(sample, hide_index=True, width="stretch", column_config=dated, placeholder="")

with tab_templates:
    st.write(
        "Start from a template: the header row lists every field Segmint understands; extra columns "
        "are kept as attributes or dimensions. Headers do not need to match exactly."
    )
    for name, spec in engine.TABLES.items():
        fields = ", ".join(f"`{f.name}`" + ("*" if f.required else "") for f in spec.fields)
        st.markdown(f"**{name}**: {spec.description}  \nFields: {fields}")
        template = pd.DataFrame(columns=spec.field_names)
        components.csv_download(template, f"{name}_template.csv", f"{name} template", key=f"tpl_{name}")

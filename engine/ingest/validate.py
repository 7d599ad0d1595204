"""Validate every row of an upload in one pass and report every problem; nothing is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine import store
from engine.errors import IngestError
from engine.ingest.model import (
    DATE_FORMATS,
    EXAMPLES_PER_ISSUE,
    Issue,
    Mapping,
    StagedUpload,
    ValidationReport,
)
from engine.ingest.parse import _PROBLEM, _fix_for, _parse_expr, _sanity_checks, _text
from engine.ingest.read import _short, disk_full_error, is_disk_full, physical_lines
from engine.ingest.suggest import describe_suggestion
from engine.schema import LOAD_ID_COLUMN, Table, get_table, is_dimension, safe_column_name
from engine.store import Connection, quote_ident, quote_literal


def _check_mapping(staged: StagedUpload, spec: Table, mapping: Mapping) -> list[str]:
    blocking = []
    for fname, col in mapping.columns.items():
        if fname not in spec.field_names:
            blocking.append(
                f"{fname!r} is not a field of {spec.name}. Fields: {', '.join(spec.field_names)}."
            )
        elif col not in staged.columns:
            blocking.append(
                f"Column {col!r} (mapped to {fname}) is not in the file. Columns: {', '.join(staged.columns)}."
            )
    for fname in mapping.constants:
        if fname not in spec.field_names:
            blocking.append(f"{fname!r} is not a field of {spec.name}.")
    for fname in spec.required:
        if fname in mapping.columns or fname in mapping.constants:
            continue
        if fname == "amount" and mapping.amount_rule == "quantity_x_unit_price":
            continue
        hint = mapping.hints.get(fname)
        suggested = (
            f" The only candidate is {hint['column']!r}, too weak to pick for you ({describe_suggestion(hint)}): "
            f"choose it (--map {fname}={hint['column']} or --accept-suggestions) or another column"
            if hint
            else " Map one of the file's columns to it"
        )
        blocking.append(
            f"Required field {fname!r} of {spec.name} has no column.{suggested}"
            + (
                ", or type a constant for the whole file."
                if spec.field(fname).kind in ("id", "category")
                else "."
            )
        )
    if mapping.amount_rule == "quantity_x_unit_price" and not {"quantity", "unit_price"} <= set(
        mapping.columns
    ):
        blocking.append("Amount = quantity x unit price needs both quantity and unit_price mapped.")
    if mapping.amount_rule == "split_order_total" and not {"order_id", "amount"} <= set(mapping.columns):
        blocking.append("Splitting an order total across lines needs order_id and amount mapped.")
    for fname, fmt in mapping.date_formats.items():
        if fmt not in DATE_FORMATS:
            blocking.append(
                f"Unknown date format {fmt!r} for {fname}. Choose one of: {', '.join(DATE_FORMATS)}."
            )
    return blocking


def _typed_name(staged: StagedUpload, mapping: Mapping) -> str:
    return f"_typed_{staged.token}_{mapping.signature()}"


def _extra_names(spec: Table, mapping: Mapping) -> dict[str, str]:
    """Source column -> safe stored column name for extra columns."""
    taken = {f.name for f in spec.fields} | {"is_return", LOAD_ID_COLUMN}
    out = {}
    for col in mapping.extras:
        name = safe_column_name(col, taken)
        taken.add(name)
        out[col] = name
    return out


def _build_typed(con: Connection, staged: StagedUpload, spec: Table, mapping: Mapping) -> str:
    """One pass over every row: typed canonical columns, extras, and the problems packed in ``_err``/``_vals``.

    Three layers so each cell is cleaned once and parsed once: cleaned text -> typed value -> error code.
    """
    name = _typed_name(staged, mapping)
    if store.table_exists(con, name):
        staged.rows = store.row_count(con, name)
        return name
    clean, parsed, final, error_cols = [], [], [], []
    extras = _extra_names(spec, mapping)
    for i, fld in enumerate(spec.fields):
        s, v = f"_s{i}", f"_x{i}"
        if fld.name in mapping.columns:
            column = mapping.columns[fld.name]
            # number casts ignore surrounding spaces, so numbers skip trim(), which costs as much as the read
            cleaned = (
                f"NULLIF({quote_ident(column)}, '')" if fld.kind in ("number", "integer") else _text(column)
            )
            clean.append(f"{cleaned} AS {s}")
            clean.append(f"{quote_ident(mapping.columns[fld.name])} AS _r{i}")
        elif fld.name in mapping.constants:
            clean.append(f"NULLIF(trim({quote_literal(mapping.constants[fld.name])}), '') AS {s}")
            clean.append(f"{quote_literal(mapping.constants[fld.name])} AS _r{i}")
        else:
            parsed.append(f"CAST(NULL AS {fld.sql_type}) AS {quote_ident(fld.name)}")
            continue
        parsed.append(f"{s}, _r{i}, {_parse_expr(fld, s, mapping)} AS {v}")
    for col, stored in extras.items():
        clean.append(f"{_text(col)} AS {quote_ident(stored)}")
        parsed.append(quote_ident(stored))
    layer1 = f"SELECT {', '.join(clean) or '1 AS _none'} FROM {quote_ident(staged.source_relation)}"
    layer2 = f"SELECT {', '.join(parsed)} FROM ({layer1}) AS cleaned"
    for i, fld in enumerate(spec.fields):
        mapped = fld.name in mapping.columns or fld.name in mapping.constants
        derived = fld.name == "amount" and spec.name == "orders" and mapping.amount_rule != "column"
        if not mapped and not derived:
            final.append(quote_ident(fld.name))
            continue
        s, v, raw = f"_s{i}", f"_x{i}", f"_r{i}"
        if derived and mapping.amount_rule == "quantity_x_unit_price":
            qi, pi = spec.field_names.index("quantity"), spec.field_names.index("unit_price")
            v = f"round(_x{qi} * _x{pi}, 4)"
            s = f"CASE WHEN _x{qi} IS NULL OR _x{pi} IS NULL THEN NULL ELSE 'x' END"
            raw = f"CAST(_r{qi} AS VARCHAR) || ' x ' || CAST(_r{pi} AS VARCHAR)"
        elif derived:  # split_order_total
            oi = spec.field_names.index("order_id")
            v = f"(_x{i} / count(*) OVER (PARTITION BY _s{oi}))"
        sanity = " ".join(f"WHEN {cond} THEN {c}" for cond, c in _sanity_checks(fld, v))
        checks = []
        if fld.minimum is not None:
            checks.append(f"{v} < {fld.minimum}")
        if fld.maximum is not None:
            checks.append(f"{v} > {fld.maximum}")
        code = (
            f"CAST(CASE WHEN {s} IS NULL THEN {1 if fld.required else 0} "
            f"WHEN {v} IS NULL THEN (CASE WHEN trim({s}) = '' THEN {1 if fld.required else 0} ELSE 2 END) "
            f"{sanity} WHEN {' OR '.join(checks) or 'false'} THEN 3 ELSE 0 END AS UTINYINT)"
        )
        final.append(f"{v} AS {quote_ident(fld.name)}, {code} AS _c{i}, CAST({raw} AS VARCHAR) AS _raw_{i}")
        error_cols.append((i, fld.name))
    final += [quote_ident(stored) for stored in extras.values()]
    layer3 = f"SELECT {', '.join(final)} FROM ({layer2}) AS parsed"
    # Two narrow columns carry every problem: _err packs a 3-bit code per field (0 ok, 1 missing,
    # 2 unreadable, 3 out of range, 4 duplicate key, 5 not finite, 6 implausible date, 7 beyond the amount
    # limit); _vals holds the offending cells, NULL on good rows.
    outer = [quote_ident(f.name) for f in spec.fields]
    outer += [quote_ident(stored) for stored in extras.values()]
    if spec.name == "orders":
        outer.append("(coalesce(quantity < 0, false) OR coalesce(amount < 0, false)) AS is_return")
    packed = " | ".join(f"(CAST(_c{i} AS INTEGER) << {3 * i})" for i, _ in error_cols) or "0"
    outer.append(f"CAST({packed} AS INTEGER) AS _err")
    cells = ", ".join(f"CASE WHEN _c{i} > 0 THEN left(_raw_{i}, 80) END" for i, _ in error_cols)
    any_bad = " OR ".join(f"_c{i} > 0" for i, _ in error_cols) or "false"
    outer.append(
        f"CASE WHEN {any_bad} THEN [{cells}] END AS _vals"
        if error_cols
        else "CAST(NULL AS VARCHAR[]) AS _vals"
    )
    sql = f"CREATE TABLE {quote_ident(name)} AS SELECT {', '.join(outer)} FROM ({layer3}) AS checked"
    try:
        con.execute(sql)
        rows = store.row_count(con, name)
        if rows > staged.max_rows:
            raise IngestError(
                f"{staged.file_name}: {rows:,} rows, over the limit of {staged.max_rows:,}. "
                "Split the file and append the parts."
            )
        staged.rows = rows
        _mark_duplicate_keys(con, name, spec, mapping)
    except Exception:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
        raise
    return name


def _mark_duplicate_keys(con: Connection, typed: str, spec: Table, mapping: Mapping) -> None:
    """Later rows repeating an earlier row's natural key get code 4 on the key field."""
    if not spec.unique_key:
        return
    key = spec.natural_key
    if not all(k in mapping.columns or k in mapping.constants for k in key):
        return
    keys = ", ".join(quote_ident(k) for k in key)
    shift = 3 * spec.field_names.index(key[0])
    con.execute(
        f"""UPDATE {quote_ident(typed)} SET _err = _err | ({4} << {shift})
            WHERE rowid IN (SELECT rid FROM (SELECT rowid AS rid,
                row_number() OVER (PARTITION BY {keys} ORDER BY rowid) AS n
                FROM {quote_ident(typed)} WHERE _err = 0) WHERE n > 1)"""
    )


# Fields whose sum is money: a report of rejected rows states how much money they hold.
MONEY_FIELDS = ("amount", "spend", "revenue")


def _unloadable(
    staged: StagedUpload, spec: Table, mapping: Mapping, blocking: list[str], notes: list[str]
) -> ValidationReport:
    return ValidationReport(
        file_name=staged.file_name,
        table=spec.name,
        rows_read=staged.rows or 0,
        rows_valid=0,
        rows_rejected=0,
        issues=[],
        blocking=blocking,
        questions=list(mapping.questions),
        warnings=list(staged.warnings),
        notes=notes,
        date_range=None,
        totals={},
        preview=pd.DataFrame(),
        mapping_signature=mapping.signature(),
    )


def validate(con: Connection, staged: StagedUpload, mapping: Mapping) -> ValidationReport:
    """Check every row of the upload against the mapping and report every problem in one pass.

    Nothing is written to the canonical tables. The typed rows are kept in staging so a confirmed load
    does not parse the file again.
    """
    spec = get_table(mapping.table)
    cached = staged.reports.get(mapping.signature())
    if cached is not None and store.table_exists(con, _typed_name(staged, mapping)):
        return cached
    blocking = _check_mapping(staged, spec, mapping)
    notes = [
        f"Read as {staged.format.upper()}: "
        + ", ".join(
            f"{k} {'yes' if v is True else 'no' if v is False else v}" for k, v in staged.detected.items()
        )
    ]
    if blocking:
        return _unloadable(staged, spec, mapping, blocking, notes)
    try:
        typed = _build_typed(con, staged, spec, mapping)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - any DuckDB failure becomes a readable report line
        if is_disk_full(exc):
            raise disk_full_error(staged.file_name, Path(staged.staged_path).parent) from exc
        return _unloadable(
            staged,
            spec,
            mapping,
            [f"The file could not be read completely: {_short(exc)}. Check the delimiter and quoting."],
            notes,
        )
    t = quote_ident(typed)
    header_offset = 2 if staged.detected.get("header") else 1
    to_line = _line_numbers(con, t, staged, header_offset)
    checked = [
        f.name
        for f in spec.fields
        if f.name in mapping.columns
        or f.name in mapping.constants
        or (f.name == "amount" and spec.name == "orders" and mapping.amount_rule != "column")
    ]
    date_field = next(
        (
            f.name
            for f in spec.fields
            if f.kind in ("date", "timestamp") and (f.name in mapping.columns or f.name in mapping.constants)
        ),
        None,
    )
    money = [
        f.name
        for f in spec.fields
        if f.kind in ("number", "integer")
        and (f.name in mapping.columns or (f.name == "amount" and mapping.amount_rule != "column"))
    ]
    codes = tuple(_PROBLEM)
    money_fields = [m for m in money if m in MONEY_FIELDS]
    aggregates = ["count(*) FILTER (WHERE _err <> 0)"]
    if date_field:
        aggregates += [
            f"min({quote_ident(date_field)}) FILTER (WHERE _err = 0)",
            f"max({quote_ident(date_field)}) FILTER (WHERE _err = 0)",
        ]
    aggregates += [f"sum({quote_ident(m)}) FILTER (WHERE _err = 0)" for m in money]
    if spec.name == "orders":
        aggregates.append("count(*) FILTER (WHERE _err = 0 AND is_return)")
    # the money of rejected rows, counted where the money cell itself is fine
    aggregates += [
        f"sum({quote_ident(m)}) FILTER (WHERE _err <> 0 AND (_err >> {3 * spec.field_names.index(m)}) & 7 = 0)"
        for m in money_fields
    ]
    row = list(con.execute(f"SELECT {', '.join(aggregates)} FROM {t}").fetchone())
    rejected = int(row.pop(0))
    issues: list[Issue] = []
    counts: list[int] = []
    if rejected:  # which field, which problem: only rows with a problem are looked at
        per_field = [
            f"count(*) FILTER (WHERE (_err >> {3 * spec.field_names.index(fname)}) & 7 = {code})"
            for fname in checked
            for code in codes
        ]
        counts = [
            int(n) for n in con.execute(f"SELECT {', '.join(per_field)} FROM {t} WHERE _err <> 0").fetchone()
        ]
    for position, fname in enumerate(checked):
        fld = spec.field(fname)
        shift = 3 * spec.field_names.index(fname)
        for code in codes:
            n = counts.pop(0) if counts else 0
            if not n:
                continue
            shown = f"_vals[{position + 1}]" if code != 4 else f"CAST({quote_ident(fname)} AS VARCHAR)"
            examples = con.execute(
                f"SELECT rowid + {header_offset}, {shown} FROM {t} "
                f"WHERE (_err >> {shift}) & 7 = ? ORDER BY rowid LIMIT {EXAMPLES_PER_ISSUE}",
                [code],
            ).fetchall()
            column = mapping.columns.get(fname) or (
                f"constant {mapping.constants[fname]!r}" if fname in mapping.constants else None
            )
            issue_money = None
            if money_fields:
                first = money_fields[0]
                money_shift = 3 * spec.field_names.index(first)
                issue_money = con.execute(
                    f"SELECT sum({quote_ident(first)}) FROM {t} WHERE (_err >> {shift}) & 7 = ? "
                    f"AND (_err >> {money_shift}) & 7 = 0",
                    [code],
                ).fetchone()[0]
            issues.append(
                Issue(
                    field=fname,
                    column=column,
                    problem=_PROBLEM[code],
                    rows=n,
                    examples=[
                        (line, v if v is not None else "")
                        for line, v in zip(to_line(examples), [v for _, v in examples], strict=True)
                    ],
                    fix=_fix_for(fld, code, mapping),
                    money=float(issue_money) if issue_money is not None else None,
                    money_field=money_fields[0] if money_fields else None,
                )
            )
    date_range = None
    if date_field:
        lo, hi = row.pop(0), row.pop(0)
        if lo is not None:
            date_range = (lo, hi)
            if getattr(hi, "year", 2000) > 2100 or getattr(lo, "year", 2000) < 1900:
                notes.append(f"Dates run from {lo} to {hi}: check the date format.")
    totals = {}
    for m in money:
        value = row.pop(0)
        if value is not None:
            totals[m] = float(value)
    returns = int(row.pop(0)) if spec.name == "orders" else 0
    rejected_money = {}
    for m in money_fields:
        value = row.pop(0)
        if rejected:
            rejected_money[m] = float(value or 0.0)
    if spec.name == "orders":
        if returns:
            notes.append(
                f"{returns:,} line(s) have a negative quantity or amount: kept and flagged as returns."
            )
        if mapping.amount_rule == "quantity_x_unit_price":
            notes.append("amount = quantity x unit_price for every line.")
        elif mapping.amount_rule == "split_order_total":
            notes.append(
                "The order total is split evenly across each order's lines, so each order counts once."
            )
    valid = staged.rows - rejected
    extras = _extra_names(spec, mapping)
    if extras:
        shown = {c: f"{c!r}" + (f" (as {s})" if s != c else "") for c, s in extras.items()}
        if spec.extras == "dimensions":
            plain = [c for c in extras if not is_dimension(spec, c)]
            dims = [c for c in extras if c not in plain]
            if dims:
                notes.append("Kept as dimensions: " + ", ".join(shown[c] for c in dims))
            if plain:
                notes.append(
                    "Kept as extra columns, not offered as breakdowns (identifiers or measures): "
                    + ", ".join(shown[c] for c in plain)
                )
        else:
            notes.append(f"Kept as {spec.extras}: " + ", ".join(shown.values()))
    preview_cols = [
        f.name
        for f in spec.fields
        if f.name in mapping.columns
        or f.name in mapping.constants
        or (f.name == "amount" and mapping.amount_rule != "column")
    ] + list(extras.values())
    preview = (
        con.execute(
            f"SELECT {', '.join(quote_ident(c) for c in preview_cols)} FROM (SELECT *, rowid AS _rid FROM {t} "
            f"LIMIT 1000) WHERE _err = 0 ORDER BY _rid LIMIT 20"
        ).df()
        if preview_cols
        else pd.DataFrame()
    )
    if valid == 0:
        blocking.append("No row of the file can be loaded: fix the problems listed above.")
    report = ValidationReport(
        file_name=staged.file_name,
        table=spec.name,
        rows_read=staged.rows,
        rows_valid=valid,
        rows_rejected=rejected,
        issues=issues,
        blocking=blocking,
        questions=list(mapping.questions),
        warnings=list(staged.warnings),
        notes=notes,
        date_range=date_range,
        totals=totals,
        preview=preview,
        mapping_signature=mapping.signature(),
        rejected_money=rejected_money,
    )
    staged.reports[mapping.signature()] = report
    return report


def _line_numbers(con: Connection, t: str, staged: StagedUpload, header_offset: int):
    """A function from fetched (logical line, value) rows to the line numbers a message shows.

    Without line breaks inside quoted fields a record is one line. With them, physical lines are counted
    from the scan's quoted breaks, once the counts agree (records + quoted breaks = lines); when they do
    not (blank lines, a stray quote), a message gives the data row instead, which is never wrong."""
    quoted = staged.quoted_breaks
    if not staged.detected.get("line breaks inside quoted fields"):
        return lambda rows: [int(line) for line, _ in rows]
    records = int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) + header_offset - 1
    if quoted is not None and staged.text_lines is not None and records + quoted.size == staged.text_lines:
        return lambda rows: [int(x) for x in physical_lines([line for line, _ in rows], quoted)]
    return lambda rows: [f"data row {int(line) - header_offset + 1}" for line, _ in rows]

"""Suggest a mapping from headers and content, with its evidence; apply the user's choices."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import SchemaError
from engine.ingest.model import SAMPLE_ROWS, Mapping, StagedUpload
from engine.ingest.parse import _FALSE, _TRUE, _number_expr, _text
from engine.schema import Field, Table, get_table, normalize_header
from engine.store import Connection, quote_ident, quote_literal


@dataclass
class ColumnProfile:
    name: str
    non_null: int
    distinct: int
    share_numeric: float
    share_integer: float
    share_decimal_comma: float
    share_bool: float
    date_format: str | None
    date_share: float
    date_ambiguous: bool
    median_number: float | None
    max_length: int


_DATE_PATTERNS = {
    "iso": r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "ymd_slash": r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}( .*)?$",
    "dm_or_md": r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T].*)?$",
    "yyyymmdd": r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$",
    "epoch_s": r"^1\d{9}$",
    "epoch_ms": r"^1\d{12}$",
    "text_month": r"^(\d{1,2}[ -])?[A-Za-z]{3,9}\.?[ -]\d{1,2}?,? ?\d{2,4}( .*)?$|^[A-Za-z]{3,9},? ",
}
_NUM_PLAIN = r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$"
_NUM_MESSY = r"^\(?[+-]?\s*[$€£¥]?\s*[+-]?\d[\d.,' ]*\s*[$€£¥]?\)?\s*(USD|EUR|GBP)?$"
_NUM_DEC_COMMA = r"^\(?[+-]?[$€£¥]?\s*\d{1,3}(\.\d{3})*,\d+\s*[$€£¥]?\)?$|^[+-]?\d+,\d+$"
_INT = r"^[+-]?\d+$"


def profile_columns(
    con: Connection, staged: StagedUpload, sample_rows: int = SAMPLE_ROWS
) -> dict[str, ColumnProfile]:
    """Describe each source column from a sample of rows: what kind of values it holds."""
    if not staged.columns:
        return {}
    sample = f"_sample_{staged.token}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(sample)} AS "
        f"SELECT * FROM {quote_ident(staged.source_relation)} LIMIT {int(sample_rows)}"
    )
    parts = []
    for i, col in enumerate(staged.columns):
        c = f"trim({quote_ident(col)})"
        nn = f"NULLIF({c}, '')"
        parts.append(
            f"""count({nn}) AS n{i},
            count(DISTINCT {nn}) AS d{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_NUM_PLAIN)}) OR regexp_matches({c}, {quote_literal(_NUM_MESSY)})) AS num{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_INT)})) AS int{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_NUM_DEC_COMMA)})) AS dc{i},
            count(*) FILTER (WHERE lower({c}) IN {_TRUE + _FALSE}) AS b{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["iso"])})) AS iso{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["ymd_slash"])})) AS ymd{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["dm_or_md"])})) AS dm{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["yyyymmdd"])})) AS y8{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["epoch_s"])})) AS es{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["epoch_ms"])})) AS ems{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["text_month"])})) AS tm{i},
            max(TRY_CAST(regexp_extract({c}, '^(\\d{{1,2}})[/.-]', 1) AS INTEGER)) AS p1_{i},
            max(TRY_CAST(regexp_extract({c}, '^\\d{{1,2}}[/.-](\\d{{1,2}})[/.-]', 1) AS INTEGER)) AS p2_{i},
            bool_or(regexp_matches({c}, '^\\d{{1,2}}\\.\\d{{1,2}}\\.')) AS dots{i},
            median(TRY_CAST({c} AS DOUBLE)) AS med{i},
            max(length({c})) AS len{i}"""
        )
    try:
        row = con.execute(f"SELECT {', '.join(parts)} FROM {quote_ident(sample)}").fetchone()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(sample)}")
    width = 18
    out: dict[str, ColumnProfile] = {}
    for i, col in enumerate(staged.columns):
        (n, d, num, integer, dc, b, iso, ymd, dm, y8, es, ems, tm, p1, p2, dots, med, length) = row[
            i * width : (i + 1) * width
        ]
        n = int(n or 0)
        denom = max(n, 1)
        candidates = {
            "iso": iso,
            "ymd_slash": ymd,
            "dm_or_md": dm,
            "yyyymmdd": y8,
            "epoch_s": es,
            "epoch_ms": ems,
            "text_month": tm,
        }
        best = max(candidates, key=lambda k: candidates[k])
        date_share = candidates[best] / denom if n else 0.0
        fmt, ambiguous = None, False
        if date_share >= 0.8:
            fmt = best
            if best == "dm_or_md":
                p1, p2 = int(p1 or 0), int(p2 or 0)
                if p1 > 12 and p2 <= 12:
                    fmt = "dmy"
                elif p2 > 12 and p1 <= 12:
                    fmt = "mdy"
                else:
                    fmt, ambiguous = ("dmy" if dots else "mdy"), True
        out[col] = ColumnProfile(
            col,
            n,
            int(d or 0),
            (num or 0) / denom,
            (integer or 0) / denom,
            (dc or 0) / denom,
            (b or 0) / denom,
            fmt,
            date_share,
            ambiguous,
            float(med) if med is not None else None,
            int(length or 0),
        )
    return out


def _refine_ambiguous_dates(con: Connection, staged: StagedUpload, profile: ColumnProfile) -> ColumnProfile:
    """A sample that cannot tell day from month is checked against every row of the column."""
    c = f"trim({quote_ident(profile.name)})"
    p1, p2 = con.execute(
        f"""SELECT max(TRY_CAST(regexp_extract({c}, '^(\\d{{1,2}})[/.-]', 1) AS INTEGER)),
                   max(TRY_CAST(regexp_extract({c}, '^\\d{{1,2}}[/.-](\\d{{1,2}})[/.-]', 1) AS INTEGER))
            FROM {quote_ident(staged.source_relation)}"""
    ).fetchone()
    p1, p2 = int(p1 or 0), int(p2 or 0)
    if p1 > 12 and p2 <= 12:
        profile.date_format, profile.date_ambiguous = "dmy", False
    elif p2 > 12 and p1 <= 12:
        profile.date_format, profile.date_ambiguous = "mdy", False
    return profile


def _kind_fit(fld: Field, prof: ColumnProfile) -> float:
    """How well a column's content fits a field's kind (0..1)."""
    if prof.non_null == 0:
        return 0.3
    if fld.kind in ("date", "timestamp"):
        return 1.0 if prof.date_format else 0.0
    if fld.kind in ("number",):
        return (
            1.0
            if prof.share_numeric >= 0.95 and not prof.date_format
            else (0.2 if prof.share_numeric > 0.5 else 0.0)
        )
    if fld.kind == "integer":
        return 1.0 if prof.share_integer >= 0.95 and not prof.date_format else 0.0
    if fld.kind == "bool":
        return 1.0 if prof.share_bool >= 0.95 else 0.0
    if fld.kind == "id":
        return (
            0.3
            if prof.date_format
            else (0.2 if prof.share_numeric >= 0.95 and prof.share_integer < 0.5 else 1.0)
        )
    return 0.2 if prof.date_format else 1.0


def _header_score(fld: Field, column: str) -> float:
    norm = normalize_header(column)
    if not norm:
        return 0.0
    if norm == normalize_header(fld.name):
        return 1.0
    if norm in fld.aliases:
        return 0.9 - 0.001 * fld.aliases.index(norm)
    for alias in (normalize_header(fld.name),) + fld.aliases:
        if len(alias) >= 4 and (alias in norm or (len(norm) >= 4 and norm in alias)):
            return 0.6
    return 0.0


def saved_mapping(con: Connection, staged: StagedUpload, table: str) -> Mapping | None:
    """The mapping confirmed earlier for a file with the same headers, if any."""
    row = con.execute(
        "SELECT mapping_json FROM _mappings WHERE header_key = ? AND table_name = ?",
        [staged.header_key, table],
    ).fetchone()
    if not row:
        return None
    mapping = Mapping.from_json(row[0])
    if not set(mapping.columns.values()) <= set(staged.columns):
        return None
    mapping.confidence = {f: "saved" for f in list(mapping.columns) + list(mapping.constants)}
    mapping.questions = []
    return mapping


def suggest_mapping(con: Connection, staged: StagedUpload, table: str) -> Mapping:
    """Suggest how the file's columns fill ``table``, from headers and content; reuse a saved mapping.

    A field matched only by content (a headerless file, say), an ambiguous day/month order, a repeated
    order total or a missing required field becomes a question the user must answer before loading.
    """
    spec = get_table(table)
    saved = saved_mapping(con, staged, table)
    if saved is not None:
        return saved
    profiles = profile_columns(con, staged)
    for prof in profiles.values():
        if prof.date_ambiguous:
            _refine_ambiguous_dates(con, staged, prof)
    scores: list[tuple[float, int, str, str, str]] = []
    for order, fld in enumerate(spec.fields):
        for col in staged.columns:
            prof = profiles[col]
            fit = _kind_fit(fld, prof)
            head = _header_score(fld, col)
            if head > 0 and fit > 0:
                scores.append((head * (0.5 + 0.5 * fit), -order, fld.name, col, "header"))
            elif fit >= 1.0 and head == 0:
                content = _content_score(fld, prof, staged.columns.index(col))
                if content > 0:
                    scores.append((content, -order, fld.name, col, "content"))
    scores.sort(key=lambda s: (-s[0], -s[1]))
    mapping = Mapping(table=table)
    used: set[str] = set()
    for score, _, fname, col, how in scores:
        if fname in mapping.columns or col in used or score < 0.25:
            continue
        mapping.columns[fname] = col
        mapping.confidence[fname] = how
        used.add(col)
    _orders_rules(con, staged, spec, mapping, profiles)
    for fname, col in mapping.columns.items():
        fld = spec.field(fname)
        prof = profiles[col]
        if fld.kind in ("date", "timestamp"):
            mapping.date_formats[fname] = prof.date_format or "iso"
            if prof.date_ambiguous:
                mapping.questions.append(
                    f"Dates in {col!r} could be day-first or month-first (every value has both parts <= 12). "
                    f"Choose the order for {fname}: 'dmy' (31/03) or 'mdy' (03/31)."
                )
        if fld.kind in ("number", "integer"):
            mapping.decimal_comma[fname] = prof.share_decimal_comma > 0 and (
                prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
            )
        if mapping.confidence.get(fname) == "content":
            mapping.questions.append(
                f"{fname} <- {col!r} was guessed from the column's content only; confirm it."
            )
    mapping.extras = [c for c in staged.columns if c not in mapping.columns.values()]
    missing = [
        f
        for f in spec.required
        if f not in mapping.columns
        and f not in mapping.constants
        and not (f == "amount" and mapping.amount_rule == "quantity_x_unit_price")
    ]
    for fname in missing:
        mapping.questions.append(
            f"No column found for required field {fname!r}: pick one, or type a constant for the whole file."
        )
    return mapping


def _content_score(fld: Field, prof: ColumnProfile, position: int) -> float:
    """A score for a content-only match (no header evidence)."""
    if fld.kind in ("date", "timestamp"):
        return 0.55 if fld.required else 0.4
    if fld.name == "customer_id":
        return 0.5 - 0.01 * position if prof.share_integer >= 0.95 or prof.distinct > 1 else 0.0
    if fld.name == "amount" and prof.share_numeric >= 0.95 and prof.share_integer < 0.9:
        return 0.5
    if fld.name == "quantity" and prof.share_integer >= 0.99 and (prof.median_number or 0) <= 20:
        return 0.35
    if fld.name in ("rating",) and prof.share_numeric >= 0.99 and (prof.median_number or 0) <= 10:
        return 0.3
    if fld.name == "product_id" and fld.required:
        return 0.45 - 0.01 * position
    return 0.0


def _orders_rules(con, staged, spec: Table, mapping: Mapping, profiles) -> None:
    """Orders: derive amount from quantity x unit price, and detect an order total repeated per line."""
    if spec.name != "orders":
        return
    cols = mapping.columns
    # 'Price' next to a quantity is a unit price, not the line amount
    if "amount" in cols and "quantity" in cols and "unit_price" not in cols:
        if normalize_header(cols["amount"]) in ("price", "unitprice", "itemprice", "lineitemprice"):
            cols["unit_price"] = cols.pop("amount")
            mapping.confidence["unit_price"] = mapping.confidence.pop("amount")
    if "amount" not in cols and "quantity" in cols and "unit_price" in cols:
        mapping.amount_rule = "quantity_x_unit_price"
        mapping.confidence["amount"] = "derived"
        return
    if "amount" in cols and "order_id" in cols:
        comma = {f: profiles[c].share_decimal_comma >= 0.5 for f, c in cols.items()}
        verdict = detect_repeated_order_total(
            con, staged, cols["order_id"], cols["amount"], cols.get("quantity"), cols.get("unit_price"), comma
        )
        if verdict:
            if "quantity" in cols and "unit_price" in cols:
                mapping.amount_rule = "quantity_x_unit_price"
                mapping.questions.append(
                    f"{cols['amount']!r} repeats the same total on every line of {verdict} multi-line orders: it is "
                    f"an order total. Line amounts will be quantity x unit price instead; confirm."
                )
            else:
                mapping.amount_rule = "split_order_total"
                mapping.questions.append(
                    f"{cols['amount']!r} repeats the same total on every line of {verdict} multi-line orders: it is "
                    f"an order total. It will be split evenly across each order's lines so it is counted once; confirm."
                )
            mapping.confidence["amount"] = "derived"


def detect_repeated_order_total(
    con: Connection,
    staged: StagedUpload,
    order_col: str,
    amount_col: str,
    quantity_col: str | None = None,
    price_col: str | None = None,
    decimal_comma: dict[str, bool] | None = None,
) -> int:
    """Number of multi-line orders whose amount is the same on every line (and is not quantity x price),
    when that is the pattern of the file (at least 10 such orders and 90% of multi-line orders); else 0.

    Looks at the first ``SAMPLE_ROWS`` rows: exports list an order's lines together, and the pattern is a
    property of the export, not of single orders."""
    o, a = quote_ident(order_col), quote_ident(amount_col)
    line_check = "true"
    if quantity_col and price_col:
        comma = decimal_comma or {}
        amount = _number_expr(_text(amount_col), comma.get("amount", False))
        qty = _number_expr(_text(quantity_col), comma.get("quantity", False))
        price = _number_expr(_text(price_col), comma.get("unit_price", False))
        line_check = f"bool_or(abs(({amount}) - ({qty}) * ({price})) > 0.005)"
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE same AND differs), count(*)
            FROM (SELECT count(DISTINCT trim({a})) = 1 AND count(trim({a})) = count(*) AS same,
                         {line_check} AS differs
                  FROM (SELECT * FROM {quote_ident(staged.source_relation)} LIMIT {SAMPLE_ROWS})
                  WHERE NULLIF(trim({o}), '') IS NOT NULL
                  GROUP BY trim({o}) HAVING count(*) > 1)"""
    ).fetchone()
    repeated, multi = int(row[0] or 0), int(row[1] or 0)
    return repeated if repeated >= 10 and repeated >= 0.9 * multi else 0


def apply_overrides(
    con: Connection, mapping: Mapping, overrides: dict[str, str], staged: StagedUpload
) -> Mapping:
    """Apply user choices: ``field -> column``, ``field -> ':constant'``, ``field -> ''`` (unmap),
    ``<field>__date_format -> dmy``, ``amount_rule -> quantity_x_unit_price``. Answered questions go away."""
    spec = get_table(mapping.table)
    out = Mapping.from_json(mapping.to_json())
    for key, value in overrides.items():
        if key == "amount_rule":
            out.amount_rule = value
            out.questions = [q for q in out.questions if "order total" not in q]
            continue
        if key.endswith("__date_format"):
            fname = key[: -len("__date_format")]
            out.date_formats[fname] = value
            out.questions = [q for q in out.questions if f"for {fname}:" not in q]
            continue
        if key.endswith("__decimal_comma"):
            out.decimal_comma[key[: -len("__decimal_comma")]] = str(value).lower() in ("1", "true", "yes")
            continue
        if key not in spec.field_names:
            raise SchemaError(
                f"{key!r} is not a field of {spec.name}. Fields: {', '.join(spec.field_names)}."
            )
        out.columns.pop(key, None)
        out.constants.pop(key, None)
        out.questions = [
            q for q in out.questions if not q.startswith(f"{key} <-") and f"field {key!r}" not in q
        ]
        if value.startswith(":"):
            out.constants[key] = value[1:]
            out.confidence[key] = "constant"
        elif value:
            if value not in staged.columns:
                raise SchemaError(
                    f"Column {value!r} is not in {staged.file_name}. Columns: {', '.join(staged.columns)}."
                )
            for other, col in list(out.columns.items()):
                if col == value:
                    out.columns.pop(other)
            out.columns[key] = value
            out.confidence[key] = "user"
            fld = spec.field(key)
            if fld.kind in ("date", "timestamp") and f"{key}__date_format" not in overrides:
                prof = profile_columns(con, staged)[value]
                if prof.date_ambiguous:
                    prof = _refine_ambiguous_dates(con, staged, prof)
                out.date_formats[key] = prof.date_format or "iso"
                if prof.date_ambiguous:
                    out.questions.append(
                        f"Dates in {value!r} could be day-first or month-first (every value has both parts <= 12). "
                        f"Choose the order for {key}: 'dmy' (31/03) or 'mdy' (03/31)."
                    )
            if fld.kind in ("number", "integer") and f"{key}__decimal_comma" not in overrides:
                prof = profile_columns(con, staged)[value]
                out.decimal_comma[key] = prof.share_decimal_comma > 0 and (
                    prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
                )
    out.extras = [c for c in staged.columns if c not in out.columns.values()]
    return out

"""Parse expressions: SQL that turns cleaned text into typed values (numbers, dates, booleans)."""

from __future__ import annotations

from engine.errors import SchemaError
from engine.ingest.model import DATE_FORMATS, Mapping
from engine.schema import Field
from engine.store import quote_ident, quote_literal

_TIME_SUFFIXES = ["", " %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "T%H:%M:%S", " %H:%M:%S.%f"]
_STRPTIME = {
    "dmy": [
        f"{d}{t}"
        for d in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
        for t in _TIME_SUFFIXES
    ],
    "mdy": [f"{d}{t}" for d in ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%Y") for t in _TIME_SUFFIXES],
    "ymd_slash": [f"{d}{t}" for d in ("%Y/%m/%d", "%Y.%m.%d") for t in _TIME_SUFFIXES],
    "yyyymmdd": ["%Y%m%d"],
    "text_month": [
        f"{d}{t}"
        for d in (
            "%d %b %Y",
            "%d %B %Y",
            "%b %d %Y",
            "%B %d %Y",
            "%b %d, %Y",
            "%B %d, %Y",
            "%d-%b-%Y",
            "%d-%b-%y",
            "%a, %d %b %Y",
            "%A, %B %d, %Y",
        )
        for t in _TIME_SUFFIXES[:3]
    ],
}

_TRUE = ("1", "true", "t", "yes", "y", "converted", "x", "1.0")
_FALSE = ("0", "false", "f", "no", "n", "0.0", "-")


def _text(col: str) -> str:
    return f"NULLIF(trim({quote_ident(col)}), '')"


def _number_expr(src: str, decimal_comma: bool) -> str:
    """SQL turning cleaned text into DOUBLE: currency signs, spaces, thousands separators, (1.00) negatives."""
    stripped = f"regexp_replace({src}, '[\\s$€£¥'']|USD|EUR|GBP', '', 'g')"
    if decimal_comma:
        normal = f"replace(replace({stripped}, '.', ''), ',', '.')"
    else:
        normal = f"replace({stripped}, ',', '')"
    messy = (
        f"CASE WHEN trim({src}) LIKE '(%)' THEN -TRY_CAST(trim({normal}, '()') AS DOUBLE) "
        f"ELSE TRY_CAST({normal} AS DOUBLE) END"
    )
    if decimal_comma:
        return messy
    return f"COALESCE(TRY_CAST({src} AS DOUBLE), {messy})"


def _date_expr(src: str, fmt: str) -> str:
    if fmt == "iso":
        return (
            f"COALESCE(TRY_CAST({src} AS TIMESTAMP), TRY_CAST(TRY_CAST({src} AS TIMESTAMPTZ) AS TIMESTAMP))"
        )
    # Out-of-range numbers become NULL (unreadable), never an overflow error that stops the whole read.
    if fmt == "epoch_s":
        return (
            f"CASE WHEN abs(TRY_CAST({src} AS BIGINT)) < 100000000000 "
            f"THEN epoch_ms(TRY_CAST({src} AS BIGINT) * 1000) END"
        )
    if fmt == "epoch_ms":
        return f"CASE WHEN abs(TRY_CAST({src} AS BIGINT)) < 100000000000000 THEN epoch_ms(TRY_CAST({src} AS BIGINT)) END"
    if fmt == "excel":
        return (
            f"CASE WHEN abs(TRY_CAST({src} AS DOUBLE)) < 2958466 THEN "
            f"CAST(DATE '1899-12-30' + TRY_CAST(TRY_CAST({src} AS DOUBLE) AS INTEGER) AS TIMESTAMP) END"
        )
    formats = _STRPTIME.get(fmt)
    if not formats:
        raise SchemaError(f"Unknown date format {fmt!r}. Choose one of: {', '.join(DATE_FORMATS)}.")
    return f"try_strptime({src}, {_sql_list(formats)})"


def _parse_expr(fld: Field, src: str, mapping: Mapping) -> str:
    """Typed value of a field from cleaned text ``src`` (NULL when it does not parse)."""
    if fld.kind in ("id",):
        # spreadsheets turn the id 1234 into 1234.0; only such values pay for the regular expression
        return (
            f"CASE WHEN ends_with({src}, '0') AND contains({src}, '.') "
            f"THEN regexp_replace({src}, '^(-?\\d+)\\.0+$', '\\1') ELSE {src} END"
        )
    if fld.kind in ("text", "category"):
        return src
    if fld.kind in ("number", "integer"):
        expr = _number_expr(src, mapping.decimal_comma.get(fld.name, False))
        if fld.kind == "integer":
            return f"(CASE WHEN ({expr}) = floor({expr}) THEN TRY_CAST({expr} AS BIGINT) END)"
        return expr
    if fld.kind == "bool":
        return f"(CASE WHEN lower({src}) IN {_TRUE} THEN true WHEN lower({src}) IN {_FALSE} THEN false END)"
    if fld.kind in ("date", "timestamp"):
        expr = _date_expr(src, mapping.date_formats.get(fld.name, "iso"))
        return f"CAST({expr} AS DATE)" if fld.kind == "date" else f"CAST({expr} AS TIMESTAMP)"
    raise SchemaError(f"Unknown kind {fld.kind!r}")


# Problem codes (3 bits per field in ``_err``): what is wrong with a cell, in words.
_PROBLEM = {
    1: "a missing value",
    2: "a value that cannot be read",
    3: "a value out of range",
    4: "a duplicate key",
    5: "not a finite number",
    6: "a date outside 1900-01-01 .. a year from today",
    7: "a number beyond the amount limit",
}
# No stored value may break a page: dates stay within a plausible span and numbers finite and bounded.
EARLIEST_DATE = "1900-01-01"
LATEST_DATE_DAYS_AHEAD = 366
AMOUNT_LIMIT = 1e12


def _sanity_checks(fld: Field, value: str) -> list[tuple[str, int]]:
    """(SQL condition, code) pairs checked on a parsed value before the field's own bounds."""
    if fld.kind in ("number", "integer"):
        return [
            (f"(isnan(CAST({value} AS DOUBLE)) OR isinf(CAST({value} AS DOUBLE)))", 5),
            (f"abs(CAST({value} AS DOUBLE)) > {AMOUNT_LIMIT:.0f}", 7),
        ]
    if fld.kind in ("date", "timestamp"):
        return [
            (
                f"({value} < TIMESTAMP '{EARLIEST_DATE}' OR "
                f"{value} > current_date + INTERVAL {LATEST_DATE_DAYS_AHEAD} DAY)",
                6,
            )
        ]
    return []


def _fix_for(fld: Field, code: int, mapping: Mapping) -> str:
    if code == 1:
        return f"{fld.name} is required: fill it in the file, or map another column."
    if code == 3:
        lo = "" if fld.minimum is None else f">= {fld.minimum:g}"
        hi = "" if fld.maximum is None else f"<= {fld.maximum:g}"
        return f"{fld.name} must be {' and '.join(x for x in (lo, hi) if x)}."
    if code == 4:
        return f"Each {fld.name} may appear once; the first row is kept, later ones are rejected."
    if code == 5:
        return "NaN and Infinity are not amounts: fill in the real number or leave the cell empty."
    if code == 6:
        return (
            f"{fld.name} must fall between {EARLIEST_DATE} and a year from today; placeholders like 9999-12-31 "
            "('no end date') or 0001-01-01 are not dates: leave such cells empty."
        )
    if code == 7:
        return (
            f"{fld.name} must be within +/-{AMOUNT_LIMIT:,.0f}; such a value is a damaged cell or an "
            "identifier in the wrong column."
        )
    if fld.kind in ("date", "timestamp"):
        fmt = mapping.date_formats.get(fld.name, "iso")
        return f"Expected dates like {DATE_FORMATS.get(fmt, fmt)}; fix these cells or choose another date format."
    if fld.kind in ("number", "integer"):
        style = "1.234,56" if mapping.decimal_comma.get(fld.name) else "1,234.56"
        whole = " whole" if fld.kind == "integer" else ""
        return f"Expected{whole} numbers like {style}; fix these cells or map another column."
    if fld.kind == "bool":
        return "Expected yes/no, true/false or 1/0."
    return "Fix these cells."


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(quote_literal(i) for i in items) + "]"

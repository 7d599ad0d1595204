"""Suggest a mapping from headers and content, with its evidence; apply the user's choices."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from engine.errors import SchemaError
from engine.ingest.model import DATE_FORMATS, PRESELECT_SCORE, SAMPLE_ROWS, Mapping, StagedUpload
from engine.ingest.parse import _FALSE, _TRUE, _number_expr, _text
from engine.schema import CONTROL_NAMES, Field, Table, get_table, looks_like_id, normalize_header
from engine.store import Connection, quote_ident, quote_literal


@dataclass
class ColumnProfile:
    """What a sample of one column holds: counts, shares of value kinds, a date format, number range."""

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
    int_min: int | None = None
    int_max: int | None = None
    zero_one: bool = False
    share_whole_decimal: float = 0.0

    @property
    def evidence(self) -> list[str]:
        """The content facts a suggestion rests on, in words."""
        facts = []
        if self.non_null == 0:
            return ["the sample holds no values"]
        if self.date_format:
            facts.append(f"{self.date_share:.0%} dates ({DATE_FORMATS[self.date_format]})")
        elif self.zero_one:
            facts.append("only 0 and 1")
        elif self.share_integer >= 0.95:
            facts.append(f"{self.share_integer:.0%} whole numbers")
        elif self.share_numeric >= 0.95:
            facts.append(f"{self.share_numeric:.0%} numbers")
        else:
            facts.append("text")
        facts.append(f"{self.distinct:,} distinct of {self.non_null:,} values")
        return facts


def _epoch_format(int_min: int | None, int_max: int | None, *, strict: bool = True) -> str | None:
    """Unix seconds or milliseconds, decided by the range of the values (any era from 1970 on, up to a year
    from now), not by their number of digits. ``strict`` (content alone) asks for values from March 1973 on
    (at least 100,000,000), so that ordinary counts and ids are not taken for dates; a column picked for a
    date field by its header or by the user only needs to fit the range."""
    if int_min is None or int_max is None or int_min < 0:
        return None
    horizon = time.time() + 366 * 86400
    low = 100_000_000 if strict else 0
    if int_min >= low and int_max <= horizon and int_max >= 100_000_000:
        return "epoch_s"
    if int_min >= low * 1000 and int_max <= horizon * 1000 and int_max >= 100_000_000_000:
        return "epoch_ms"
    return None


_DATE_PATTERNS = {
    "iso": r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "ymd_slash": r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}( .*)?$",
    "dm_or_md": r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T].*)?$",
    "yyyymmdd": r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$",
    "text_month": r"^(\d{1,2}[ -])?[A-Za-z]{3,9}\.?[ -]\d{1,2}?,? ?\d{2,4}( .*)?$|^[A-Za-z]{3,9},? ",
}
_NUM_PLAIN = r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$"
_NUM_MESSY = r"^\(?[+-]?\s*[$€£¥]?\s*[+-]?\d[\d.,' ]*\s*[$€£¥]?\)?\s*(USD|EUR|GBP)?$"
_NUM_DEC_COMMA = r"^\(?[+-]?[$€£¥]?\s*\d{1,3}(\.\d{3})*,\d+\s*[$€£¥]?\)?$|^[+-]?\d+,\d+$"
_INT = r"^[+-]?\d+$"


def profile_columns(
    con: Connection, staged: StagedUpload, sample_rows: int = SAMPLE_ROWS
) -> dict[str, ColumnProfile]:
    """Describe each source column from a sample of rows: what kind of values it holds (kept on ``staged``)."""
    if not staged.columns:
        return {}
    if sample_rows == SAMPLE_ROWS and staged.profiles:
        return staged.profiles
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
            min(TRY_CAST({c} AS HUGEINT)) FILTER (WHERE regexp_matches({c}, {quote_literal(_INT)})) AS imin{i},
            max(TRY_CAST({c} AS HUGEINT)) FILTER (WHERE regexp_matches({c}, {quote_literal(_INT)})) AS imax{i},
            count(*) FILTER (WHERE {c} IN ('0', '1')) AS zo{i},
            count(DISTINCT {c}) FILTER (WHERE {c} IN ('0', '1')) AS zod{i},
            count(*) FILTER (WHERE regexp_matches({c}, '^[+-]?\\d+\\.0+$')) AS wd{i},
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
    width = 21
    out: dict[str, ColumnProfile] = {}
    for i, col in enumerate(staged.columns):
        (
            n,
            d,
            num,
            integer,
            dc,
            b,
            iso,
            ymd,
            dm,
            y8,
            imin,
            imax,
            zo,
            zod,
            wd,
            tm,
            p1,
            p2,
            dots,
            med,
            length,
        ) = row[i * width : (i + 1) * width]
        n = int(n or 0)
        denom = max(n, 1)
        candidates = {
            "iso": iso,
            "ymd_slash": ymd,
            "dm_or_md": dm,
            "yyyymmdd": y8,
            "text_month": tm,
        }
        best = max(candidates, key=lambda k: candidates[k])
        date_share = candidates[best] / denom if n else 0.0
        fmt, ambiguous = None, False
        all_integers = n > 0 and (integer or 0) == n
        epoch = _epoch_format(imin, imax) if all_integers else None
        if epoch and date_share < 0.8:
            fmt, date_share = epoch, 1.0
        elif date_share >= 0.8:
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
            int(imin) if imin is not None else None,
            int(imax) if imax is not None else None,
            n > 0 and (zo or 0) == n and (zod or 0) == 2,
            (wd or 0) / denom,
        )
    if sample_rows == SAMPLE_ROWS:
        staged.profiles.update(out)
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
            # decimals are rarely ids, but 17850.0 (an id that went through a spreadsheet) is one
            else (
                0.2
                if prof.share_numeric >= 0.95 and prof.share_integer + prof.share_whole_decimal < 0.5
                else 1.0
            )
        )
    return 0.2 if prof.date_format else 1.0


_PLAUSIBLE_HEADER = re.compile(r"^[\w .,()/#%&+:$€£\[\]-]{1,80}$")


def plausible_header(column: str) -> bool:
    """Whether a header reads like a column name: letters, digits, spaces and ordinary punctuation, at most
    eight words, no statement separators or comment marks (``"; DROP TABLE orders; --`` is not one)."""
    text = str(column).strip()
    return bool(_PLAUSIBLE_HEADER.match(text)) and "--" not in text and len(text.split()) <= 8


def _header_match(fld: Field, column: str) -> tuple[float, str | None]:
    """How strongly a header names a field (0..1) and the evidence, in words."""
    norm = normalize_header(column)
    if not norm:
        return 0.0, None
    if norm == normalize_header(fld.name):
        return 1.0, f"header {column!r} is the field's name"
    if norm in fld.aliases:
        return 0.9 - 0.001 * fld.aliases.index(norm), f"header {column!r} is a usual name for {fld.name}"
    for alias in (normalize_header(fld.name),) + fld.aliases:
        if len(alias) >= 4 and (alias in norm or (len(norm) >= 4 and norm in alias)):
            return 0.6, f"header {column!r} contains {alias!r}"
    return 0.0, None


# Ids of things a file holds many of: a column of a few small numbers cannot be one of these (campaign and
# experiment ids can: a file often holds only a handful of campaigns).
_MANY_PER_FILE = ("customer_id", "product_id", "order_id")


def _small_number_column(prof: ColumnProfile) -> bool:
    """Few distinct values over many rows (months since a purchase, a 1-5 score, a spend band): without a
    header naming it so, never taken for the id of a customer, product or order."""
    return prof.distinct <= 50 and prof.distinct < 0.05 * prof.non_null


def _near_unique_number(prof: ColumnProfile) -> bool:
    return prof.share_numeric >= 0.95 and prof.non_null >= 20 and prof.distinct >= 0.9 * prof.non_null


def _guard(fld: Field, column: str, prof: ColumnProfile) -> str | None:
    """A reason this column can never fill this field, or None."""
    if fld.count and prof.zero_one:
        return f"{column!r} holds only 0 and 1: a yes/no flag, not a count"
    if fld.kind in ("text", "category") and looks_like_id(column):
        return f"{column!r} is named like an identifier, not a {fld.name}"
    if fld.kind in ("text", "category") and _near_unique_number(prof):
        return f"{column!r} holds a different number on nearly every row: an identifier, not a {fld.name}"
    if fld.kind == "category" and prof.share_numeric >= 0.95 and prof.share_integer < 0.5:
        return f"{column!r} holds decimal numbers: a measure, not a {fld.name}"
    return None


def _candidate(fld: Field, column: str, prof: ColumnProfile, position: int) -> tuple[float, str, list[str]]:
    """Score (0..1), how ("header" or "content") and evidence for one field and one column; score 0 when
    the column cannot fill the field."""
    if _guard(fld, column, prof):
        return 0.0, "", []
    fit = _kind_fit(fld, prof)
    head, said = _header_match(fld, column)
    evidence = ([said] if said else []) + prof.evidence
    if head > 0 and fit > 0:
        score = head * (0.5 + 0.5 * fit)
        if not plausible_header(column):
            score = min(score, 0.3)
            evidence.insert(0, "the header does not read like a column name")
        return score, "header", evidence
    if fit >= 1.0 and head == 0:
        if fld.name in _MANY_PER_FILE and _small_number_column(prof):
            return 0.0, "", []
        content = _content_score(fld, prof, position)
        if content > 0:
            return content, "content", ["no header evidence: content only", *prof.evidence]
    return 0.0, "", []


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
    mapping.suggestions = {
        f: {"column": c, "score": 1.0, "evidence": ["confirmed earlier for a file with the same headers"]}
        for f, c in mapping.columns.items()
    }
    mapping.questions = []
    return mapping


def suggest_mapping(con: Connection, staged: StagedUpload, table: str) -> Mapping:
    """Suggest how the file's columns fill ``table``, from headers and content; reuse a saved mapping.

    Every field with a candidate gets a suggestion with its score (0..1) and evidence (header name or
    alias, content pattern, type fit, distinct values) in ``Mapping.suggestions``. One rule decides which
    are applied: a score of at least ``PRESELECT_SCORE``. Weaker ones (content only, an implausible header,
    too few distinct values for an id) stay hints until the user takes them (``accept_suggestions``).
    Hard rules: a count field never takes a 0/1 column, an id field never takes a column of a few small
    numbers, a name or category never takes an id-like column. An ambiguous day/month order or a repeated
    order total becomes a question the user must answer before loading.
    """
    spec = get_table(table)
    saved = saved_mapping(con, staged, table)
    if saved is not None:
        return saved
    profiles = profile_columns(con, staged)
    for prof in profiles.values():
        if prof.date_ambiguous:
            _refine_ambiguous_dates(con, staged, prof)
    scores: list[tuple[float, int, str, str, str, list[str]]] = []
    for order, fld in enumerate(spec.fields):
        for position, col in enumerate(staged.columns):
            score, how, evidence = _candidate(fld, col, profiles[col], position)
            if score >= 0.25:
                scores.append((score, -order, fld.name, col, how, evidence))
    scores.sort(key=lambda s: (-s[0], -s[1]))
    mapping = Mapping(table=table)
    used: set[str] = set()
    for score, _, fname, col, how, evidence in scores:
        if fname in mapping.suggestions or col in used:
            continue
        mapping.suggestions[fname] = {"column": col, "score": round(score, 3), "evidence": evidence}
        used.add(col)
        if score >= PRESELECT_SCORE:
            mapping.columns[fname] = col
            mapping.confidence[fname] = how
    if spec.name == "experiments" and "variant" not in mapping.suggestions:
        _variant_from_control_name(con, staged, mapping, profiles, used)
    _orders_rules(con, staged, spec, mapping, profiles)
    for fname, suggestion in mapping.suggestions.items():
        _formats_from_content(staged, spec.field(fname), profiles[suggestion["column"]], mapping)
    for fname, col in mapping.columns.items():
        prof = profiles[col]
        if spec.field(fname).kind in ("date", "timestamp") and prof.date_ambiguous:
            mapping.questions.append(_ambiguous_question(col, fname))
    mapping.extras = [c for c in staged.columns if c not in mapping.columns.values()]
    return mapping


#: A column of at most this many labels may hold an experiment's variants.
MAX_VARIANT_LABELS = 20


def _control_word(value: str) -> str | None:
    """The control name (``CONTROL_NAMES``) that ``value`` is, compared as the Experiments page compares
    them (case, and runs of spaces, dashes, dots and underscores, ignored), or None."""
    normal = re.sub(r"[\s\-_.]+", " ", value.strip().lower()).strip()
    return next((c for c in CONTROL_NAMES if re.sub(r"[\s\-_.]+", " ", c).strip() == normal), None)


def _variant_from_control_name(
    con: Connection, staged: StagedUpload, mapping: Mapping, profiles, used
) -> None:
    """A hint for ``variant`` from content: a text column of a few labels, one of them a control name
    ("No E-Mail" in the MineThatData test's ``segment`` column). Content only, so a hint (0.5), never
    preselected."""
    for col in staged.columns:
        prof = profiles[col]
        if col in used or not 2 <= prof.distinct <= MAX_VARIANT_LABELS or prof.share_numeric >= 0.5:
            continue
        labels = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT trim({quote_ident(col)}) FROM {quote_ident(staged.source_relation)} "
                f"WHERE nullif(trim({quote_ident(col)}), '') IS NOT NULL LIMIT {MAX_VARIANT_LABELS + 1}"
            ).fetchall()
        ]
        if len(labels) > MAX_VARIANT_LABELS:
            continue
        control = next((label for label in sorted(labels) if _control_word(label)), None)
        if control is None:
            continue
        mapping.suggestions["variant"] = {
            "column": col,
            "score": 0.5,
            "evidence": [
                "no header evidence: content only",
                f"holds {control!r}, a usual name for the control group",
                *prof.evidence,
            ],
        }
        used.add(col)
        return


def _ambiguous_question(column: str, fname: str) -> str:
    return (
        f"Dates in {column!r} could be day-first or month-first (every value has both parts <= 12). "
        f"Choose the order for {fname}: 'dmy' (31/03) or 'mdy' (03/31)."
    )


def _formats_from_content(staged: StagedUpload, fld: Field, prof: ColumnProfile, mapping: Mapping) -> None:
    if fld.kind in ("date", "timestamp"):
        mapping.date_formats[fld.name] = prof.date_format or "iso"
    if fld.kind in ("number", "integer"):
        mapping.decimal_comma[fld.name] = prof.share_decimal_comma > 0 and (
            prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
        )


def accept_suggestions(mapping: Mapping, fields: list[str] | None = None) -> Mapping:
    """A copy of ``mapping`` with its weak suggestions applied (all, or those of ``fields``): what
    ``segmint load --accept-suggestions`` and the user's explicit choice do. Never called implicitly."""
    out = Mapping.from_json(mapping.to_json())
    for fname, suggestion in mapping.hints.items():
        if fields is not None and fname not in fields:
            continue
        if suggestion["column"] in out.columns.values():
            continue
        out.columns[fname] = suggestion["column"]
        out.confidence[fname] = "accepted"
    out.extras = [c for c in out.extras if c not in out.columns.values()]
    return out


def describe_suggestion(suggestion: dict[str, Any]) -> str:
    """``'strong 0.90: header 'Cust ID' is a usual name for customer_id; 100% whole numbers'``."""
    score = float(suggestion["score"])
    level = "strong" if score >= PRESELECT_SCORE else "weak"
    return f"{level} {score:.2f}: " + "; ".join(suggestion.get("evidence", []))


def _content_score(fld: Field, prof: ColumnProfile, position: int) -> float:
    """A score for a content-only match (no header evidence): at most 0.55, below ``PRESELECT_SCORE``."""
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
            moved = mapping.suggestions.pop("amount")
            moved["evidence"] = [*moved["evidence"], "a price beside a quantity is a unit price"]
            mapping.suggestions["unit_price"] = moved
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
        out.questions = [q for q in out.questions if not q.startswith(f"{key} <-") and f"for {key}:" not in q]
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
            out.confidence[key] = (
                "user" if mapping.columns.get(key) != value else out.confidence.get(key, "user")
            )
            fld = spec.field(key)
            prof = profile_columns(con, staged)[value]
            if fld.kind in ("date", "timestamp") and f"{key}__date_format" not in overrides:
                # content decides the format of a column the user picked, as it does for a suggestion
                if prof.date_ambiguous:
                    prof = _refine_ambiguous_dates(con, staged, prof)
                fmt = prof.date_format
                if fmt is None and prof.share_integer >= 0.99:
                    fmt = _epoch_format(prof.int_min, prof.int_max, strict=False)
                out.date_formats[key] = fmt or "iso"
                if prof.date_ambiguous:
                    out.questions.append(_ambiguous_question(value, key))
                elif fmt is None and prof.non_null:
                    out.questions.append(
                        f"The dates in {value!r} are in no format Segmint recognises in at least 80% of the "
                        f"sample; they are read as ISO (2024-03-31). Choose the format for {key}: "
                        f"--map {key}__date_format=dmy, mdy, yyyymmdd, epoch_s, ... (or the form's Format)."
                    )
            if fld.kind in ("number", "integer") and f"{key}__decimal_comma" not in overrides:
                out.decimal_comma[key] = prof.share_decimal_comma > 0 and (
                    prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
                )
    out.extras = [c for c in staged.columns if c not in out.columns.values()]
    return out

"""Saved segments (a builder definition) and saved views (a page and its filters), kept in the store with
who saved them and when. A saved segment holds conditions, never members: it is evaluated again on every
data version. A view's filters are also its link: ``view_query`` gives the URL query that opens the page
with them, and ``filters_from_query`` reads one back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from engine import rfm, store
from engine.audience.builder import parse_definition, segment_definition
from engine.errors import SchemaError
from engine.store import Connection

SAVED_SEGMENT = "segment"
SAVED_VIEW = "view"
SAVED_KINDS = (SAVED_SEGMENT, SAVED_VIEW)
MAX_NAME_LENGTH = 80

# Filters a view may carry, each a URL query parameter (business rule as data): name -> what it holds.
VIEW_FILTERS: dict[str, str] = {
    "from": "first day of the date range (YYYY-MM-DD)",
    "to": "last day of the date range (YYYY-MM-DD)",
    "segment": "an RFM segment or a saved segment",
    "experiment": "an experiment id",
    "control": "the control variant",
    "outcome": "the outcome column",
}


@dataclass(frozen=True)
class Saved:
    """One saved segment or view."""

    kind: str
    name: str
    definition: dict[str, Any]
    saved_by: str
    saved_at: dt.datetime
    updated_at: dt.datetime


def _check_kind(kind: str) -> None:
    if kind not in SAVED_KINDS:
        raise SchemaError(f"Saved kind {kind!r} is not one of {', '.join(SAVED_KINDS)}.")


def _clean_name(name: str) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise SchemaError("Give the segment or view a name.")
    if len(text) > MAX_NAME_LENGTH:
        raise SchemaError(f"Names are at most {MAX_NAME_LENGTH} characters; this one has {len(text)}.")
    return text


def _check_segment_name(name: str) -> None:
    reserved = {s.lower() for s in rfm.segment_order()}
    if name.lower() in reserved:
        raise SchemaError(
            f"{name!r} is the name of an RFM segment; choose another name so the two cannot be confused."
        )


def save_named(
    con: Connection,
    kind: str,
    name: str,
    definition: Mapping[str, Any],
    saved_by: str = "",
    *,
    replace: bool = False,
) -> Saved:
    """Save a segment definition or a view under ``name``.

    Raises
    ------
    SchemaError
        The name is empty, too long, an RFM segment's name, or taken (unless ``replace``).
    """
    _check_kind(kind)
    clean = _clean_name(name)
    body = parse_definition(definition) if kind == SAVED_SEGMENT else dict(definition)
    if kind == SAVED_SEGMENT:
        _check_segment_name(clean)
    else:
        view_query(str(body.get("page", "")), body.get("filters", {}))  # raises on a bad page or filter
    text = json.dumps(body, sort_keys=True, default=str)
    with store.transaction(con) as tx:
        exists = tx.execute(
            "SELECT count(*) FROM _saved WHERE kind = ? AND name = ?", [kind, clean]
        ).fetchone()[0]
        if exists and not replace:
            raise SchemaError(
                f"A saved {kind} called {clean!r} exists already; pick another name or replace it."
            )
        tx.execute(
            "INSERT INTO _saved (kind, name, definition_json, saved_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET definition_json = excluded.definition_json, "
            "saved_by = excluded.saved_by, updated_at = now()",
            [kind, clean, text, saved_by or ""],
        )
    found = get_saved(con, kind, clean)
    assert found is not None
    return found


def _row(row: tuple) -> Saved:
    kind, name, text, saved_by, saved_at, updated_at = row
    return Saved(kind, name, json.loads(text), saved_by or "", saved_at, updated_at)


def get_saved(con: Connection, kind: str, name: str) -> Saved | None:
    """The saved segment or view called ``name`` (spaces tidied), or None."""
    _check_kind(kind)
    row = con.execute(
        "SELECT kind, name, definition_json, saved_by, saved_at, updated_at FROM _saved WHERE kind = ? AND name = ?",
        [kind, " ".join(str(name).split())],
    ).fetchone()
    return _row(row) if row else None


def list_saved(con: Connection, kind: str) -> pd.DataFrame:
    """Saved segments or views: ``name, definition, saved_by, saved_at, updated_at`` by name."""
    _check_kind(kind)
    rows = con.execute(
        "SELECT kind, name, definition_json, saved_by, saved_at, updated_at FROM _saved WHERE kind = ? ORDER BY name",
        [kind],
    ).fetchall()
    items = [_row(r) for r in rows]
    return pd.DataFrame(
        [(s.name, s.definition, s.saved_by, s.saved_at, s.updated_at) for s in items],
        columns=["name", "definition", "saved_by", "saved_at", "updated_at"],
    )


def rename_saved(con: Connection, kind: str, old: str, new: str) -> Saved:
    """Rename a saved segment or view; raises ``SchemaError`` when it is missing or the new name is taken."""
    _check_kind(kind)
    clean = _clean_name(new)
    if kind == SAVED_SEGMENT:
        _check_segment_name(clean)
    with store.transaction(con) as tx:
        if not tx.execute("SELECT count(*) FROM _saved WHERE kind = ? AND name = ?", [kind, old]).fetchone()[
            0
        ]:
            raise SchemaError(f"There is no saved {kind} called {old!r}.")
        if (
            clean != old
            and tx.execute(
                "SELECT count(*) FROM _saved WHERE kind = ? AND name = ?", [kind, clean]
            ).fetchone()[0]
        ):
            raise SchemaError(f"A saved {kind} called {clean!r} exists already.")
        tx.execute(
            "UPDATE _saved SET name = ?, updated_at = now() WHERE kind = ? AND name = ?", [clean, kind, old]
        )
    found = get_saved(con, kind, clean)
    assert found is not None
    return found


def delete_saved(con: Connection, kind: str, name: str) -> bool:
    """Delete a saved segment or view; True when one was deleted."""
    _check_kind(kind)
    with store.transaction(con) as tx:
        count = tx.execute(
            "SELECT count(*) FROM _saved WHERE kind = ? AND name = ?", [kind, name]
        ).fetchone()[0]
        tx.execute("DELETE FROM _saved WHERE kind = ? AND name = ?", [kind, name])
    return bool(count)


def resolve_segment(con: Connection, name: str) -> dict[str, Any]:
    """The definition behind a segment name: an RFM segment (``Champions``) or a saved segment.

    Raises
    ------
    SchemaError
        Listing the RFM segments and saved segments when ``name`` is neither.
    """
    for segment in rfm.segment_order():
        if segment.lower() == str(name).strip().lower():
            return segment_definition([segment])
    found = get_saved(con, SAVED_SEGMENT, name)
    if found is not None:
        return found.definition
    saved = list(list_saved(con, SAVED_SEGMENT)["name"])
    raise SchemaError(
        f"No segment called {name!r}. RFM segments: {', '.join(rfm.segment_order())}. "
        f"Saved segments: {', '.join(saved) or 'none yet'}."
    )


# --------------------------------------------------------------------------- view links


def view_query(page: str, filters: Mapping[str, Any]) -> str:
    """The URL path and query that open ``page`` with ``filters``: ``segments?from=2025-01-01&segment=Loyal``.

    Empty filters are left out; dates are written as YYYY-MM-DD.
    """
    unknown = set(filters) - set(VIEW_FILTERS)
    if unknown:
        raise SchemaError(
            f"Unknown view filter(s) {', '.join(sorted(unknown))}; known: {', '.join(VIEW_FILTERS)}."
        )
    if not re.fullmatch(r"[a-z0-9_-]*", str(page)):
        raise SchemaError(
            f"{page!r} is not a page of this app (a page path is lower-case letters, digits, - and _)."
        )
    pairs = []
    for key in VIEW_FILTERS:
        value = filters.get(key)
        if value is None or value == "":
            continue
        pairs.append((key, value.isoformat() if isinstance(value, dt.date) else str(value)))
    query = urlencode(pairs)
    return f"{page}?{query}" if query else page


def filters_from_query(params: Mapping[str, Any]) -> dict[str, Any]:
    """The view filters in a URL's query parameters (dates parsed; unknown or malformed ones left out)."""
    out: dict[str, Any] = {}
    for key in VIEW_FILTERS:
        value = params.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or str(value).strip() == "":
            continue
        text = str(value).strip()
        if key in ("from", "to"):
            try:
                out[key] = dt.date.fromisoformat(text[:10])
            except ValueError:
                continue
        else:
            out[key] = text
    return out


__all__ = [
    "SAVED_SEGMENT",
    "SAVED_VIEW",
    "SAVED_KINDS",
    "VIEW_FILTERS",
    "Saved",
    "save_named",
    "get_saved",
    "list_saved",
    "rename_saved",
    "delete_saved",
    "resolve_segment",
    "view_query",
    "filters_from_query",
]

"""Do the tables talk about the same customers, products and campaigns? Counts of the ids two tables
share, so a page can say "orders and customers share 0 ids: check the customer id column" instead of
silently showing empty joins."""

from __future__ import annotations

from dataclasses import dataclass

from engine import store
from engine.store import Connection

# Pairs of (table, column) that should share ids, and the column a person should check (business rule
# as data). The first table is the one whose ids should be found in the second.
ID_LINKS: tuple[tuple[str, str, str, str, str], ...] = (
    ("orders", "customer_id", "customers", "customer_id", "customer id"),
    ("orders", "product_id", "products", "product_id", "product id"),
    ("interactions", "customer_id", "orders", "customer_id", "customer id"),
    ("interactions", "product_id", "products", "product_id", "product id"),
    ("experiments", "customer_id", "orders", "customer_id", "customer id"),
    ("orders", "campaign_id", "campaigns", "campaign_id", "campaign id"),
)

# Below this share of the first table's ids found in the second, the pages warn ("few").
FEW_SHARED = 0.5


@dataclass(frozen=True)
class IdOverlap:
    """How many distinct ids of ``table.column`` are found in ``other.other_column``.

    ``level`` is ``none`` (nothing shared), ``few`` (under ``FEW_SHARED`` of them) or ``ok``;
    ``examples`` shows a few ids of each side, so a person sees "12346" against "C0001" at a glance.
    """

    table: str
    column: str
    other: str
    other_column: str
    ids: int
    other_ids: int
    shared: int
    what: str
    examples: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    @property
    def share(self) -> float:
        return self.shared / self.ids if self.ids else 1.0

    @property
    def level(self) -> str:
        if self.shared == 0:
            return "none"
        return "few" if self.share < FEW_SHARED else "ok"

    @property
    def message(self) -> str:
        left, right = self.examples
        seen = (
            f" ({self.table} use ids like {', '.join(left)}; {self.other} like {', '.join(right)})"
            if left and right
            else ""
        )
        if self.level == "none":
            return (
                f"{self.table.capitalize()} and {self.other} share 0 ids: check the {self.what} column{seen}."
            )
        return (
            f"Only {self.shared:,} of {self.ids:,} {self.what}s in {self.table} ({self.share:.0%}) are in "
            f"{self.other}: check the {self.what} column{seen}."
        )


_OVERLAP_SQL = """
WITH a AS (SELECT DISTINCT CAST({col} AS VARCHAR) id FROM {table} WHERE {col} IS NOT NULL),
     b AS (SELECT DISTINCT CAST({other_col} AS VARCHAR) id FROM {other} WHERE {other_col} IS NOT NULL)
SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(*) FROM a SEMI JOIN b USING (id))
"""


def id_overlaps(con: Connection, tables: tuple[str, ...] | None = None) -> list[IdOverlap]:
    """The id overlap of every link in ``ID_LINKS`` whose two tables both hold ids (optionally only links
    touching ``tables``), in ``ID_LINKS`` order."""
    out = []
    for table, col, other, other_col, what in ID_LINKS:
        if tables is not None and table not in tables and other not in tables:
            continue
        if store.row_count(con, table) == 0 or store.row_count(con, other) == 0:
            continue
        sql = (
            _OVERLAP_SQL.replace("{col}", store.quote_ident(col))
            .replace("{table}", store.quote_ident(table))
            .replace("{other_col}", store.quote_ident(other_col))
            .replace("{other}", store.quote_ident(other))
        )
        ids, other_ids, shared = con.execute(sql).fetchone()
        if not ids or not other_ids:
            continue
        examples: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        if shared < ids * FEW_SHARED:
            examples = (_examples(con, table, col), _examples(con, other, other_col))
        out.append(
            IdOverlap(table, col, other, other_col, int(ids), int(other_ids), int(shared), what, examples)
        )
    return out


def _examples(con: Connection, table: str, column: str, n: int = 2) -> tuple[str, ...]:
    q = store.quote_ident(column)
    rows = con.execute(
        f"SELECT DISTINCT CAST({q} AS VARCHAR) v FROM {store.quote_ident(table)} WHERE {q} IS NOT NULL ORDER BY v LIMIT ?",
        [n],
    ).fetchall()
    return tuple(r[0] for r in rows)


def id_warnings(con: Connection, tables: tuple[str, ...] | None = None) -> list[str]:
    """One sentence per link that shares no ids or few (see ``id_overlaps``)."""
    return [o.message for o in id_overlaps(con, tables) if o.level != "ok"]


__all__ = ["ID_LINKS", "FEW_SHARED", "IdOverlap", "id_overlaps", "id_warnings"]

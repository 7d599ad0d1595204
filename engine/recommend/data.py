"""Training signals: every rating, event and purchase a customer gave, one row per customer and product.

Guest orders (no customer_id) and rows without a product are left out: nothing can be learned per customer
from them. ``until`` keeps only what happened before a date, so a model can be checked against what
customers did afterwards.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.errors import EngineError, InsufficientDataError
from engine.store import Connection, compute_once, put_result_sql, quote_ident, result_table

#: Weight of an implicit event whose ``weight`` column is empty, by lower-cased ``event_type``.
#: Events of any other type count 1. A purchase in the orders table counts ``EVENT_WEIGHTS["purchase"]``
#: per order. Override with ``training_data(..., event_weights=...)``.
EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "page_view": 1.0,
    "impression": 0.5,
    "click": 2.0,
    "wishlist": 3.0,
    "favorite": 3.0,
    "cart": 3.0,
    "add_to_cart": 3.0,
    "addtocart": 3.0,
    "purchase": 5.0,
    "order": 5.0,
    "buy": 5.0,
    "transaction": 5.0,
}

#: Verb used in explanations ("because you bought X"), by signal.
SOURCE_VERBS: dict[str, str] = {
    "ratings": "rated",
    "events": "showed interest in",
    "orders": "bought",
}

#: Sources whose pairs only say "chose it"; a model trained on them alone learns from sampled negatives.
IMPLICIT_SOURCES = ("events", "orders")

_MIN_RATINGS = 10
_IMPLICIT_QUANTILE = 0.95

ProgressFn = Callable[[float, str], None]


def _no_progress(fraction: float, text: str) -> None:
    return None


@dataclass(frozen=True)
class TrainingData:
    """The customer-product pairs a model learns from, and how they were made.

    Attributes
    ----------
    ratings : DataFrame
        One row per customer and product, ordered by customer_id, product_id: ``customer_id``,
        ``product_id``, ``rating`` (float on ``rating_scale``: the explicit rating, else the implicit
        weight turned into a rating by ``rule``), ``explicit`` (the customer rated it), ``liked`` (counts as
        a product the customer liked: rated at or above ``relevant_from``, or chosen and not returned in
        full), ``affinity`` (how strongly the customer chose it: the rating's stars plus every event's
        weight plus ``EVENT_WEIGHTS["purchase"]`` per order; 0 for a product returned in full),
        ``events`` (rows behind the pair), ``weight`` (summed implicit weight, NaN when only rated),
        ``last_at`` and ``first_at`` (latest and earliest timestamp, may be NaT).
    sources : tuple of ``"ratings"``, ``"events"``, ``"orders"``: the signals present.
    rule : the conversion rules in plain words, for the page.
    rating_scale : (low, high); predicted ratings are clipped to it as Surprise does.
    relevant_from : an explicit rating at or above this counts as liked.
    until : only signals before this moment were used (None: everything).
    """

    ratings: pd.DataFrame
    sources: tuple[str, ...]
    rule: str
    rating_scale: tuple[float, float]
    relevant_from: float
    until: dt.datetime | None = None

    @property
    def source(self) -> str:
        """The signals joined with '+', e.g. ``"ratings+orders"``."""
        return "+".join(self.sources)

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    @property
    def n_customers(self) -> int:
        return int(self.ratings["customer_id"].nunique())

    @property
    def n_products(self) -> int:
        return int(self.ratings["product_id"].nunique())

    @property
    def has_explicit(self) -> bool:
        return "ratings" in self.sources

    @property
    def verb(self) -> str:
        """How a customer gave the signals, for explanations: "rated", "bought", "rated or bought"."""
        return " or ".join(SOURCE_VERBS[s] for s in self.sources) or "chose"

    def subset(self, frame: pd.DataFrame) -> TrainingData:
        """The same rules over other rows (a split's training part)."""
        return TrainingData(
            frame.reset_index(drop=True),
            self.sources,
            self.rule,
            self.rating_scale,
            self.relevant_from,
            self.until,
        )


def training_frame(frame: pd.DataFrame, rating_scale: tuple[float, float] | None = None) -> TrainingData:
    """``TrainingData`` from a plain customer_id, product_id, rating frame (explicit ratings), as tests and
    benchmarks build it; optional columns ``last_at``, ``explicit``, ``affinity`` are kept when present."""
    missing = {"customer_id", "product_id", "rating"} - set(frame.columns)
    if missing:
        raise EngineError(
            "Training ratings need the columns customer_id, product_id, rating; missing: "
            f"{', '.join(sorted(missing))}."
        )
    out = frame.copy()
    out["rating"] = out["rating"].astype(float)
    scale = rating_scale or (float(out["rating"].min()), float(out["rating"].max()))
    low, high = float(scale[0]), float(scale[1])
    relevant_from = low + 0.75 * (high - low)
    if "explicit" not in out:
        out["explicit"] = True
    if "affinity" not in out:
        out["affinity"] = out["rating"]
    if "liked" not in out:
        out["liked"] = ~out["explicit"] | (out["rating"] >= relevant_from)
    for name, default in (("events", 1), ("weight", math.nan), ("last_at", pd.NaT)):
        if name not in out:
            out[name] = default
    if "first_at" not in out:
        out["first_at"] = out["last_at"]
    sources = ("ratings",) if out["explicit"].all() else ("ratings", "orders")
    return TrainingData(out.reset_index(drop=True), sources, "", (low, high), float(relevant_from))


def _weights_cte(event_weights: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    """The event-weight table as a CTE with named parameters ($event_0, $weight_0, ...)."""
    items = sorted((str(k).strip().lower(), float(v)) for k, v in event_weights.items())
    if not items:
        return "event_weights(event_type, weight) AS (SELECT NULL::VARCHAR, NULL::DOUBLE WHERE false)", {}
    values = ", ".join(f"($event_{k}, $weight_{k})" for k in range(len(items)))
    params: dict[str, Any] = {}
    for k, (name, weight) in enumerate(items):
        params[f"event_{k}"] = name
        params[f"weight_{k}"] = weight
    return f"event_weights(event_type, weight) AS (VALUES {values})", params


# One statement builds every pair: explicit ratings as given (repeats averaged), implicit events by weight,
# purchases by order count; a pair with both a rating and implicit signals keeps its rating and adds the
# implicit weight to its affinity.
_TRAINING_SQL = """
WITH {weights_cte},
explicit AS (
    SELECT customer_id, product_id, avg(rating) AS rating, count(*) AS n, max("timestamp") AS last_at,
           min("timestamp") AS first_at
    FROM interactions
    WHERE rating IS NOT NULL AND customer_id IS NOT NULL AND product_id IS NOT NULL {until_i} {customer_i}
    GROUP BY customer_id, product_id
),
events AS (
    SELECT i.customer_id, i.product_id, sum(coalesce(i.weight, w.weight, 1.0)) AS weight, count(*) AS n,
           max(i."timestamp") AS last_at, min(i."timestamp") AS first_at
    FROM interactions i LEFT JOIN event_weights w ON lower(trim(i.event_type)) = w.event_type
    WHERE i.rating IS NULL AND i.customer_id IS NOT NULL AND i.product_id IS NOT NULL
          {until_ii} {customer_ii}
    GROUP BY i.customer_id, i.product_id
),
purchases AS (
    SELECT customer_id, product_id,
           count(DISTINCT coalesce(order_id, CAST(order_date AS VARCHAR)))
               FILTER (WHERE NOT coalesce(is_return, false)) AS orders,
           sum(abs(coalesce(quantity, 1))) FILTER (WHERE NOT coalesce(is_return, false)) AS bought,
           coalesce(sum(abs(coalesce(quantity, 1))) FILTER (WHERE coalesce(is_return, false)), 0) AS returned,
           count(*) AS n,
           max(order_date) FILTER (WHERE NOT coalesce(is_return, false)) AS last_at,
           min(order_date) FILTER (WHERE NOT coalesce(is_return, false)) AS first_at
    FROM orders
    WHERE customer_id IS NOT NULL AND product_id IS NOT NULL {until_o} {customer_o}
    GROUP BY customer_id, product_id
    HAVING count(*) FILTER (WHERE NOT coalesce(is_return, false)) > 0
),
implicit AS (
    SELECT customer_id, product_id, sum(weight) AS weight, sum(n) AS n, max(last_at) AS last_at,
           min(first_at) AS first_at, bool_and(full_return) AS full_return
    FROM (
        SELECT customer_id, product_id, weight, n, last_at, first_at, false AS full_return FROM events
        UNION ALL
        SELECT customer_id, product_id, $purchase_weight * orders, n, last_at, first_at, returned >= bought
        FROM purchases
    )
    GROUP BY customer_id, product_id
    HAVING sum(weight) > 0
),
cap AS (SELECT quantile_cont(weight, {quantile}) AS w_cap FROM implicit WHERE NOT full_return),
pairs AS (
    SELECT coalesce(e.customer_id, m.customer_id) AS customer_id,
           coalesce(e.product_id, m.product_id) AS product_id,
           e.rating AS explicit_rating, m.weight, coalesce(m.full_return, false) AS full_return,
           coalesce(e.n, 0) + coalesce(m.n, 0) AS events, greatest(e.last_at, m.last_at) AS last_at,
           least(e.first_at, m.first_at) AS first_at
    FROM explicit e FULL OUTER JOIN implicit m
      ON e.customer_id = m.customer_id AND e.product_id = m.product_id
)
SELECT p.customer_id, p.product_id,
       CASE WHEN p.explicit_rating IS NOT NULL THEN p.explicit_rating
            WHEN p.full_return THEN $low
            ELSE least($high, $low + ($high - $low) * ln(1 + p.weight) / ln(1 + greatest(c.w_cap, 1e-9)))
       END AS rating,
       p.explicit_rating IS NOT NULL AS explicit,
       CASE WHEN p.explicit_rating IS NOT NULL THEN p.explicit_rating >= $relevant_from
            ELSE NOT p.full_return END AS liked,
       CASE WHEN p.full_return AND p.explicit_rating IS NULL THEN 0.0
            ELSE coalesce(p.explicit_rating, 0) + coalesce(p.weight, 0) END AS affinity,
       p.events, p.weight, p.last_at, p.first_at
FROM pairs p CROSS JOIN cap c
"""


def _source_counts(con: Connection, until: dt.datetime | None) -> dict[str, int]:
    before_i = 'AND "timestamp" < ?' if until is not None else ""
    before_o = "AND order_date < ?" if until is not None else ""
    bound = [until] if until is not None else []
    row = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE rating IS NOT NULL), count(*) FILTER (WHERE rating IS NULL)
        FROM interactions WHERE customer_id IS NOT NULL AND product_id IS NOT NULL {before_i}
        """,
        bound,
    ).fetchone()
    orders = con.execute(
        f"SELECT count(*) FROM orders WHERE customer_id IS NOT NULL AND product_id IS NOT NULL {before_o}",
        bound,
    ).fetchone()
    return {"ratings": int(row[0]), "events": int(row[1]), "orders": int(orders[0])}


def _explicit_scale(con: Connection) -> tuple[float, float]:
    low, high = con.execute(
        "SELECT min(rating), max(rating) FROM interactions WHERE rating IS NOT NULL"
    ).fetchone()
    return float(min(1.0, math.floor(low))), float(max(5.0, math.ceil(high)))


def _fmt(x: float) -> str:
    return f"{x:g}"


def as_moment(until: dt.date | dt.datetime | str | None) -> dt.datetime | None:
    """A cut-off date as a timestamp (midnight at the start of a date); None stays None."""
    if until is None or until == "":
        return None
    try:
        moment = pd.Timestamp(until)
    except (ValueError, TypeError) as error:
        raise EngineError(f"Cannot read {until!r} as a date; write it as YYYY-MM-DD.") from error
    if pd.isna(moment):
        raise EngineError(f"Cannot read {until!r} as a date; write it as YYYY-MM-DD.")
    return moment.tz_localize(None).to_pydatetime() if moment.tzinfo else moment.to_pydatetime()


@dataclass(frozen=True)
class _Query:
    sql: str
    params: dict[str, Any]
    sources: tuple[str, ...]
    rule: str
    rating_scale: tuple[float, float]
    relevant_from: float


def _training_query(
    con: Connection,
    event_weights: Mapping[str, float] | None,
    customer_id: str | None,
    until: dt.datetime | None,
    customers: Sequence[str] | None = None,
) -> _Query:
    counts = _source_counts(con, until)
    if not any(counts.values()):
        before = f" before {until:%Y-%m-%d}" if until is not None else ""
        raise InsufficientDataError(
            f"No ratings, events or purchases of products{before} to learn from: the interactions table is "
            "empty and no order line with a customer names a product_id. Upload interactions or orders "
            "with customer_id and product_id on the Data page.",
            needed=_MIN_RATINGS,
            found=0,
        )
    weights = dict(EVENT_WEIGHTS if event_weights is None else event_weights)
    purchase_weight = float(weights.get("purchase", 5.0))
    scale = _explicit_scale(con) if counts["ratings"] else (1.0, 5.0)
    low, high = scale
    relevant_from = low + 0.75 * (high - low)
    sources = tuple(s for s in ("ratings", "events", "orders") if counts[s])
    cte, named = _weights_cte(weights)
    named.update({"purchase_weight": purchase_weight, "low": low, "high": high})
    named["relevant_from"] = relevant_from
    if until is not None:
        named["until"] = until
    only = ""
    if customer_id is not None:
        named["customer"] = str(customer_id)
        only = "AND {col} = $customer"
    elif customers is not None:
        named["customers"] = [str(c) for c in customers]
        only = "AND {col} IN (SELECT unnest($customers))"
    sql = _TRAINING_SQL.format(
        weights_cte=cte,
        quantile=_IMPLICIT_QUANTILE,
        until_i='AND "timestamp" < $until' if until is not None else "",
        until_ii='AND i."timestamp" < $until' if until is not None else "",
        until_o="AND order_date < $until" if until is not None else "",
        customer_i=only.format(col="customer_id"),
        customer_ii=only.format(col="i.customer_id"),
        customer_o=only.format(col="customer_id"),
    )
    return _Query(sql, named, sources, _rule_words(sources, weights, scale), scale, relevant_from)


def _rule_words(sources: tuple[str, ...], weights: Mapping[str, float], scale: tuple[float, float]) -> str:
    low, high = scale
    weight_words = ", ".join(
        f"{name} {_fmt(w)}"
        for name, w in sorted(weights.items(), key=lambda kv: (kv[1], kv[0]))
        if name in ("view", "click", "cart")
    )
    parts = []
    if "ratings" in sources:
        parts.append(
            f"Ratings from the interactions table are used as given (a customer's repeated ratings of one "
            f"product are averaged), scale {_fmt(low)} to {_fmt(high)}; {_fmt(low + 0.75 * (high - low))} or "
            "more counts as liked."
        )
    if "events" in sources:
        parts.append(
            "Events from the interactions table count their weight, or when it is empty a default by type "
            f"({weight_words}; any other event 1)."
        )
    if "orders" in sources:
        parts.append(
            f"Every order in which a customer bought a product counts {_fmt(weights.get('purchase', 5.0))}; "
            "a product returned in full counts as not liked and is never suggested again. Guest orders "
            "(no customer) are left out."
        )
    if set(sources) & {"events", "orders"}:
        parts.append(
            "For the rating model the summed weight w of a product a customer did not rate becomes the rating "
            f"{_fmt(low)} + {_fmt(high - low)} x ln(1 + w) / ln(1 + w95), capped at {_fmt(high)}, where w95 is "
            "the 95th percentile of w. The ranking models use every signal's weight (a rating counts its "
            "stars) as the strength of the customer's choice."
        )
    return " ".join(parts)


def training_data(
    con: Connection,
    *,
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
    customers: Sequence[str] | None = None,
) -> TrainingData:
    """Every signal a customer gave, one row per customer and product, built in SQL.

    Explicit ratings (``interactions.rating``), implicit events (interactions without a rating, weighted by
    ``weight`` or ``event_weights`` by type) and purchases (``orders``, ``EVENT_WEIGHTS["purchase"]`` per
    order) all count: a customer with orders is never "without history". Guest orders (NULL customer_id)
    are left out.

    Parameters
    ----------
    con : store connection.
    event_weights : default weight per lower-cased event type (``EVENT_WEIGHTS`` when None).
    until : keep only signals strictly before this date or moment; rows without a timestamp are left out
        then, as nothing says they came before.
    customers : keep only these customers' signals (a sample for model choice on a big store).

    Returns
    -------
    TrainingData
        ``ratings`` columns: customer_id, product_id, rating, explicit, liked, affinity, events, weight,
        last_at; ordered by customer_id, product_id.

    Raises
    ------
    InsufficientDataError
        With no signals at all, or fewer than 10 pairs, 2 customers or 2 products.
    """
    moment = as_moment(until)
    query = _training_query(con, event_weights, None, moment, customers)
    frame = con.execute(f"SELECT * FROM ({query.sql}) ORDER BY customer_id, product_id", query.params).df()
    frame = _typed(frame)
    check_enough(frame)
    return TrainingData(
        frame, query.sources, query.rule, query.rating_scale, float(query.relevant_from), moment
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["customer_id"] = frame["customer_id"].astype(object)
    frame["product_id"] = frame["product_id"].astype(object)
    for name in ("rating", "affinity", "weight"):
        frame[name] = frame[name].astype(float)
    frame["explicit"] = frame["explicit"].astype(bool)
    frame["liked"] = frame["liked"].astype(bool)
    frame["events"] = frame["events"].astype("int64")
    frame["last_at"] = pd.to_datetime(frame["last_at"])
    frame["first_at"] = pd.to_datetime(frame["first_at"])
    return frame.reset_index(drop=True)


def sample_customers(
    con: Connection, limit: int, *, until: dt.date | dt.datetime | str | None = None, seed: int = 42
) -> list[str] | None:
    """A seeded sample of ``limit`` customers with a signal (before ``until``), or None when there are
    no more than ``limit``: model choice on a big store looks at a sample, chosen in SQL."""
    moment = as_moment(until)
    before_i = 'AND "timestamp" < $until' if moment is not None else ""
    before_o = "AND order_date < $until" if moment is not None else ""
    params: dict[str, Any] = {"until": moment} if moment is not None else {}
    people = f"""
        SELECT customer_id FROM interactions
        WHERE customer_id IS NOT NULL AND product_id IS NOT NULL {before_i}
        UNION
        SELECT customer_id FROM orders WHERE customer_id IS NOT NULL AND product_id IS NOT NULL {before_o}
    """
    total = con.execute(f"SELECT count(*) FROM ({people})", params).fetchone()[0]
    if total <= limit:
        return None
    rows = con.execute(
        f"SELECT customer_id FROM ({people}) ORDER BY hash(customer_id, $seed), customer_id LIMIT $limit",
        {**params, "seed": int(seed), "limit": int(limit)},
    ).fetchall()
    return sorted(r[0] for r in rows)


def check_enough(frame: pd.DataFrame) -> None:
    """Raise ``InsufficientDataError`` below 10 pairs, 2 customers or 2 products."""
    n_customers = frame["customer_id"].nunique()
    n_products = frame["product_id"].nunique()
    if len(frame) < _MIN_RATINGS or n_customers < 2 or n_products < 2:
        raise InsufficientDataError(
            f"Recommendations need at least {_MIN_RATINGS} ratings or purchases from 2 customers over 2 "
            f"products; found {len(frame)} from {n_customers} customers over {n_products} products. "
            "Load more interactions or orders (with customer_id and product_id) on the Data page.",
            needed=_MIN_RATINGS,
            found=len(frame),
        )


#: Extra columns of ``orders`` that name the product on each line (an invoice log's ``Description``, a
#: shop's line item name), in order of preference: the product's most frequent one names it wherever the
#: products table gives no name. Override with ``product_catalogue(..., name_columns=...)``.
ORDER_LINE_NAME_COLUMNS: tuple[str, ...] = (
    "product_name",
    "description",
    "lineitem_name",
    "item_name",
    "product_title",
    "product_description",
    "item_description",
)


def product_catalogue(con: Connection, name_columns: Sequence[str] = ORDER_LINE_NAME_COLUMNS) -> str:
    """Name of the stored table ``product_id, name, category, price`` (one row per product, once per data
    version): the products table, and for every product it does not name, the name its order lines give
    most often (ties: the first alphabetically) from the first of ``name_columns`` that ``orders`` has.

    An invoice log such as UCI Online Retail carries each product's description on every line and comes
    with no products table; without this every list would show bare stock codes.
    """
    present = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_name = 'orders'"
        ).fetchall()
    }
    column = next((c for c in name_columns if c in present), None)
    params = {"order_name_column": column}
    lines = (
        f"""
        SELECT product_id, name FROM (
            SELECT product_id, trim(CAST({quote_ident(column)} AS VARCHAR)) AS name, count(*) AS lines
            FROM orders
            WHERE product_id IS NOT NULL AND nullif(trim(CAST({quote_ident(column)} AS VARCHAR)), '') IS NOT NULL
            GROUP BY ALL
        ) QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY lines DESC, name) = 1
        """
        if column
        else "SELECT CAST(NULL AS VARCHAR) AS product_id, CAST(NULL AS VARCHAR) AS name WHERE false"
    )
    sql = f"""
        WITH listed AS (
            SELECT product_id, any_value(name) AS name, any_value(category) AS category,
                   any_value(price) AS price
            FROM products WHERE product_id IS NOT NULL GROUP BY product_id
        ), lines AS ({lines})
        SELECT coalesce(p.product_id, o.product_id) AS product_id, coalesce(p.name, o.name) AS name,
               p.category, p.price
        FROM listed p FULL OUTER JOIN lines o ON o.product_id = p.product_id
        """

    def find() -> str | None:
        return result_table(con, "product_catalogue", params)

    def compute() -> str:
        return put_result_sql(con, "product_catalogue", params, sql, order_by="product_id")

    return compute_once(con, "product_catalogue", params, find, compute)


def customer_history(
    con: Connection,
    customer_id: str,
    *,
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
) -> pd.DataFrame:
    """One customer's training pairs joined to the product catalogue.

    Returns
    -------
    DataFrame
        product_id, name, category, price, rating, explicit, affinity, events, weight, last_at; highest
        affinity first, then most recent, then product_id. Empty when the customer gave no signal.
    """
    moment = as_moment(until)
    try:
        query = _training_query(con, event_weights, str(customer_id), moment)
    except InsufficientDataError:
        query = None
    if query is None:
        return pd.DataFrame(
            columns=[
                "product_id",
                "name",
                "category",
                "price",
                "rating",
                "explicit",
                "affinity",
                "events",
                "weight",
                "last_at",
            ]
        )
    return con.execute(
        f"""
        SELECT h.product_id, coalesce(p.name, h.product_id) AS name, p.category, p.price, h.rating,
               h.explicit, h.affinity, h.events, h.weight, h.last_at
        FROM ({query.sql}) h
        LEFT JOIN {quote_ident(product_catalogue(con))} p ON p.product_id = h.product_id
        ORDER BY h.affinity DESC, h.last_at DESC NULLS LAST, h.product_id
        """,
        query.params,
    ).df()


__all__ = [
    "EVENT_WEIGHTS",
    "SOURCE_VERBS",
    "IMPLICIT_SOURCES",
    "ProgressFn",
    "TrainingData",
    "training_frame",
    "training_data",
    "customer_history",
    "product_catalogue",
    "ORDER_LINE_NAME_COLUMNS",
    "check_enough",
    "sample_customers",
    "as_moment",
]

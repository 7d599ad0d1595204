"""RFM per customer in SQL (recency, frequency, monetary), 1-5 scores with a stated tie rule, and named
segments from a rules table that a user can override.

Public entry points for other features:

- ``customer_segments(con, as_of=None)``: one row per customer with its segment and scores.
- ``segment_table_name(con)``: a stored DuckDB table (``customer_id``, ``segment``, scores ...) that SQL
  can join against while the data version stays the same.

Tie rule (the same text is shown on the Segments page, see ``SCORE_RULE``): a score is the mid-rank
quantile of the value among customers who bought. With ``n`` such customers, ``below`` the number of
customers with a strictly worse value and ``at_or_below`` those with a worse or equal value,

    score = 1 + floor(5 * (below + at_or_below) / (2 * n))

so equal values always share one score (the quintile holding the middle of their tied block), and two
runs on the same data give identical scores. One exception: the tied block holding the worst value (all
one-time buyers, say) scores 1, whatever its size; otherwise a log where half the customers bought once
gives them all F=2 and no F=1 exists, so New Customers, Promising, About to Sleep and Lost stay empty. "Better" is more orders (F), more net revenue (M) and
fewer days since the last order (R). A single customer, or customers who all spend the same, score 3 (the
worst block is then everyone).
The combined ``fm_score`` is ``(f_score + m_score) / 2`` rounded half up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import pandas as pd

from engine import store
from engine.errors import SchemaError
from engine.store import Connection

T = TypeVar("T")

# --------------------------------------------------------------------------- public API for other features

RFM_COLUMNS = [
    "customer_id",
    "segment",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "fm_score",
    "tenure_days",
    "aov",
    "first_order",
    "last_order",
]
CUSTOMER_SEGMENT_COLUMNS = RFM_COLUMNS[:8]
NO_PURCHASES = "No purchases"
UNCLASSIFIED = "Unclassified"

SCORE_RULE = (
    "Scores 1-5 are mid-rank quintiles among customers who bought: "
    "score = 1 + floor(5 x (customers strictly worse + customers worse or equal) / (2 x buyers)), "
    "except that the customers tied at the worst value (for example everyone who bought once) score 1, "
    "so every segment can be reached when half the customers bought only once. "
    "Equal values always share a score, so two runs on the same data give identical scores. "
    "R rewards fewer days since the last order, F more orders, M more net revenue. "
    "FM = (F + M) / 2 rounded half up; the first matching rule in the table names the segment."
)


def customer_segments(con: Connection, as_of: dt.date | str | None = None) -> pd.DataFrame:
    """Each customer's RFM segment and scores, stored once per data version (cheap on rerun).

    Parameters
    ----------
    con : store connection or cursor.
    as_of : date the RFM is measured at; default the last order date in the data.

    Returns
    -------
    DataFrame with columns ``customer_id, segment, recency_days, frequency, monetary, r_score, f_score,
    m_score`` ordered by ``customer_id``; one row per customer in ``customers`` or ``orders``.
    Customers without a purchase up to ``as_of`` have segment ``"No purchases"`` and null recency/scores.
    """
    name = rfm_table(con, as_of)
    cols = ", ".join(store.quote_ident(c) for c in CUSTOMER_SEGMENT_COLUMNS)
    return con.execute(f"SELECT {cols} FROM {store.quote_ident(name)} ORDER BY _pos").df()


def segment_table_name(con: Connection) -> str:
    """Name of a stored DuckDB table with ``customer_id`` and ``segment`` (plus every RFM column) for the
    default as-of date and rules, computed once per data version. Join it in SQL, e.g.
    ``f"SELECT ... FROM orders JOIN {quote_ident(segment_table_name(con))} USING (customer_id)"``.
    """
    return rfm_table(con)


# --------------------------------------------------------------------------- segment rules (data)

# First matching row wins. Together the rows cover the whole 5 x 5 grid of R score by FM score:
#
#        FM=1            FM=2                FM=3      FM=4              FM=5
#   R=5  New Customers   Potential Loyalists Loyal     Champions         Champions
#   R=4  Promising       Potential Loyalists Loyal     Champions         Champions
#   R=3  About to Sleep  Need Attention      Loyal     Loyal             Loyal
#   R=2  Hibernating     Hibernating         At Risk   At Risk           At Risk
#   R=1  Lost            Hibernating         At Risk   Cannot Lose Them  Cannot Lose Them
SEGMENT_RULES = pd.DataFrame(
    [
        ("Champions", 4, 5, 4, 5, "Bought recently, buy often and spend the most"),
        ("Loyal", 3, 5, 3, 5, "Buy regularly and spend well; not the most recent"),
        ("New Customers", 5, 5, 1, 1, "First purchase very recently"),
        ("Promising", 4, 4, 1, 1, "Recent first-time buyers with little spend so far"),
        ("Potential Loyalists", 4, 5, 2, 2, "Recent customers with a few orders"),
        ("Need Attention", 3, 3, 2, 2, "Average recency, frequency and spend"),
        ("About to Sleep", 3, 3, 1, 1, "Below-average recency, one small order"),
        ("Cannot Lose Them", 1, 1, 4, 5, "Used to buy often and spend a lot, but not for a long time"),
        ("At Risk", 1, 2, 3, 5, "Spent well in the past but have not bought for a while"),
        ("Lost", 1, 1, 1, 1, "Lowest recency, frequency and spend"),
        ("Hibernating", 1, 2, 1, 2, "Last order long ago, few orders, low spend"),
    ],
    columns=["segment", "r_min", "r_max", "fm_min", "fm_max", "description"],
)

RULE_COLUMNS = ["segment", "r_min", "r_max", "fm_min", "fm_max"]


def validate_rules(rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """Check a segment rules table and return it in the canonical shape (first match wins).

    Parameters
    ----------
    rules : DataFrame with columns ``segment, r_min, r_max, fm_min, fm_max`` (inclusive score bounds
        1-5) and an optional ``description``; ``None`` gives ``SEGMENT_RULES``.

    Raises
    ------
    SchemaError naming the missing column or the bad row.
    """
    if rules is None:
        return SEGMENT_RULES.copy()
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise SchemaError(
            f"The segment rules table lacks column(s) {', '.join(missing)}. "
            f"It needs {', '.join(RULE_COLUMNS)} (score bounds 1-5, inclusive)."
        )
    out = rules.reset_index(drop=True).copy()
    if "description" not in out.columns:
        out["description"] = ""
    out = out[RULE_COLUMNS + ["description"]]
    for i, row in out.iterrows():
        label = str(row["segment"]).strip()
        if not label:
            raise SchemaError(f"Segment rule {i + 1} has an empty segment name.")
        for low, high in (("r_min", "r_max"), ("fm_min", "fm_max")):
            try:
                lo, hi = int(row[low]), int(row[high])
            except (TypeError, ValueError):
                raise SchemaError(
                    f"Segment rule {i + 1} ({label}): {low}/{high} must be whole scores 1-5."
                ) from None
            if not (1 <= lo <= hi <= 5):
                raise SchemaError(
                    f"Segment rule {i + 1} ({label}): {low}={lo}, {high}={hi}; need 1 <= {low} <= {high} <= 5."
                )
    for c in RULE_COLUMNS[1:]:
        out[c] = out[c].astype(int)
    out["segment"] = out["segment"].astype(str).str.strip()
    out["description"] = out["description"].fillna("").astype(str)
    return out


def rule_grid(rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """The segment every (R score, FM score) pair gets under ``rules``: 25 rows, with the matching rule.

    Returns
    -------
    DataFrame ``r_score, fm_score, segment, rule`` (``rule`` is the 0-based row of the first matching
    rule, or -1 with segment ``"Unclassified"`` where no rule matches).
    """
    table = validate_rules(rules)
    rows = []
    for r in range(5, 0, -1):
        for fm in range(1, 6):
            hit = table[(table.r_min <= r) & (r <= table.r_max) & (table.fm_min <= fm) & (fm <= table.fm_max)]
            idx = int(hit.index[0]) if len(hit) else -1
            rows.append((r, fm, hit.iloc[0]["segment"] if len(hit) else UNCLASSIFIED, idx))
    return pd.DataFrame(rows, columns=["r_score", "fm_score", "segment", "rule"])


def unreachable_rules(rules: pd.DataFrame | None = None) -> list[int]:
    """0-based rows of ``rules`` that no score combination reaches (every cell is taken by an earlier rule)."""
    table = validate_rules(rules)
    used = set(rule_grid(table)["rule"])
    return [i for i in range(len(table)) if i not in used]


def segment_order(rules: pd.DataFrame | None = None) -> list[str]:
    """Segment names in rule order (duplicates once), then ``Unclassified`` and ``No purchases``."""
    names = list(dict.fromkeys(validate_rules(rules)["segment"]))
    return names + [UNCLASSIFIED, NO_PURCHASES]


# --------------------------------------------------------------------------- the computation

_RFM_SQL = """
WITH lines AS (
    SELECT
        customer_id,
        {order_key} AS order_key,
        order_date,
        CAST(coalesce(amount, 0) AS DECIMAL(18, 4)) AS amount,
        coalesce(is_return, coalesce(amount, 0) < 0) AS is_return
    FROM orders
    WHERE customer_id IS NOT NULL AND order_date < $day_after
),
per_customer AS (
    SELECT
        customer_id,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return) AS frequency,
        sum(amount::DECIMAL(38, 6))::DOUBLE AS net_revenue,
        min(order_date) FILTER (WHERE NOT is_return) AS first_order,
        max(order_date) FILTER (WHERE NOT is_return) AS last_order
    FROM lines
    GROUP BY customer_id
),
buyers AS (
    SELECT
        customer_id,
        frequency,
        CAST(round(net_revenue, 2) AS DOUBLE) AS monetary,
        date_diff('day', CAST(last_order AS DATE), $as_of) AS recency_days,
        date_diff('day', CAST(first_order AS DATE), $as_of) AS tenure_days,
        -- net revenue / orders, like the Overview's average order (a full return never inflates it)
        CAST(round(net_revenue / frequency, 2) AS DOUBLE) AS aov,
        first_order,
        last_order
    FROM per_customer
    WHERE frequency > 0
),
scored AS (
    -- mid-rank quintiles: rank() - 1 customers are strictly worse, count(*) over the window are worse or
    -- equal; the tie block holding the worst value scores 1 (unless it holds every buyer)
    SELECT
        *,
        {r_score} AS r_score,
        {f_score} AS f_score,
        {m_score} AS m_score
    FROM buyers
    WINDOW r AS (ORDER BY recency_days DESC), f AS (ORDER BY frequency), m AS (ORDER BY monetary)
)
SELECT
    s.customer_id,
    {segment_case} AS segment,
    s.recency_days,
    s.frequency,
    s.monetary,
    s.r_score,
    s.f_score,
    s.m_score,
    (s.f_score + s.m_score + 1) // 2 AS fm_score,
    s.tenure_days,
    s.aov,
    s.first_order,
    s.last_order
FROM scored s
UNION ALL
-- bought nothing up to the as-of date (only returns): no purchase, but their net money is kept
SELECT customer_id, $no_purchases, NULL, 0, CAST(round(net_revenue, 2) AS DOUBLE), NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL
FROM per_customer
WHERE frequency = 0
UNION ALL
-- in the customers table without any order line up to the as-of date
SELECT DISTINCT c.customer_id, $no_purchases, NULL, 0, 0.0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM customers c
ANTI JOIN per_customer p USING (customer_id)
WHERE c.customer_id IS NOT NULL
"""


def _score_sql(window: str) -> str:
    """The 1-5 score over ``window``: the mid-rank quintile of a tie block, except that the block holding the
    worst value scores 1 (so on data where half the customers bought once, F=1 still exists)."""
    mid = f"1 + (5 * (rank() OVER {window} - 1 + count(*) OVER {window})) // (2 * count(*) OVER ())"
    bottom = f"rank() OVER {window} = 1 AND count(*) OVER {window} < count(*) OVER ()"
    return f"CASE WHEN {bottom} THEN 1 ELSE {mid} END"


def segment_case(rules: pd.DataFrame | None = None) -> tuple[str, dict[str, Any]]:
    """The SQL CASE naming a segment from ``s.r_score``, ``s.f_score`` and ``s.m_score`` (first matching
    rule wins, ``Unclassified`` when none matches) and its named parameters (rule values are bound)."""
    rules = validate_rules(rules)
    parts, params = [], {}
    fm = "((s.f_score + s.m_score + 1) // 2)"
    for i, row in rules.iterrows():
        parts.append(
            f"WHEN s.r_score BETWEEN $r_min_{i} AND $r_max_{i} AND {fm} BETWEEN $fm_min_{i} AND $fm_max_{i} "
            f"THEN $segment_{i}"
        )
        params |= {
            f"r_min_{i}": int(row.r_min),
            f"r_max_{i}": int(row.r_max),
            f"fm_min_{i}": int(row.fm_min),
            f"fm_max_{i}": int(row.fm_max),
            f"segment_{i}": str(row.segment),
        }
    return "CASE " + " ".join(parts) + " ELSE $unclassified END", params | {"unclassified": UNCLASSIFIED}


# A line without order_id is one order per (customer, timestamp): the key is only compared within a customer.
_NULL_SAFE_ORDER_KEY = "CASE WHEN order_id IS NULL THEN CAST(order_date AS VARCHAR) || '~' ELSE order_id END"


def rfm_query(rules: pd.DataFrame | None = None, null_order_ids: bool = True) -> tuple[str, dict[str, Any]]:
    """The RFM + segment SQL over ``orders`` and ``customers`` and its named parameters, without ``as_of``
    and ``day_after`` (the as-of date and the day after it). ``null_order_ids=False`` drops the per-line
    order key for data where every line has an ``order_id``."""
    table = validate_rules(rules)
    case, params = segment_case(table)
    sql = (
        _RFM_SQL.replace("{segment_case}", case)
        .replace("{order_key}", _NULL_SAFE_ORDER_KEY if null_order_ids else "order_id")
        .replace("{r_score}", _score_sql("r"))
        .replace("{f_score}", _score_sql("f"))
        .replace("{m_score}", _score_sql("m"))
    )
    return sql, params | {"no_purchases": NO_PURCHASES}


def _to_date(value: dt.date | dt.datetime | str | pd.Timestamp) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return pd.Timestamp(str(value)).date()
    except (ValueError, TypeError):
        raise SchemaError(f"As-of date {value!r} is not a date; use YYYY-MM-DD.") from None


def default_as_of(con: Connection) -> dt.date | None:
    """The last order date in ``orders`` (the default as-of date), or None when there are no orders."""
    row = con.execute("SELECT CAST(max(order_date) AS DATE) FROM orders").fetchone()
    return row[0] if row and row[0] is not None else None


def resolve_as_of(con: Connection, as_of: dt.date | str | None = None) -> dt.date:
    """``as_of`` as a date; None becomes the last order date (today when there are no orders)."""
    if as_of is not None:
        return _to_date(as_of)
    return default_as_of(con) or dt.date.today()


def rfm_table(con: Connection, as_of: dt.date | str | None = None, rules: pd.DataFrame | None = None) -> str:
    """Compute (once per data version, as-of date and rules) and store the RFM table; return its name.

    The stored table has ``RFM_COLUMNS`` plus ``_pos`` (row order: ``customer_id``).
    """
    table = validate_rules(rules)
    day = resolve_as_of(con, as_of)
    params = {"as_of": day.isoformat(), "rules": table[RULE_COLUMNS].to_dict("records")}

    def compute() -> str:
        null_ids = bool(
            con.execute("SELECT coalesce(bool_or(order_id IS NULL), false) FROM orders").fetchone()[0]
        )
        sql, bound = rfm_query(table, null_ids)
        bound |= {"as_of": day, "day_after": dt.datetime.combine(day + dt.timedelta(days=1), dt.time())}
        return store.put_result_sql(con, "rfm", params, sql, bound, "customer_id")

    return store.compute_once(con, "rfm", params, lambda: store.result_table(con, "rfm", params), compute)


def rfm_scores(
    con: Connection, as_of: dt.date | str | None = None, rules: pd.DataFrame | None = None
) -> pd.DataFrame:
    """RFM per customer as of a date, with 1-5 scores (see ``SCORE_RULE``) and the named segment.

    Parameters
    ----------
    con : store connection or cursor.
    as_of : measure at this date (orders after it are ignored); default the last order date.
    rules : segment rules table (see ``SEGMENT_RULES``); default ``SEGMENT_RULES``.

    Returns
    -------
    DataFrame with ``RFM_COLUMNS``, one row per customer (``customers`` plus any buyer missing from it),
    ordered by ``customer_id``:

    - ``recency_days``: days from the last purchase (returns excluded) to ``as_of``.
    - ``frequency``: distinct orders excluding returns; a line without ``order_id`` counts its
      (customer, order timestamp) as one order.
    - ``monetary``: net revenue, the sum of line amounts with returns subtracting, rounded to cents.
    - ``tenure_days``: days from the first purchase to ``as_of``.
    - ``aov``: net revenue (returns subtracting) divided by ``frequency``, the Overview's average order
      per customer.
    - scores: 1-5 by the mid-rank tie rule; null, with segment ``"No purchases"``, for customers
      without a purchase up to ``as_of``.
    """
    name = rfm_table(con, as_of, rules)
    cols = ", ".join(store.quote_ident(c) for c in RFM_COLUMNS)
    return con.execute(f"SELECT {cols} FROM {store.quote_ident(name)} ORDER BY _pos").df()


_SUMMARY_SQL = """
SELECT
    segment,
    count(*) AS customers,
    count(*) / sum(count(*)) OVER () AS customer_share,
    sum(monetary) AS revenue,
    CASE WHEN sum(sum(monetary)) OVER () = 0 THEN NULL
         ELSE sum(monetary) / sum(sum(monetary)) OVER () END AS revenue_share,
    median(recency_days) AS median_recency_days,
    median(frequency) AS median_frequency,
    median(monetary) AS median_monetary,
    median(aov) AS median_aov,
    avg(monetary) AS avg_monetary
FROM {table}
GROUP BY segment
"""


def segment_summary(
    con: Connection, as_of: dt.date | str | None = None, rules: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per segment: customers, share, revenue, revenue share, medians and a description.

    Rows follow the rule order (``segment_order``); empty segments are left out.
    """
    table = validate_rules(rules)
    name = rfm_table(con, as_of, table)
    frame = con.execute(_SUMMARY_SQL.replace("{table}", store.quote_ident(name)) + " ORDER BY segment").df()
    order = {s: i for i, s in enumerate(segment_order(table))}
    frame = frame.sort_values("segment", key=lambda s: s.map(order).fillna(len(order)), kind="stable")
    descriptions = dict(zip(table.segment, table.description, strict=True))
    descriptions.setdefault(NO_PURCHASES, "In the customer list but no purchase up to the as-of date")
    descriptions.setdefault(UNCLASSIFIED, "No segment rule matches these scores")
    frame["description"] = frame["segment"].map(descriptions).fillna("")
    return frame.reset_index(drop=True)


def score_grid(
    con: Connection, as_of: dt.date | str | None = None, rules: pd.DataFrame | None = None, y: str = "f_score"
) -> pd.DataFrame:
    """Customers and revenue per (R score, ``y`` score) cell, for the R-by-F heatmap.

    ``y`` is one of ``f_score``, ``m_score``, ``fm_score``. All 25 cells are returned (zeros included).
    """
    if y not in ("f_score", "m_score", "fm_score"):
        raise SchemaError(f"Score grid axis {y!r} is not one of f_score, m_score, fm_score.")
    name = rfm_table(con, as_of, rules)
    sql = f"""
        WITH cells AS (SELECT r.r_score, g.y_score
                       FROM range(1, 6) r(r_score), range(1, 6) g(y_score))
        SELECT c.r_score, c.y_score AS {store.quote_ident(y)},
               count(t.customer_id) AS customers, coalesce(sum(t.monetary), 0) AS revenue
        FROM cells c
        LEFT JOIN {store.quote_ident(name)} t ON t.r_score = c.r_score AND t.{store.quote_ident(y)} = c.y_score
        GROUP BY c.r_score, c.y_score
        ORDER BY c.r_score, c.y_score
    """
    return con.execute(sql).df()


# What each score measures, for the sentences that explain an empty score: (column, worse first).
_SCORE_VALUES = {"r": ("recency_days", "DESC"), "f": ("frequency", "ASC"), "m": ("monetary", "ASC")}


def _tie_block_words(axis: str, value, last_order) -> str:
    """What customers of one tied block have in common, in plain words: "ordered once", "spent $15.00"."""
    if axis == "f":
        count = int(value)
        return {1: "ordered once", 2: "ordered twice"}.get(count, f"ordered {count:,} times")
    if axis == "m":
        from engine.money import money_text

        return f"spent exactly {money_text(float(value), 2)} in all"
    return f"last ordered on the same day, {pd.Timestamp(last_order):%b %d, %Y}"


def empty_score_notes(
    con: Connection, as_of: dt.date | str | None = None, rules: pd.DataFrame | None = None, y: str = "f_score"
) -> list[str]:
    """One plain sentence per empty row (R score) or column (``y`` score) of the score heatmap, saying why
    no customer has that score, with numbers from the data.

    A score is empty when a tied block of customers (same number of orders, same last-order day, same
    spend) covers the middle of its fifth of the buyers: tied customers share one score (see
    ``SCORE_RULE``), so that block takes another score and this one stays empty. With fewer than five
    buyers some scores are empty whatever the ties. FM has no values of its own (it is (F + M) / 2), so an
    empty FM score is explained by that rule.
    """
    if y not in ("f_score", "m_score", "fm_score"):
        raise SchemaError(f"Score grid axis {y!r} is not one of f_score, m_score, fm_score.")
    name = store.quote_ident(rfm_table(con, as_of, rules))
    buyers = con.execute(f"SELECT count(*) FROM {name} WHERE r_score IS NOT NULL").fetchone()[0]
    if not buyers:
        return []
    notes = []
    for axis in ("r", y[:-6]):  # the rows (R) first, then the columns
        score = "fm_score" if axis == "fm" else f"{axis}_score"
        used = {
            int(v)
            for (v,) in con.execute(
                f"SELECT DISTINCT {score} FROM {name} WHERE {score} IS NOT NULL"
            ).fetchall()
        }
        empty = [s for s in range(1, 6) if s not in used]
        if not empty:
            continue
        label = axis.upper()
        if axis == "fm":
            notes += [
                f"No customer has FM={s}: FM is (F + M) / 2 rounded half up, and tied customers share one F "
                f"and one M score (see the definitions below)."
                for s in empty
            ]
            continue
        column, worse_first = _SCORE_VALUES[axis]
        blocks = con.execute(
            f"SELECT {column} AS value, count(*) AS customers, min(last_order) AS last_order FROM {name} "
            f"WHERE {score} IS NOT NULL GROUP BY {column} ORDER BY {column} {worse_first}"
        ).df()
        blocks["at_or_below"] = blocks["customers"].cumsum()
        blocks["below"] = blocks["at_or_below"] - blocks["customers"]
        for s in empty:
            middle = (s - 0.5) / 5 * buyers  # the middle of this score's fifth of the buyers
            block = blocks[(blocks["below"] <= middle) & (middle < blocks["at_or_below"])].iloc[0]
            if buyers < 5 and block["customers"] == 1:
                notes.append(
                    f"No customer has {label}={s}: only {buyers} customers bought, too few for five scores."
                )
                continue
            share = block["customers"] / buyers
            words = _tie_block_words(axis, block["value"], block["last_order"])
            who = "every buyer" if block["customers"] == buyers else f"{share:.0%} of buyers"
            notes.append(
                f"No customer has {label}={s}: {who} {words}, and tied customers share one score "
                f"(see the definitions below)."
            )
    return notes


def segment_members(
    con: Connection,
    segments: list[str] | None = None,
    as_of: dt.date | str | None = None,
    rules: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Members of the chosen segments (all when None) with their RFM values and scores, for export.

    Ordered by segment then ``customer_id``; customer attributes from ``customers`` are appended.
    """
    name = rfm_table(con, as_of, rules)
    extras = [c for c in store.extra_columns(con, "customers") if c not in RFM_COLUMNS]
    extra_sql = "".join(f", c.{store.quote_ident(c)}" for c in extras)
    cols = ", ".join(f"t.{store.quote_ident(c)}" for c in RFM_COLUMNS)
    where, params = "", []
    if segments is not None:
        if not segments:
            return pd.DataFrame(columns=RFM_COLUMNS + extras)
        where = "WHERE t.segment IN (" + ", ".join("?" for _ in segments) + ")"
        params = [str(s) for s in segments]
    sql = (
        f"SELECT {cols}{extra_sql} FROM {store.quote_ident(name)} t "
        f"LEFT JOIN (SELECT DISTINCT ON (customer_id) * FROM customers ORDER BY customer_id) c "
        f"USING (customer_id) {where} ORDER BY t.segment, t.customer_id"
    )
    return con.execute(sql, params).df()


__all__ = [
    "RFM_COLUMNS",
    "CUSTOMER_SEGMENT_COLUMNS",
    "NO_PURCHASES",
    "UNCLASSIFIED",
    "SCORE_RULE",
    "SEGMENT_RULES",
    "customer_segments",
    "segment_table_name",
    "validate_rules",
    "rule_grid",
    "unreachable_rules",
    "segment_order",
    "segment_case",
    "rfm_query",
    "default_as_of",
    "resolve_as_of",
    "rfm_table",
    "rfm_scores",
    "segment_summary",
    "score_grid",
    "empty_score_notes",
    "segment_members",
]

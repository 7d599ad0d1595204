"""Business overview in SQL: KPIs with change vs the previous period, revenue over time, new vs returning
customers, and monthly acquisition-cohort retention. Each KPI is defined once, in ``KPI_DEFINITIONS``.

An order is ``order_id`` when the file had one, else a customer's purchases at one timestamp. Returns
(negative lines) reduce revenue but never count as orders. Guest orders (no customer id) count in revenue,
orders and average order; they are left out of everything about customers (customers, active, repeat rate,
new vs returning, cohorts, RFM, clusters, personas), and ``guest_orders`` says how much that leaves out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from engine.store import Connection

# One order key for files with and without order ids; guest lines without an order id at one time are one order.
ORDER_KEY = "coalesce(order_id, coalesce(customer_id, '(guest)') || '@' || CAST(order_date AS VARCHAR))"

# The KPI definitions: the one place the dashboard's help, the README and ``segmint report`` take them from.
KPI_DEFINITIONS: dict[str, str] = {
    "revenue": "Net revenue: the sum of every order line's amount in the period, returns (negative lines) "
    "subtracting; guest orders (no customer id) included.",
    "orders": "Distinct orders in the period (the order id, or one customer's purchases at one time when the "
    "file has no order ids); returns are not orders; guest orders count.",
    "average_order_value": "Average order: revenue / orders, both net and over the same lines, so the "
    "three numbers always agree.",
    "customers": "Buying customers: customers with at least one order (not only returns) in the period; "
    "guests are not customers.",
    "active_90d": "Active customers: customers with an order in the 90 days up to the end of the period.",
    "repeat_rate": "Repeat rate: the share of buying customers with two or more orders in the period.",
}


@dataclass(frozen=True)
class Kpis:
    """Headline numbers for one period and the period of equal length before it."""

    start: dt.date
    end: dt.date
    customers: int
    active_90d: int
    orders: int
    revenue: float
    average_order_value: float | None
    repeat_rate: float | None
    previous: dict[str, float | None]
    guest_orders: int = 0
    guest_revenue: float = 0.0


@dataclass(frozen=True)
class GuestOrders:
    """Orders without a customer id in a period: counted in revenue and orders, not in customer analyses.

    ``revenue_share`` is guest revenue / all revenue (None when revenue is zero).
    """

    orders: int
    revenue: float
    revenue_share: float | None


def data_bounds(con: Connection) -> tuple[dt.date, dt.date] | None:
    """First and last order date in the store, or None when there are no orders."""
    lo, hi = con.execute("SELECT min(order_date)::DATE, max(order_date)::DATE FROM orders").fetchone()
    return (lo, hi) if lo else None


_DATE_SPAN_SQL = """
SELECT min(d), max(d) FROM (
    SELECT order_date::DATE AS d FROM orders
    UNION ALL
    SELECT date FROM campaigns
)
"""


def date_span(con: Connection) -> tuple[dt.date, dt.date] | None:
    """First and last date over order lines and campaign rows (the range a date filter can cover), or
    None when both tables are empty."""
    lo, hi = con.execute(_DATE_SPAN_SQL).fetchone()
    return (lo, hi) if lo else None


# Money is summed as DECIMAL: exact, so a figure is the same on every run (a parallel DOUBLE sum can
# differ in its last bits between two runs, and a page and `segmint report` must agree to the cent).
_PERIOD_SQL = f"""
WITH lines AS (
    SELECT customer_id, {ORDER_KEY} AS order_key, amount, is_return
    FROM orders WHERE order_date >= ? AND order_date < ?
),
per_customer AS (
    SELECT customer_id, count(DISTINCT order_key) FILTER (WHERE NOT is_return) AS n_orders
    FROM lines WHERE customer_id IS NOT NULL GROUP BY customer_id
)
SELECT
    (SELECT count(*) FROM per_customer WHERE n_orders > 0) AS customers,
    (SELECT count(DISTINCT order_key) FROM lines WHERE NOT is_return) AS orders,
    (SELECT coalesce(sum(amount::DECIMAL(38, 6)), 0)::DOUBLE FROM lines) AS revenue,
    (SELECT count(*) FILTER (WHERE n_orders >= 2) FROM per_customer) AS repeaters,
    (SELECT count(DISTINCT order_key) FROM lines WHERE NOT is_return AND customer_id IS NULL) AS guest_orders,
    (SELECT coalesce(sum(amount::DECIMAL(38, 6)), 0)::DOUBLE FROM lines WHERE customer_id IS NULL) AS guest_revenue
"""

_ACTIVE_SQL = """
SELECT count(DISTINCT customer_id) FROM orders
WHERE NOT is_return AND order_date > ? AND order_date < ?
"""


def _period(con: Connection, start: dt.date, end: dt.date) -> dict[str, float | None]:
    stop = end + dt.timedelta(days=1)
    customers, orders, revenue, repeaters, guest_orders, guest_revenue = con.execute(
        _PERIOD_SQL, [start, stop]
    ).fetchall()[0]
    active = con.execute(_ACTIVE_SQL, [stop - dt.timedelta(days=90), stop]).fetchall()[0][0]
    return {
        "customers": int(customers or 0),
        "orders": int(orders or 0),
        "revenue": float(revenue or 0.0),
        # revenue / orders: both net, so average order x orders is revenue (KPI_DEFINITIONS)
        "average_order_value": (float(revenue or 0.0) / orders) if orders else None,
        "repeat_rate": (repeaters / customers) if customers else None,
        "active_90d": int(active or 0),
        "guest_orders": int(guest_orders or 0),
        "guest_revenue": float(guest_revenue or 0.0),
    }


def kpis(con: Connection, start: dt.date | None = None, end: dt.date | None = None) -> Kpis | None:
    """KPIs for [start, end] (default: all data) and for the equally long period just before.

    Returns None when there are no orders.
    """
    bounds = data_bounds(con)
    if bounds is None:
        return None
    start = start or bounds[0]
    end = end or bounds[1]
    length = (end - start).days + 1
    now = _period(con, start, end)
    before = _period(con, start - dt.timedelta(days=length), start - dt.timedelta(days=1))
    return Kpis(
        start=start,
        end=end,
        customers=now["customers"],
        active_90d=now["active_90d"],
        orders=now["orders"],
        revenue=now["revenue"],
        average_order_value=now["average_order_value"],
        repeat_rate=now["repeat_rate"],
        previous=before,
        guest_orders=now["guest_orders"],
        guest_revenue=now["guest_revenue"],
    )


def guest_orders(con: Connection, start: dt.date | None = None, end: dt.date | None = None) -> GuestOrders:
    """Orders without a customer id in [start, end] (default: all dates): how many, their net revenue and
    its share of all revenue. Customer analyses leave them out; pages say so with these numbers."""
    where, params = _range(start, end)
    orders, revenue, total = con.execute(
        f"""SELECT count(DISTINCT {ORDER_KEY}) FILTER (WHERE customer_id IS NULL AND NOT is_return),
                   coalesce(sum(amount::DECIMAL(38, 6)) FILTER (WHERE customer_id IS NULL), 0)::DOUBLE,
                   coalesce(sum(amount::DECIMAL(38, 6)), 0)::DOUBLE
            FROM orders {where}""",
        params,
    ).fetchall()[0]
    return GuestOrders(int(orders or 0), float(revenue), float(revenue) / float(total) if total else None)


def revenue_over_time(
    con: Connection, grain: str = "month", start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Revenue (net), orders and buying customers per ``grain`` ("day", "week", "month", "quarter").

    Columns: period (DATE), revenue, orders, customers, returns, partial (True when the data or the range
    covers only part of the period: see ``partial_periods``). Guest orders count in revenue and orders.
    """
    if grain not in ("day", "week", "month", "quarter"):
        raise ValueError("grain must be day, week, month or quarter")
    where, params = _range(start, end)
    frame = con.execute(
        f"""SELECT date_trunc('{grain}', order_date)::DATE AS period,
                   sum(amount::DECIMAL(38, 6))::DOUBLE AS revenue,
                   count(DISTINCT {ORDER_KEY}) FILTER (WHERE NOT is_return) AS orders,
                   count(DISTINCT customer_id) FILTER (WHERE NOT is_return) AS customers,
                   -coalesce(sum(amount::DECIMAL(38, 6)) FILTER (WHERE is_return), 0)::DOUBLE AS returns
            FROM orders {where} GROUP BY 1 ORDER BY 1""",
        params,
    ).df()
    return _with_partial(con, frame, grain, start, end)


def _with_partial(con: Connection, frame: pd.DataFrame, grain: str, start, end) -> pd.DataFrame:
    covered = covered_days(con, start, end)
    partial = set(partial_periods(frame["period"], grain, *covered)) if covered else set()
    frame["partial"] = [pd.Timestamp(p).date() in partial for p in frame["period"]]
    return frame


def period_end(period: dt.date, grain: str) -> dt.date:
    """The last day of the ``grain`` (day, week starting Monday, month, quarter) that starts on ``period``."""
    step = {
        "day": pd.DateOffset(days=1),
        "week": pd.DateOffset(weeks=1),
        "month": pd.DateOffset(months=1),
        "quarter": pd.DateOffset(months=3),
    }[grain]
    return (pd.Timestamp(period) + step - pd.Timedelta(days=1)).date()


def partial_periods(
    periods, grain: str, first_day: dt.date | None, last_day: dt.date | None
) -> list[dt.date]:
    """The periods of a time chart that the data covers only in part: the first when it starts before
    ``first_day``, the last when it ends after ``last_day`` (the first and last day with data, or of the
    chosen range, whichever is narrower). Their totals are lower than a full period's, so every time chart
    marks them."""
    out = []
    for value in periods:
        period = pd.Timestamp(value).date()
        starts_early = first_day is not None and period < first_day
        ends_late = last_day is not None and period_end(period, grain) > last_day
        if starts_early or ends_late:
            out.append(period)
    return out


def covered_days(
    con: Connection, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date] | None:
    """First and last day that both hold orders and fall in [start, end]: what a time chart covers."""
    bounds = data_bounds(con)
    if bounds is None:
        return None
    first = max(bounds[0], start) if start else bounds[0]
    last = min(bounds[1], end) if end else bounds[1]
    return first, last


def _range(start, end) -> tuple[str, list]:
    clauses, params = [], []
    if start:
        clauses.append("order_date >= ?")
        params.append(start)
    if end:
        clauses.append("order_date < ?")
        params.append(end + dt.timedelta(days=1))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def new_vs_returning(
    con: Connection, grain: str = "month", start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Buying customers per period split into new (first order ever in that period) and returning.

    Columns: period, new_customers, returning_customers, new_revenue, returning_revenue, partial. Guest
    orders are left out (a guest is no customer).
    """
    if grain not in ("week", "month", "quarter"):
        raise ValueError("grain must be week, month or quarter")
    where, params = _range(start, end)
    where = (where + " AND" if where else "WHERE") + " NOT o.is_return"
    frame = con.execute(
        f"""WITH first_order AS (
                SELECT customer_id, date_trunc('{grain}', min(order_date))::DATE AS first_period
                FROM orders WHERE NOT is_return AND customer_id IS NOT NULL GROUP BY customer_id
            )
            SELECT date_trunc('{grain}', o.order_date)::DATE AS period,
                   count(DISTINCT o.customer_id) FILTER (WHERE f.first_period = date_trunc('{grain}', o.order_date))
                       AS new_customers,
                   count(DISTINCT o.customer_id) FILTER (WHERE f.first_period < date_trunc('{grain}', o.order_date))
                       AS returning_customers,
                   coalesce(sum(o.amount::DECIMAL(38, 6)) FILTER (WHERE f.first_period = date_trunc('{grain}', o.order_date)), 0)::DOUBLE
                       AS new_revenue,
                   coalesce(sum(o.amount::DECIMAL(38, 6)) FILTER (WHERE f.first_period < date_trunc('{grain}', o.order_date)), 0)::DOUBLE
                       AS returning_revenue
            FROM orders o JOIN first_order f USING (customer_id)
            {where.replace("order_date", "o.order_date")}
            GROUP BY 1 ORDER BY 1""",
        params,
    ).df()
    return _with_partial(con, frame, grain, start, end)


def cohort_retention(con: Connection, max_months: int = 24) -> pd.DataFrame:
    """Monthly acquisition cohorts: share of each cohort buying again n months after its first month.

    Columns: cohort (DATE, first-order month), months_since (0..), customers (cohort size),
    active (buyers in that month), retention (active / customers).
    """
    return con.execute(
        """WITH buys AS (
                SELECT DISTINCT customer_id, date_trunc('month', order_date)::DATE AS month
                FROM orders WHERE NOT is_return AND customer_id IS NOT NULL
            ),
            cohorts AS (SELECT customer_id, min(month) AS cohort FROM buys GROUP BY customer_id),
            sizes AS (SELECT cohort, count(*) AS customers FROM cohorts GROUP BY cohort)
            SELECT c.cohort,
                   CAST(datediff('month', c.cohort, b.month) AS INTEGER) AS months_since,
                   s.customers,
                   count(*) AS active,
                   count(*) / s.customers AS retention
            FROM buys b JOIN cohorts c USING (customer_id) JOIN sizes s USING (cohort)
            WHERE datediff('month', c.cohort, b.month) <= ?
            GROUP BY c.cohort, months_since, s.customers
            ORDER BY c.cohort, months_since""",
        [max_months],
    ).df()


def table_profile(con: Connection, table: str) -> dict:
    """Rows, date range, null rate per column and sample rows of a canonical table (for the Data page)."""
    from engine.schema import LOAD_ID_COLUMN, get_table
    from engine.store import quote_ident, table_columns

    spec = get_table(table)
    t = quote_ident(spec.name)
    columns = [c for c, _ in table_columns(con, spec.name) if c != LOAD_ID_COLUMN]
    rows = int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
    nulls = pd.DataFrame({"column": columns, "null_rate": [0.0] * len(columns)})
    if rows and columns:
        rates = con.execute(
            "SELECT "
            + ", ".join(f"avg(CASE WHEN {quote_ident(c)} IS NULL THEN 1.0 ELSE 0 END)" for c in columns)
            + f" FROM {t}"
        ).fetchone()
        nulls["null_rate"] = [float(r) for r in rates]
    date_col = next((f.name for f in spec.fields if f.kind in ("date", "timestamp")), None)
    date_range = None
    if rows and date_col:
        lo, hi = con.execute(
            f"SELECT min({quote_ident(date_col)}), max({quote_ident(date_col)}) FROM {t}"
        ).fetchone()
        date_range = (lo, hi) if lo is not None else None
    sample = (
        con.execute(
            f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM {t} ORDER BY rowid LIMIT 10"
        ).df()
        if columns
        else pd.DataFrame()
    )
    return {"rows": rows, "date_column": date_col, "date_range": date_range, "nulls": nulls, "sample": sample}


__all__ = [
    "ORDER_KEY",
    "KPI_DEFINITIONS",
    "Kpis",
    "GuestOrders",
    "guest_orders",
    "data_bounds",
    "date_span",
    "kpis",
    "revenue_over_time",
    "new_vs_returning",
    "cohort_retention",
    "table_profile",
    "period_end",
    "partial_periods",
    "covered_days",
]

"""Campaign and channel performance as ratios of sums, funnels, trends, breakdowns and segment response.

Every metric is computed in DuckDB from summed columns of the ``campaigns`` table: a ratio of sums, never
an average of per-row ratios. A ratio whose denominator is zero or missing is missing (``<NA>`` in a
frame, ``None`` in a scalar) and shown as "n/a": never ``inf`` or ``NaN``.

Revenue: ad-platform exports often have no revenue column. A user-set value per conversion then fills
revenue for rows without one (``conversions x value``); the assumed part is reported separately in
``assumed_revenue`` so a page can label it as an assumption.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine import rfm
from engine.errors import InsufficientDataError, SchemaError
from engine.schema import CAMPAIGNS, is_dimension
from engine.store import Connection, extra_columns, quote_ident, table_columns

NO_CHANNEL = "(no channel)"
MULTIPLE_CHANNELS = "(several channels)"
BLANK = "(blank)"
NO_SEGMENT = "(no segment)"
GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Metric:
    """One ratio metric: ``numerator x scale / denominator`` over summed columns.

    ``numerator`` and ``denominator`` are SQL over the summed columns (written here, never user input);
    ``kind`` tells a page how to format it (``pct``, ``money``, ``ratio``).
    """

    name: str
    label: str
    numerator: str
    denominator: str
    scale: float
    kind: str
    description: str


RATIO_METRICS: tuple[Metric, ...] = (
    Metric("ctr", "CTR", "clicks", "impressions", 1, "pct", "Click-through rate: clicks / impressions"),
    Metric(
        "conversion_rate_click",
        "Conv. rate / click",
        "conversions",
        "clicks",
        1,
        "pct",
        "Conversions / clicks",
    ),
    Metric(
        "conversion_rate_impression",
        "Conv. rate / impr.",
        "conversions",
        "impressions",
        1,
        "pct",
        "Conversions / impressions",
    ),
    Metric("cpc", "CPC", "spend", "clicks", 1, "money", "Cost per click: spend / clicks"),
    Metric("cpm", "CPM", "spend", "impressions", 1000, "money", "Cost per 1,000 impressions"),
    Metric("cpa", "CPA", "spend", "conversions", 1, "money", "Cost per acquisition: spend / conversions"),
    Metric("roas", "ROAS", "revenue", "spend", 1, "ratio", "Return on ad spend: revenue / spend"),
    Metric(
        "roi", "ROI", "revenue - spend", "spend", 1, "pct", "Return on investment: (revenue - spend) / spend"
    ),
)
SUM_COLUMNS = ("spend", "impressions", "clicks", "conversions", "revenue")
RATIO_NAMES = tuple(m.name for m in RATIO_METRICS)


@dataclass(frozen=True)
class CampaignFilter:
    """Which campaign rows to include.

    Attributes
    ----------
    start, end : inclusive dates on ``campaigns.date`` (rows without a date are left out when either
        is set; orders are filtered on ``order_date`` the same way).
    channels : channel labels to keep (``NO_CHANNEL`` for rows without one); None keeps all.
    campaigns : campaign ids to keep; None keeps all.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    channels: tuple[str, ...] | None = None
    campaigns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CampaignTotals:
    """Totals over the filtered campaign rows; a ratio is None when its denominator is zero or missing."""

    campaigns: int
    spend: float | None
    impressions: float | None
    clicks: float | None
    conversions: float | None
    revenue: float | None
    assumed_revenue: float | None
    rows_without_revenue: int
    ctr: float | None
    conversion_rate_click: float | None
    conversion_rate_impression: float | None
    cpc: float | None
    cpm: float | None
    cpa: float | None
    roas: float | None
    roi: float | None
    unpaid_campaigns: int = 0
    unpaid_revenue: float | None = None
    unpaid_conversions: float | None = None


# --------------------------------------------------------------------------- helpers

_CHANNEL = f"coalesce(channel, '{NO_CHANNEL}')"


def _filter_sql(filters: CampaignFilter | None, date_col: str = "date") -> tuple[str, list[Any]]:
    """WHERE clause (without the keyword; ``true`` when empty) over ``campaigns`` and its parameters."""
    f = filters or CampaignFilter()
    clauses, params = ["true"], []
    if f.start is not None:
        clauses.append(f"{date_col} >= ?")
        params.append(f.start)
    if f.end is not None:
        clauses.append(f"{date_col} <= ?")
        params.append(f.end)
    if f.channels is not None:
        clauses.append(f"list_contains(?::VARCHAR[], {_CHANNEL})")
        params.append(list(f.channels))
    if f.campaigns is not None:
        clauses.append("list_contains(?::VARCHAR[], campaign_id)")
        params.append(list(f.campaigns))
    return " AND ".join(clauses), params


# A campaign that ever spent is paid, and every row of it counts in its cost metrics (a zero-spend ad row of
# a paid campaign still brought its conversions); only campaigns that never spent (a newsletter, organic
# posts) are left out of ROI, ROAS, CPA, CPC and CPM. A row without a campaign id is paid when it has spend.
PAID_ROW = (
    "CASE WHEN campaign_id IS NULL THEN coalesce(spend > 0, false) "
    "ELSE campaign_id IN (SELECT campaign_id FROM campaigns WHERE spend > 0) END"
)

_PAID_OPERAND = re.compile(r"\b(revenue|clicks|impressions|conversions)\b")


def _is_cost_metric(m: Metric) -> bool:
    """ROI, ROAS, CPA, CPC, CPM: what spend bought. They count only the rows of campaigns that spent."""
    return "spend" in m.numerator or "spend" in m.denominator


def _ratio_sql() -> str:
    """The ratio columns over summed columns, NULL when a denominator is 0 or NULL. Cost metrics take the
    sums of the rows of paid campaigns (``paid_*``): a newsletter's free revenue must not lift the ROAS of its
    channel or of the total."""
    parts = []
    for m in RATIO_METRICS:
        scale = "" if m.scale == 1 else f"{m.scale:g} * "
        numerator, denominator = m.numerator, m.denominator
        if _is_cost_metric(m):
            numerator = _PAID_OPERAND.sub(r"paid_\1", numerator)
            denominator = _PAID_OPERAND.sub(r"paid_\1", denominator)
        parts.append(f"{scale}({numerator}) / NULLIF({denominator}, 0) AS {m.name}")
    return ",\n               ".join(parts)


def _nullable(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Float columns as pandas' nullable Float64: missing stays ``<NA>``, never NaN."""
    present = [c for c in columns if c in frame.columns]
    return frame.astype(dict.fromkeys(present, "Float64")) if present else frame


def campaign_dimensions(con: Connection) -> list[str]:
    """Dimension columns kept with the campaign rows (age band, gender, interest ...), in stored order.
    Identifiers (``ad_id``) and measures under another name (``total_conversion``) are kept in the table
    but are not dimensions to break down by."""
    return [c for c in extra_columns(con, "campaigns") if is_dimension(CAMPAIGNS, c)]


@dataclass
class _Grouping:
    """SQL pieces of a grouping: an inner GROUP BY over the rows, then an outer one over its groups."""

    inner_select: list[str] = field(default_factory=list)
    inner_group: list[str] = field(default_factory=list)
    outer_select: list[str] = field(default_factory=list)
    outer_group: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def _grouping(con: Connection, by: str | Sequence[str], period: str | None = None) -> _Grouping:
    """The grouping for ``by`` (``campaign``, ``channel``, dimensions), optionally per ``period`` first.

    A campaign's name and channel are carried through the inner GROUP BY as keys and settled in the small
    outer one: much cheaper than string aggregates over every row.
    """
    keys = [by] if isinstance(by, str) else list(by)
    g = _Grouping()
    if period:  # an expression over ``date``: the inner level keeps days, the outer one truncates them
        g.inner_select.append("date")
        g.inner_group.append("date")
        g.outer_select.append(f"{period} AS period")
        g.outer_group.append(period)
        g.keys.append("period")
    dims = None
    for key in keys:
        # the inner GROUP BY uses the raw columns (cheap to hash); labels are made over the few groups
        if key == "campaign":
            g.inner_select += ["campaign_id", "campaign_name", "channel AS _channel"]
            g.inner_group += ["campaign_id", "campaign_name", "channel"]
            g.outer_select += ["campaign_id", "coalesce(max(campaign_name), campaign_id) AS campaign_name"]
            g.outer_group.append("campaign_id")
            g.keys += ["campaign_id", "campaign_name"]
            if "channel" not in keys:
                label = f"coalesce(_channel, '{NO_CHANNEL}')"
                g.outer_select.append(
                    f"CASE WHEN min({label}) = max({label}) THEN min({label}) "
                    f"ELSE '{MULTIPLE_CHANNELS}' END AS channel"
                )
                g.keys.append("channel")
            continue
        if key == "channel":
            column, label = "channel", _CHANNEL
        else:
            dims = campaign_dimensions(con) if dims is None else dims
            if key not in dims:
                choices = ", ".join(["campaign", "channel", *dims])
                raise SchemaError(
                    f"campaigns has no dimension {key!r} to break down by. Choose one of: {choices}."
                )
            column = quote_ident(key)
            label = f"coalesce(CAST({column} AS VARCHAR), '{BLANK}')"
        g.inner_select.append(column)
        g.inner_group.append(column)
        g.outer_select.append(f"{label} AS {column}")
        g.outer_group.append(label)
        g.keys.append(key)
    return g


MONEY_COLUMNS = (
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "reported_revenue",
    "assumed_revenue",
    "revenue_minus_spend",
    "unpaid_revenue",
    "unpaid_conversions",
)


def _metrics_query(
    con: Connection,
    by: str | Sequence[str],
    filters: CampaignFilter | None,
    value_per_conversion: float | None,
    period: str | None = None,
) -> pd.DataFrame:
    """Run the two-level metrics aggregate and return the frame (keys, sums, counts, ratios)."""
    g = _grouping(con, by, period)
    where, params = _filter_sql(filters)
    if period:
        where = f"date IS NOT NULL AND {where}"
    assumed_params: list[Any] = []
    if value_per_conversion is None:
        assumed_inner = ""
        assumed_outer = (
            "CAST(NULL AS DOUBLE) AS assumed_revenue, CAST(NULL AS DOUBLE) AS paid_assumed_revenue"
        )
    else:
        if value_per_conversion < 0:
            raise SchemaError(f"The value per conversion must be zero or more, not {value_per_conversion}.")
        assumed_inner = "sum(CASE WHEN revenue IS NULL THEN conversions * ? END) AS assumed_revenue,"
        assumed_outer = (
            "sum(assumed_revenue) AS assumed_revenue, "
            "sum(assumed_revenue) FILTER (WHERE _paid) AS paid_assumed_revenue"
        )
        assumed_params = [float(value_per_conversion)]
    inner_keys = "".join(f"{s}, " for s in g.inner_select)
    outer_keys = "".join(f"{s}, " for s in g.outer_select)
    key_out = "".join(f"{quote_ident(k)}, " for k in g.keys)
    # the inner level also splits by "paid campaign" (a cheap boolean key): the outer level then sums what
    # spend bought over the few groups, instead of filtered sums over every row
    inner_group = f"GROUP BY {', '.join([*g.inner_group, '_paid'])}"
    outer_group = f"GROUP BY {', '.join(g.outer_group)}" if g.outer_group else ""
    order_by = f"ORDER BY {', '.join(quote_ident(k) for k in g.keys)}" if g.keys else ""
    # A row is paid when its campaign ever spent (PAID_ROW); cost metrics count paid rows only (same pass).
    sql = f"""
        WITH inner_sums AS (
            SELECT {inner_keys}_paid, sum(spend::DECIMAL(38, 6))::DOUBLE AS spend, sum(impressions) AS impressions,
                   sum(clicks) AS clicks, sum(conversions) AS conversions, sum(revenue::DECIMAL(38, 6))::DOUBLE AS reported_revenue,
                   {assumed_inner} count(*) AS rows, count(revenue) AS rows_with_revenue
            FROM (SELECT *, {PAID_ROW} AS _paid FROM campaigns WHERE {where})
            {inner_group}
        ), sums AS (
            SELECT {outer_keys}sum(spend) AS spend, sum(impressions) AS impressions, sum(clicks) AS clicks,
                   sum(conversions) AS conversions, sum(reported_revenue) AS reported_revenue, {assumed_outer},
                   sum(impressions) FILTER (WHERE _paid) AS paid_impressions,
                   sum(clicks) FILTER (WHERE _paid) AS paid_clicks,
                   sum(conversions) FILTER (WHERE _paid) AS paid_conversions,
                   sum(reported_revenue) FILTER (WHERE _paid) AS paid_reported_revenue,
                   sum(rows) AS rows, sum(rows) - sum(rows_with_revenue) AS rows_without_revenue
            FROM inner_sums
            {outer_group}
        ), totals AS (
            SELECT *,
                   CASE WHEN reported_revenue IS NULL AND assumed_revenue IS NULL THEN NULL
                        ELSE coalesce(reported_revenue, 0) + coalesce(assumed_revenue, 0) END AS revenue,
                   CASE WHEN paid_reported_revenue IS NULL AND paid_assumed_revenue IS NULL THEN NULL
                        ELSE coalesce(paid_reported_revenue, 0) + coalesce(paid_assumed_revenue, 0)
                   END AS paid_revenue
            FROM sums
        )
        SELECT {key_out}spend, impressions, clicks, conversions, revenue, reported_revenue, assumed_revenue,
               coalesce(rows, 0) AS rows, coalesce(rows_without_revenue, 0) AS rows_without_revenue,
               revenue - spend AS revenue_minus_spend,
               CASE WHEN revenue IS NULL THEN NULL ELSE revenue - coalesce(paid_revenue, 0) END
                   AS unpaid_revenue,
               conversions - coalesce(paid_conversions, 0) AS unpaid_conversions,
               {_ratio_sql()}
        FROM totals
        {order_by}
    """
    frame = con.execute(sql, assumed_params + params).df()
    # one astype for every column: counts as int64, money and ratios as nullable Float64 (<NA>, never NaN)
    types = {"rows": "int64", "rows_without_revenue": "int64"} | dict.fromkeys(
        [*MONEY_COLUMNS, *RATIO_NAMES], "Float64"
    )
    return frame.astype(types)


def campaign_metrics(
    con: Connection,
    by: str | Sequence[str] = "campaign",
    filters: CampaignFilter | None = None,
    value_per_conversion: float | None = None,
) -> pd.DataFrame:
    """Sums and ratio metrics per campaign, channel or any campaign dimension.

    Parameters
    ----------
    con : store connection.
    by : ``"campaign"`` (id, name and channel), ``"channel"``, a dimension column of ``campaigns``, a
        list of these, or ``()`` for one total row.
    filters : rows to include (dates, channels, campaigns).
    value_per_conversion : money per conversion assumed for rows with no revenue; None leaves such
        rows without revenue.

    Returns
    -------
    DataFrame
        The key columns of ``by`` (a campaign brings ``campaign_id, campaign_name, channel``; a campaign
        running on several channels has channel ``MULTIPLE_CHANNELS``), then ``spend, impressions,
        clicks, conversions, revenue``, ``reported_revenue`` (from the file), ``assumed_revenue`` (from
        ``value_per_conversion``), ``rows``, ``rows_without_revenue``, ``revenue_minus_spend`` and every
        metric of ``RATIO_METRICS`` (nullable Float64; ``<NA>`` where the denominator is zero or
        missing). Ordered by the keys.
    """
    return _metrics_query(con, by, filters, value_per_conversion)


def campaign_totals(
    con: Connection, filters: CampaignFilter | None = None, value_per_conversion: float | None = None
) -> CampaignTotals:
    """Totals and ratio metrics over all filtered campaign rows (one set of KPI numbers).

    Ratios are None when their denominator is zero or missing; ``campaigns`` counts distinct ids. ROI, ROAS,
    CPA, CPC and CPM count every row of the campaigns that spent (``PAID_ROW``); ``unpaid_revenue`` and
    ``unpaid_conversions`` are what the campaigns that never spent brought, and ``unpaid_campaigns``
    counts those campaigns in the selection (a newsletter, organic posts).
    """
    row = campaign_metrics(con, (), filters, value_per_conversion).iloc[0]
    where, params = _filter_sql(filters)
    count, unpaid = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE NOT paid)
            FROM (SELECT campaign_id, bool_or({PAID_ROW}) AS paid FROM campaigns WHERE {where}
                  GROUP BY campaign_id)
            WHERE campaign_id IS NOT NULL""",
        params,
    ).fetchall()[0]

    def val(name: str) -> float | None:
        value = row[name]
        return None if pd.isna(value) else float(value)

    return CampaignTotals(
        campaigns=int(count),
        rows_without_revenue=int(row["rows_without_revenue"]),
        unpaid_campaigns=int(unpaid),
        **{
            name: val(name)
            for name in (
                *SUM_COLUMNS,
                "assumed_revenue",
                *RATIO_NAMES,
                "unpaid_revenue",
                "unpaid_conversions",
            )
        },
    )


def campaign_trend(
    con: Connection,
    grain: str = "week",
    by: str | None = None,
    filters: CampaignFilter | None = None,
    value_per_conversion: float | None = None,
) -> pd.DataFrame:
    """Sums and ratios per period (``day``, ``week`` starting Monday, ``month``), optionally per group.

    Rows without a date are left out. ``by`` is None, ``"channel"``, ``"campaign"`` or a dimension; the
    result has ``period`` (a date), the key columns and the columns of ``campaign_metrics``, ordered by
    period then keys.
    """
    if grain not in GRAINS:
        raise SchemaError(f"Unknown time grain {grain!r}. Choose one of: {', '.join(GRAINS)}.")
    period = f"CAST(date_trunc('{grain}', date) AS DATE)"
    return _metrics_query(con, by or (), filters, value_per_conversion, period)


# Where a metric breaks even: above it a campaign earned back its spend.
BREAK_EVEN = {"roi": 0.0, "roas": 1.0}


def best_and_worst(frame: pd.DataFrame, metric: str = "roi", n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` best and ``n`` worst rows of a ``campaign_metrics`` frame by ``metric``.

    For ROI and ROAS "best" means earning back the spend (ROI above 0%, ROAS above 1) and "worst" means
    losing money (below it): either list is empty when no campaign qualifies, and the page says so.
    Other metrics rank all rows (higher is better). Rows where the metric is missing are left out; a row
    is never both best and worst. Ties break on the first key column for a stable order.
    """
    if metric not in frame.columns:
        raise SchemaError(f"The campaign table has no metric {metric!r}.")
    known = frame[frame[metric].notna()]
    key = frame.columns[0]
    ranked = known.sort_values([metric, key], ascending=[False, True], kind="mergesort")
    if metric in BREAK_EVEN:
        line = BREAK_EVEN[metric]
        best = ranked[ranked[metric] > line].head(n)
        worst = ranked[ranked[metric] < line].sort_values([metric, key], kind="mergesort").head(n)
        return best.reset_index(drop=True), worst.reset_index(drop=True)
    best = ranked.head(n)
    rest = known.drop(index=best.index)
    worst = rest.sort_values([metric, key], ascending=[True, True], kind="mergesort").head(n)
    return best.reset_index(drop=True), worst.reset_index(drop=True)


def available_metrics(totals: CampaignTotals) -> list[str]:
    """The ratio metrics the selection can show (their denominator and numerator exist), in
    ``RATIO_METRICS`` order: a file without revenue has no ROAS or ROI, one without clicks no CTR."""
    return [m.name for m in RATIO_METRICS if getattr(totals, m.name) is not None]


# The breakdown metric a page opens on: the first of these the file has.
BREAKDOWN_METRIC_ORDER = ("roas", "roi", "cpa", "conversion_rate_click", "ctr", "cpc", "cpm")


@dataclass(frozen=True)
class DimensionProfile:
    """A campaign dimension and whether it makes a readable breakdown.

    ``looks_like_id`` is True for identifiers (a name ending in id, or nearly one value per row): a
    breakdown by ad id has as many bars as rows.
    """

    name: str
    distinct: int
    rows: int
    looks_like_id: bool


def dimension_profiles(con: Connection) -> list[DimensionProfile]:
    """Every extra column of the campaigns (the dimensions, and the identifiers and measures kept beside
    them) with its distinct values (one query), in stored order."""
    dims = extra_columns(con, "campaigns")
    if not dims:
        return []
    parts = ", ".join(f"count(DISTINCT {quote_ident(d)})" for d in dims)
    row = con.execute(f"SELECT count(*), {parts} FROM campaigns").fetchall()[0]
    total = int(row[0])
    out = []
    for name, distinct in zip(dims, row[1:], strict=True):
        words = re.split(r"[^a-z0-9]+", name.lower())
        id_like = words[-1] in ("id", "ids", "key", "code") or name.lower().endswith("id")
        out.append(
            DimensionProfile(name, int(distinct), total, id_like or (total > 20 and distinct > total / 2))
        )
    return out


def default_breakdown(con: Connection, max_values: int = 30) -> str | None:
    """The dimension a breakdown opens on: the first that is no identifier and has 2 to ``max_values``
    values (age, gender, device ...); else the first dimension with more than one value; None without any."""
    profiles = dimension_profiles(con)
    profiles = [p for p in profiles if is_dimension(CAMPAIGNS, p.name)]
    for p in profiles:
        if not p.looks_like_id and 2 <= p.distinct <= max_values:
            return p.name
    for p in profiles:
        if p.distinct > 1:
            return p.name
    return profiles[0].name if profiles else None


def campaign_filter_options(con: Connection) -> dict[str, Any]:
    """What the filters can offer: ``channels`` (labels), ``campaigns`` (frame of id and name), and
    ``date_bounds`` (first, last date or None)."""
    channels = [
        r[0] for r in con.execute(f"SELECT DISTINCT {_CHANNEL} AS c FROM campaigns ORDER BY c").fetchall()
    ]
    campaigns = con.execute(
        "SELECT campaign_id, coalesce(max(campaign_name), campaign_id) AS campaign_name "
        "FROM campaigns GROUP BY campaign_id ORDER BY campaign_id"
    ).df()
    row = con.execute("SELECT min(date), max(date) FROM campaigns").fetchone()
    return {"channels": channels, "campaigns": campaigns, "date_bounds": (row[0], row[1]) if row[0] else None}


# --------------------------------------------------------------------------- funnel

FUNNEL_STEPS = ("Impressions", "Clicks", "Conversions", "Orders")


def _orders_attributable(con: Connection) -> bool:
    cols = {c for c, _ in table_columns(con, "orders")}
    if not {"campaign_id", "channel"} & cols:
        return False
    row = con.execute(
        "SELECT count(*) FROM orders WHERE campaign_id IS NOT NULL OR channel IS NOT NULL"
    ).fetchone()
    return bool(row[0])


def campaign_funnel(
    con: Connection, by: str | None = None, filters: CampaignFilter | None = None
) -> pd.DataFrame:
    """Impressions -> clicks -> conversions (-> orders) with step conversion and drop-off.

    The orders step appears when order lines carry a campaign or channel. An order belongs to a campaign
    when its ``campaign_id`` is one of the filtered campaigns, and to a channel through that campaign's
    channel; an order with no campaign counts by its own ``channel`` (only when no campaign filter is
    set and that channel has campaign rows). Orders are distinct ``order_id`` (or customer and time when
    there is none) excluding returns; ``revenue`` on the orders step is the net order amount, returns
    included.

    Parameters
    ----------
    by : None for one funnel, ``"campaign"`` or ``"channel"``.

    Returns
    -------
    DataFrame
        ``group`` (the campaign id, channel, or ``"All"``), ``step`` (``FUNNEL_STEPS``), ``step_number``,
        ``value``, ``step_conversion`` (value / previous step; ``<NA>`` on the first step), ``drop_off``
        (1 - step_conversion),
        ``from_first`` (value / impressions) and ``revenue`` (orders step only), ordered by group then step.
        Ratios are ``<NA>`` when the denominator is zero or missing.
    """
    if by not in (None, "campaign", "channel"):
        raise SchemaError(f"A funnel is per campaign, per channel or overall, not per {by!r}.")
    where, params = _filter_sql(filters)
    f = filters or CampaignFilter()
    group_camp = {"campaign": "campaign_id", "channel": _CHANNEL, None: "'All'"}[by]
    with_orders = _orders_attributable(con)
    order_params: list[Any] = []
    if with_orders:
        date_clauses = []
        if f.start is not None:
            date_clauses.append("CAST(o.order_date AS DATE) >= ?")
            order_params.append(f.start)
        if f.end is not None:
            date_clauses.append("CAST(o.order_date AS DATE) <= ?")
            order_params.append(f.end)
        date_where = " AND ".join(date_clauses) or "true"
        by_channel = "true" if f.campaigns is None else "false"
        group_order = {"campaign": "matched_campaign", "channel": "matched_channel", None: "'All'"}[by]
        orders_cte = f"""
        , camp_ids AS (
            SELECT campaign_id,
                   CASE WHEN min({_CHANNEL}) = max({_CHANNEL}) THEN min({_CHANNEL})
                        ELSE '{MULTIPLE_CHANNELS}' END AS channel
            FROM camp GROUP BY campaign_id
        ), chans AS (SELECT DISTINCT {_CHANNEL} AS channel FROM camp
        ), matched AS (
            SELECT ci.campaign_id AS matched_campaign,
                   CASE WHEN ci.campaign_id IS NOT NULL THEN ci.channel ELSE o.channel END AS matched_channel,
                   o.order_id, o.customer_id, o.order_date, o.amount, o.is_return
            FROM orders o
            LEFT JOIN camp_ids ci ON o.campaign_id = ci.campaign_id
            WHERE {date_where}
              AND (ci.campaign_id IS NOT NULL
                   OR ({by_channel} AND o.campaign_id IS NULL AND o.channel IN (SELECT channel FROM chans)))
        ), ord AS (
            SELECT {group_order} AS grp,
                   count(DISTINCT coalesce(order_id, customer_id || '|' || CAST(order_date AS VARCHAR)))
                       FILTER (WHERE NOT coalesce(is_return, false)) AS orders,
                   sum(amount::DECIMAL(38, 6))::DOUBLE AS order_revenue
            FROM matched
            WHERE {group_order} IS NOT NULL
            GROUP BY grp
        )"""
        orders_select = "o.orders, o.order_revenue"
        orders_join = "LEFT JOIN ord o USING (grp)"
    else:
        orders_cte, orders_select, orders_join = "", "NULL AS orders, NULL AS order_revenue", ""
    sql = f"""
        WITH camp AS (SELECT * FROM campaigns WHERE {where}),
        c AS (
            SELECT {group_camp} AS grp, sum(impressions) AS impressions, sum(clicks) AS clicks,
                   sum(conversions) AS conversions
            FROM camp GROUP BY grp
        ){orders_cte}
        SELECT c.grp, c.impressions, c.clicks, c.conversions, {orders_select}
        FROM c {orders_join}
        ORDER BY c.grp
    """
    wide = con.execute(sql, params + order_params).df()
    steps = list(FUNNEL_STEPS if with_orders else FUNNEL_STEPS[:3])
    columns = ["impressions", "clicks", "conversions", "orders"][: len(steps)]
    if with_orders:
        wide["orders"] = wide["orders"].fillna(0)
    wide = wide.rename(columns=dict(zip(columns, steps, strict=True)))
    long = wide.melt(id_vars=["grp", "order_revenue"], value_vars=steps, var_name="step", value_name="value")
    long["step_number"] = long["step"].map({s: i + 1 for i, s in enumerate(steps)}).astype("int64")
    long = long.sort_values(["grp", "step_number"], kind="mergesort").reset_index(drop=True)
    long["value"] = long["value"].astype("Float64")
    previous = long.groupby("grp", sort=False)["value"].shift(1)
    first = long.groupby("grp", sort=False)["value"].transform("first")
    long["step_conversion"] = _safe_ratio(long["value"], previous)
    long.loc[long["step_number"] == 1, "step_conversion"] = pd.NA  # the first step has no previous one
    long["drop_off"] = 1.0 - long["step_conversion"]
    long["from_first"] = _safe_ratio(long["value"], first)
    long["revenue"] = long["order_revenue"].where(long["step"] == "Orders")
    long = long.rename(columns={"grp": "group"})
    long["group"] = long["group"].astype(str)
    frame = long[
        ["group", "step", "step_number", "value", "step_conversion", "drop_off", "from_first", "revenue"]
    ]
    return _nullable(frame, ["value", "step_conversion", "drop_off", "from_first", "revenue"])


def _safe_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """Element-wise ``num / den`` as Float64, ``<NA>`` where the denominator is zero or missing."""
    num = num.astype("Float64")
    den = den.astype("Float64")
    return (num / den.where(den != 0)).astype("Float64")


# --------------------------------------------------------------------------- segment x campaign response

RESPONSE_SOURCES = ("orders", "experiments")


def _segment_source(con: Connection, segment_table: str | None, segment_column: str) -> tuple[str, str]:
    """(quoted table, quoted segment column) of the customer segments to join."""
    if segment_table is None:
        segment_table = rfm.segment_table_name(con)
    cols = {c for c, _ in table_columns(con, segment_table)}
    missing = {"customer_id", segment_column} - cols
    if missing:
        raise SchemaError(
            f"The segment table {segment_table} lacks {', '.join(sorted(missing))}; it needs customer_id "
            f"and {segment_column}."
        )
    return quote_ident(segment_table), quote_ident(segment_column)


def segment_response(
    con: Connection,
    source: str = "orders",
    filters: CampaignFilter | None = None,
    experiment_id: str | None = None,
    segment_table: str | None = None,
    segment_column: str = "segment",
) -> pd.DataFrame:
    """Response per customer segment and campaign (or experiment variant), for a heatmap.

    Parameters
    ----------
    source : ``"experiments"``: exposed customers of each experiment variant (one-row-per-customer
        experiment files); a customer converts when any of their rows converted, revenue is summed
        (blank revenue counts as none). ``"orders"``: order lines that carry a ``campaign_id``; orders
        record no exposures, so the base is every customer of the segment and the rate is the share of
        them who bought through the campaign.
    filters : for ``"orders"``: order dates and campaign ids to keep.
    experiment_id : for ``"experiments"``: one experiment, or None for all.
    segment_table, segment_column : a stored table with ``customer_id`` and a segment column; by
        default the RFM segments of ``engine.rfm.segment_table_name``. Customers without a segment are
        grouped as ``NO_SEGMENT``.

    Returns
    -------
    DataFrame
        ``segment, campaign, base_customers, responders, response_rate, revenue,
        revenue_per_customer`` ordered by segment and campaign; ``campaign`` is the campaign id, or
        ``"experiment / variant"``. Rates are ``<NA>`` when the base is zero.

    Raises
    ------
    InsufficientDataError
        When no customer-level rows can be joined.
    """
    if source not in RESPONSE_SOURCES:
        raise SchemaError(
            f"Unknown response source {source!r}. Choose one of: {', '.join(RESPONSE_SOURCES)}."
        )
    if source == "orders":
        if "campaign_id" not in {c for c, _ in table_columns(con, "orders")}:
            raise InsufficientDataError("The orders table has no campaign_id column.", needed=1, found=0)
        f = filters or CampaignFilter()
        clauses, params = ["o.campaign_id IS NOT NULL", "o.customer_id IS NOT NULL"], []
        if f.start is not None:
            clauses.append("CAST(o.order_date AS DATE) >= ?")
            params.append(f.start)
        if f.end is not None:
            clauses.append("CAST(o.order_date AS DATE) <= ?")
            params.append(f.end)
        if f.campaigns is not None:
            clauses.append("list_contains(?::VARCHAR[], o.campaign_id)")
            params.append(list(f.campaigns))
        where = " AND ".join(clauses)
        count = con.execute(f"SELECT count(*) FROM orders o WHERE {where}", params).fetchone()[0]
        if not count:
            raise InsufficientDataError(
                "No order lines carry a campaign_id (in the selected dates), so responses cannot be split "
                "by segment. Map a campaign column when you upload orders.",
                needed=1,
                found=0,
            )
        seg_table, seg_col = _segment_source(con, segment_table, segment_column)
        sql = f"""
            WITH seg AS (
                SELECT customer_id, coalesce(CAST({seg_col} AS VARCHAR), '{NO_SEGMENT}') AS segment
                FROM {seg_table}
            ), bought AS (
                SELECT o.customer_id, o.campaign_id AS campaign, sum(o.amount::DECIMAL(38, 6))::DOUBLE AS revenue
                FROM orders o WHERE {where}
                GROUP BY ALL
            ), people AS (
                -- buyers missing from the segment table form their own group, so every buyer has a base
                SELECT customer_id, segment FROM seg
                UNION ALL
                SELECT DISTINCT customer_id, '{NO_SEGMENT}' FROM bought
                WHERE customer_id NOT IN (SELECT customer_id FROM seg)
            ), base AS (
                SELECT segment, count(DISTINCT customer_id) AS base_customers FROM people GROUP BY segment
            ), resp AS (
                SELECT p.segment, b.campaign, count(DISTINCT b.customer_id) AS responders,
                       sum(b.revenue) AS revenue
                FROM bought b JOIN people p USING (customer_id)
                GROUP BY ALL
            ), camps AS (SELECT DISTINCT campaign FROM bought)
            SELECT base.segment, camps.campaign, base.base_customers,
                   coalesce(r.responders, 0) AS responders,
                   coalesce(r.revenue, 0) AS revenue
            FROM base CROSS JOIN camps
            LEFT JOIN resp r ON r.segment = base.segment AND r.campaign = camps.campaign
        """
    else:
        clauses, params = ["customer_id IS NOT NULL"], []
        if experiment_id is not None:
            clauses.append("experiment_id = ?")
            params.append(experiment_id)
        where = " AND ".join(clauses)
        count = con.execute(f"SELECT count(*) FROM experiments WHERE {where}", params).fetchone()[0]
        if not count:
            raise InsufficientDataError(
                "No experiment rows name a customer, so responses cannot be split by segment. Upload an "
                "experiment file with one row per exposed customer.",
                needed=1,
                found=0,
            )
        seg_table, seg_col = _segment_source(con, segment_table, segment_column)
        sql = f"""
            WITH seg AS (
                SELECT customer_id, coalesce(CAST({seg_col} AS VARCHAR), '{NO_SEGMENT}') AS segment
                FROM {seg_table}
            ), exposed AS (
                SELECT experiment_id || ' / ' || variant AS campaign, customer_id,
                       bool_or(coalesce(conversions > 0, converted, false)) AS converted,
                       coalesce(sum(revenue), 0) AS revenue
                FROM experiments WHERE {where}
                GROUP BY ALL
            )
            SELECT coalesce(s.segment, '{NO_SEGMENT}') AS segment, e.campaign,
                   count(*) AS base_customers,
                   count(*) FILTER (WHERE e.converted) AS responders,
                   sum(e.revenue) AS revenue
            FROM exposed e LEFT JOIN seg s USING (customer_id)
            GROUP BY ALL
        """
    sql = f"""
        SELECT segment, campaign, base_customers, responders,
               responders / NULLIF(base_customers, 0) AS response_rate,
               revenue,
               revenue / NULLIF(base_customers, 0) AS revenue_per_customer
        FROM ({sql})
        ORDER BY segment, campaign
    """
    frame = con.execute(sql, params).df()
    for col in ("base_customers", "responders"):
        frame[col] = frame[col].astype("int64")
    return _nullable(frame, ["response_rate", "revenue", "revenue_per_customer"])


__all__ = [
    "NO_CHANNEL",
    "MULTIPLE_CHANNELS",
    "NO_SEGMENT",
    "GRAINS",
    "Metric",
    "RATIO_METRICS",
    "RATIO_NAMES",
    "CampaignFilter",
    "CampaignTotals",
    "campaign_dimensions",
    "campaign_metrics",
    "campaign_totals",
    "campaign_trend",
    "best_and_worst",
    "BREAK_EVEN",
    "PAID_ROW",
    "available_metrics",
    "BREAKDOWN_METRIC_ORDER",
    "DimensionProfile",
    "dimension_profiles",
    "default_breakdown",
    "campaign_filter_options",
    "FUNNEL_STEPS",
    "campaign_funnel",
    "RESPONSE_SOURCES",
    "segment_response",
]

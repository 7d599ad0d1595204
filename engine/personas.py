"""Persona cards per RFM segment or cluster: size and value, medians, top categories, products and
attributes by lift with a significance test, a generated description and a recommended action, all
from rules tables that a user can override.

Evidence rule: a trait (an attribute value, a category or a product bought) is claimed for a group only
when it is over-represented with a one-sided hypergeometric test (the group drawn from all customers),
Benjamini-Hochberg adjusted across every trait tested for that group at ``alpha``, with at least
``min_trait_customers`` group members having it and a lift of at least ``min_lift``. Groups smaller
than ``min_group`` get facts only and a note saying why no trait is claimed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom

from engine import rfm, segments, store
from engine.errors import SchemaError
from engine.store import Connection

MIN_GROUP = 30
MIN_TRAIT_CUSTOMERS = 5
MIN_LIFT = 1.2
ALPHA = 0.05

# Recommended action per named RFM segment. Override with ``persona_cards(segment_actions=...)``.
SEGMENT_ACTIONS = pd.DataFrame(
    [
        ("Champions", "Loyalty reward", "Early access, referral asks and VIP perks; no discounts needed."),
        (
            "Loyal",
            "Upsell",
            "Recommend higher-value and complementary products; invite to the loyalty programme.",
        ),
        (
            "Potential Loyalists",
            "Membership offer",
            "Offer membership or a bundle to turn a few orders into a habit.",
        ),
        ("New Customers", "Onboarding", "Welcome series and a second-purchase incentive within 30 days."),
        ("Promising", "Build habit", "Show best-sellers in their categories and a free-shipping threshold."),
        (
            "Need Attention",
            "Limited-time offer",
            "Personalised offers on what they bought before, with a deadline.",
        ),
        ("About to Sleep", "Reconnect", "Popular products and a small discount before they drift away."),
        ("At Risk", "Win-back", "Personal win-back emails and reminders of what they liked."),
        (
            "Cannot Lose Them",
            "Win-back (high value)",
            "Strong personal offer, ask for feedback; worth a call.",
        ),
        ("Hibernating", "Low-cost reactivation", "Cheap channels only; stop costly retargeting if no reply."),
        ("Lost", "Last attempt", "One inexpensive win-back message, then exclude from paid campaigns."),
        ("No purchases", "First purchase", "Welcome offer to turn sign-ups into a first order."),
    ],
    columns=["segment", "action", "detail"],
)

# For clusters and segments without a named action: first row whose levels match ("any" matches all).
PROFILE_ACTIONS = pd.DataFrame(
    [
        (
            "low",
            "any",
            "high",
            "Loyalty reward",
            "Recent, high-value customers: reward and ask for referrals.",
        ),
        (
            "low",
            "low",
            "any",
            "Onboarding",
            "Recent first-time buyers: welcome series and a second-purchase nudge.",
        ),
        ("low", "any", "any", "Upsell", "Recent customers: recommend complementary products."),
        (
            "mid",
            "any",
            "high",
            "Retention offer",
            "Valuable but slipping: personalised offer on past favourites.",
        ),
        ("mid", "any", "any", "Reconnect", "Remind them with popular products and a small discount."),
        ("high", "any", "high", "Win-back (high value)", "Worth a strong personal win-back offer."),
        (
            "high",
            "any",
            "any",
            "Low-cost reactivation",
            "Cheap channels only; exclude from paid campaigns if silent.",
        ),
        ("any", "any", "any", "Monitor", "No clear pattern: watch before spending on this group."),
    ],
    columns=["recency_level", "frequency_level", "monetary_level", "action", "detail"],
)

# Phrases for the one-line description by where the group's median sits among all buyers.
DESCRIPTION_PHRASES = pd.DataFrame(
    [
        ("recency_days", "low", "bought recently"),
        ("recency_days", "mid", "last bought a while ago"),
        ("recency_days", "high", "have not bought for a long time"),
        ("frequency", "low", "order rarely"),
        ("frequency", "mid", "order now and then"),
        ("frequency", "high", "order often"),
        ("monetary", "low", "spend little"),
        ("monetary", "mid", "spend a typical amount"),
        ("monetary", "high", "spend the most"),
    ],
    columns=["feature", "level", "phrase"],
)

TRAIT_COLUMNS = [
    "kind",
    "trait",
    "column",
    "value",
    "is_range",
    "group_customers",
    "group_share",
    "overall_share",
    "lift",
    "p_value",
    "q_value",
    "significant",
]


def _no_traits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": pd.Series(dtype=object),
            "trait": pd.Series(dtype=object),
            "column": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "is_range": pd.Series(dtype=bool),
            "group_customers": pd.Series(dtype="int64"),
            "group_share": pd.Series(dtype=float),
            "overall_share": pd.Series(dtype=float),
            "lift": pd.Series(dtype=float),
            "p_value": pd.Series(dtype=float),
            "q_value": pd.Series(dtype=float),
            "significant": pd.Series(dtype=bool),
        }
    )


class Standout(NamedTuple):
    """A trait a card's description names, as values a page can word: ``kind`` "attribute" (``column`` is
    the customers column, ``value`` its value, or a range such as "18-29" when ``is_range``), "category" or
    "product" (``value`` is the category or product); ``lift`` is group share / overall share."""

    kind: str
    column: str
    value: str
    is_range: bool
    lift: float


@dataclass(frozen=True)
class PersonaCard:
    """Facts and evidence about one group of customers (an RFM segment or a cluster).

    ``traits`` holds every trait tested (``TRAIT_COLUMNS``: ``trait`` is its text, ``column``, ``value`` and
    ``is_range`` the same as values). ``description`` is ``summary`` followed by the ``standouts`` in text.
    """

    group: str
    by: str
    customers: int
    customer_share: float
    revenue: float
    revenue_share: float | None
    median_recency_days: float | None
    median_frequency: float | None
    median_monetary: float | None
    median_aov: float | None
    levels: dict[str, str]
    traits: pd.DataFrame = field(repr=False)
    description: str = ""
    summary: str = ""
    standouts: tuple[Standout, ...] = ()
    action: str = ""
    action_detail: str = ""
    evidence_note: str | None = None
    stability: float | None = None
    # headline traits by kind, ranked once (``top`` slices them); filled by ``persona_cards``
    _ranked: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    def top(self, kind: str, n: int = 3) -> pd.DataFrame:
        """The ``n`` headline traits of one kind ("attribute", "category", "product"): significant, held by
        at least ``MIN_HEADLINE_SHARE`` of the group, ranked by ``headline_rank``."""
        ranked = self._ranked.get(kind)
        if ranked is None:
            rows = self.traits[(self.traits["kind"] == kind) & self.traits["significant"]]
            ranked = headline_rank(rows).reset_index(drop=True)
            self._ranked[kind] = ranked  # the dict itself is mutable: a cache, not part of the card's value
        return ranked.head(n)


# The kinds of trait a card lists, in the order the page shows them.
TRAIT_KINDS = ("attribute", "category", "product")

# A trait headlines a card only when enough of the group has it: a 0.6% vs 0.1% product is real but says
# little about who the group is. Every significant trait stays in the evidence table.
MIN_HEADLINE_SHARE = 0.05


def headline_rank(traits: pd.DataFrame) -> pd.DataFrame:
    """Traits held by at least ``MIN_HEADLINE_SHARE`` of the group, ordered by share x log(lift): how much
    of the group the trait describes times how strongly it sets the group apart (ties by name)."""
    rows = traits[traits["group_share"] >= MIN_HEADLINE_SHARE].copy()
    rows["_rank"] = rows["group_share"] * np.log(rows["lift"].clip(lower=1e-9))
    return rows.sort_values(["_rank", "trait"], ascending=[False, True]).drop(columns="_rank")


# --------------------------------------------------------------------------- statistics


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if len(p) == 0:
        return p
    return false_discovery_control(p, method="bh")  # LIBRARY: scipy


def enrichment(
    counts: pd.DataFrame,
    group_size: int,
    population_size: int,
    alpha: float = ALPHA,
    min_trait_customers: int = MIN_TRAIT_CUSTOMERS,
    min_lift: float = MIN_LIFT,
) -> pd.DataFrame:
    """Over-representation of traits in one group versus all customers.

    Parameters
    ----------
    counts : DataFrame ``kind, trait, group_customers, population_customers`` (customers having the
        trait in the group and in the whole population), optionally with the trait as values: ``column``,
        ``value``, ``is_range`` (see ``Standout``).
    group_size, population_size : customers in the group and in the population.

    Returns
    -------
    DataFrame ``TRAIT_COLUMNS``: shares, lift = group share / overall share, one-sided hypergeometric
    p-value, Benjamini-Hochberg q-value across all rows, and ``significant`` (q < alpha, lift >= min_lift
    and at least ``min_trait_customers`` group members with the trait). Ordered by q-value, then lift.
    """
    if counts.empty or group_size <= 0 or population_size <= 0:
        return _no_traits()
    k = counts["group_customers"].to_numpy(dtype=float)
    big_k = counts["population_customers"].to_numpy(dtype=float)
    group_share = k / group_size
    overall_share = big_k / population_size
    lift = np.divide(group_share, overall_share, out=np.zeros_like(group_share), where=overall_share > 0)
    p = hypergeom.sf(k - 1, population_size, big_k, group_size)
    q = benjamini_hochberg(p)
    out = pd.DataFrame(
        {
            "kind": counts["kind"].to_numpy(),
            "trait": counts["trait"].astype(str).to_numpy(),
            "group_customers": k.astype(int),
            "group_share": group_share,
            "overall_share": overall_share,
            "lift": lift,
            "p_value": p,
            "q_value": q,
        }
    )
    out["significant"] = (
        (out["q_value"] < alpha) & (out["lift"] >= min_lift) & (out["group_customers"] >= min_trait_customers)
    )
    # the trait as values (a page words them); counts without them get the kind and the trait's text
    out["column"] = counts["column"].to_numpy() if "column" in counts else out["kind"]
    out["value"] = counts["value"].astype(str).to_numpy() if "value" in counts else out["trait"]
    out["is_range"] = counts["is_range"].to_numpy(dtype=bool) if "is_range" in counts else False
    out = out[TRAIT_COLUMNS]
    return out.sort_values(["q_value", "lift", "trait"], ascending=[True, False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------- rules helpers


def _action_for(
    group: str, by: str, levels: dict[str, str], segment_actions: pd.DataFrame, profile_actions: pd.DataFrame
) -> tuple[str, str]:
    if by == "segment":
        hit = segment_actions[segment_actions["segment"] == group]
        if len(hit):
            return str(hit.iloc[0]["action"]), str(hit.iloc[0]["detail"])
    for row in profile_actions.itertuples():
        wanted = (row.recency_level, row.frequency_level, row.monetary_level)
        if all(w in ("any", levels.get(f)) for w, f in zip(wanted, segments.RFM_FEATURES, strict=True)):
            return str(row.action), str(row.detail)
    return "Monitor", "No rule matches this group."


def _describe(
    customers: int, share: float, levels: dict[str, str], traits: pd.DataFrame, phrases: pd.DataFrame
) -> tuple[str, tuple[Standout, ...], str]:
    """(summary, standouts, description): the facts sentence, the traits that stand out most, and both
    as one text."""
    lookup = {(r.feature, r.level): r.phrase for r in phrases.itertuples()}
    said = [lookup[(f, levels[f])] for f in segments.RFM_FEATURES if (f, levels.get(f)) in lookup]
    noun = "customer" if customers == 1 else "customers"
    summary = f"{customers:,} {noun} ({share:.0%} of all)"
    if said:
        summary += " who " + (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0])
    summary += "."
    text = summary
    significant = headline_rank(traits[traits["significant"]])
    # who they are (attributes) and what they buy (categories) say more than single products
    picks = pd.concat(
        [
            significant[significant["kind"] == "attribute"].head(2),
            significant[significant["kind"] == "category"].head(1),
        ]
    )
    if len(picks) < 2:
        picks = pd.concat([picks, significant[significant["kind"] == "product"].head(2 - len(picks))])
    if len(picks):
        text += " Stand out for " + ", ".join(f"{t.trait} ({t.lift:.1f}x)" for t in picks.itertuples()) + "."
    standouts = tuple(
        Standout(str(t.kind), str(t.column), str(t.value), bool(t.is_range), float(t.lift))
        for t in picks.itertuples()
    )
    return summary, standouts, text


# --------------------------------------------------------------------------- cards

_FACTS_SQL = """
WITH src AS ({src}),
totals AS (SELECT count(*) AS n, sum(monetary) AS revenue FROM src),
facts AS (
    SELECT grp, count(*) AS customers, sum(monetary) AS revenue,
           median(recency_days) AS median_recency_days, median(frequency) AS median_frequency,
           median(monetary) AS median_monetary, median(aov) AS median_aov
    FROM src GROUP BY grp
),
buyers AS (SELECT * FROM src WHERE recency_days IS NOT NULL),
n_buyers AS (SELECT count(*) AS nb FROM buyers),
pct AS (
    SELECT f.grp,
        (count(*) FILTER (WHERE b.recency_days < f.median_recency_days)
         + count(*) FILTER (WHERE b.recency_days = f.median_recency_days) / 2) / max(nb.nb) AS pct_recency,
        (count(*) FILTER (WHERE b.frequency < f.median_frequency)
         + count(*) FILTER (WHERE b.frequency = f.median_frequency) / 2) / max(nb.nb) AS pct_frequency,
        (count(*) FILTER (WHERE b.monetary < f.median_monetary)
         + count(*) FILTER (WHERE b.monetary = f.median_monetary) / 2) / max(nb.nb) AS pct_monetary
    FROM facts f CROSS JOIN buyers b CROSS JOIN n_buyers nb
    WHERE f.median_recency_days IS NOT NULL
    GROUP BY f.grp
)
SELECT f.*, f.customers / t.n AS customer_share,
       CASE WHEN t.revenue = 0 THEN NULL ELSE f.revenue / t.revenue END AS revenue_share,
       p.pct_recency, p.pct_frequency, p.pct_monetary
FROM facts f CROSS JOIN totals t LEFT JOIN pct p USING (grp)
ORDER BY f.grp
"""

_BOUGHT_SQL = """
WITH src AS ({src}),
bought AS (
    SELECT DISTINCT o.customer_id, {what} AS trait
    FROM orders o LEFT JOIN {catalogue} p USING (product_id)
    WHERE NOT coalesce(o.is_return, false) AND CAST(o.order_date AS DATE) <= $as_of AND {what} IS NOT NULL
)
SELECT s.grp, b.trait, count(*) AS group_customers
FROM bought b JOIN src s USING (customer_id)
GROUP BY ALL
ORDER BY s.grp, b.trait
"""


def _group_source(
    con: Connection,
    by: str,
    as_of: dt.date,
    rules: pd.DataFrame | None,
    cluster_params: segments.ClusterParams | None,
) -> tuple[str, float | None]:
    """SQL of (customer_id, grp, recency_days, frequency, monetary, aov) and the cluster stability."""
    rfm_name = store.quote_ident(rfm.rfm_table(con, as_of, rules))
    if by == "segment":
        return (
            f"SELECT customer_id, segment AS grp, recency_days, frequency, monetary, aov FROM {rfm_name}",
            None,
        )
    if by == "cluster":
        params = cluster_params or segments.ClusterParams()
        model = segments.fit_clusters(con, params, as_of)
        cl = store.quote_ident(segments.cluster_table(con, params, as_of))
        return (
            f"SELECT t.customer_id, c.cluster_name AS grp, t.recency_days, t.frequency, t.monetary, t.aov "
            f"FROM {rfm_name} t JOIN {cl} c USING (customer_id)",
            model.stability_,
        )
    raise SchemaError(f"Personas are built per 'segment' or 'cluster', not {by!r}.")


def _attribute_counts(con: Connection, src: str, attributes: Sequence[str]) -> pd.DataFrame:
    """Customers per (group, attribute value); numeric attributes are cut at their quartiles."""
    kinds = segments.customer_attributes(con)
    kinds = dict(zip(kinds["column"], kinds["kind"], strict=True))
    frames = []
    for attr in attributes:
        q = store.quote_ident(attr)
        if kinds.get(attr) == "numeric":
            cuts = con.execute(
                f"SELECT quantile_cont({q}, [0.25, 0.5, 0.75]) FROM customers WHERE {q} IS NOT NULL"
            ).fetchone()[0]
            edges = sorted(set(float(c) for c in cuts or []))
            if not edges:
                continue
            lo = con.execute(
                f"SELECT min({q}), max({q}), bool_and({q} = floor({q})) FROM customers WHERE {q} IS NOT NULL"
            ).fetchone()
            bounds = [float(lo[0])] + edges + [float(lo[1])]
            whole = bool(lo[2])  # whole numbers (ages, counts): bins read 18-29, 30-44, never 18-29, 29-44
            case, params = [], {"prefix": f"{attr} "}
            for i in range(len(bounds) - 1):
                low, high = bounds[i], bounds[i + 1]
                if whole:
                    low = low if i == 0 else math.floor(low) + 1
                    high = math.floor(high)
                    if low > high:
                        continue  # no whole number falls in this bin
                case.append(f"WHEN c.{q} <= $hi_{i} THEN $label_{i}")
                params[f"hi_{i}"] = bounds[i + 1]
                params[f"label_{i}"] = _fmt_num(low) if low == high else f"{_fmt_num(low)}-{_fmt_num(high)}"
            expr = "CASE " + " ".join(case) + " END"
        elif kinds.get(attr) == "categorical":
            expr, params = f"CAST(c.{q} AS VARCHAR)", {"prefix": f"{attr} = "}
        else:
            continue
        # the trait's text ("age 18-29", "region = North") and its value ("18-29", "North")
        sql = (
            f"WITH src AS ({src}) SELECT s.grp, $prefix || {expr} AS trait, {expr} AS value, "
            f"count(*) AS group_customers "
            f"FROM src s JOIN (SELECT DISTINCT ON (customer_id) * FROM customers ORDER BY customer_id) c "
            f"USING (customer_id) WHERE c.{q} IS NOT NULL GROUP BY ALL ORDER BY 1, 2"
        )
        frame = con.execute(sql, params).df()
        frame["kind"] = "attribute"
        frame["column"] = attr
        frame["is_range"] = kinds[attr] == "numeric"
        frames.append(frame)
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["grp", "trait", "value", "group_customers", "kind", "column", "is_range"])
    )


# An order-line column is a customer attribute when it has at least 2 and at most this many values.
MAX_ORDER_ATTRIBUTE_VALUES = 50


def order_attributes(con: Connection, skip: Sequence[str] = ()) -> list[str]:
    """Text columns kept on order lines (an invoice log's Country) usable as customer attributes: 2 to
    ``MAX_ORDER_ATTRIBUTE_VALUES`` values among customers' lines, not a product name column and not named
    like a column of ``skip`` (the customers table's own attributes win)."""
    from engine.recommend.data import ORDER_LINE_NAME_COLUMNS

    taken = {str(c).lower() for c in skip} | {c.lower() for c in ORDER_LINE_NAME_COLUMNS}
    types = dict(store.table_columns(con, "orders"))
    out = []
    for col in store.extra_columns(con, "orders"):
        if col.lower() in taken or types.get(col, "").upper() != "VARCHAR":
            continue
        q = store.quote_ident(col)
        distinct = con.execute(
            f"SELECT count(DISTINCT {q}) FROM orders WHERE customer_id IS NOT NULL AND nullif(trim({q}), '') "
            f"IS NOT NULL"
        ).fetchone()[0]
        if 2 <= int(distinct) <= MAX_ORDER_ATTRIBUTE_VALUES:
            out.append(col)
    return out


def order_attribute_sql(column: str, as_of_param: str = "as_of") -> str:
    """SELECT of ``customer_id, value, lines``: each customer's value of the order-line ``column`` that is
    on most of their lines up to the bound date ``$<as_of_param>`` (ties: the first alphabetically; blank
    values left out). Personas and the segment builder both read a customer's order-level attribute so."""
    q = store.quote_ident(column)
    return f"""
                SELECT customer_id, trim({q}) AS value, count(*) AS lines
                FROM orders
                WHERE customer_id IS NOT NULL AND nullif(trim({q}), '') IS NOT NULL
                  AND CAST(order_date AS DATE) <= ${as_of_param}
                GROUP BY customer_id, trim({q})
                QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY lines DESC, value) = 1
    """


def _order_attribute_counts(
    con: Connection, src: str, columns: Sequence[str], as_of: dt.date
) -> pd.DataFrame:
    """Customers per (group, value) of order-line columns, each customer taking the value on most of their
    lines up to ``as_of`` (``order_attribute_sql``)."""
    frames = []
    for col in columns:
        sql = f"""
            WITH src AS ({src}),
            per_customer AS ({order_attribute_sql(col)})
            SELECT s.grp, $prefix || m.value AS trait, m.value, count(*) AS group_customers
            FROM src s JOIN per_customer m USING (customer_id)
            GROUP BY ALL ORDER BY 1, 2
        """
        frame = con.execute(sql, {"as_of": as_of, "prefix": f"{col} = "}).df()
        frame["kind"] = "attribute"
        frame["column"] = col
        frame["is_range"] = False
        frames.append(frame)
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["grp", "trait", "value", "group_customers", "kind", "column", "is_range"])
    )


def _fmt_num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:,.2f}"


def persona_cards(
    con: Connection,
    by: str = "segment",
    as_of: dt.date | str | None = None,
    rules: pd.DataFrame | None = None,
    attributes: Sequence[str] | None = None,
    cluster_params: segments.ClusterParams | None = None,
    min_group: int = MIN_GROUP,
    min_trait_customers: int = MIN_TRAIT_CUSTOMERS,
    min_lift: float = MIN_LIFT,
    alpha: float = ALPHA,
    segment_actions: pd.DataFrame | None = None,
    profile_actions: pd.DataFrame | None = None,
    description_phrases: pd.DataFrame | None = None,
) -> list[PersonaCard]:
    """One persona card per RFM segment (``by="segment"``) or cluster (``by="cluster"``).

    Parameters
    ----------
    con : store connection or cursor.
    by : "segment" or "cluster".
    as_of : as-of date for RFM and purchases (default: last order date).
    rules : RFM segment rules override.
    attributes : customer attribute columns to test (default: every usable one, see
        ``customer_attributes``).
    cluster_params : how customers are clustered when ``by="cluster"`` (default ``ClusterParams()``).
    min_group, min_trait_customers, min_lift, alpha : evidence thresholds (see the module docstring).
    segment_actions, profile_actions, description_phrases : overrides of the rules tables.

    Returns
    -------
    Cards ordered like the segment rules (segments) or by cluster size (clusters).
    """
    day = rfm.resolve_as_of(con, as_of)
    seg_actions = SEGMENT_ACTIONS if segment_actions is None else segment_actions
    prof_actions = PROFILE_ACTIONS if profile_actions is None else profile_actions
    phrases = DESCRIPTION_PHRASES if description_phrases is None else description_phrases
    src, stability = _group_source(con, by, day, rules, cluster_params)
    facts = con.execute(_FACTS_SQL.replace("{src}", src)).df()
    if facts.empty:
        return []
    population = int(facts["customers"].sum())
    usable = list(segments.customer_attributes(con)["column"])
    chosen = usable if attributes is None else [a for a in attributes if a in usable]

    # an invoice log keeps Country on its lines: each customer's most frequent value, unless customers has it
    on_orders = order_attributes(con, skip=store.extra_columns(con, "customers"))
    on_orders = on_orders if attributes is None else [a for a in on_orders if a in attributes]
    parts = [_attribute_counts(con, src, chosen), _order_attribute_counts(con, src, on_orders, day)]
    # the catalogue names products from their order lines when there is no products table
    from engine.recommend.data import product_catalogue

    catalogue = store.quote_ident(product_catalogue(con))
    for kind, what in (
        ("category", "p.category"),
        ("product", "coalesce(p.name, o.product_id)"),
    ):
        sql = _BOUGHT_SQL.replace("{src}", src).replace("{what}", what).replace("{catalogue}", catalogue)
        frame = con.execute(sql, {"as_of": day}).df()
        frame["kind"] = kind
        frame["column"] = kind
        frame["value"] = frame["trait"].astype(str)
        frame["is_range"] = False
        parts.append(frame)
    counts = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=["grp", "trait", "value", "group_customers", "kind", "column", "is_range"])
    )
    totals = (
        counts.groupby(["kind", "trait"], as_index=False)["group_customers"]
        .sum()
        .rename(columns={"group_customers": "population_customers"})
    )
    counts = counts.merge(totals, on=["kind", "trait"], how="left")

    cards = []
    for row in facts.itertuples():
        group = str(row.grp)
        levels = {}
        for f, col in (
            ("recency_days", "pct_recency"),
            ("frequency", "pct_frequency"),
            ("monetary", "pct_monetary"),
        ):
            value = getattr(row, col)
            if value is not None and not pd.isna(value):
                levels[f] = segments.level_of(float(value))
        note = None
        mine = counts[counts["grp"] == row.grp]
        if row.customers < min_group:
            traits = _no_traits()
            note = (
                f"Only {row.customers:,} customers: too few (under {min_group}) to claim any trait; "
                f"facts only."
            )
        elif population == row.customers:
            traits = _no_traits()
            note = "This group is every customer, so nothing can stand out against the rest."
        else:
            traits = enrichment(mine, int(row.customers), population, alpha, min_trait_customers, min_lift)
            if mine.empty:
                note = "No attributes or purchases to compare: add customer attributes or order lines with products."
            elif not traits["significant"].any():
                note = "No attribute or purchase stands out with confidence; the group differs by RFM only."
        action, detail = _action_for(group, by, levels, seg_actions, prof_actions)
        summary, standouts, description = _describe(
            int(row.customers), float(row.customer_share), levels, traits, phrases
        )
        cards.append(
            PersonaCard(
                group=group,
                by=by,
                customers=int(row.customers),
                customer_share=float(row.customer_share),
                revenue=float(row.revenue or 0.0),
                revenue_share=None if pd.isna(row.revenue_share) else float(row.revenue_share),
                median_recency_days=_num(row.median_recency_days),
                median_frequency=_num(row.median_frequency),
                median_monetary=_num(row.median_monetary),
                median_aov=_num(row.median_aov),
                levels=levels,
                traits=traits,
                description=description,
                summary=summary,
                standouts=standouts,
                action=action,
                action_detail=detail,
                evidence_note=note,
                stability=None if stability is None or not np.isfinite(stability) else float(stability),
            )
        )
    if by == "segment":
        order = {s: i for i, s in enumerate(rfm.segment_order(rules))}
        cards.sort(key=lambda c: (order.get(c.group, len(order)), c.group))
    else:
        cards.sort(key=lambda c: (-c.customers, c.group))
    for card in cards:  # rank the headline traits now, so cached cards never rank them again
        for kind in TRAIT_KINDS:
            card.top(kind)
    return cards


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def persona_table(cards: Sequence[PersonaCard], top: int = 3) -> pd.DataFrame:
    """One row per card, for side-by-side comparison and CSV export."""
    rows = []
    for c in cards:
        rows.append(
            {
                "group": c.group,
                "customers": c.customers,
                "customer_share": c.customer_share,
                "revenue": c.revenue,
                "revenue_share": c.revenue_share,
                "median_recency_days": c.median_recency_days,
                "median_frequency": c.median_frequency,
                "median_monetary": c.median_monetary,
                "median_aov": c.median_aov,
                "top_categories": "; ".join(
                    f"{t.trait} ({t.lift:.1f}x)" for t in c.top("category", top).itertuples()
                ),
                "top_products": "; ".join(
                    f"{t.trait} ({t.lift:.1f}x)" for t in c.top("product", top).itertuples()
                ),
                "distinguishing_attributes": "; ".join(
                    f"{t.trait} ({t.group_share:.0%} vs {t.overall_share:.0%})"
                    for t in c.top("attribute", top).itertuples()
                ),
                "description": c.description,
                "action": c.action,
                "action_detail": c.action_detail,
                "evidence_note": c.evidence_note or "",
                "stability": c.stability,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "MIN_GROUP",
    "MIN_TRAIT_CUSTOMERS",
    "MIN_LIFT",
    "ALPHA",
    "SEGMENT_ACTIONS",
    "PROFILE_ACTIONS",
    "DESCRIPTION_PHRASES",
    "TRAIT_COLUMNS",
    "PersonaCard",
    "Standout",
    "benjamini_hochberg",
    "headline_rank",
    "MIN_HEADLINE_SHARE",
    "enrichment",
    "persona_cards",
    "persona_table",
]

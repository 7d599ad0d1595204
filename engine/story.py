"""The story the presentation mode and the PDF report tell, as plain data, and each main chart's takeaway.

A story is five sections in the order a meeting asks: the business at a glance, who the customers are, what
to do for each, what the campaigns earned, what the tests proved. Each section holds its headline numbers
(already worded for a card), the frames its main charts draw (named by chart key; the dashboard's chart
registry turns a key and a frame into a figure), the top rows of its key tables, and one sentence per chart
that says in numbers what the chart shows. Takeaways are computed from the same frame the chart draws, so the
words and the picture cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from engine.errors import EngineError
from engine.money import currency, currency_setting, money_text, use_currency
from engine.store import Connection

# --------------------------------------------------------------------------- compact numbers


def compact_number(value: float | None, money: bool = False) -> str:
    """A number short enough for a card: 950, 9,950, 993k, 4.99M, 1.20B (``money`` adds the currency symbol).

    Below 10,000 the full number is shown (with thousands separators); above, three significant digits at
    most with k, M or B.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "n/a"
    sign = "-" if value < 0 else ""
    prefix = currency() if money else ""
    size = abs(float(value))
    if size >= 1e4:
        for limit, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B")):
            scaled = float(f"{size / limit:.3g}")  # three significant digits
            if scaled < 1000 or suffix == "B":  # 999,999 reads 1.00M, not 1000k
                digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
                return f"{sign}{prefix}{scaled:.{digits}f}{suffix}"
    return f"{sign}{prefix}{size:,.0f}" if size >= 100 or size == int(size) else f"{sign}{prefix}{size:,.2f}"


def _money(value: float) -> str:
    return compact_number(value, money=True)


def _pct(value: float, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}%"


def _month(value) -> str:
    return pd.Timestamp(value).strftime("%b %Y")


# How a table column is shown, by name: shares and rates as %, money compact, the rest as is.
PERCENT_WORDS = ("share", "rate", "roi", "lift")
MONEY_WORDS = ("revenue", "spend", "clv")
HEADERS = {
    "roas": "Return per $1",
    "roi": "ROI",
    "group": "Group",
    "action_detail": "What it means",
    "clv_per_customer": "Predicted value / customer",
    "share_at_risk": "At risk",
}


def _cell(column: str, value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    name = column.lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if any(w in name for w in PERCENT_WORDS):
            return f"{value * 100:+.0f}%" if "lift" in name or name == "roi" else f"{value * 100:.1f}%"
        if any(w in name for w in MONEY_WORDS):
            return compact_number(value, money=True)
        if name == "roas":
            return money_text(value, 2)
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def readable_header(column: str) -> str:
    """A column name as a person writes it: ``revenue_share`` -> ``Revenue share``."""
    if column == "roas":
        return f"Return per {currency()}1"
    return HEADERS.get(column, column.replace("_", " ").capitalize())


def readable_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A small table as text for a slide or a PDF: readable headers, %, compact money, long text cut."""
    out = pd.DataFrame(
        {readable_header(str(c)): [_cell(str(c), v) for v in frame[c].tolist()] for c in frame.columns}
    )
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- takeaways (one per main chart)


def revenue_trend_takeaway(frame: pd.DataFrame, grain: str = "month") -> str:
    """``period, revenue, orders[, partial]`` (``engine.revenue_over_time``) -> total and best period."""
    if frame.empty:
        return "There are no orders in these dates."
    total, orders = float(frame["revenue"].sum()), int(frame["orders"].sum())
    full = frame[~frame["partial"].astype(bool)] if "partial" in frame else frame
    best = (
        (full if not full.empty else frame)
        .sort_values(["revenue", "period"], ascending=[False, True])
        .iloc[0]
    )
    return (
        f"Net revenue was {_money(total)} from {orders:,} orders over {len(frame)} {grain}s; the best was "
        f"the {grain} of {_month(best['period'])} with {_money(best['revenue'])} ({_pct(best['revenue'] / total)} of the total)."
        if total
        else f"{orders:,} orders and no net revenue over {len(frame)} {grain}s."
    )


def new_vs_returning_takeaway(frame: pd.DataFrame) -> str:
    """``period, new_customers, returning_customers[, partial]`` -> the returning share of the last full period."""
    full = frame[~frame["partial"].astype(bool)] if "partial" in frame else frame
    if full.empty:
        full = frame
    if full.empty:
        return "No customers bought in these dates."
    last = full.sort_values("period").iloc[-1]
    buyers = int(last["new_customers"] + last["returning_customers"])
    if not buyers:
        return f"No customers bought in {_month(last['period'])}."
    returning = int(last["returning_customers"])
    return (
        f"In {_month(last['period'])}, {returning:,} of {buyers:,} buying customers "
        f"({_pct(returning / buyers)}) had bought before."
    )


def cohort_takeaway(frame: pd.DataFrame) -> str:
    """``cohort, months_since, customers, active`` -> the share of new customers who buy again a month later."""
    month_one = frame[frame["months_since"] == 1]
    customers = int(month_one["customers"].sum())
    if not customers:
        return "No cohort is a month old yet, so there is no retention to show."
    active = int(month_one["active"].sum())
    return (
        f"{_pct(active / customers)} of new customers bought again in the month after their first order "
        f"({active:,} of {customers:,}, over {len(month_one)} monthly cohorts)."
    )


def segment_share_takeaway(summary: pd.DataFrame, label: str = "segment") -> str:
    """``segment, customers, revenue[, customer_share, revenue_share]`` -> the group with the most revenue:
    its share of customers and of revenue (the shares of everyone when given, so a chosen few groups still
    read as parts of the whole)."""
    buyers = summary[summary["revenue"].fillna(0) > 0]
    if buyers.empty:
        return "No group has revenue yet."
    top = buyers.sort_values(["revenue", label], ascending=[False, True]).iloc[0]
    customer_share = (
        top["customer_share"]
        if "customer_share" in summary
        else top["customers"] / summary["customers"].sum()
    )
    revenue_share = (
        top["revenue_share"]
        if "revenue_share" in summary
        else top["revenue"] / summary["revenue"].fillna(0).sum()
    )
    return f"{top[label]} are {_pct(customer_share)} of customers and {_pct(revenue_share)} of revenue."


def persona_actions_takeaway(personas: pd.DataFrame) -> str:
    """``group, customers, revenue, action`` -> how many groups get an action and the biggest group's action."""
    acted = personas[personas["action"].notna()] if "action" in personas else personas.iloc[0:0]
    if acted.empty:
        return "No group has an action yet."
    top = acted.sort_values(["revenue", "group"], ascending=[False, True]).iloc[0]
    return (
        f"{len(acted)} groups each get one action; the group worth most, {top['group']} "
        f"({int(top['customers']):,} customers, {_money(top['revenue'])}), gets: {top['action']}."
    )


def campaign_roi_takeaway(metrics: pd.DataFrame) -> str:
    """Per-campaign ``spend, revenue, roi`` -> overall ROI of paid campaigns, the best one, and how many lost."""
    paid = metrics[pd.to_numeric(metrics["spend"], errors="coerce").fillna(0) > 0]
    if paid.empty:
        return "No campaign has spend, so there is no return to show."
    spend = float(paid["spend"].sum())
    revenue = float(pd.to_numeric(paid["revenue"], errors="coerce").fillna(0).sum())
    roi = pd.to_numeric(paid["roi"], errors="coerce")
    if roi.isna().all():
        return f"Paid campaigns spent {_money(spend)}; the file has no revenue for them, so there is no return to show."
    best = paid.loc[roi.sort_values(ascending=False, kind="mergesort").index[0]]
    losing = int((roi < 0).sum())
    return (
        f"Paid campaigns returned {_money(revenue)} on {_money(spend)} spent (ROI {(revenue - spend) / spend:+.0%}); "
        f"{best['campaign_name']} did best (ROI {float(best['roi']):+.0%}) and {losing} of {len(paid)} lost money."
    )


def campaign_cpa_takeaway(metrics: pd.DataFrame) -> str:
    """Per-campaign ``campaign_name, spend, conversions, cpa`` -> the cheapest and the dearest campaign per
    conversion, with what each spent and converted (the ranking a file without revenue can give)."""
    data = metrics.assign(cpa=pd.to_numeric(metrics["cpa"], errors="coerce"))
    data = data[data["cpa"].notna()].sort_values(["cpa", "campaign_name"], kind="mergesort")
    if data.empty:
        return "No campaign has both spend and conversions, so there is no cost per conversion to show."

    def said(row) -> str:
        return (
            f"{row['campaign_name']} at {money_text(float(row['cpa']), 2)} per conversion "
            f"({float(row['conversions']):,.0f} conversions for {_money(float(row['spend']))})"
        )

    cheap, dear = data.iloc[0], data.iloc[-1]
    if len(data) == 1:
        return f"One campaign has a cost per conversion: {said(cheap)}."
    times = float(dear["cpa"]) / float(cheap["cpa"]) if float(cheap["cpa"]) else None
    return f"Cheapest: {said(cheap)}; dearest: {said(dear)}" + (
        f", {times:.1f} times as much per conversion." if times else "."
    )


def channel_mix_takeaway(channels: pd.DataFrame) -> str:
    """Per-channel ``spend, revenue[, conversions]`` -> the channel with the most revenue: its share of revenue
    and of spend; without revenue in the file, the channel with the most conversions the same way."""
    data = channels.assign(
        spend=pd.to_numeric(channels["spend"], errors="coerce").fillna(0),
        revenue=pd.to_numeric(channels["revenue"], errors="coerce").fillna(0),
    )
    if not data.empty and channels["revenue"].isna().all() and "conversions" in channels:
        data = data.assign(conversions=pd.to_numeric(channels["conversions"], errors="coerce").fillna(0))
        if data["conversions"].sum() and len(data) == 1:
            only = data.iloc[0]
            return (
                f"One channel, {only['channel']}, holds every campaign: {only['conversions']:,.0f} conversions "
                f"for {_money(float(only['spend']))} spent."
            )
        if data["conversions"].sum():
            top = data.sort_values(["conversions", "channel"], ascending=[False, True]).iloc[0]
            spend_share = top["spend"] / data["spend"].sum() if data["spend"].sum() else 0.0
            return (
                f"{top['channel']} brought {_pct(top['conversions'] / data['conversions'].sum())} of "
                f"conversions for {_pct(spend_share)} of spend."
            )
    if data.empty or not data["revenue"].sum():
        return "No channel brought revenue in these dates."
    top = data.sort_values(["revenue", "channel"], ascending=[False, True]).iloc[0]
    spend_share = top["spend"] / data["spend"].sum() if data["spend"].sum() else 0.0
    return (
        f"{top['channel']} brought {_pct(top['revenue'] / data['revenue'].sum())} of campaign revenue "
        f"for {_pct(spend_share)} of spend."
    )


def lift_takeaway(variants: pd.DataFrame, experiment: str = "the test") -> str:
    """Per-variant ``variant, is_control, conversion_rate, rel_lift, rel_lift_ci_low/high`` -> the best
    variant's rate against control's, with its lift and interval."""
    control = variants[variants["is_control"].astype(bool)]
    others = variants[~variants["is_control"].astype(bool) & variants["rel_lift"].notna()]
    if control.empty or others.empty:
        return f"In {experiment} there is no lift to show (no control or no conversions)."
    best = others.sort_values(["rel_lift", "variant"], ascending=[False, True]).iloc[0]
    ctl = control.iloc[0]
    return (
        f"In {experiment}, {best['variant']} converted {_pct(best['conversion_rate'], 1)} against "
        f"{ctl['variant']}'s {_pct(ctl['conversion_rate'], 1)}: a lift of {best['rel_lift']:+.0%} "
        f"(likely between {best['rel_lift_ci_low']:+.0%} and {best['rel_lift_ci_high']:+.0%})."
    )


TAKEAWAYS: dict[str, Callable[[pd.DataFrame], str]] = {
    "overview.revenue_trend": revenue_trend_takeaway,
    "overview.new_vs_returning": new_vs_returning_takeaway,
    "overview.cohorts": cohort_takeaway,
    "segments.share_bars": segment_share_takeaway,
    "segments.treemap": segment_share_takeaway,
    "campaigns.roi": campaign_roi_takeaway,
    "campaigns.channel_mix": channel_mix_takeaway,
    "experiments.lift": lift_takeaway,
    "experiments.variant_rates": lift_takeaway,
}


# --------------------------------------------------------------------------- the story


@dataclass(frozen=True)
class Headline:
    """One KPI card: a short label, its value worded to fit, and what it means."""

    label: str
    value: str
    help: str = ""


@dataclass(frozen=True)
class StoryChart:
    """A chart of the story: the registry key that draws it, the frame it draws, its takeaway, and a title
    replacing the chart's own where several charts of one kind share a page (empty: the chart's own)."""

    key: str
    data: pd.DataFrame
    takeaway: str
    title: str = ""


@dataclass(frozen=True)
class Section:
    """One slide / one PDF page."""

    slug: str
    title: str
    question: str
    headlines: list[Headline] = field(default_factory=list)
    charts: list[StoryChart] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Story:
    """The whole story: its dates, the store's load history and the sections in order."""

    start: dt.date | None
    end: dt.date | None
    loads: pd.DataFrame
    sections: list[Section]


SECTION_TITLES: dict[str, tuple[str, str]] = {
    "overview": ("The business at a glance", "How much did we sell, and to how many customers?"),
    "customers": ("Who the customers are", "Which groups bring the revenue?"),
    "actions": ("What to do for each", "Which action does each group get?"),
    "campaigns": ("What the campaigns earned", "Which campaigns paid back their spend?"),
    "experiments": ("What the tests proved", "Which changes really won?"),
}
TABLE_ROWS = 8


def _chart(key: str, data: pd.DataFrame, **kwargs) -> StoryChart:
    return StoryChart(key, data, TAKEAWAYS[key](data, **kwargs))


def _section(slug: str, **parts) -> Section:
    title, question = SECTION_TITLES[slug]
    return Section(slug, title, question, **parts)


def _overview(con: Connection, start, end) -> Section:
    from engine.overview import KPI_DEFINITIONS, cohort_retention, kpis, new_vs_returning, revenue_over_time

    k = kpis(con, start, end)
    if k is None:
        return _section("overview", note="There are no orders yet.")
    headlines = [
        Headline("Customers", compact_number(k.customers), KPI_DEFINITIONS["customers"]),
        Headline("Orders", compact_number(k.orders), KPI_DEFINITIONS["orders"]),
        Headline("Revenue", _money(k.revenue), KPI_DEFINITIONS["revenue"]),
        Headline("Avg order", money_text(k.average_order_value, 2) if k.average_order_value else "n/a"),
        Headline("Repeat rate", _pct(k.repeat_rate or 0, 1), KPI_DEFINITIONS["repeat_rate"]),
    ]
    return _section(
        "overview",
        headlines=headlines,
        charts=[
            _chart("overview.revenue_trend", revenue_over_time(con, "month", start, end)),
            _chart("overview.new_vs_returning", new_vs_returning(con, "month", start, end)),
            _chart("overview.cohorts", cohort_retention(con)),
        ],
    )


def _as_of(con: Connection, end: dt.date | None) -> dt.date | None:
    from engine.rfm import default_as_of

    last = default_as_of(con)
    return min(end, last) if end and last else end or last


def _customers(con: Connection, as_of) -> Section:
    from engine.rfm import segment_summary

    summary = segment_summary(con, as_of)
    buyers = summary[summary["revenue"].fillna(0) > 0]
    if summary.empty or buyers.empty:
        return _section("customers", note="No customer has bought yet, so there are no segments to show.")
    table = summary[["segment", "customers", "customer_share", "revenue", "revenue_share"]]
    top = buyers.sort_values("revenue", ascending=False).iloc[0] if not buyers.empty else None
    headlines = [
        Headline("Segments", str(len(buyers)), "RFM segments with at least one buying customer."),
        Headline("Customers", compact_number(summary["customers"].sum())),
    ]
    if top is not None:
        headlines.append(Headline(f"{top['segment']} revenue", _pct(top["revenue_share"])))
    return _section(
        "customers",
        headlines=headlines,
        charts=[_chart("segments.share_bars", summary)],
        tables=[("Segments", table.head(TABLE_ROWS))],
        note=f"Segments measured at {as_of:%b %d, %Y}." if as_of else "",
    )


def _segment_value(con: Connection, as_of) -> pd.DataFrame | None:
    """Predicted value and churn risk per segment (the Predict page's model, stored per data version), or
    None where the data does not suit the model."""
    from engine.predict import predict_customers, segment_value

    try:
        prediction = predict_customers(con, as_of)
        return segment_value(con, prediction) if prediction.checks.passed else None
    except EngineError:
        return None


def _actions(con: Connection, as_of) -> Section:
    from engine.personas import persona_cards, persona_table

    table = persona_table(persona_cards(con, by="segment", as_of=as_of))
    if table.empty:
        return _section("actions", note="There are no customers yet, so no group has an action.")
    acted = table[table["action"].notna()]
    headlines = [
        Headline("Groups with an action", str(len(acted))),
        Headline("Customers covered", compact_number(acted["customers"].sum())),
    ]
    shown = table[["group", "customers", "revenue"]]
    value = _segment_value(con, as_of)
    if value is not None:
        at_risk = float((value["customers"] * value["share_at_risk"]).sum())
        headlines += [
            Headline(
                "Predicted value, next year",
                _money(value["clv"].sum()),
                "Expected revenue from today's buying customers over the next 365 days (the Predict page's "
                "model: BG/NBD purchases x Gamma-Gamma order value, discounted 1% a month).",
            ),
            Headline("Customers at risk", compact_number(round(at_risk)), "Churn risk of 50% or more."),
        ]
        per_group = value[["segment", "clv_per_customer", "share_at_risk"]].rename(
            columns={"segment": "group"}
        )
        shown = shown.merge(per_group, on="group", how="left")
    shown = shown.join(table[["action", "action_detail"]])
    return _section(
        "actions",
        headlines=headlines,
        tables=[("Recommended action per group", shown.head(TABLE_ROWS))],
        note=persona_actions_takeaway(table),
    )


def _campaigns(con: Connection, start, end) -> Section:
    from engine.campaigns import CampaignFilter, campaign_metrics, campaign_totals

    filters = CampaignFilter(start, end)
    totals = campaign_totals(con, filters)
    if not totals.campaigns:
        return _section("campaigns", note="There are no campaign rows in these dates.")
    metrics = campaign_metrics(con, "campaign", filters)
    channels = campaign_metrics(con, "channel", filters)
    table = metrics[["campaign_name", "channel", "spend", "revenue", "roas", "roi"]]
    table = table.sort_values("roi", ascending=False, na_position="last", kind="mergesort")
    return _section(
        "campaigns",
        headlines=[
            Headline("Campaigns", str(totals.campaigns)),
            Headline("Spend", _money(totals.spend)),
            Headline("Revenue", _money(totals.revenue)),
            Headline(
                f"Return per {currency()}1",
                money_text(totals.roas, 2) if totals.roas is not None else "n/a",
                "ROAS: revenue divided by spend, over campaigns with spend.",
            ),
        ],
        charts=[_chart("campaigns.roi", metrics), _chart("campaigns.channel_mix", channels)],
        tables=[("Campaigns by return", table.head(TABLE_ROWS))],
    )


# The experiments page charts this many tests at most (the table lists them all).
MAX_EXPERIMENT_CHARTS = 4


def _in_dates(listing: pd.DataFrame, start: dt.date | None, end: dt.date | None) -> pd.Series:
    """Per experiment of ``experiment_list``: exposed at some point between ``start`` and ``end`` (a test
    without exposure dates is kept: nothing says it ran elsewhere)."""
    first = pd.to_datetime(listing["first_exposure"]).dt.date
    last = pd.to_datetime(listing["last_exposure"]).dt.date
    keep = pd.Series(True, index=listing.index)
    if end is not None:
        keep &= first.isna() | (first <= end)
    if start is not None:
        keep &= last.isna() | (last >= start)
    return keep


def _experiments(con: Connection, start: dt.date | None = None, end: dt.date | None = None) -> Section:
    from engine.experiments import analyse_experiment, experiment_summary
    from engine.experiments.data import experiment_list

    summary = experiment_summary(con)
    if summary.empty:
        return _section("experiments", note="There are no experiments yet.")
    listing = experiment_list(con)
    running = set(listing.loc[_in_dates(listing, start, end), "experiment_id"].astype(str))
    left_out = len(summary) - len(running)
    summary = summary[summary["experiment_id"].astype(str).isin(running)]
    if summary.empty:
        return _section(
            "experiments",
            note=f"None of the {left_out} tests in the store exposed customers between these dates.",
        )
    winners = int((summary["verdict_level"] == "winner").sum())
    table = summary[["experiment_id", "customers", "control_rate", "best_variant", "best_rate", "rel_lift"]]
    analysed = [str(e) for e in summary.loc[summary["best_variant"].notna(), "experiment_id"]]
    charts = []
    for experiment in analysed[:MAX_EXPERIMENT_CHARTS]:
        variants = analyse_experiment(con, experiment).variants
        takeaway = lift_takeaway(variants, experiment)
        charts.append(StoryChart("experiments.lift", variants, takeaway, f"Lift over control: {experiment}"))
    # one test: its verdict in full; several: each chart's takeaway names its test
    notes = [str(summary["verdict"].iloc[0])] if len(summary) == 1 else []
    if len(analysed) > MAX_EXPERIMENT_CHARTS:
        more = len(analysed) - MAX_EXPERIMENT_CHARTS
        where = "in the table" if len(summary) <= TABLE_ROWS else "on the Experiments page"
        notes.append(
            f"Charts show the first {MAX_EXPERIMENT_CHARTS} of {len(analysed)} tests; "
            f"{more} more {'is' if more == 1 else 'are'} {where}."
        )
    if left_out:
        notes.append(
            f"Left out: {left_out} {'test' if left_out == 1 else 'tests'} with no customer exposed between "
            "these dates."
        )
    return _section(
        "experiments",
        headlines=[
            Headline("Tests", str(len(summary))),
            Headline("Clear winners", str(winners), "Tests whose best variant beat control beyond chance."),
        ],
        charts=charts,
        tables=[("Tests", table.head(TABLE_ROWS))],
        note=" ".join(notes),
    )


def build_story(
    con: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Story:
    """The five-section story over ``start``..``end`` (default: all dates).

    Sections without data say so in their ``note`` instead of failing, so the story of a store with orders
    only still has five pages. ``progress(fraction, message)`` is called before each section. The tests
    page charts up to ``MAX_EXPERIMENT_CHARTS`` tests; a range narrower than the order dates keeps the tests
    that exposed customers within it (tests without exposure dates always stay).
    """
    from engine.ingest import load_history
    from engine.overview import data_bounds

    use_currency(currency_setting(con))  # the PDF and its charts write money in the store's currency
    as_of = _as_of(con, end)
    bounds = data_bounds(con)
    # tests are kept when exposed within the dates; a range covering every order date means all of them
    whole = bounds is None or ((start or bounds[0]) <= bounds[0] and (end or bounds[1]) >= bounds[1])
    tests_dates = (None, None) if whole else (start, end)
    steps: list[tuple[str, Callable[[], Section]]] = [
        ("overview", lambda: _overview(con, start, end)),
        ("customers", lambda: _customers(con, as_of)),
        ("actions", lambda: _actions(con, as_of)),
        ("campaigns", lambda: _campaigns(con, start, end)),
        ("experiments", lambda: _experiments(con, *tests_dates)),
    ]
    sections = []
    for i, (slug, build) in enumerate(steps):
        if progress:
            progress(i / len(steps), f"Gathering {SECTION_TITLES[slug][0].lower()}")
        try:
            sections.append(build())
        except EngineError as error:  # too little data for this part: the page says so, the rest goes on
            sections.append(_section(slug, note=str(error)))
    if bounds is not None:
        start = max(start, bounds[0]) if start else bounds[0]
        end = min(end, bounds[1]) if end else bounds[1]
    return Story(start, end, load_history(con), sections)


__all__ = [
    "compact_number",
    "readable_header",
    "readable_table",
    "TAKEAWAYS",
    "revenue_trend_takeaway",
    "new_vs_returning_takeaway",
    "cohort_takeaway",
    "segment_share_takeaway",
    "persona_actions_takeaway",
    "campaign_roi_takeaway",
    "campaign_cpa_takeaway",
    "channel_mix_takeaway",
    "lift_takeaway",
    "Headline",
    "StoryChart",
    "Section",
    "Story",
    "SECTION_TITLES",
    "build_story",
]

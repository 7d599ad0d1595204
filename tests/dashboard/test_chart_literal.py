"""Names from uploaded files reach charts as text, never as plotly markup: every registered chart built from a
store whose campaign, channel, variant and experiment names are HTML carries no tag from the data, and the
escaped name (which plotly.js decodes back to the characters) is there to read."""

from __future__ import annotations

import html
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import engine
from dashboard import segment_builder
from dashboard.charts import campaigns as cc
from dashboard.charts import literal, registry
from dashboard.charts import segments as cs
from tests.support.server import CHROMIUM

LINK = '<a href="https://evil.example">click</a>'
BOLD = "<b>loud</b> & co"
STYLED = '<span style="color:red">red</span>'
ITALIC = "<i>K1</i>"
HOSTILE = [LINK, BOLD, STYLED, ITALIC]
# the names each chart shows (campaign name and id; channels; variants)
SHOWS = {
    "campaigns.roi": [LINK, ITALIC],
    "campaigns.channel_mix": [BOLD, STYLED],
    "experiments.lift": [STYLED],
    "experiments.variant_rates": [STYLED],
}
# the formatting our own templates and annotations use
OURS = re.compile(r"</?(?:br|b|i|extra)\s*/?>", re.IGNORECASE)


def strings(node, path: str = ""):
    """(path, string) for every string in a figure's dict, the template left out."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "template":
                yield from strings(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple, np.ndarray)):
        for n, value in enumerate(node.tolist() if isinstance(node, np.ndarray) else node):
            yield from strings(value, f"{path}[{n}]")


def assert_no_markup_from_data(fig: go.Figure) -> str:
    """No tag but our own formatting anywhere in ``fig``; returns every text joined, for further checks."""
    found = list(strings(fig.to_dict()))
    for path, text in found:
        leftover = OURS.sub("", text)
        assert "<" not in leftover, f"markup reaches plotly at {path}: {text!r}"
    return "\n".join(t for _, t in found)


@pytest.fixture(scope="module")
def hostile_frames(tmp_path_factory):
    """A small store whose campaign, channel, experiment and variant names are HTML."""
    con = engine.connect(tmp_path_factory.mktemp("hostile") / "hostile.duckdb", shared=False)
    orders = [
        f"('O{n}', 'C{n % 5}', DATE '2025-0{1 + n % 6}-1{n % 9}', 'P{n % 3}', 1, {10 + n}, false)"
        for n in range(30)
    ]
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return) "
        "VALUES " + ", ".join(orders)
    )
    con.execute(
        "INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, "
        "conversions, revenue) VALUES (?, ?, ?, '2025-03-01', 100, 1000, 50, 5, 300), "
        "('K2', 'Plain', ?, '2025-03-02', 100, 900, 40, 3, 50)",
        [ITALIC, LINK, BOLD, STYLED],
    )
    rows = [(LINK, "control" if n % 2 else STYLED, f"C{n}", n % 3 == 0) for n in range(40)]
    con.executemany(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted) VALUES (?, ?, ?, ?)", rows
    )
    engine.bump_data_version(con)
    story = engine.build_story(con)
    con.close()
    found = {c.key: c.data for s in story.sections for c in s.charts}
    if "segments.share_bars" in found:
        found["segments.treemap"] = found["segments.share_bars"]
    if "experiments.lift" in found:
        found["experiments.variant_rates"] = found["experiments.lift"]
    return found


def test_the_hostile_store_draws_every_chart_that_shows_names(hostile_frames):
    assert {"campaigns.roi", "campaigns.channel_mix", "experiments.lift"} <= set(hostile_frames)


@pytest.mark.parametrize("key", sorted(registry.CHARTS))
def test_every_registered_chart_shows_names_as_text(hostile_frames, key):
    if key not in hostile_frames:
        pytest.skip(f"the hostile store's story has no {key} chart")
    text = assert_no_markup_from_data(registry.figure(key, hostile_frames[key]))
    for name in SHOWS.get(key, []):  # the name itself is there, escaped: plotly.js shows the characters
        assert html.escape(name, quote=False) in text, f"{key} lost {name!r}"


def test_page_charts_with_names_in_their_own_templates_and_annotations():
    """Charts that write a name into a hover template or an annotation escape it themselves."""
    trend = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-02-01"]), "spend": [1.0, 2.0]})
    trend["channel"] = [LINK, BOLD]
    funnel = pd.DataFrame(
        {"group": [LINK, LINK], "step": ["Impressions", "Clicks"], "value": [100, 10]}
        | {"step_conversion": [None, 0.1], "from_first": [1.0, 0.1]}
    )
    points = pd.DataFrame(
        {"x": [0.1, 0.2], "y": [0.3, 0.4], "cluster_name": [LINK, STYLED], "customer_id": [ITALIC, "C2"]}
        | {"recency_days": [1, 2], "frequency": [1, 2], "monetary": [5.0, 6.0]}
    )
    flows = pd.DataFrame({"from_segment": [LINK], "to_segment": [BOLD], "customers": [3]})
    figures = [
        cc.trend_chart(trend, "spend", by="channel"),
        cc.funnel_chart(funnel),
        cc.breakdown_bar(trend.assign(roas=[1.0, 2.0]), "channel", "roas"),
        cs.cluster_scatter(points),
        cs.migration_sankey(flows, [], LINK, "Mar 01, 2025"),
    ]
    for fig in figures:
        text = assert_no_markup_from_data(literal.literal_figure(fig))
        assert html.escape(LINK, quote=False) in text


def test_escaping_happens_once_and_keeps_our_formatting():
    fig = go.Figure(go.Bar(x=[BOLD], y=[1], name=BOLD, hovertemplate="%{x}<br><b>%{y}</b><extra></extra>"))
    fig.update_layout(title="<b>Ours</b>", annotations=[dict(text=f"note {LINK}<br>more")])
    literal.literal_figure(fig)
    literal.literal_figure(fig)  # a second pass (page, then picture) changes nothing
    assert fig.data[0].x == ("&lt;b&gt;loud&lt;/b&gt; &amp; co",)
    assert fig.data[0].name == "&lt;b&gt;loud&lt;/b&gt; &amp; co"
    assert fig.data[0].hovertemplate == "%{x}<br><b>%{y}</b><extra></extra>"
    assert fig.layout.title.text == "<b>Ours</b>"
    # a tag that is not ours in a text we wrote is made harmless, our <br> kept
    assert fig.layout.annotations[0].text == 'note &lt;a href="https://evil.example">click&lt;/a><br>more'


def test_a_click_on_an_escaped_bar_finds_the_segment():
    event = {"selection": {"points": [{"y": html.escape(BOLD, quote=False), "x": 0.2}]}}
    assert segment_builder.clicked_segment(event, ["Champions", BOLD]) == BOLD


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="kaleido draws pictures with Chromium, not installed")
def test_a_picture_shows_the_name_and_no_link(hostile_frames):
    svg = registry.picture(registry.figure("campaigns.roi", hostile_frames["campaigns.roi"]), "svg").decode()
    assert not re.search(r"<a\b[^>]*evil\.example", svg)  # no link ...
    drawn = "".join(ElementTree.fromstring(svg).itertext())
    assert f"{LINK} ({ITALIC})" in drawn  # ... but the name and id in plain characters


def test_every_chart_reaches_the_page_through_the_share_layer():
    """Only dashboard/share.py calls st.plotly_chart, so every chart a page shows passes the escaping walk."""
    root = Path(__file__).resolve().parents[2] / "dashboard"
    callers = [p.relative_to(root).as_posix() for p in root.rglob("*.py") if "plotly_chart(" in p.read_text()]
    assert callers == ["share.py"]


def test_a_plotly_express_chart_is_covered_without_help():
    """A chart nobody taught to escape (plotly express writes group names into its hover template)."""
    import plotly.express as px

    frame = pd.DataFrame({"column": [LINK, STYLED], "share": [0.1, 0.2], "group": [LINK, BOLD]})
    fig = literal.literal_figure(px.bar(frame, x="column", y="share", color="group"))
    text = assert_no_markup_from_data(fig)
    assert html.escape(LINK, quote=False) in text and html.escape(STYLED, quote=False) in text

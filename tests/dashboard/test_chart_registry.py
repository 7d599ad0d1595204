"""Every registered chart, built from the story's own frames on the sample store and on a tiny edge-case store:
a title, traces (or a message saying why there are none), the axis formats a reader relies on, the house
template, and one colour per segment name whatever the order of the rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.io as pio
import pytest

import engine
from dashboard.charts import registry, theme
from tests.support.server import CHROMIUM

# What each chart must show: its title starts with this, and these axes carry these tick formats.
EXPECTED = {
    "overview.revenue_trend": (
        "Revenue and orders per month",
        {"yaxis.tickprefix": "$", "yaxis2.tickformat": ",d"},
    ),
    "overview.new_vs_returning": ("New vs returning customers", {}),
    "overview.cohorts": ("Monthly cohort retention", {"coloraxis.colorbar.tickformat": ".0%"}),
    "segments.share_bars": ("Share of customers vs share of revenue", {}),
    "segments.treemap": ("Segments by customers", {}),
    "campaigns.roi": ("ROI by campaign", {"xaxis.tickformat": ".0%"}),
    "campaigns.channel_mix": ("Channel mix", {"xaxis.tickformat": ".0%"}),
    "experiments.lift": ("Lift over control", {"xaxis.tickformat": "+.0%"}),
    "experiments.variant_rates": ("Conversion rate with", {"yaxis.tickformat": ".1%"}),
}


def _frames(story: engine.Story) -> dict[str, pd.DataFrame]:
    found = {c.key: c.data for s in story.sections for c in s.charts}
    if "segments.share_bars" in found:
        found["segments.treemap"] = found["segments.share_bars"]
    if "experiments.lift" in found:
        found["experiments.variant_rates"] = found["experiments.lift"]
    return found


@pytest.fixture(scope="module")
def sample_frames(sample_con):
    return _frames(engine.build_story(sample_con))


@pytest.fixture(scope="module")
def edge_frames(tmp_path_factory):
    """One customer, one order, one campaign with no spend, an experiment with no conversions."""
    con = engine.connect(tmp_path_factory.mktemp("edge") / "edge.duckdb", shared=False)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return) "
        "VALUES ('A', 'C1', '2025-03-05', 'P1', 1, 10, false)"
    )
    con.execute(
        "INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, "
        "conversions, revenue) VALUES ('K1', 'Newsletter', 'email', '2025-03-01', 0, 100, 5, 1, 10)"
    )
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted) VALUES "
        "('t', 'control', 'C1', false), ('t', 'b', 'C2', false), ('t', 'control', 'C3', false), "
        "('t', 'b', 'C4', false)"
    )
    engine.bump_data_version(con)
    frames = _frames(engine.build_story(con))
    con.close()
    return frames


def test_every_registered_chart_is_checked():
    assert set(EXPECTED) == set(registry.CHARTS)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_chart_on_the_sample(sample_frames, key):
    frame = sample_frames[key]
    fig = registry.figure(key, frame)
    title, formats = EXPECTED[key]
    assert fig.layout.title.text.startswith(title)
    assert len(fig.data) >= 1 and all(len(t.to_plotly_json()) > 1 for t in fig.data)
    layout = fig.layout.to_plotly_json()
    for path, value in formats.items():
        node = layout
        for part in path.split("."):
            node = node[part]
        assert node == value, f"{key}: {path} is {node!r}, not {value!r}"
    assert pio.templates.default == theme.TEMPLATE_NAME
    assert registry.takeaway(key, frame)  # every chart has its sentence


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_chart_on_an_edge_case_store(edge_frames, key):
    if key not in edge_frames:
        pytest.skip(f"the one-order store's story has no {key} chart (its section says why)")
    fig = registry.figure(key, edge_frames[key])
    assert fig.layout.title.text
    words = " ".join(a.text for a in fig.layout.annotations or [])
    assert fig.data or words, "an empty chart must say why it is empty"
    assert registry.takeaway(key, edge_frames[key])


def test_segment_colours_are_fixed_by_name_not_by_row_order(sample_frames):
    summary = sample_frames["segments.treemap"]
    for frame in (summary, summary.iloc[::-1]):
        fig = registry.figure("segments.treemap", frame)
        colours = dict(zip(fig.data[0].labels, fig.data[0].marker.colors, strict=True))
        for name, colour in colours.items():
            if name in theme.SEGMENT_COLORS:
                assert colour == theme.SEGMENT_COLORS[name]
    assert theme.color_map(["Lost", "Zeta", "Alpha"]) == theme.color_map(["Alpha", "Zeta", "Lost"])


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="kaleido draws pictures with Chromium, not installed")
def test_a_picture_carries_the_title_and_the_dates(sample_frames):
    svg = registry.picture(
        registry.figure("segments.share_bars", sample_frames["segments.share_bars"]),
        "svg",
        "Data from Jan 01, 2024 to Dec 31, 2025",
    ).decode()
    assert "Share of customers vs share of revenue" in svg and "Data from Jan 01, 2024 to Dec 31, 2025" in svg


def test_old_chart_module_names_still_import_the_same_modules():
    import importlib

    import dashboard

    for old, new in dashboard.MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
    from dashboard.charts_campaigns import styled_table  # the dotted form too

    assert styled_table.__module__ == "dashboard.charts.campaigns"

"""Segments page on the sample data: KPIs and tables match the engine, clusters follow the k choice,
migration sentences, and every table a marketer acts on has a CSV download."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP

TABS = {
    "rfm": ":material/grid_view: RFM segments",
    "clusters": ":material/scatter_plot: Clusters",
    "migration": ":material/swap_horiz: Migration",
    "export": ":material/download: Export members",
}


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Tabs run only when open (the page does not compute clusters nobody looks at)."""
    at.session_state["seg_tab"] = TABS[tab]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_segments() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/segments.py")
    at.run()
    return at


def test_segments_page_matches_the_engine(app_db):
    at = open_segments()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Segments"
    con = engine.connect(app_db)
    summary = engine.segment_summary(con)
    buyers = int(summary.loc[summary["segment"] != engine.NO_PURCHASES, "customers"].sum())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Buyers"] == f"{buyers:,}"
    best = summary[summary["segment"].isin(["Champions", "Loyal"])]["customers"].sum()
    assert metrics["Best customers"] == f"{best:,}"
    table = at.dataframe[0].value
    assert table["segment"].tolist() == summary["segment"].tolist()
    assert table["customers"].tolist() == summary["customers"].tolist()
    # the first tab alone ran: no clustering for a visit that does not look at clusters
    assert "Clusters (automatic)" not in metrics
    keys = {d.key for d in at.download_button}
    charts = len(at.get("plotly_chart"))
    assert {"dl_segment_table", "dl_grid", "dl_rules"} <= keys
    # clusters were fitted automatically and reported with their quality
    metrics = {m.label: m.value for m in open_tab(at, "clusters").metric}
    assert metrics["Clusters (automatic)"] in {str(k) for k in range(2, 11)}
    assert metrics["Repeatability"].split()[0] in {"High", "Medium", "Low"}
    assert {"dl_clusters", "dl_cluster_members"} <= {d.key for d in at.download_button}
    charts += len(at.get("plotly_chart"))
    # migration sentences in plain words
    moves = " ".join(m.value for m in open_tab(at, "migration").markdown)
    assert "Biggest moves" in moves and " became " in moves
    assert "dl_migration" in {d.key for d in at.download_button}
    charts += len(at.get("plotly_chart"))
    assert "dl_segment_members" in {d.key for d in open_tab(at, "export").download_button}
    assert charts >= 6


def test_user_chosen_k_and_export_filter(app_db):
    at = open_tab(open_segments(), "clusters")
    at.radio(key="segments_k_mode").set_value("Choose").run()
    at.slider(key="segments_k").set_value(6).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clusters (your choice)"] == "6"
    open_tab(at, "export")
    at.multiselect(key="segments_export_choice").set_value(["At Risk", "Cannot Lose Them"]).run()
    assert not at.exception
    con = engine.connect(app_db)
    expected = engine.segment_members(con, ["At Risk", "Cannot Lose Them"])
    captions = " ".join(c.value for c in at.caption)
    assert f"{len(expected):,} customers, with their RFM values" in captions
    # the Personas page picks up the k chosen here
    at.switch_page("app_pages/personas.py")
    at.run()
    at.segmented_control(key="personas_by").set_value("cluster").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "k = 6" in " ".join(c.value for c in at.caption)
    assert len(at.multiselect(key="personas_chosen_cluster").value) == 6


def test_customers_without_orders_get_a_helpful_page(tmp_path, monkeypatch):
    path = tmp_path / "customers_only.duckdb"
    con = engine.connect(path, shared=False)
    con.execute("INSERT INTO customers (customer_id) VALUES ('a'), ('b'), ('c')")
    engine.bump_data_version(con)
    con.close()
    monkeypatch.setenv("SEGMINT_DB", str(path))
    try:
        at = open_segments()
        assert not at.exception, [e.value for e in at.exception]
        messages = " ".join(m.value for m in at.info)
        assert "No purchases" in messages  # everyone is in No purchases, and the page says why
        assert at.dataframe[0].value["segment"].tolist() == [engine.NO_PURCHASES]
        messages = " ".join(m.value for m in open_tab(at, "clusters").info)
        assert "at least 2 customers with a purchase" in messages  # clusters explain what they need
        at.switch_page("app_pages/personas.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "First purchase" in " ".join(s.value for s in at.success)
    finally:
        engine.close_all()


def test_controls_in_a_closed_tab_keep_their_values(app_db, caplog):
    at = open_segments()
    at.segmented_control(key="segments_treemap_size").set_value("revenue").run()
    open_tab(at, "clusters")
    at.segmented_control(key="segments_scatter_colour").set_value("segment").run()
    open_tab(at, "export")
    assert open_tab(at, "rfm").segmented_control(key="segments_treemap_size").value == "revenue"
    assert open_tab(at, "clusters").segmented_control(key="segments_scatter_colour").value == "segment"
    assert "Session State API" not in caplog.text

"""Segments page on the sample data: KPIs and tables match the engine, clusters follow the k choice,
migration sentences, and every table a marketer acts on has a CSV download."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP


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
    # clusters were fitted automatically and reported with their quality
    assert metrics["Clusters (automatic)"] in {str(k) for k in range(2, 11)}
    assert metrics["Stability"].split()[0] in {"High", "Medium", "Low"}
    # migration sentences in plain words
    moves = " ".join(m.value for m in at.markdown)
    assert "Biggest moves" in moves and " became " in moves
    # downloads: segment table, heatmap cells, rules, clusters, cluster members, migration, members
    keys = {d.key for d in at.download_button}
    assert {
        "dl_segment_table",
        "dl_grid",
        "dl_rules",
        "dl_clusters",
        "dl_cluster_members",
        "dl_migration",
        "dl_segment_members",
    } <= keys
    assert len(at.get("plotly_chart")) >= 6


def test_user_chosen_k_and_export_filter(app_db):
    at = open_segments()
    at.radio(key="segments_k_mode").set_value("Choose").run()
    at.slider(key="segments_k").set_value(6).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clusters (your choice)"] == "6"
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
        assert "at least 2 customers with a purchase" in messages  # clusters explain what they need
        assert at.dataframe[0].value["segment"].tolist() == [engine.NO_PURCHASES]
        at.switch_page("app_pages/personas.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "First purchase" in " ".join(s.value for s in at.success)
    finally:
        engine.close_all()

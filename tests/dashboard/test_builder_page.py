"""Segment builder page on the sample data: the live count follows the conditions, members and audience
files download, and a segment saved here is stored with who saved it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP

TABS = {
    "members": ":material/table: Members",
    "files": ":material/ios_share: Audience files",
    "saved": ":material/bookmark: Saved segments",
}


def open_builder() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/builder.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_builder_counts_what_the_conditions_say(app_db):
    at = open_builder()
    assert at.title[0].value == "Segment builder"
    con = engine.connect(app_db)
    segments = engine.customer_segments(con)
    assert metrics(at)["Customers"] == f"{len(segments):,}"  # no condition: everyone

    at.selectbox(key="builder_start").set_value("Champions").run()
    champions = segments[segments["segment"] == "Champions"]
    assert metrics(at)["Customers"] == f"{len(champions):,}"

    at.button(key="builder_add").click().run()
    row = [s.key for s in at.selectbox if s.key.startswith("bc_field_")][-1].removeprefix("bc_field_")
    at.selectbox(key=f"bc_field_{row}").set_value("region").run()
    at.multiselect(key=f"bc_value_{row}_region_list").set_value(["South"]).run()
    assert not at.exception, [e.value for e in at.exception]
    customers = con.execute("SELECT customer_id, region FROM customers").df()
    south = champions.merge(customers, on="customer_id")
    south = south[south["region"] == "South"]
    assert metrics(at)["Customers"] == f"{len(south):,}"
    share = south["monetary"].sum() / segments["monetary"].sum()
    assert metrics(at)["Share of customer revenue"] == f"{share:.1%}"
    assert "RFM segment is any of Champions and Region is any of South" in " ".join(
        m.value for m in at.markdown
    )

    at.session_state["builder_tab"] = TABS["members"]
    at.run()
    assert list(at.dataframe[0].value["customer_id"]) == sorted(south["customer_id"])[:200]  # a preview
    assert "dl_builder_members" in {d.key for d in at.download_button}

    at.session_state["builder_tab"] = TABS["files"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = {d.key: d for d in at.download_button}
    assert {"dl_audience_meta", "dl_audience_google", "dl_audience_crm"} <= set(buttons)
    # the sample's customers have a (made-up) e-mail: every file can be downloaded
    assert not any(
        buttons[k].proto.disabled for k in ("dl_audience_meta", "dl_audience_google", "dl_audience_crm")
    )

    at.session_state["builder_tab"] = TABS["saved"]
    at.run()
    at.text_input(key="builder_save_name").input("South champions")
    at.button(key="FormSubmitter:builder_save_form-Save segment").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved **South champions**" in s.value for s in at.success)
    engine.close_all()
    con = engine.connect(app_db, shared=False)
    item = engine.get_saved(con, "segment", "South champions")
    con.close()
    assert item is not None and item.saved_by == "Local user"  # no sign-in configured
    assert item.definition["conditions"][1] == {"field": "region", "op": "in", "value": ["South"]}


def test_a_click_on_the_segment_bars_opens_the_customers_behind_it(app_db):
    from tests.dashboard.test_segments_page import open_segments

    at = open_segments()
    assert any("Click a bar" in c.value for c in at.caption)
    # what a click on the "Loyal" bar leaves in the page's state (the browser test clicks for real)
    at.session_state["segments_drill"] = {
        "title": "Loyal",
        "definition": engine.segment_definition(["Loyal"]),
    }
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    con = engine.connect(app_db)
    loyal = engine.segment_members(con, ["Loyal"])
    assert any(
        f"Customers behind your click: Loyal** · {len(loyal):,} customers" in m.value for m in at.markdown
    )
    table = next(d.value for d in at.dataframe if "customer_id" in d.value.columns and len(d.value) <= 200)
    assert list(table["customer_id"]) == sorted(loyal["customer_id"])[: len(table)]
    assert "dl_drill" in {d.key for d in at.download_button}
    at.text_input(key="drill_save_name").input("Loyal from the chart")
    at.button(key="drill_save").click().run()
    assert any("Saved **Loyal from the chart**" in s.value for s in at.success)
    at.button(key="drill_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Segment builder"
    assert metrics(at)["Customers"] == f"{len(loyal):,}"


def test_pages_say_when_orders_and_customers_share_no_ids(empty_app_db):
    con = engine.connect(empty_app_db, shared=False)
    con.execute("INSERT INTO customers (customer_id) VALUES ('C0001'), ('C0002')")
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount) VALUES "
        "('1', '12346', TIMESTAMP '2025-01-01', 10), ('2', '12347', TIMESTAMP '2025-01-02', 5)"
    )
    engine.bump_data_version(con)
    con.close()
    expected = "Orders and customers share 0 ids: check the customer id column"
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(w.value.startswith(expected) for w in at.warning)  # Overview
    for page in ("segments", "builder"):
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(w.value.startswith(expected) for w in at.warning), page


def test_a_viewer_sees_saved_segments_but_cannot_change_them(app_db, tmp_path, monkeypatch):
    from engine import auth
    from tests.dashboard.test_auth_pages import sign_in

    con = engine.connect(app_db, shared=False)
    engine.save_named(
        con,
        "segment",
        "Big spenders",
        {"conditions": [{"field": "monetary", "op": ">", "value": 900}]},
        "ana@example.com",
    )
    con.close()
    path = tmp_path / "users.toml"
    auth.add_user(path, "vera@example.com", "viewer", "viewer-pass-1", name="Vera")
    monkeypatch.setenv(auth.USERS_ENV, str(path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    sign_in(at, "vera@example.com", "viewer-pass-1")
    at.switch_page("app_pages/builder.py")
    at.run()
    at.session_state["builder_tab"] = TABS["saved"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["name"]) == ["Big spenders"] and list(table["saved_by"]) == ["ana@example.com"]
    assert list(table["definition"]) == ["Net spend more than 900"]
    assert any("Your role (**viewer**)" in i.value for i in at.info)
    assert not [b for b in at.button if b.key in ("builder_rename", "builder_delete")]
    assert "view_save" not in {b.key for b in at.button}  # nor save a view


def test_a_link_sets_the_experiment_control_outcome_and_the_builders_segment(app_db):
    con = engine.connect(app_db)
    experiment = str(engine.experiment_list(con)["experiment_id"].iloc[0])
    variants = engine.experiment_variants(con, experiment)
    outcomes = [o.name for o in engine.experiment_outcomes(con, experiment)]
    control, outcome = variants[-1], outcomes[-1]  # not the defaults the page would pick itself
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"experiment": experiment, "control": control, "outcome": outcome})
    at.run()
    at.switch_page("app_pages/experiments.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="exp_id").value == experiment
    assert at.selectbox(key=f"exp_control_{experiment}").value == control
    assert at.selectbox(key=f"exp_outcome_{experiment}").value == outcome

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["segment"] = "Loyal"
    at.run()
    at.switch_page("app_pages/builder.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    loyal = engine.segment_members(con, ["Loyal"])
    assert metrics(at)["Customers"] == f"{len(loyal):,}"


def test_a_heatmap_click_names_its_cell():
    from dashboard import segment_builder

    event = {"selection": {"points": [{"curve_number": 1, "x": "F4", "y": "R2"}]}}
    assert segment_builder.clicked_cell(event) == (2, 4)
    assert segment_builder.clicked_cell({"selection": {"points": [{"x": 3.0, "y": "Loyal"}]}}) is None
    drill = segment_builder.cell_drill((2, 4), "fm_score")
    assert drill["title"] == "recency score 2, fm score 4"
    assert drill["definition"]["conditions"] == [
        {"field": "r_score", "op": "=", "value": 2},
        {"field": "fm_score", "op": "=", "value": 4},
    ]


def test_a_persona_card_opens_its_customers_in_the_builder(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/personas.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="persona_open_segment_At Risk").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Segment builder"
    at_risk = engine.segment_members(engine.connect(app_db), ["At Risk"])
    assert metrics(at)["Customers"] == f"{len(at_risk):,}"


def test_nested_groups_through_the_json_view(app_db):
    import json

    at = open_builder()
    nested = {
        "match": "all",
        "conditions": [
            {"field": "segment", "op": "in", "value": ["Loyal", "Champions"]},
            {
                "match": "any",
                "conditions": [
                    {"field": "age", "op": "<", "value": 30},
                    {"field": "loyalty_member", "op": "is_true"},
                ],
            },
        ],
    }
    next(t for t in at.text_area if t.label == "Definition").input(json.dumps(nested))
    at.button(key="builder_use_json").click().run()
    assert not at.exception, [e.value for e in at.exception]
    con = engine.connect(app_db)
    frame = engine.customer_segments(con).merge(
        con.execute("SELECT customer_id, age, loyalty_member FROM customers").df(), on="customer_id"
    )
    expected = frame[
        frame["segment"].isin(["Loyal", "Champions"]) & ((frame["age"] < 30) | frame["loyalty_member"])
    ]
    assert metrics(at)["Customers"] == f"{len(expected):,}"
    assert any("Group" in m.value for m in at.markdown)
    next(t for t in at.text_area if t.label == "Definition").input("{not json")
    at.button(key="builder_use_json").click().run()
    assert any("not valid JSON" in e.value for e in at.error)


def test_every_kind_of_condition_edits_without_error(app_db):
    import datetime as dt

    at = open_builder()

    def new_row(field: str) -> str:
        at.button(key="builder_add").click().run()
        row = [s.key for s in at.selectbox if s.key.startswith("bc_field_")][-1].removeprefix("bc_field_")
        at.selectbox(key=f"bc_field_{row}").set_value(field).run()
        return row

    def ok() -> None:
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]

    money = new_row("monetary")
    at.selectbox(key=f"bc_op_{money}_monetary").set_value("between").run()
    at.number_input(key=f"bc_value_{money}_monetary_pair_hi").set_value(500).run()
    ok()
    last = new_row("last_order")
    at.date_input(key=f"bc_value_{last}_last_order_one").set_value(dt.date(2025, 6, 1)).run()
    at.selectbox(key=f"bc_op_{last}_last_order").set_value("between").run()
    ok()
    flag = new_row("loyalty_member")
    at.selectbox(key=f"bc_op_{flag}_loyalty_member").set_value("is_false").run()
    ok()
    bought = new_row("bought_category")
    at.multiselect(key=f"bc_value_{bought}_bought_category_list").set_value(["Books"]).run()
    at.selectbox(key=f"bc_op_{bought}_bought_category").set_value("none_of").run()
    ok()
    assert at.multiselect(key=f"bc_value_{bought}_bought_category_list").value == ["Books"]  # kept
    at.radio(key="builder_match").set_value("any").run()
    at.button(key=f"bc_remove_{money}").click().run()
    ok()
    assert not [s for s in at.selectbox if s.key == f"bc_field_{money}"]
    at.button(key="builder_clear").click().run()
    ok()
    assert metrics(at)["Share of customers"] == "100.0%"


def test_an_analyst_saves_renames_and_deletes_a_view(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/segments.py")
    at.run()
    at.text_input(key="view_save_name").input("Everything, segments")
    at.button(key="view_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    con = engine.connect(app_db)
    saved = engine.list_saved(con, "view")
    assert list(saved["name"]) == ["Everything, segments"]
    assert saved["definition"].iloc[0]["page"] == "segments" and saved["saved_by"].iloc[0] == "Local user"
    at.selectbox(key="view_manage_choice").set_value("Everything, segments").run()
    at.text_input(key="view_new_name").input("All segments")
    at.button(key="view_rename").click().run()
    assert list(engine.list_saved(con, "view")["name"]) == ["All segments"]
    at.selectbox(key="view_manage_choice").set_value("All segments").run()
    at.button(key="view_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert engine.list_saved(con, "view").empty


def test_clusters_fitted_on_the_segments_page_become_a_field(app_db):
    from tests.dashboard.test_segments_page import open_tab

    at = open_builder()
    at.button(key="builder_add").click().run()
    field = next(s for s in at.selectbox if s.key.startswith("bc_field_"))
    assert "cluster_name" not in field.options and "Cluster" not in field.options
    at.switch_page("app_pages/segments.py")
    at.run()
    open_tab(at, "clusters")  # fits and stores the clusters
    at.switch_page("app_pages/builder.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    field = next(s for s in at.selectbox if s.key.startswith("bc_field_"))
    assert "Cluster" in field.options

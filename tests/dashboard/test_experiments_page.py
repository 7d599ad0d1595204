"""The Experiments page through AppTest: verdict, results, the planner, SRM and an empty store."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP

PAGE = "app_pages/experiments.py"
PLAN_RATE = "plan_rate_checkout_redesign_control_converted"


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def as_text(shown: str) -> str:
    """What a reader sees of markdown whose special characters were escaped (the verdict names variants
    as the file does, so the page escapes it)."""
    return re.sub(r"\\(.)", r"\1", shown)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_experiments_page_shows_the_sample_test(app_db):
    at = _open()
    assert at.title[0].value == "Experiments"
    con = engine.connect(app_db, shared=False)
    result = engine.analyse_experiment(con, "checkout_redesign")
    con.close()
    boxes = [*at.success, *at.info, *at.warning, *at.error]
    assert any(as_text(b.value) == result.verdict for b in boxes)
    metrics = _metrics(at)
    control_rate = result.variants.iloc[0]["conversion_rate"]
    assert metrics["Control rate"] == f"{control_rate * 100:.2f}%"
    assert metrics["Customers"] == f"{int(result.variants['exposures'].sum()):,}"
    assert metrics["Sample ratio"] == "OK"
    assert len(at.get("plotly_chart")) >= 3  # rates, lift, planner
    assert len(at.get("download_button")) >= 3
    # the planner answers with the engine's number
    plan = engine.plan_experiment(round(control_rate * 100, 2) / 100, 0.10, 0.05, 0.8, 2, 1000)
    assert metrics["Customers per variant"] == f"{plan.per_variant:,}"


def test_planner_reacts_to_its_inputs(app_db):
    at = _open()
    at.number_input(key="plan_lift").set_value(20.0).run()
    assert not at.exception
    rate = at.number_input(key=PLAN_RATE).value / 100
    expected = engine.plan_experiment(rate, 0.20, 0.05, 0.8, 2, 1000)
    assert _metrics(at)["Customers per variant"] == f"{expected.per_variant:,}"


def test_intended_split_drives_the_srm_check(app_db):
    at = _open()
    at.number_input(key="exp_split_checkout_redesign_treatment").set_value(3.0).run()
    assert not at.exception
    assert _metrics(at)["Sample ratio"] == "Mismatch"
    assert at.error and "split between variants is off" in at.error[0].value
    assert "winner" not in at.error[0].value.lower()


def test_control_can_be_overridden(app_db):
    at = _open()
    at.selectbox(key="exp_control_checkout_redesign").set_value("treatment").run()
    assert not at.exception
    texts = " ".join(b.value for b in [*at.success, *at.info, *at.warning, *at.error])
    assert "control (treatment)" in texts


def test_planner_follows_the_chosen_control(app_db):
    at = _open()
    con = engine.connect(app_db, shared=False)
    switched = engine.analyse_experiment(con, "checkout_redesign", control="treatment")
    con.close()
    at.selectbox(key="exp_control_checkout_redesign").set_value("treatment").run()
    assert not at.exception
    rate = at.number_input(key="plan_rate_checkout_redesign_treatment_converted").value
    assert rate == round(float(switched.variants.iloc[0]["conversion_rate"]) * 100, 2)


def test_any_outcome_can_be_picked_and_the_correction_counts_it(app_db):
    con = engine.connect(app_db, shared=False)
    con.execute('ALTER TABLE experiments ADD COLUMN "clicked" VARCHAR')
    con.execute("UPDATE experiments SET clicked = CASE WHEN hash(customer_id) % 3 = 0 THEN '1' ELSE '0' END")
    con.close()
    at = _open()
    assert "clicked (0/1)" in at.selectbox(key="exp_outcome_checkout_redesign").options
    at.selectbox(key="exp_outcome_checkout_redesign").set_value("clicked").run()
    assert not at.exception
    con = engine.connect(app_db, shared=False)
    expected = engine.analyse_experiment(con, "checkout_redesign", outcomes=["clicked", "revenue"])
    con.close()
    boxes = [*at.success, *at.info, *at.warning, *at.error]
    assert any(as_text(b.value) == expected.verdict for b in boxes)
    assert any(expected.correction in (c.help or "") for c in at.caption)  # the method in the help
    assert "2 outcomes" in expected.correction


def test_page_asks_for_the_control_when_no_name_says_so(app_db):
    con = engine.connect(app_db, shared=False)
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted) "
        "SELECT 'subject_lines', CASE WHEN i % 2 = 0 THEN 'Short' ELSE 'Long' END, 'c' || i, i % 7 = 0 "
        "FROM range(400) t(i)"
    )
    con.close()
    at = _open()
    at.selectbox(key="exp_id").set_value("subject_lines").run()
    assert not at.exception
    assert at.selectbox(key="exp_control_subject_lines").value is None
    assert any("choose which of Long, Short is the control" in i.value for i in at.info)
    assert "Control rate" not in _metrics(at)  # no verdict until someone says which is the control
    at.selectbox(key="exp_control_subject_lines").set_value("Short").run()
    assert not at.exception and "Control rate" in _metrics(at)


def test_variant_names_written_in_markdown_and_html_are_shown_as_text(app_db):
    hostile = "**Bold** <b>big</b> ![x](http://192.0.2.9/p.png)"
    con = engine.connect(app_db, shared=False)
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted) "
        "SELECT 'hostile', CASE WHEN i % 2 = 0 THEN 'control' ELSE ? END, 'c' || i, i % 7 = 0 "
        "FROM range(400) t(i)",
        [hostile],
    )
    con.close()
    at = _open()
    at.selectbox(key="exp_id").set_value("hostile").run()
    assert not at.exception
    verdicts = [b.value for b in [*at.success, *at.info, *at.warning, *at.error] if "Bold" in b.value]
    assert verdicts, "the verdict names the variant"
    for shown in verdicts:
        assert hostile not in shown and "![x]" not in shown and "<b>" not in shown
        assert hostile in as_text(shown)


def test_empty_store_still_offers_the_planner(empty_app_db):
    at = _open()
    assert any("No experiments yet" in i.value for i in at.info)
    assert "Customers per variant" in _metrics(at)

"""The Experiments page through AppTest: verdict, results, the planner, SRM and an empty store."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP

PAGE = "app_pages/experiments.py"


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_experiments_page_shows_the_sample_test(app_db):
    at = _open()
    assert at.title[0].value == "Experiments"
    con = engine.connect(app_db, shared=False)
    result = engine.analyse_experiment(con, "checkout_redesign")
    con.close()
    boxes = [*at.success, *at.info, *at.warning, *at.error]
    assert any(b.value == result.verdict for b in boxes)
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
    rate = at.number_input(key="plan_rate").value / 100
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


def test_empty_store_still_offers_the_planner(empty_app_db):
    at = _open()
    assert any("No experiments yet" in i.value for i in at.info)
    assert "Customers per variant" in _metrics(at)

"""The Targeting page through AppTest on generated tests: who responds, honesty when nobody stands out, the
decision slider, the list download, and no chart when the checks fail."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP
from tests.uplift_data import email_test, store_with_test

PAGE = "app_pages/targeting.py"


@pytest.fixture
def targeting_db(empty_app_db, tmp_path):
    """The app's store holding one generated test (made with ``frame_kw``) and nothing else."""

    def make(**frame_kw):
        con = engine.connect(empty_app_db, shared=False)
        store_with_test(con, tmp_path, email_test(**frame_kw))
        con.close()
        return empty_app_db

    return make


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_finds_who_responds_and_offers_the_list(targeting_db):
    db = targeting_db()
    at = _open()
    assert at.title[0].value.endswith("Who to target")
    assert at.selectbox(key="uplift_control_mail_Mens E-Mail").value == "No E-Mail"
    assert any("keeps" in s.value and "of the extra visits" in s.value for s in at.success)
    metrics = _metrics(at)
    con = engine.connect(db, shared=False)
    result = engine.analyse_uplift(con, "mail", "Mens E-Mail", "No E-Mail", "visit")
    con.close()
    assert metrics["Better than random?"] == "Yes"
    assert metrics["Top 30% keeps"] == f"{result.evaluation.kept_share * 100:.0f}%"
    assert metrics["Top tenth vs average"] == f"{result.evaluation.top_decile_ratio:.2f}x"
    assert metrics["Sent to"] == "1,800"
    qini = next(m.delta for m in at.metric if m.label == "Better than random?")
    assert "e-" not in qini and "e+" not in qini
    match = re.fullmatch(r"Qini (-?[\d.]+) \((-?[\d.]+) to (-?[\d.]+)\)", qini)
    assert match, qini
    shown = [float(x) for x in match.groups()]
    truth = (result.evaluation.qini_coefficient, result.evaluation.qini_low, result.evaluation.qini_high)
    step = 10.0 ** -len(match.group(1).split(".")[1])
    assert all(abs(a - b) <= step / 2 + 1e-12 for a, b in zip(shown, truth, strict=True))
    assert len(at.get("plotly_chart")) >= 5  # balance, gain, deciles, Qini, profit, profiles
    assert at.get("download_button")
    at.slider(key="uplift_share").set_value(50).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _metrics(at)["Sent to"] == "3,000"


def test_page_says_targeting_does_not_beat_treating_everyone(targeting_db):
    targeting_db(responding_region=None, everyone_uplift=0.06)
    at = _open()
    assert any("does no better than random" in i.value for i in at.info)
    assert any("Treat everyone" in m.value for m in at.markdown)
    assert _metrics(at)["Better than random?"] == "No"


def test_page_stops_with_a_clear_message_when_the_split_is_off(targeting_db):
    targeting_db(rows=5000, treated_share=0.6, seed=2)
    at = _open()
    assert any("sample-ratio mismatch" in w.value for w in at.warning)
    assert "Better than random?" not in _metrics(at)
    assert len(at.get("plotly_chart")) <= 1  # only the balance chart of the checks


def test_small_numbers_share_their_decimals_and_never_use_exponents():
    """The MineThatData women's e-mail test: the card read "Qini 0.000322 (6.08e-05 to 0.000..." (cut off)."""
    from dashboard.components import fmt_small

    assert fmt_small(0.000322, 6.08e-05, 0.000598) == ("0.00032", "0.00006", "0.00060")
    assert fmt_small(0.053, 0.018, 0.088) == ("0.053", "0.018", "0.088")
    assert fmt_small(0.00064, -0.00046, 0.00159) == ("0.0006", "-0.0005", "0.0016")
    assert fmt_small(0.0, 0.0, 0.0) == ("0.00", "0.00", "0.00")


def test_until_an_outcome_has_a_value_the_page_counts_instead_of_pricing(targeting_db):
    """Defaults of $0 a send and $1 a visit gave "Profit $69, -$64 vs all": a price nobody set."""
    targeting_db()
    frame = email_test()
    treated = frame["segment"] == "Mens E-Mail"
    # sending to everyone: the difference in visit rates between the arms, over every unit
    everyone = (frame.loc[treated, "visit"].mean() - frame.loc[~treated, "visit"].mean()) * len(frame)
    at = _open()
    metrics = _metrics(at)
    assert "Profit" not in metrics and "Cost" not in metrics
    assert metrics["Sent to"] == "1,800"
    assert float(metrics["Extra visits if sent to all"].replace(",", "")) == pytest.approx(everyone, abs=0.05)
    delta = next(m.delta for m in at.metric if m.label == "Extra visits if sent to all")
    assert delta == f"{len(frame) - 1800:,} fewer sends"
    assert any("Set the value of a visit to see profit" in i.value for i in at.info)
    charts = len(at.get("plotly_chart"))

    at.number_input(key="uplift_value").set_value(2.0).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = _metrics(at)
    assert "Profit" in metrics and "Extra visits if sent to all" not in metrics
    assert len(at.get("plotly_chart")) == charts + 1  # the profit curve, now that there is a price
    assert not any("to see profit" in i.value for i in at.info)

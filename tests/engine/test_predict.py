"""Predict: BG/NBD and Gamma-Gamma against the published CDNOW figures, the purchase summary against hand
counts and Hardie's own summary, the risk bands, the "does not fit" messages, storage and the command line.

Published figures: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science
24(2): on the CDNOW 1/10 sample, calibration 1997-01-01..1997-09-30 (39 weeks), r = 0.243, alpha = 4.414,
a = 0.793, b = 2.426, log-likelihood -9,582.4, and for a customer with x = 2, t_x = 30.43, T = 38.86 an
expected 1.226 purchases in the next 39 weeks. Gamma-Gamma on the 946 repeat buyers' mean spend per repeat
purchase (Fader, Hardie & Lee 2005b; Hardie's note on the Gamma-Gamma model): p = 6.25, q = 3.74,
gamma = 15.45.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

import engine
from engine import predict
from engine.cli import main as segmint

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.45}
THREE_FIGURES = 2e-3  # relative: 3.745 and 3.74 agree to three significant figures, 3.76 does not


def _insert(con, frame: pd.DataFrame) -> None:
    frame = frame.copy()
    if "is_return" not in frame:
        frame["is_return"] = None
    con.register("_lines", frame)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) "
        "SELECT order_id, customer_id, order_date, amount, is_return FROM _lines"
    )
    con.unregister("_lines")
    engine.bump_data_version(con)


def _read_cdnow(path) -> pd.DataFrame:
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "day", "cds", "amount"],
        dtype={"master_id": str, "customer_id": str, "day": str},
    )
    raw["order_date"] = pd.to_datetime(raw["day"], format="%Y%m%d")
    raw["order_id"] = [f"o{i}" for i in range(len(raw))]
    return raw


@pytest.fixture(scope="module")
def cdnow_store(cdnow_sample_file, tmp_path_factory):
    """A store holding the CDNOW 1/10 sample's transactions (every line a purchase, no returns)."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb"
    con = engine.connect(path, shared=False)
    _insert(con, _read_cdnow(cdnow_sample_file))
    con.close()
    return path


@pytest.fixture
def cdnow_con(cdnow_store):
    con = engine.connect(cdnow_store, shared=False)
    yield con
    con.close()


# ---------------------------------------------------------------------------------------------- reference


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow_summary_file):
    summary = pd.read_csv(cdnow_summary_file)
    assert len(summary) == 2357
    model = predict.BetaGeoModel().fit(summary["x"], summary["t_x"], summary["T"])
    assert model.converged_
    for name, published in PAPER.items():
        assert model.params_[name] == pytest.approx(published, rel=THREE_FIGURES), name
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    # the paper's worked example (section 5): x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in 39 weeks
    assert model.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow_summary_file):
    summary = pd.read_csv(cdnow_summary_file)
    repeat = summary[summary["x"] > 0]
    assert len(repeat) == 946
    model = predict.GammaGammaModel().fit(summary["x"], summary["zbar"])
    assert model.n_customers_ == 946 and model.converged_
    for name, published in PAPER_GAMMA_GAMMA.items():
        assert model.params_[name] == pytest.approx(published, rel=THREE_FIGURES), name
    # expected spend: the weighted mean of the customer's own mean and the population's (independent form)
    p, q, gamma = model.p_, model.q_, model.gamma_
    x, zbar = 2, 22.35
    weight = p * x / (p * x + q - 1)
    expected = weight * zbar + (1 - weight) * p * gamma / (q - 1)
    assert model.expected_order_value(x, zbar) == pytest.approx(expected, rel=1e-12)


def test_maximum_likelihood_recovers_the_parameters_of_simulated_customers():
    # the BG/NBD story simulated directly: Poisson purchases at rate lambda, and after each repeat purchase
    # a coin with probability p says the customer has left
    rng = np.random.default_rng(7)
    r, alpha, a, b = 0.6, 4.0, 1.5, 5.0
    n = 20000
    T = rng.uniform(20, 60, n)
    rate = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    now, x, last = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, bool)
    while active.any():
        now[active] += rng.exponential(1 / np.maximum(rate[active], 1e-12))
        bought = active & (now <= T)
        x[bought] += 1
        last[bought] = now[bought]
        active = bought & (rng.random(n) >= drop)
    model = predict.BetaGeoModel().fit(x, last, T)
    got = model.params_
    assert got["r"] == pytest.approx(r, rel=0.1)
    assert got["alpha"] == pytest.approx(alpha, rel=0.15)
    assert got["a"] == pytest.approx(a, rel=0.3)
    assert got["b"] == pytest.approx(b, rel=0.3)


def test_the_summary_from_transactions_equals_hardies_summary(cdnow_con, cdnow_summary_file):
    summary = predict.purchase_summary(cdnow_con, "1997-09-30")
    hardie = pd.read_csv(cdnow_summary_file)
    hardie["customer_id"] = hardie["ID"].map(lambda v: f"{v:04d}")
    both = summary.frame.merge(hardie, on="customer_id", validate="one_to_one")
    assert len(both) == 2357
    assert (both["repeat_purchases"] == both["x"]).all()
    # Hardie's t_x and T are weeks rounded to two decimals
    assert np.allclose(both["recency_days"] / 7, both["t_x"], atol=0.005)
    assert np.allclose(both["age_days"] / 7, both["T"], atol=0.005)
    assert np.allclose(both["monetary"].fillna(0), both["zbar"], atol=0.005)


def test_holdout_check_on_cdnow_matches_independent_counts(cdnow_con, cdnow_sample_file):
    check = predict.holdout_check(cdnow_con, "1997-09-30", "1998-06-30")
    raw = _read_cdnow(cdnow_sample_file)
    days = raw[["customer_id", "order_date"]].drop_duplicates()
    later = days[(days["order_date"] > "1997-09-30") & (days["order_date"] <= "1998-06-30")]
    assert check.actual_total == len(later) == 1882
    assert check.holdout_days == 273
    assert check.params["r"] == pytest.approx(PAPER["r"], rel=THREE_FIGURES)
    assert round(check.predicted_total) == 1653  # the same fit's expectation, summed (equation 10)
    assert "predicted 1,653 repeat purchases" in check.sentence and "they made 1,882" in check.sentence
    # the weekly chart counts every repeat purchase day (pandas: days after each customer's first)
    first = days.groupby("customer_id")["order_date"].transform("min")
    assert check.tracking["actual"].sum() == (days["order_date"] > first).sum()
    assert check.tracking["week_start"].iloc[0] == pd.Timestamp("1997-01-01")
    # 39 whole weeks reach 1997-09-30: by then the cumulative curve holds every calibration repeat purchase,
    # and the model's unconditional curve (equation 9 summed over the customers) follows it within 5%
    week_39 = check.tracking.iloc[38]
    assert week_39["week_start"] + pd.Timedelta(days=6) == pd.Timestamp("1997-09-30")
    repeat_in_calibration = ((days["order_date"] > first) & (days["order_date"] <= "1997-09-30")).sum()
    assert week_39["actual_cumulative"] == repeat_in_calibration
    assert week_39["predicted_cumulative"] == pytest.approx(repeat_in_calibration, rel=0.05)
    # by calibration purchases: customer counts from pandas
    calibration = days[days["order_date"] <= "1997-09-30"].groupby("customer_id").size() - 1
    counts = calibration.clip(upper=7).value_counts().sort_index()
    assert check.by_purchases["customers"].tolist() == counts.tolist()
    later = days[days["order_date"] > "1997-09-30"].groupby("customer_id").size()
    after = later.reindex(calibration.index, fill_value=0)
    mean_after = after.groupby(calibration.clip(upper=7)).mean()
    assert np.allclose(check.by_purchases["actual"], mean_after.to_numpy())
    # risk ranks who did not come back; 1 - P(alive) alone ranks worse than chance here, because the model
    # calls every one-time buyer alive
    assert check.auc > 0.7
    assert check.auc_p_alive < check.auc
    assert check.bands["share_not_back"].is_monotonic_increasing


def test_the_check_never_sees_orders_after_the_calibration_date(cdnow_store, tmp_path):
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(cdnow_store, copy)
    con = engine.connect(copy, shared=False)
    before = predict.holdout_check(con, "1997-09-30", "1998-06-30")
    # a burst of orders after the calibration date changes the actual figures, never the fitted model
    burst = pd.DataFrame(
        {
            "order_id": [f"late{i}" for i in range(500)],
            "customer_id": [f"{i % 300 + 1:04d}" for i in range(500)],
            "order_date": pd.Timestamp("1997-10-01") + pd.to_timedelta(np.arange(500) % 200, unit="D"),
            "amount": 10.0,
        }
    )
    _insert(con, burst)
    after = predict.holdout_check(con, "1997-09-30", "1998-06-30")
    con.close()
    assert after.params == before.params
    assert after.predicted_total == before.predicted_total
    assert after.actual_total > before.actual_total


# ---------------------------------------------------------------------------------------------- summary


def test_purchase_days_leave_out_returns_and_guests_and_count_them(con):
    lines = pd.DataFrame(
        [
            ("o1", "A", "2024-01-01 09:00", 10.0),
            ("o2", "A", "2024-01-01 17:00", 5.0),  # same day: one purchase
            ("o3", "A", "2024-01-11 12:00", 30.0),
            ("r1", "A", "2024-01-15 12:00", -8.0),  # a return: left out, counted
            ("o4", "A", "2024-01-21 12:00", 20.0),
            ("o5", "B", "2024-01-06 12:00", 40.0),
            ("g1", None, "2024-01-03 12:00", 12.0),  # a guest order: left out, counted
        ],
        columns=["order_id", "customer_id", "order_date", "amount"],
    )
    lines["order_date"] = pd.to_datetime(lines["order_date"])
    _insert(con, lines)
    summary = predict.purchase_summary(con, "2024-01-31")
    assert summary.guest_lines == 1 and summary.return_lines == 1
    assert summary.first_order == dt.date(2024, 1, 1)
    got = summary.frame.set_index("customer_id")
    assert got.loc["A", ["purchases", "repeat_purchases", "recency_days", "age_days"]].tolist() == [
        3,
        2,
        20,
        30,
    ]
    assert got.loc["A", "average_order_value"] == pytest.approx((15 + 30 + 20) / 3)
    assert got.loc["A", "monetary"] == pytest.approx((30 + 20) / 2)
    assert got.loc["B", ["purchases", "repeat_purchases", "recency_days", "age_days"]].tolist() == [
        1,
        0,
        0,
        25,
    ]
    assert math.isnan(got.loc["B", "monetary"])
    earlier = predict.purchase_summary(con, "2024-01-15").frame.set_index("customer_id")
    assert earlier.loc["A", ["purchases", "recency_days", "age_days"]].tolist() == [2, 10, 14]


def test_risk_bands_follow_the_table_and_take_an_override():
    risk = [0.0, 0.49, 0.5, 0.79, 0.8, 1.0]
    assert predict.risk_bands(risk).tolist() == [
        "Likely active",
        "Likely active",
        "At risk",
        "At risk",
        "Probably lost",
        "Probably lost",
    ]
    two = pd.DataFrame({"band": ["Keep", "Chase"], "min_risk": [0.0, 0.3], "description": ["", ""]})
    assert predict.risk_bands([0.1, 0.3, 0.9], two).tolist() == ["Keep", "Chase", "Chase"]


def test_clv_is_order_value_times_purchases_discounted_by_month(cdnow_summary_file):
    summary = pd.read_csv(cdnow_summary_file)
    model = predict.BetaGeoModel().fit(summary["x"], summary["t_x"], summary["T"])
    x, tx, T = np.array([2.0]), np.array([30.43]), np.array([38.86])
    value = np.array([40.0])
    # no discount: value x expected purchases in the horizon
    flat = predict.clv_values(model, value, x, tx, T, horizon_days=90, discount_rate=0.0)
    assert flat[0] == pytest.approx(40.0 * model.expected_purchases(90 / 7, x, tx, T)[0], rel=1e-12)
    # 1% a month over three 30-day months, each month's purchases discounted from its end
    upto = [0.0] + [model.expected_purchases(30 * k / 7, x, tx, T)[0] for k in (1, 2, 3)]
    by_hand = sum(40.0 * (upto[k] - upto[k - 1]) / 1.01**k for k in (1, 2, 3))
    discounted = predict.clv_values(model, value, x, tx, T, horizon_days=90, discount_rate=0.01)
    assert discounted[0] == pytest.approx(by_hand, rel=1e-12)


# ---------------------------------------------------------------------------------------------- limits


def _regular_customers(count: int, every_days: int, months: int, start="2024-01-01") -> pd.DataFrame:
    rows = []
    for c in range(count):
        for k in range(months):
            day = pd.Timestamp(start) + pd.Timedelta(days=c % 20 + k * every_days)
            rows.append((f"s{c}-{k}", f"c{c:04d}", day, 25.0))
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])


def test_too_few_customers_and_repeat_buyers_are_refused_with_the_numbers(con):
    lines = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(20)],
            "customer_id": [f"c{i}" for i in range(20)],
            "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(20) * 10, unit="D"),
            "amount": 10.0,
        }
    )
    _insert(con, lines)
    result = predict.predict_customers(con)
    assert not result.checks.passed
    text = " ".join(result.checks.messages)
    assert "Only 20 customers" in text and "at least 100" in text
    assert "Only 0 customers bought on more than one day" in text
    with pytest.raises(engine.InsufficientDataError, match="Only 20 customers"):
        predict.prediction_scores(con, result)


def test_short_history_is_refused(con):
    _insert(con, _regular_customers(300, every_days=9, months=3, start="2024-03-01")[::2])
    result = predict.predict_customers(con)
    assert not result.checks.passed
    assert any("about three months" in m for m in result.checks.messages)


def test_a_subscription_pattern_is_refused(con):
    _insert(con, _regular_customers(200, every_days=30, months=12))
    result = predict.predict_customers(con)
    assert not result.checks.passed
    (message,) = result.checks.messages
    assert "subscription" in message and "every 30 days" in message


# ---------------------------------------------------------------------------------------------- stored


def test_predictions_are_stored_once_per_data_version(cdnow_store, tmp_path):
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(cdnow_store, copy)
    con = engine.connect(copy, shared=False)
    first = predict.predict_customers(con, horizon_days=273)
    assert engine.get_blob(con, "predict_summary", first.store_params) is not None
    again = predict.predict_customers(con, horizon_days=273)
    assert again.fit_seconds == first.fit_seconds  # read back, not fitted again
    scores = predict.prediction_scores(con, again)
    assert list(scores.columns) == predict.SCORE_COLUMNS and len(scores) == 2357
    assert scores["clv"].is_monotonic_decreasing
    engine.bump_data_version(con)
    assert engine.get_blob(con, "predict_summary", first.store_params) is None
    con.close()


def test_at_risk_and_valuable_are_high_value_and_high_risk(cdnow_con):
    scores = predict.prediction_scores(cdnow_con, predict.predict_customers(cdnow_con))
    picked = predict.at_risk_valuable(scores, top_share=0.2, min_risk=0.5)
    cut = scores["clv"].quantile(0.8)
    expected = scores[(scores["clv"] >= cut) & (scores["churn_risk"] >= 0.5)]
    assert set(picked["customer_id"]) == set(expected["customer_id"]) and len(picked) > 0


# ---------------------------------------------------------------------------------------------- command


def test_predict_command_writes_the_published_expectation(cdnow_store, cdnow_sample_file, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(cdnow_store, copy)
    out = tmp_path / "predict.csv"
    code = segmint(
        ["predict", "--db", str(copy), "--as-of", "1997-09-30", "--horizon-days", "273", "--out", str(out)]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "2,357 customers" in err and "Left out: 0 return lines" in err
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str}).set_index("customer_id")
    assert list(got.columns) == predict.EXPORT_COLUMNS[1:]
    # purchases so far: distinct purchase days up to the as-of date (pandas)
    raw = _read_cdnow(cdnow_sample_file)
    upto = raw[raw["order_date"] <= "1997-09-30"][["customer_id", "order_date"]].drop_duplicates()
    assert got["purchases"].sort_index().tolist() == upto.groupby("customer_id").size().sort_index().tolist()
    # customer 0001 (x = 2, t_x = 30.43, T = 38.86): the paper's 1.226 purchases in the next 39 weeks
    assert got.loc["0001", "expected_purchases"] == pytest.approx(1.226, abs=2e-3)
    # P(alive) and churn risk by the paper's formulas at its published parameters
    r, alpha, a, b = PAPER.values()
    x, t_x, T, t = 2, 213 / 7, 272 / 7, 39
    p_alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert got.loc["0001", "p_alive"] == pytest.approx(p_alive, abs=2e-3)
    silent = ((alpha + T) / (alpha + T + t)) ** (r + x)
    assert got.loc["0001", "churn_risk"] == pytest.approx(1 - p_alive * (1 - silent), abs=2e-3)
    # one-time buyers are alive by the model's assumption
    assert (got.loc[got["purchases"] == 1, "p_alive"] == 1).all()


def test_predict_command_says_why_it_does_not_predict(con, tmp_path, capsys):
    _insert(con, _regular_customers(200, every_days=30, months=12))
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    con.close()
    out = tmp_path / "predict.csv"
    assert segmint(["predict", "--db", path[0], "--out", str(out)]) == 1
    assert "subscription" in capsys.readouterr().err
    assert not out.exists()
    assert segmint(["predict", "--db", path[0], "--as-of", "June 2024", "--out", str(out)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_value_by_segment_adds_up_to_the_scores(cdnow_con):
    prediction = predict.predict_customers(cdnow_con)
    scores = predict.prediction_scores(cdnow_con, prediction)
    by_segment = predict.segment_value(cdnow_con, prediction)
    # independently: the customers' RFM segments joined in pandas
    segments = engine.customer_segments(cdnow_con, prediction.as_of)[["customer_id", "segment"]]
    joined = scores.merge(segments.astype({"customer_id": str}), on="customer_id")
    expected = joined.groupby("segment").agg(customers=("clv", "size"), clv=("clv", "sum"))
    got = by_segment.set_index("segment")
    assert got["customers"].sum() == len(scores) == 2357
    for segment, row in expected.iterrows():
        assert got.loc[segment, "customers"] == row["customers"]
        assert got.loc[segment, "clv"] == pytest.approx(row["clv"], rel=1e-9)
    share = (joined["churn_risk"] >= 0.5).groupby(joined["segment"]).mean()
    assert np.allclose(got.loc[share.index, "share_at_risk"], share)
    assert by_segment["clv"].is_monotonic_decreasing


def test_predictions_join_any_customer_list_in_its_order(cdnow_con):
    prediction = predict.predict_customers(cdnow_con)
    scores = predict.prediction_scores(cdnow_con, prediction).set_index("customer_id")
    listed = pd.DataFrame({"customer_id": ["0002", "unknown", "0001"], "note": ["b", "x", "a"]})
    out = predict.with_predictions(cdnow_con, listed, prediction)
    assert out["note"].tolist() == ["b", "x", "a"]
    assert out.loc[0, "clv"] == scores.loc["0002", "clv"] and out.loc[2, "clv"] == scores.loc["0001", "clv"]
    assert pd.isna(out.loc[1, "clv"])
    with pytest.raises(engine.SchemaError, match="Unknown prediction column"):
        predict.with_predictions(cdnow_con, listed, prediction, ["favourite_colour"])


def test_predict_command_json_reports_the_check_up_to_the_as_of_date(
    cdnow_store, cdnow_sample_file, tmp_path, capsys
):
    import json
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(cdnow_store, copy)
    out = tmp_path / "predict.csv"
    argv = ["predict", "--db", str(copy), "--as-of", "1998-06-30", "--horizon-days", "273", "--json"]
    assert segmint([*argv, "--out", str(out)]) == 0
    figures = json.loads(capsys.readouterr().out)
    check = figures["check"]
    # 273 days is more than half of the 545 days of history: the calibration keeps half (272 days back)
    assert check["calibration_end"] == "1997-10-01" and check["holdout_end"] == "1998-06-30"
    days = _read_cdnow(cdnow_sample_file)[["customer_id", "order_date"]].drop_duplicates()
    after = days[(days["order_date"] > "1997-10-01") & (days["order_date"] <= "1998-06-30")]
    assert check["actual_repeat_purchases"] == len(after)
    assert figures["customers"] == days["customer_id"].nunique()
    assert sum(figures["risk_bands"].values()) == figures["customers"]
    written = pd.read_csv(out, encoding="utf-8-sig")
    assert figures["clv"] == pytest.approx(written["clv"].sum(), rel=1e-9)


def test_spend_model_copes_when_everyone_spends_the_same():
    import warnings

    x = np.tile([1.0, 2.0, 5.0, 9.0], 500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings reach a command line or a log
        model = predict.GammaGammaModel().fit(x, np.full(len(x), 20.0))
        values = model.expected_order_value([0.0, 1.0, 9.0], [np.nan, 20.0, 20.0])
    assert values == pytest.approx([20.0, 20.0, 20.0], rel=0.01)


def test_every_setting_changes_the_result(cdnow_con):
    base = predict.prediction_scores(cdnow_con, predict.predict_customers(cdnow_con, horizon_days=365))
    flat = predict.prediction_scores(
        cdnow_con, predict.predict_customers(cdnow_con, horizon_days=365, discount_rate=0.0)
    )
    short = predict.prediction_scores(cdnow_con, predict.predict_customers(cdnow_con, horizon_days=90))
    earlier = predict.predict_customers(cdnow_con, as_of="1997-12-31", horizon_days=365)
    assert flat["clv"].sum() > base["clv"].sum()  # no discounting: worth more
    assert short["expected_purchases"].sum() < base["expected_purchases"].sum()
    assert short["churn_risk"].mean() > base["churn_risk"].mean()  # less time to buy: more likely silent
    assert earlier.params != predict.predict_customers(cdnow_con, horizon_days=365).params
    with pytest.raises(engine.SchemaError, match="horizon"):
        predict.predict_customers(cdnow_con, horizon_days=0)
    with pytest.raises(engine.SchemaError, match="discount rate"):
        predict.predict_customers(cdnow_con, discount_rate=1.5)

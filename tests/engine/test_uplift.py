"""Uplift on randomised tests with a known structure: who responds is found, honesty when nobody stands out,
the checks before modelling, out-of-fold scores, row numbers, the stored result and the command line.

Expected figures come from pandas on the generated file (or a hand count), never from the engine itself.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import engine
from engine import cli, uplift
from tests.uplift_data import email_test, load_test_file, store_with_test


@pytest.fixture(scope="module")
def responding(tmp_path_factory):
    """Only the North responds (+25 points of visits); no customer ids: one unit per row."""
    folder = tmp_path_factory.mktemp("responding")
    con = engine.connect(folder / "store.duckdb", shared=False)
    frame = email_test()
    store_with_test(con, folder, frame)
    result = uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit")
    yield con, frame, result
    con.close()


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """Everyone responds alike (+6 points of visits)."""
    folder = tmp_path_factory.mktemp("flat")
    con = engine.connect(folder / "store.duckdb", shared=False)
    frame = email_test(responding_region=None, everyone_uplift=0.06)
    store_with_test(con, folder, frame)
    result = uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit")
    yield con, frame, result
    con.close()


def test_the_top_tenth_is_the_group_that_responds(responding):
    con, frame, result = responding
    assert result.checks.passed, result.checks.message
    assert result.control == "No E-Mail"  # found from its name
    assert result.unit == "row"
    listed = uplift.uplift_list(con, result)
    assert list(listed.columns) == ["row", "uplift", "decile"]
    top = frame.iloc[listed.loc[listed["decile"] == 1, "row"].to_numpy() - 1]
    assert (top["region"] == "North").mean() >= 0.95
    # a quarter of the rows are North: the top 20% are nearly all North, the bottom half nearly none
    bottom = frame.iloc[listed.loc[listed["decile"] >= 6, "row"].to_numpy() - 1]
    assert (bottom["region"] == "North").mean() < 0.05
    ev = result.evaluation
    assert ev.beats_random and ev.qini_low > 0
    assert result.recommendation_level == "target"
    assert "Sending only to the top 30% by predicted uplift keeps" in result.verdict
    # Observed uplifts, computed here with pandas from the file and the exported row numbers.
    treated = frame["segment"] == "Mens E-Mail"
    average = frame.loc[treated, "visit"].mean() - frame.loc[~treated, "visit"].mean()
    assert ev.average_uplift == pytest.approx(average, abs=1e-12)
    first = top.groupby(top["segment"] == "Mens E-Mail")["visit"].mean()
    assert ev.deciles["uplift"].iloc[0] == pytest.approx(first[True] - first[False], abs=1e-12)
    assert ev.top_decile_ratio == pytest.approx((first[True] - first[False]) / average, abs=1e-9)
    assert ev.top_decile_ratio > 3  # the North's uplift is 4x the average
    # the extra visits kept by the top 30%: observed uplift there x its size, over the total
    order = listed["row"].to_numpy() - 1
    head = frame.iloc[order[: round(0.3 * len(frame))]]
    head_means = head.groupby(head["segment"] == "Mens E-Mail")["visit"].mean()
    kept = (head_means[True] - head_means[False]) * len(head) / (average * len(frame))
    assert ev.kept_share == pytest.approx(kept, abs=1e-9)
    assert ev.kept_low < ev.kept_share < ev.kept_high


def test_profiles_show_what_the_top_of_the_list_shares(responding):
    _, _, result = responding
    profiles = result.profiles
    assert profiles["attribute"].iloc[0] == "region"  # the most telling attribute comes first
    north = profiles[profiles["label"] == "region = North (share)"].set_index("decile")["value"]
    assert north.loc[1] >= 0.95 and north.loc[10] < 0.05
    assert set(profiles["decile"]) == set(range(1, 11))


def test_no_heterogeneity_says_targeting_does_not_beat_treating_everyone(flat):
    _, _, result = flat
    ev = result.evaluation
    assert not ev.beats_random and ev.qini_low <= 0 <= ev.qini_high
    assert result.recommendation_level == "everyone"
    assert "does no better than random" in result.verdict
    assert result.headline == "Targeting does not beat treating everyone alike"
    assert result.recommendation.startswith("Treat everyone")


def test_qini_and_deciles_match_a_hand_computation():
    rng = np.random.default_rng(3)
    n = 400
    scores = rng.normal(size=n)
    treated = rng.random(n) < 0.4
    outcome = (rng.random(n) < 0.2 + 0.2 * treated * (scores > 0)).astype(float)
    ev = uplift.evaluate_uplift(scores, treated, outcome, bootstrap=20)
    frame = pd.DataFrame({"s": scores, "t": treated, "y": outcome}).sort_values("s", ascending=False)
    qini, gain = [], []
    for k in range(1, n + 1):
        top = frame.iloc[:k]
        nt, nc = top["t"].sum(), (~top["t"]).sum()
        yt, yc = top.loc[top["t"], "y"].sum(), top.loc[~top["t"], "y"].sum()
        qini.append(yt - yc * nt / nc if nc else 0.0)
        gain.append((yt / nt - yc / nc) * k if nt and nc else 0.0)
    qini, gain = np.array(qini), np.array(gain)
    share = np.arange(1, n + 1) / n
    assert ev.qini_coefficient == pytest.approx(np.mean(qini - share * qini[-1]) / n, abs=1e-12)
    assert ev.auuc == pytest.approx(np.mean(gain) / n, abs=1e-12)
    at_30 = round(0.3 * n)
    assert ev.kept_share == pytest.approx(gain[at_30 - 1] / gain[-1], abs=1e-12)
    row = ev.curve[ev.curve["units"] == 200].iloc[0]
    assert row["qini"] == pytest.approx(qini[199]) and row["incremental"] == pytest.approx(gain[199])
    frame["decile"] = np.arange(n) * 10 // n + 1
    for decile, part in frame.groupby("decile"):
        expected = part.loc[part["t"], "y"].mean() - part.loc[~part["t"], "y"].mean()
        assert ev.deciles.set_index("decile").at[decile, "uplift"] == pytest.approx(expected, abs=1e-12)


def test_a_units_score_comes_from_models_that_never_saw_it():
    """Changing the outcomes of units held out in part 1 changes every other score, never theirs."""
    rng = np.random.default_rng(5)
    n = 3000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 3, n)])
    t = rng.random(n) < 0.5
    y = rng.gamma(2.0, 10.0, n) + 5 * t * (X[:, 0] > 0)  # every value non-zero: the strata stay the same
    first = uplift.UpliftModel(binary=False, random_state=1).fit(X, t, y, np.array([False, True]))
    part_one = first.fold_ == 1
    assert set(first.fold_) == {1, 2, 3, 4, 5}
    changed = y.copy()
    changed[part_one] = changed[part_one][::-1]
    second = uplift.UpliftModel(binary=False, random_state=1).fit(X, t, changed, np.array([False, True]))
    assert (second.fold_ == first.fold_).all()
    for learner in uplift.LEARNERS:
        assert np.array_equal(first.oof_[learner][part_one], second.oof_[learner][part_one])
        assert not np.allclose(first.oof_[learner][~part_one], second.oof_[learner][~part_one])
    # each part holds both arms in the same proportion (stratified by arm)
    shares = pd.Series(t).groupby(first.fold_).mean()
    assert shares.max() - shares.min() < 0.01


def test_same_input_same_scores(responding):
    con, _, result = responding
    again = uplift.analyse_uplift(con, "mail", "Mens E-Mail", "No E-Mail", "visit", use_stored=False)
    assert np.array_equal(
        uplift.uplift_list(con, again)["uplift"].to_numpy(),
        uplift.uplift_list(con, result)["uplift"].to_numpy(),
    )


def test_the_result_is_stored_per_data_version(tmp_path):
    con = engine.connect(tmp_path / "store.duckdb", shared=False)
    frame = email_test(rows=2400, seed=11)
    store_with_test(con, tmp_path, frame)
    calls = []
    first = uplift.analyse_uplift(
        con, "mail", "Mens E-Mail", None, "visit", progress=lambda f, t: calls.append(f)
    )
    assert calls and calls[-1] == 1.0
    calls.clear()
    again = uplift.analyse_uplift(
        con, "mail", "Mens E-Mail", None, "visit", progress=lambda f, t: calls.append(f)
    )
    assert calls == [] and again.fit_seconds == first.fit_seconds
    store_with_test(con, tmp_path, email_test(rows=2400, seed=12))  # a new load: a new data version
    uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit", progress=lambda f, t: calls.append(f))
    assert calls
    con.close()


def test_a_numeric_outcome_and_customers_joined_on_their_id(tmp_path):
    con = engine.connect(tmp_path / "store.duckdb", shared=False)
    frame = email_test(rows=3000, with_customer_ids=True, seed=21)
    test_file = frame.drop(columns=["region", "history"])
    # the customers table holds region and history; the test file only ids, arm and results
    customers = frame[["customer_id", "region", "history"]]
    customers.to_csv(tmp_path / "customers.csv", index=False)
    staged = engine.read_upload(con, tmp_path / "customers.csv", "customers.csv")
    mapping = engine.suggest_mapping(con, staged, "customers")
    engine.load(con, staged, mapping, "replace", confirm=True)
    engine.discard(con, staged)
    # one customer appears twice in the same arm (counted once), one in both arms (left out)
    same = test_file.iloc[[0]].assign(visit=1, spend=10.0)
    moved = test_file.iloc[[1]].assign(
        segment=lambda d: np.where(d["segment"] == "No E-Mail", "Mens E-Mail", "No E-Mail")
    )
    test_path = tmp_path / "test.csv"
    pd.concat([test_file, same, moved]).to_csv(test_path, index=False)
    load_test_file(con, test_path)
    columns = uplift.uplift_columns(con, "mail").set_index("column")
    assert columns.at["region", "source"] == "customers" and columns.at["region", "kind"] == "category"
    assert columns.at["spend", "outcome"] and not columns.at["region", "outcome"]
    units = uplift.uplift_units(
        con, "mail", "Mens E-Mail", "No E-Mail", "spend", ["region", "history", "recency"]
    )
    assert len(units.frame) == 2999 and units.unit == "customer"
    first = units.frame.set_index("customer_id").loc[frame["customer_id"].iloc[0]]
    assert first["_u_outcome"] == pytest.approx(frame["spend"].iloc[0] + 10.0)
    assert first["region"] == frame["region"].iloc[0]
    assert first["history"] == pytest.approx(frame["history"].iloc[0])
    assert any("more than one variant" in note for note in units.notes)
    result = uplift.analyse_uplift(
        con, "mail", "Mens E-Mail", None, "spend", ["region", "history", "recency"]
    )
    assert result.outcome_kind == "numeric" and result.checks.passed
    assert list(uplift.uplift_list(con, result).columns) == ["customer_id", "uplift", "decile"]
    con.close()


def test_suggested_attributes_leave_out_results_and_columns_recorded_after_the_send(tmp_path):
    con = engine.connect(tmp_path / "store.duckdb", shared=False)
    frame = email_test(rows=3000, seed=4)
    rng = np.random.default_rng(0)
    # 'score' looks like any attribute but was measured after the send: it differs between the arms
    frame["score"] = rng.normal(size=len(frame)) + 0.5 * (frame["segment"] == "Mens E-Mail")
    frame["email"] = [f"person{i}@example.com" for i in range(len(frame))]
    store_with_test(con, tmp_path, frame)
    suggestion = uplift.suggest_uplift_attributes(con, "mail", "Mens E-Mail", "No E-Mail", "visit").set_index(
        "column"
    )
    assert not suggestion.at["spend", "use"] and "result" in suggestion.at["spend", "reason"]
    assert not suggestion.at["score", "use"] and "differs between arms" in suggestion.at["score", "reason"]
    assert not suggestion.at["email", "use"] and "identifier" in suggestion.at["email", "reason"]
    assert suggestion.loc[["recency", "history", "mens", "region", "channel"], "use"].all()
    forced = uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit", ["recency", "score"])
    assert not forced.checks.passed and forced.evaluation is None
    assert "score (+0.5" in forced.checks.message
    con.close()


def test_a_split_that_is_not_the_intended_one_stops_the_model(tmp_path):
    con = engine.connect(tmp_path / "store.duckdb", shared=False)
    store_with_test(con, tmp_path, email_test(rows=5000, treated_share=0.6, seed=2))
    result = uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit")
    assert not result.checks.passed and result.checks.srm_mismatch
    assert "sample-ratio mismatch" in result.checks.message
    assert result.recommendation_level == "checks"
    with pytest.raises(engine.InsufficientDataError):
        uplift.uplift_list(con, result)
    con.close()


def test_too_small_a_test_states_the_minimum(tmp_path):
    con = engine.connect(tmp_path / "store.duckdb", shared=False)
    store_with_test(con, tmp_path, email_test(rows=600, seed=2))
    result = uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "visit")
    assert not result.checks.passed
    assert f"at least {uplift.MIN_UNITS_PER_ARM:,} in each arm" in result.checks.message
    con.close()


def test_clear_messages_for_wrong_choices(responding):
    con, _, _ = responding
    with pytest.raises(engine.SchemaError, match="no variant 'Womens'"):
        uplift.analyse_uplift(con, "mail", "Womens", None, "visit")
    with pytest.raises(engine.SchemaError, match="not an outcome column"):
        uplift.analyse_uplift(con, "mail", "Mens E-Mail", None, "region")
    with pytest.raises(engine.SchemaError, match="no test 'nope'"):
        uplift.analyse_uplift(con, "nope", "Mens E-Mail", None, "visit")
    with pytest.raises(engine.SchemaError, match="two different variants"):
        uplift.uplift_units(con, "mail", "No E-Mail", "No E-Mail", "visit", [])


def test_targeting_plan_is_the_measured_gain_times_value_minus_cost(responding):
    _, frame, result = responding
    plan = uplift.targeting_plan(result, 0.3, cost_per_send=0.05, value_per_outcome=2.0)
    assert plan.sent == round(0.3 * len(frame))
    assert plan.profit == pytest.approx(2.0 * plan.incremental - 0.05 * plan.sent)
    assert plan.everyone_profit == pytest.approx(
        2.0 * result.evaluation.average_uplift * len(frame) - 0.05 * len(frame)
    )
    # only the North responds (a quarter): the most profitable share is near the top quarter
    assert 0.15 <= plan.best_share <= 0.45


def test_guessing_the_control():
    assert uplift.guess_uplift_control(["Mens E-Mail", "No E-Mail", "Womens E-Mail"])[0] == "No E-Mail"
    assert uplift.guess_uplift_control(["B", "A"])[0] == "A"
    assert uplift.guess_uplift_control(["offer", "holdout group"])[0] == "holdout group"
    assert uplift.guess_uplift_control(["red", "blue"])[0] is None


def test_command_line_writes_the_targeted_list(responding, tmp_path, capsys):
    con, frame, result = responding
    db = con.execute("SELECT file FROM pragma_database_list WHERE name = current_database()").fetchone()[0]
    out = tmp_path / "targets.csv"
    code = cli.main(
        ["uplift", "--experiment", "mail", "--treatment", "Mens E-Mail", "--outcome", "visit", "--out", str(out),
         "--db", db, "--top", "0.3"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "keeps" in printed and "Wrote 1,800 rows" in printed
    written = pd.read_csv(io.StringIO(out.read_bytes().decode("utf-8-sig")))
    assert list(written.columns) == ["row", "uplift", "decile"]
    assert len(written) == 1800 and written["uplift"].is_monotonic_decreasing
    rows = frame.iloc[written["row"].to_numpy() - 1]
    assert (rows["region"] == "North").mean() > 0.7  # the North is a quarter of all rows
    # the page's list and the command line's file are the same ranking
    page_list = uplift.uplift_list(con, result, 0.3)
    assert written["row"].tolist() == page_list["row"].tolist()
    code = cli.main(
        ["uplift", "--experiment", "mail", "--treatment", "Mens E-Mail", "--outcome", "visit", "--out", str(out),
         "--db", db, "--json"]
    )  # fmt: skip
    summary = __import__("json").loads(capsys.readouterr().out)
    assert summary["beats_random"] is True and summary["rows_written"] == len(frame)
    assert summary["kept_share"] == pytest.approx(result.evaluation.kept_share)


def test_command_line_says_why_it_does_not_model(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    con = engine.connect(db, shared=False)
    store_with_test(con, tmp_path, email_test(rows=600, seed=2))
    con.close()
    out = tmp_path / "targets.csv"
    code = cli.main(
        ["uplift", "--experiment", "mail", "--treatment", "Mens E-Mail", "--outcome", "visit", "--out", str(out), "--db", str(db)]
    )  # fmt: skip
    assert code == 1 and not out.exists()
    assert "at least 500 in each arm" in capsys.readouterr().err
    engine.close_all()


def test_ids_that_look_like_formulas_are_neutralised_in_the_export(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    con = engine.connect(db, shared=False)
    frame = email_test(rows=2400, with_customer_ids=True, seed=9)
    frame.loc[0, "customer_id"] = "=HYPERLINK(1)"
    store_with_test(con, tmp_path, frame)
    con.close()
    out = tmp_path / "targets.csv"
    code = cli.main(
        ["uplift", "--experiment", "mail", "--treatment", "Mens E-Mail", "--outcome", "visit", "--out", str(out), "--db", str(db)]
    )  # fmt: skip
    assert code == 0
    text = out.read_bytes().decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text
    engine.close_all()

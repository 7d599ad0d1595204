"""RFM on hand-computed orders: values, the mid-rank tie rule, segment rules, stored results, exports."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import engine

# a: two orders (o1 has two lines), b: one order fully returned, c: no order_id (two lines at the same
# moment are one order), d: one order on the last day, e: buys but is missing from the customers table,
# z: in the customers table without orders.
ORDERS = """
INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount, is_return) VALUES
    ('o1', 'a', '2024-01-01 10:00', 'p1', 1, 10, 10, false),
    ('o1', 'a', '2024-01-01 10:00', 'p2', 1, 5, 5, false),
    ('o2', 'a', '2024-03-01 09:00', 'p1', 1, 10, 10, false),
    ('o3', 'b', '2024-02-01 12:00', 'p1', 2, 10, 20, false),
    ('r3', 'b', '2024-02-05 12:00', 'p1', -2, 10, -20, true),
    (NULL, 'c', '2024-03-10 08:00', 'p1', 1, 30, 30, false),
    (NULL, 'c', '2024-03-10 08:00', 'p2', 1, 30, 30, false),
    (NULL, 'c', '2024-03-11 08:00', 'p2', 1, 30, 30, false),
    ('o5', 'd', '2024-03-11 18:00', 'p3', 1, 40, 40, false),
    ('o6', 'e', '2024-01-15 11:00', 'p3', 1, 5, 5, false)
"""


@pytest.fixture
def shop(con):
    con.execute("INSERT INTO customers (customer_id) VALUES ('a'), ('b'), ('c'), ('d'), ('z')")
    con.execute(ORDERS)
    return con


def expected_frame() -> pd.DataFrame:
    # as of 2024-03-11 (the last order day); 5 buyers, score = 1 + (5 * (below + at_or_below)) // 10
    # R (fewer days is better): e 56 -> 1, b 39 -> 2, a 10 -> 3, c and d 0 (tied) -> 5
    # F: b, d, e with 1 order are tied at the worst value -> 1 (not their mid-rank 2); a, c with 2 -> 5
    # M: b 0 -> 1, e 5 -> 2, a 25 -> 3, d 40 -> 4, c 90 -> 5
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "z"],
            "segment": ["Loyal", "Hibernating", "Champions", "Loyal", "Hibernating", "No purchases"],
            "recency_days": pd.array([10, 39, 0, 0, 56, None], dtype="Int64"),
            "frequency": [2, 1, 2, 1, 1, 0],
            "monetary": [25.0, 0.0, 90.0, 40.0, 5.0, 0.0],
            "r_score": pd.array([3, 2, 5, 5, 1, None], dtype="Int64"),
            "f_score": pd.array([5, 1, 5, 1, 1, None], dtype="Int64"),
            "m_score": pd.array([3, 1, 5, 4, 2, None], dtype="Int64"),
            "fm_score": pd.array([4, 1, 5, 3, 2, None], dtype="Int64"),
            "tenure_days": pd.array([70, 39, 1, 0, 56, None], dtype="Int64"),
            "aov": [12.5, 0.0, 45.0, 40.0, 5.0, None],  # b returned everything: net 0 / 1 order
        }
    )


def test_hand_computed_rfm(shop):
    frame = engine.rfm_scores(shop)
    got = frame.drop(columns=["first_order", "last_order"])
    assert_frame_equal(got, expected_frame(), check_dtype=False)
    assert frame.loc[frame.customer_id == "c", "last_order"].item() == pd.Timestamp("2024-03-11 08:00")


def test_customer_segments_contract(shop):
    frame = engine.customer_segments(shop)
    assert list(frame.columns) == [
        "customer_id",
        "segment",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
    ]
    assert_frame_equal(frame, expected_frame()[list(frame.columns)], check_dtype=False)


def test_as_of_ignores_later_orders(shop):
    frame = engine.rfm_scores(shop, as_of="2024-02-10").set_index("customer_id")
    assert frame.loc["a", ["recency_days", "frequency", "monetary"]].tolist() == [40, 1, 15.0]
    # b's return on Feb 5 is before the as-of date: net zero
    assert frame.loc["b", ["recency_days", "frequency", "monetary"]].tolist() == [9, 1, 0.0]
    assert frame.loc["c", "segment"] == engine.NO_PURCHASES
    assert frame.loc["d", "segment"] == engine.NO_PURCHASES
    assert sorted(frame.index) == ["a", "b", "c", "d", "e", "z"]


def test_segment_table_is_stored_once_per_data_version_and_joinable(shop):
    name = engine.segment_table_name(shop)
    assert engine.segment_table_name(shop) == name
    assert (
        engine.store.result_table(
            shop,
            "rfm",
            {
                "as_of": "2024-03-11",
                "rules": engine.SEGMENT_RULES[engine.rfm.RULE_COLUMNS].to_dict("records"),
            },
        )
        == name
    )
    joined = shop.execute(
        f"SELECT s.segment, sum(o.amount) FROM orders o JOIN {engine.quote_ident(name)} s USING (customer_id) "
        f"GROUP BY s.segment ORDER BY s.segment"
    ).fetchall()
    assert joined == [("Champions", 90.0), ("Hibernating", 5.0), ("Loyal", 65.0)]
    # a new load bumps the data version: the next call recomputes and sees the new order
    shop.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) "
        "VALUES ('o9', 'z', '2024-03-11', 7, false)"
    )
    engine.bump_data_version(shop)
    frame = engine.customer_segments(shop).set_index("customer_id")
    assert frame.loc["z", "segment"] != engine.NO_PURCHASES
    assert frame.loc["z", "monetary"] == 7.0


def test_ties_get_equal_scores_and_reruns_are_identical(con, tmp_path):
    # six customers, four of them tied on every measure; insert order must not matter
    rows = [("t1", 50), ("t2", 50), ("t3", 50), ("t4", 50), ("lo", 10), ("hi", 90)]
    values = ", ".join(f"('{c}-1', '{c}', '2024-05-01', {m}, false)" for c, m in rows)
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES {values}")
    first = engine.rfm_scores(con).set_index("customer_id")
    tied = first.loc[["t1", "t2", "t3", "t4"], ["r_score", "f_score", "m_score"]]
    assert (tied.nunique() == 1).all()
    # M: lo -> 1 + 5*1//12 = 1; ties: below 1, at_or_below 5 -> 1 + 30//12 = 3; hi -> 1 + 55//12 = 5
    assert first.loc[["lo", "t1", "hi"], "m_score"].tolist() == [1, 3, 5]

    shuffled = engine.connect(tmp_path / "shuffled.duckdb", shared=False)
    try:
        values = ", ".join(f"('{c}-1', '{c}', '2024-05-01', {m}, false)" for c, m in reversed(rows))
        shuffled.execute(
            f"INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES {values}"
        )
        assert_frame_equal(engine.rfm_scores(shuffled), engine.rfm_scores(con))
    finally:
        shuffled.close()


def test_single_customer_single_order(con):
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) "
        "VALUES ('1', 'solo', '2024-06-01', 12.5, false)"
    )
    row = engine.rfm_scores(con).iloc[0]
    assert (row.recency_days, row.frequency, row.monetary) == (0, 1, 12.5)
    assert (row.r_score, row.f_score, row.m_score, row.fm_score) == (3, 3, 3, 3)
    assert row.segment == "Loyal"


def test_all_equal_spend_scores_the_middle(con):
    values = ", ".join(f"('{i}', 'c{i}', '2024-06-0{i}', 20, false)" for i in range(1, 6))
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES {values}")
    frame = engine.rfm_scores(con)
    assert frame["m_score"].tolist() == [3] * 5
    assert frame["f_score"].tolist() == [3] * 5
    assert frame["r_score"].tolist() == [1, 2, 3, 4, 5]  # c5 bought last


def test_customer_with_only_returns_counts_as_no_purchase(con):
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES "
        "('r1', 'ret', '2024-06-01', -15, true), ('1', 'buy', '2024-06-02', 10, false)"
    )
    frame = engine.rfm_scores(con).set_index("customer_id")
    assert frame.loc["ret", "segment"] == engine.NO_PURCHASES
    assert frame.loc["ret", "frequency"] == 0
    assert frame.loc["ret", "monetary"] == -15.0


def test_empty_store_gives_empty_frame(con):
    frame = engine.customer_segments(con)
    assert frame.empty
    assert list(frame.columns) == engine.CUSTOMER_SEGMENT_COLUMNS
    assert engine.segment_summary(con).empty


def test_customers_without_orders_are_kept(con):
    con.execute("INSERT INTO customers (customer_id) VALUES ('x'), ('y')")
    frame = engine.customer_segments(con)
    assert frame["segment"].tolist() == [engine.NO_PURCHASES] * 2
    assert frame["frequency"].tolist() == [0, 0]


# ----------------------------------------------------------------------------------------- rules


def test_default_rules_cover_the_grid_and_every_rule_is_reachable():
    grid = engine.rule_grid()
    assert len(grid) == 25
    assert engine.UNCLASSIFIED not in set(grid["segment"])
    assert engine.unreachable_rules() == []
    assert set(grid["rule"]) == set(range(len(engine.SEGMENT_RULES)))
    assert set(grid["segment"]) == set(engine.SEGMENT_RULES["segment"])


def test_every_rule_is_reached_by_the_sql(con):
    """For each rule, a score combination it owns is named by the SQL CASE exactly as the rule table says."""
    case, params = engine.segment_case()
    grid = engine.rule_grid()
    for index, rule in engine.SEGMENT_RULES.iterrows():
        cell = grid[grid["rule"] == index].iloc[0]
        r, fm = int(cell.r_score), int(cell.fm_score)
        got = con.execute(
            f"SELECT {case} FROM (SELECT $r::BIGINT AS r_score, $f::BIGINT AS f_score, $m::BIGINT AS m_score) s",
            params | {"r": r, "f": fm, "m": fm},
        ).fetchone()[0]
        assert got == rule.segment, (index, r, fm)


def test_shadowed_rule_is_reported():
    rules = pd.DataFrame(
        [("Everyone", 1, 5, 1, 5), ("Never", 5, 5, 5, 5)],
        columns=["segment", "r_min", "r_max", "fm_min", "fm_max"],
    )
    assert engine.unreachable_rules(rules) == [1]


def test_rules_override(shop):
    rules = pd.DataFrame(
        [("Top", 5, 5, 4, 5, "best"), ("Recent", 4, 5, 1, 5, "")],
        columns=["segment", "r_min", "r_max", "fm_min", "fm_max", "description"],
    )
    frame = engine.rfm_scores(shop, rules=rules).set_index("customer_id")
    assert frame["segment"].to_dict() == {
        "a": engine.UNCLASSIFIED,
        "b": engine.UNCLASSIFIED,
        "c": "Top",
        "d": "Recent",
        "e": engine.UNCLASSIFIED,
        "z": engine.NO_PURCHASES,
    }
    summary = engine.segment_summary(shop, rules=rules)
    assert summary["segment"].tolist() == ["Top", "Recent", engine.UNCLASSIFIED, engine.NO_PURCHASES]
    # the default result is stored separately and unchanged
    assert engine.rfm_scores(shop).set_index("customer_id").loc["c", "segment"] == "Champions"


@pytest.mark.parametrize(
    "bad, message",
    [
        (pd.DataFrame({"segment": ["x"], "r_min": [1]}), "lacks column"),
        (pd.DataFrame([("x", 0, 5, 1, 5)], columns=engine.rfm.RULE_COLUMNS), "1 <= r_min"),
        (pd.DataFrame([("x", 4, 2, 1, 5)], columns=engine.rfm.RULE_COLUMNS), "1 <= r_min"),
        (pd.DataFrame([("", 1, 5, 1, 5)], columns=engine.rfm.RULE_COLUMNS), "empty segment"),
        (pd.DataFrame([("x", "a", 5, 1, 5)], columns=engine.rfm.RULE_COLUMNS), "whole scores"),
    ],
)
def test_bad_rules_are_refused(bad, message):
    with pytest.raises(engine.SchemaError, match=message):
        engine.validate_rules(bad)


def test_bad_as_of_is_refused(shop):
    with pytest.raises(engine.SchemaError, match="not a date"):
        engine.customer_segments(shop, as_of="yesterday-ish")


# ----------------------------------------------------------------------------------------- summaries


def test_segment_summary_and_grid(shop):
    summary = engine.segment_summary(shop).set_index("segment")
    assert summary.index.tolist() == ["Champions", "Loyal", "Hibernating", "No purchases"]
    assert summary["customers"].tolist() == [1, 2, 2, 1]
    assert summary.loc["Loyal", "revenue"] == 65.0
    assert summary["revenue_share"].sum() == pytest.approx(1.0)
    assert summary.loc["Loyal", "median_recency_days"] == 5.0
    grid = engine.score_grid(shop, y="fm_score")
    assert len(grid) == 25
    assert grid["customers"].sum() == 5
    cell = grid[(grid.r_score == 5) & (grid.fm_score == 5)]
    assert cell["customers"].item() == 1 and cell["revenue"].item() == 90.0
    with pytest.raises(engine.SchemaError):
        engine.score_grid(shop, y="nonsense")


def test_segment_members_export_keeps_scores_and_neutralises_formulas(con):
    con.execute("ALTER TABLE customers ADD COLUMN note VARCHAR")
    con.execute(
        "INSERT INTO customers (customer_id, note) VALUES ('=HYPERLINK(\"x\")', '@SUM(A1)'), "
        "('plain', '+1 call')"
    )
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES "
        "('1', '=HYPERLINK(\"x\")', '2024-01-01', 10, false), ('2', 'plain', '2024-01-02', 20, false)"
    )
    members = engine.segment_members(con)
    assert {"r_score", "f_score", "m_score", "note"} <= set(members.columns)
    text = engine.to_csv_bytes(members).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "'+1 call" in text
    assert engine.segment_members(con, ["Nobody"]).empty
    assert engine.segment_members(con, []).empty
    only = engine.segment_members(con, [members["segment"].iloc[0]])
    assert set(only["segment"]) == {members["segment"].iloc[0]}


def test_default_as_of_is_the_last_order_day(shop):
    assert engine.default_as_of(shop) == dt.date(2024, 3, 11)
    assert engine.resolve_as_of(shop, "2024-02-01") == dt.date(2024, 2, 1)


def test_concurrent_first_calls_compute_once(shop):
    """Several dashboard sessions opening Segments right after a load share one computation."""
    import threading

    names, errors = [], []

    def open_segments() -> None:
        try:
            names.append(engine.segment_table_name(shop.cursor()))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_segments) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(names)) == 1 and len(names) == 4

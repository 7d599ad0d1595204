"""The sample generator is deterministic, the shipped files never drift, and the documented structure holds."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.sample import SAMPLE_TABLES, TRUTH_FILE

STRUCTURE = engine.SAMPLE_STRUCTURE
FILES = (*SAMPLE_TABLES, TRUTH_FILE.removesuffix(".csv"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh generation with the default seed."""
    folder = tmp_path_factory.mktemp("fresh")
    engine.generate_sample(folder)
    return folder


def _truth_sql() -> str:
    return f"read_csv({engine.quote_literal(str(engine.SAMPLE_DIR / TRUTH_FILE))})"


def test_generator_is_deterministic(fresh, tmp_path):
    engine.generate_sample(tmp_path)
    for stem in FILES:
        assert (tmp_path / f"{stem}.csv").read_bytes() == (fresh / f"{stem}.csv").read_bytes(), stem


def test_another_seed_gives_other_data(fresh, tmp_path):
    engine.generate_sample(tmp_path, seed=7)
    assert (tmp_path / "orders.csv").read_bytes() != (fresh / "orders.csv").read_bytes()


def test_shipped_sample_equals_a_fresh_generation(fresh):
    for stem in FILES:
        shipped = engine.SAMPLE_DIR / f"{stem}.csv"
        assert shipped.exists(), f"{shipped} is missing: run python -m engine.sample"
        assert shipped.read_bytes() == (fresh / f"{stem}.csv").read_bytes(), (
            f"{shipped.name} differs from a fresh generation: run python -m engine.sample"
        )


def test_shipped_files_stay_small():
    for stem in FILES:
        assert (engine.SAMPLE_DIR / f"{stem}.csv").stat().st_size < 1_900_000, stem


def test_load_sample_counts_and_bookkeeping(con):
    counts = engine.load_sample(con)
    lines = {
        name: sum(1 for _ in open(engine.SAMPLE_DIR / f"{name}.csv", encoding="utf-8")) - 1
        for name in SAMPLE_TABLES
    }
    assert counts == lines
    assert engine.table_counts(con) == lines
    assert counts["customers"] == STRUCTURE["customers"]
    assert counts["products"] == STRUCTURE["products"]
    assert counts["experiments"] == 2 * STRUCTURE["experiment"]["exposures_per_variant"]
    assert 40_000 <= counts["interactions"] <= 80_000
    assert engine.data_version(con) == 1
    assert engine.is_sample_data(con)
    loads = con.execute(
        "SELECT table_name, mode, is_sample, rows_loaded, data_version FROM _loads ORDER BY load_id"
    ).fetchall()
    assert loads == [(name, "replace", True, counts[name], 1) for name in SAMPLE_TABLES]
    # every row carries the id of its load
    for load_id, name in enumerate(SAMPLE_TABLES, start=1):
        ids = con.execute(f"SELECT DISTINCT _load_id FROM {engine.quote_ident(name)}").fetchall()
        assert ids == [(load_id,)]


def test_load_sample_types_and_extra_columns(con):
    engine.load_sample(con)
    for name in SAMPLE_TABLES:
        columns = dict(engine.table_columns(con, name))
        for column, sql_type in engine.canonical_columns(engine.TABLES[name]):
            assert columns[column] == sql_type, (name, column)
    assert engine.extra_columns(con, "customers") == [
        "age",
        "gender",
        "region",
        "acquisition_channel",
        "loyalty_member",
        "email",
    ]
    assert engine.extra_columns(con, "campaigns") == ["age_band", "device"]
    returns, negative = con.execute(
        "SELECT count(*) FILTER (WHERE is_return), count(*) FILTER (WHERE quantity < 0 OR amount < 0) "
        "FROM orders"
    ).fetchone()
    assert returns == negative > 0
    assert con.execute("SELECT count(*) FROM orders WHERE is_return IS NULL").fetchone()[0] == 0


def test_load_sample_twice_replaces(con):
    first = engine.load_sample(con)
    second = engine.load_sample(con)
    assert first == second
    assert engine.table_counts(con) == first
    assert engine.data_version(con) == 2
    assert con.execute("SELECT count(*) FROM _loads").fetchone()[0] == 2 * len(SAMPLE_TABLES)


def test_load_sample_regenerates_missing_files(con, tmp_path):
    counts = engine.load_sample(con, tmp_path)
    assert (tmp_path / "orders.csv").read_bytes() == (engine.SAMPLE_DIR / "orders.csv").read_bytes()
    assert counts["customers"] == STRUCTURE["customers"]


# ---------------------------------------------------------------- the documented structure

RFM_SQL = f"""
    WITH rfm AS (
        SELECT customer_id,
               date_diff('day', CAST(max(order_date) FILTER (WHERE NOT is_return) AS DATE),
                         DATE '{STRUCTURE["period"]["last_order_day"]}') AS recency_days,
               count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS orders,
               sum(amount) AS monetary
        FROM orders GROUP BY customer_id
    )
    SELECT t.customer_type, median(recency_days) AS recency_days, median(orders) AS orders,
           median(monetary) AS monetary, median(monetary / orders) AS aov
    FROM rfm JOIN {{truth}} t USING (customer_id)
    GROUP BY t.customer_type ORDER BY t.customer_type
"""


def test_type_rfm_medians_are_ordered_as_documented(sample_con):
    medians = sample_con.execute(RFM_SQL.format(truth=_truth_sql())).df().set_index("customer_type")
    order = STRUCTURE["rfm_order"]
    assert medians.loc[order["recency_days_ascending"], "recency_days"].is_monotonic_increasing
    assert medians.loc[order["orders_descending"], "orders"].is_monotonic_decreasing
    assert medians.loc[order["aov_descending"], "aov"].is_monotonic_decreasing
    assert medians.loc[order["monetary_descending"], "monetary"].is_monotonic_decreasing
    assert medians.loc["lapsed", "recency_days"] > 365
    documented = {name: spec["median_aov"] for name, spec in STRUCTURE["customer_types"].items()}
    for name, aov in medians["aov"].items():
        assert aov == pytest.approx(documented[name], rel=0.15), name


def test_every_type_is_present_with_its_share(sample_con):
    rows = sample_con.execute(
        f"SELECT customer_type, count(*) FROM {_truth_sql()} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    shares = {name: spec["share"] for name, spec in STRUCTURE["customer_types"].items()}
    assert {name: n / STRUCTURE["customers"] for name, n in rows} == pytest.approx(shares, abs=1e-3)


def test_prospects_never_ordered_and_lapsed_stopped_in_year_one(sample_con):
    truth = _truth_sql()
    prospects_with_orders, lapsed_2025, no_orders = sample_con.execute(
        f"""SELECT
            (SELECT count(*) FROM orders o JOIN {truth} t USING (customer_id)
             WHERE t.customer_type = 'prospects'),
            (SELECT count(*) FROM orders o JOIN {truth} t USING (customer_id)
             WHERE t.customer_type = 'lapsed' AND NOT o.is_return AND o.order_date >= DATE '2025-01-01'),
            (SELECT count(*) FROM customers c
             WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id))"""
    ).fetchone()
    assert prospects_with_orders == 0
    assert lapsed_2025 == 0
    assert 0.03 <= no_orders / STRUCTURE["customers"] <= 0.05


def test_new_customers_signed_up_in_the_last_90_days(sample_con):
    earliest = sample_con.execute(
        f"SELECT min(c.signup_date) FROM customers c JOIN {_truth_sql()} t USING (customer_id) "
        "WHERE t.customer_type = 'new'"
    ).fetchone()[0]
    assert (np.datetime64(STRUCTURE["period"]["last_order_day"]) - np.datetime64(earliest)).astype(int) < 90


def test_attribute_skews(sample_con):
    rows = sample_con.execute(
        f"""SELECT t.customer_type, avg(CAST(c.loyalty_member AS INTEGER)), median(c.age)
            FROM customers c JOIN {_truth_sql()} t USING (customer_id)
            GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    loyalty = {name: rate for name, rate, _ in rows}
    age = {name: value for name, _, value in rows}
    assert loyalty["champions"] == max(loyalty.values())
    assert 35 <= age["champions"] <= 54
    assert age["bargain_hunters"] < 35 < age["big_spenders"]


def test_each_type_spends_most_on_its_favourite_categories(sample_con):
    rows = sample_con.execute(
        f"""SELECT t.customer_type, p.category, sum(o.amount) AS spend
            FROM orders o JOIN products p USING (product_id) JOIN {_truth_sql()} t USING (customer_id)
            GROUP BY 1, 2 QUALIFY row_number() OVER (PARTITION BY t.customer_type ORDER BY spend DESC) = 1
            ORDER BY 1"""
    ).fetchall()
    for name, top_category, _ in rows:
        assert top_category in STRUCTURE["customer_types"][name]["favourite_categories"], name


def test_clustering_log_rfm_recovers_the_types(sample_con):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    frame = sample_con.execute(
        f"""SELECT t.customer_type,
                   date_diff('day', CAST(max(o.order_date) FILTER (WHERE NOT o.is_return) AS DATE),
                             DATE '{STRUCTURE["period"]["last_order_day"]}') AS recency_days,
                   count(DISTINCT o.order_id) FILTER (WHERE NOT o.is_return) AS orders,
                   greatest(sum(o.amount), 0) AS monetary
            FROM orders o JOIN {_truth_sql()} t USING (customer_id)
            GROUP BY o.customer_id, t.customer_type ORDER BY o.customer_id"""
    ).df()
    features = StandardScaler().fit_transform(np.log1p(frame[["recency_days", "orders", "monetary"]]))
    labels = KMeans(6, n_init=10, random_state=0).fit_predict(features)
    assert adjusted_rand_score(frame["customer_type"], labels) >= 0.6


def test_orders_cover_the_period_with_a_year_end_peak(sample_con):
    first, last, november_december, march_april = sample_con.execute(
        """SELECT min(order_date)::DATE, max(order_date)::DATE,
                  count(DISTINCT order_id) FILTER (WHERE month(order_date) IN (11, 12)),
                  count(DISTINCT order_id) FILTER (WHERE month(order_date) IN (3, 4))
           FROM orders WHERE NOT is_return"""
    ).fetchone()
    assert str(first) == STRUCTURE["period"]["first_order_day"]
    assert str(last) == STRUCTURE["period"]["last_order_day"]
    assert november_december > 1.5 * march_april


def test_order_lines_are_consistent(sample_con):
    bad_amount, unknown_product, unknown_customer = sample_con.execute(
        """SELECT count(*) FILTER (WHERE abs(amount - quantity * unit_price) > 0.005),
                  count(*) FILTER (WHERE product_id NOT IN (SELECT product_id FROM products)),
                  count(*) FILTER (WHERE customer_id NOT IN (SELECT customer_id FROM customers))
           FROM orders"""
    ).fetchone()
    assert (bad_amount, unknown_product, unknown_customer) == (0, 0, 0)


def test_returns_refer_to_an_earlier_purchase(sample_con):
    total, returns, orphan = sample_con.execute(
        """SELECT count(*), count(*) FILTER (WHERE is_return),
                  count(*) FILTER (WHERE is_return AND NOT EXISTS (
                      SELECT 1 FROM orders b WHERE NOT b.is_return AND b.customer_id = r.customer_id
                      AND b.product_id = r.product_id AND b.order_date < r.order_date))
           FROM orders r"""
    ).fetchone()
    assert orphan == 0
    assert returns / total == pytest.approx(STRUCTURE["orders"]["return_share"], abs=0.005)


def test_order_campaigns_match_the_campaign_table(sample_con):
    attributed, mismatched = sample_con.execute(
        """SELECT count(*) FILTER (WHERE campaign_id IS NOT NULL),
                  count(*) FILTER (WHERE campaign_id IS NOT NULL AND NOT EXISTS (
                      SELECT 1 FROM campaigns c WHERE c.campaign_id = o.campaign_id
                      AND c.channel = o.channel AND c.date = CAST(o.order_date AS DATE)))
           FROM orders o WHERE NOT is_return"""
    ).fetchone()
    assert mismatched == 0
    assert attributed > 0


def test_campaign_returns_as_documented(sample_con):
    rows = sample_con.execute(
        "SELECT campaign_id, sum(spend), sum(revenue) FROM campaigns GROUP BY 1 ORDER BY 1"
    ).fetchall()
    documented = STRUCTURE["campaigns"]
    assert [r[0] for r in rows] == sorted(documented)
    for campaign_id, spend, revenue in rows:
        spec = documented[campaign_id]
        if spec["true_roas"] is None:
            assert spend == 0 and revenue > 0, campaign_id
        else:
            assert revenue / spend == pytest.approx(spec["true_roas"], rel=0.2), campaign_id
            assert (revenue > spend) == spec["profitable"], campaign_id
    assert len({c["channel"] for c in documented.values()}) >= 4


def test_experiment_effect_and_equal_split(sample_con):
    rows = sample_con.execute(
        "SELECT variant, count(*), avg(CAST(converted AS INTEGER)), "
        "count(*) FILTER (WHERE NOT converted AND revenue <> 0) "
        "FROM experiments GROUP BY 1 ORDER BY 1"
    ).fetchall()
    (control, n_control, rate_control, bad_c), (treatment, n_treatment, rate_treatment, bad_t) = rows
    assert (control, treatment) == ("control", "treatment")
    assert n_control == n_treatment == STRUCTURE["experiment"]["exposures_per_variant"]
    assert rate_treatment > rate_control
    assert rate_control == pytest.approx(STRUCTURE["experiment"]["control_rate"], abs=0.015)
    assert rate_treatment == pytest.approx(STRUCTURE["experiment"]["treatment_rate"], abs=0.015)
    assert bad_c == bad_t == 0
    distinct = sample_con.execute("SELECT count(DISTINCT customer_id) FROM experiments").fetchone()[0]
    assert distinct == n_control + n_treatment


def test_ratings_follow_category_tastes(sample_con):
    favoured, other = sample_con.execute(
        f"""WITH fav AS (
                SELECT t.customer_id, p.category, count(*) AS n,
                       row_number() OVER (PARTITION BY t.customer_id ORDER BY count(*) DESC, p.category) AS rk
                FROM orders o JOIN products p USING (product_id) JOIN {_truth_sql()} t USING (customer_id)
                WHERE NOT o.is_return GROUP BY 1, 2)
            SELECT avg(i.rating) FILTER (WHERE f.rk = 1), avg(i.rating) FILTER (WHERE f.rk IS NULL)
            FROM interactions i JOIN products p USING (product_id)
            LEFT JOIN fav f ON f.customer_id = i.customer_id AND f.category = p.category"""
    ).fetchone()
    assert favoured > other + 0.8
    ratings = sample_con.execute("SELECT DISTINCT rating FROM interactions ORDER BY 1").fetchall()
    assert ratings == [(1.0,), (2.0,), (3.0,), (4.0,), (5.0,)]


def test_products_include_inactive_and_out_of_stock(sample_con):
    inactive, out_of_stock, categories = sample_con.execute(
        "SELECT count(*) FILTER (WHERE NOT active), count(*) FILTER (WHERE stock = 0), "
        "count(DISTINCT category) FROM products"
    ).fetchone()
    assert inactive > 0 and out_of_stock > 0
    assert categories == len(STRUCTURE["categories"])

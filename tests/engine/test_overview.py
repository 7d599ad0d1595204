"""Overview KPIs, trends, new vs returning and cohorts on hand-computed orders."""

from __future__ import annotations

import pandas as pd

import engine


def test_overview_kpis_by_hand(con):
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return)
        VALUES ('1', 'a', '2024-01-10', 'p', 1, 10, false), ('1', 'a', '2024-01-10', 'q', 1, 5, false),
               ('2', 'a', '2024-02-10', 'p', 1, 20, false), ('3', 'b', '2024-02-11', 'p', 1, 30, false),
               ('4', 'b', '2024-02-12', 'p', -1, -10, true)""")
    k = engine.kpis(con)
    assert (k.customers, k.orders, k.revenue) == (2, 3, 55.0)
    assert k.average_order_value == 55.0 / 3  # revenue / orders, both net (the return lowers it)
    assert k.repeat_rate == 0.5
    trend = engine.revenue_over_time(con, "month")
    assert trend["revenue"].tolist() == [15.0, 40.0]
    assert trend["orders"].tolist() == [1, 2]
    # data from Jan 10 to Feb 12: both months are only partly covered
    assert trend["partial"].tolist() == [True, True]
    jan_1, feb_12 = pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-02-12").date()
    assert engine.partial_periods(trend["period"], "month", jan_1, feb_12) == [
        pd.Timestamp("2024-02-01").date()
    ]
    split = engine.new_vs_returning(con, "month")
    assert split[["new_customers", "returning_customers"]].values.tolist() == [[1, 0], [1, 1]]
    cohorts = engine.cohort_retention(con)
    jan = cohorts[pd.to_datetime(cohorts["cohort"]) == pd.Timestamp("2024-01-01")]
    assert jan[["months_since", "customers", "active"]].values.tolist() == [[0, 1, 1], [1, 1, 1]]


def test_date_bounds_over_orders_and_over_orders_and_campaigns(con):
    import datetime as dt

    assert engine.data_bounds(con) is None and engine.date_span(con) is None
    con.execute("""INSERT INTO campaigns (campaign_id, channel, date, spend)
        VALUES ('c1', 'search', DATE '2023-12-30', 5), ('c1', 'search', DATE '2024-03-02', 5)""")
    assert engine.data_bounds(con) is None  # orders only
    assert engine.date_span(con) == (dt.date(2023, 12, 30), dt.date(2024, 3, 2))
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, amount, is_return)
        VALUES ('1', 'a', '2024-01-10 18:30', 10, false), ('2', 'b', '2024-04-01 09:00', 5, false)""")
    assert engine.data_bounds(con) == (dt.date(2024, 1, 10), dt.date(2024, 4, 1))
    assert engine.date_span(con) == (dt.date(2023, 12, 30), dt.date(2024, 4, 1))


def test_customers_are_counted_from_orders_and_interactions_when_there_is_no_customers_table(con):
    """An invoice log or a ratings file comes without a customers table: the sidebar said "0 customers"
    over 4,372 customers' orders. Guests (no id) are not customers; one id in two tables counts once."""
    con.execute(
        """
        INSERT INTO orders (order_id, customer_id, order_date, amount) VALUES
            ('1', '12346', TIMESTAMP '2011-01-18 10:01', 77183.6), ('2', '12347', TIMESTAMP '2011-01-26 14:30', 10),
            ('3', NULL, TIMESTAMP '2011-02-01 09:00', 5), ('4', '12347', TIMESTAMP '2011-04-07 10:43', 20)
        """
    )
    con.execute(
        "INSERT INTO interactions (customer_id, product_id, rating) VALUES ('196', '242', 3), ('12347', 'x', 5)"
    )
    assert engine.table_counts(con)["customers"] == 0
    assert engine.customer_count(con) == 3  # 12346, 12347, 196
    con.execute("INSERT INTO customers (customer_id) VALUES ('12346'), ('99999')")
    assert engine.customer_count(con) == 4
    # products likewise: none in a products table, one on order lines ('P1'), two rated ('242', 'x')
    con.execute("UPDATE orders SET product_id = 'P1' WHERE order_id = '1'")
    assert engine.table_counts(con)["products"] == 0 and engine.product_count(con) == 3
    con.execute("INSERT INTO products (product_id) VALUES ('P1'), ('P2')")
    assert engine.product_count(con) == 4

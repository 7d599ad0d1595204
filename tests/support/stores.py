"""Small stores built for a test: real files written through the engine's own tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

import engine


def two_tests_store(path) -> pd.DataFrame:
    """A store with a few 2025 orders and three tests, one per customer row: two exposed in 2025 and one
    in 2023 (outside the report's dates)."""
    rng = np.random.default_rng(7)
    rows = []
    for experiment, day, rates in (
        ("checkout_button", "2025-03-10", {"control": 0.10, "treatment": 0.15}),
        ("free_shipping", "2025-06-02", {"control": 0.12, "B": 0.09}),
        ("old_banner", "2023-05-01", {"control": 0.10, "treatment": 0.30}),
    ):
        for variant, rate in rates.items():
            for i in range(1500):
                converted = bool(rng.random() < rate)
                rows.append(
                    (experiment, variant, f"{experiment}-{variant}-{i}", converted, pd.Timestamp(day))
                )
    tests = pd.DataFrame(
        rows, columns=["experiment_id", "variant", "customer_id", "converted", "exposure_date"]
    )
    con = engine.connect(path, shared=False)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount, "
        "is_return) VALUES ('A', 'C1', '2025-01-05', 'P1', 1, 10, 10, false), "
        "('B', 'C2', '2025-02-07', 'P1', 2, 10, 20, false), ('C', 'C1', '2025-11-20', 'P2', 1, 30, 30, false)"
    )
    con.register("tests_frame", tests)
    con.execute(
        "INSERT INTO experiments (experiment_id, variant, customer_id, converted, exposure_date) "
        "SELECT * FROM tests_frame"
    )
    engine.bump_data_version(con)  # loaded data: the app opens it, not the sample
    con.close()
    engine.close_all()
    return tests

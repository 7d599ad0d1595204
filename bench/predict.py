"""Benchmark: BG/NBD + Gamma-Gamma fit and scoring of every customer, against one bare SciPy evaluation of the
BG/NBD log-likelihood over the same customers (the floor: no fit can take less than one pass over them).

    python bench/predict.py                      # 1,000,000 generated customers
    python bench/predict.py --customers 100000   # smaller
    python bench/predict.py --store 1000000      # also the page's whole path from order lines in DuckDB

Customers are simulated from the BG/NBD story itself (Poisson purchases, a drop-out coin after each repeat
purchase) over two years at day resolution, with Gamma-Gamma spend, so the fit also shows how close it
comes to the parameters that made the data. Measures, one after the other on one process:

1. floor: ``gammaln``/``betaln``/``logaddexp`` over all customers once (written out here, not our code);
2. ``engine.predict.fit_models``: both models by maximum likelihood (L-BFGS-B, analytic gradient; customers
   with the same history evaluated once);
3. ``engine.predict.score_customers``: P(alive), expected purchases, churn risk and a 12-month discounted
   CLV for every customer (twelve conditional expectations each).

Goal from the issue: fit + scoring of 1M customers under 30 s on 2 cores. Wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln

import engine
from engine import predict

TRUE = {"r": 0.6, "alpha": 30.0 / 7, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}


def simulate(customers: int, seed: int = 42) -> pd.DataFrame:
    """Per-customer summary (days) of customers simulated from BG/NBD with Gamma-Gamma spend; a repeat
    purchase at time t (days after the first) falls on day ceil(t)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(1, 731, customers).astype(float)  # days since the first purchase
    rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], customers) / 7  # purchases per day
    drop = rng.beta(TRUE["a"], TRUE["b"], customers)
    now, count, last = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    active = np.ones(customers, bool)
    while active.any():
        now[active] += rng.exponential(1 / np.maximum(rate[active], 1e-12))
        bought = active & (now <= age)
        count[bought] += 1
        last[bought] = np.ceil(now[bought])
        active = bought & (rng.random(customers) >= drop)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["gamma"], customers)
    repeat = np.maximum(count, 1)
    mean_spend = rng.gamma(TRUE["p"] * repeat, 1 / (nu * repeat))
    return pd.DataFrame(
        {
            "customer_id": np.arange(customers).astype(str),
            "purchases": (count + 1).astype("int64"),
            "repeat_purchases": count.astype("int64"),
            "recency_days": last.astype("int64"),
            "age_days": age.astype("int64"),
            "average_order_value": mean_spend,
            "monetary": np.where(count > 0, mean_spend, np.nan),
            "first_purchase": pd.Timestamp("2024-01-01"),
        }
    )


def floor_evaluation(frame: pd.DataFrame) -> float:
    """One plain evaluation of the BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) over all rows."""
    x = frame["repeat_purchases"].to_numpy(float)
    tx = frame["recency_days"].to_numpy(float) / 7
    T = frame["age_days"].to_numpy(float) / 7
    r, alpha, a, b = 0.5, 4.0, 0.8, 2.5
    started = time.perf_counter()
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    u = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    v = np.where(
        x > 0, betaln(a + 1, b + np.maximum(x - 1, 0)) - betaln(a, b) - (r + x) * np.log(alpha + tx), -np.inf
    )
    total = float(np.sum(a1 + np.logaddexp(u, v)))
    assert np.isfinite(total)
    return time.perf_counter() - started


def store_path(customers: int) -> None:
    """The page's whole path on a store: order lines -> summary in DuckDB, checks, fit, scoring, stored
    scores (``engine.predict_customers``), then a second call that reads the stored result."""
    frame = simulate(customers, seed=7)
    rng = np.random.default_rng(7)
    repeats = frame["repeat_purchases"].to_numpy()
    last = frame["recency_days"].to_numpy()
    first = np.datetime64("2025-12-31") - frame["age_days"].to_numpy().astype("timedelta64[D]")
    # every customer: the first day, the last purchase day, and the other repeat days drawn before it
    owner = np.repeat(np.arange(customers), repeats + 1)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(repeats + 1) - (repeats + 1), repeats + 1)
    span = np.maximum(last[owner], 1)
    offset = np.where(position == 0, 0, np.where(position == 1, last[owner], rng.integers(1, span + 1)))
    lines = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy()[owner],
            "order_date": first[owner] + offset.astype("timedelta64[D]"),
            "amount": np.round(rng.gamma(4.0, 10.0, len(owner)), 2),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        con = engine.connect(Path(folder) / "bench.duckdb", shared=False)
        cur = con.cursor()
        cur.register("_lines", lines)
        cur.execute("INSERT INTO orders (customer_id, order_date, amount) SELECT * FROM _lines")
        cur.unregister("_lines")
        engine.bump_data_version(cur)
        started = time.perf_counter()
        summary = predict.purchase_summary(cur)
        took = time.perf_counter() - started
        print(
            f"store: {len(lines):,} order lines -> summary of {len(summary.frame):,} customers in DuckDB {took:.2f} s"
        )
        started = time.perf_counter()
        result = predict.predict_customers(cur)
        first_call = time.perf_counter() - started
        started = time.perf_counter()
        predict.predict_customers(cur)
        second = time.perf_counter() - started
        print(
            f"store: predict_customers (summary, checks, fit, scoring, storing {result.customers:,} rows) "
            f"{first_call:.2f} s; again from the store {second:.3f} s"
        )
        started = time.perf_counter()
        check = predict.stored_holdout_check(cur)
        print(f"store: the check on later months {time.perf_counter() - started:.2f} s: {check.sentence}")
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--store", type=int, default=0, help="also time the whole stored path from order lines on this many"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    frame = simulate(args.customers)
    print(
        f"{args.customers:,} simulated customers in {time.perf_counter() - started:.1f} s; "
        f"{(frame['repeat_purchases'] > 0).mean():.0%} bought again"
    )
    summary = predict.PurchaseSummary(
        frame=frame,
        as_of=dt.date(2025, 12, 31),
        first_order=dt.date(2024, 1, 1),
        guest_lines=0,
        return_lines=0,
    )
    floor = min(floor_evaluation(frame) for _ in range(3))
    started = time.perf_counter()
    models = predict.fit_models(summary)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    scores = predict.score_customers(models, summary, horizon_days=365, discount_rate=0.01)
    score = time.perf_counter() - started
    got = models.purchases.params_ | models.spend.params_
    print("fitted: " + ", ".join(f"{k}={v:.3g} (true {TRUE[k]:.3g})" for k, v in got.items()))
    print(
        f"BG/NBD {models.purchases.iterations_} iterations, Gamma-Gamma {models.spend.iterations_}; "
        f"{len(scores):,} customers scored"
    )
    print(f"floor: one bare SciPy log-likelihood evaluation   {floor:7.3f} s   1.0x")
    print(f"fit (both models)                                 {fit:7.3f} s   {fit / floor:5.1f}x")
    print(f"scoring (P(alive), purchases, risk, 12-month CLV) {score:7.3f} s   {score / floor:5.1f}x")
    print(
        f"fit + scoring                                     {fit + score:7.3f} s   {(fit + score) / floor:5.1f}x"
    )
    if args.store:
        store_path(args.store)


if __name__ == "__main__":
    main()

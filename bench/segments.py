"""Benchmark: RFM + named segments and clustering with automatic k, each against a bare baseline.

    python bench/segments.py --scale 0.1     # 100k customers / 1M order lines (about a minute)
    python bench/segments.py --scale 1       # 1M customers / 10M order lines

Generates a synthetic store with SQL (deterministic hashes, no randomness), then measures in one run:

1. ``engine.rfm_table`` (RFM with the mid-rank tie rule, named segments, stored as a result table) vs a bare
   ``GROUP BY`` + ``NTILE`` query materialised into a table over the same orders. Goal: <= 1.3x.
2. ``CustomerClusterer(k="auto").fit`` (silhouette search over k = 2..10 on a 5,000-customer sample,
   bootstrap stability, final fit on everyone) vs one bare ``KMeans(k).fit`` on the same scaled matrix with
   the k that the search chose. Goal: <= 3x.
3. Peak memory: the process's peak resident set size (getrusage) after each phase, and the Python heap
   peak (tracemalloc) during clustering.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sklearn.cluster import KMeans

import engine


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def generate(con: engine.Connection, customers: int, lines: int) -> None:
    """Customers with two attributes and order lines (two per order), four recency profiles, 2% returns."""
    con.execute("ALTER TABLE customers ADD COLUMN region VARCHAR")
    con.execute("ALTER TABLE customers ADD COLUMN age DOUBLE")
    con.execute(
        """
        INSERT INTO customers (customer_id, signup_date, region, age)
        SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0'), DATE '2020-01-01' + CAST(i % 1500 AS INTEGER),
               ['North', 'South', 'East', 'West', 'Capital'][1 + CAST(hash(i, 'r') % 5 AS INTEGER)],
               18 + CAST(hash(i, 'a') % 60 AS DOUBLE)
        FROM range(?) t(i)
        """,
        [customers],
    )
    con.execute(
        """
        INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount,
                            is_return)
        WITH l AS (
            SELECT i, i // 2 AS order_no, hash(i // 2) % $customers AS cust, hash(i, 'ret') % 50 = 0 AS ret
            FROM range($lines) t(i)
        )
        SELECT 'O' || CAST(order_no AS VARCHAR),
               'C' || lpad(CAST(cust AS VARCHAR), 8, '0'),
               TIMESTAMP '2025-12-31 12:00' - INTERVAL (CAST(hash(order_no, 'd') % (60 + (cust % 4) * 250) AS BIGINT)) DAY,
               'P' || CAST(hash(i, 'p') % 500 AS VARCHAR),
               CASE WHEN ret THEN -1 ELSE 1 END,
               round(5 + (hash(i, 'm') % 20000) / 100.0 * (1 + cust % 3), 2),
               CASE WHEN ret THEN -1 ELSE 1 END * round(5 + (hash(i, 'm') % 20000) / 100.0 * (1 + cust % 3), 2),
               ret
        FROM l
        """,
        {"customers": customers, "lines": lines},
    )
    con.execute("CHECKPOINT")


# materialised as a table in the store, as our stored result is
BARE_SQL = """
CREATE OR REPLACE TABLE bare_rfm AS
SELECT customer_id, recency_days, frequency, monetary,
       NTILE(5) OVER (ORDER BY recency_days DESC) AS r_score,
       NTILE(5) OVER (ORDER BY frequency) AS f_score,
       NTILE(5) OVER (ORDER BY monetary) AS m_score
FROM (
    SELECT customer_id,
           date_diff('day', CAST(max(order_date) AS DATE), DATE '2025-12-31') AS recency_days,
           count(DISTINCT order_id) AS frequency,
           sum(amount) AS monetary
    FROM orders
    GROUP BY customer_id
)
"""


def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Run the functions in turns (a, b, a, b ...) so a busy shared machine slows both alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summary(runs: list[float]) -> str:
    return f"min {min(runs):.2f}s, median {statistics.median(runs):.2f}s (runs {[round(t, 2) for t in runs]})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = 1M customers and 10M order lines")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per SQL measurement (median)")
    parser.add_argument("--db", type=Path, default=None, help="store file (default: a temporary file)")
    args = parser.parse_args(argv)

    customers = int(1_000_000 * args.scale)
    lines = int(10_000_000 * args.scale)
    folder = tempfile.mkdtemp(prefix="segmint-bench-")
    path = args.db or Path(folder) / "bench.duckdb"
    con = engine.connect(path, shared=False)
    print(f"scale {args.scale}: {customers:,} customers, {lines:,} order lines -> {path}")

    start = time.perf_counter()
    generate(con, customers, lines)
    print(f"generate: {time.perf_counter() - start:.1f}s   peak RSS {peak_rss_mb():,.0f} MB")

    # --- 1. RFM + named segments vs GROUP BY + NTILE -------------------------------------------------
    def ours_fresh() -> None:
        engine.bump_data_version(con)  # forces a recompute, as a new load would
        engine.rfm_table(con)

    runs = interleaved({"bare": lambda: con.execute(BARE_SQL), "ours": ours_fresh}, args.repeats)
    start = time.perf_counter()
    engine.rfm_table(con)
    cached = time.perf_counter() - start
    start = time.perf_counter()
    engine.customer_segments(con)
    frame_read = time.perf_counter() - start
    print(f"RFM bare GROUP BY + NTILE: {summary(runs['bare'])}")
    print(f"RFM + named segments (stored): {summary(runs['ours'])}")
    print(
        f"  ratio ours / bare: {min(runs['ours']) / min(runs['bare']):.2f}x on the fastest runs, "
        f"{statistics.median(runs['ours']) / statistics.median(runs['bare']):.2f}x on medians (goal <= 1.3x)"
    )
    print(
        f"  rerun (stored result found): {cached * 1000:.1f} ms; customer_segments() as a DataFrame: "
        f"{frame_read:.2f}s"
    )
    print(f"  peak RSS {peak_rss_mb():,.0f} MB")

    # --- 2. clustering with automatic k vs one bare KMeans -------------------------------------------
    features = engine.cluster_features(con)
    print(f"cluster features: {len(features):,} buyers   peak RSS {peak_rss_mb():,.0f} MB")
    tracemalloc.start()
    model = engine.CustomerClusterer(k="auto").fit(features)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    matrix = model.transform(features)
    runs = interleaved(
        {
            "ours": lambda: engine.CustomerClusterer(k="auto").fit(features),
            "bare": lambda: KMeans(n_clusters=model.k_, random_state=42).fit(matrix),
        },
        max(1, args.repeats - 2),
    )
    print(
        f"clustering auto k (chose {model.k_}, silhouette {model.silhouette_:.3f}, stability "
        f"{model.stability_:.3f}): {summary(runs['ours'])}"
    )
    print(
        f"bare KMeans(k={model.k_}).fit on the same {matrix.shape[0]:,} x {matrix.shape[1]} matrix: "
        f"{summary(runs['bare'])}"
    )
    print(
        f"  ratio ours / bare: {min(runs['ours']) / min(runs['bare']):.2f}x on the fastest runs, "
        f"{statistics.median(runs['ours']) / statistics.median(runs['bare']):.2f}x on medians (goal <= 3x)"
    )
    print(f"  Python heap peak during fit {heap_peak / 2**20:,.0f} MB; peak RSS {peak_rss_mb():,.0f} MB")
    print(f"  names: {model.names_}")
    con.close()


if __name__ == "__main__":
    main(sys.argv[1:])

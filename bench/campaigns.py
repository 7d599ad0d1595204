"""Benchmark: the Campaigns and Experiments pages' engine queries against bare SQL aggregates.

Run from the repository root::

    python bench/campaigns.py --scale 0.1   # quick: 200 campaigns x 730 days, 100k exposures
    python bench/campaigns.py               # full: 2,000 campaigns x 730 days (1.46M rows), 1M exposures

Both sides run in the same process on the same generated store (deterministic, hash-based values), each
query timed as the best of ``--repeat`` runs after one warm-up:

- Campaigns: what the page runs on load (totals, metrics per campaign and per channel, weekly trend, funnel
  with attributed orders) against a bare ``GROUP BY`` of the same sums fetched as a DataFrame. Goal: each
  ratio <= 1.3x.
- Experiments: ``analyse_experiment`` (customer-level merge, crossover check, every statistic) against a
  bare ``GROUP BY variant`` of counts, sums and standard deviation, and against bare SQL doing the same
  customer-level merge.

Prints every ratio and the process peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import engine

CHANNELS = ["search", "social", "display", "email", "affiliate", "video"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]


def build_store(path: Path, campaigns: int, days: int, exposures: int, orders: int) -> engine.Connection:
    """A store with generated campaigns (+ an age_band dimension), attributed orders and one A/B test."""
    con = engine.connect(path, shared=False)
    channels = "[" + ", ".join(f"'{c}'" for c in CHANNELS) + "]"
    bands = "[" + ", ".join(f"'{b}'" for b in AGE_BANDS) + "]"
    con.execute('ALTER TABLE campaigns ADD COLUMN "age_band" VARCHAR')
    con.execute(
        f"""
        INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, conversions,
                               revenue, age_band, _load_id)
        WITH rows AS (
            SELECT c, d, hash(c * 100003 + d) AS h
            FROM range({campaigns}) a(c), range({days}) b(d)
        )
        SELECT 'C' || lpad(CAST(c AS VARCHAR), 5, '0'), 'Campaign ' || c,
               {channels}[CAST(1 + c % {len(CHANNELS)} AS BIGINT)],
               DATE '2024-01-01' + CAST(d AS INTEGER),
               round((h % 20000) / 100.0, 2) AS spend,
               1000 + h % 50000 AS impressions,
               (1000 + h % 50000) * ((h // 7) % 50) // 1000 AS clicks,
               ((1000 + h % 50000) * ((h // 7) % 50) // 1000) * ((h // 11) % 40) // 1000 AS conversions,
               CASE WHEN c % 10 = 0 THEN NULL
                    ELSE round(((1000 + h % 50000) * ((h // 7) % 50) // 1000) * ((h // 11) % 40) // 1000
                               * (20 + (h // 13) % 80), 2) END AS revenue,
               {bands}[CAST(1 + (h // 17) % {len(AGE_BANDS)} AS BIGINT)],
               1
        FROM rows
        """
    )
    con.execute(
        f"""
        INSERT INTO orders (order_id, customer_id, order_date, product_id, amount, campaign_id, channel, is_return,
                            _load_id)
        SELECT 'O' || i, 'U' || (hash(i) % 200000), TIMESTAMP '2024-01-01' + INTERVAL (hash(i) % 63072000) SECOND,
               'P' || (hash(i * 3) % 500), round(5 + (hash(i * 7) % 20000) / 100.0, 2),
               CASE WHEN i % 3 = 0 THEN 'C' || lpad(CAST(hash(i * 5) % {campaigns} AS VARCHAR), 5, '0') END,
               CASE WHEN i % 3 = 1 THEN {channels}[CAST(1 + hash(i * 11) % {len(CHANNELS)} AS BIGINT)] END,
               false, 1
        FROM range({orders}) r(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO experiments (experiment_id, variant, customer_id, converted, revenue, exposure_date, exposures,
                                 conversions, _load_id)
        WITH e AS (
            SELECT i, CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant,
                   (hash(i) % 10000) < CASE WHEN i % 2 = 0 THEN 1000 ELSE 1080 END AS converted
            FROM range({exposures}) r(i)
        )
        SELECT 'bench_test', variant, 'U' || i, converted,
               CASE WHEN converted THEN round(20 + (hash(i * 3) % 8000) / 100.0, 2) END,
               TIMESTAMP '2025-01-01' + INTERVAL (i % 2592000) SECOND, 1, CAST(converted AS BIGINT), 1
        FROM e
        """
    )
    con.execute("CHECKPOINT")
    return con


def best_of(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: DuckDB's buffer pool and Python imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


SUMS = "sum(spend), sum(impressions), sum(clicks), sum(conversions), sum(revenue)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 2,000 campaigns and 1M exposures")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    campaigns = max(10, int(2000 * args.scale))
    exposures = max(1000, int(1_000_000 * args.scale))
    orders = max(1000, int(500_000 * args.scale))

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        con = build_store(Path(folder) / "bench.duckdb", campaigns, 730, exposures, orders)
        rows = engine.row_count(con, "campaigns")
        print(
            f"store: {rows:,} campaign rows ({campaigns:,} campaigns x 730 days), {orders:,} orders, "
            f"{exposures:,} exposures; built in {time.perf_counter() - start:.1f} s"
        )
        cases = [
            (
                "totals (KPI cards)",
                lambda: engine.campaign_totals(con),
                lambda: (
                    con.execute(f"SELECT {SUMS} FROM campaigns").df(),
                    con.execute("SELECT count(DISTINCT campaign_id) FROM campaigns").fetchall(),
                ),
            ),
            (
                "metrics per campaign",
                lambda: engine.campaign_metrics(con, "campaign"),
                # the table shows each campaign's name and channel, so the bare query returns them too
                lambda: con.execute(
                    f"SELECT campaign_id, campaign_name, channel, {SUMS} FROM campaigns GROUP BY ALL"
                ).df(),
            ),
            (
                "metrics per channel",
                lambda: engine.campaign_metrics(con, "channel"),
                lambda: con.execute(f"SELECT channel, {SUMS} FROM campaigns GROUP BY channel").df(),
            ),
            (
                "metrics per age_band",
                lambda: engine.campaign_metrics(con, "age_band"),
                lambda: con.execute(f"SELECT age_band, {SUMS} FROM campaigns GROUP BY age_band").df(),
            ),
            (
                "weekly trend",
                lambda: engine.campaign_trend(con, "week"),
                lambda: con.execute(
                    f"SELECT date_trunc('week', date) AS w, {SUMS} FROM campaigns GROUP BY w ORDER BY w"
                ).df(),
            ),
            (
                "funnel per channel (with orders)",
                lambda: engine.campaign_funnel(con, "channel"),
                lambda: (
                    con.execute(
                        "SELECT channel, sum(impressions), sum(clicks), sum(conversions) FROM campaigns GROUP BY 1"
                    ).df(),
                    con.execute(
                        "SELECT coalesce(o.channel, c.channel) AS ch, count(DISTINCT o.order_id), sum(o.amount) "
                        "FROM orders o LEFT JOIN (SELECT DISTINCT campaign_id, channel FROM campaigns) c "
                        "USING (campaign_id) GROUP BY ch"
                    ).df(),
                ),
            ),
            (
                "filter options",
                lambda: engine.campaign_filter_options(con),
                lambda: (
                    con.execute("SELECT DISTINCT channel FROM campaigns").fetchall(),
                    con.execute("SELECT campaign_id, max(campaign_name) FROM campaigns GROUP BY 1").df(),
                    con.execute("SELECT min(date), max(date) FROM campaigns").fetchall(),
                ),
            ),
        ]
        print(f"\n{'Campaigns page query':38s} {'ours (ms)':>10s} {'bare (ms)':>10s} {'ratio':>7s}")
        total_ours = total_bare = 0.0
        for name, ours, bare in cases:
            t_ours, t_bare = best_of(ours, args.repeat), best_of(bare, args.repeat)
            total_ours += t_ours
            total_bare += t_bare
            print(f"{name:38s} {t_ours * 1000:10.1f} {t_bare * 1000:10.1f} {t_ours / t_bare:7.2f}")
        print(
            f"{'whole page load':38s} {total_ours * 1000:10.1f} {total_bare * 1000:10.1f} "
            f"{total_ours / total_bare:7.2f}"
        )

        bare_naive = (
            "SELECT variant, count(*), sum(CAST(converted AS BIGINT)), sum(revenue), stddev_samp(coalesce(revenue, 0)) "
            "FROM experiments WHERE experiment_id = 'bench_test' GROUP BY variant ORDER BY variant"
        )
        bare_merged = """
            WITH u AS (
                SELECT customer_id, min(variant) AS variant, min(variant) <> max(variant) AS crossover,
                       bool_or(converted) AS converted, coalesce(sum(revenue), 0) AS revenue
                FROM experiments WHERE experiment_id = 'bench_test' GROUP BY customer_id
            )
            SELECT variant, count(*), count(*) FILTER (WHERE converted), sum(revenue), stddev_samp(revenue)
            FROM u WHERE NOT crossover GROUP BY variant ORDER BY variant
        """
        t_ours = best_of(lambda: engine.analyse_experiment(con, "bench_test"), args.repeat)
        t_naive = best_of(lambda: con.execute(bare_naive).df(), args.repeat)
        t_merged = best_of(lambda: con.execute(bare_merged).df(), args.repeat)
        print(
            f"\n{'Experiments (' + f'{exposures:,} exposures)':38s} {'ours (ms)':>10s} {'bare (ms)':>10s} {'ratio':>7s}"
        )
        print(
            f"{'vs bare GROUP BY variant':38s} {t_ours * 1000:10.1f} {t_naive * 1000:10.1f} {t_ours / t_naive:7.2f}"
        )
        print(
            f"{'vs bare per-customer merge':38s} {t_ours * 1000:10.1f} {t_merged * 1000:10.1f} "
            f"{t_ours / t_merged:7.2f}"
        )
        result = engine.analyse_experiment(con, "bench_test")
        print(f"verdict: {result.verdict_level}: {result.verdict[:110]}...")
        con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS of this process): {peak:,.0f} MB")


if __name__ == "__main__":
    main()

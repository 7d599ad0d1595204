"""Ingest benchmark: `segmint load` of a large orders CSV vs a bare DuckDB `CREATE TABLE AS read_csv`.

Both run as separate processes on the same file in the same run, so wall time and peak memory (max RSS of
the child) are comparable. Goal: ratio <= 1.5x, peak memory <= 1.5 GB.

    python bench/ingest.py                 # 10,000,000 rows
    python bench/ingest.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

BARE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [sys.argv[2]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""


def make_csv(path: Path, rows: int) -> None:
    """A realistic orders export: ids, timestamps, SKUs, quantities, prices, totals, a channel column."""
    con = duckdb.connect()
    con.execute(
        f"""COPY (
            SELECT 'O' || (i // 3) AS order_id,
                   'C' || (hash(i // 3) % 1000000) AS customer_id,
                   TIMESTAMP '2023-01-01' + INTERVAL (hash(i // 3) % 63072000) SECOND AS order_date,
                   'SKU-' || (hash(i) % 5000) AS product_id,
                   1 + hash(i) % 4 AS quantity,
                   round(5 + (hash(i) % 20000) / 100.0, 2) AS unit_price,
                   round((1 + hash(i) % 4) * (5 + (hash(i) % 20000) / 100.0), 2) AS amount,
                   ['email', 'search', 'social', 'display'][CAST(1 + hash(i) % 4 AS BIGINT)] AS channel
            FROM range({rows}) r(i)
        ) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    con.close()


PEAK_WRAPPER = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    if sys.argv[0] == '-c':
        code = sys.argv[1]; sys.argv = sys.argv[1:]
        exec(compile(code, '<bench>', 'exec'), {'__name__': '__main__'})
    else:
        runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
except SystemExit as exc:
    if exc.code not in (None, 0):
        raise
finally:
    print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
"""


def run_with_peak(args: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = float(proc.stderr.strip().splitlines()[-1].split()[-1])
    return seconds, peak, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", help="folder to keep the CSV in (reused when present)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="segmint-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"orders_{args.rows}.csv"
    if not csv.exists():
        t = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"generated {csv} ({csv.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f}s")
    for name in ("bare.duckdb", "segmint.duckdb"):
        for suffix in ("", ".wal"):
            Path(folder / (name + suffix)).unlink(missing_ok=True)

    bare_s, bare_mb, out = run_with_peak(["-c", BARE, str(folder / "bare.duckdb"), str(csv)])
    rows = int(out.strip().splitlines()[-1])
    ours_s, ours_mb, out = run_with_peak(
        ["engine.cli", "load", str(csv), "--as", "orders", "--yes", "--db", str(folder / "segmint.duckdb")]
    )
    print(out.strip().splitlines()[-1])
    check = duckdb.connect(str(folder / "segmint.duckdb"), read_only=True)
    loaded = check.execute("SELECT count(*) FROM orders").fetchone()[0]
    check.close()
    assert loaded == rows, (loaded, rows)

    print()
    print(f"rows: {rows:,}   file: {csv.stat().st_size / 1e6:,.0f} MB   cores: {os.cpu_count()}")
    print(f"{'':28} {'seconds':>9} {'peak MB':>9}")
    print(f"{'bare CREATE TABLE AS':28} {bare_s:9.2f} {bare_mb:9.0f}")
    print(f"{'segmint load (validated)':28} {ours_s:9.2f} {ours_mb:9.0f}")
    print(f"ratio (segmint / bare): {ours_s / bare_s:.2f}x   goal <= 1.5x")
    print(f"peak memory: {ours_mb / 1024:.2f} GB   goal <= 1.5 GB")


if __name__ == "__main__":
    main()

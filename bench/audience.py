"""Benchmark: a Segment builder definition (count, revenue share, preview) and an audience file, against a
hand-written query of the same filter.

    python -m bench.audience --scale 0.02    # 20k customers / 200k order lines (seconds), from the repository root
    python -m bench.audience --scale 0.1     # 100k customers / 1M order lines

Uses the synthetic store of bench/segments.py. The RFM table is computed first (stored once per data
version, as the page does), then in turns:

1. ``engine.audience_summary`` of "segment in (At Risk, Cannot Lose Them, Hibernating) and region = South
   and age >= 40 and bought product P1 or P2" vs the same filter written by hand over the same stored RFM
   table. Goal: <= 1.5x (the compiled query carries the customer attribute join and parameters).
2. ``engine.audience_members`` with a 200-row preview.
3. ``engine.audience_file(members, "crm")`` for every member (no contact columns here: the cost of shaping).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import engine
from bench.segments import generate, interleaved

DEFINITION = {
    "match": "all",
    "conditions": [
        {"field": "segment", "op": "in", "value": ["At Risk", "Cannot Lose Them", "Hibernating"]},
        {"field": "region", "op": "in", "value": ["South"]},
        {"field": "age", "op": ">=", "value": 40},
        {"field": "bought_product", "op": "any_of", "value": ["P1", "P2"]},
    ],
}

BARE_SQL = """
SELECT count(*), coalesce(sum(t.monetary), 0), (SELECT count(*) FROM {rfm}), (SELECT sum(monetary) FROM {rfm})
FROM {rfm} t JOIN customers c USING (customer_id)
WHERE t.segment IN ('At Risk', 'Cannot Lose Them', 'Hibernating') AND c.region = 'South' AND c.age >= 40
  AND t.customer_id IN (SELECT customer_id FROM orders WHERE product_id IN ('P1', 'P2')
                        AND order_date < $day_after AND NOT is_return)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.02, help="1.0 = 1M customers and 10M order lines")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    customers, lines = int(1_000_000 * args.scale), int(10_000_000 * args.scale)
    path = Path(tempfile.mkdtemp(prefix="segmint-bench-")) / "bench.duckdb"
    con = engine.connect(path, shared=False)
    start = time.perf_counter()
    generate(con, customers, lines)
    engine.bump_data_version(con)
    context = engine.audience_context(con)
    print(
        f"{customers:,} customers, {lines:,} order lines; store and RFM in {time.perf_counter() - start:.1f}s"
    )
    rfm = engine.quote_ident(context.rfm_table)
    day_after = dt.datetime.combine(context.as_of + dt.timedelta(days=1), dt.time())
    bare = BARE_SQL.replace("{rfm}", rfm)
    ours = engine.audience_summary(con, DEFINITION, context)
    theirs = con.execute(bare, {"day_after": day_after}).fetchone()
    assert (ours.members, round(ours.revenue, 2)) == (theirs[0], round(float(theirs[1]), 2)), (ours, theirs)
    times = interleaved(
        {
            "builder": lambda: engine.audience_summary(con, DEFINITION, context),
            "bare": lambda: con.execute(bare, {"day_after": day_after}).fetchone(),
        },
        args.repeats,
    )
    builder, hand = statistics.median(times["builder"]), statistics.median(times["bare"])
    print(
        f"count + revenue share: builder {builder * 1000:.1f} ms, hand-written {hand * 1000:.1f} ms, "
        f"ratio {builder / hand:.2f}x ({ours.members:,} members)"
    )
    start = time.perf_counter()
    engine.audience_members(con, DEFINITION, context, 200)
    print(f"preview (200 rows): {(time.perf_counter() - start) * 1000:.1f} ms")
    members = engine.audience_members(con, DEFINITION, context)
    start = time.perf_counter()
    file = engine.audience_file(members, "crm")
    print(f"CRM list of {file.rows:,} members: {(time.perf_counter() - start) * 1000:.1f} ms")
    con.close()


if __name__ == "__main__":
    main()

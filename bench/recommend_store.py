"""Benchmark: the Recommendations page's first visit on a big store, through the same engine calls.

    python bench/recommend_store.py --scale 0.1    # 100k customers / 1M order lines
    python bench/recommend_store.py                # 1M customers / 10M order lines

The store is generated as in ``bench/segments.py``. Then, as the page does on its first visit after a load:
start training in the background (``engine.start_training``), wait up to the page's ``WAIT_SECONDS`` with
progress, then show best-sellers for the first customer straight from SQL (``best_seller_list``) and the
customer list. Printed: seconds until the first list is on the page (goal: within 60 s), the progress texts
seen, and how long the background training takes until the chosen model's lists replace best-sellers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import engine

sys.path.insert(0, str(Path(__file__).parent))
from segments import generate  # noqa: E402  (the same synthetic store as the segments benchmark)

WAIT_SECONDS = 20.0  # dashboard/app_pages/recommendations.py


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M customers / 10M order lines")
    parser.add_argument(
        "--no-wait", action="store_true", help="stop after the first list (skip full training)"
    )
    args = parser.parse_args()
    customers, lines = int(1_000_000 * args.scale), int(10_000_000 * args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        con = engine.connect(Path(tmp) / "store.duckdb", shared=False)
        started = time.perf_counter()
        generate(con, customers, lines)
        with engine.transaction(con):
            engine.bump_data_version(con)
        print(
            f"store: {customers:,} customers, {lines:,} order lines (generated in {time.perf_counter() - started:.0f} s)"
        )

        visit = time.perf_counter()
        job = engine.start_training(con)
        seen: list[str] = []
        deadline = visit + (WAIT_SECONDS if engine.trains_quickly(con) else 1.0)  # as the page does
        while not job.wait(0.25) and time.perf_counter() < deadline:
            if not seen or seen[-1] != job.text:
                seen.append(job.text)
        ready = job.done
        step = time.perf_counter()
        directory = engine.customer_directory(con)  # the page's customer picker (or id box)
        directory_s = time.perf_counter() - step
        first_id = directory.ids[0]
        step = time.perf_counter()
        if ready:
            first = engine.customer_recommendations(con, job.result(), first_id)
        else:
            first = engine.best_seller_list(con, first_id, engine.RecommendOptions())
        list_s = time.perf_counter() - step
        shown = time.perf_counter() - visit
        kind = "the chosen model's list" if ready else "best-sellers (training goes on in the background)"
        print(
            f"first visit: {len(first)} products for {first_id} on the page after {shown:.1f} s: {kind} "
            f"(goal <= 60 s); customer directory {directory_s:.1f} s, the list {list_s:.1f} s"
        )
        step = time.perf_counter()
        engine.best_seller_list(con, directory.ids[1], engine.RecommendOptions())
        print(
            f"next customer's list: {time.perf_counter() - step:.2f} s (popularity is stored once per data version)"
        )
        if args.no_wait:
            return
        last = None
        while not job.wait(5.0):
            if job.text != last:
                last = job.text
                print(f"   {job.seconds:6.0f} s  {job.fraction:4.0%}  {job.text}")
        job.result()
        model = engine.train_recommender(con)
        print(
            f"background training and every customer's list: {job.seconds:.0f} s; ships {model.training_['label']}"
        )
        for line in engine.choice_summary(model.choice_) if model.choice_ is not None else []:
            print(f"   {line}")


if __name__ == "__main__":
    main()

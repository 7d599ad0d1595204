"""Measured lift over best-sellers on public data, through the product's own path (store, model choice,
shipped model), for the README. The data is not in the repository (MovieLens may not be redistributed):
point the script at your copies.

    python bench/recommend_public.py --movielens /path/to/ml-100k --retail /path/to/online_retail.parquet

1. MovieLens-100k, the standard u1.base / u1.test split: u1.base is loaded as ratings, the model is chosen
   and trained exactly as on a retrain, and the shipped model and best-sellers are scored on u1.test
   (NDCG@10, hit rate, catalogue coverage; a held-out product counts when rated 4 or more, and also shown
   with every held-out product counting). Goal: NDCG@10 >= 1.4x best-sellers.
2. UCI Online Retail invoice log (orders only): trained on everything before a date (``--train-until``,
   default 90 days before the last invoice), scored on what customers bought for the first time in the
   next 90 days. Goals: NDCG@10 >= 1.5x and hit rate >= 1.3x best-sellers; the shipped lists cover >= 20%
   of the catalogue.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

import engine
from engine.recommend import Split, evaluate_models, training_data


def insert(con, table: str, frame: pd.DataFrame) -> None:
    cols = ", ".join(engine.quote_ident(c) for c in frame.columns)
    with engine.transaction(con):
        con.register("_rows", frame)
        try:
            con.execute(f"INSERT INTO {engine.quote_ident(table)} ({cols}) SELECT {cols} FROM _rows")
        finally:
            con.unregister("_rows")
        engine.bump_data_version(con)


def report(name: str, shipped: str, frame: pd.DataFrame, coverage: float | None = None) -> None:
    rows = frame.set_index("model")
    ours, pop = rows.loc[shipped], rows.loc["popular"]
    print(
        f"   {name}: shipped {ours['label']}: NDCG@10 {ours['ndcg']:.3f} vs best-sellers {pop['ndcg']:.3f} = "
        f"{ours['ndcg'] / pop['ndcg']:.2f}x (95% interval {ours['lift_low']:.2f}-{ours['lift_high']:.2f}); "
        f"hit rate {ours['hit_rate']:.3f} vs {pop['hit_rate']:.3f} = {ours['hit_rate'] / pop['hit_rate']:.2f}x; "
        f"coverage of the scored lists {ours['coverage']:.1%} vs {pop['coverage']:.1%}; "
        f"{int(ours['customers']):,} customers scored"
    )
    if coverage is not None:
        print(f"   shipped lists for every customer cover {coverage:.1%} of the catalogue")


def movielens(folder: Path, workdir: Path) -> None:
    names = ["customer_id", "product_id", "rating", "ts"]
    base = pd.read_csv(folder / "u1.base", sep="\t", names=names, dtype=str)
    test = pd.read_csv(folder / "u1.test", sep="\t", names=names, dtype=str)
    for part in (base, test):
        part["rating"] = part["rating"].astype(float)
        part["timestamp"] = pd.to_datetime(part["ts"].astype("int64"), unit="s")
    con = engine.connect(workdir / "movielens.duckdb", shared=False)
    insert(con, "interactions", base[["customer_id", "product_id", "rating", "timestamp"]])
    started = time.perf_counter()
    shipped = engine.train_recommender(con)
    seconds = time.perf_counter() - started
    choice = shipped.choice_
    print(f"\n1. MovieLens-100k u1.base/u1.test ({len(base):,} / {len(test):,} ratings)")
    print(f"   retrain (choice over every candidate + final fit) {seconds:.1f} s; choice: {choice.label}")
    print("   " + "\n   ".join(engine.choice_summary(choice)))
    data = training_data(con)
    held = test.rename(columns={"timestamp": "last_at"})[["customer_id", "product_id", "rating", "last_at"]]
    held["explicit"] = True
    for counted, liked in (("rated 4+", held["rating"] >= 4), ("every held-out rating", True)):
        part = held.assign(liked=liked)
        split = Split(data.ratings, part, "given", "u1.base / u1.test")
        result = evaluate_models(data, split=split, models=(choice.model, "popular"), max_customers=None)
        report(f"u1.test, {counted}", choice.model, result.metrics)
    everything = evaluate_models(
        data,
        split=Split(data.ratings, held.assign(liked=held["rating"] >= 4), "given", ""),
        max_customers=None,
    )
    print("   every candidate on u1.test (rated 4+):")
    for row in everything.metrics.itertuples():
        print(
            f"     {row.label:<40} NDCG@10 {row.ndcg:.3f}  lift {row.lift:.2f}x  hit rate {row.hit_rate:.3f}  coverage {row.coverage:.1%}"
        )
    con.close()


def retail(path: Path, workdir: Path, until: str | None) -> None:
    raw = pd.read_parquet(path)
    raw = raw[raw["CustomerID"].notna()]
    orders = pd.DataFrame(
        {
            "order_id": raw["InvoiceNo"].astype(str),
            "customer_id": raw["CustomerID"].astype("int64").astype(str),
            "order_date": pd.to_datetime(raw["InvoiceDate"]),
            "product_id": raw["StockCode"].astype(str),
            "quantity": raw["Quantity"].astype(float),
            "unit_price": raw["UnitPrice"].astype(float),
            "amount": (raw["Quantity"] * raw["UnitPrice"]).astype(float),
            "is_return": raw["Quantity"] < 0,
        }
    )
    cutoff = pd.Timestamp(until) if until else orders["order_date"].max().normalize() - pd.Timedelta(days=90)
    con = engine.connect(workdir / "retail.duckdb", shared=False)
    insert(con, "orders", orders)
    started = time.perf_counter()
    table = engine.recommendations_table(con, until=cutoff)
    seconds = time.perf_counter() - started
    shipped = engine.train_recommender(con, until=cutoff)
    choice = shipped.choice_
    print(
        f"\n2. Online Retail invoice log ({len(orders):,} lines, {orders['customer_id'].nunique():,} customers, "
        f"{orders['product_id'].nunique():,} products); trained before {cutoff:%Y-%m-%d}"
    )
    print(f"   retrain + every customer's list {seconds:.1f} s; choice: {choice.label}")
    print("   " + "\n   ".join(engine.choice_summary(choice)))
    before = training_data(con, until=cutoff)
    window = training_data(con, until=cutoff + pd.Timedelta(days=90))
    known = pd.MultiIndex.from_frame(before.ratings[["customer_id", "product_id"]])
    pairs = pd.MultiIndex.from_frame(window.ratings[["customer_id", "product_id"]])
    test = window.ratings[~pairs.isin(known)]
    split = Split(before.ratings, test, "date", "next 90 days")
    result = evaluate_models(before, split=split, max_customers=None)
    summary = engine.recommendation_summary(con, table)
    coverage = summary["distinct_products"] / max(len(shipped.item_ids_), 1)
    report("next 90 days", choice.model, result.metrics, coverage)
    print("   every candidate on the next 90 days:")
    for row in result.metrics.itertuples():
        print(
            f"     {row.label:<40} NDCG@10 {row.ndcg:.4f}  lift {row.lift:.2f}x  hit rate {row.hit_rate:.3f}  coverage {row.coverage:.1%}"
        )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--movielens", type=Path, help="folder holding u1.base and u1.test")
    parser.add_argument("--retail", type=Path, help="the UCI Online Retail file (Parquet)")
    parser.add_argument("--train-until", help="Online Retail cut-off date (default: 90 days before the end)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.movielens:
            movielens(args.movielens, Path(tmp))
        if args.retail:
            retail(args.retail, Path(tmp), args.train_until)


if __name__ == "__main__":
    main()

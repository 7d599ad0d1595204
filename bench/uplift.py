"""Benchmark: uplift fitting on a 64,000-row test with 10 attributes, against a plain two-model baseline.

    python bench/uplift.py                       # generated test, 64,000 rows x 10 attributes
    python bench/uplift.py --hillstrom FILE.csv  # also the public MineThatData e-mail test, every arm/outcome

Measures in one run, side by side:

1. ``engine.analyse_uplift`` from the stored test (checks, 5-fold cross-fitting of the X-learner, T-learner
   and class transformation, held-out evaluation with 200 bootstrap replicates, deciles, profiles, storing
   the ranked list), with its progress lines. Goal: under 20 s on 2 cores.
2. The baseline: a plain two-model gradient boosting (scikit-learn defaults) with 5-fold cross-fitting on
   the same units and attributes, scored with the same evaluation. Both run on one OpenMP thread (ours does
   by default): on a shared 2-core machine two spinning threads per fit are many times slower, not faster.

Wall time depends on what else runs on the machine; CPU time (one thread) is what an idle machine would take.

Both are judged by the same held-out figures: the observed uplift of the top tenth and the top 30% against
the average (random targeting gives 1.00x) and the Qini coefficient with its bootstrap interval.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn.ensemble  # noqa: F401  (OpenMP loaded before thread limits are set)
from threadpoolctl import threadpool_limits

import engine
from engine import uplift


def generated_test(rows: int, seed: int = 42) -> pd.DataFrame:
    """A Hillstrom-shaped test with 10 attributes; the e-mail works more on recent, high-spending women
    buyers and on the web channel, and not at all on the rest."""
    rng = np.random.default_rng(seed)
    treated = rng.random(rows) < 0.5
    frame = pd.DataFrame(
        {
            "recency": rng.integers(1, 13, rows),
            "history": np.round(rng.gamma(2.0, 120.0, rows), 2),
            "mens": rng.integers(0, 2, rows),
            "womens": rng.integers(0, 2, rows),
            "newbie": rng.integers(0, 2, rows),
            "zip_code": rng.choice(["Urban", "Surburban", "Rural"], rows),
            "channel": rng.choice(["Web", "Phone", "Multichannel"], rows),
            "age": rng.integers(18, 80, rows),
            "tenure_days": rng.integers(30, 3000, rows),
            "region": rng.choice(["North", "South", "East", "West", "Capital"], rows),
            "segment": np.where(treated, "E-Mail", "No E-Mail"),
        }
    )
    effect = (
        0.04 * frame["womens"]
        + 0.05 * (frame["history"] > 300)
        + 0.03 * (frame["channel"] == "Web")
        + 0.02 * (frame["recency"] <= 3)
    )
    rate = 0.08 + 0.02 * frame["mens"] + treated * effect
    frame["visit"] = (rng.random(rows) < rate).astype(int)
    return frame


def load(con, path: Path, experiment_id: str) -> float:
    started = time.perf_counter()
    staged = engine.read_upload(con, path, path.name, limits=engine.COMMAND_LINE_LIMITS)
    mapping = engine.suggest_mapping(con, staged, "experiments")
    overrides = {
        "experiment_id": f":{experiment_id}",
        "variant": "segment",
        "customer_id": "",
        "exposures": "",
    }
    mapping = engine.apply_overrides(con, mapping, overrides, staged)
    engine.load(con, staged, mapping, "replace", accept_rejects=True, confirm=True)
    engine.discard(con, staged)
    return time.perf_counter() - started


def baseline(X: np.ndarray, categorical: np.ndarray, treated: np.ndarray, y: np.ndarray, seed: int = 0):
    """Plain two-model gradient boosting (defaults), 5-fold cross-fitting: each unit scored out of fold."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(y))
    binary = set(np.unique(y)) <= {0.0, 1.0}
    for fit_rows, held_out in StratifiedKFold(5, shuffle=True, random_state=seed).split(
        X, treated * 2 + (y > 0)
    ):
        predictions = []
        for arm in (True, False):
            rows = fit_rows[treated[fit_rows] == arm]
            if binary:
                model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
                predictions.append(model.fit(X[rows], y[rows]).predict_proba(X[held_out])[:, 1])
            else:
                from sklearn.ensemble import HistGradientBoostingRegressor

                model = HistGradientBoostingRegressor(categorical_features=categorical, random_state=seed)
                predictions.append(model.fit(X[rows], y[rows]).predict(X[held_out]))
        scores[held_out] = predictions[0] - predictions[1]
    return scores


def compare(con, experiment_id: str, treatment: str, control: str, outcome: str, label: str) -> dict:
    suggestion = uplift.suggest_uplift_attributes(con, experiment_id, treatment, control, outcome)
    attributes = suggestion.loc[suggestion["use"], "column"].tolist()
    last = [time.perf_counter()]

    def progress(fraction: float, text: str) -> None:
        now = time.perf_counter()
        print(f"    {fraction:5.0%} {text} (+{now - last[0]:.2f} s)")
        last[0] = now

    started, cpu = time.perf_counter(), time.process_time()
    result = uplift.analyse_uplift(
        con, experiment_id, treatment, control, outcome, attributes, progress=progress, use_stored=False
    )
    ours, ours_cpu = time.perf_counter() - started, time.process_time() - cpu
    units = uplift.uplift_units(con, experiment_id, treatment, control, outcome, attributes)
    X, categorical = uplift.uplift_features(units.frame, units.kinds)
    treated = units.frame["_u_treated"].to_numpy(bool)
    y = units.frame["_u_outcome"].to_numpy(float)
    started, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1, user_api="openmp"):  # the same footing as ours on a shared machine
        scores = baseline(X, categorical, treated, y)
    base_seconds, base_cpu = time.perf_counter() - started, time.process_time() - cpu
    base = uplift.evaluate_uplift(scores, treated, y)
    ev = result.evaluation
    row = {
        "test": label,
        "units": len(y),
        "attributes": len(attributes),
        "segmint_s": ours,
        "segmint_cpu_s": ours_cpu,
        "baseline_s": base_seconds,
        "baseline_cpu_s": base_cpu,
        "cpu_ratio": ours_cpu / base_cpu,
        "segmint_top10": ev.top_decile_ratio,
        "baseline_top10": base.top_decile_ratio,
        "segmint_top30": ev.top_share_ratio,
        "baseline_top30": base.top_share_ratio,
        "segmint_kept30": ev.kept_share,
        "segmint_qini": ev.qini_coefficient,
        "segmint_qini_low": ev.qini_low,
        "segmint_qini_high": ev.qini_high,
        "baseline_qini": base.qini_coefficient,
        "baseline_qini_low": base.qini_low,
        "baseline_qini_high": base.qini_high,
        "beats_random": ev.beats_random,
        "verdict": result.headline,
    }
    for learner in result.learners.itertuples():
        row[f"{learner.learner}_top10"] = learner.top_decile_ratio
        row[f"{learner.learner}_qini"] = learner.qini_coefficient
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--hillstrom", help="Kevin Hillstrom's MineThatData e-mail test CSV (64,000 rows)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        con = engine.connect(Path(folder) / "bench.duckdb", shared=False)
        path = Path(folder) / "generated.csv"
        generated_test(args.rows).to_csv(path, index=False)
        print(f"generated test: {args.rows:,} rows, loaded in {load(con, path, 'generated'):.1f} s")
        rows.append(compare(con, "generated", "E-Mail", "No E-Mail", "visit", "generated, visit"))
        if args.hillstrom:
            print(f"Hillstrom loaded in {load(con, Path(args.hillstrom), 'hillstrom'):.1f} s")
            for treatment in ("Mens E-Mail", "Womens E-Mail"):
                for outcome in ("visit", "converted", "spend"):
                    print(f"  {treatment} / {outcome}")
                    rows.append(
                        compare(
                            con,
                            "hillstrom",
                            treatment,
                            "No E-Mail",
                            outcome,
                            f"Hillstrom {treatment}, {outcome}",
                        )
                    )
        con.close()
    table = pd.DataFrame(rows)
    with pd.option_context(
        "display.width", 250, "display.max_columns", 40, "display.float_format", "{:.4g}".format
    ):
        print(table.drop(columns=["verdict"]).to_string(index=False))
        print(table[["test", "verdict"]].to_string(index=False))
    goal, cpu = table.iloc[0]["segmint_s"], table.iloc[0]["segmint_cpu_s"]
    print(
        f"\nGoal: 64,000 x 10 fitted under 20 s: {goal:.1f} s wall ({cpu:.1f} s of CPU, one thread) -> "
        f"{'met' if goal < 20 else 'NOT met'}; load average now {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

"""Tuning the rating model: a small grid searched with Surprise's GridSearchCV (k-fold RMSE and MAE)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.recommend.data import ProgressFn, TrainingData, _no_progress
from engine.recommend.models import AUTO_NEGATIVES
from engine.recommend.service import svd_settings
from engine.recommend.trainset import sample_negatives

#: The small grid ``tune_recommender`` searches with Surprise's GridSearchCV (4 combinations x 3 folds).
TUNING_GRID: dict[str, list[Any]] = {"n_factors": [20, 50], "reg_all": [0.05, 0.15]}


@dataclass(frozen=True)
class TuningResult:
    """Grid-search outcome: the best parameters by RMSE and every combination's cross-validated scores."""

    best_params: dict[str, Any]
    table: pd.DataFrame


def tune_recommender(
    data: TrainingData,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    base_params: Mapping[str, Any] | None = None,
    cv: int = 3,
    progress: ProgressFn | None = None,
) -> TuningResult:
    """Search a small grid with Surprise's ``GridSearchCV`` (k-fold, RMSE and MAE), one combination at a
    time so progress can be shown.

    Returns
    -------
    TuningResult
        ``table``: one row per combination with its parameters, rmse and mae (mean over folds), best first.
    """
    from surprise import SVD, Dataset, Reader
    from surprise.model_selection import GridSearchCV, KFold

    grid = dict(TUNING_GRID if grid is None else grid)
    base = svd_settings(base_params)
    report = progress or _no_progress
    frame = data.ratings[["customer_id", "product_id", "rating"]]
    ratio = base["implicit_negatives"]
    ratio = (0.0 if data.has_explicit else AUTO_NEGATIVES) if ratio is None else float(ratio)
    if ratio > 0:  # score the settings on telling chosen from never-chosen products too, as the model learns
        negatives = sample_negatives(frame, ratio, data.rating_scale[0], int(base["random_state"]))
        frame = pd.concat([frame, negatives], ignore_index=True)
    dataset = Dataset.load_from_df(frame, Reader(rating_scale=data.rating_scale))
    names = sorted(grid)
    combos = list(itertools.product(*(grid[name] for name in names)))
    rows = []
    for done, values in enumerate(combos):
        chosen = dict(zip(names, values, strict=True))
        svd_params = {k: v for k, v in {**base, **chosen}.items() if k in _SVD_PARAMS}
        search = GridSearchCV(
            SVD,
            {k: [v] for k, v in svd_params.items()},
            measures=["rmse", "mae"],
            cv=KFold(n_splits=cv, random_state=int(base["random_state"]), shuffle=True),
            n_jobs=1,
        )
        search.fit(dataset)
        rows.append(
            {**chosen, "rmse": float(search.best_score["rmse"]), "mae": float(search.best_score["mae"])}
        )
        report((done + 1) / len(combos), f"Tried {done + 1} of {len(combos)} settings")
    table = pd.DataFrame(rows).sort_values(["rmse", *names], kind="stable").reset_index(drop=True)
    best = {**base, **{k: _plain(table.loc[0, k]) for k in names}}
    return TuningResult(best, table)


_SVD_PARAMS = ("n_factors", "n_epochs", "lr_all", "reg_all", "random_state")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


__all__ = ["TUNING_GRID", "TuningResult", "tune_recommender"]

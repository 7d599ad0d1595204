"""Honest evaluation and model choice: holdout splits, rating and ranking metrics, every candidate
compared with best-sellers on the same customers, the lift over best-sellers with a bootstrap interval over
customers, and the rule that picks the model that ships.

Ranking metrics follow the usual binary-relevance definitions (a held-out product the customer liked and
did not have in training is relevant); every average is over customers with at least one relevant held-out
product who are known to the training part. The interval of a lift is a paired percentile bootstrap over
those customers (``scipy.stats.bootstrap``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import time
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from engine.errors import EngineError, InsufficientDataError
from engine.recommend.data import ProgressFn, TrainingData, _no_progress
from engine.recommend.models import (
    MODEL_CLASSES,
    BestSellers,
    Blend,
    RankingModel,
)

# ----------------------------------------------------------------------------------------- metrics


def rmse(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Root mean squared error; NaN for no pairs."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean((a - p) ** 2))) if len(a) else math.nan


def mae(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute error; NaN for no pairs."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(a - p))) if len(a) else math.nan


def _encode_lists(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hits users x k bool, relevant counts, list lengths) for lists of arbitrary ids."""
    if len(recommended) != len(relevant):
        raise EngineError(
            f"recommended and relevant must have one entry per customer; got {len(recommended)} and "
            f"{len(relevant)}."
        )
    hits = np.zeros((len(recommended), k), dtype=bool)
    lengths = np.zeros(len(recommended), dtype=np.int64)
    n_relevant = np.zeros(len(recommended), dtype=np.int64)
    for row, (recs, rel) in enumerate(zip(recommended, relevant, strict=True)):
        wanted = set(rel)
        top = list(recs)[:k]
        lengths[row] = len(top)
        n_relevant[row] = len(wanted)
        hits[row, : len(top)] = [item in wanted for item in top]
    return hits, n_relevant, lengths


def _ranking_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG, MAP and hit rate at k over customers with a relevant item."""
    use = n_relevant > 0
    if not use.any():
        return {m: math.nan for m in ("precision", "recall", "ndcg", "map", "hit_rate")} | {
            "hits": 0,
            "relevant": 0,
            "customers": 0,
        }
    hits, n_rel = hits[use], n_relevant[use]
    n_hits = hits.sum(axis=1)
    ranks = np.arange(1, k + 1)
    discounts = 1.0 / np.log2(ranks + 1)
    dcg = (hits * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k) - 1]
    precision_at = np.cumsum(hits, axis=1) / ranks
    average_precision = (precision_at * hits).sum(axis=1) / np.minimum(n_rel, k)
    return {
        "precision": float(np.mean(n_hits / k)),
        "recall": float(np.mean(n_hits / n_rel)),
        "ndcg": float(np.mean(dcg / ideal)),
        "map": float(np.mean(average_precision)),
        "hit_rate": float(np.mean(n_hits > 0)),
        "hits": int(n_hits.sum()),
        "relevant": int(n_rel.sum()),
        "customers": int(use.sum()),
    }


def precision_at_k(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int = 10
) -> float:
    """Mean share of the top ``k`` that is relevant (a shorter list still divides by ``k``)."""
    return _ranking_from_hits(*_encode_lists(recommended, relevant, k)[:2], k)["precision"]


def recall_at_k(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int = 10
) -> float:
    """Mean share of each customer's relevant products found in their top ``k``."""
    return _ranking_from_hits(*_encode_lists(recommended, relevant, k)[:2], k)["recall"]


def ndcg_at_k(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int = 10
) -> float:
    """Mean normalised discounted cumulative gain with binary relevance: DCG = sum of 1 / log2(rank + 1)
    over hits, divided by the DCG of a list with all min(|relevant|, k) relevant products first."""
    return _ranking_from_hits(*_encode_lists(recommended, relevant, k)[:2], k)["ndcg"]


def map_at_k(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int = 10
) -> float:
    """Mean average precision: per customer the sum of precision@i at each hit i, divided by
    min(|relevant|, k)."""
    return _ranking_from_hits(*_encode_lists(recommended, relevant, k)[:2], k)["map"]


def hit_rate_at_k(
    recommended: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], k: int = 10
) -> float:
    """Share of customers with at least one relevant product in their top ``k``."""
    return _ranking_from_hits(*_encode_lists(recommended, relevant, k)[:2], k)["hit_rate"]


def catalogue_coverage(recommended: Sequence[Sequence[Hashable]], catalogue_size: int) -> float:
    """Distinct products recommended to anyone, as a share of the catalogue."""
    if catalogue_size <= 0:
        return math.nan
    return len({item for recs in recommended for item in recs}) / catalogue_size


def novelty(
    recommended: Sequence[Sequence[Hashable]], popularity: Mapping[Hashable, int], n_customers: int
) -> float:
    """Mean self-information of the recommended products, -log2(share of customers who chose the product
    in training); higher means less obvious picks. A product unseen in training counts as chosen once."""
    values = [
        -math.log2(max(popularity.get(item, 0), 1) / n_customers) for recs in recommended for item in recs
    ]
    return float(np.mean(values)) if values else math.nan


def personalisation(recommended: Sequence[Sequence[Hashable]]) -> float:
    """1 - the mean cosine similarity between two customers' lists (as sets): 0 when everyone gets the same
    list, 1 when no two lists share a product. Customers with an empty list are left out."""
    lists = [set(recs) for recs in recommended if len(recs)]
    if len(lists) < 2:
        return math.nan
    codes, _ = pd.factorize(pd.Series([item for s in lists for item in s], dtype=object))
    sizes = np.array([len(s) for s in lists])
    weights = np.repeat(1.0 / np.sqrt(sizes), sizes)
    total = np.bincount(codes, weights=weights)
    pair_sum = float(total @ total) - len(lists)  # sum over ordered pairs u != v of cos(u, v)
    return 1.0 - pair_sum / (len(lists) * (len(lists) - 1))


def categories_per_list(
    recommended: Sequence[Sequence[Hashable]], item_categories: Mapping[Hashable, str]
) -> float:
    """Mean number of distinct categories in a customer's list (products without a category left out);
    a direct reading of how varied each list is."""
    counts = [
        len({item_categories[i] for i in recs if i in item_categories}) for recs in recommended if len(recs)
    ]
    return float(np.mean(counts)) if counts else math.nan


def ranking_metrics(
    recommended: Sequence[Sequence[Hashable]],
    relevant: Sequence[Collection[Hashable]],
    k: int = 10,
    *,
    catalogue_size: int | None = None,
    popularity: Mapping[Hashable, int] | None = None,
    n_customers: int | None = None,
    item_categories: Mapping[Hashable, str] | None = None,
) -> dict[str, float]:
    """Every ranking metric at once: precision, recall, ndcg, map, hit_rate (means over customers with a
    relevant product), hits and relevant (totals), personalisation, and when their inputs are given
    coverage, novelty and categories_per_list."""
    hits, n_rel, _ = _encode_lists(recommended, relevant, k)
    out: dict[str, float] = _ranking_from_hits(hits, n_rel, k)
    lists = [list(r)[:k] for r in recommended]
    out["coverage"] = catalogue_coverage(lists, catalogue_size) if catalogue_size else math.nan
    out["novelty"] = (
        novelty(lists, popularity, n_customers) if popularity is not None and n_customers else math.nan
    )
    out["personalisation"] = personalisation(lists)
    out["categories_per_list"] = categories_per_list(lists, item_categories) if item_categories else math.nan
    return out


# ----------------------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """A holdout split of the training pairs: ``train`` and ``test`` frames and a plain description."""

    train: pd.DataFrame
    test: pd.DataFrame
    kind: str
    description: str
    cutoff: dt.datetime | None = None


def random_split(ratings: pd.DataFrame, test_size: float = 0.2, random_state: int = 42) -> Split:
    """Hold out a random ``test_size`` share of all ratings (seeded)."""
    if not 0 < test_size < 1:
        raise EngineError(f"test_size must be between 0 and 1, got {test_size}.")
    rng = np.random.default_rng(random_state)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[rng.permutation(len(ratings))[: int(round(test_size * len(ratings)))]] = True
    return Split(
        ratings[~in_test].reset_index(drop=True),
        ratings[in_test].reset_index(drop=True),
        "random",
        f"A random {test_size:.0%} of all ratings was held out; the model learned from the rest.",
    )


def time_split(ratings: pd.DataFrame, test_size: float = 0.2, min_history: int = 3) -> Split:
    """Per customer, hold out their latest ratings or purchases ("what they did next").

    Customers with at least ``min_history`` rows keep their earliest rows for training and have the latest
    ``max(1, floor(test_size x rows))`` held out (ties in time broken by product_id); customers with fewer
    rows stay wholly in training.
    """
    if not 0 < test_size < 1:
        raise EngineError(f"test_size must be between 0 and 1, got {test_size}.")
    if "last_at" not in ratings or ratings["last_at"].isna().all():
        raise InsufficientDataError(
            "A time-based holdout needs dates: the ratings have no timestamp (interactions.timestamp or "
            "orders.order_date). Use the random holdout instead.",
            needed=1,
            found=0,
        )
    # a pair's first signal orders it ("what they chose for the first time most recently"), so a product
    # bought early and again lately is not held out as if it were new
    order = "first_at" if "first_at" in ratings and ratings["first_at"].notna().any() else "last_at"
    frame = ratings.sort_values(["customer_id", order, "product_id"], na_position="first", kind="stable")
    sizes = frame.groupby("customer_id", sort=False)["product_id"].transform("size").to_numpy()
    from_end = frame.groupby("customer_id", sort=False).cumcount(ascending=False).to_numpy()
    held = np.maximum(1, np.floor(test_size * sizes)).astype(int)
    in_test = (sizes >= min_history) & (from_end < held)
    frame = frame.reset_index(drop=True)
    return Split(
        frame[~in_test].sort_values(["customer_id", "product_id"]).reset_index(drop=True),
        frame[in_test].sort_values(["customer_id", "product_id"]).reset_index(drop=True),
        "time",
        f"For every customer with at least {min_history} ratings, their latest {test_size:.0%} (at least one) "
        "was held out: the models learned from what customers did before and are scored on what they did "
        "next.",
    )


def date_cutoff(stamps: pd.Series, test_days: int = 90, test_size: float = 0.2) -> pd.Timestamp:
    """The moment that splits "before" from "after": ``test_days`` before the newest signal, moved later
    when that window would hold more than ``test_size`` of all signals."""
    stamps = pd.to_datetime(stamps).dropna()
    if stamps.empty:
        raise InsufficientDataError(
            "A date holdout needs dates: the ratings and purchases have no timestamp "
            "(interactions.timestamp or orders.order_date). Use the random holdout instead.",
            needed=1,
            found=0,
        )
    newest = stamps.max()
    by_days = newest - pd.Timedelta(days=int(test_days))
    by_share = stamps.quantile(1.0 - float(test_size))
    return max(by_days, by_share)


def date_split(ratings: pd.DataFrame, test_days: int = 90, test_size: float = 0.2) -> Split:
    """Train on what customers chose before a date, test on what they chose for the first time after it.

    The date is ``date_cutoff`` over each pair's first signal (``first_at``, else ``last_at``): pairs first
    chosen before it are training, the others test. The store-level selection builds the same split from
    the raw signals (``date_holdout``), so a pair's later repeats never leak into training.
    """
    column = "first_at" if "first_at" in ratings and ratings["first_at"].notna().any() else "last_at"
    if column not in ratings:
        raise InsufficientDataError(
            "A date holdout needs dates; use the random holdout instead.", needed=1, found=0
        )
    first = pd.to_datetime(ratings[column])
    cutoff = date_cutoff(first, test_days, test_size)
    in_test = (first >= cutoff).to_numpy()
    dated = first.notna().to_numpy()
    return Split(
        ratings[~in_test | ~dated].reset_index(drop=True),
        ratings[in_test & dated].reset_index(drop=True),
        "date",
        _date_words(cutoff, first.max()),
        cutoff.to_pydatetime(),
    )


def _date_words(cutoff: pd.Timestamp, newest: pd.Timestamp) -> str:
    days = max(int(round((newest - cutoff) / pd.Timedelta(days=1))), 1)
    return (
        f"The models learned from everything before {cutoff:%Y-%m-%d} and are scored on what customers "
        f"chose for the first time in the {days} days after it."
    )


def date_holdout(
    con,
    *,
    test_days: int = 90,
    test_size: float = 0.2,
    event_weights: Mapping[str, float] | None = None,
    until: dt.datetime | None = None,
    customers: Sequence[str] | None = None,
) -> tuple[TrainingData, Split]:
    """The store's date holdout from the raw signals: training data strictly before the cut-off (as
    ``training_data(until=cutoff)``) and, as test, every pair first chosen on or after it.

    Returns (all training data, split) where ``split.train`` is the data before the cut-off. With ``until``
    only signals before it exist for this holdout (the cut-off then falls before ``until``); with
    ``customers`` only theirs.
    """
    from engine.recommend.data import training_data

    everything = training_data(con, event_weights=event_weights, until=until, customers=customers)
    cutoff = date_cutoff(everything.ratings["first_at"], test_days, test_size)
    before = training_data(con, event_weights=event_weights, until=cutoff, customers=customers)
    known = pd.MultiIndex.from_frame(before.ratings[["customer_id", "product_id"]])
    pairs = pd.MultiIndex.from_frame(everything.ratings[["customer_id", "product_id"]])
    test = everything.ratings[~pairs.isin(known) & everything.ratings["first_at"].notna()]
    test = test[pd.to_datetime(test["first_at"]) >= cutoff]
    split = Split(
        before.ratings,
        test.reset_index(drop=True),
        "date",
        _date_words(cutoff, pd.to_datetime(everything.ratings["last_at"]).max()),
        cutoff.to_pydatetime(),
    )
    return everything, split


def knn_scores(algo, rows: np.ndarray) -> np.ndarray:
    """Item-based ``KNNBaseline`` estimates for every item (Surprise inner order) of the given inner users,
    without clipping: the same formula as ``KNNBaseline.estimate`` vectorised over items.

    est = mu + b_u + b_i + sum_j sim(i, j) (r_uj - mu - b_u - b_j) / sum_j sim(i, j), over the ``k`` items j
    the user rated that are most similar to i, counting only positive similarities (and only when at least
    ``min_k`` are positive).
    """
    if algo.sim_options.get("user_based", True):
        raise EngineError("knn_scores expects an item-based KNNBaseline (sim_options user_based=False).")
    trainset = algo.trainset
    mu, bu, bi, sim = trainset.global_mean, algo.bu, algo.bi, algo.sim
    out = np.empty((len(rows), trainset.n_items))
    for k_row, u in enumerate(rows):
        pairs = np.asarray(trainset.ur[u], dtype=float)
        base = mu + bu[u] + bi
        if not len(pairs):
            out[k_row] = base
            continue
        rated, ratings = pairs[:, 0].astype(np.int64), pairs[:, 1]
        residual = ratings - (mu + bu[u] + bi[rated])
        sims = sim[:, rated]
        if len(rated) > algo.k:
            # the k most similar rated items; ties go to the earlier rated item, as heapq.nlargest does
            order = np.argsort(-sims, axis=1, kind="stable")[:, : algo.k]
            sims = np.take_along_axis(sims, order, axis=1)
            residual = residual[order]
        else:
            residual = np.broadcast_to(residual, sims.shape)
        positive = sims > 0
        weight = np.where(positive, sims, 0.0)
        sum_sim = weight.sum(axis=1)
        sum_ratings = (weight * residual).sum(axis=1)
        use = (positive.sum(axis=1) >= algo.min_k) & (sum_sim != 0)
        out[k_row] = base + np.where(use, sum_ratings / np.where(use, sum_sim, 1.0), 0.0)
    return out


# ----------------------------------------------------------------------------------------- candidates

#: The ranking candidates tried on every retrain, with the parameters each starts from. Business rules as
#: data: override with ``evaluate_models(..., candidates=...)``. ``blend`` blends the best other candidate.
CANDIDATES: dict[str, dict[str, Any]] = {
    "item_similarity": {"similarity": "jaccard", "neighbours": 200},
    "item_cosine": {"similarity": "cosine", "neighbours": 200},
    "als": {"factors": 32, "iterations": 15, "regularization": 0.01},
    "bpr": {"factors": 32, "iterations": 50},
    "svd": {},
    "blend": {"popularity_weight": 0.3},
    "popular": {},
}

#: Which model class each candidate key builds.
CANDIDATE_CLASSES: dict[str, str] = {
    "item_similarity": "item_similarity",
    "item_cosine": "item_similarity",
    "als": "als",
    "bpr": "bpr",
    "svd": "svd",
    "blend": "blend",
    "popular": "popular",
}

#: Plain names of the compared models, in display order (the rating-only baselines last).
MODEL_LABELS: dict[str, str] = {
    "item_similarity": "Item similarity (Jaccard)",
    "item_cosine": "Item similarity (cosine)",
    "als": "ALS (ranking factors)",
    "bpr": "BPR (ranking factors)",
    "blend": "Blend with best-sellers",
    "svd": "SVD (rating model)",
    "popular": "Best-sellers",
    "baseline": "BaselineOnly (ratings only)",
    "knn": "KNNBaseline (ratings only)",
    "normal": "NormalPredictor (random)",
}

#: One line per model for the page.
MODEL_NOTES: dict[str, str] = {
    "item_similarity": MODEL_CLASSES["item_similarity"].note + " Similarity: Jaccard (SAR's default).",
    "item_cosine": MODEL_CLASSES["item_similarity"].note + " Similarity: cosine.",
    "als": MODEL_CLASSES["als"].note,
    "bpr": MODEL_CLASSES["bpr"].note,
    "blend": MODEL_CLASSES["blend"].note,
    "svd": MODEL_CLASSES["svd"].note,
    "popular": MODEL_CLASSES["popular"].note,
    "baseline": "Surprise BaselineOnly: average rating + customer bias + product bias (no taste).",
    "knn": "Surprise KNNBaseline, item-based: products similar to the ones the customer rated.",
    "normal": "Surprise NormalPredictor: random ratings drawn around the average (a floor).",
}

RANKING_MODELS = ("item_similarity", "item_cosine", "als", "bpr", "blend", "svd", "popular")
RATING_BASELINES = ("baseline", "knn", "normal")


def build_model(
    key: str, svd_params: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None
) -> RankingModel:
    """An unfitted model for a candidate key with its ``CANDIDATES`` parameters updated by ``params``
    (SVD takes ``svd_params``, the recommender settings)."""
    if key not in CANDIDATE_CLASSES:
        raise EngineError(f"Unknown model {key!r}; choose from {', '.join(CANDIDATE_CLASSES)}.")
    cls = MODEL_CLASSES[CANDIDATE_CLASSES[key]]
    if key == "svd":
        from engine.recommend.service import svd_settings

        return cls(**svd_settings(svd_params))
    merged = {**CANDIDATES.get(key, {}), **(params or {})}
    return cls(**merged)


# ----------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Lift:
    """A candidate's NDCG@k over best-sellers' on the same customers, with a 95% bootstrap interval."""

    ratio: float
    low: float
    high: float

    @property
    def beats(self) -> bool:
        """Clearly better: the whole interval lies above 1."""
        return bool(self.low > 1.0)

    @property
    def worse(self) -> bool:
        """Clearly worse: the whole interval lies below 1."""
        return bool(self.high < 1.0)


def ndcg_lift(
    model_ndcg: np.ndarray, popular_ndcg: np.ndarray, *, n_resamples: int = 999, random_state: int = 42
) -> Lift:
    """Ratio of mean NDCG (model / best-sellers) with a paired percentile bootstrap interval over
    customers (``scipy.stats.bootstrap``). NaN when best-sellers find nothing."""
    model_ndcg = np.asarray(model_ndcg, dtype=float)
    popular_ndcg = np.asarray(popular_ndcg, dtype=float)
    if len(model_ndcg) == 0 or popular_ndcg.sum() <= 0:
        return Lift(math.nan, math.nan, math.nan)
    ratio = float(model_ndcg.mean() / popular_ndcg.mean())
    if len(model_ndcg) < 2:
        return Lift(ratio, math.nan, math.nan)

    def statistic(a, b, axis=-1):
        denominator = b.mean(axis=axis)
        return np.divide(
            a.mean(axis=axis), denominator, out=np.full(np.shape(denominator), np.inf), where=denominator > 0
        )

    result = stats.bootstrap(
        (model_ndcg, popular_ndcg),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=int(n_resamples),
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(random_state),
    )
    low, high = result.confidence_interval
    return Lift(ratio, float(low), float(high))


@dataclass(frozen=True)
class Evaluation:
    """Models compared on one holdout split.

    Attributes
    ----------
    metrics : one row per model: model (key), label, rmse, mae, precision, recall, ndcg, map, hit_rate,
        coverage, novelty, personalisation, categories_per_list, hits, relevant, customers, lift, lift_low,
        lift_high (NDCG lift over best-sellers with its 95% interval), seconds (training time).
    k : list length scored.
    split : ``"date"``, ``"time"`` or ``"random"``; description says it in words.
    n_train, n_test : pairs on each side; relevant_from : the held-out rating that counts as liked.
    source : the training signals (see ``TrainingData.source``).
    best : the model with the highest NDCG (best-sellers included); models within 2% of it count as tied
        and the one covering more of the catalogue is named, as the model choice does.
    per_customer : NDCG@k per scored customer and model (columns are model keys).
    """

    metrics: pd.DataFrame
    k: int
    split: str
    description: str
    n_train: int
    n_test: int
    relevant_from: float
    source: str
    diversity: float = 0.0
    best: str = "popular"
    per_customer: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def row(self, model: str) -> pd.Series:
        return self.metrics.set_index("model").loc[model]


def _hits_for(lists: np.ndarray, relevant_keys: np.ndarray, n_items: int) -> np.ndarray:
    rows = np.repeat(np.arange(lists.shape[0]), lists.shape[1]).reshape(lists.shape)
    keys = rows.astype(np.int64) * n_items + np.maximum(lists, 0)
    return np.isin(keys, relevant_keys) & (lists >= 0)


def _per_customer_ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(1, k + 1) + 1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return (hits * discounts).sum(axis=1) / ideal


def _quiet(fit: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fit()


def evaluate_models(
    data: TrainingData,
    *,
    split: str | Split = "date",
    k: int = 10,
    params: Mapping[str, Any] | None = None,
    candidates: Mapping[str, Mapping[str, Any]] | None = None,
    models: Sequence[str] = RANKING_MODELS,
    test_size: float = 0.2,
    test_days: int = 90,
    max_customers: int | None = 3000,
    diversity: float = 0.0,
    diversity_by: str = "factors",
    item_categories: Mapping[str, str] | None = None,
    random_state: int = 42,
    progress: ProgressFn | None = None,
) -> Evaluation:
    """Train every model on one holdout split and score all of them on the same customers.

    Parameters
    ----------
    data : every training pair (the split is made from it, unless ``split`` is a ready ``Split``).
    split : ``"date"`` (train before a date, test on what customers chose for the first time after it;
        see ``date_split``), ``"time"`` (each customer's latest pairs), ``"random"``, or a ``Split``.
    params : the SVD settings (``DEFAULT_PARAMS`` updated).
    candidates : per-candidate parameter overrides (see ``CANDIDATES``).
    models : keys to compare (``RANKING_MODELS``; ``RATING_BASELINES`` add Surprise's rating baselines).
    max_customers : score on a seeded sample of this many customers (None: all).
    diversity : > 0 adds a row for the best model re-ranked by maximal marginal relevance (over its own
        similarity, or over ``item_categories`` with ``diversity_by="category"``).

    Ranking metrics: each model ranks every product the customer did not have in training; its top ``k``
    is compared with the held-out products they liked (``liked`` in the data). Rating metrics (RMSE, MAE)
    for SVD and the rating baselines use every held-out explicit rating, predicted with Surprise's rules.
    """
    from engine.recommend.data import check_enough

    report = progress or _no_progress
    unknown = set(models) - set(MODEL_LABELS)
    if unknown:
        raise EngineError(f"Unknown model(s) {sorted(unknown)}; choose from {', '.join(MODEL_LABELS)}.")
    if isinstance(split, Split):
        parts = split
    elif split == "date":
        parts = date_split(data.ratings, test_days, test_size)
    elif split == "time":
        parts = time_split(data.ratings, test_size)
    elif split == "random":
        parts = random_split(data.ratings, test_size, random_state)
    else:
        raise EngineError(f"split must be 'date', 'time' or 'random', got {split!r}.")
    if len(parts.test) == 0:
        raise InsufficientDataError(
            "No ratings or purchases could be held out to check the models on. Load more history, or use "
            "the random holdout.",
            needed=1,
            found=0,
        )
    train = data.subset(parts.train)
    check_enough(train.ratings)
    overrides = {key: dict(value) for key, value in (candidates or {}).items()}

    report(0.01, "Preparing the holdout")
    reference = BestSellers().fit(train)
    n_items = reference.n_items_
    test = parts.test
    liked = test[test["liked"]] if "liked" in test else test
    rows_all = reference.user_index(liked["customer_id"])
    cols_all = reference.item_index(liked["product_id"])
    keep = (rows_all >= 0) & (cols_all >= 0)
    rel = pd.DataFrame({"row": rows_all[keep], "col": cols_all[keep]}).drop_duplicates()
    # a product the customer already had in training cannot be suggested again: not relevant
    seen = reference.seen_pairs(np.arange(reference.n_users_))
    seen_keys = np.repeat(np.arange(reference.n_users_), np.diff(seen.indptr)) * n_items + seen.indices
    rel = rel[~np.isin(rel["row"].to_numpy() * n_items + rel["col"].to_numpy(), seen_keys)]
    scored = np.unique(rel["row"].to_numpy())
    if len(scored) == 0:
        raise InsufficientDataError(
            "No held-out customer chose a product the models could have suggested (known products they "
            "did not have yet), so ranking cannot be measured. Load more ratings or purchases.",
            needed=1,
            found=0,
        )
    if max_customers is not None and len(scored) > max_customers:
        rng = np.random.default_rng(random_state)
        scored = np.sort(rng.choice(scored, int(max_customers), replace=False))
    position = np.full(reference.n_users_, -1)
    position[scored] = np.arange(len(scored))
    rel = rel[position[rel["row"].to_numpy()] >= 0]
    relevant_keys = position[rel["row"].to_numpy()].astype(np.int64) * n_items + rel["col"].to_numpy()
    n_relevant = np.bincount(position[rel["row"].to_numpy()], minlength=len(scored))
    customer_ids = reference.user_ids_[scored]
    counts = reference.item_counts_
    column_categories = (
        {c: item_categories[p] for c, p in enumerate(reference.item_ids_.tolist()) if p in item_categories}
        if item_categories
        else None
    )

    rows: list[dict[str, Any]] = []
    per_customer: dict[str, np.ndarray] = {}
    fitted: dict[str, RankingModel] = {}

    def lists_of(model: RankingModel, **options) -> np.ndarray:
        model_rows = model.user_index(customer_ids)
        out = np.full((len(scored), k), -1, dtype=np.int64)
        known = model_rows >= 0
        if known.any():
            picked = model.top_n(model_rows[known], k, **options)
            ids = np.where(picked >= 0, model.item_ids_[np.maximum(picked, 0)], None)
            mapped = reference.item_index(ids.ravel()).reshape(picked.shape)
            out[known] = np.where(picked >= 0, mapped, -1)
        return out

    def add(name: str, lists: np.ndarray, seconds: float, predicted=None, actual=None) -> None:
        hits = _hits_for(lists, relevant_keys, n_items)
        recs = [row[row >= 0].tolist() for row in lists]
        out = _ranking_from_hits(hits, n_relevant, k)
        out["coverage"] = catalogue_coverage(recs, n_items)
        out["novelty"] = novelty(recs, dict(enumerate(counts.tolist())), reference.n_users_)
        out["personalisation"] = personalisation(recs)
        out["categories_per_list"] = (
            categories_per_list(recs, column_categories) if column_categories else math.nan
        )
        out["model"] = name
        out["rmse"] = rmse(actual, predicted) if predicted is not None else math.nan
        out["mae"] = mae(actual, predicted) if predicted is not None else math.nan
        out["seconds"] = seconds
        per_customer[name] = _per_customer_ndcg(hits, n_relevant, k)
        rows.append(out)

    explicit_test = test[test["explicit"]] if "explicit" in test else test
    wanted = [m for m in MODEL_LABELS if m in models]
    ranking_keys = [m for m in wanted if m in RANKING_MODELS and m != "blend"]
    for done, name in enumerate(ranking_keys):
        report(0.05 + 0.8 * done / max(len(wanted), 1), f"Training {MODEL_LABELS[name]}")
        started = time.perf_counter()
        model = build_model(name, params, overrides.get(name))
        model.fit(
            train,
            progress=lambda f, t, d=done: report(0.05 + 0.8 * (d + f) / max(len(wanted), 1), t),
        )
        fitted[name] = model
        seconds = time.perf_counter() - started
        predicted = actual = None
        if name == "svd" and len(explicit_test):
            predicted = model.score_pairs(
                explicit_test["customer_id"], explicit_test["product_id"], clip=True
            )
            actual = explicit_test["rating"].to_numpy(dtype=float)
        add(name, lists_of(model), seconds, predicted, actual)
    if "blend" in wanted:
        bases = [r for r in rows if r["model"] not in ("popular",)]
        if bases:
            best_base = max(bases, key=lambda r: (r["ndcg"], -RANKING_MODELS.index(r["model"])))["model"]
            weight = {**CANDIDATES["blend"], **overrides.get("blend", {})}["popularity_weight"]
            blend = Blend(popularity_weight=weight).fit_prefitted(fitted[best_base])
            blend.blended_ = best_base
            fitted["blend"] = blend
            add("blend", lists_of(blend), 0.0)
    rating_keys = [m for m in wanted if m in RATING_BASELINES]
    if rating_keys:
        _rating_baselines(
            rating_keys,
            train,
            explicit_test,
            scored,
            customer_ids,
            reference,
            k,
            add,
            params,
            random_state,
            report,
        )
    frame = pd.DataFrame(rows)
    labels = dict(MODEL_LABELS)
    if "blend" in fitted:
        labels["blend"] = f"{MODEL_LABELS[fitted['blend'].blended_]} + best-sellers"
    best = _best_model(frame)
    if diversity > 0 and best in fitted:
        categories = item_categories if diversity_by == "category" else None
        features, similarity = fitted[best].diversity_basis(categories)
        started = time.perf_counter()
        add(
            f"{best}_diverse",
            lists_of(fitted[best], diversity=float(diversity), features=features, similarity=similarity),
            0.0,
        )
        labels[f"{best}_diverse"] = f"{labels[best]} + diversity {diversity:g}"
        frame = pd.DataFrame(rows)
    popular = per_customer.get("popular")
    lifts = []
    for name in frame["model"]:
        lift = (
            ndcg_lift(per_customer[name], popular, random_state=random_state)
            if popular is not None
            else Lift(math.nan, math.nan, math.nan)
        )
        lifts.append((lift.ratio, lift.low, lift.high))
    frame[["lift", "lift_low", "lift_high"]] = pd.DataFrame(lifts, index=frame.index)
    frame["label"] = frame["model"].map(labels)
    report(1.0, "Evaluation done")
    columns = [
        "model",
        "label",
        "ndcg",
        "hit_rate",
        "coverage",
        "lift",
        "lift_low",
        "lift_high",
        "precision",
        "recall",
        "map",
        "rmse",
        "mae",
        "novelty",
        "personalisation",
        "categories_per_list",
        "hits",
        "relevant",
        "customers",
        "seconds",
    ]
    return Evaluation(
        frame[columns].reset_index(drop=True),
        int(k),
        parts.kind,
        parts.description,
        len(parts.train),
        len(parts.test),
        float(data.relevant_from),
        data.source,
        float(diversity),
        best,
        pd.DataFrame(per_customer, index=pd.Index(customer_ids, name="customer_id")),
    )


def _best_model(frame: pd.DataFrame, near_best: float = 0.02) -> str:
    """The highest NDCG, with the model choice's tie rule: models within ``near_best`` (relative) of it
    count as tied and the one covering more of the catalogue wins; then ``MODEL_LABELS`` order."""
    ranked = frame[frame["model"].isin(RANKING_MODELS)]
    if ranked.empty:
        return "popular"
    top = float(ranked["ndcg"].max())
    tied = ranked[ranked["ndcg"] >= top * (1.0 - near_best)]
    order = {m: i for i, m in enumerate(MODEL_LABELS)}
    tied = tied.assign(_order=tied["model"].map(order))
    return str(tied.sort_values(["coverage", "_order"], ascending=[False, True]).iloc[0]["model"])


def _rating_baselines(
    keys, train, explicit_test, scored, customer_ids, reference, k, add, params, random_state, report
) -> None:
    """Surprise's rating baselines on the same split (explicit ratings only say something here)."""
    from surprise import BaselineOnly, KNNBaseline, NormalPredictor

    from engine.recommend.trainset import build_trainset

    frame = train.ratings[["customer_id", "product_id", "rating"]]
    trainset = build_trainset(frame, train.rating_scale)
    item_cols = reference.item_index([trainset.to_raw_iid(i) for i in range(trainset.n_items)])
    testset = list(
        zip(
            explicit_test["customer_id"].tolist(),
            explicit_test["product_id"].tolist(),
            explicit_test["rating"].astype(float).tolist(),
            strict=True,
        )
    )
    actual = explicit_test["rating"].to_numpy(dtype=float) if len(explicit_test) else None
    inner_rows = np.array([trainset.to_inner_uid(c) if trainset.knows_user(c) else -1 for c in customer_ids])
    seen = reference.seen_pairs(np.maximum(reference.user_index(customer_ids), 0))

    def ranked(score_inner: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        out = np.full((len(customer_ids), k), -1, dtype=np.int64)
        from engine.recommend.ranking import top_n_indices

        for start in range(0, len(customer_ids), 200):
            stop = min(start + 200, len(customer_ids))
            inner = score_inner(np.maximum(inner_rows[start:stop], 0))
            scores = np.full((stop - start, reference.n_items_), -np.inf)
            scores[:, item_cols] = inner
            part = seen[start:stop]
            owner = np.repeat(np.arange(stop - start), np.diff(part.indptr))
            scores[owner, part.indices] = -np.inf
            out[start:stop] = top_n_indices(scores, k)
        return out

    for name in keys:
        report(0.9, f"Scoring {MODEL_LABELS[name]}")
        started = time.perf_counter()
        if name == "baseline":
            algo = _quiet(lambda: BaselineOnly(verbose=False).fit(trainset))
            lists = ranked(
                lambda r, a=algo: (
                    trainset.global_mean + np.asarray(a.bu)[r][:, None] + np.asarray(a.bi)[None, :]
                )
            )
            predicted = np.array([p.est for p in algo.test(testset)]) if testset else None
        elif name == "knn":
            algo = _quiet(
                lambda: KNNBaseline(
                    sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
                ).fit(trainset)
            )
            lists = ranked(lambda r, a=algo: knn_scores(a, r))
            predicted = np.array([p.est for p in algo.test(testset)]) if testset else None
        else:
            algo = NormalPredictor().fit(trainset)
            noise = np.random.default_rng(random_state + 1)
            lists = ranked(
                lambda r, a=algo, g=noise: g.normal(trainset.global_mean, a.sigma, (len(r), trainset.n_items))
            )
            predicted = (
                np.clip(noise.normal(trainset.global_mean, algo.sigma, len(testset)), *train.rating_scale)
                if testset
                else None
            )
        add(name, lists, time.perf_counter() - started, predicted, actual)


# ----------------------------------------------------------------------------------------- model choice


@dataclass(frozen=True)
class ChoiceRules:
    """The rule that picks the model that ships, as data.

    A candidate qualifies when its NDCG@k lift over best-sellers has a 95% interval whose low end is above
    ``min_lift_low`` (clearly better, not luck), its hit rate is at least best-sellers' (``hit_rate_guard``)
    and its catalogue coverage at least ``min_coverage``. Among qualifying candidates the highest NDCG wins;
    candidates within ``near_best`` (relative) of it count as tied and the one covering more of the
    catalogue wins. Nothing qualifies: best-sellers ship.

    The holdout is the date split (train before a date, test on what customers chose for the first time
    after it) when it leaves at least ``min_customers`` customers to score; where customers give their
    signals in one burst (a ratings site) it leaves few, and each customer's latest choices are held out
    instead; without dates, a random 20%.
    """

    min_lift_low: float = 1.0
    hit_rate_guard: bool = True
    min_coverage: float = 0.0
    near_best: float = 0.02
    min_customers: int = 200


DEFAULT_RULES = ChoiceRules()


@dataclass(frozen=True)
class ModelChoice:
    """Which model ships and the evidence for it.

    Attributes
    ----------
    model : the key of the model that ships (``"popular"`` when nothing beats best-sellers).
    label : its plain name.
    how : ``"auto"`` (chosen by ``rules``), ``"pinned"`` (an analyst chose it) or ``"best_sellers"``
        (an analyst chose best-sellers).
    beats_best_sellers : the shipped model is clearly better than best-sellers on held-out data.
    best_candidate : the candidate with the highest NDCG (whether or not it qualified).
    lift : NDCG lift of the shipped model over best-sellers (1 for best-sellers themselves).
    hit_rate, popular_hit_rate, coverage, popular_coverage : the shipped model's and best-sellers'.
    reasons : per candidate, why it did not qualify (empty when it did).
    evaluation : the full comparison.
    blended : for ``"blend"``, the model blended with popularity.
    """

    model: str
    label: str
    how: str
    beats_best_sellers: bool
    best_candidate: str
    lift: Lift
    hit_rate: float
    popular_hit_rate: float
    coverage: float
    popular_coverage: float
    reasons: dict[str, str]
    evaluation: Evaluation
    blended: str | None = None


def choose_model(
    evaluation: Evaluation, rules: ChoiceRules = DEFAULT_RULES, *, pinned: str | None = None
) -> ModelChoice:
    """Apply ``rules`` to an evaluation (or honour a ``pinned`` model) and say why.

    ``pinned``: ``None`` or ``"auto"`` chooses by the rules; ``"popular"`` ships best-sellers; any other
    evaluated key ships that model whatever the evidence (the evidence is still reported).
    """
    frame = evaluation.metrics.set_index("model")
    if "popular" not in frame.index:
        raise EngineError("Model choice needs best-sellers in the evaluation to compare against.")
    pop = frame.loc["popular"]
    reasons: dict[str, str] = {}
    qualifying = []
    for name, row in frame.iterrows():
        if name == "popular" or name not in RANKING_MODELS:
            continue
        why = []
        if not row["lift_low"] > rules.min_lift_low:
            why.append(
                f"NDCG lift {row['lift']:.2f}x (95% interval {row['lift_low']:.2f}-{row['lift_high']:.2f}) "
                f"is not clearly above {rules.min_lift_low:g}x"
            )
        if rules.hit_rate_guard and row["hit_rate"] < pop["hit_rate"]:
            why.append(f"hit rate {row['hit_rate']:.1%} is below best-sellers' {pop['hit_rate']:.1%}")
        if row["coverage"] < rules.min_coverage:
            why.append(f"covers {row['coverage']:.1%} of the catalogue, under {rules.min_coverage:.0%}")
        reasons[name] = "; ".join(why)
        if not why:
            qualifying.append(name)
    chosen = "popular"
    if qualifying:
        top = max(frame.loc[qualifying, "ndcg"])
        tied = [m for m in qualifying if frame.loc[m, "ndcg"] >= top * (1.0 - rules.near_best)]
        order = {m: i for i, m in enumerate(MODEL_LABELS)}
        chosen = sorted(tied, key=lambda m: (-frame.loc[m, "coverage"], order[m]))[0]
    how = "auto"
    if pinned not in (None, "", "auto"):
        if pinned not in frame.index:
            raise EngineError(
                f"Model {pinned!r} was not evaluated; choose from {', '.join(frame.index)} or 'auto'."
            )
        chosen = pinned
        how = "best_sellers" if pinned == "popular" else "pinned"
    row = frame.loc[chosen]
    lift = (
        Lift(1.0, 1.0, 1.0) if chosen == "popular" else Lift(row["lift"], row["lift_low"], row["lift_high"])
    )
    blended = None
    if chosen == "blend":
        label = str(row["label"])
        base_label = label.removesuffix(" + best-sellers")
        blended = next((k for k, v in MODEL_LABELS.items() if v == base_label), None)
    return ModelChoice(
        model=chosen,
        label=str(row["label"]),
        how=how,
        beats_best_sellers=chosen != "popular" and lift.beats,
        best_candidate=evaluation.best,
        lift=lift,
        hit_rate=float(row["hit_rate"]),
        popular_hit_rate=float(pop["hit_rate"]),
        coverage=float(row["coverage"]),
        popular_coverage=float(pop["coverage"]),
        reasons=reasons,
        evaluation=evaluation,
        blended=blended,
    )


def choice_summary(choice: ModelChoice) -> list[str]:
    """The model choice in plain sentences (the command line prints them; the page words the same
    values itself)."""
    ev = choice.evaluation
    k = ev.k
    lines = []
    if choice.how == "best_sellers":
        lines.append("Shipped: best-sellers, as chosen in the settings.")
    elif choice.how == "pinned":
        lift = choice.lift
        lines.append(
            f"Shipped: {choice.label}, as chosen in the settings; on held-out data it reaches {lift.ratio:.2f}x "
            f"best-sellers' NDCG@{k} (95% interval {lift.low:.2f}-{lift.high:.2f})."
        )
    elif choice.model == "popular":
        best = ev.row(ev.best) if ev.best != "popular" else None
        text = "Shipped: best-sellers. No model was clearly better than best-sellers on held-out data"
        if best is not None:
            text += (
                f" (the best, {best['label']}, reached {best['lift']:.2f}x their NDCG@{k}, 95% interval "
                f"{best['lift_low']:.2f}-{best['lift_high']:.2f})"
            )
        lines.append(text + ".")
    else:
        lift = choice.lift
        lines.append(
            f"Shipped: {choice.label}, chosen on held-out data: {lift.ratio:.2f}x best-sellers' NDCG@{k} "
            f"(95% interval {lift.low:.2f}-{lift.high:.2f}); hit rate {choice.hit_rate:.0%} vs "
            f"{choice.popular_hit_rate:.0%}; its lists cover {choice.coverage:.0%} of the catalogue."
        )
    lines.append(ev.description)
    return lines


# ----------------------------------------------------------------------------------------- words

#: What "relevant" means in the headline, by the signals present.
OUTCOME_WORDS: dict[str, str] = {
    "ratings": "products customers went on to rate highly",
    "events": "products customers went on to choose",
    "orders": "products customers went on to buy",
}


def outcome_words(source: str) -> str:
    """ "products customers went on to buy" etc. for a source such as ``"ratings+orders"``."""
    parts = source.split("+")
    if parts == ["ratings"]:
        return OUTCOME_WORDS["ratings"]
    if parts == ["orders"]:
        return OUTCOME_WORDS["orders"]
    if "ratings" in parts:
        return "products customers went on to rate highly or buy"
    return OUTCOME_WORDS["events"]


def evaluation_headline(evaluation: Evaluation) -> list[str]:
    """Plain sentences for a marketer: which model ranks best and how it compares with best-sellers.

    The best model in the table is the one named; "x more" is said only when the best model's interval
    lies above best-sellers, and a model that does worse is said to do worse.
    """
    frame = evaluation.metrics.set_index("model")
    outcome = outcome_words(evaluation.source)
    k = evaluation.k
    lines: list[str] = []
    if "popular" not in frame.index:
        return lines
    pop = frame.loc["popular"]
    total = int(pop["relevant"])
    best = evaluation.best
    if best == "popular":
        runner = frame.drop(index="popular")
        runner = runner[runner.index.isin(RANKING_MODELS)]
        lines.append(
            f"Best-sellers rank best here: no model found more of the {outcome} in its top {k} "
            f"(best-sellers: {int(pop['hits']):,} of {total:,})."
        )
        if len(runner):
            second = runner["ndcg"].idxmax()
            lines.append(
                f"The closest, {runner.loc[second, 'label']}, reaches {runner.loc[second, 'lift']:.2f}x "
                "best-sellers' ranking quality (NDCG)."
            )
    else:
        row = frame.loc[best]
        if row["lift_low"] > 1.0:
            lines.append(
                f"{row['label']} ranks best: {row['lift']:.1f}x best-sellers' ranking quality (NDCG@{k}; 95% "
                f"interval {row['lift_low']:.1f}-{row['lift_high']:.1f}x), finding {int(row['hits']):,} "
                f"instead of {int(pop['hits']):,} of the {total:,} {outcome} in the top {k}."
            )
        else:
            lines.append(
                f"No model is clearly better than best-sellers here: the best, {row['label']}, reaches "
                f"{row['lift']:.2f}x their NDCG@{k} (95% interval {row['lift_low']:.2f}-{row['lift_high']:.2f}x), "
                f"{int(row['hits']):,} vs {int(pop['hits']):,} of the {total:,} {outcome} found."
            )
        lines.append(
            f"{row['hit_rate']:.0%} of customers find at least one of them in its top {k} (best-sellers: "
            f"{pop['hit_rate']:.0%}); its lists cover {row['coverage']:.0%} of the catalogue (best-sellers "
            f"{pop['coverage']:.0%})."
        )
    if "svd" in frame.index and best != "svd":
        svd = frame.loc["svd"]
        word = "more" if svd["hits"] > pop["hits"] else "fewer" if svd["hits"] < pop["hits"] else "as many"
        lines.append(
            f"SVD, the rating model, finds {word} of them than best-sellers ({int(svd['hits']):,}); it is kept "
            "for predicted ratings."
        )
    if "svd" in frame.index and not math.isnan(frame.loc["svd", "mae"]):
        text = f"SVD's predicted ratings are off by {frame.loc['svd', 'mae']:.2f} on average (MAE)"
        others = frame[frame.index.isin(RATING_BASELINES) & frame["mae"].notna()]
        if "baseline" in others.index:
            text += (
                f", against {others.loc['baseline', 'mae']:.2f} for averages and biases alone (BaselineOnly)"
            )
        if len(others):
            better = others["mae"].idxmin()
            if others.loc[better, "mae"] < frame.loc["svd", "mae"]:
                text += f"; {others.loc[better, 'label']} predicts ratings more closely ({others.loc[better, 'mae']:.2f})"
        lines.append(text + ".")
    diverse = [m for m in frame.index if m.endswith("_diverse")]
    if diverse:
        d, base = frame.loc[diverse[0]], frame.loc[diverse[0].removesuffix("_diverse")]
        varied = (
            f"lists hold {base['categories_per_list']:.1f} -> {d['categories_per_list']:.1f} categories on average"
            if not math.isnan(base["categories_per_list"])
            else f"personalisation moves {base['personalisation']:.2f} -> {d['personalisation']:.2f}"
        )
        lines.append(
            f"With diversity {evaluation.diversity:g}, {varied}, and they find {int(d['hits']):,} instead "
            f"of {int(base['hits']):,} of the {outcome}."
        )
    return lines


def evaluate_recommender(
    con,
    *,
    split: str = "date",
    k: int = 10,
    params: Mapping[str, Any] | None = None,
    diversity: float = 0.0,
    diversity_by: str = "factors",
    max_customers: int | None = 3000,
    rating_baselines: bool = False,
    progress: ProgressFn | None = None,
) -> Evaluation:
    """``evaluate_models`` on the store's data (the date split from raw signals, product categories
    when the products table has them), stored once per data version, settings and code version."""
    from engine.recommend.data import training_data
    from engine.recommend.service import product_categories, svd_settings
    from engine.store import get_blob, put_blob

    key = {
        "split": split,
        "k": int(k),
        "params": svd_settings(params),
        "diversity": round(float(diversity), 4),
        "diversity_by": diversity_by,
        "max_customers": max_customers,
        "rating_baselines": bool(rating_baselines),
    }
    stored = get_blob(con, "recommend_evaluation", key)
    if stored is not None:
        return stored
    from engine.recommend.data import sample_customers
    from engine.recommend.service import SELECTION_CUSTOMERS

    sample = sample_customers(con, SELECTION_CUSTOMERS)  # a big store is judged on a sample of customers
    if split == "date":
        data, parts = date_holdout(con, customers=sample)
    else:
        data, parts = training_data(con, customers=sample), split
    models = RANKING_MODELS + (RATING_BASELINES if rating_baselines and data.has_explicit else ())
    result = evaluate_models(
        data,
        split=parts,
        k=k,
        params=params,
        models=models,
        diversity=diversity,
        diversity_by=diversity_by,
        item_categories=product_categories(con) or None,
        max_customers=max_customers,
        progress=progress,
    )
    put_blob(con, "recommend_evaluation", key, result)
    return result


__all__ = [
    "rmse",
    "mae",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "catalogue_coverage",
    "novelty",
    "personalisation",
    "categories_per_list",
    "ranking_metrics",
    "Split",
    "random_split",
    "time_split",
    "date_cutoff",
    "date_split",
    "date_holdout",
    "CANDIDATES",
    "MODEL_LABELS",
    "MODEL_NOTES",
    "RANKING_MODELS",
    "RATING_BASELINES",
    "OUTCOME_WORDS",
    "build_model",
    "knn_scores",
    "Lift",
    "ndcg_lift",
    "Evaluation",
    "evaluate_models",
    "ChoiceRules",
    "DEFAULT_RULES",
    "ModelChoice",
    "choose_model",
    "choice_summary",
    "outcome_words",
    "evaluation_headline",
    "evaluate_recommender",
]

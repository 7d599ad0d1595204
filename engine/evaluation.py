"""Honest evaluation of recommendations: holdout splits, rating and ranking metrics, and SVD compared
with baselines (best-sellers, Surprise's BaselineOnly, NormalPredictor and item-based KNNBaseline) on
the same split.

Ranking metrics follow the usual binary-relevance definitions (a held-out product the customer liked is
relevant); every average is over customers with at least one relevant held-out product.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import EngineError, InsufficientDataError
from engine.recommend import (
    IMPLICIT_SOURCES,
    ProgressFn,
    Recommender,
    TrainingData,
    _no_progress,
    model_params,
    product_categories,
    top_n_indices,
    training_data,
)
from engine.store import Connection, get_blob, put_blob

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
    """A holdout split of the training ratings: ``train`` and ``test`` frames and a plain description."""

    train: pd.DataFrame
    test: pd.DataFrame
    kind: str
    description: str


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
    frame = ratings.sort_values(["customer_id", "last_at", "product_id"], na_position="first", kind="stable")
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


# ----------------------------------------------------------------------------------------- baselines

#: Plain names of the compared models, in display order.
MODEL_LABELS: dict[str, str] = {
    "svd": "SVD (our model)",
    "popular": "Best-sellers",
    "baseline": "BaselineOnly",
    "knn": "KNNBaseline (similar items)",
    "normal": "NormalPredictor (random)",
}

#: One line per model for the page.
MODEL_NOTES: dict[str, str] = {
    "svd": "Surprise SVD: customer and product taste factors plus biases.",
    "popular": "Everyone gets the products most customers chose, minus what they already have.",
    "baseline": "Surprise BaselineOnly: average rating + customer bias + product bias (no taste).",
    "knn": "Surprise KNNBaseline, item-based: products similar to the ones the customer rated.",
    "normal": "Surprise NormalPredictor: random ratings drawn around the average (a floor).",
}


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


def _quiet(fit: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fit()


# ----------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Models compared on one holdout split.

    Attributes
    ----------
    metrics : one row per model: model (key), label, rmse, mae, precision, recall, ndcg, map, hit_rate,
        coverage, novelty, personalisation, hits, relevant, customers.
    k : list length scored.
    split : ``"time"`` or ``"random"``; description says it in words.
    n_train, n_test : ratings on each side; relevant_from : the held-out rating that counts as liked.
    source : the training source (see ``TrainingData.source``).
    """

    metrics: pd.DataFrame
    k: int
    split: str
    description: str
    n_train: int
    n_test: int
    relevant_from: float
    source: str
    diversity: float


def _evaluate_lists(
    name: str,
    lists: np.ndarray,
    relevant_sets: list[set[int]],
    k: int,
    counts: np.ndarray,
    n_users: int,
    column_categories: Mapping[int, str] | None,
) -> dict[str, Any]:
    recs = [row[row >= 0].tolist() for row in lists]
    out = ranking_metrics(
        recs,
        relevant_sets,
        k,
        catalogue_size=len(counts),
        popularity=dict(enumerate(counts.tolist())),
        n_customers=n_users,
        item_categories=column_categories,
    )
    out["model"] = name
    return out


def evaluate_models(
    data: TrainingData,
    *,
    split: str = "time",
    k: int = 10,
    params: Mapping[str, Any] | None = None,
    test_size: float = 0.2,
    max_customers: int = 1500,
    diversity: float = 0.0,
    diversity_by: str = "factors",
    item_categories: Mapping[str, str] | None = None,
    models: Sequence[str] = ("svd", "popular", "baseline", "knn", "normal"),
    random_state: int = 42,
    progress: ProgressFn | None = None,
) -> Evaluation:
    """Train SVD and the baselines on one holdout split and score all of them on the same customers.

    Every model learns from the same training part (for purchase and event data including the negatives
    SVD samples, see ``Recommender``). Rating metrics (RMSE, MAE) use every held-out rating, predicted
    with Surprise's rules and clipped to the scale. Ranking metrics use up to ``max_customers`` customers (a seeded sample) who have a relevant
    held-out product and are known to the models: each model ranks every product the customer did not
    have in training, and its top ``k`` is compared with the held-out products they liked (rating at or
    above ``data.relevant_from``; every held-out product for events and orders). ``diversity`` > 0 adds
    a row for SVD re-ranked by maximal marginal relevance (over item factors, or over ``item_categories``
    with ``diversity_by="category"``). With ``item_categories`` the metrics include categories_per_list.
    """
    from surprise import BaselineOnly, KNNBaseline, NormalPredictor

    report = progress or _no_progress
    unknown = set(models) - set(MODEL_LABELS)
    if unknown:
        raise EngineError(f"Unknown model(s) {sorted(unknown)}; choose from {', '.join(MODEL_LABELS)}.")
    if split == "time":
        parts = time_split(data.ratings, test_size)
    elif split == "random":
        parts = random_split(data.ratings, test_size, random_state)
    else:
        raise EngineError(f"split must be 'time' or 'random', got {split!r}.")
    if len(parts.test) == 0:
        raise InsufficientDataError(
            "No ratings could be held out: every customer has fewer than 3 ratings or purchases. Load more "
            "history, or use the random holdout.",
            needed=1,
            found=0,
        )

    report(0.02, "Training SVD on the training part")
    merged = model_params(params)
    train = TrainingData(parts.train, data.source, data.rule, data.rating_scale, data.relevant_from)
    svd = Recommender(**merged).fit(train, progress=lambda f, t: report(0.02 + 0.25 * f, t))
    trainset = svd.algo_.trainset
    # Surprise inner item id -> column in svd.item_ids_ (every model is ranked over the same columns)
    inner_to_col = svd.item_index([trainset.to_raw_iid(i) for i in range(trainset.n_items)])
    col_to_inner = np.empty_like(inner_to_col)
    col_to_inner[inner_to_col] = np.arange(len(inner_to_col))

    test = parts.test
    liked = test[test["rating"] >= data.relevant_from]
    rows_all = svd.user_index(liked["customer_id"])
    cols_all = svd.item_index(liked["product_id"])
    keep = (rows_all >= 0) & (cols_all >= 0)
    rel_frame = pd.DataFrame({"row": rows_all[keep], "col": cols_all[keep]})
    candidates = np.unique(rel_frame["row"].to_numpy())
    if len(candidates) == 0:
        raise InsufficientDataError(
            "No held-out customer has a liked product the models know, so ranking cannot be measured. "
            "Load more ratings or purchases.",
            needed=1,
            found=0,
        )
    rng = np.random.default_rng(random_state)
    if len(candidates) > max_customers:
        candidates = np.sort(rng.choice(candidates, max_customers, replace=False))
    rel_frame = rel_frame[rel_frame["row"].isin(candidates)]
    grouped = rel_frame.groupby("row")["col"].apply(lambda s: set(s.tolist()))
    relevant_sets = [grouped.get(r, set()) for r in candidates]
    indptr, seen_cols = svd._seen_pairs(candidates, None)
    counts = svd.item_counts_
    n_train_users = svd.n_users_
    column_categories = (
        {c: item_categories[p] for c, p in enumerate(svd.item_ids_.tolist()) if p in item_categories}
        if item_categories
        else None
    )

    def ranked(score_rows: Callable[[np.ndarray], np.ndarray], chunk: int = 500) -> np.ndarray:
        out = np.full((len(candidates), k), -1, dtype=np.int64)
        for start in range(0, len(candidates), chunk):
            stop = min(start + chunk, len(candidates))
            scores = score_rows(candidates[start:stop]).astype(float, copy=True)
            owner = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
            scores[owner, seen_cols[indptr[start] : indptr[stop]]] = -np.inf
            out[start:stop] = top_n_indices(scores, k)
        return out

    test_users = test["customer_id"].to_numpy()
    test_items = test["product_id"].to_numpy()
    actual = test["rating"].to_numpy(dtype=float)
    testset = list(zip(test_users.tolist(), test_items.tolist(), actual.tolist(), strict=True))
    rows: list[dict[str, Any]] = []

    def add(name: str, lists: np.ndarray, predicted: np.ndarray | None) -> None:
        row = _evaluate_lists(name, lists, relevant_sets, k, counts, n_train_users, column_categories)
        row["rmse"] = rmse(actual, predicted) if predicted is not None else math.nan
        row["mae"] = mae(actual, predicted) if predicted is not None else math.nan
        rows.append(row)

    steps = [m for m in MODEL_LABELS if m in models]
    for done, name in enumerate(steps):
        report(0.3 + 0.65 * done / len(steps), f"Scoring {MODEL_LABELS[name]}")
        if name == "svd":
            add("svd", ranked(svd.score_matrix), svd.score_pairs(test_users, test_items, clip=True))
            if diversity > 0:
                lists = svd.recommend(
                    svd.user_ids_[candidates],
                    n=k,
                    diversity=diversity,
                    item_categories=item_categories if diversity_by == "category" else None,
                    explain=False,
                )
                pos = {c: i for i, c in enumerate(svd.user_ids_[candidates])}
                grid = np.full((len(candidates), k), -1, dtype=np.int64)
                grid[lists["customer_id"].map(pos).to_numpy(), lists["rank"].to_numpy() - 1] = svd.item_index(
                    lists["product_id"]
                )
                add("svd_diverse", grid, None)
        elif name == "popular":
            add(
                "popular",
                ranked(
                    lambda r: np.broadcast_to(-np.arange(svd.n_items_, dtype=float), (len(r), svd.n_items_))
                ),
                None,
            )
        elif name == "baseline":
            algo = _quiet(lambda: BaselineOnly(verbose=False).fit(trainset))
            bi_cols = np.asarray(algo.bi)[col_to_inner]
            add(
                "baseline",
                ranked(
                    lambda r, a=algo, b=bi_cols: (
                        trainset.global_mean + np.asarray(a.bu)[r][:, None] + b[None, :]
                    )
                ),
                np.array([p.est for p in algo.test(testset)]),
            )
        elif name == "knn":
            algo = _quiet(
                lambda: KNNBaseline(
                    sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
                ).fit(trainset)
            )
            add(
                "knn",
                ranked(lambda r, a=algo: knn_scores(a, r)[:, col_to_inner], chunk=200),
                np.array([p.est for p in algo.test(testset)]),
            )
        elif name == "normal":
            algo = NormalPredictor().fit(trainset)
            noise = np.random.default_rng(random_state + 1)
            draw = lambda r, a=algo, g=noise: g.normal(trainset.global_mean, a.sigma, (len(r), svd.n_items_))  # noqa: E731
            predicted = np.clip(
                noise.normal(trainset.global_mean, algo.sigma, len(actual)), *data.rating_scale
            )
            add("normal", ranked(draw), predicted)
    report(1.0, "Evaluation done")
    labels = {**MODEL_LABELS, "svd_diverse": f"SVD + diversity {diversity:g}"}
    frame = pd.DataFrame(rows)
    frame["label"] = frame["model"].map(labels)
    columns = [
        "model",
        "label",
        "rmse",
        "mae",
        "precision",
        "recall",
        "ndcg",
        "map",
        "hit_rate",
        "coverage",
        "novelty",
        "personalisation",
        "categories_per_list",
        "hits",
        "relevant",
        "customers",
    ]
    return Evaluation(
        frame[columns],
        int(k),
        parts.kind,
        parts.description,
        len(parts.train),
        len(parts.test),
        float(data.relevant_from),
        data.source,
        float(diversity),
    )


#: What "relevant" means in the headline, by training source.
OUTCOME_WORDS: dict[str, str] = {
    "ratings": "products customers went on to rate highly",
    "ratings+events": "products customers went on to rate highly or choose",
    "events": "products customers went on to choose",
    "orders": "products customers went on to buy",
}


def evaluation_headline(evaluation: Evaluation) -> list[str]:
    """Plain sentences for a marketer: how SVD compares with best-sellers, on the same customers."""
    frame = evaluation.metrics.set_index("model")
    outcome = OUTCOME_WORDS.get(evaluation.source, "products customers went on to choose")
    k = evaluation.k
    lines: list[str] = []
    if "svd" in frame.index and "popular" in frame.index:
        svd, pop = frame.loc["svd"], frame.loc["popular"]
        total = int(svd["relevant"])
        if pop["hits"] > 0 and svd["hits"] >= pop["hits"]:
            ratio = svd["hits"] / pop["hits"]
            lines.append(
                f"SVD finds {ratio:.1f}x more of the {outcome} than best-sellers: {int(svd['hits']):,} vs "
                f"{int(pop['hits']):,} of {total:,} in their top {k}."
            )
        elif svd["hits"] > 0 and pop["hits"] > svd["hits"]:
            ratio = pop["hits"] / svd["hits"]
            lines.append(
                f"Best-sellers find {ratio:.1f}x more of the {outcome} than SVD ({int(pop['hits']):,} vs "
                f"{int(svd['hits']):,} of {total:,} in the top {k}): on this data a best-seller list is the "
                "better choice."
            )
        else:
            lines.append(
                f"SVD found {int(svd['hits']):,} and best-sellers {int(pop['hits']):,} of the {total:,} {outcome} "
                f"in the top {k}."
            )
        lines.append(
            f"{svd['hit_rate']:.0%} of customers find at least one of them in their SVD top {k} "
            f"(best-sellers: {pop['hit_rate']:.0%})."
        )
        lines.append(
            f"SVD recommends {svd['coverage']:.0%} of the catalogue across customers; best-sellers "
            f"{pop['coverage']:.0%}."
        )
    if evaluation.source in IMPLICIT_SOURCES:
        lines.append(
            "With purchase or event data the scores rank products; they are not star ratings, so rating "
            "error (RMSE, MAE) says little here."
        )
    elif "svd" in frame.index and not math.isnan(frame.loc["svd", "rmse"]):
        text = f"SVD's predicted ratings are off by {frame.loc['svd', 'mae']:.2f} on average (MAE)"
        if "baseline" in frame.index:
            text += (
                f", against {frame.loc['baseline', 'mae']:.2f} for averages and biases alone (BaselineOnly)"
            )
        # say so plainly when another model predicts ratings better than SVD
        others = frame.drop(index=[i for i in ("svd", "svd_diverse") if i in frame.index])
        others = others[others["mae"].notna()] if "mae" in others.columns else others.iloc[0:0]
        if len(others):
            best = others["mae"].idxmin()
            if others.loc[best, "mae"] < frame.loc["svd", "mae"]:
                name = others.loc[best, "label"] if "label" in others.columns else best
                text += f"; {name} predicts ratings more closely ({others.loc[best, 'mae']:.2f})"
        lines.append(text + ".")
    if "svd_diverse" in frame.index and "svd" in frame.index:
        d, s = frame.loc["svd_diverse"], frame.loc["svd"]
        varied = (
            f"lists hold {s['categories_per_list']:.1f} -> {d['categories_per_list']:.1f} categories on average"
            if not math.isnan(s["categories_per_list"])
            else f"personalisation moves {s['personalisation']:.2f} -> {d['personalisation']:.2f}"
        )
        lines.append(
            f"With diversity {evaluation.diversity:g}, {varied}, and they find {int(d['hits']):,} instead "
            f"of {int(s['hits']):,} of the {outcome}."
        )
    return lines


def evaluate_recommender(
    con: Connection,
    *,
    split: str = "time",
    k: int = 10,
    params: Mapping[str, Any] | None = None,
    diversity: float = 0.0,
    diversity_by: str = "factors",
    max_customers: int = 1500,
    progress: ProgressFn | None = None,
) -> Evaluation:
    """``evaluate_models`` on the store's training data (with product categories when the products table
    has them), stored once per data version and settings."""
    key = {
        "split": split,
        "k": int(k),
        "params": model_params(params),
        "diversity": round(float(diversity), 4),
        "diversity_by": diversity_by,
        "max_customers": int(max_customers),
    }
    stored = get_blob(con, "recommend_evaluation", key)
    if stored is not None:
        return stored
    data = training_data(con)
    result = evaluate_models(
        data,
        split=split,
        k=k,
        params=params,
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
    "MODEL_LABELS",
    "MODEL_NOTES",
    "OUTCOME_WORDS",
    "knn_scores",
    "Evaluation",
    "evaluate_models",
    "evaluation_headline",
    "evaluate_recommender",
]

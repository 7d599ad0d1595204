"""The models: Surprise SVD (the rating model) and the ranking candidates next to it, all with one
scikit-learn-style API (parameters stored in ``__init__``, work in ``fit``, learned state ending in ``_``)
and one way to make lists (``recommend``), explanations and similar products.

- ``Recommender``: Surprise's ``SVD``, fitted by Surprise itself; batch scores are exactly Surprise's
  ``predict(..., clip=False).est``. It predicts ratings; rating-trained it often ranks poorly.
- ``ItemSimilarity``: SAR-style item-item similarity from co-occurrence (Jaccard, lift, cosine or raw
  counts) with optional time decay of each customer's signals (Microsoft Recommenders' SAR).
- ``ImplicitALS`` / ``ImplicitBPR``: ranking-trained factor models from the ``implicit`` library
  (alternating least squares on confidence-weighted choices, Hu, Koren & Volinsky 2008; Bayesian
  personalised ranking, Rendle et al. 2009).
- ``Blend``: a model's scores blended with popularity.
- ``BestSellers``: everyone gets the most chosen products they do not have yet; the baseline to beat.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.errors import EngineError, InsufficientDataError
from engine.recommend.data import ProgressFn, TrainingData, check_enough, training_frame
from engine.recommend.ranking import CHUNK_CELLS, top_n_lists
from engine.recommend.trainset import (
    Interactions,
    _encode,
    _Encoded,
    build_trainset,
    encode_interactions,
    sample_negatives,
)

DEFAULT_N = 10

#: Products per chosen one that the SVD also learns from, rated at the bottom of the scale, when the data
#: holds no explicit rating (purchases and events only say "chosen").
AUTO_NEGATIVES = 3.0

# "Because you bought X" only when X is this alike to the suggested product; below it the closest product in
# a customer's history is often unrelated (headphones "because" of a dress).
MIN_EXPLANATION_SIMILARITY = 0.3

# Item similarity names a reason only for pairs bought together by at least this many customers, this many
# times more often than chance (lift): a best-seller that goes with everything explains nothing.
MIN_EXPLANATION_SUPPORT = 3
MIN_EXPLANATION_LIFT = 1.5

_COLUMNS = [
    "customer_id",
    "rank",
    "product_id",
    "score",
    "predicted_rating",
    "fallback",
    "reason",
    "cold_item",
]


@dataclass(frozen=True)
class Prediction:
    """A single prediction, shaped like Surprise's: ``est`` plus details (``was_impossible`` etc.)."""

    customer_id: str
    product_id: str
    est: float
    details: dict = field(default_factory=dict)


def _as_training(data: TrainingData | pd.DataFrame, rating_scale: tuple[float, float] | None) -> TrainingData:
    if isinstance(data, TrainingData):
        return data
    return training_frame(data, rating_scale)


class RankingModel:
    """What every model shares: id lookups, seen products, batch top-N with business exclusions, cold-start
    fallbacks, diversity re-ranking, explanations and similar products.

    A subclass sets ``key``, ``label`` and ``note``, implements ``_fit(data, progress)`` (which must call
    ``_set_catalogue``) and ``score_matrix(rows)``, and may override ``item_vectors()`` (for similar
    products, diversity and explanations), ``_explanations`` and ``_fallback_scores``.

    Attributes (after ``fit``)
    --------------------------
    user_ids_ : customer ids by row.
    item_ids_ : product ids, most chosen first (ties by product_id); the fixed tie-break of every ranking.
    item_counts_ : customers who chose each product.
    seen_indptr_, seen_items_ : CSR of each customer's training products (never suggested again).
    liked_indptr_, liked_items_ : CSR of the ones with a positive affinity (a product returned in full is
        seen but not liked): the products an explanation may name.
    cold_items_ : products scored without their own evidence (SVD's rule for rarely rated products).
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    note: ClassVar[str] = ""
    predicts_ratings: ClassVar[bool] = False

    # ----------------------------------------------------------------- sklearn-style plumbing
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params``."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> RankingModel:
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise EngineError(
                    f"Unknown parameter {name!r} for {self.label}; choose from {', '.join(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_ids_"):
            raise EngineError(f"{self.label} is not trained yet: call fit() first.")

    def fit(
        self,
        data: TrainingData | pd.DataFrame,
        rating_scale: tuple[float, float] | None = None,
        progress: ProgressFn | None = None,
    ) -> RankingModel:
        """Learn from the training pairs.

        Parameters
        ----------
        data : TrainingData, or a DataFrame with customer_id, product_id, rating (treated as explicit).
        rating_scale : with a DataFrame: lowest and highest rating (default its min and max).
        progress : called with (fraction, text) while training.
        """
        training = _as_training(data, rating_scale)
        check_enough(training.ratings)
        self._fit(training, progress)
        self._prepare_lookups()
        return self

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_catalogue(self, inter: Interactions) -> None:
        self.user_ids_ = inter.user_ids
        self.item_ids_ = inter.item_ids
        self.item_counts_ = inter.item_counts
        self.seen_indptr_ = inter.seen.indptr.astype(np.int64)
        self.seen_items_ = inter.seen.indices.astype(np.int64)
        liked = inter.affinity.copy()
        liked.eliminate_zeros()
        self.liked_indptr_ = liked.indptr.astype(np.int64)
        self.liked_items_ = liked.indices.astype(np.int64)
        self.cold_items_ = np.zeros(len(inter.item_ids), dtype=bool)

    def _prepare_lookups(self) -> None:
        self._user_index = pd.Index(self.user_ids_)
        self._item_index = pd.Index(self.item_ids_)

    _DERIVED: ClassVar[tuple[str, ...]] = ("_user_index", "_item_index")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "user_ids_"):
            self._prepare_lookups()

    # ----------------------------------------------------------------- lookups
    @property
    def n_users_(self) -> int:
        """Customers the model knows."""
        return len(self.user_ids_)

    @property
    def n_items_(self) -> int:
        """Products the model knows."""
        return len(self.item_ids_)

    def user_index(self, customer_ids: Iterable[str]) -> np.ndarray:
        """Inner row of each customer id, -1 for customers the model does not know."""
        self._check_fitted()
        return self._user_index.get_indexer(pd.Index(list(customer_ids), dtype=object))

    def item_index(self, product_ids: Iterable[str]) -> np.ndarray:
        """Column of each product id in ``item_ids_``, -1 for products the model does not know."""
        self._check_fitted()
        return self._item_index.get_indexer(pd.Index(list(product_ids), dtype=object))

    def score_matrix(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Scores of the given customer rows for every product (columns in ``item_ids_`` order)."""
        raise NotImplementedError

    def item_vectors(self) -> np.ndarray | None:
        """Unit-length product vectors whose dot product is the products' similarity, or None."""
        return None

    def _fallback_scores(self, cols: np.ndarray) -> np.ndarray:
        return self.item_counts_[cols].astype(float)

    def _predicted(self, scores: np.ndarray) -> np.ndarray:
        return np.full(len(scores), np.nan)

    # ----------------------------------------------------------------- top-N
    def seen_pairs(self, rows: np.ndarray, extra_seen: pd.DataFrame | None = None) -> sp.csr_matrix:
        """CSR over ``rows`` of products to exclude per row: training pairs plus ``extra_seen``."""
        lengths = self.seen_indptr_[rows + 1] - self.seen_indptr_[rows]
        starts = self.seen_indptr_[rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = self.seen_items_[np.repeat(starts, lengths) + offsets]
        if extra_seen is not None and len(extra_seen):
            row_of_user = pd.Series(np.arange(len(rows)), index=pd.Index(self.user_ids_[rows], dtype=object))
            row_of_user = row_of_user[~row_of_user.index.duplicated()]
            extra_rows = row_of_user.reindex(pd.Index(extra_seen["customer_id"].astype(str), dtype=object))
            extra_cols = self.item_index(extra_seen["product_id"].astype(str))
            keep = extra_rows.notna().to_numpy() & (extra_cols >= 0)
            owner = np.concatenate([owner, extra_rows.to_numpy()[keep].astype(np.int64)])
            cols = np.concatenate([cols, extra_cols[keep]])
        matrix = sp.csr_matrix(
            (np.ones(len(cols)), (owner, cols)), shape=(len(rows), self.n_items_), dtype=float
        )
        matrix.sum_duplicates()
        return matrix

    def _blocked_items(self, exclusions: Iterable[str] | None, allowed: Iterable[str] | None) -> np.ndarray:
        blocked = np.zeros(self.n_items_, dtype=bool)
        if exclusions is not None:
            idx = self.item_index(list(exclusions))
            blocked[idx[idx >= 0]] = True
        if allowed is not None:
            idx = self.item_index(list(allowed))
            keep = np.zeros(self.n_items_, dtype=bool)
            keep[idx[idx >= 0]] = True
            blocked |= ~keep
        return blocked

    def top_n(
        self,
        rows: np.ndarray,
        n: int,
        *,
        exclude_seen: bool = True,
        blocked: np.ndarray | None = None,
        extra_seen: pd.DataFrame | None = None,
        diversity: float = 0.0,
        features: np.ndarray | None = None,
        similarity: np.ndarray | None = None,
        chunk_cells: int = CHUNK_CELLS,
    ) -> np.ndarray:
        """Item columns of each row's top ``n`` (-1 pads), best first; ties go to the more popular product."""
        return self._top_n(
            rows,
            n,
            exclude_seen=exclude_seen,
            blocked=blocked,
            extra_seen=extra_seen,
            diversity=diversity,
            features=features,
            similarity=similarity,
            chunk_cells=chunk_cells,
        )[0]

    def _top_n(
        self,
        rows: np.ndarray,
        n: int,
        *,
        exclude_seen: bool,
        blocked: np.ndarray | None,
        extra_seen: pd.DataFrame | None,
        diversity: float,
        features: np.ndarray | None,
        similarity: np.ndarray | None,
        chunk_cells: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        seen = self.seen_pairs(rows, extra_seen) if exclude_seen else None
        return top_n_lists(
            self.score_matrix,
            np.asarray(rows, dtype=np.int64),
            int(n),
            self.n_items_,
            seen=seen,
            blocked=blocked,
            diversity=diversity,
            features=features,
            similarity=similarity,
            chunk_cells=chunk_cells,
            with_scores=True,
        )

    def recommend(
        self,
        customer_ids: Sequence[str] | None = None,
        n: int = DEFAULT_N,
        *,
        exclude_seen: bool = True,
        exclusions: Iterable[str] | None = None,
        allowed: Iterable[str] | None = None,
        extra_seen: pd.DataFrame | None = None,
        customer_groups: Mapping[str, str] | None = None,
        group_popularity: Mapping[str, Sequence[str]] | None = None,
        diversity: float = 0.0,
        item_categories: Mapping[str, str] | None = None,
        explain: bool = True,
        chunk_cells: int = CHUNK_CELLS,
    ) -> pd.DataFrame:
        """Top-``n`` products for each customer.

        Known customers are ranked by the model's score (ties: more popular product first, then
        product_id). Customers the model does not know get the most popular products of their group
        (``customer_groups`` -> ``group_popularity``, e.g. their RFM segment) or overall, flagged
        ``fallback`` with the ``reason``.

        Parameters
        ----------
        customer_ids : customers to recommend for (all known customers when None).
        n : list length.
        exclude_seen : leave out products the customer already rated or bought in the training data and
            in ``extra_seen`` (customer_id, product_id pairs, e.g. purchases outside the training data).
        exclusions : product ids never to recommend (inactive, out of stock).
        allowed : when given, only these product ids may be recommended (a category filter).
        diversity : 0 keeps the ranking; up to 1 re-ranks by maximal marginal relevance, trading score
            for products unlike those already in the list (the model's product similarity, or same
            category when ``item_categories`` is given).
        explain : add ``because_product_id`` (the product in the customer's history that most explains
            the pick) and ``because_similarity``.

        Returns
        -------
        DataFrame
            customer_id, rank, product_id, score, predicted_rating (NaN unless the model predicts
            ratings), fallback, reason, cold_item, and when ``explain`` because_product_id,
            because_similarity; ordered by the requested customers, then rank.
        """
        self._check_fitted()
        n = int(n)
        if n < 1:
            raise EngineError(f"The list length n must be at least 1, got {n}.")
        if not 0.0 <= float(diversity) <= 1.0:
            raise EngineError(f"diversity must be between 0 and 1, got {diversity}.")
        ids = (
            self.user_ids_.copy()
            if customer_ids is None
            else np.array(list(dict.fromkeys(str(c) for c in customer_ids)), dtype=object)
        )
        rows = self.user_index(ids)
        blocked = self._blocked_items(exclusions, allowed)
        features, similarity = self.diversity_basis(item_categories) if diversity > 0 else (None, None)
        known = np.flatnonzero(rows >= 0)
        parts: list[pd.DataFrame] = []
        if len(known):
            picked, picked_scores = self._top_n(
                rows[known],
                n,
                exclude_seen=exclude_seen,
                blocked=blocked,
                extra_seen=extra_seen,
                diversity=float(diversity),
                features=features,
                similarity=similarity,
                chunk_cells=chunk_cells,
            )
            parts.append(self._frame_for(ids[known], rows[known], known, picked, picked_scores, explain))
        unknown = np.flatnonzero(rows < 0)
        if len(unknown):
            parts.append(
                self._recommend_fallback(
                    ids[unknown],
                    unknown,
                    n,
                    blocked,
                    extra_seen if exclude_seen else None,
                    customer_groups,
                    group_popularity,
                    explain,
                )
            )
        columns = list(_COLUMNS)
        if explain:
            columns += ["because_product_id", "because_similarity"]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        if len(parts) == 1:  # each part is already in request order
            return parts[0][columns]
        out = pd.concat(parts, ignore_index=True)
        out = out.sort_values(["_order", "rank"], kind="stable").reset_index(drop=True)
        return out[columns]

    def diversity_basis(
        self, item_categories: Mapping[str, str] | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """What diversity compares products by: (product vectors, None) or (None, product x product
        similarity). Same category when ``item_categories`` is given, else the model's own similarity."""
        if not item_categories:
            vectors = self.item_vectors()
            if vectors is not None:
                return vectors, None
            item_categories = {}
        labels = pd.Series(self.item_ids_).map(lambda p: item_categories.get(p))
        codes, _ = pd.factorize(labels)
        onehot = np.zeros((self.n_items_, max(codes.max() + 1, 1)))
        has = codes >= 0
        onehot[np.flatnonzero(has), codes[has]] = 1.0
        return onehot, None

    def _frame_for(self, ids, rows, order, picked, picked_scores, explain) -> pd.DataFrame:
        n = picked.shape[1]
        valid = picked >= 0
        counts = valid.sum(axis=1)
        user_pos = np.repeat(np.arange(len(rows)), counts)
        cols = picked[valid]
        score = picked_scores[valid]
        frame = pd.DataFrame(
            {
                "customer_id": pd.Series(ids[user_pos], dtype=object),
                "rank": np.tile(np.arange(1, n + 1), len(rows))[valid.ravel()],
                "product_id": pd.Series(self.item_ids_[cols], dtype=object),
                "score": score,
                "predicted_rating": self._predicted(score),
                "fallback": False,
                "reason": "model",
                "cold_item": self.cold_items_[cols],
                "_order": order[user_pos],
            }
        )
        if explain:
            because, similarity = self._explanations(rows, picked)
            frame["because_product_id"] = because[valid]
            frame["because_similarity"] = similarity[valid]
        return frame

    def _liked_history(self, row: int) -> np.ndarray:
        """The customer's training products that may explain a pick: those with a positive affinity (a
        product bought and returned in full explains nothing: "because you bought" it would be untrue)."""
        if getattr(self, "liked_indptr_", None) is None:  # a model without affinities: every chosen one
            return self.seen_items_[self.seen_indptr_[row] : self.seen_indptr_[row + 1]]
        return self.liked_items_[self.liked_indptr_[row] : self.liked_indptr_[row + 1]]

    def _explanations(self, rows: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pick, the customer's history product most alike to it (cosine of ``item_vectors``),
        named only when at least ``MIN_EXPLANATION_SIMILARITY`` alike."""
        because = np.full(picked.shape, None, dtype=object)
        similarity = np.full(picked.shape, np.nan)
        vectors = self.item_vectors()
        if vectors is None:
            return because, similarity
        for k, u in enumerate(rows):
            liked = self._liked_history(int(u))
            liked = np.sort(liked[~self.cold_items_[liked]])
            recs = picked[k]
            ok = (recs >= 0) & ~self.cold_items_[np.maximum(recs, 0)]
            if not len(liked) or not ok.any():
                continue
            sims = vectors[recs[ok]] @ vectors[liked].T
            best = sims.argmax(axis=1)
            closest = sims[np.arange(len(best)), best]
            named = closest >= MIN_EXPLANATION_SIMILARITY
            because[k, np.flatnonzero(ok)[named]] = self.item_ids_[liked[best[named]]]
            similarity[k, ok] = closest
        return because, similarity

    def _recommend_fallback(
        self, ids, order, n, blocked, extra_seen, customer_groups, group_popularity, explain
    ) -> pd.DataFrame:
        overall = np.flatnonzero(~blocked)  # item order is popularity order
        rankings: dict[str | None, np.ndarray] = {None: overall}
        if customer_groups and group_popularity:
            for group, products in group_popularity.items():
                idx = self.item_index([str(p) for p in products])
                idx = idx[(idx >= 0)]
                idx = idx[~blocked[idx]]
                if not len(idx):  # nobody in the segment chose anything: overall best-sellers, said so
                    continue
                # a segment's own best-sellers first, then the overall best-sellers it lacks
                rest = overall[~np.isin(overall, idx)]
                rankings[group] = np.concatenate([idx, rest])
        seen: dict[str, set[int]] = {}
        if extra_seen is not None and len(extra_seen):
            wanted = extra_seen[extra_seen["customer_id"].astype(str).isin(set(ids))]
            cols = self.item_index(wanted["product_id"].astype(str))
            for cid, col in zip(wanted["customer_id"].astype(str), cols, strict=True):
                if col >= 0:
                    seen.setdefault(cid, set()).add(int(col))
        records_c, records_r, records_i, reasons, order_col = [], [], [], [], []
        for pos, cid in zip(order, ids, strict=True):
            group = customer_groups.get(cid) if customer_groups else None
            ranking = rankings.get(group) if group in rankings else rankings[None]
            reason = (
                f"best-sellers in segment {group}"
                if group in rankings and group is not None
                else "best-sellers overall"
            )
            taken = seen.get(cid)
            chosen = ranking[: n + (len(taken) if taken else 0)]
            if taken:
                chosen = np.array([c for c in chosen if c not in taken], dtype=np.int64)
            chosen = chosen[:n]
            records_c.append(np.full(len(chosen), cid, dtype=object))
            records_r.append(np.arange(1, len(chosen) + 1))
            records_i.append(chosen)
            reasons.append(np.full(len(chosen), reason, dtype=object))
            order_col.append(np.full(len(chosen), pos))
        cols = np.concatenate(records_i).astype(np.int64) if records_i else np.zeros(0, dtype=np.int64)
        score = self._fallback_scores(cols)
        frame = pd.DataFrame(
            {
                "customer_id": np.concatenate(records_c) if records_c else np.zeros(0, dtype=object),
                "rank": np.concatenate(records_r) if records_r else np.zeros(0, dtype=np.int64),
                "product_id": self.item_ids_[cols],
                "score": score,
                "predicted_rating": self._predicted(score),
                "fallback": True,
                "reason": np.concatenate(reasons) if reasons else np.zeros(0, dtype=object),
                "cold_item": self.cold_items_[cols],
                "_order": np.concatenate(order_col) if order_col else np.zeros(0, dtype=np.int64),
            }
        )
        if explain:
            frame["because_product_id"] = None
            frame["because_similarity"] = np.nan
        return frame

    # ----------------------------------------------------------------- neighbours
    def similar_items(self, product_id: str, n: int = 10) -> pd.DataFrame:
        """Products most alike to ``product_id`` by the model's product similarity, cold products left out.

        Returns
        -------
        DataFrame
            product_id, similarity, ratings (customers who chose it); most similar first (ties: more
            popular, then product_id).
        """
        self._check_fitted()
        i = int(self.item_index([product_id])[0])
        if i < 0:
            raise EngineError(f"Product {product_id!r} has no ratings or purchases in the training data.")
        if self.cold_items_[i]:
            raise InsufficientDataError(
                f"Product {product_id!r} has only {int(self.item_counts_[i])} ratings; similar products need "
                f"at least {getattr(self, 'min_item_ratings', 1)}.",
                needed=int(getattr(self, "min_item_ratings", 1)),
                found=int(self.item_counts_[i]),
            )
        sims = self.item_similarities(i)
        sims[i] = -np.inf
        sims[self.cold_items_] = -np.inf
        from engine.recommend.ranking import top_n_indices

        top = top_n_indices(sims[None, :], int(n))[0]
        top = top[(top >= 0)]
        top = top[np.isfinite(sims[top])]
        return pd.DataFrame(
            {"product_id": self.item_ids_[top], "similarity": sims[top], "ratings": self.item_counts_[top]}
        )

    def item_similarities(self, col: int) -> np.ndarray:
        """Similarity of product column ``col`` to every product (a fresh array)."""
        vectors = self.item_vectors()
        if vectors is None:
            raise EngineError(f"{self.label} has no notion of similar products.")
        return vectors @ vectors[col]


# ----------------------------------------------------------------------------------------- SVD


class _EpochReporter(io.TextIOBase):
    """Turns SVD's verbose "Processing epoch N" lines into progress calls; passes other text through."""

    def __init__(self, progress: ProgressFn, n_epochs: int, passthrough):
        self.progress = progress
        self.n_epochs = max(int(n_epochs), 1)
        self.passthrough = passthrough

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("Processing epoch"):
                epoch = int(line.rsplit(" ", 1)[-1]) + 1
                self.progress(epoch / self.n_epochs, f"Training epoch {epoch} of {self.n_epochs}")
            elif line.strip() and self.passthrough is not None:
                self.passthrough.write(line + "\n")
        return len(text)


class _ThreadStdout(io.TextIOBase):
    """Standard output that sends each thread's text to that thread's own reporter, if it has one.

    Surprise reports SVD epochs only by printing; ``contextlib.redirect_stdout`` swaps ``sys.stdout`` for
    the whole process, so two trainings at once (a page and a background job) would steal each other's
    lines. This router is installed once and routes by thread.
    """

    def __init__(self, fallback):
        self.fallback = fallback
        self.routes: dict[int, io.TextIOBase] = {}

    def write(self, text: str) -> int:
        target = self.routes.get(threading.get_ident(), self.fallback)
        return target.write(text)

    def flush(self) -> None:
        self.fallback.flush()


_router_lock = threading.Lock()


@contextlib.contextmanager
def _stdout_to(reporter: io.TextIOBase):
    with _router_lock:
        router = sys.stdout if isinstance(sys.stdout, _ThreadStdout) else _ThreadStdout(sys.stdout)
        sys.stdout = router
        router.routes[threading.get_ident()] = reporter
    try:
        yield
    finally:
        with _router_lock:
            router.routes.pop(threading.get_ident(), None)


class Recommender(RankingModel):
    """Surprise SVD with a fast batch top-N, cold-start fallbacks and explanations: the rating model.

    Parameters
    ----------
    n_factors, n_epochs, lr_all, reg_all : Surprise ``SVD`` parameters. The defaults were chosen on the
        sample with a time holdout: customers there have about 8 ratings each, and with Surprise's own
        defaults (100 factors, 20 epochs, lr 0.005, reg 0.02) the taste factors hardly move from their
        random start; more epochs and a higher learning rate let them learn, stronger regularisation keeps
        them from overfitting.
    min_item_ratings : int
        Products rated by fewer customers are scored as Surprise scores unknown products (global mean +
        customer bias) and flagged ``cold_item``.
    implicit_negatives : float or None
        For purchase or event data: about this many products the customer never chose, per chosen one,
        are sampled (seeded, uniformly) and added to the training ratings at the bottom of the scale.
        None: ``AUTO_NEGATIVES`` when the data holds no explicit rating, else 0. They never count as
        seen, popular or history.
    random_state : int
        Seed for the factor initialisation and the negative sampling.

    Attributes (after ``fit``)
    --------------------------
    Those of ``RankingModel``, plus ``global_mean_, bu_, bi_, pu_, qi_`` (Surprise's learned mean, biases
    and factors; item arrays in ``item_ids_`` order), ``seen_ratings_`` (the rating of each seen pair),
    ``rating_scale_``, ``negatives_ratio_``, ``n_negatives_`` and ``algo_`` (the fitted ``surprise.SVD``,
    in memory only: None after pickling).
    """

    key = "svd"
    label = "SVD (rating model)"
    note = (
        "Surprise SVD: customer and product taste factors plus biases, trained to predict ratings. It "
        "gives the predicted rating; as a ranking it is often weaker than the models trained to rank."
    )
    predicts_ratings = True

    def __init__(
        self,
        n_factors: int = 30,
        n_epochs: int = 60,
        lr_all: float = 0.02,
        reg_all: float = 0.15,
        min_item_ratings: int = 3,
        implicit_negatives: float | None = None,
        random_state: int = 42,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.min_item_ratings = min_item_ratings
        self.implicit_negatives = implicit_negatives
        self.random_state = random_state

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["algo_"] = None  # Surprise keeps the whole trainset; the factors are all we need
        return state

    def _check_fitted(self) -> None:
        if not hasattr(self, "pu_"):
            raise EngineError("The recommender is not trained yet: call fit() first.")

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:
        from surprise import SVD

        frame, scale = data.ratings, data.rating_scale
        for name in ("n_factors", "n_epochs", "min_item_ratings"):
            if int(getattr(self, name)) < (0 if name == "min_item_ratings" else 1):
                raise EngineError(f"{name} must be a positive whole number, got {getattr(self, name)!r}.")
        ratio = self.implicit_negatives
        if ratio is None:
            ratio = 0.0 if data.has_explicit else AUTO_NEGATIVES
        if float(ratio) < 0:
            raise EngineError(f"implicit_negatives must be 0 or more, got {ratio!r}.")
        observed = frame[["customer_id", "product_id", "rating"]]
        train = observed
        if ratio > 0:
            negatives = sample_negatives(observed, float(ratio), float(scale[0]), int(self.random_state))
            train = pd.concat([observed, negatives], ignore_index=True)
        self.negatives_ratio_ = float(ratio)
        self.n_negatives_ = len(train) - len(observed)
        encoded = _encode(train)
        trainset = build_trainset(train, scale, encoded)
        algo = SVD(
            n_factors=int(self.n_factors),
            n_epochs=int(self.n_epochs),
            lr_all=float(self.lr_all),
            reg_all=float(self.reg_all),
            random_state=int(self.random_state),
            verbose=progress is not None,
        )
        if progress is None:
            algo.fit(trainset)
        else:
            progress(0.0, f"Training SVD on {len(train):,} ratings")
            with _stdout_to(_EpochReporter(progress, self.n_epochs, sys.__stdout__)):
                algo.fit(trainset)
        self.algo_ = algo
        self._set_learned(trainset, algo, encoded, len(observed))

    def _set_learned(self, trainset, algo, enc: _Encoded, n_observed: int) -> None:
        # sampled negatives come after the observed rows: they never count as seen, popular or history
        users, items, ratings = enc.users[:n_observed], enc.items[:n_observed], enc.ratings[:n_observed]
        by_user = enc.user_order[enc.user_order < n_observed]
        user_ids, raw_items = enc.user_ids, enc.item_ids
        n_items = len(raw_items)
        counts = np.bincount(items, minlength=n_items).astype(np.int64)
        # Fixed item order: most popular first, then product_id; every ranking breaks ties by it.
        order = np.lexsort((raw_items.astype(str), -counts))
        self.item_ids_ = raw_items[order]
        self.item_counts_ = counts[order]
        self.bi_ = np.asarray(algo.bi, dtype=float)[order]
        self.qi_ = np.asarray(algo.qi, dtype=float)[order]
        self.user_ids_ = user_ids
        self.bu_ = np.asarray(algo.bu, dtype=float)
        self.pu_ = np.asarray(algo.pu, dtype=float)
        self.global_mean_ = float(trainset.global_mean)
        self.rating_scale_ = tuple(float(x) for x in trainset.rating_scale)
        self.n_ratings_ = int(trainset.n_ratings)
        self.cold_items_ = self.item_counts_ < int(self.min_item_ratings)
        position = np.empty(n_items, dtype=np.int64)
        position[order] = np.arange(n_items)
        # Training pairs as CSR over users (columns in the fixed item order) with their ratings.
        self.seen_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=len(user_ids)))])
        self.seen_items_ = position[items][by_user]
        self.seen_ratings_ = ratings[by_user]

    def _prepare_lookups(self) -> None:
        super()._prepare_lookups()
        warm = ~self.cold_items_
        self._bi_eff = np.where(warm, self.bi_, 0.0)
        self._qi_eff = np.where(warm[:, None], self.qi_, 0.0)
        norms = np.linalg.norm(self._qi_eff, axis=1)
        self._qi_unit = np.divide(
            self._qi_eff, norms[:, None], out=np.zeros_like(self._qi_eff), where=norms[:, None] > 0
        )
        # one matrix product gives global mean + biases + factors: [pu, 1, mu + bu] . [qi, bi, 1]
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        self._p_aug = np.ascontiguousarray(
            np.hstack([self.pu_, np.ones((n_users, 1)), (self.global_mean_ + self.bu_)[:, None]])
        )
        self._q_aug = np.ascontiguousarray(
            np.hstack([self._qi_eff, self._bi_eff[:, None], np.ones((n_items, 1))])
        )

    _DERIVED = ("_user_index", "_item_index", "_bi_eff", "_qi_eff", "_qi_unit", "_p_aug", "_q_aug")

    # ----------------------------------------------------------------- scoring
    def score_matrix(self, rows: np.ndarray, clip: bool = False) -> np.ndarray:
        """Scores of the given user rows for every item (columns in ``item_ids_`` order).

        ``global_mean + bu + bi + pu . qi`` (cold items: ``global_mean + bu``), equal to Surprise's
        ``predict(..., clip=False).est``; ``clip=True`` clips to the rating scale like ``predict()``.
        """
        self._check_fitted()
        rows = np.asarray(rows, dtype=np.int64)
        scores = self._p_aug[rows] @ self._q_aug.T
        if clip:
            np.clip(scores, *self.rating_scale_, out=scores)
        return scores

    def pair_scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (
            self.global_mean_
            + self.bu_[rows]
            + self._bi_eff[cols]
            + np.einsum("ij,ij->i", self.pu_[rows], self._qi_eff[cols])
        )

    def _predicted(self, scores: np.ndarray) -> np.ndarray:
        return np.clip(scores, *self.rating_scale_)

    def _fallback_scores(self, cols: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self._bi_eff[cols]  # Surprise's estimate for an unknown customer

    def item_vectors(self) -> np.ndarray:
        return self._qi_unit

    def predict(self, customer_id: str, product_id: str, clip: bool = True) -> Prediction:
        """One prediction with Surprise's rules: unknown customer -> no customer bias or factors; unknown
        or cold product -> no product bias or factors. ``details`` says which rule applied."""
        self._check_fitted()
        u = int(self.user_index([customer_id])[0])
        i = int(self.item_index([product_id])[0])
        known_user, known_item = u >= 0, i >= 0
        cold = known_item and bool(self.cold_items_[i])
        est = self.global_mean_
        if known_user:
            est += float(self.bu_[u])
        if known_item and not cold:
            est += float(self.bi_[i])
            if known_user:
                est += float(np.dot(self.qi_[i], self.pu_[u]))
        if clip:
            est = min(max(est, self.rating_scale_[0]), self.rating_scale_[1])
        details = {
            "was_impossible": False,
            "unknown_customer": not known_user,
            "unknown_product": not known_item,
            "cold_item": cold,
        }
        return Prediction(str(customer_id), str(product_id), float(est), details)

    def score_pairs(
        self, customer_ids: Sequence[str], product_ids: Sequence[str], clip: bool = True
    ) -> np.ndarray:
        """``predict(...).est`` for many (customer, product) pairs at once, with the same rules."""
        self._check_fitted()
        u = self.user_index(customer_ids)
        i = self.item_index(product_ids)
        est = np.full(len(u), self.global_mean_)
        known_user = u >= 0
        est[known_user] += self.bu_[u[known_user]]
        warm_item = i >= 0
        warm_item[warm_item] = ~self.cold_items_[i[warm_item]]
        est[warm_item] += self.bi_[i[warm_item]]
        both = known_user & warm_item
        est[both] += np.einsum("ij,ij->i", self.pu_[u[both]], self.qi_[i[both]])
        if clip:
            np.clip(est, *self.rating_scale_, out=est)
        return est

    def _liked_history(self, row: int) -> np.ndarray:
        lo, hi = self.seen_indptr_[row], self.seen_indptr_[row + 1]
        hist, rated = self.seen_items_[lo:hi], self.seen_ratings_[lo:hi]
        # every chosen product is a reason with purchase or event data; with ratings, the liked ones
        return hist if self.negatives_ratio_ > 0 or not len(rated) else hist[rated >= rated.mean()]


# ----------------------------------------------------------------------------------------- ranking models


class BestSellers(RankingModel):
    """Everyone gets the products most customers chose, minus what they already have: the baseline every
    other model must beat. Ties go to the product_id."""

    key = "popular"
    label = "Best-sellers"
    note = "Everyone gets the products most customers chose, minus what they already have."

    def __init__(self):
        pass

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:
        self._set_catalogue(encode_interactions(data.ratings))

    def score_matrix(self, rows: np.ndarray) -> np.ndarray:
        scores = np.broadcast_to(self.item_counts_.astype(float), (len(rows), self.n_items_))
        return np.array(scores)

    def pair_scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.item_counts_[cols].astype(float)


#: Up to this many products the item similarity is computed and kept as a dense matrix (128 MB at most).
DENSE_ITEMS = 4096

#: Item-item similarity rules over co-occurrence counts c_ij (customers who chose both) and c_i, c_j
#: (customers who chose each), as in Microsoft Recommenders' SAR.
SIMILARITY_RULES: dict[str, str] = {
    "jaccard": "c_ij / (c_i + c_j - c_ij)",
    "cosine": "c_ij / sqrt(c_i x c_j)",
    "lift": "c_ij / (c_i x c_j)",
    "cooccurrence": "c_ij",
}


class ItemSimilarity(RankingModel):
    """SAR-style item-item model: products chosen by the same customers are similar; a customer's score
    for a product is the sum, over their history, of (affinity x similarity).

    Parameters
    ----------
    similarity : ``"jaccard"``, ``"cosine"``, ``"lift"`` or ``"cooccurrence"`` (``SIMILARITY_RULES``).
    neighbours : keep only each product's this many most similar products (None: all). Fewer neighbours
        make lists less dominated by the products alike to everything, and scoring faster.
    half_life_days : time decay of a customer's signals: a choice this many days older than the newest
        signal counts half (None: no decay).
    min_cooccurrence : pairs of products chosen together by fewer customers count as unrelated (guards
        lift against chance pairs of rare products).
    """

    key = "item_similarity"
    label = "Item similarity"
    note = (
        "SAR-style item-item similarity: products bought or rated by the same customers go together; each "
        "customer gets the products most alike to their own history."
    )

    def __init__(
        self,
        similarity: str = "jaccard",
        neighbours: int | None = 200,
        half_life_days: float | None = None,
        min_cooccurrence: int = 1,
    ):
        self.similarity = similarity
        self.neighbours = neighbours
        self.half_life_days = half_life_days
        self.min_cooccurrence = min_cooccurrence

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:
        if self.similarity not in SIMILARITY_RULES:
            raise EngineError(
                f"similarity must be one of {', '.join(SIMILARITY_RULES)}, got {self.similarity!r}."
            )
        if self.neighbours is not None and int(self.neighbours) < 1:
            raise EngineError(f"neighbours must be at least 1 or None, got {self.neighbours!r}.")
        if self.half_life_days is not None and float(self.half_life_days) <= 0:
            raise EngineError(f"half_life_days must be positive or None, got {self.half_life_days!r}.")
        report = progress or (lambda f, t: None)
        report(0.0, "Counting products chosen together")
        inter = encode_interactions(data.ratings)
        self._set_catalogue(inter)
        chosen = inter.affinity.copy()
        chosen.data[:] = 1.0
        if inter.n_items <= DENSE_ITEMS:
            matrix = self._dense_similarity(chosen, report)
        else:
            matrix = self._sparse_similarity(chosen, report)
        self.similarity_ = matrix.tocsr()
        self.similarity_.sort_indices()
        affinity = inter.affinity.copy()
        if self.half_life_days is not None and inter.age_days is not None:
            age = inter.age_days.copy()
            # same sparsity pattern as affinity (both built from the chosen pairs, sorted)
            affinity.data = affinity.data * 0.5 ** ((age.data - 1.0) / float(self.half_life_days))
        self.affinity_ = affinity.tocsr()
        self._dense = None
        report(1.0, "Item similarity ready")

    def _rule(self, c, ci, cj):
        if self.similarity == "jaccard":
            return c / np.maximum(ci + cj - c, 1e-12)
        if self.similarity == "cosine":
            return c / np.sqrt(np.maximum(ci * cj, 1e-12))
        if self.similarity == "lift":
            return c / np.maximum(ci * cj, 1e-12)
        return c.astype(float)

    def _dense_similarity(self, chosen: sp.csr_matrix, report) -> sp.csr_matrix:
        """Co-occurrence as dense float32 BLAS products over chunks of customers (a few seconds for 1M
        choices over 3,700 products, where a sparse product took minutes), then the similarity rule and
        each column's top neighbours with ``argpartition``."""
        n_items = chosen.shape[1]
        cooc = np.zeros((n_items, n_items), dtype=np.float64)
        step = max(1, 20_000_000 // max(n_items, 1))  # customers per chunk: <= 80 MB of float32
        for start in range(0, chosen.shape[0], step):
            block = chosen[start : start + step].toarray().astype(np.float32)
            cooc += (block.T @ block).astype(np.float64)  # exact: counts stay far below 2**24 per chunk
            report(0.6 * min(1.0, (start + step) / chosen.shape[0]), "Counting products chosen together")
        counts = np.diag(cooc).copy()
        sim = self._rule(cooc, counts[:, None], counts[None, :])
        sim[cooc < max(int(self.min_cooccurrence), 1)] = 0.0
        np.fill_diagonal(sim, 0.0)
        report(0.7, "Keeping each product's nearest neighbours")
        k = self.neighbours
        if k is not None and int(k) < n_items - 1:
            k = int(k)
            # ties at the boundary go to the lower row, as in the sparse path: order by (-sim, row)
            order = np.lexsort((np.arange(n_items)[:, None].repeat(n_items, axis=1), -sim), axis=0)
            keep = np.zeros_like(sim, dtype=bool)
            np.put_along_axis(keep, order[:k], True, axis=0)
            sim = np.where(keep, sim, 0.0)
        return sp.csr_matrix(sim)

    def _sparse_similarity(self, chosen: sp.csr_matrix, report) -> sp.csr_matrix:
        cooc = (chosen.T @ chosen).tocsr()
        cooc.sort_indices()
        counts = cooc.diagonal()
        coo = cooc.tocoo()
        c = coo.data
        sim = self._rule(c, counts[coo.row], counts[coo.col])
        keep = (coo.row != coo.col) & (c >= int(self.min_cooccurrence)) & (sim != 0)
        matrix = sp.csr_matrix((sim[keep], (coo.row[keep], coo.col[keep])), shape=cooc.shape)
        report(0.7, "Keeping each product's nearest neighbours")
        if self.neighbours is not None:
            matrix = _keep_top_per_column(matrix, int(self.neighbours))
        return matrix

    _DERIVED = ("_user_index", "_item_index", "_dense")

    def _prepare_lookups(self) -> None:
        super()._prepare_lookups()
        # scoring is affinity (sparse) x similarity: dense similarity when it fits (<= 4,096 products,
        # 128 MB) turns it into a fast sparse x dense product
        self._dense = self.similarity_.toarray() if self.n_items_ <= DENSE_ITEMS else None

    def score_matrix(self, rows: np.ndarray) -> np.ndarray:
        part = self.affinity_[np.asarray(rows, dtype=np.int64)]
        if self._dense is not None:
            return np.asarray(part @ self._dense)
        return (part @ self.similarity_).toarray()

    def pair_scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        part = self.affinity_[rows]
        columns = self.similarity_[:, cols].T.tocsr() if self._dense is None else None
        if columns is None:
            return np.einsum("ij,ji->i", part.toarray(), self._dense[:, cols]) if len(rows) else np.zeros(0)
        return np.asarray(part.multiply(columns).sum(axis=1)).ravel()

    def item_similarities(self, col: int) -> np.ndarray:
        return self.similarity_[:, col].toarray().ravel()

    def item_vectors(self) -> np.ndarray | None:
        return None

    def diversity_basis(
        self, item_categories: Mapping[str, str] | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if item_categories:
            return super().diversity_basis(item_categories)
        # MMR compares products by the model's own similarity, made symmetric (lift and Jaccard are;
        # keeping top neighbours per product is not)
        dense = self._dense if self._dense is not None else self.similarity_.toarray()
        return None, np.maximum(dense, dense.T)

    def _explanations(self, rows: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pick, the product in the customer's history that it is bought with most beyond chance:
        the highest lift, c_ij x customers / (c_i x c_j), among history products chosen together with it by
        at least ``MIN_EXPLANATION_SUPPORT`` customers. Named when that lift is at least
        ``MIN_EXPLANATION_LIFT`` ("customers who chose X choose this twice as often as others"), so a
        best-seller that goes with everything does not explain everything. ``because_similarity`` holds
        the lift."""
        because = np.full(picked.shape, None, dtype=object)
        lifts = np.full(picked.shape, np.nan)
        counts = self.item_counts_.astype(float)
        customers = float(self.n_users_)
        dense = self._dense
        affinity = self.affinity_
        for k, u in enumerate(rows):
            lo, hi = affinity.indptr[int(u)], affinity.indptr[int(u) + 1]
            hist_cols = affinity.indices[lo:hi]
            recs = picked[k]
            ok = recs >= 0
            if not len(hist_cols) or not ok.any():
                continue
            sims = (  # history x picks
                dense[np.ix_(hist_cols, recs[ok])]
                if dense is not None
                else self.similarity_[hist_cols][:, recs[ok]].toarray()
            )
            c_hist, c_pick = counts[hist_cols][:, None], counts[recs[ok]][None, :]
            together = self._together(sims, c_hist, c_pick)
            lift = np.where(
                together >= MIN_EXPLANATION_SUPPORT, together * customers / (c_hist * c_pick), 0.0
            )
            best = lift.argmax(axis=0)  # ties: the earlier (more popular) history product
            top = lift[best, np.arange(len(best))]
            named = top >= MIN_EXPLANATION_LIFT
            because[k, np.flatnonzero(ok)[named]] = self.item_ids_[hist_cols[best[named]]]
            lifts[k, ok] = top
        return because, lifts

    def _together(self, sim: np.ndarray, c_i: np.ndarray, c_j: np.ndarray) -> np.ndarray:
        """Customers who chose both products, recovered from their similarity and counts (inverting
        the similarity rule): Jaccard s = c / (a + b - c) gives c = s (a + b) / (1 + s)."""
        if self.similarity == "jaccard":
            return np.rint(sim * (c_i + c_j) / (1.0 + sim))
        if self.similarity == "cosine":
            return np.rint(sim * np.sqrt(c_i * c_j))
        if self.similarity == "lift":
            return np.rint(sim * c_i * c_j)
        return sim


def _keep_top_per_column(matrix: sp.csr_matrix, k: int) -> sp.csc_matrix:
    """Keep each column's ``k`` largest entries (ties: lower row first), as SAR's top-k neighbours."""
    csc = matrix.tocsc()
    csc.sort_indices()
    column = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
    order = np.lexsort((csc.indices, -csc.data, column))  # by column, then largest first
    rank = np.arange(len(order)) - csc.indptr[column[order]]
    keep = np.zeros(len(order), dtype=bool)
    keep[order[rank < k]] = True
    csc.data = np.where(keep, csc.data, 0.0)
    csc.eliminate_zeros()
    return csc


class _ImplicitModel(RankingModel):
    """Shared fitting of the ``implicit`` library's factor models on log-scaled affinities, with BLAS held
    to one thread while ``implicit`` runs its own threads (it warns and slows down otherwise)."""

    def _implicit_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:
        from threadpoolctl import threadpool_limits

        inter = encode_interactions(data.ratings)
        self._set_catalogue(inter)
        values = inter.affinity.copy().astype(np.float32)
        values.data = np.log1p(values.data)
        iterations = int(getattr(self, "iterations", 1))
        report = progress or (lambda f, t: None)
        report(0.0, f"Training {self.label} on {values.nnz:,} choices")
        done = {"n": 0}

        def callback(*_args) -> None:
            done["n"] += 1
            report(
                min(done["n"] / iterations, 1.0), f"Training {self.label}: pass {done['n']} of {iterations}"
            )

        with threadpool_limits(1, "blas"):  # implicit checks BLAS threads when the model is made
            model = self._implicit_model()
            model.fit(values.tocsr(), show_progress=False, callback=callback)
        self.user_factors_ = np.asarray(model.user_factors, dtype=float)
        self.item_factors_ = np.asarray(model.item_factors, dtype=float)

    _DERIVED = ("_user_index", "_item_index", "_item_unit")

    def _prepare_lookups(self) -> None:
        super()._prepare_lookups()
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self._item_unit = np.divide(
            self.item_factors_,
            norms[:, None],
            out=np.zeros_like(self.item_factors_),
            where=norms[:, None] > 0,
        )

    def score_matrix(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[np.asarray(rows, dtype=np.int64)] @ self.item_factors_.T

    def pair_scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[rows], self.item_factors_[cols])

    def item_vectors(self) -> np.ndarray:
        return self._item_unit


class ImplicitALS(_ImplicitModel):
    """Alternating least squares for implicit feedback (``implicit.als.AlternatingLeastSquares``): each
    choice is a positive with confidence growing with ln(1 + affinity), every other product a weak
    negative.

    Parameters
    ----------
    factors, iterations, regularization, alpha : ``implicit``'s parameters (alpha scales confidence).
    random_state : seed.
    num_threads : ``implicit``'s own threads. One by default: training runs beside the dashboard serving
        pages, and on a busy 2-core machine two threads were slower than one (BPR 11.8 s vs 4.8 s on
        MovieLens-100k at load 10).
    """

    key = "als"
    label = "ALS (ranking factors)"
    note = (
        "Implicit-feedback ALS (the implicit library): taste factors trained to rank what each customer "
        "chose above everything else."
    )

    def __init__(
        self,
        factors: int = 32,
        iterations: int = 15,
        regularization: float = 0.01,
        alpha: float = 1.0,
        random_state: int = 42,
        num_threads: int = 1,
    ):
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads

    def _implicit_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=int(self.factors),
            iterations=int(self.iterations),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            random_state=int(self.random_state),
            num_threads=int(self.num_threads),
        )


class ImplicitBPR(_ImplicitModel):
    """Bayesian personalised ranking (``implicit.bpr.BayesianPersonalizedRanking``): learns factors so that
    a chosen product outscores a random unchosen one.

    Parameters
    ----------
    factors, iterations, learning_rate, regularization : ``implicit``'s parameters.
    random_state : seed.
    num_threads : ``implicit``'s own threads (see ``ImplicitALS``).
    """

    key = "bpr"
    label = "BPR (ranking factors)"
    note = (
        "Bayesian personalised ranking (the implicit library): taste factors trained so a product a "
        "customer chose outranks one they did not."
    )

    def __init__(
        self,
        factors: int = 32,
        iterations: int = 50,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        random_state: int = 42,
        num_threads: int = 1,
    ):
        self.factors = factors
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.random_state = random_state
        self.num_threads = num_threads

    def _implicit_model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=int(self.factors),
            iterations=int(self.iterations),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            random_state=int(self.random_state),
            num_threads=int(self.num_threads),
        )


class Blend(RankingModel):
    """A model's scores blended with popularity: ``(1 - w) x score + w x popularity``, the model's scores
    min-max scaled per customer and popularity as ln(1 + customers) / ln(1 + most customers).

    Parameters
    ----------
    base : the model blended (an unfitted ``RankingModel``; default ``ItemSimilarity()``).
    popularity_weight : w, between 0 and 1.

    Attributes (after ``fit``)
    --------------------------
    base_ : the fitted base model; ``popularity_`` : each product's scaled popularity.
    """

    key = "blend"
    label = "Blend with best-sellers"
    note = "The best other model's scores blended with popularity, so strong sellers rise within each list."

    def __init__(self, base: RankingModel | None = None, popularity_weight: float = 0.3):
        self.base = base
        self.popularity_weight = popularity_weight

    def _check_weight(self) -> None:
        if not 0.0 <= float(self.popularity_weight) <= 1.0:
            raise EngineError(f"popularity_weight must be between 0 and 1, got {self.popularity_weight!r}.")

    def _fit(self, data: TrainingData, progress: ProgressFn | None) -> None:
        self._check_weight()
        base = copy.deepcopy(self.base) if self.base is not None else ItemSimilarity()
        self.base_ = base.fit(data, progress=progress)
        self._copy_catalogue()

    def fit_prefitted(self, fitted: RankingModel) -> Blend:
        """Blend an already fitted model without training it again (model choice reuses its fit)."""
        self._check_weight()
        fitted._check_fitted()
        self.base_ = fitted
        self._copy_catalogue()
        self._prepare_lookups()
        return self

    def _copy_catalogue(self) -> None:
        for name in ("user_ids_", "item_ids_", "item_counts_", "seen_indptr_", "seen_items_", "cold_items_"):
            setattr(self, name, getattr(self.base_, name))
        for name in ("liked_indptr_", "liked_items_"):
            setattr(self, name, getattr(self.base_, name, None))
        top = float(self.item_counts_.max()) if len(self.item_counts_) else 0.0
        self.popularity_ = (
            np.log1p(self.item_counts_) / np.log1p(top) if top > 0 else np.zeros(len(self.item_counts_))
        )

    def score_matrix(self, rows: np.ndarray) -> np.ndarray:
        scores = np.asarray(self.base_.score_matrix(rows), dtype=float)
        low = scores.min(axis=1, keepdims=True)
        span = scores.max(axis=1, keepdims=True) - low
        scaled = np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)
        weight = float(self.popularity_weight)
        return (1.0 - weight) * scaled + weight * self.popularity_[None, :]

    def item_vectors(self) -> np.ndarray | None:
        return self.base_.item_vectors()

    def item_similarities(self, col: int) -> np.ndarray:
        return self.base_.item_similarities(col)

    def _explanations(self, rows: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.base_._explanations(rows, picked)

    def diversity_basis(
        self, item_categories: Mapping[str, str] | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self.base_.diversity_basis(item_categories)


#: Every model by key, in display order.
MODEL_CLASSES: dict[str, type[RankingModel]] = {
    "item_similarity": ItemSimilarity,
    "als": ImplicitALS,
    "bpr": ImplicitBPR,
    "blend": Blend,
    "svd": Recommender,
    "popular": BestSellers,
}


__all__ = [
    "AUTO_NEGATIVES",
    "DEFAULT_N",
    "MIN_EXPLANATION_SIMILARITY",
    "MIN_EXPLANATION_SUPPORT",
    "MIN_EXPLANATION_LIFT",
    "SIMILARITY_RULES",
    "MODEL_CLASSES",
    "Prediction",
    "RankingModel",
    "Recommender",
    "BestSellers",
    "ItemSimilarity",
    "ImplicitALS",
    "ImplicitBPR",
    "Blend",
]

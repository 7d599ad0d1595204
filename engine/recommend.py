"""Recommendations: training data from interactions or orders, Surprise SVD, fast batch top-N with
business exclusions, cold-start fallbacks, diversity re-ranking, explanations and similar products.

The model is Surprise's ``SVD`` (fitted by Surprise itself). Top-N lists for every customer are scored
from its factor matrices with numpy, ``global mean + user bias + item bias + user factors . item factors``,
which is exactly Surprise's ``predict(..., clip=False).est``, chunk by chunk so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import EngineError, InsufficientDataError
from engine.store import (
    Connection,
    get_blob,
    put_blob,
    put_result,
    quote_ident,
    result_table,
    table_exists,
)

# ----------------------------------------------------------------------------------------- rules as data

#: Weight of an implicit event whose ``weight`` column is empty, by lower-cased ``event_type``.
#: Events of any other type count 1. Override with ``training_data(..., event_weights=...)``.
EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "page_view": 1.0,
    "impression": 0.5,
    "click": 2.0,
    "wishlist": 3.0,
    "favorite": 3.0,
    "cart": 3.0,
    "add_to_cart": 3.0,
    "addtocart": 3.0,
    "purchase": 5.0,
    "order": 5.0,
    "buy": 5.0,
    "transaction": 5.0,
}

#: Model parameters. Chosen on the sample with ``evaluate_models`` (time holdout): customers there have
#: about 8 ratings each, and with Surprise's defaults (100 factors, 20 epochs, lr 0.005, reg 0.02) the
#: taste factors hardly move from their random start, so SVD ranks no better than best-sellers. More
#: epochs and a higher learning rate let them learn each customer's categories; stronger regularisation
#: keeps them from overfitting. Fitting 40k ratings takes well under a second.
#: ``min_item_ratings``: products with fewer ratings are scored by Surprise's rule for unknown items
#: (no product bias or factors) and flagged.
#: ``implicit_negatives``: None picks ``AUTO_NEGATIVES`` for purchase and event data, 0 for explicit ratings.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_factors": 30,
    "n_epochs": 60,
    "lr_all": 0.02,
    "reg_all": 0.15,
    "min_item_ratings": 3,
    "implicit_negatives": None,
    "random_state": 42,
}

#: Sources whose ratings only say "chose it" (every pair is a positive), and how many never-chosen products
#: per chosen one the model also learns from, rated at the bottom of the scale. Without them nearly every
#: rating is the same and SVD cannot tell what a customer would skip: on the sample's orders it then ranks
#: below best-sellers; with them it ranks well above (see ``evaluate_models``).
IMPLICIT_SOURCES = ("events", "orders")
AUTO_NEGATIVES = 3.0

#: The small grid ``tune_recommender`` searches with Surprise's GridSearchCV (4 combinations x 3 folds).
TUNING_GRID: dict[str, list[Any]] = {"n_factors": [20, 50], "reg_all": [0.05, 0.15]}

DEFAULT_N = 10

#: Verb used in explanations ("because you bought X"), by training source.
SOURCE_VERBS: dict[str, str] = {
    "ratings": "rated",
    "ratings+events": "rated or showed interest in",
    "events": "showed interest in",
    "orders": "bought",
}

# The most score cells one chunk of the batch may hold (8 bytes each: 32 MB).
_CHUNK_CELLS = 4_000_000
_MIN_RATINGS = 10
_IMPLICIT_QUANTILE = 0.95

ProgressFn = Callable[[float, str], None]


def _no_progress(fraction: float, text: str) -> None:
    return None


# ----------------------------------------------------------------------------------------- training data


@dataclass(frozen=True)
class TrainingData:
    """The ratings a model is trained on, and how they were made.

    Attributes
    ----------
    ratings : DataFrame
        One row per customer and product, ordered by customer_id, product_id: ``customer_id``,
        ``product_id``, ``rating`` (float, on ``rating_scale``), ``events`` (rows behind the rating),
        ``weight`` (summed event weight or purchase count; NaN for explicit ratings), ``last_at``
        (latest timestamp, may be NaT).
    source : str
        ``"ratings"``, ``"events"``, ``"ratings+events"`` or ``"orders"``.
    rule : str
        The conversion rule in plain words, for the page.
    rating_scale : (float, float)
        Lowest and highest rating; predictions are clipped to it as Surprise does.
    relevant_from : float
        In evaluation, a held-out rating at or above this counts as a product the customer liked.
    """

    ratings: pd.DataFrame
    source: str
    rule: str
    rating_scale: tuple[float, float]
    relevant_from: float

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    @property
    def n_customers(self) -> int:
        return int(self.ratings["customer_id"].nunique())

    @property
    def n_products(self) -> int:
        return int(self.ratings["product_id"].nunique())

    @property
    def verb(self) -> str:
        return SOURCE_VERBS.get(self.source, "chose")


def _weights_cte(event_weights: Mapping[str, float]) -> tuple[str, list[Any]]:
    items = sorted((str(k).strip().lower(), float(v)) for k, v in event_weights.items())
    if not items:
        return "event_weights(event_type, weight) AS (SELECT NULL::VARCHAR, NULL::DOUBLE WHERE false)", []
    values = ", ".join("(?, ?)" for _ in items)
    params = [x for pair in items for x in pair]
    return f"event_weights(event_type, weight) AS (VALUES {values})", params


_EXPLICIT_SQL = """
    SELECT customer_id, product_id, avg(rating) AS rating, count(*) AS events,
           CAST(NULL AS DOUBLE) AS weight, max("timestamp") AS last_at
    FROM interactions
    WHERE rating IS NOT NULL AND customer_id IS NOT NULL AND product_id IS NOT NULL {customer_filter}
    GROUP BY customer_id, product_id
"""

_IMPLICIT_SQL = """
    WITH {weights_cte},
    pairs AS (
        SELECT i.customer_id, i.product_id,
               sum(coalesce(i.weight, w.weight, 1.0)) AS weight,
               count(*) AS events, max(i."timestamp") AS last_at
        FROM interactions i
        LEFT JOIN event_weights w ON lower(trim(i.event_type)) = w.event_type
        WHERE i.rating IS NULL AND i.customer_id IS NOT NULL AND i.product_id IS NOT NULL
        GROUP BY i.customer_id, i.product_id
        HAVING sum(coalesce(i.weight, w.weight, 1.0)) > 0
    ),
    cap AS (SELECT quantile_cont(weight, {quantile}) AS w_cap FROM pairs),
    rated AS (
        SELECT customer_id, product_id FROM interactions
        WHERE rating IS NOT NULL AND customer_id IS NOT NULL AND product_id IS NOT NULL
    )
    SELECT p.customer_id, p.product_id,
           least(?, ? + (? - ?) * ln(1 + p.weight) / ln(1 + greatest(c.w_cap, 1e-9))) AS rating,
           p.events, p.weight, p.last_at
    FROM pairs p CROSS JOIN cap c
    WHERE {anti_join} {customer_filter}
"""

_ORDERS_SQL = """
    WITH pairs AS (
        SELECT customer_id, product_id,
               count(DISTINCT coalesce(order_id, CAST(order_date AS VARCHAR)))
                   FILTER (WHERE NOT coalesce(is_return, false)) AS weight,
               sum(abs(coalesce(quantity, 1))) FILTER (WHERE NOT coalesce(is_return, false)) AS bought,
               sum(abs(coalesce(quantity, 1))) FILTER (WHERE coalesce(is_return, false)) AS returned,
               count(*) AS events,
               max(order_date) FILTER (WHERE NOT coalesce(is_return, false)) AS last_at
        FROM orders
        WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
        GROUP BY customer_id, product_id
        HAVING count(*) FILTER (WHERE NOT coalesce(is_return, false)) > 0
    ),
    cap AS (SELECT quantile_cont(weight, {quantile}) AS w_cap FROM pairs)
    SELECT p.customer_id, p.product_id,
           CASE WHEN coalesce(p.returned, 0) >= p.bought THEN ?
                ELSE least(?, ? + (? - ?) * ln(1 + p.weight) / ln(1 + greatest(c.w_cap, 1e-9))) END AS rating,
           p.events, CAST(p.weight AS DOUBLE) AS weight, p.last_at
    FROM pairs p CROSS JOIN cap c
    WHERE true {customer_filter}
"""


def _source_counts(con: Connection) -> dict[str, int]:
    row = con.execute(
        """
        SELECT count(*) FILTER (WHERE rating IS NOT NULL),
               count(*) FILTER (WHERE rating IS NULL)
        FROM interactions WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
        """
    ).fetchone()
    orders = con.execute(
        "SELECT count(*) FROM orders WHERE customer_id IS NOT NULL AND product_id IS NOT NULL"
    ).fetchone()
    return {"explicit": int(row[0]), "implicit": int(row[1]), "orders": int(orders[0])}


def _explicit_scale(con: Connection) -> tuple[float, float]:
    low, high = con.execute(
        "SELECT min(rating), max(rating) FROM interactions WHERE rating IS NOT NULL"
    ).fetchone()
    return float(min(1.0, math.floor(low))), float(max(5.0, math.ceil(high)))


def _fmt(x: float) -> str:
    return f"{x:g}"


def _training_query(
    con: Connection, event_weights: Mapping[str, float] | None, customer_id: str | None
) -> tuple[str, list[Any], str, str, tuple[float, float]]:
    """The SQL that builds the training ratings: (sql, params, source, rule, rating_scale)."""
    counts = _source_counts(con)
    weights = dict(EVENT_WEIGHTS if event_weights is None else event_weights)
    quantile = _IMPLICIT_QUANTILE
    if counts["explicit"] == 0 and counts["implicit"] == 0 and counts["orders"] == 0:
        raise InsufficientDataError(
            "No ratings, events or purchases of products to learn from: the interactions table is empty "
            "and no order line in the orders table names a product_id. Upload interactions or orders "
            "with product_id on the Data page.",
            needed=_MIN_RATINGS,
            found=0,
        )
    customer_filter = "AND customer_id = ?" if customer_id is not None else ""
    customer_params = [customer_id] if customer_id is not None else []
    weight_words = ", ".join(
        f"{name} {_fmt(w)}"
        for name, w in sorted(weights.items(), key=lambda kv: (kv[1], kv[0]))
        if name in ("view", "click", "cart", "purchase")
    )
    conversion = (
        "a customer's summed weight w for a product becomes the rating "
        "{lo} + {span} x ln(1 + w) / ln(1 + w95), capped at {hi}, where w95 is the 95th percentile of w "
        "over all customer-product pairs (so occasional interest lands low and repeated interest high)"
    )
    if counts["explicit"] or counts["implicit"]:
        scale = _explicit_scale(con) if counts["explicit"] else (1.0, 5.0)
        low, high = scale
        parts: list[str] = []
        params: list[Any] = []
        if counts["explicit"]:
            parts.append(_EXPLICIT_SQL.format(customer_filter=customer_filter))
            params += customer_params
        if counts["implicit"]:
            cte, weight_params = _weights_cte(weights)
            anti = (
                "NOT EXISTS (SELECT 1 FROM rated r WHERE r.customer_id = p.customer_id "
                "AND r.product_id = p.product_id)"
            )
            implicit_filter = customer_filter.replace("customer_id", "p.customer_id")
            parts.append(
                _IMPLICIT_SQL.format(
                    weights_cte=cte, quantile=quantile, anti_join=anti, customer_filter=implicit_filter
                )
            )
            params += weight_params + [high, low, high, low] + customer_params
        sql = " UNION ALL ".join(f"({p})" for p in parts)
        if counts["explicit"] and counts["implicit"]:
            source = "ratings+events"
        elif counts["explicit"]:
            source = "ratings"
        else:
            source = "events"
        rule_parts = []
        if counts["explicit"]:
            rule_parts.append(
                f"Explicit ratings from the interactions table, used as they are (a customer's repeated "
                f"ratings of one product are averaged); scale {_fmt(low)} to {_fmt(high)}."
            )
        if counts["implicit"]:
            rule_parts.append(
                "Implicit events from the interactions table"
                + (" (for products the customer did not rate)" if counts["explicit"] else "")
                + ": each event counts its weight, or when the weight is empty a default by event type "
                f"({weight_words}; any other event 1); "
                + conversion.format(lo=_fmt(low), span=_fmt(high - low), hi=_fmt(high))
                + "."
            )
        return sql, params, source, " ".join(rule_parts), scale

    low, high = 1.0, 5.0
    sql = _ORDERS_SQL.format(
        quantile=quantile, customer_filter=customer_filter.replace("customer_id", "p.customer_id")
    )
    params = [low, high, low, high, low] + customer_params
    rule = (
        "Purchases from the orders table (no interactions were loaded): the number of orders w in which a "
        "customer bought a product is turned into a rating; "
        + conversion.format(lo=_fmt(low), span=_fmt(high - low), hi=_fmt(high)).replace(
            "a customer's summed weight w for a product becomes the rating ", ""
        )
        + ". A product the customer returned in full gets the lowest rating, 1."
    )
    return sql, params, "orders", rule, (low, high)


def training_data(con: Connection, *, event_weights: Mapping[str, float] | None = None) -> TrainingData:
    """Build the ratings the recommender learns from, in SQL.

    Source, in order of preference: the ``interactions`` table (explicit ``rating`` values as they are;
    rows without a rating are implicit events converted by the rule in ``TrainingData.rule``), else
    purchases from ``orders`` (order count per customer and product, converted by the same log rule).

    Parameters
    ----------
    con : store connection.
    event_weights : default weight per lower-cased event type, for events whose ``weight`` is empty
        (``EVENT_WEIGHTS`` when None).

    Returns
    -------
    TrainingData
        ``ratings`` columns: customer_id, product_id, rating, events, weight, last_at; one row per pair,
        ordered by customer_id, product_id.

    Raises
    ------
    InsufficientDataError
        When there are fewer than 10 ratings, 2 customers or 2 products.
    """
    sql, params, source, rule, scale = _training_query(con, event_weights, None)
    frame = con.execute(f"SELECT * FROM ({sql}) ORDER BY customer_id, product_id", params).df()
    frame["rating"] = frame["rating"].astype(float)
    frame["weight"] = frame["weight"].astype(float)
    frame["events"] = frame["events"].astype("int64")
    _check_enough(frame)
    low, high = scale
    relevant_from = low + 0.75 * (high - low) if source in ("ratings", "ratings+events") else low
    return TrainingData(frame.reset_index(drop=True), source, rule, scale, float(relevant_from))


def _check_enough(frame: pd.DataFrame) -> None:
    n_customers = frame["customer_id"].nunique()
    n_products = frame["product_id"].nunique()
    if len(frame) < _MIN_RATINGS or n_customers < 2 or n_products < 2:
        raise InsufficientDataError(
            f"Recommendations need at least {_MIN_RATINGS} ratings or purchases from 2 customers over 2 "
            f"products; found {len(frame)} from {n_customers} customers over {n_products} products. "
            "Load more interactions or orders (with product_id) on the Data page.",
            needed=_MIN_RATINGS,
            found=len(frame),
        )


def customer_history(
    con: Connection, customer_id: str, *, event_weights: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One customer's training rows joined to the product catalogue.

    Returns
    -------
    DataFrame
        product_id, name, category, price, rating, events, weight, last_at; highest rating first, then
        most recent, then product_id.
    """
    sql, params, _, _, _ = _training_query(con, event_weights, str(customer_id))
    return con.execute(
        f"""
        SELECT h.product_id, coalesce(p.name, h.product_id) AS name, p.category, p.price, h.rating, h.events,
               h.weight, h.last_at
        FROM ({sql}) h
        LEFT JOIN (SELECT product_id, any_value(name) AS name, any_value(category) AS category,
                          any_value(price) AS price FROM products GROUP BY product_id) p
          ON p.product_id = h.product_id
        ORDER BY h.rating DESC, h.last_at DESC NULLS LAST, h.product_id
        """,
        params,
    ).df()


# ----------------------------------------------------------------------------------------- trainset


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Stable argsort of small non-negative integer keys (radix sort on 16-bit keys: several times faster)."""
    dtype = (
        np.uint16
        if n_keys <= np.iinfo(np.uint16).max
        else np.uint32
        if n_keys <= np.iinfo(np.uint32).max
        else np.int64
    )
    return np.argsort(keys.astype(dtype, copy=False), kind="stable")


@dataclass(frozen=True)
class _Encoded:
    """Inner ids in order of first appearance (Surprise's rule) and the rows grouped user by user."""

    users: np.ndarray
    user_ids: np.ndarray
    items: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray
    user_order: np.ndarray


def _encode(frame: pd.DataFrame) -> _Encoded:
    users, user_ids = pd.factorize(frame["customer_id"], sort=False)
    items, item_ids = pd.factorize(frame["product_id"], sort=False)
    ratings = frame["rating"].to_numpy(dtype=float)
    return _Encoded(
        users,
        np.asarray(user_ids, dtype=object),
        items,
        np.asarray(item_ids, dtype=object),
        ratings,
        _stable_order(users, len(user_ids)),
    )


def build_trainset(frame: pd.DataFrame, rating_scale: tuple[float, float], encoded: _Encoded | None = None):
    """A Surprise ``Trainset`` from a customer_id, product_id, rating frame, built with vectorised code.

    It is identical to ``Dataset.load_from_df(frame, Reader(rating_scale=...)).build_full_trainset()``
    (same inner ids in order of first appearance, same rating order), only faster on large frames. Its
    rating tuples also lie user by user in memory, which makes ``SVD.fit`` several times faster than on
    a trainset built from rows in arbitrary order (same results).
    """
    enc = encoded if encoded is not None else _encode(frame)
    with _gc_paused():  # millions of small tuples: the cyclic collector would rescan them again and again
        return _build_trainset(enc, len(frame), rating_scale)


@contextlib.contextmanager
def _gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_trainset(enc: _Encoded, n_ratings: int, rating_scale: tuple[float, float]):
    from surprise import Trainset

    n_users, n_items = len(enc.user_ids), len(enc.item_ids)

    def grouped(keys: np.ndarray, n_keys: int, others: np.ndarray, order: np.ndarray) -> defaultdict:
        bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n_keys))]).tolist()
        pairs = list(zip(others[order].tolist(), enc.ratings[order].tolist(), strict=True))
        out: defaultdict = defaultdict(list)
        for key in range(n_keys):
            out[key] = pairs[bounds[key] : bounds[key + 1]]
        return out

    trainset = Trainset(
        grouped(enc.users, n_users, enc.items, enc.user_order),
        grouped(enc.items, n_items, enc.users, _stable_order(enc.items, n_items)),
        n_users,
        n_items,
        n_ratings,
        tuple(float(x) for x in rating_scale),
        {raw: inner for inner, raw in enumerate(enc.user_ids.tolist())},
        {raw: inner for inner, raw in enumerate(enc.item_ids.tolist())},
    )
    # Surprise's global mean is np.mean over all_ratings(), which runs user by user: same numbers, same order.
    trainset._global_mean = float(np.mean(enc.ratings[enc.user_order]))
    return trainset


def sample_negatives(
    observed: pd.DataFrame, ratio: float, rating: float, random_state: int = 42
) -> pd.DataFrame:
    """About ``ratio`` products per observed one that each customer never chose, drawn uniformly with a
    seeded generator (draws that hit a chosen product or repeat are dropped), all rated ``rating``.

    Returns
    -------
    DataFrame
        customer_id, product_id, rating; ordered by customer (first appearance) then product.
    """
    users, user_ids = pd.factorize(observed["customer_id"], sort=False)
    items, item_ids = pd.factorize(observed["product_id"], sort=False)
    n_items = len(item_ids)
    per_user = np.bincount(users, minlength=len(user_ids))
    wanted = np.minimum(np.round(ratio * per_user).astype(np.int64), n_items - per_user)
    rng = np.random.default_rng(random_state)
    # draw more than needed (a draw may hit a chosen product or repeat), keep each customer's first
    # ``wanted`` distinct unchosen ones in draw order
    free = np.maximum(n_items - per_user, 1)
    draws = np.where(wanted > 0, np.ceil(1.5 * wanted * n_items / free).astype(np.int64) + 2, 0)
    owner = np.repeat(np.arange(len(user_ids), dtype=np.int64), draws)
    key = owner * n_items + rng.integers(0, n_items, len(owner))
    valid = ~np.isin(key, users.astype(np.int64) * n_items + items)
    key, first = np.unique(key[valid], return_index=True)
    key = key[np.argsort(first, kind="stable")]  # back to draw order (owners stay grouped)
    owner = key // n_items
    starts = np.searchsorted(owner, owner, side="left")
    keep = (np.arange(len(key)) - starts) < wanted[owner]
    key = np.sort(key[keep])
    return pd.DataFrame(
        {
            "customer_id": np.asarray(user_ids, dtype=object)[key // n_items],
            "product_id": np.asarray(item_ids, dtype=object)[key % n_items],
            "rating": float(rating),
        }
    )


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


# ----------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Prediction:
    """A single prediction, shaped like Surprise's: ``est`` plus details (``was_impossible`` etc.)."""

    customer_id: str
    product_id: str
    est: float
    details: dict = field(default_factory=dict)


# "Because you rated X" only when X is this alike (cosine of taste factors) to the suggested product; below
# it the closest product in a customer's history is often unrelated (headphones "because" of a dress).
MIN_EXPLANATION_SIMILARITY = 0.3


class Recommender:
    """Surprise SVD with a fast batch top-N, cold-start fallbacks and explanations.

    Parameters
    ----------
    n_factors, n_epochs, lr_all, reg_all : Surprise ``SVD`` parameters.
    min_item_ratings : int
        Products rated by fewer customers are scored as Surprise scores unknown products (global mean +
        customer bias) and flagged ``cold_item``.
    implicit_negatives : float or None
        For purchase or event data: about this many products the customer never chose, per chosen one,
        are sampled (seeded, uniformly) and added to the training ratings at the bottom of the scale.
        None: ``AUTO_NEGATIVES`` when the data's source is in ``IMPLICIT_SOURCES``, else 0. They never count
        as seen, popular or history.
    random_state : int
        Seed for the factor initialisation and the negative sampling.

    Attributes (after ``fit``)
    --------------------------
    user_ids_ : ndarray of customer ids (Surprise inner order).
    item_ids_ : ndarray of product ids, most popular first (ties by product_id); every item array below
        follows this order, which is also the fixed tie-break of every ranking.
    global_mean_, bu_, bi_, pu_, qi_ : Surprise's learned mean, biases and factors.
    item_counts_ : customers who rated each product.
    cold_items_ : bool mask of products with fewer than ``min_item_ratings`` ratings.
    rating_scale_ : (low, high).
    algo_ : the fitted ``surprise.SVD`` (in memory only; None after the model is stored and loaded).
    """

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

    # ----------------------------------------------------------------- sklearn-style plumbing
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params``."""
        return {
            "n_factors": self.n_factors,
            "n_epochs": self.n_epochs,
            "lr_all": self.lr_all,
            "reg_all": self.reg_all,
            "min_item_ratings": self.min_item_ratings,
            "implicit_negatives": self.implicit_negatives,
            "random_state": self.random_state,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}  # rebuilt on load
        state["algo_"] = None  # Surprise keeps the whole trainset; the factors are all we need
        return state

    def _check_fitted(self) -> None:
        if not hasattr(self, "pu_"):
            raise EngineError("The recommender is not trained yet: call fit() first.")

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        data: TrainingData | pd.DataFrame,
        rating_scale: tuple[float, float] | None = None,
        progress: ProgressFn | None = None,
    ) -> Recommender:
        """Fit Surprise's SVD on the ratings (plus sampled negatives for purchase or event data).

        Parameters
        ----------
        data : TrainingData, or a DataFrame with customer_id, product_id, rating (treated as explicit).
        rating_scale : needed with a DataFrame (defaults to its min and max rating).
        progress : called with (fraction, text) after every epoch.
        """
        from surprise import SVD

        source = None
        if isinstance(data, TrainingData):
            frame, scale, source = data.ratings, data.rating_scale, data.source
        else:
            frame = data
            missing = {"customer_id", "product_id", "rating"} - set(frame.columns)
            if missing:
                raise EngineError(
                    f"Training ratings need the columns customer_id, product_id, rating; missing: "
                    f"{', '.join(sorted(missing))}."
                )
            scale = rating_scale or (float(frame["rating"].min()), float(frame["rating"].max()))
        _check_enough(frame)
        for name in ("n_factors", "n_epochs", "min_item_ratings"):
            if int(getattr(self, name)) < (0 if name == "min_item_ratings" else 1):
                raise EngineError(f"{name} must be a positive whole number, got {getattr(self, name)!r}.")
        ratio = self.implicit_negatives
        if ratio is None:
            ratio = AUTO_NEGATIVES if source in IMPLICIT_SOURCES else 0.0
        if float(ratio) < 0:
            raise EngineError(f"implicit_negatives must be 0 or more, got {ratio!r}.")
        observed = frame
        if ratio > 0:
            negatives = sample_negatives(observed, float(ratio), float(scale[0]), int(self.random_state))
            frame = pd.concat(
                [observed[["customer_id", "product_id", "rating"]], negatives], ignore_index=True
            )
        self.negatives_ratio_ = float(ratio)
        self.n_negatives_ = len(frame) - len(observed)
        encoded = _encode(frame)
        trainset = build_trainset(frame, scale, encoded)
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
            progress(0.0, f"Training on {len(frame):,} ratings")
            with contextlib.redirect_stdout(_EpochReporter(progress, self.n_epochs, sys.__stdout__)):
                algo.fit(trainset)
        self.algo_ = algo
        self._set_learned(trainset, algo, encoded, len(observed))
        return self

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
        self._prepare()

    def _prepare(self) -> None:
        warm = ~self.cold_items_
        self._bi_eff = np.where(warm, self.bi_, 0.0)
        self._qi_eff = np.where(warm[:, None], self.qi_, 0.0)
        norms = np.linalg.norm(self._qi_eff, axis=1)
        self._qi_unit = np.divide(
            self._qi_eff, norms[:, None], out=np.zeros_like(self._qi_eff), where=norms[:, None] > 0
        )
        self._user_index = pd.Index(self.user_ids_)
        self._item_index = pd.Index(self.item_ids_)
        # one matrix product gives global mean + biases + factors: [pu, 1, mu + bu] . [qi, bi, 1]
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        self._p_aug = np.ascontiguousarray(
            np.hstack([self.pu_, np.ones((n_users, 1)), (self.global_mean_ + self.bu_)[:, None]])
        )
        self._q_aug = np.ascontiguousarray(
            np.hstack([self._qi_eff, self._bi_eff[:, None], np.ones((n_items, 1))])
        )

    _DERIVED = ("_bi_eff", "_qi_eff", "_qi_unit", "_user_index", "_item_index", "_p_aug", "_q_aug")

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "pu_"):
            self._prepare()

    # ----------------------------------------------------------------- scoring
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

    # ----------------------------------------------------------------- top-N
    def _seen_pairs(self, rows: np.ndarray, extra_seen: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, cols) of items to exclude per requested row: training pairs plus ``extra_seen``."""
        lengths = self.seen_indptr_[rows + 1] - self.seen_indptr_[rows]
        starts = self.seen_indptr_[rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = self.seen_items_[np.repeat(starts, lengths) + offsets]
        if extra_seen is not None and len(extra_seen):
            row_of_user = pd.Series(np.arange(len(rows)), index=pd.Index(self.user_ids_[rows], dtype=object))
            extra_rows = row_of_user.reindex(pd.Index(extra_seen["customer_id"].astype(str), dtype=object))
            extra_cols = self.item_index(extra_seen["product_id"].astype(str))
            keep = extra_rows.notna().to_numpy() & (extra_cols >= 0)
            owner = np.concatenate([owner, extra_rows.to_numpy()[keep].astype(np.int64)])
            cols = np.concatenate([cols, extra_cols[keep]])
        order = np.argsort(owner, kind="stable")
        owner, cols = owner[order], cols[order]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=len(rows)), out=indptr[1:])
        return indptr, cols

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
        chunk_cells: int = _CHUNK_CELLS,
    ) -> pd.DataFrame:
        """Top-``n`` products for each customer.

        Known customers are ranked by the unclipped SVD score (ties: more popular product first, then
        product_id). Customers the model does not know get the most popular products of their group
        (``customer_groups`` -> ``group_popularity``, e.g. their RFM segment) or overall, flagged
        ``fallback`` with the ``reason``.

        Parameters
        ----------
        customer_ids : customers to recommend for (all known customers when None).
        n : list length.
        exclude_seen : leave out products the customer already rated or bought in the training data and
            in ``extra_seen`` (customer_id, product_id pairs, e.g. purchases outside the training source).
        exclusions : product ids never to recommend (inactive, out of stock).
        allowed : when given, only these product ids may be recommended (a category filter).
        diversity : 0 keeps the ranking; up to 1 re-ranks by maximal marginal relevance, trading score
            for products unlike those already in the list (cosine over item factors, or same category when
            ``item_categories`` is given).
        explain : add ``because_product_id`` (the product in the customer's history closest in factor
            space: among those they rated at or above their own average, or any they chose with purchase
            or event data) and ``because_similarity``.

        Returns
        -------
        DataFrame
            customer_id, rank, product_id, score (unclipped), predicted_rating (clipped to the scale),
            fallback, reason, cold_item, and when ``explain`` because_product_id, because_similarity;
            ordered by the requested customers, then rank.
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
        features = self._diversity_features(item_categories) if diversity > 0 else None
        known = np.flatnonzero(rows >= 0)
        parts: list[pd.DataFrame] = []
        if len(known):
            parts.append(
                self._recommend_known(
                    ids[known],
                    rows[known],
                    known,
                    n,
                    exclude_seen,
                    blocked,
                    extra_seen,
                    float(diversity),
                    features,
                    explain,
                    chunk_cells,
                )
            )
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
        columns = [
            "customer_id",
            "rank",
            "product_id",
            "score",
            "predicted_rating",
            "fallback",
            "reason",
            "cold_item",
        ]
        if explain:
            columns += ["because_product_id", "because_similarity"]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        if len(parts) == 1:  # each part is already in request order
            return parts[0][columns]
        out = pd.concat(parts, ignore_index=True)
        out = out.sort_values(["_order", "rank"], kind="stable").reset_index(drop=True)
        return out[columns]

    def _diversity_features(self, item_categories: Mapping[str, str] | None) -> np.ndarray:
        if item_categories is None:
            return self._qi_unit
        labels = pd.Series(self.item_ids_).map(lambda p: item_categories.get(p))
        codes, _ = pd.factorize(labels)
        onehot = np.zeros((self.n_items_, max(codes.max() + 1, 1)))
        has = codes >= 0
        onehot[np.flatnonzero(has), codes[has]] = 1.0
        return onehot

    def _recommend_known(
        self,
        ids,
        rows,
        order,
        n,
        exclude_seen,
        blocked,
        extra_seen,
        diversity,
        features,
        explain,
        chunk_cells,
    ) -> pd.DataFrame:
        pool = n if diversity <= 0 else min(self.n_items_, max(5 * n, n + 20))
        chunk = max(1, int(chunk_cells // max(self.n_items_, 1)))
        if exclude_seen:
            indptr, cols = self._seen_pairs(rows, extra_seen)
        picked = np.full((len(rows), n), -1, dtype=np.int64)
        for start in range(0, len(rows), chunk):
            stop = min(start + chunk, len(rows))
            scores = self.score_matrix(rows[start:stop])
            if blocked.any():
                scores[:, blocked] = -np.inf
            if exclude_seen:
                lo, hi = indptr[start], indptr[stop]
                owner = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
                scores[owner, cols[lo:hi]] = -np.inf
            top = top_n_indices(scores, pool)
            if diversity > 0:
                top = _mmr(top, scores, features, n, diversity)
            picked[start:stop] = top[:, :n]
        return self._frame_for(ids, rows, order, picked, explain, exclude_seen)

    def _frame_for(self, ids, rows, order, picked, explain, exclude_seen) -> pd.DataFrame:
        n = picked.shape[1]
        valid = picked >= 0
        counts = valid.sum(axis=1)
        user_pos = np.repeat(np.arange(len(rows)), counts)
        cols = picked[valid]
        urows = rows[user_pos]
        score = (
            self.global_mean_
            + self.bu_[urows]
            + self._bi_eff[cols]
            + np.einsum("ij,ij->i", self.pu_[urows], self._qi_eff[cols])
        )
        frame = pd.DataFrame(
            {
                "customer_id": pd.Series(ids[user_pos], dtype=object),
                "rank": np.tile(np.arange(1, n + 1), len(rows))[valid.ravel()],
                "product_id": pd.Series(self.item_ids_[cols], dtype=object),
                "score": score,
                "predicted_rating": np.clip(score, *self.rating_scale_),
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

    def _explanations(self, rows: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pick, the customer's liked training item closest in factor space (cosine)."""
        because = np.full(picked.shape, None, dtype=object)
        similarity = np.full(picked.shape, np.nan)
        for k, u in enumerate(rows):
            lo, hi = self.seen_indptr_[u], self.seen_indptr_[u + 1]
            hist, rated = self.seen_items_[lo:hi], self.seen_ratings_[lo:hi]
            # every chosen product is a reason with purchase or event data; with ratings, the liked ones
            liked = hist if self.negatives_ratio_ > 0 or not len(rated) else hist[rated >= rated.mean()]
            liked = np.sort(liked[~self.cold_items_[liked]])
            recs = picked[k]
            ok = (recs >= 0) & ~self.cold_items_[np.maximum(recs, 0)]
            if not len(liked) or not ok.any():
                continue
            sims = self._qi_unit[recs[ok]] @ self._qi_unit[liked].T
            best = sims.argmax(axis=1)
            closest = sims[np.arange(len(best)), best]
            named = np.flatnonzero(ok)[closest >= MIN_EXPLANATION_SIMILARITY]
            # a product is named as the reason only when it is really alike; otherwise no reason is made up
            because[k, named] = self.item_ids_[liked[best[closest >= MIN_EXPLANATION_SIMILARITY]]]
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
        score = self.global_mean_ + self._bi_eff[cols]  # Surprise's estimate for an unknown customer
        frame = pd.DataFrame(
            {
                "customer_id": np.concatenate(records_c) if records_c else np.zeros(0, dtype=object),
                "rank": np.concatenate(records_r) if records_r else np.zeros(0, dtype=np.int64),
                "product_id": self.item_ids_[cols],
                "score": score,
                "predicted_rating": np.clip(score, *self.rating_scale_),
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
        """Products closest to ``product_id`` in factor space (cosine similarity), cold products left out.

        Returns
        -------
        DataFrame
            product_id, similarity, ratings; most similar first (ties: more popular, then product_id).
        """
        self._check_fitted()
        i = int(self.item_index([product_id])[0])
        if i < 0:
            raise EngineError(f"Product {product_id!r} has no ratings or purchases in the training data.")
        if self.cold_items_[i]:
            raise InsufficientDataError(
                f"Product {product_id!r} has only {int(self.item_counts_[i])} ratings; similar products need "
                f"at least {self.min_item_ratings}.",
                needed=int(self.min_item_ratings),
                found=int(self.item_counts_[i]),
            )
        sims = self._qi_unit @ self._qi_unit[i]
        sims[i] = -np.inf
        sims[self.cold_items_] = -np.inf
        top = top_n_indices(sims[None, :], int(n))[0]
        top = top[top >= 0]
        return pd.DataFrame(
            {"product_id": self.item_ids_[top], "similarity": sims[top], "ratings": self.item_counts_[top]}
        )


# ----------------------------------------------------------------------------------------- ranking kernels


def top_n_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` highest finite scores per row, best first; -1 pads short rows.

    Ties go to the lower column index, so with columns in a fixed item order the result never depends on
    how ``argpartition`` happens to order equal values.
    """
    n_rows, n_cols = scores.shape
    out = np.full((n_rows, n), -1, dtype=np.int64)
    if n_cols == 0 or n_rows == 0:
        return out
    k = min(n, n_cols)
    if k < n_cols:  # the k largest sit at the end of the partition (no negated copy of the matrix)
        part = np.argpartition(scores, n_cols - k, axis=1)[:, n_cols - k :]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    kth = vals.min(axis=1)
    # Rows whose boundary value is shared by items outside the partition, or which have fewer than k
    # finite scores, are resolved exactly below; the rest only need their k picks sorted.
    ties = np.count_nonzero(scores >= kth[:, None], axis=1) > k
    short = ~np.isfinite(kth)
    slow = ties | short
    fast = ~slow
    if fast.any():
        order = np.lexsort((part[fast], -vals[fast]), axis=1)
        out[fast, :k] = np.take_along_axis(part[fast], order, axis=1)
    for r in np.flatnonzero(slow):
        row = scores[r]
        candidates = (
            np.flatnonzero(np.isfinite(row) & (row >= kth[r]))
            if np.isfinite(kth[r])
            else np.flatnonzero(np.isfinite(row))
        )
        best = candidates[np.lexsort((candidates, -row[candidates]))][:k]
        out[r, : len(best)] = best
    return out


def _mmr(pool: np.ndarray, scores: np.ndarray, features: np.ndarray, n: int, diversity: float) -> np.ndarray:
    """Maximal marginal relevance over a ranked candidate pool, for a chunk of users at once.

    Each step picks the candidate maximising ``(1 - diversity) x relevance - diversity x max similarity to
    the products already picked``, relevance being the score min-max scaled within the pool.
    """
    n_rows, size = pool.shape
    valid = pool >= 0
    raw = np.take_along_axis(scores, np.maximum(pool, 0), axis=1)
    low = np.where(valid, raw, np.inf).min(axis=1)
    high = np.where(valid, raw, -np.inf).max(axis=1)
    span = np.where(high > low, high - low, 1.0)
    # invalid slots get relevance 0 here and are masked out of every step below (0 x -inf would be NaN)
    rel = np.where(valid, (raw - np.where(np.isfinite(low), low, 0.0)[:, None]) / span[:, None], 0.0)
    vec = features[np.maximum(pool, 0)]
    sim = np.einsum("umf,uvf->umv", vec, vec)
    chosen = np.zeros((n_rows, size), dtype=bool)
    max_sim = np.zeros((n_rows, size))
    out = np.full((n_rows, n), -1, dtype=np.int64)
    all_rows = np.arange(n_rows)
    for step in range(min(n, size)):
        objective = (1.0 - diversity) * rel - diversity * max_sim
        objective[chosen | ~valid] = -np.inf
        best = objective.argmax(axis=1)
        ok = np.isfinite(objective[all_rows, best])
        out[ok, step] = pool[all_rows[ok], best[ok]]
        chosen[all_rows[ok], best[ok]] = True
        max_sim = np.maximum(max_sim, sim[all_rows, best, :])
    return out


# ----------------------------------------------------------------------------------------- store-level API


def model_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``DEFAULT_PARAMS`` updated with ``params``; unknown keys raise ``EngineError``."""
    merged = dict(DEFAULT_PARAMS)
    for key, value in (params or {}).items():
        if key not in DEFAULT_PARAMS:
            raise EngineError(
                f"Unknown recommender parameter {key!r}; choose from {', '.join(DEFAULT_PARAMS)}."
            )
        merged[key] = value
    return merged


def _model_key(params: Mapping[str, Any], event_weights: Mapping[str, float] | None) -> dict[str, Any]:
    return {"params": dict(params), "event_weights": dict(event_weights) if event_weights else None}


def load_recommender(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
) -> Recommender | None:
    """The stored model for this data version and parameter set, or None when it is not trained yet."""
    return get_blob(con, "recommender", _model_key(model_params(params), event_weights))


def train_recommender(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
    progress: ProgressFn | None = None,
) -> Recommender:
    """Train (once per data version and parameter set) and store the SVD recommender; reuse it afterwards.

    The stored model carries its training summary in ``training_`` (source, rule, counts).
    """
    merged = model_params(params)
    key = _model_key(merged, event_weights)
    stored = get_blob(con, "recommender", key)
    if stored is not None:
        return stored
    data = training_data(con, event_weights=event_weights)
    model = Recommender(**merged).fit(data, progress=progress)
    rule = data.rule
    if model.negatives_ratio_ > 0:
        rule += (
            f" Because every such rating says 'chosen', the model also learns from about "
            f"{model.negatives_ratio_:g} products per chosen one that the customer never chose ("
            f"{model.n_negatives_:,} in all, drawn at random with a fixed seed), rated {_fmt(data.rating_scale[0])}, "
            "so it can tell what a customer would skip."
        )
    model.training_ = {
        "source": data.source,
        "rule": rule,
        "verb": data.verb,
        "n_ratings": data.n_ratings,
        "n_customers": data.n_customers,
        "n_products": data.n_products,
        "rating_scale": data.rating_scale,
    }
    put_blob(con, "recommender", key, model)
    return model


def product_exclusions(
    con: Connection, *, exclude_inactive: bool = True, exclude_out_of_stock: bool = True
) -> list[str]:
    """Product ids the products table marks as never to recommend: inactive, or stock 0 or less."""
    conditions = []
    if exclude_inactive:
        conditions.append("active = false")
    if exclude_out_of_stock:
        conditions.append("(stock IS NOT NULL AND stock <= 0)")
    if not conditions:
        return []
    rows = con.execute(
        f"SELECT DISTINCT product_id FROM products WHERE product_id IS NOT NULL AND ({' OR '.join(conditions)}) "
        "ORDER BY product_id"
    ).fetchall()
    return [r[0] for r in rows]


def products_in_categories(con: Connection, categories: Sequence[str]) -> list[str]:
    """Product ids whose category is one of ``categories`` (the optional category filter)."""
    if not categories:
        return []
    marks = ", ".join("?" for _ in categories)
    rows = con.execute(
        f"SELECT DISTINCT product_id FROM products WHERE category IN ({marks}) ORDER BY product_id",
        [str(c) for c in categories],
    ).fetchall()
    return [r[0] for r in rows]


def product_categories(con: Connection) -> dict[str, str]:
    """product_id -> category for every product with a category."""
    rows = con.execute(
        "SELECT product_id, any_value(category) FROM products WHERE category IS NOT NULL "
        "GROUP BY product_id ORDER BY product_id"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _segments_table(con: Connection) -> str | None:
    """The stored RFM segment table (customer_id, segment), when the segments feature provides one."""
    try:
        from engine import rfm
    except ImportError:
        return None
    name_of = getattr(rfm, "segment_table_name", None)
    if name_of is None:
        return None
    try:
        name = name_of(con)
    except EngineError:
        return None
    return name if name and table_exists(con, name) else None


def segment_popularity(
    con: Connection, *, limit: int = 200, event_weights: Mapping[str, float] | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Customer -> segment and segment -> its most popular products (by distinct customers in the training
    data, ties by product_id). Empty dicts when segments are not available."""
    table = _segments_table(con)
    if table is None:
        return {}, {}
    sql, params, _, _, _ = _training_query(con, event_weights, None)
    seg = quote_ident(table)
    groups = dict(
        con.execute(
            f"SELECT CAST(customer_id AS VARCHAR), CAST(segment AS VARCHAR) FROM {seg} "
            "WHERE segment IS NOT NULL ORDER BY customer_id"
        ).fetchall()
    )
    ranked = con.execute(
        f"""
        SELECT segment, product_id FROM (
            SELECT CAST(s.segment AS VARCHAR) AS segment, t.product_id,
                   row_number() OVER (PARTITION BY s.segment
                                      ORDER BY count(DISTINCT t.customer_id) DESC, t.product_id) AS pos
            FROM ({sql}) t JOIN {seg} s ON CAST(s.customer_id AS VARCHAR) = t.customer_id
            WHERE s.segment IS NOT NULL
            GROUP BY s.segment, t.product_id
        ) WHERE pos <= ? ORDER BY segment, pos
        """,
        params + [int(limit)],
    ).fetchall()
    popularity: dict[str, list[str]] = {}
    for segment, product in ranked:
        popularity.setdefault(segment, []).append(product)
    return groups, popularity


def purchased_pairs(con: Connection) -> pd.DataFrame:
    """customer_id, product_id of every non-returned purchase in orders (excluded from recommendations)."""
    return con.execute(
        """
        SELECT DISTINCT customer_id, product_id FROM orders
        WHERE customer_id IS NOT NULL AND product_id IS NOT NULL AND NOT coalesce(is_return, false)
        ORDER BY customer_id, product_id
        """
    ).df()


def all_customer_ids(con: Connection) -> list[str]:
    """Every customer id in customers, orders or interactions, sorted."""
    rows = con.execute(
        """
        SELECT customer_id FROM customers WHERE customer_id IS NOT NULL
        UNION SELECT customer_id FROM orders WHERE customer_id IS NOT NULL
        UNION SELECT customer_id FROM interactions WHERE customer_id IS NOT NULL
        ORDER BY 1
        """
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class RecommendOptions:
    """What the batch top-N leaves out and how it ranks.

    Attributes
    ----------
    n : list length per customer.
    exclude_inactive, exclude_out_of_stock : honour the products table's ``active`` and ``stock``.
    categories : when non-empty, recommend only products of these categories.
    diversity : 0 to 1, maximal-marginal-relevance re-ranking strength.
    diversity_by : ``"factors"`` (item factor similarity) or ``"category"`` (same category).
    """

    n: int = DEFAULT_N
    exclude_inactive: bool = True
    exclude_out_of_stock: bool = True
    categories: tuple[str, ...] = ()
    diversity: float = 0.0
    diversity_by: str = "factors"

    def as_dict(self) -> dict[str, Any]:
        """Plain, sorted values: the options' part of the stored result's key."""
        return {
            "n": int(self.n),
            "exclude_inactive": bool(self.exclude_inactive),
            "exclude_out_of_stock": bool(self.exclude_out_of_stock),
            "categories": sorted(str(c) for c in self.categories),
            "diversity": round(float(self.diversity), 4),
            "diversity_by": self.diversity_by,
        }


def batch_recommendations(
    con: Connection,
    model: Recommender,
    options: RecommendOptions | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Top-N for every customer in the store (known to the model or not), with exclusions and fallbacks.

    Returns
    -------
    DataFrame
        The columns of ``Recommender.recommend`` (with explanations), customers sorted by id.
    """
    options = options or RecommendOptions()
    if options.diversity_by not in ("factors", "category"):
        raise EngineError(f"diversity_by must be 'factors' or 'category', got {options.diversity_by!r}.")
    exclusions = product_exclusions(
        con, exclude_inactive=options.exclude_inactive, exclude_out_of_stock=options.exclude_out_of_stock
    )
    allowed = products_in_categories(con, options.categories) if options.categories else None
    groups, popularity = segment_popularity(con, event_weights=event_weights)
    categories = (
        product_categories(con) if options.diversity > 0 and options.diversity_by == "category" else None
    )
    customers = sorted(set(all_customer_ids(con)) | set(model.user_ids_.tolist()))
    return model.recommend(
        customers,
        n=options.n,
        exclusions=exclusions,
        allowed=allowed,
        extra_seen=purchased_pairs(con),
        customer_groups=groups,
        group_popularity=popularity,
        diversity=options.diversity,
        item_categories=categories,
    )


def _batch_key(params: Mapping[str, Any], options: RecommendOptions, event_weights) -> dict[str, Any]:
    return {"model": _model_key(model_params(params), event_weights), "options": options.as_dict()}


def recommendations_table(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    options: RecommendOptions | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Name of the stored table of all customers' top-N for this data version, model and options,
    computing it (and training the model) once when absent. Columns as ``batch_recommendations``."""
    options = options or RecommendOptions()
    key = _batch_key(params or {}, options, event_weights)
    name = result_table(con, "recommendations", key)
    if name is not None:
        return name
    report = progress or _no_progress
    model = train_recommender(
        con, params, event_weights=event_weights, progress=(lambda f, t: report(0.8 * f, t))
    )
    report(0.85, "Scoring every customer")
    frame = batch_recommendations(con, model, options, event_weights=event_weights)
    name = put_result(con, "recommendations", key, frame)
    report(1.0, "Recommendations stored")
    return name


def recommendations_ready(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    options: RecommendOptions | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
) -> bool:
    """True when the batch table for these settings is already stored (nothing to train or score)."""
    key = _batch_key(params or {}, options or RecommendOptions(), event_weights)
    return result_table(con, "recommendations", key) is not None


_PRODUCTS_SQL = """(SELECT product_id, any_value(name) AS name, any_value(category) AS category,
                           any_value(price) AS price FROM products GROUP BY product_id)"""


def customer_recommendations(con: Connection, table: str, customer_id: str) -> pd.DataFrame:
    """One customer's stored top-N joined to the catalogue, with the explaining product's name.

    Returns
    -------
    DataFrame
        rank, product_id, name, category, price, score, predicted_rating, fallback, reason, cold_item,
        because_product_id, because_name, because_similarity; by rank.
    """
    return con.execute(
        f"""
        SELECT r.rank, r.product_id, coalesce(p.name, r.product_id) AS name, p.category, p.price, r.score,
               r.predicted_rating,
               r.fallback, r.reason, r.cold_item, r.because_product_id,
               coalesce(b.name, r.because_product_id) AS because_name, r.because_similarity
        FROM {quote_ident(table)} r
        LEFT JOIN {_PRODUCTS_SQL} p ON p.product_id = r.product_id
        LEFT JOIN {_PRODUCTS_SQL} b ON b.product_id = r.because_product_id
        WHERE r.customer_id = ?
        ORDER BY r.rank
        """,
        [str(customer_id)],
    ).df()


def export_recommendations(con: Connection, table: str) -> pd.DataFrame:
    """All customers' stored top-N with product name, category and price, for the CSV export."""
    return con.execute(
        f"""
        SELECT r.customer_id, r.rank, r.product_id, p.name, p.category, p.price,
               r.predicted_rating, r.score, r.fallback, r.reason, r.cold_item,
               r.because_product_id, b.name AS because_name
        FROM {quote_ident(table)} r
        LEFT JOIN {_PRODUCTS_SQL} p ON p.product_id = r.product_id
        LEFT JOIN {_PRODUCTS_SQL} b ON b.product_id = r.because_product_id
        ORDER BY r.customer_id, r.rank
        """
    ).df()


def recommendation_summary(con: Connection, table: str) -> dict[str, Any]:
    """Counts over the stored batch: customers, customers on a fallback, distinct products, cold items."""
    row = con.execute(
        f"""
        SELECT count(DISTINCT customer_id),
               count(DISTINCT customer_id) FILTER (WHERE fallback),
               count(DISTINCT product_id),
               count(*) FILTER (WHERE cold_item),
               count(*)
        FROM {quote_ident(table)}
        """
    ).fetchone()
    return {
        "customers": int(row[0]),
        "fallback_customers": int(row[1]),
        "distinct_products": int(row[2]),
        "cold_item_rows": int(row[3]),
        "rows": int(row[4]),
    }


def similar_products(con: Connection, model: Recommender, product_id: str, n: int = 10) -> pd.DataFrame:
    """Item-item neighbours in factor space joined to the catalogue: product_id, name, category, price,
    similarity, ratings; most similar first."""
    near = model.similar_items(product_id, n)
    cur = con.cursor()
    cur.register("_near", near.assign(_pos=np.arange(len(near))))
    try:
        return cur.execute(
            f"""
            SELECT n.product_id, coalesce(p.name, n.product_id) AS name, p.category, p.price, n.similarity,
                   n.ratings
            FROM _near n LEFT JOIN {_PRODUCTS_SQL} p ON p.product_id = n.product_id
            ORDER BY n._pos
            """
        ).df()
    finally:
        cur.unregister("_near")


def customer_segment_frame(con: Connection) -> pd.DataFrame | None:
    """Every customer's RFM segment and scores from the segments feature (``rfm.customer_segments``), or
    None while that feature is not available or has nothing to say."""
    try:
        from engine import rfm
    except ImportError:
        return None
    segments_of = getattr(rfm, "customer_segments", None)
    if segments_of is None:
        return None
    try:
        frame = segments_of(con)
    except EngineError:
        return None
    if frame is None or "customer_id" not in frame or "segment" not in frame:
        return None
    return frame


def segment_personas(con: Connection) -> dict[str, dict[str, str]]:
    """Segment -> its persona (description and suggested action) from the personas feature; empty when
    that feature is not available."""
    try:
        from engine import personas
    except ImportError:
        return {}
    cards_of = getattr(personas, "persona_cards", None)
    if cards_of is None:
        return {}
    try:
        cards = cards_of(con, by="segment")
    except EngineError:
        return {}
    return {
        str(card.group): {"description": str(card.description), "action": str(card.action)} for card in cards
    }


def customer_profile(con: Connection, customer_id: str) -> dict[str, Any] | None:
    """The customer's RFM segment and scores from the segments feature, or None when not available."""
    frame = customer_segment_frame(con)
    if frame is None:
        return None
    row = frame[frame["customer_id"].astype(str) == str(customer_id)]
    return None if row.empty else row.iloc[0].to_dict()


def recommended_customers(con: Connection, table: str) -> pd.DataFrame:
    """customer_id and fallback flag of every customer in a stored batch table, by customer_id."""
    return con.execute(
        f"SELECT customer_id, bool_or(fallback) AS fallback FROM {quote_ident(table)} "
        "GROUP BY customer_id ORDER BY customer_id"
    ).df()


def catalogue(con: Connection) -> pd.DataFrame:
    """product_id, name, category, price of the products table (one row per product id), by product_id."""
    return con.execute(f"SELECT * FROM {_PRODUCTS_SQL} ORDER BY product_id").df()


# ----------------------------------------------------------------------------------------- tuning


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
    base = model_params(base_params)
    report = progress or _no_progress
    frame = data.ratings[["customer_id", "product_id", "rating"]]
    ratio = base["implicit_negatives"]
    ratio = (AUTO_NEGATIVES if data.source in IMPLICIT_SOURCES else 0.0) if ratio is None else float(ratio)
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


__all__ = [
    "MIN_EXPLANATION_SIMILARITY",
    "EVENT_WEIGHTS",
    "DEFAULT_PARAMS",
    "IMPLICIT_SOURCES",
    "AUTO_NEGATIVES",
    "sample_negatives",
    "TUNING_GRID",
    "SOURCE_VERBS",
    "TrainingData",
    "training_data",
    "customer_history",
    "build_trainset",
    "Prediction",
    "Recommender",
    "top_n_indices",
    "model_params",
    "load_recommender",
    "train_recommender",
    "product_exclusions",
    "products_in_categories",
    "product_categories",
    "segment_popularity",
    "purchased_pairs",
    "all_customer_ids",
    "RecommendOptions",
    "batch_recommendations",
    "recommendations_table",
    "recommendations_ready",
    "customer_recommendations",
    "export_recommendations",
    "recommendation_summary",
    "similar_products",
    "customer_profile",
    "customer_segment_frame",
    "segment_personas",
    "recommended_customers",
    "catalogue",
    "TuningResult",
    "tune_recommender",
]

"""Store-level recommendations: choose and train the model once per data version and settings, store it
and every customer's list, train in the background while best-sellers stand in, and read lists, histories,
segments and similar products back for the page, the command line and the report.

Stored models and lists are keyed by the engine's code version as well as the data version and settings
(``store.result_key``), so a model pickled by an older release is trained again, never loaded.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import EngineError, InsufficientDataError
from engine.recommend.data import (
    ProgressFn,
    TrainingData,
    _no_progress,
    as_moment,
    product_catalogue,
    sample_customers,
    training_data,
)
from engine.recommend.evaluation import (
    DEFAULT_RULES,
    MODEL_LABELS,
    RANKING_MODELS,
    ChoiceRules,
    ModelChoice,
    build_model,
    choose_model,
    date_holdout,
    evaluate_models,
    random_split,
    time_split,
)
from engine.recommend.models import DEFAULT_N, ItemSimilarity, RankingModel, Recommender
from engine.store import (
    Connection,
    compute_once,
    data_version,
    get_blob,
    put_blob,
    put_result,
    put_result_sql,
    quote_ident,
    result_key,
    result_table,
    table_exists,
)

#: SVD parameters (the rating model). See ``Recommender`` for why these values.
#: ``min_item_ratings``: products with fewer ratings are scored by Surprise's rule for unknown items.
#: ``implicit_negatives``: None picks ``AUTO_NEGATIVES`` when the data has no explicit rating, else 0.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_factors": 30,
    "n_epochs": 60,
    "lr_all": 0.02,
    "reg_all": 0.15,
    "min_item_ratings": 3,
    "implicit_negatives": None,
    "random_state": 42,
}

#: The models an analyst may pin, besides "auto" (chosen by evidence on every retrain).
MODEL_CHOICES: dict[str, str] = {"auto": "Automatic: the best model on held-out data"} | {
    key: MODEL_LABELS[key] for key in RANKING_MODELS
}

#: The model choice is made on a seeded sample of at most this many customers (their whole history):
#: enough to tell models apart, and it keeps a store with a million customers from training every
#: candidate on everything. The chosen model is then trained on everyone.
SELECTION_CUSTOMERS = 10_000


def svd_settings(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``DEFAULT_PARAMS`` updated with ``params``; unknown keys raise ``EngineError``."""
    merged = dict(DEFAULT_PARAMS)
    for key, value in (params or {}).items():
        if key not in DEFAULT_PARAMS:
            raise EngineError(
                f"Unknown recommender parameter {key!r}; choose from {', '.join(DEFAULT_PARAMS)}."
            )
        merged[key] = value
    return merged


model_params = svd_settings


def _check_pin(model: str | None) -> str:
    chosen = model or "auto"
    if chosen not in MODEL_CHOICES:
        raise EngineError(f"Unknown model {chosen!r}; choose from {', '.join(MODEL_CHOICES)}.")
    return chosen


def _model_key(
    params: Mapping[str, Any] | None,
    event_weights: Mapping[str, float] | None,
    model: str = "auto",
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "params": svd_settings(params),
        "event_weights": dict(event_weights) if event_weights else None,
        "model": _check_pin(model),
        "until": until.isoformat() if until is not None else None,
    }


def select_model(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
    rules: ChoiceRules = DEFAULT_RULES,
    k: int = DEFAULT_N,
    progress: ProgressFn | None = None,
) -> ModelChoice:
    """Compare every candidate with best-sellers on the store's date holdout (train before a date, test on
    what customers chose for the first time after it) and pick the model that ships by ``rules``, or
    honour a pinned ``model``. Uses ``SELECTION_CUSTOMERS`` customers at most."""
    moment = as_moment(until)
    report = progress or _no_progress
    report(0.0, "Preparing the holdout")
    sample = sample_customers(con, SELECTION_CUSTOMERS, until=moment)
    try:
        data, split = date_holdout(con, event_weights=event_weights, until=moment, customers=sample)
    except InsufficientDataError:
        data = training_data(con, event_weights=event_weights, until=moment, customers=sample)
        split = random_split(data.ratings)
    if split.kind == "date" and _scoreable(split) < rules.min_customers:
        by_date = _scoreable(split)
        split = time_split(data.ratings)
        split = type(split)(
            split.train,
            split.test,
            split.kind,
            split.description
            + f" (A date split would have left only {by_date:,} customers to score, fewer than "
            f"{rules.min_customers:,}.)",
        )
    if sample is not None:
        split = type(split)(
            split.train,
            split.test,
            split.kind,
            split.description + f" Measured on a sample of {len(sample):,} customers.",
            split.cutoff,
        )
    evaluation = evaluate_models(data, split=split, k=k, params=params, max_customers=None, progress=progress)
    return choose_model(evaluation, rules, pinned=_check_pin(model))


def _scoreable(split) -> int:
    """Customers in the test part with a liked product who also have training history."""
    test = split.test[split.test["liked"]] if "liked" in split.test else split.test
    return int(test.loc[test["customer_id"].isin(set(split.train["customer_id"])), "customer_id"].nunique())


def train_recommender(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
    progress: ProgressFn | None = None,
) -> RankingModel:
    """Choose (by evidence, or as pinned), train on every signal and store the model that ships; reuse the
    stored one for the same data version, settings and code version.

    The returned model carries ``choice_`` (the ``ModelChoice`` with its evidence), ``training_`` (source,
    rule, counts) and ``rating_model_`` (the SVD that predicts ratings when the data has explicit ratings,
    else None).
    """
    moment = as_moment(until)
    key = _model_key(params, event_weights, model, moment)
    stored = get_blob(con, "recommender", key)
    if stored is not None:
        return stored
    report = progress or _no_progress
    try:
        choice = select_model(
            con,
            params,
            model=model,
            event_weights=event_weights,
            until=moment,
            progress=lambda f, t: report(0.7 * f, t),
        )
    except EngineError as error:
        if model not in ("auto", None) or not _too_little_to_compare(error):
            raise
        choice = None  # too little history to hold any out: best-sellers ship, and the page says why
    chosen = choice.model if choice is not None else "popular"
    report(0.7, "Reading every rating, event and purchase")
    data = training_data(con, event_weights=event_weights, until=moment)
    report(0.72, f"Training {MODEL_LABELS.get(chosen, chosen)} on everything")
    if chosen == "blend":
        shipped = build_model("blend", params, {"base": build_model(choice.blended or "item_similarity")})
    else:
        shipped = build_model(chosen, params)
    shipped.fit(data, progress=lambda f, t: report(0.72 + 0.2 * f, t))
    rating_model = None
    if data.has_explicit:
        if isinstance(shipped, Recommender):
            rating_model = shipped
        else:
            report(0.93, "Training the rating model (SVD)")
            rating_model = Recommender(**svd_settings(params)).fit(data)
    if (
        not isinstance(shipped, Recommender)
        and shipped.item_vectors() is None
        and not isinstance(shipped, ItemSimilarity)
    ):
        shipped.similar_model_ = ItemSimilarity().fit(data)  # "similar products" for best-sellers
    shipped.choice_ = choice
    shipped.rating_model_ = rating_model
    shipped.training_ = {
        "source": data.source,
        "sources": data.sources,
        "rule": _shipped_rule(data, rating_model),
        "verb": data.verb,
        "n_ratings": data.n_ratings,
        "n_customers": data.n_customers,
        "n_products": data.n_products,
        "rating_scale": data.rating_scale,
        "until": moment,
        "model": chosen,
        "label": choice.label if choice is not None else MODEL_LABELS["popular"],
    }
    put_blob(con, "recommender", key, shipped)
    return shipped


def _too_little_to_compare(error: EngineError) -> bool:
    return isinstance(error, InsufficientDataError)


def _shipped_rule(data: TrainingData, rating_model: Recommender | None) -> str:
    rule = data.rule
    if rating_model is not None and rating_model.negatives_ratio_ > 0:
        rule += (
            f" The rating model also learns from about {rating_model.negatives_ratio_:g} products per chosen "
            f"one that the customer never chose ({rating_model.n_negatives_:,} in all, drawn at random with a "
            f"fixed seed), rated {data.rating_scale[0]:g}."
        )
    return rule


def load_recommender(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
) -> RankingModel | None:
    """The stored model for this data version, settings and code version, or None when not trained yet."""
    return get_blob(con, "recommender", _model_key(params, event_weights, model, as_moment(until)))


# ----------------------------------------------------------------------------------------- catalogue rules


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


# ----------------------------------------------------------------------------------------- segments


def _segments_table(con: Connection) -> str | None:
    """The stored RFM segment table (customer_id, segment), or None when there are no orders to segment."""
    from engine import rfm

    if not _has_orders(con):
        return None
    name = rfm.segment_table_name(con)
    return name if table_exists(con, name) else None


def _has_orders(con: Connection) -> bool:
    return bool(con.execute("SELECT count(*) FROM orders WHERE customer_id IS NOT NULL").fetchone()[0])


def segment_popularity(
    con: Connection, *, limit: int = 200, event_weights: Mapping[str, float] | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Customer -> segment and segment -> its most popular products (by distinct customers with a signal,
    ties by product_id). Empty dicts when there are no orders to segment customers by."""
    table = _segments_table(con)
    if table is None:
        return {}, {}
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
            FROM ({_SIGNAL_PAIRS_SQL}) t JOIN {seg} s ON CAST(s.customer_id AS VARCHAR) = t.customer_id
            WHERE s.segment IS NOT NULL
            GROUP BY s.segment, t.product_id
        ) WHERE pos <= ? ORDER BY segment, pos
        """,
        [int(limit)],
    ).fetchall()
    popularity: dict[str, list[str]] = {}
    for segment, product in ranked:
        popularity.setdefault(segment, []).append(product)
    return groups, popularity


# Every customer-product pair with a positive signal (a rating, an event or a kept purchase).
_SIGNAL_PAIRS_SQL = """
    SELECT customer_id, product_id FROM interactions
    WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
    UNION
    SELECT customer_id, product_id FROM orders
    WHERE customer_id IS NOT NULL AND product_id IS NOT NULL AND NOT coalesce(is_return, false)
"""


def customer_segment_frame(con: Connection) -> pd.DataFrame | None:
    """Every customer's RFM segment and scores (``rfm.customer_segments``), or None when there are no
    orders to segment customers by."""
    from engine import rfm

    if not _has_orders(con):
        return None
    return rfm.customer_segments(con)


@dataclass(frozen=True)
class PersonaTrait:
    """One headline trait of a segment, as values the page words: ``column`` is ``"category"`` or
    ``"product"`` for what they buy, else a customer attribute; ``value`` its value or range."""

    kind: str
    column: str
    value: str
    lift: float


@dataclass(frozen=True)
class SegmentPersona:
    """A segment's suggested action and headline traits (from ``personas.persona_cards``)."""

    segment: str
    customers: int
    customer_share: float
    action: str
    traits: tuple[PersonaTrait, ...] = field(default_factory=tuple)


def segment_personas(con: Connection) -> dict[str, SegmentPersona]:
    """Segment -> its persona as structured values; empty when there are no orders to segment by."""
    from engine import personas, segments

    if not _has_orders(con):
        return {}
    columns = sorted(segments.customer_attributes(con)["column"], key=len, reverse=True)
    out: dict[str, SegmentPersona] = {}
    for card in personas.persona_cards(con, by="segment"):
        traits = []
        for kind in ("attribute", "category"):
            for row in card.top(kind, 2).itertuples():
                traits.append(_structured_trait(kind, str(row.trait), float(row.lift), columns))
        out[str(card.group)] = SegmentPersona(
            str(card.group), int(card.customers), float(card.customer_share), str(card.action), tuple(traits)
        )
    return out


def _structured_trait(kind: str, trait: str, lift: float, columns: Sequence[str]) -> PersonaTrait:
    if kind != "attribute":
        return PersonaTrait(kind, kind, trait, lift)
    for column in columns:  # longest names first: "age_band" before "age"
        for joiner in (" = ", " "):
            if trait.startswith(column + joiner):
                return PersonaTrait(kind, column, trait[len(column) + len(joiner) :], lift)
    return PersonaTrait(kind, trait, "", lift)


def customer_profile(con: Connection, customer_id: str) -> dict[str, Any] | None:
    """The customer's RFM segment and scores, or None when they have none."""
    frame = customer_segment_frame(con)
    if frame is None:
        return None
    row = frame[frame["customer_id"].astype(str) == str(customer_id)]
    return None if row.empty else row.iloc[0].to_dict()


# ----------------------------------------------------------------------------------------- batch lists


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
    diversity_by : ``"factors"`` (the model's own product similarity) or ``"category"``.
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
    model: RankingModel,
    options: RecommendOptions | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Top-N for every customer in the store (known to the model or not), with exclusions and fallbacks.

    Returns
    -------
    DataFrame
        The columns of ``RankingModel.recommend`` (with explanations) plus ``model`` (the key of the model
        that made the row); ``predicted_rating`` from the rating model when the data has explicit
        ratings. Customers sorted by id.
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
    frame = model.recommend(
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
    rating_model = getattr(model, "rating_model_", None)
    if rating_model is not None and rating_model is not model:
        frame["predicted_rating"] = rating_model.score_pairs(frame["customer_id"], frame["product_id"])
    shipped = getattr(model, "training_", {}).get("model", model.key)
    frame["model"] = np.where(frame["fallback"].to_numpy(dtype=bool), "popular", shipped)
    return frame


def _batch_key(
    params: Mapping[str, Any] | None,
    options: RecommendOptions,
    event_weights: Mapping[str, float] | None,
    model: str = "auto",
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    return {"model": _model_key(params, event_weights, model, until), "options": options.as_dict()}


def recommendations_table(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    options: RecommendOptions | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
    until: dt.date | dt.datetime | str | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Name of the stored table of all customers' top-N for this data version, model and options,
    computing it (and choosing and training the model) once when absent. Columns as
    ``batch_recommendations``."""
    options = options or RecommendOptions()
    moment = as_moment(until)
    key = _batch_key(params, options, event_weights, model, moment)
    name = result_table(con, "recommendations", key)
    if name is not None:
        return name
    report = progress or _no_progress
    shipped = train_recommender(
        con,
        params,
        model=model,
        event_weights=event_weights,
        until=moment,
        progress=lambda f, t: report(0.9 * f, t),
    )
    report(0.95, "Making every customer's list")
    frame = batch_recommendations(con, shipped, options, event_weights=event_weights)
    name = put_result(con, "recommendations", key, frame)
    report(1.0, "Recommendations stored")
    return name


def recommendations_ready(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    options: RecommendOptions | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
) -> bool:
    """True when the batch table for these settings is already stored (nothing to train or score)."""
    key = _batch_key(params, options or RecommendOptions(), event_weights, model)
    return result_table(con, "recommendations", key) is not None


# ----------------------------------------------------------------------------------------- background

#: Stores with at most this many rating, event and order rows usually train within seconds; above it the
#: page shows best-sellers at once instead of waiting for training first.
QUICK_TRAINING_ROWS = 1_000_000


def trains_quickly(con: Connection) -> bool:
    """Whether training usually finishes within seconds here (at most ``QUICK_TRAINING_ROWS`` signal rows)."""
    rows = con.execute(
        "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM interactions)"
    ).fetchone()[0]
    return int(rows) <= QUICK_TRAINING_ROWS


@dataclass
class TrainingJob:
    """Training that runs in a background thread while the page shows best-sellers.

    ``fraction`` and ``text`` follow its progress; ``table`` is the stored table when done; ``error`` the
    ``EngineError`` it stopped with (any other exception is re-raised by ``result()``).
    """

    key: str
    started: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    text: str = "Starting"
    table: str | None = None
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until training ends or ``timeout`` seconds pass; True when it ended."""
        return self._done.wait(timeout)

    def result(self) -> str:
        """The stored table's name; raises what training raised."""
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.table or ""


_jobs: dict[str, TrainingJob] = {}
_jobs_lock = threading.Lock()


def start_training(
    con: Connection,
    params: Mapping[str, Any] | None = None,
    options: RecommendOptions | None = None,
    *,
    model: str = "auto",
    event_weights: Mapping[str, float] | None = None,
) -> TrainingJob:
    """The training job for these settings on this store and data version: a finished one at once when
    the lists are stored, the running one when it is under way, else a new one started in a background
    thread (on its own cursor). Everyone asking for the same settings shares one job."""
    options = options or RecommendOptions()
    key = _batch_key(params, options, event_weights, model)
    store = con.execute("SELECT file FROM pragma_database_list WHERE name = current_database()").fetchone()
    job_key = f"{store[0] if store else id(con)}|{data_version(con)}|{result_key(key)}"
    with _jobs_lock:
        job = _jobs.get(job_key)
        if job is not None and not (job.done and job.error is not None):
            return job
        job = TrainingJob(job_key)
        existing = result_table(con, "recommendations", key)
        if existing is not None:
            job.table, job.fraction, job.text = existing, 1.0, "Recommendations stored"
            job._done.set()
            _jobs[job_key] = job
            return job
        _jobs[job_key] = job
    worker_con = con.cursor()

    def progress(fraction: float, text: str) -> None:
        job.fraction, job.text = float(fraction), text

    def run() -> None:
        try:
            job.table = recommendations_table(
                worker_con, params, options, model=model, event_weights=event_weights, progress=progress
            )
            job.fraction, job.text = 1.0, "Recommendations stored"
        except BaseException as error:  # handed to whoever reads the job's result
            job.error = error
        finally:
            worker_con.close()
            job._done.set()

    threading.Thread(target=run, name=f"segmint-train-{job_key[-8:]}", daemon=True).start()
    return job


# ----------------------------------------------------------------------------------------- reading lists


def _products(con: Connection) -> str:
    """The catalogue to join lists to: the products table, named from order lines where it has no name."""
    return quote_ident(product_catalogue(con))


def customer_recommendations(con: Connection, table: str, customer_id: str) -> pd.DataFrame:
    """One customer's stored top-N joined to the catalogue, with the explaining product's name.

    Returns
    -------
    DataFrame
        rank, product_id, name, category, price, score, predicted_rating, model, fallback, reason,
        cold_item, because_product_id, because_name, because_similarity; by rank.
    """
    return con.execute(
        f"""
        SELECT r.rank, r.product_id, coalesce(p.name, r.product_id) AS name, p.category, p.price, r.score,
               r.predicted_rating, r.model, r.fallback, r.reason, r.cold_item, r.because_product_id,
               coalesce(b.name, r.because_product_id) AS because_name, r.because_similarity
        FROM {quote_ident(table)} r
        LEFT JOIN {_products(con)} p ON p.product_id = r.product_id
        LEFT JOIN {_products(con)} b ON b.product_id = r.because_product_id
        WHERE r.customer_id = ?
        ORDER BY r.rank
        """,
        [str(customer_id)],
    ).df()


def product_popularity(con: Connection) -> str:
    """Name of the stored table of every product's popularity (product_id, customers: distinct customers
    with a rating, event or kept purchase of it), computed once per data version in SQL."""

    def find() -> str | None:
        return result_table(con, "best_sellers", {})

    def compute() -> str:
        return put_result_sql(
            con,
            "best_sellers",
            {},
            """
            SELECT product_id, count(DISTINCT customer_id) AS customers FROM (
                SELECT customer_id, product_id FROM interactions
                WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
                UNION ALL
                SELECT customer_id, product_id FROM orders
                WHERE customer_id IS NOT NULL AND product_id IS NOT NULL AND NOT coalesce(is_return, false)
            ) GROUP BY product_id
            """,
            order_by="customers DESC, product_id",
        )

    return compute_once(con, "best_sellers", {}, find, compute)


def best_seller_list(
    con: Connection, customer_id: str, options: RecommendOptions | None = None
) -> pd.DataFrame:
    """Best-sellers for one customer straight from SQL (what the page shows while the model trains): the
    products most customers chose, minus what this customer already has and what the options leave out.

    Returns
    -------
    DataFrame with the columns of ``customer_recommendations`` (``model`` "popular", ``fallback`` true,
    reason "best-sellers while the model trains").
    """
    options = options or RecommendOptions()
    exclusions = product_exclusions(
        con, exclude_inactive=options.exclude_inactive, exclude_out_of_stock=options.exclude_out_of_stock
    )
    allowed = products_in_categories(con, options.categories) if options.categories else None
    filters, params = ["NOT list_contains($excluded, c.product_id)"], {"excluded": exclusions}
    if allowed is not None:
        filters.append("list_contains($allowed, c.product_id)")
        params["allowed"] = allowed
    params.update({"customer": str(customer_id), "n": int(options.n)})
    popularity = quote_ident(product_popularity(con))
    return con.execute(
        f"""
        WITH mine AS (
            SELECT product_id FROM interactions WHERE customer_id = $customer
            UNION SELECT product_id FROM orders WHERE customer_id = $customer
        )
        SELECT CAST(row_number() OVER (ORDER BY c.customers DESC, c.product_id) AS BIGINT) AS rank,
               c.product_id, coalesce(p.name, c.product_id) AS name, p.category, p.price,
               CAST(c.customers AS DOUBLE) AS score, CAST(NULL AS DOUBLE) AS predicted_rating,
               'popular' AS model, true AS fallback, 'best-sellers while the model trains' AS reason,
               false AS cold_item, CAST(NULL AS VARCHAR) AS because_product_id,
               CAST(NULL AS VARCHAR) AS because_name, CAST(NULL AS DOUBLE) AS because_similarity
        FROM {popularity} c LEFT JOIN {_products(con)} p ON p.product_id = c.product_id
        WHERE c.product_id NOT IN (SELECT product_id FROM mine WHERE product_id IS NOT NULL)
              AND {" AND ".join(filters)}
        ORDER BY c.customers DESC, c.product_id
        LIMIT $n
        """,
        params,
    ).df()


@dataclass(frozen=True)
class CustomerDirectory:
    """Who can be looked up: how many customers there are, and their ids when few enough to list
    (else a few examples, and the page asks for an id)."""

    count: int
    ids: tuple[str, ...]
    complete: bool
    first_with_history: str | None = None


# A customer with something to learn from: a rating or event, or a product bought and not returned in full
# (more units bought than returned), as the training data counts a product as liked.
_FIRST_WITH_HISTORY_SQL = """
SELECT min(customer_id) FROM (
    SELECT customer_id FROM interactions WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
    UNION ALL
    SELECT customer_id FROM orders
    WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
    GROUP BY customer_id, product_id
    HAVING coalesce(sum(abs(coalesce(quantity, 1))) FILTER (WHERE NOT coalesce(is_return, false)), 0)
         > coalesce(sum(abs(coalesce(quantity, 1))) FILTER (WHERE coalesce(is_return, false)), 0)
)
"""


def customer_directory(con: Connection, limit: int = 50_000) -> CustomerDirectory:
    """Every customer id (customers, orders, interactions) when there are at most ``limit``, else the
    count and the first three ids, sorted; ``first_with_history`` is the first id (same order) with a
    rating, an event or a kept purchase, the customer worth opening on (None when nobody has one)."""
    union = """
        SELECT customer_id FROM customers WHERE customer_id IS NOT NULL
        UNION SELECT customer_id FROM orders WHERE customer_id IS NOT NULL
        UNION SELECT customer_id FROM interactions WHERE customer_id IS NOT NULL
    """
    rows = con.execute(f"SELECT customer_id FROM ({union}) ORDER BY 1 LIMIT ?", [int(limit) + 1]).fetchall()
    first = con.execute(_FIRST_WITH_HISTORY_SQL).fetchone()[0]
    if len(rows) <= limit:
        return CustomerDirectory(len(rows), tuple(r[0] for r in rows), True, first)
    count = con.execute(f"SELECT count(*) FROM ({union})").fetchone()[0]
    return CustomerDirectory(int(count), tuple(r[0] for r in rows[:3]), False, first)


def customer_known(con: Connection, customer_id: str) -> bool:
    """Whether the id is a customer in customers, orders or interactions."""
    return bool(
        con.execute(
            """
            SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = $c)
                OR EXISTS (SELECT 1 FROM orders WHERE customer_id = $c)
                OR EXISTS (SELECT 1 FROM interactions WHERE customer_id = $c)
            """,
            {"c": str(customer_id)},
        ).fetchone()[0]
    )


def export_recommendations(con: Connection, table: str) -> pd.DataFrame:
    """All customers' stored top-N with product name, category and price, for the CSV export."""
    return con.execute(
        f"""
        SELECT r.customer_id, r.rank, r.product_id, p.name, p.category, p.price, r.score, r.model,
               r.predicted_rating, r.fallback, r.reason, r.cold_item, r.because_product_id,
               b.name AS because_name
        FROM {quote_ident(table)} r
        LEFT JOIN {_products(con)} p ON p.product_id = r.product_id
        LEFT JOIN {_products(con)} b ON b.product_id = r.because_product_id
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
    catalogue_size = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT product_id FROM ({_SIGNAL_PAIRS_SQL}))"
    ).fetchone()[0]
    return {
        "customers": int(row[0]),
        "fallback_customers": int(row[1]),
        "distinct_products": int(row[2]),
        "cold_item_rows": int(row[3]),
        "rows": int(row[4]),
        "catalogue_products": int(catalogue_size),
    }


def similarity_model(model: RankingModel) -> RankingModel:
    """The model whose product similarity answers "similar products": the shipped model's own, or (for
    best-sellers, which have none) the item similarity fitted with it."""
    if (
        isinstance(model, Recommender)
        or model.item_vectors() is not None
        or isinstance(model, ItemSimilarity)
    ):
        return model
    return getattr(model, "similar_model_", model)


def similar_products(con: Connection, model: RankingModel, product_id: str, n: int = 10) -> pd.DataFrame:
    """Products most alike to ``product_id`` by the model's own similarity, joined to the catalogue:
    product_id, name, category, price, similarity, ratings; most similar first."""
    near = similarity_model(model).similar_items(product_id, n)
    cur = con.cursor()
    cur.register("_near", near.assign(_pos=np.arange(len(near))))
    try:
        return cur.execute(
            f"""
            SELECT n.product_id, coalesce(p.name, n.product_id) AS name, p.category, p.price, n.similarity,
                   n.ratings
            FROM _near n LEFT JOIN {_products(con)} p ON p.product_id = n.product_id
            ORDER BY n._pos
            """
        ).df()
    finally:
        cur.unregister("_near")


def recommended_customers(con: Connection, table: str) -> pd.DataFrame:
    """customer_id and fallback flag of every customer in a stored batch table, by customer_id."""
    return con.execute(
        f"SELECT customer_id, bool_or(fallback) AS fallback FROM {quote_ident(table)} "
        "GROUP BY customer_id ORDER BY customer_id"
    ).df()


def catalogue(con: Connection) -> pd.DataFrame:
    """product_id, name, category, price of the products table (one row per product id), by product_id."""
    return con.execute(f"SELECT * FROM {_products(con)} ORDER BY product_id").df()


# ----------------------------------------------------------------------------------------- export


#: Columns of ``top_n_export`` (and ``segmint recommend``'s CSV).
EXPORT_COLUMNS = ["customer_id", "rank", "product_id", "score", "model", "reason"]


def top_n_export(
    con: Connection,
    n: int = DEFAULT_N,
    *,
    model: str = "auto",
    params: Mapping[str, Any] | None = None,
    until: dt.date | dt.datetime | str | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Every customer's top ``n`` as plain columns for a file: customer_id, rank, product_id, score,
    model (the key of the model that made the row) and reason in words; trained on signals before
    ``until`` only when given (the stored model and lists are reused when present).
    """
    if int(n) < 1:
        raise EngineError(f"--top must be at least 1, got {n}.")
    options = RecommendOptions(n=int(n))
    table = recommendations_table(con, params, options, model=model, until=until, progress=progress)
    shipped = train_recommender(con, params, model=model, until=until)
    verb = shipped.training_.get("verb", "chose")
    frame = con.execute(
        f"""
        SELECT r.customer_id, r.rank, r.product_id, r.score, r.model, r.reason, r.fallback,
               coalesce(b.name, r.because_product_id) AS because_name
        FROM {quote_ident(table)} r
        LEFT JOIN {_products(con)} b ON b.product_id = r.because_product_id
        ORDER BY r.customer_id, r.rank
        """
    ).df()
    label = MODEL_LABELS.get(shipped.training_.get("model", ""), shipped.label)
    reasons = np.where(
        frame["fallback"].to_numpy(dtype=bool),
        frame["reason"].astype(str),
        np.where(
            frame["because_name"].notna(),
            "because they " + verb + " " + frame["because_name"].astype(str),
            f"ranked by {label}",
        ),
    )
    frame["reason"] = reasons
    return frame[EXPORT_COLUMNS]


__all__ = [
    "DEFAULT_PARAMS",
    "MODEL_CHOICES",
    "SELECTION_CUSTOMERS",
    "EXPORT_COLUMNS",
    "svd_settings",
    "model_params",
    "select_model",
    "train_recommender",
    "load_recommender",
    "product_exclusions",
    "products_in_categories",
    "product_categories",
    "segment_popularity",
    "customer_segment_frame",
    "PersonaTrait",
    "SegmentPersona",
    "segment_personas",
    "customer_profile",
    "purchased_pairs",
    "all_customer_ids",
    "RecommendOptions",
    "batch_recommendations",
    "recommendations_table",
    "recommendations_ready",
    "QUICK_TRAINING_ROWS",
    "trains_quickly",
    "TrainingJob",
    "start_training",
    "customer_recommendations",
    "product_popularity",
    "best_seller_list",
    "CustomerDirectory",
    "customer_directory",
    "customer_known",
    "export_recommendations",
    "recommendation_summary",
    "similarity_model",
    "similar_products",
    "recommended_customers",
    "catalogue",
    "top_n_export",
]

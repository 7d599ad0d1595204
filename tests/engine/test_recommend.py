"""Recommendations engine: training data rules, Surprise equivalence, batch top-N, exclusions, fallbacks."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from surprise import SVD, Dataset, Reader

import engine
from engine.recommend import (
    Recommender,
    RecommendOptions,
    build_trainset,
    customer_history,
    customer_recommendations,
    export_recommendations,
    load_recommender,
    recommendations_table,
    similar_products,
    top_n_indices,
    training_data,
    tune_recommender,
)

FAST = {"n_factors": 4, "n_epochs": 8, "lr_all": 0.01, "reg_all": 0.05, "min_item_ratings": 1}


def insert(con, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    cols = ", ".join(engine.quote_ident(c) for c in frame.columns)
    con.register("_rows", frame)
    try:
        con.execute(f"INSERT INTO {engine.quote_ident(table)} ({cols}) SELECT {cols} FROM _rows")
    finally:
        con.unregister("_rows")


def taste_ratings(n_customers: int = 40, n_products: int = 12, seed: int = 0) -> pd.DataFrame:
    """Two kinds of customers: even ones like products P00-P05 (rate 4-5), odd ones P06-P11."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        liked = range(0, 6) if c % 2 == 0 else range(6, 12)
        for p in rng.choice(n_products, 6, replace=False):
            rating = float(rng.integers(4, 6) if p in liked else rng.integers(1, 3))
            rows.append({"customer_id": f"C{c:02d}", "product_id": f"P{p:02d}", "rating": rating})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return taste_ratings()


@pytest.fixture(scope="module")
def model(ratings) -> Recommender:
    return Recommender(**FAST).fit(ratings, rating_scale=(1, 5))


# ------------------------------------------------------------------------------------------ training data


def test_training_data_explicit_ratings_are_used_as_given_and_repeats_averaged(con):
    rows = [
        {
            "customer_id": f"C{c}",
            "product_id": f"P{p}",
            "rating": float(1 + (c + p) % 5),
            "timestamp": pd.Timestamp("2025-01-01"),
        }
        for c in range(3)
        for p in range(4)
    ]
    rows.append(
        {"customer_id": "C0", "product_id": "P0", "rating": 4.0, "timestamp": pd.Timestamp("2025-02-01")}
    )
    insert(con, "interactions", rows)
    data = training_data(con)
    assert data.source == "ratings"
    assert data.rating_scale == (1.0, 5.0)
    assert data.relevant_from == 4.0
    assert data.n_ratings == 12
    first = data.ratings.iloc[0]
    assert (first["customer_id"], first["product_id"]) == ("C0", "P0")
    assert first["rating"] == (1.0 + 4.0) / 2 and first["events"] == 2
    assert first["last_at"] == pd.Timestamp("2025-02-01")
    assert list(data.ratings["customer_id"]) == sorted(data.ratings["customer_id"])


def test_training_data_converts_weighted_events_with_the_documented_log_rule(con):
    # weights: explicit column first, else the event type's default (view 1, click 2, cart 3, purchase 5)
    rows = []
    expected_w = {}
    for c in range(4):
        for p in range(3):
            events = ["view"] * (c + 1) + (["purchase"] if p == 0 else []) + (["cart"] if p == 2 else [])
            for event in events:
                rows.append(
                    {
                        "customer_id": f"C{c}",
                        "product_id": f"P{p}",
                        "event_type": event.upper(),
                        "weight": None,
                    }
                )
            expected_w[(f"C{c}", f"P{p}")] = (c + 1) + (5 if p == 0 else 0) + (3 if p == 2 else 0)
    rows.append({"customer_id": "C0", "product_id": "P1", "event_type": "click", "weight": 2.5})
    expected_w[("C0", "P1")] += 2.5
    insert(con, "interactions", rows)
    data = training_data(con)
    assert data.source == "events" and data.rating_scale == (1.0, 5.0)
    weights = np.array(sorted(expected_w.values()))
    w95 = np.quantile(weights, 0.95)  # linear interpolation, as DuckDB's quantile_cont
    for row in data.ratings.itertuples():
        w = expected_w[(row.customer_id, row.product_id)]
        assert row.weight == pytest.approx(w)
        assert row.rating == pytest.approx(min(5.0, 1 + 4 * math.log1p(w) / math.log1p(w95)))
    assert "ln(1 + w)" in data.rule and "view 1" in data.rule


def test_training_data_falls_back_to_orders_and_full_returns_rate_lowest(con):
    rows = []
    for c in range(4):
        for p in range(3):
            for k in range(p + 1):  # product p bought in p + 1 orders
                rows.append(
                    {
                        "order_id": f"O{c}{p}{k}",
                        "customer_id": f"C{c}",
                        "order_date": pd.Timestamp(2025, 1, 1 + k),
                        "product_id": f"P{p}",
                        "quantity": 1.0,
                        "amount": 10.0,
                        "is_return": False,
                    }
                )
    rows.append(
        {
            "order_id": "R1",
            "customer_id": "C0",
            "order_date": pd.Timestamp(2025, 2, 1),
            "product_id": "P0",
            "quantity": -1.0,
            "amount": -10.0,
            "is_return": True,
        }
    )
    insert(con, "orders", rows)
    data = training_data(con)
    assert data.source == "orders"
    rating = data.ratings.set_index(["customer_id", "product_id"])["rating"]
    assert rating[("C0", "P0")] == 1.0  # returned in full
    # every order counts 5 (EVENT_WEIGHTS["purchase"]); the returned-in-full pair stays out of the cap
    w95 = np.quantile([5] * 3 + [10] * 4 + [15] * 4, 0.95)
    assert rating[("C1", "P0")] == pytest.approx(1 + 4 * math.log1p(5) / math.log1p(w95))
    assert rating[("C1", "P2")] == pytest.approx(min(5.0, 1 + 4 * math.log1p(15) / math.log1p(w95)))
    frame = data.ratings.set_index(["customer_id", "product_id"])
    assert not frame.loc[("C0", "P0"), "liked"] and frame.loc[("C0", "P0"), "affinity"] == 0.0
    assert frame.loc[("C1", "P2"), "affinity"] == 15.0 and frame.loc[("C1", "P2"), "liked"]
    assert "orders" in data.rule


def test_training_data_on_an_empty_store_says_what_to_load(con):
    with pytest.raises(engine.InsufficientDataError, match="interactions"):
        training_data(con)


# ------------------------------------------------------------------------------------------ the model


def test_fit_is_surprise_svd_on_the_same_trainset(ratings, model):
    trainset = Dataset.load_from_df(ratings, Reader(rating_scale=(1, 5))).build_full_trainset()
    bare = SVD(n_factors=4, n_epochs=8, lr_all=0.01, reg_all=0.05, random_state=42).fit(trainset)
    assert np.array_equal(bare.pu, model.algo_.pu) and np.array_equal(bare.qi, model.algo_.qi)
    ours = build_trainset(ratings, (1, 5))
    assert ours.global_mean == trainset.global_mean
    assert list(ours.all_ratings()) == list(trainset.all_ratings())


def test_batch_scores_equal_surprise_predict(model):
    scores = model.score_matrix(np.arange(model.n_users_))
    clipped = model.score_matrix(np.arange(model.n_users_), clip=True)
    worst_raw = worst_clipped = 0.0
    for u, uid in enumerate(model.user_ids_):
        for i, iid in enumerate(model.item_ids_):
            worst_raw = max(worst_raw, abs(scores[u, i] - model.algo_.predict(uid, iid, clip=False).est))
            worst_clipped = max(worst_clipped, abs(clipped[u, i] - model.algo_.predict(uid, iid).est))
    assert worst_raw < 1e-9 and worst_clipped < 1e-9
    pairs = model.score_pairs(model.user_ids_[:5].tolist(), model.item_ids_[:5].tolist(), clip=False)
    assert np.allclose(pairs, scores[np.arange(5), np.arange(5)], atol=1e-12)


def test_cold_items_follow_surprises_rule_for_unknown_items_and_are_flagged(ratings):
    extra = pd.DataFrame([{"customer_id": "C00", "product_id": "PNEW", "rating": 5.0}])
    cold = Recommender(**{**FAST, "min_item_ratings": 2}).fit(
        pd.concat([ratings, extra]), rating_scale=(1, 5)
    )
    col = int(cold.item_index(["PNEW"])[0])
    assert cold.cold_items_[col] and cold.cold_items_.sum() == 1
    scores = cold.score_matrix(np.arange(cold.n_users_), clip=False)
    for u, uid in enumerate(cold.user_ids_):
        assert scores[u, col] == pytest.approx(
            cold.algo_.predict(uid, "never-seen", clip=False).est, abs=1e-12
        )
    recs = cold.recommend(["C01"], n=cold.n_items_)
    assert recs.loc[recs["product_id"] == "PNEW", "cold_item"].item()
    assert not recs.loc[recs["product_id"] != "PNEW", "cold_item"].any()


def test_seen_items_are_never_recommended(ratings, model):
    recs = model.recommend(n=model.n_items_)
    seen = set(zip(ratings["customer_id"], ratings["product_id"], strict=True))
    assert not any(pair in seen for pair in zip(recs["customer_id"], recs["product_id"], strict=True))
    per_customer = recs.groupby("customer_id").size()
    unseen = model.n_items_ - ratings.groupby("customer_id").size()
    assert per_customer.sort_index().tolist() == unseen.sort_index().tolist()


def test_ranking_is_by_unclipped_score_then_popularity_then_product_id(model):
    recs = model.recommend(n=model.n_items_, explain=False)
    for _, group in recs.groupby("customer_id"):
        key = list(zip(-group["score"], model.item_index(group["product_id"]), strict=True))
        assert key == sorted(key)
    assert (recs["predicted_rating"] == recs["score"].clip(1, 5)).all()


def test_top_n_breaks_ties_by_column_and_pads_short_rows():
    scores = np.array(
        [
            [5.0, 7.0, 7.0, 7.0, 1.0],
            [-np.inf, 2.0, -np.inf, -np.inf, -np.inf],
            [1.0, 2.0, 3.0, 4.0, 5.0],
        ]
    )
    assert top_n_indices(scores, 3).tolist() == [[1, 2, 3], [1, -1, -1], [4, 3, 2]]
    assert top_n_indices(scores, 2).tolist() == [[1, 2], [1, -1], [4, 3]]


def test_clipped_predictions_at_the_top_keep_a_fixed_order():
    # ratings far above the scale's top push many predictions past 5: order must still be unclipped score
    rows = [
        {"customer_id": f"C{c}", "product_id": f"P{p}", "rating": 5.0}
        for c in range(12)
        for p in range(8)
        if (c + p) % 3
    ]
    frame = pd.DataFrame(rows)
    m = Recommender(**{**FAST, "n_epochs": 30, "lr_all": 0.05}).fit(frame, rating_scale=(1, 4))
    recs = m.recommend(n=8)
    assert (recs["predicted_rating"] == 4).all() and (recs["score"] > 4).all()
    clipped = m.score_matrix(np.arange(m.n_users_), clip=True)
    raw = m.score_matrix(np.arange(m.n_users_), clip=False)
    for u, uid in enumerate(m.user_ids_):
        for i, iid in enumerate(m.item_ids_):
            assert abs(clipped[u, i] - m.algo_.predict(uid, iid).est) < 1e-9
            assert abs(raw[u, i] - m.algo_.predict(uid, iid, clip=False).est) < 1e-9
    again = (
        Recommender(**{**FAST, "n_epochs": 30, "lr_all": 0.05}).fit(frame, rating_scale=(1, 4)).recommend(n=8)
    )
    pd.testing.assert_frame_equal(recs, again)
    for _, group in recs.groupby("customer_id"):
        assert group["score"].is_monotonic_decreasing


def test_exclusions_and_category_allow_list_are_honoured(model):
    recs = model.recommend(n=5, exclusions=["P00", "P06"])
    assert not recs["product_id"].isin(["P00", "P06"]).any()
    only = model.recommend(n=5, allowed=["P01", "P02", "P03"])
    assert set(only["product_id"]) <= {"P01", "P02", "P03"}


def test_unknown_customer_gets_flagged_best_sellers(model):
    recs = model.recommend(
        ["C01", "stranger", "newbie"],
        n=3,
        customer_groups={"newbie": "Champions"},
        group_popularity={"Champions": ["P11", "P10"]},
    )
    assert recs["customer_id"].drop_duplicates().tolist() == ["C01", "stranger", "newbie"]
    stranger = recs[recs["customer_id"] == "stranger"]
    assert stranger["fallback"].all() and (stranger["reason"] == "best-sellers overall").all()
    assert stranger["product_id"].tolist() == model.item_ids_[:3].tolist()  # most popular first
    assert stranger["score"].tolist() == pytest.approx(
        [model.algo_.predict("stranger", p, clip=False).est for p in stranger["product_id"]]
    )
    newbie = recs[recs["customer_id"] == "newbie"]
    assert newbie["product_id"].tolist()[:2] == ["P11", "P10"]
    assert (newbie["reason"] == "best-sellers in segment Champions").all()
    assert not recs.loc[recs["customer_id"] == "C01", "fallback"].any()


def test_fallback_skips_products_the_unknown_customer_already_bought(model):
    bought = pd.DataFrame({"customer_id": ["stranger"], "product_id": [model.item_ids_[0]]})
    recs = model.recommend(["stranger"], n=3, extra_seen=bought)
    assert recs["product_id"].tolist() == model.item_ids_[1:4].tolist()


def test_recommendations_are_deterministic_and_survive_pickling(ratings, model):
    again = Recommender(**FAST).fit(ratings, rating_scale=(1, 5))
    pd.testing.assert_frame_equal(model.recommend(n=4), again.recommend(n=4))
    restored = pickle.loads(pickle.dumps(model))
    assert restored.algo_ is None
    pd.testing.assert_frame_equal(model.recommend(n=4), restored.recommend(n=4))


def test_each_hyperparameter_changes_the_model(ratings, model):
    base = model.recommend(n=3)["score"].to_numpy()
    for name, value in {
        "n_factors": 6,
        "n_epochs": 12,
        "lr_all": 0.02,
        "reg_all": 0.2,
        "random_state": 7,
    }.items():
        other = Recommender(**{**FAST, name: value}).fit(ratings, rating_scale=(1, 5))
        assert not np.allclose(other.recommend(n=3)["score"].to_numpy(), base), name


def test_model_learns_the_two_tastes(ratings):
    m = Recommender(n_factors=4, n_epochs=60, lr_all=0.02, reg_all=0.05, min_item_ratings=1).fit(
        ratings, rating_scale=(1, 5)
    )
    recs = m.recommend(n=2, explain=False)
    number = recs["product_id"].str[1:].astype(int)
    even = recs["customer_id"].str[1:].astype(int) % 2 == 0
    hits = np.where(even, number < 6, number >= 6)
    assert hits.mean() > 0.9


def test_explanations_point_to_the_closest_liked_product_in_history(ratings, model):
    recs = model.recommend(["C03"], n=3)
    history = ratings[ratings["customer_id"] == "C03"]
    liked = history[history["rating"] >= history["rating"].mean()]["product_id"]
    unit = model._qi_unit
    for row in recs.itertuples():
        sims = unit[model.item_index(liked)] @ unit[model.item_index([row.product_id])[0]]
        assert row.because_similarity == pytest.approx(sims.max())
        if sims.max() >= engine.MIN_EXPLANATION_SIMILARITY:
            assert row.because_product_id == list(liked)[int(sims.argmax())]
        else:  # nothing in the history is alike enough: no reason is made up
            assert pd.isna(row.because_product_id)
    everyone = model.recommend(n=10)
    named = everyone["because_product_id"].notna()
    assert named.mean() > 0.25  # many suggestions still have a product to point to
    assert (everyone.loc[named, "because_similarity"] >= engine.MIN_EXPLANATION_SIMILARITY).all()


def test_diversity_zero_keeps_the_ranking_and_full_diversity_spreads_categories(ratings, model):
    pd.testing.assert_frame_equal(model.recommend(n=4, diversity=0.0), model.recommend(n=4))
    categories = {p: ("even" if int(p[1:]) % 2 == 0 else "odd") for p in model.item_ids_}
    varied = model.recommend(n=2, diversity=1.0, item_categories=categories, explain=False)
    per_list = varied.assign(cat=varied["product_id"].map(categories)).groupby("customer_id")["cat"].nunique()
    # a customer who already rated every even product can only be offered odd ones
    unrated = {}
    for customer, group in ratings.groupby("customer_id"):
        left = set(model.item_ids_) - set(group["product_id"])
        unrated[customer] = {categories[p] for p in left}
    assert per_list.tolist() == [min(2, len(unrated[c])) for c in per_list.index]
    assert (per_list == 2).sum() >= 30
    first = model.recommend(n=1, explain=False)
    assert varied[varied["rank"] == 1]["product_id"].tolist() == first["product_id"].tolist()


def test_similar_items_are_the_nearest_by_cosine(model):
    near = model.similar_items("P00", 3)
    unit = model._qi_unit
    sims = unit @ unit[model.item_index(["P00"])[0]]
    order = [model.item_ids_[i] for i in np.argsort(-sims, kind="stable") if model.item_ids_[i] != "P00"][:3]
    assert near["product_id"].tolist() == order
    assert near["similarity"].tolist() == pytest.approx(sorted(sims[model.item_index(order)], reverse=True))
    with pytest.raises(engine.EngineError, match="no ratings"):
        model.similar_items("nope")


def test_fit_refuses_too_little_data():
    tiny = pd.DataFrame({"customer_id": ["a", "b"], "product_id": ["x", "y"], "rating": [1.0, 5.0]})
    with pytest.raises(engine.InsufficientDataError) as info:
        Recommender().fit(tiny, rating_scale=(1, 5))
    assert info.value.needed == 10 and info.value.found == 2


def test_progress_reports_every_epoch(ratings):
    seen = []
    Recommender(**FAST).fit(ratings, rating_scale=(1, 5), progress=lambda f, t: seen.append((f, t)))
    assert seen[-1] == (1.0, "Training epoch 8 of 8") and len(seen) == 9


def test_tuning_uses_grid_search_and_returns_the_best_first(ratings):
    data = engine.TrainingData(
        ratings.assign(events=1, weight=np.nan, last_at=pd.NaT), "ratings", "", (1.0, 5.0), 4.0
    )
    steps = []
    result = tune_recommender(
        data, {"n_factors": [2, 4]}, base_params=FAST, cv=2, progress=lambda f, t: steps.append(f)
    )
    assert result.table["n_factors"].tolist() in ([2, 4], [4, 2])
    assert result.table["rmse"].is_monotonic_increasing
    assert result.best_params["n_factors"] == result.table.loc[0, "n_factors"]
    assert steps == [0.5, 1.0]


# ------------------------------------------------------------------------------------------ store level


@pytest.fixture
def shop(con, ratings):
    """A store with taste ratings, a catalogue (one inactive, one out of stock) and some orders."""
    stamped = ratings.assign(timestamp=pd.Timestamp("2025-01-01"), event_type="rating")
    insert(con, "interactions", stamped.to_dict("records"))
    products = [
        {
            "product_id": f"P{p:02d}",
            "name": f"Product {p}",
            "category": "Even" if p % 2 == 0 else "Odd",
            "price": 10.0 + p,
            "active": p != 1,
            "stock": 0.0 if p == 2 else 5.0,
        }
        for p in range(12)
    ]
    insert(con, "products", products)
    insert(con, "customers", [{"customer_id": "C99", "signup_date": pd.Timestamp("2025-01-01")}])
    insert(
        con,
        "orders",
        [
            {
                "order_id": "O1",
                "customer_id": "C00",
                "order_date": pd.Timestamp("2025-01-02"),
                "product_id": "P03",
                "quantity": 1.0,
                "amount": 13.0,
                "is_return": False,
            }
        ],
    )
    return con


def test_batch_table_honours_business_exclusions_and_purchases(shop, ratings):
    table = recommendations_table(shop, FAST, RecommendOptions(n=5))
    stored = shop.execute(f"SELECT * FROM {engine.quote_ident(table)} ORDER BY customer_id, rank").df()
    assert not stored["product_id"].isin(["P01", "P02"]).any()  # inactive, out of stock
    c00 = stored[stored["customer_id"] == "C00"]
    assert "P03" not in set(c00["product_id"])  # bought in orders
    assert set(stored["customer_id"]) == set(ratings["customer_id"]) | {"C99"}
    assert stored.loc[stored["customer_id"] == "C99", "fallback"].all()
    # a rerun reads the stored table and model instead of training again
    assert load_recommender(shop, FAST) is not None
    assert recommendations_table(shop, FAST, RecommendOptions(n=5)) == table
    only_odd = recommendations_table(shop, FAST, RecommendOptions(n=5, categories=("Odd",)))
    odd = shop.execute(f"SELECT product_id FROM {engine.quote_ident(only_odd)}").df()["product_id"]
    assert (odd.str[1:].astype(int) % 2 == 1).all()


def test_customer_views_join_the_catalogue(shop):
    table = recommendations_table(shop, FAST, RecommendOptions(n=3))
    mine = customer_recommendations(shop, table, "C04")
    assert mine["rank"].tolist() == [1, 2, 3]
    assert (
        mine["name"].str.startswith("Product").all() and mine["because_name"].str.startswith("Product").all()
    )
    history = customer_history(shop, "C04")
    assert len(history) == 6 and history["rating"].is_monotonic_decreasing
    export = export_recommendations(shop, table)
    assert list(export.columns[:4]) == ["customer_id", "rank", "product_id", "name"]
    assert export["customer_id"].is_monotonic_increasing
    near = similar_products(shop, load_recommender(shop, FAST), "P00", 3)
    assert len(near) == 3 and near["similarity"].is_monotonic_decreasing


def test_a_customer_with_only_orders_is_known_and_new_customers_get_their_segments_best_sellers(
    shop, ratings
):
    # C98 never rated anything but bought P03 once: that purchase is a signal, so the model knows C98
    insert(
        shop,
        "orders",
        [
            {
                "order_id": "O2",
                "customer_id": "C98",
                "order_date": pd.Timestamp("2025-01-02"),
                "product_id": "P03",
                "quantity": 1.0,
                "amount": 13.0,
                "is_return": False,
            }
        ],
    )
    segments = engine.customer_segments(shop).set_index("customer_id")["segment"]
    assert segments["C98"] == segments["C00"]
    assert engine.customer_profile(shop, "C98")["segment"] == segments["C98"]
    assert engine.customer_profile(shop, "nobody") is None
    table = recommendations_table(shop, FAST, RecommendOptions(n=3))
    c98 = customer_recommendations(shop, table, "C98")
    assert not c98["fallback"].any() and "P03" not in set(c98["product_id"])
    # C99 is only in the customers table (no order, no rating): best-sellers, flagged; their segment
    # ("No purchases") chose nothing, so the reason says overall best-sellers
    c99 = customer_recommendations(shop, table, "C99")
    assert c99["fallback"].all() and (c99["reason"] == "best-sellers overall").all()
    assert (c99["model"] == "popular").all()


def test_new_customers_get_their_segments_best_sellers(model):
    groups = {"newbie": "Champions"}
    recs = model.recommend(
        ["newbie"], n=3, customer_groups=groups, group_popularity={"Champions": ["P11", "P10"]}
    )
    assert recs["product_id"].tolist()[:2] == ["P11", "P10"]
    assert (recs["reason"] == "best-sellers in segment Champions").all()


def test_sample_negatives_draws_only_unchosen_products_once_each(ratings):
    negatives = engine.sample_negatives(ratings, 0.5, 1.0, random_state=3)
    chosen = set(zip(ratings["customer_id"], ratings["product_id"], strict=True))
    drawn = list(zip(negatives["customer_id"], negatives["product_id"], strict=True))
    assert drawn and not chosen & set(drawn) and len(drawn) == len(set(drawn))
    assert (negatives["rating"] == 1.0).all()
    per_customer = negatives.groupby("customer_id").size()
    assert (per_customer <= 3).all() and per_customer.mean() > 2.5  # round(0.5 x 6 chosen) = 3 wanted
    pd.testing.assert_frame_equal(negatives, engine.sample_negatives(ratings, 0.5, 1.0, random_state=3))


def test_purchase_data_trains_with_negatives_that_never_count_as_seen(ratings):
    bought = ratings.assign(rating=5.0, events=1, weight=1.0, last_at=pd.NaT)
    data = engine.TrainingData(bought, ("orders",), "", (1.0, 5.0), 1.0)
    m = Recommender(**{**FAST, "implicit_negatives": None}).fit(data)
    # 3 per purchase wanted, but each customer has only 6 products left to draw from
    assert m.negatives_ratio_ == engine.AUTO_NEGATIVES and len(bought) * 0.8 <= m.n_negatives_ <= len(bought)
    assert m.algo_.trainset.n_ratings == len(bought) + m.n_negatives_
    assert m.item_counts_.sum() == len(bought)  # popularity from real purchases only
    negatives = engine.sample_negatives(bought, engine.AUTO_NEGATIVES, 1.0, 42)
    recs = m.recommend(n=m.n_items_, explain=False)
    listed = set(zip(recs["customer_id"], recs["product_id"], strict=True))
    assert set(zip(negatives["customer_id"], negatives["product_id"], strict=True)) <= listed
    scores = m.score_matrix(np.arange(3))
    for u in range(3):
        for i, iid in enumerate(m.item_ids_):
            assert abs(scores[u, i] - m.algo_.predict(m.user_ids_[u], iid, clip=False).est) < 1e-9
    explicit = Recommender(**FAST).fit(engine.TrainingData(bought, ("ratings",), "", (1.0, 5.0), 4.0))
    assert explicit.n_negatives_ == 0

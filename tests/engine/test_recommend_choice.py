"""Model choice on generated stores with a known truth, the command line's export, training cut-offs and
code-versioned stored models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import engine
from engine.cli import main
from engine.recommend import service
from tests.engine.test_recommend import insert

DAY = pd.Timedelta(days=1)


def generated_orders(truth: str, n_customers: int = 600, n_products: int = 60, seed: int = 7) -> pd.DataFrame:
    """A year of order lines from a known truth.

    ``"taste"``: six customer groups, each buying from its own ten products (95% of lines), so a customer's
    next purchase is predictable from their past ones and not from overall popularity.
    ``"popularity"``: every line picks a product from one global Zipf-like popularity, whoever buys: the
    best-seller list is the truth and no personal model can do better.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_products + 1) ** 1.1
    popularity /= popularity.sum()
    rows = []
    start = pd.Timestamp("2025-01-01")
    for c in range(n_customers):
        group = c % 6
        own = np.arange(group * 10, group * 10 + 10)
        for k in range(int(rng.integers(6, 14))):
            if truth == "taste":
                product = rng.choice(own) if rng.random() < 0.95 else rng.integers(0, n_products)
            else:
                product = rng.choice(n_products, p=popularity)
            day = int(rng.integers(0, 365))
            rows.append(
                {
                    "order_id": f"O{c}-{k}",
                    "customer_id": f"C{c:04d}",
                    "order_date": start + day * DAY,
                    "product_id": f"P{int(product):03d}",
                    "quantity": 1.0,
                    "amount": 10.0,
                    "is_return": False,
                }
            )
    return pd.DataFrame(rows)


def load(con, table: str, rows: list[dict]) -> None:
    """Insert rows and bump the data version in one transaction, as a load does."""
    with engine.transaction(con):
        insert(con, table, rows)
        engine.bump_data_version(con)


@pytest.fixture
def taste_store(con):
    load(con, "orders", generated_orders("taste").to_dict("records"))
    return con


@pytest.fixture
def popularity_store(con):
    load(con, "orders", generated_orders("popularity").to_dict("records"))
    return con


def test_with_a_taste_structure_the_chosen_model_beats_best_sellers(taste_store):
    shipped = engine.train_recommender(taste_store)
    choice = shipped.choice_
    assert choice.how == "auto" and choice.model != "popular" and choice.beats_best_sellers
    assert choice.lift.low > 1.0 and choice.hit_rate >= choice.popular_hit_rate
    # independent check on the truth: each customer's list stays inside their group's ten products
    recs = shipped.recommend(n=3, explain=False)
    group = recs["customer_id"].str[1:].astype(int) % 6
    product = recs["product_id"].str[1:].astype(int)
    assert ((product // 10) == group).mean() > 0.8


def test_where_popularity_is_the_truth_best_sellers_ship_and_say_why(popularity_store):
    shipped = engine.train_recommender(popularity_store)
    choice = shipped.choice_
    assert choice.model == "popular" and choice.how == "auto" and not choice.beats_best_sellers
    assert isinstance(shipped, engine.BestSellers)
    assert choice.reasons and all(choice.reasons.values())  # every other candidate says why it lost
    assert engine.choice_summary(choice)[0].startswith("Shipped: best-sellers. No model was clearly better")
    table = engine.recommendations_table(popularity_store)
    stored = popularity_store.execute(f"SELECT DISTINCT model FROM {engine.quote_ident(table)}").fetchall()
    assert stored == [("popular",)]


def test_an_analyst_can_pin_a_model_or_best_sellers(taste_store):
    pinned = engine.train_recommender(taste_store, model="als")
    assert isinstance(pinned, engine.ImplicitALS) and pinned.choice_.how == "pinned"
    plain = engine.train_recommender(taste_store, model="popular")
    assert isinstance(plain, engine.BestSellers) and plain.choice_.how == "best_sellers"
    with pytest.raises(engine.EngineError, match="Unknown model"):
        engine.train_recommender(taste_store, model="magic")


def test_train_until_never_sees_later_data(taste_store, tmp_path):
    cutoff = pd.Timestamp("2025-07-01")
    late = [
        {
            "order_id": "LATE",
            "customer_id": "C0000",
            "order_date": pd.Timestamp("2025-09-01"),
            "product_id": "PLATE",
            "quantity": 1.0,
            "amount": 10.0,
            "is_return": False,
        }
    ]
    load(taste_store, "orders", late)
    data = engine.training_data(taste_store, until=cutoff)
    assert (data.ratings["last_at"] < cutoff).all() and "PLATE" not in set(data.ratings["product_id"])
    orders = generated_orders("taste")
    before = orders[orders["order_date"] < cutoff]
    assert len(data.ratings) == before.groupby(["customer_id", "product_id"]).ngroups
    shipped = engine.train_recommender(taste_store, until="2025-07-01")
    assert "PLATE" not in set(shipped.item_ids_) and shipped.training_["until"] == cutoff.to_pydatetime()
    assert shipped.choice_.evaluation.n_train + shipped.choice_.evaluation.n_test <= len(data.ratings)

    path = tmp_path / "store.duckdb"
    file_con = engine.connect(path, shared=False)
    load(file_con, "orders", pd.concat([orders, pd.DataFrame(late)]).to_dict("records"))
    file_con.close()
    out = tmp_path / "lists.csv"
    assert (
        main(["recommend", "--top", "5", "--train-until", "2025-07-01", "--out", str(out), "--db", str(path)])
        == 0
    )
    engine.close_all()
    lists = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(lists.columns) == ["customer_id", "rank", "product_id", "score", "model", "reason"]
    assert "PLATE" not in set(lists["product_id"])
    # products bought only after the cut-off are not "already bought": they may be suggested
    mine = lists[lists["customer_id"] == "C0000"]
    bought_before = set(before.loc[before["customer_id"] == "C0000", "product_id"])
    assert not set(mine["product_id"]) & bought_before
    assert lists.groupby("customer_id").size().max() == 5 and lists["customer_id"].nunique() == 600


def test_segmint_recommend_writes_every_customers_list(taste_store, tmp_path):
    path = tmp_path / "cli.duckdb"
    file_con = engine.connect(path, shared=False)
    load(file_con, "orders", generated_orders("taste").to_dict("records"))
    load(file_con, "customers", [{"customer_id": "NEW1", "signup_date": pd.Timestamp("2025-12-01")}])
    file_con.close()
    out = tmp_path / "top.csv"
    assert (
        main(["recommend", "--top", "3", "--model", "item_similarity", "--out", str(out), "--db", str(path)])
        == 0
    )
    engine.close_all()
    lists = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert lists["customer_id"].nunique() == 601
    assert set(lists.loc[lists["customer_id"] != "NEW1", "model"]) == {"item_similarity"}
    new = lists[lists["customer_id"] == "NEW1"]
    assert (new["model"] == "popular").all() and (new["reason"] == "best-sellers overall").all()
    assert lists["reason"].str.startswith(("because they bought", "ranked by", "best-sellers")).all()
    assert main(["recommend", "--top", "0", "--out", str(out), "--db", str(path)]) == 2
    engine.close_all()


def test_a_model_stored_by_another_code_version_is_trained_again(taste_store, monkeypatch):
    monkeypatch.setattr(engine.store, "code_version", lambda: "an-older-release")
    old = engine.train_recommender(taste_store, model="popular")
    assert engine.load_recommender(taste_store, model="popular") is not None
    monkeypatch.undo()
    assert engine.load_recommender(taste_store, model="popular") is None  # never loaded across versions
    fresh = engine.train_recommender(taste_store, model="popular")
    assert fresh is not old and engine.load_recommender(taste_store, model="popular") is not None


@pytest.mark.parametrize("key", ["item_similarity", "item_cosine", "als", "bpr", "blend", "svd", "popular"])
def test_every_model_keeps_the_shared_contract(key):
    frame = generated_orders("taste", n_customers=120, n_products=30)
    data = engine.training_frame(
        frame.groupby(["customer_id", "product_id"], as_index=False)
        .size()
        .rename(columns={"size": "rating"}),
        (1.0, 5.0),
    )
    model = engine.build_model(key, {"n_factors": 4, "n_epochs": 5, "min_item_ratings": 1}).fit(data)
    recs = model.recommend(n=4)
    assert recs.groupby("customer_id").size().eq(4).all()
    seen = set(zip(data.ratings["customer_id"], data.ratings["product_id"], strict=True))
    assert not seen & set(zip(recs["customer_id"], recs["product_id"], strict=True))
    for _, one in recs.groupby("customer_id"):
        assert one["score"].is_monotonic_decreasing
    again = engine.build_model(key, {"n_factors": 4, "n_epochs": 5, "min_item_ratings": 1}).fit(data)
    pd.testing.assert_frame_equal(recs, again.recommend(n=4))
    import pickle

    pd.testing.assert_frame_equal(recs, pickle.loads(pickle.dumps(model)).recommend(n=4))
    stranger = model.recommend(["nobody"], n=2)
    assert stranger["fallback"].all()


@pytest.mark.parametrize(
    ("key", "changes"),
    [
        ("item_similarity", {"similarity": "lift", "neighbours": 3, "half_life_days": 10.0}),
        ("als", {"factors": 8, "regularization": 1.0, "alpha": 5.0, "random_state": 1, "iterations": 2}),
        (
            "bpr",
            {"factors": 8, "learning_rate": 0.1, "regularization": 0.5, "random_state": 1, "iterations": 5},
        ),
        ("blend", {"popularity_weight": 0.9}),
    ],
)
def test_each_ranking_parameter_changes_the_lists(key, changes):
    frame = generated_orders("taste", n_customers=120, n_products=30)
    pairs = frame.groupby(["customer_id", "product_id"], as_index=False).agg(
        rating=("order_id", "size"), last_at=("order_date", "max")
    )
    data = engine.training_frame(pairs, (1.0, 5.0))
    base = engine.build_model(key).fit(data).recommend(n=5, explain=False)
    for name, value in changes.items():
        other = engine.build_model(key, params={name: value}).fit(data).recommend(n=5, explain=False)
        assert not (
            other["product_id"].tolist() == base["product_id"].tolist()
            and np.allclose(other["score"], base["score"])
        ), name


def test_item_similarity_by_hand():
    # a {x, y}, b {x, y, z}, c {x}; counts x 3, y 2, z 1; x&y 2, x&z 1, y&z 1; d-g chose only w (unrelated)
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "b", "c", "d", "e", "f", "g"],
            "product_id": ["x", "y", "x", "y", "z", "x", "w", "w", "w", "w"],
        }
    )
    data = engine.training_frame(frame.assign(rating=5.0), (1.0, 5.0))
    jaccard = engine.ItemSimilarity(similarity="jaccard", neighbours=None).fit(data)
    col = dict(zip(jaccard.item_ids_, range(4), strict=True))
    sims = jaccard.similarity_.toarray()
    assert sims[col["x"], col["y"]] == pytest.approx(2 / (3 + 2 - 2))
    assert sims[col["y"], col["z"]] == pytest.approx(1 / (2 + 1 - 1))
    lift = engine.ItemSimilarity(similarity="lift", neighbours=None).fit(data).similarity_.toarray()
    assert lift[col["x"], col["z"]] == pytest.approx(1 / (3 * 1))
    # c has x only (affinity 5): score of y = 5 x sim(x, y), of z = 5 x sim(x, z)
    scores = jaccard.score_matrix(jaccard.user_index(["c"]))[0]
    assert scores[col["y"]] == pytest.approx(5 * 2 / 3) and scores[col["z"]] == pytest.approx(5 * 1 / 3)
    recs = jaccard.recommend(["c"], n=2)
    assert recs["product_id"].tolist() == ["y", "z"]
    # x and y were bought together by 2 customers only (< MIN_EXPLANATION_SUPPORT): no reason is named
    assert recs["because_product_id"].isna().all()


def test_item_similarity_names_the_history_product_bought_with_it_beyond_chance():
    # 4 customers buy {x, y}, q buys x only, 6 buy z only: 11 customers; x 5, y 4, both 4
    rows = (
        [(f"a{i}", p) for i in range(4) for p in ("x", "y")]
        + [("q", "x")]
        + [(f"z{i}", "z") for i in range(6)]
    )
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id"]).assign(rating=5.0)
    model = engine.ItemSimilarity(neighbours=None).fit(engine.training_frame(frame, (1.0, 5.0)))
    recs = model.recommend(["q"], n=1)
    assert recs["product_id"].tolist() == ["y"] and recs["because_product_id"].tolist() == ["x"]
    assert recs["because_similarity"].iloc[0] == pytest.approx(4 * 11 / (5 * 4))  # the lift


def test_on_a_big_store_the_choice_looks_at_a_sample_of_customers(taste_store, monkeypatch):
    monkeypatch.setattr(service, "SELECTION_CUSTOMERS", 300)
    sample = engine.sample_customers(taste_store, 300)
    assert len(sample) == 300 and sample == engine.sample_customers(taste_store, 300)  # seeded
    assert engine.sample_customers(taste_store, 600) is None  # everyone fits
    shipped = engine.train_recommender(taste_store)
    evaluation = shipped.choice_.evaluation
    assert "Measured on a sample of 300 customers." in evaluation.description
    assert set(evaluation.per_customer.index) <= set(sample)
    assert shipped.n_users_ == 600  # the chosen model is trained on everyone


def test_best_sellers_while_training_and_the_customer_directory(taste_store):
    frame = generated_orders("taste")
    counts = frame.groupby("product_id")["customer_id"].nunique()
    mine = set(frame.loc[frame["customer_id"] == "C0001", "product_id"])
    expected = sorted((p for p in counts.index if p not in mine), key=lambda p: (-counts[p], p))[:5]
    lists = engine.best_seller_list(taste_store, "C0001", engine.RecommendOptions(n=5))
    assert lists["product_id"].tolist() == expected and lists["fallback"].all()
    assert engine.best_seller_list(taste_store, "C0002", engine.RecommendOptions(n=5))["rank"].tolist() == [
        1,
        2,
        3,
        4,
        5,
    ]
    small = engine.customer_directory(taste_store)
    assert small.complete and small.count == 600 and small.ids[:2] == ("C0000", "C0001")
    big = engine.customer_directory(taste_store, limit=100)
    assert not big.complete and big.count == 600 and big.ids == ("C0000", "C0001", "C0002")
    assert engine.customer_known(taste_store, "C0599") and not engine.customer_known(taste_store, "C9999")


def test_a_product_returned_in_full_is_never_named_as_the_reason():
    """UCI Online Retail's first customer bought one product and returned it in full; the page said
    "Because you bought" that product. Same shape as above: 4 customers buy {x, y}, 6 buy z; q's only
    purchase of x was returned in full (affinity 0), r kept theirs."""
    rows = [(f"a{i}", p, 5.0) for i in range(4) for p in ("x", "y")] + [(f"z{i}", "z", 5.0) for i in range(6)]
    rows += [("q", "x", 0.0), ("r", "x", 5.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "affinity"])
    frame = frame.assign(rating=frame["affinity"].clip(lower=1.0), explicit=False)
    # factor models explain by product vectors and looked at every product seen (item similarity already
    # weighed each reason by its affinity)
    for model in (
        engine.ImplicitALS(factors=4, iterations=30),
        engine.Blend(base=engine.ImplicitALS(factors=4)),
    ):
        model.fit(engine.training_frame(frame, (1.0, 5.0)))
        recs = model.recommend(["q", "r"], n=2)
        mine, theirs = recs[recs["customer_id"] == "q"], recs[recs["customer_id"] == "r"]
        assert theirs.set_index("product_id").loc["y", "because_product_id"] == "x"  # kept: x explains y
        assert "y" in set(mine["product_id"]) and "x" not in set(mine["product_id"])  # x not suggested again
        assert mine["because_product_id"].isna().all()  # returned in full: x explains nothing

"""Persona cards: facts, traits only where significant, thin evidence said plainly, rules-table actions."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

import engine


def test_benjamini_hochberg_by_hand_in_input_order():
    # sorted 0.01, 0.02, 0.04, 0.5 -> p x 4 / rank = 0.04, 0.04, 0.0533, 0.5 (then the running minimum
    # from the top) -> 0.04, 0.04, 0.0533, 0.5; returned in the order given
    q = engine.benjamini_hochberg([0.5, 0.02, 0.04, 0.01])
    assert q == pytest.approx([0.5, 0.04, 0.04 * 4 / 3, 0.04])
    assert engine.benjamini_hochberg([0.9, 0.95]) == pytest.approx([0.95, 0.95])  # step-up minimum
    assert len(engine.benjamini_hochberg([])) == 0


def test_enrichment_by_hand():
    # 10 customers, 4 have the trait; the group has 4 customers, 3 of them with the trait
    counts = pd.DataFrame(
        {
            "kind": ["attribute", "attribute"],
            "trait": ["x", "y"],
            "group_customers": [3, 1],
            "population_customers": [4, 5],
        }
    )
    out = engine.enrichment(counts, group_size=4, population_size=10, min_trait_customers=1)
    x = out.set_index("trait").loc["x"]
    assert x["p_value"] == pytest.approx((comb(4, 3) * comb(6, 1) + comb(4, 4)) / comb(10, 4))
    assert x["lift"] == pytest.approx((3 / 4) / (4 / 10))
    assert x["group_share"] == 0.75 and x["overall_share"] == 0.4
    y = out.set_index("trait").loc["y"]
    assert y["lift"] == pytest.approx(0.5)
    assert not y["significant"]  # under-represented traits are never claimed
    assert not x["significant"]  # p = 0.119: a small sample is not evidence


@pytest.fixture
def persona_shop(con):
    """200 heavy recent buyers (mostly North) and 200 light lapsed buyers (mostly South); a coin-flip
    attribute that means nothing; the heavy ones buy Garden, everyone buys Books."""
    rng = np.random.default_rng(7)
    rows, orders = [], []
    for i in range(400):
        heavy = i < 200
        cid = f"c{i:03d}"
        region = (
            ("North" if rng.random() < 0.9 else "South")
            if heavy
            else ("South" if rng.random() < 0.9 else "North")
        )
        rows.append((cid, region, "heads" if rng.random() < 0.5 else "tails"))
        n_orders = 8 if heavy else 1
        for j in range(n_orders):
            days = int(rng.integers(0, 20)) + 10 * j if heavy else 300 + int(rng.integers(0, 60))
            product = "g1" if heavy and j % 2 == 0 else "b1"
            orders.append(
                (
                    f"{cid}-{j}",
                    cid,
                    pd.Timestamp("2024-12-31") - pd.Timedelta(days=days),
                    product,
                    float(rng.normal(100 if heavy else 20, 5)),
                )
            )
    con.execute("ALTER TABLE customers ADD COLUMN region VARCHAR")
    con.execute("ALTER TABLE customers ADD COLUMN coin VARCHAR")
    con.register("c_in", pd.DataFrame(rows, columns=["customer_id", "region", "coin"]))
    con.execute("INSERT INTO customers (customer_id, region, coin) SELECT * FROM c_in")
    con.register(
        "o_in",
        pd.DataFrame(orders, columns=["order_id", "customer_id", "order_date", "product_id", "amount"]),
    )
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, amount, is_return) "
        "SELECT *, false FROM o_in"
    )
    con.execute(
        "INSERT INTO products (product_id, name, category) VALUES ('g1', 'Rake', 'Garden'), "
        "('b1', 'Novel', 'Books')"
    )
    return con


def test_traits_only_where_significant(persona_shop):
    cards = engine.persona_cards(persona_shop)
    assert sum(c.customers for c in cards) == 400
    claimed = pd.concat([c.traits[c.traits["significant"]].assign(group=c.group) for c in cards])
    # every claim carries its evidence
    assert (claimed["q_value"] < engine.ALPHA).all()
    assert (claimed["lift"] >= engine.MIN_LIFT).all()
    assert (claimed["group_customers"] >= engine.MIN_TRAIT_CUSTOMERS).all()
    # the coin flip is noise: tested, never claimed
    tested = pd.concat([c.traits for c in cards])
    assert tested["trait"].str.startswith("coin = ").any()
    assert not claimed["trait"].str.startswith("coin = ").any()
    # Books are bought by everyone: never a trait
    assert "Books" not in set(claimed["trait"])
    # the biggest heavy group is North and Garden; the biggest light group is South
    heavy = max((c for c in cards if c.levels.get("recency_days") == "low"), key=lambda c: c.customers)
    light = max((c for c in cards if c.levels.get("recency_days") == "high"), key=lambda c: c.customers)
    assert {"region = North", "Garden"} <= set(heavy.top("attribute")["trait"]) | set(
        heavy.top("category")["trait"]
    )
    assert "region = South" in set(light.top("attribute")["trait"])
    assert "region = North" in heavy.description
    # small groups get facts only, and say so
    for card in cards:
        if card.customers < engine.MIN_GROUP:
            assert card.traits.empty
            assert "too few" in card.evidence_note


def test_card_facts_by_hand(con):
    con.execute("INSERT INTO customers (customer_id) VALUES ('a'), ('b'), ('z')")
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES
        ('1', 'a', '2024-01-01', 10, false), ('2', 'a', '2024-01-03', 30, false),
        ('3', 'b', '2024-01-02', 60, false), ('4', 'b', '2024-01-02', -20, true)""")
    cards = {c.group: c for c in engine.persona_cards(con)}
    segments = engine.customer_segments(con).set_index("customer_id")["segment"]
    a = cards[segments["a"]]
    assert (a.customers, a.revenue, a.median_frequency, a.median_monetary, a.median_aov) == (
        1,
        40.0,
        2,
        40.0,
        20.0,
    )
    assert a.customer_share == pytest.approx(1 / 3)
    assert a.revenue_share == pytest.approx(40 / 80)
    nobody = cards[engine.NO_PURCHASES]
    assert nobody.median_recency_days is None and nobody.revenue == 0.0
    assert nobody.action == "First purchase"
    assert all("too few" in c.evidence_note for c in cards.values())
    assert a.description.startswith("1 customer (33% of all)")


def test_actions_come_from_rules_tables_with_overrides(persona_shop):
    cards = engine.persona_cards(persona_shop)
    for card in cards:
        rule = engine.SEGMENT_ACTIONS[engine.SEGMENT_ACTIONS["segment"] == card.group]
        assert card.action == rule["action"].item()
    override = pd.DataFrame(
        [(cards[0].group, "Say thanks", "A handwritten note.")], columns=["segment", "action", "detail"]
    )
    changed = engine.persona_cards(persona_shop, segment_actions=override)
    assert changed[0].action == "Say thanks" and changed[0].action_detail == "A handwritten note."
    # groups the override does not name fall back to the profile rules
    assert changed[1].action in set(engine.PROFILE_ACTIONS["action"])


def test_cluster_cards_carry_stability_and_profile_actions(persona_shop):
    cards = engine.persona_cards(persona_shop, by="cluster", cluster_params=engine.ClusterParams(k=2))
    assert len(cards) == 2
    assert all(c.stability is not None and c.stability > 0.9 for c in cards)
    recent = next(c for c in cards if c.levels["recency_days"] == "low")
    assert recent.action == "Loyalty reward"  # low recency + high spend, first profile rule
    assert "region = North" in set(recent.top("attribute")["trait"])
    table = engine.persona_table(cards)
    assert table["group"].tolist() == [c.group for c in cards]
    assert {"top_categories", "distinguishing_attributes", "action", "evidence_note"} <= set(table.columns)


def test_thresholds_change_what_is_claimed(persona_shop):
    strict = engine.persona_cards(
        persona_shop, by="cluster", cluster_params=engine.ClusterParams(k=2), min_lift=5.0
    )
    assert not any(c.traits["significant"].any() for c in strict)
    assert all("stands out" in c.evidence_note for c in strict)
    tiny = engine.persona_cards(
        persona_shop, by="cluster", cluster_params=engine.ClusterParams(k=2), min_group=1000
    )
    assert all(c.traits.empty and "too few" in c.evidence_note for c in tiny)


def test_no_attributes_no_products_is_said(con):
    values = ", ".join(
        f"('{i}', 'c{i}', DATE '2024-01-01' + INTERVAL ({i % 50}) DAY, {10 + i % 7}, false)"
        for i in range(120)
    )
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES {values}")
    cards = engine.persona_cards(con, by="cluster", cluster_params=engine.ClusterParams(k=2))
    assert all(c.evidence_note and "add customer attributes" in c.evidence_note for c in cards)


def test_bad_grouping_is_refused(con):
    with pytest.raises(engine.SchemaError, match="per 'segment' or 'cluster'"):
        engine.persona_cards(con, by="zodiac")


def test_empty_store_has_no_cards(con):
    assert engine.persona_cards(con) == []


def test_headline_traits_need_a_share_of_the_group_and_rank_by_share_times_log_lift():
    import pandas as pd

    from engine.personas import headline_rank

    traits = pd.DataFrame(
        {
            "trait": ["rare gadget", "dresses", "shoes"],
            "group_share": [0.006, 0.26, 0.10],
            "lift": [6.0, 3.7, 4.0],
        }
    )
    ranked = headline_rank(traits)["trait"].tolist()
    assert ranked == ["dresses", "shoes"]  # 0.26*ln 3.7 > 0.10*ln 4; the 0.6% gadget never headlines


def test_whole_number_attributes_get_bins_that_do_not_overlap(sample_con):
    import re

    cards = engine.persona_cards(sample_con, by="segment")
    labels = sorted(
        {t for c in cards for t in c.traits["trait"] if re.fullmatch(r"age \d+(-\d+)?", str(t))},
        key=lambda t: int(re.findall(r"\d+", t)[0]),
    )
    assert len(labels) >= 3, labels
    ranges = []
    for label in labels:
        numbers = [int(x) for x in re.findall(r"\d+", label)]
        ranges.append((numbers[0], numbers[-1]))  # "age 30" is the range 30-30
    for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False):
        assert low == high + 1, labels  # 18-29 then 30-44: no age in two bins


def test_traits_come_as_values_a_page_can_word(persona_shop):
    """Every tested trait carries its column and value; the description's standouts are those values."""
    cards = engine.persona_cards(persona_shop)
    tested = pd.concat([c.traits for c in cards], ignore_index=True)
    assert list(tested.columns) == engine.TRAIT_COLUMNS
    attributes = tested[tested["kind"] == "attribute"]
    assert set(attributes["column"]) == {"region", "coin"}
    assert set(attributes.loc[attributes["column"] == "region", "value"]) == {"North", "South"}
    assert not attributes["is_range"].any()  # both are categories
    assert (attributes["trait"] == attributes["column"] + " = " + attributes["value"]).all()
    bought = tested[tested["kind"] != "attribute"]
    assert (bought["column"] == bought["kind"]).all() and (bought["value"] == bought["trait"]).all()
    assert set(bought.loc[bought["kind"] == "category", "value"]) <= {"Garden", "Books"}

    heavy = max((c for c in cards if c.levels.get("recency_days") == "low"), key=lambda c: c.customers)
    north = heavy.traits.set_index("trait").loc["region = North"]
    assert engine.Standout("attribute", "region", "North", False, north["lift"]) in heavy.standouts
    # the text and the values say the same thing
    named = ", ".join(
        f"{s.column} = {s.value} ({s.lift:.1f}x)" if s.kind == "attribute" else f"{s.value} ({s.lift:.1f}x)"
        for s in heavy.standouts
    )
    assert heavy.description == f"{heavy.summary} Stand out for {named}."


def test_numeric_attributes_come_as_ranges(sample_con):
    cards = engine.persona_cards(sample_con, by="segment")
    ages = pd.concat([c.traits for c in cards]).query("column == 'age'")
    assert len(ages) and ages["is_range"].all()
    assert (ages["trait"] == "age " + ages["value"]).all()
    assert ages["value"].str.fullmatch(r"\d+(-\d+)?").all()

"""Draw the sample shop's files from its structure (``spec``): the same seed gives the same bytes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.sample.spec import (
    ACQUISITION_CHANNELS,
    AGE_BAND_CONVERSION,
    AGE_BANDS,
    BLACK_FRIDAY_FACTOR,
    BLACK_FRIDAY_FROM_DAY,
    CAMPAIGNS,
    CATEGORIES,
    CATEGORY_PRICE,
    CHANNEL_COSTS,
    CUSTOMER_TYPES,
    DEVICE_CONVERSION,
    DEVICE_SHARE,
    DEVICES,
    END_DATE,
    EXPERIMENT,
    GROWTH,
    GROWTH_FROM,
    HOURLY_ORDER_WEIGHTS,
    MONTH_WEIGHTS,
    ORDER_SHARE_WITH_CAMPAIGN,
    PRODUCT_ADJECTIVES,
    PRODUCT_NOUNS,
    PRODUCTS_PER_CATEGORY,
    RATING_PROBABILITY,
    RATING_RULE,
    REGION_SHARE,
    REGIONS,
    RETURN_SHARE,
    REVIEWS_PER_CUSTOMER,
    SAMPLE_STRUCTURE,
    START_DATE,
    WEEKDAY_WEIGHTS,
)
from engine.store import SAMPLE_DIR

# ---------------------------------------------------------------- helpers


def _days(start: str | date, end: str | date) -> np.ndarray:
    return np.arange(np.datetime64(str(start), "D"), np.datetime64(str(end), "D") + 1)


def _day_weights(days: np.ndarray) -> np.ndarray:
    """Relative order volume per day: weekly rhythm, yearly season with a Nov/Dec peak, slight growth."""
    dow = (days.astype("int64") + 3) % 7  # 0 = Monday
    weekly = np.array(WEEKDAY_WEIGHTS)[dow]
    month = days.astype("datetime64[M]").astype("int64") % 12
    monthly = np.array(MONTH_WEIGHTS)[month]
    day_of_month = (days - days.astype("datetime64[M]")).astype("int64") + 1
    black_friday = (month == 10) & (day_of_month >= BLACK_FRIDAY_FROM_DAY)
    growth = np.where(days >= np.datetime64(GROWTH_FROM), GROWTH, 1.0)
    return weekly * monthly * np.where(black_friday, BLACK_FRIDAY_FACTOR, 1.0) * growth


def _choose(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One draw per row of a matrix of row-wise cumulative weights (last column is the row total)."""
    u = rng.random(cumulative.shape[0]) * cumulative[:, -1]
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), cumulative.shape[1] - 1)


def _sample_days_between(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, day_cum: np.ndarray
) -> np.ndarray:
    """Day offsets (from START_DATE) drawn with the seasonal weights inside [lo, hi] per row."""
    below = np.where(lo > 0, day_cum[np.maximum(lo - 1, 0)], 0.0)
    u = below + rng.random(lo.shape[0]) * (day_cum[hi] - below)
    return np.clip(np.searchsorted(day_cum, u, side="left"), lo, hi)


def _fmt_days(offsets: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.datetime64(START_DATE, "D") + offsets.astype("int64"), unit="D")


def _fmt_seconds(seconds: np.ndarray) -> np.ndarray:
    stamps = np.datetime64(START_DATE, "s") + seconds.astype("int64")
    return np.char.replace(np.datetime_as_string(stamps, unit="s"), "T", " ")


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day, busiest in the evening."""
    hourly = np.array(HOURLY_ORDER_WEIGHTS.split(), dtype=float)
    hour = rng.choice(24, size=n, p=hourly / hourly.sum())
    return hour * 3600 + rng.integers(0, 3600, size=n)


# ---------------------------------------------------------------- tables


def _products(rng: np.random.Generator) -> pd.DataFrame:
    n_cat = len(CATEGORIES)
    category = np.repeat(np.arange(n_cat), PRODUCTS_PER_CATEGORY)
    n = category.size
    price = np.array(CATEGORY_PRICE)[category] * np.exp(rng.normal(0.0, 0.45, n))
    price = np.round(np.maximum(price, 1.0), 0) - 0.01
    adjectives = np.array(PRODUCT_ADJECTIVES)
    nouns = PRODUCT_NOUNS
    adj = adjectives[rng.integers(0, adjectives.size, n)]
    within = np.tile(np.arange(PRODUCTS_PER_CATEGORY), n_cat)
    names = np.array(
        [
            f"{a} {nouns[CATEGORIES[c]][i % len(nouns[CATEGORIES[c]])]} {i // len(nouns[CATEGORIES[c]]) + 1}"
            for a, c, i in zip(adj, category, within, strict=True)
        ]
    )
    active = rng.random(n) > 0.04
    stock = rng.integers(5, 400, n)
    stock[rng.random(n) < 0.04] = 0
    return pd.DataFrame(
        {
            "product_id": [f"P{i:03d}" for i in range(1, n + 1)],
            "name": names,
            "category": np.array(CATEGORIES)[category],
            "price": price,
            "active": np.where(active, "true", "false"),
            "stock": stock,
        }
    )


@dataclass(frozen=True)
class _Customers:
    """The hidden side of the customer table: type, signup day, category tastes, plus the visible frame."""

    frame: pd.DataFrame
    ctype: np.ndarray  # index into CUSTOMER_TYPES per customer
    signup: np.ndarray  # signup day as an offset from START_DATE (negative = before the order history)
    taste: np.ndarray  # customers x categories, rows sum to 1


def _customers(rng: np.random.Generator, n_customers: int, end_offset: int) -> _Customers:
    """Customers with exact type counts (shuffled), attributes skewed by type and Dirichlet tastes."""
    specs = list(CUSTOMER_TYPES.values())
    type_names = list(CUSTOMER_TYPES)
    counts = np.floor(np.array([s["share"] for s in specs]) * n_customers).astype(int)
    counts[0] += n_customers - counts.sum()
    ctype = rng.permutation(np.repeat(np.arange(len(specs)), counts))
    is_new = ctype == type_names.index("new")
    is_prospect = ctype == type_names.index("prospects")
    is_lapsed = ctype == type_names.index("lapsed")

    lo_age = np.array([s["age"][0] for s in specs])[ctype]
    hi_age = np.array([s["age"][1] for s in specs])[ctype]
    typical = rng.random(n_customers) < 0.75  # a quarter of each type falls anywhere in 18-80
    age = np.where(typical, rng.integers(lo_age, hi_age + 1), rng.integers(18, 81, n_customers))
    female = rng.random(n_customers) < np.array([s["female_rate"] for s in specs])[ctype]
    gender = np.where(female, "female", "male")
    gender[rng.random(n_customers) < 0.02] = "other"
    region_p = np.tile([0.2, 0.2, 0.2, 0.2, 0.2], (len(specs), 1))
    for name, shares in REGION_SHARE.items():
        region_p[type_names.index(name)] = shares
    region = np.array(REGIONS)[_choose(rng, np.cumsum(region_p[ctype], axis=1))]
    chan_p = np.array([[s["channels"].get(c, 0.0) for c in ACQUISITION_CHANNELS] for s in specs])
    chan_p = 0.85 * chan_p + 0.15 / len(ACQUISITION_CHANNELS)
    acquisition = np.array(ACQUISITION_CHANNELS)[_choose(rng, np.cumsum(chan_p[ctype], axis=1))]
    loyalty = rng.random(n_customers) < np.array([s["loyalty_rate"] for s in specs])[ctype]

    signup = rng.integers(-3 * 365, 0, n_customers)  # most customers joined before 2024
    late = (~is_lapsed) & (rng.random(n_customers) < 0.35)
    signup = np.where(late, rng.integers(0, 540, n_customers), signup)
    signup = np.where(is_new, rng.integers(end_offset - 89, end_offset - 5, n_customers), signup)
    signup = np.where(is_prospect, rng.integers(-365, end_offset - 1, n_customers), signup)

    # a Dirichlet draw (normalised gammas) around the type's category weights
    alpha = np.full((len(specs), len(CATEGORIES)), 0.15)
    for t, spec in enumerate(specs):
        for category, weight in spec["taste"].items():
            alpha[t, CATEGORIES.index(category)] = weight
    taste = rng.gamma(alpha[ctype] * 1.5)
    taste /= taste.sum(axis=1, keepdims=True)

    frame = pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.char.zfill((np.arange(n_customers) + 1).astype(str), 4)),
            "signup_date": _fmt_days(signup),
            "age": age,
            "gender": gender,
            "region": region,
            "acquisition_channel": acquisition,
            "loyalty_member": np.where(loyalty, "true", "false"),
        }
    )
    # a contact address on the reserved example.com domain, so audience files have something to match on
    frame["email"] = np.char.add(np.char.lower(frame["customer_id"].to_numpy().astype(str)), "@example.com")
    return _Customers(frame, ctype, signup, taste)


def _product_appeal(rng: np.random.Generator, price: np.ndarray, product_cat: np.ndarray) -> np.ndarray:
    """Appeal of each product to each customer type (types x products).

    A shared popularity, a price tilt (big spenders like the dearer items of a category, bargain hunters
    the cheaper ones) and a strong type-specific twist, so that each type has its own favourite products.
    """
    popularity = rng.lognormal(0.0, 0.4, price.size)
    tilt = np.array([s["price_tilt"] for s in CUSTOMER_TYPES.values()])
    rel_price = price / np.array(CATEGORY_PRICE)[product_cat]
    appeal = popularity[None, :] * rel_price[None, :] ** tilt[:, None]
    return appeal * rng.lognormal(0.0, 1.2, appeal.shape)


@dataclass(frozen=True)
class _Lines:
    """Purchase lines (returns excluded) in generation order, for the interactions."""

    customer: np.ndarray
    product: np.ndarray
    seconds: np.ndarray  # seconds since START_DATE


def _orders(
    rng: np.random.Generator,
    customers: _Customers,
    appeal: np.ndarray,
    price: np.ndarray,
    product_ids: np.ndarray,
    end_offset: int,
) -> tuple[pd.DataFrame, _Lines]:
    """Order lines: recency fixes each customer's last order, earlier ones follow the season."""
    specs = list(CUSTOMER_TYPES.values())
    type_names = list(CUSTOMER_TYPES)
    ctype, signup = customers.ctype, customers.signup
    n_customers = ctype.size
    is_new = ctype == type_names.index("new")
    is_prospect = ctype == type_names.index("prospects")
    is_lapsed = ctype == type_names.index("lapsed")
    all_days = _days(START_DATE, END_DATE)
    day_cum = np.cumsum(_day_weights(all_days))
    appeal_cum = np.cumsum(appeal.reshape(len(specs), len(CATEGORIES), PRODUCTS_PER_CATEGORY), axis=2)

    med_rec = np.array([s["recency_days"] or 1 for s in specs], dtype=float)[ctype]
    recency = np.round(med_rec * np.exp(rng.normal(0.0, 0.5, n_customers))).astype(int)
    recency = np.where(is_lapsed, rng.integers(380, 700, n_customers), recency)
    first_day = np.maximum(signup, 0)
    recency = np.where(is_new, rng.integers(0, end_offset - first_day + 1), recency)
    last_day = np.clip(end_offset - recency, first_day, end_offset)
    med_orders = np.array([s["orders"] for s in specs], dtype=float)[ctype]
    n_orders = np.maximum(1, np.round(med_orders * np.exp(rng.normal(0.0, 0.3, n_customers)))).astype(int)
    n_orders = np.where(is_new, 1 + (rng.random(n_customers) < 0.3), n_orders)
    n_orders = np.where(is_prospect, 0, n_orders)

    order_cust = np.repeat(np.arange(n_customers), n_orders)
    first_of_customer = np.r_[0, np.cumsum(n_orders)[:-1]]
    is_last = np.zeros(order_cust.size, dtype=bool)
    is_last[first_of_customer[n_orders > 0]] = True
    order_day = _sample_days_between(rng, first_day[order_cust], last_day[order_cust], day_cum)
    order_day = np.where(is_last, last_day[order_cust], order_day)
    order_sec = order_day * 86400 + _time_of_day(rng, order_cust.size)
    order_rank = np.lexsort((order_cust, order_sec))
    order_number = np.empty(order_cust.size, dtype=int)
    order_number[order_rank] = np.arange(1, order_cust.size + 1)

    # campaign attribution on a share of orders: a campaign running that day, weighted by its pull
    camp_active = np.zeros((all_days.size, len(CAMPAIGNS)))
    for j, camp in enumerate(CAMPAIGNS):
        camp_active[:, j] = _campaign_days(camp, all_days) * _campaign_pull(camp)
    attributed = rng.random(order_cust.size) < ORDER_SHARE_WITH_CAMPAIGN
    order_campaign = _choose(rng, np.cumsum(camp_active[order_day], axis=1))

    # lines: a category from the customer's taste, a product from the type's appeal in that category
    lines_mean = np.array([s["lines"] for s in specs])[ctype]
    n_lines = np.minimum(1 + rng.poisson(lines_mean[order_cust]), 4)
    line_order = np.repeat(np.arange(order_cust.size), n_lines)
    line_cust = order_cust[line_order]
    line_type = ctype[line_cust]
    line_cat = _choose(rng, np.cumsum(customers.taste[line_cust], axis=1))
    within = _choose(rng, appeal_cum[line_type, line_cat])
    line_product = line_cat * PRODUCTS_PER_CATEGORY + within
    big = line_type == type_names.index("big_spenders")
    bargain = line_type == type_names.index("bargain_hunters")
    quantity = 1 + rng.poisson(np.where(bargain, 0.6, np.where(big, 0.3, 0.15)))
    on_discount = bargain & (rng.random(line_order.size) < 0.6)
    discount = np.where(on_discount, rng.choice([0.7, 0.8, 0.85], line_order.size), 1.0)
    unit_price = np.round(price[line_product] * discount, 2)
    amount = np.round(unit_price * quantity, 2)

    # returns: ~2% of lines from orders at least 30 days before the end, 3-30 days later
    eligible = order_day[line_order] <= end_offset - 30
    returned = eligible & (rng.random(line_order.size) < RETURN_SHARE / max(eligible.mean(), 1e-9))
    ret_idx = np.flatnonzero(returned)
    ret_sec = order_sec[line_order[ret_idx]] + rng.integers(3, 31, ret_idx.size) * 86400
    ret_sec = (ret_sec // 86400) * 86400 + _time_of_day(rng, ret_idx.size)

    order_ids = np.char.add("O", np.char.zfill(order_number.astype(str), 5))
    return_ids = np.char.add("R", np.char.lstrip(order_ids[line_order[ret_idx]], "O"))
    camp_ids = np.array([c["id"] for c in CAMPAIGNS])
    camp_channels = np.array([c["channel"] for c in CAMPAIGNS])
    line_camp = np.where(attributed[line_order], camp_ids[order_campaign[line_order]], "")
    line_chan = np.where(attributed[line_order], camp_channels[order_campaign[line_order]], "")
    no_campaign = np.full(ret_idx.size, "")
    cust_ids = customers.frame["customer_id"].to_numpy().astype(str)
    frame = pd.DataFrame(
        {
            "order_id": np.r_[order_ids[line_order], return_ids],
            "customer_id": cust_ids[np.r_[line_cust, line_cust[ret_idx]]],
            "_sec": np.r_[order_sec[line_order], ret_sec],
            "product_id": product_ids[np.r_[line_product, line_product[ret_idx]]],
            "quantity": np.r_[quantity, -quantity[ret_idx]],
            "unit_price": np.r_[unit_price, unit_price[ret_idx]],
            "amount": np.r_[amount, -amount[ret_idx]],
            "campaign_id": np.r_[line_camp, no_campaign],
            "channel": np.r_[line_chan, no_campaign],
        }
    )
    frame = frame.sort_values(["_sec", "order_id", "product_id"], kind="stable").reset_index(drop=True)
    frame.insert(2, "order_date", _fmt_seconds(frame.pop("_sec").to_numpy()))
    return frame, _Lines(line_cust, line_product, order_sec[line_order])


def _interactions(
    rng: np.random.Generator,
    customers: _Customers,
    appeal: np.ndarray,
    lines: _Lines,
    product_ids: np.ndarray,
    end_offset: int,
) -> pd.DataFrame:
    """Ratings of purchased products plus reviews of products not bought, both driven by taste."""
    ctype, taste = customers.ctype, customers.taste
    n_types, n_cat, n_products = len(CUSTOMER_TYPES), len(CATEGORIES), product_ids.size
    product_cat = np.repeat(np.arange(n_cat), PRODUCTS_PER_CATEGORY)
    appeal_cum = np.cumsum(appeal.reshape(n_types, n_cat, PRODUCTS_PER_CATEGORY), axis=2)
    first_day = np.maximum(customers.signup, 0)

    pair = lines.customer * n_products + lines.product
    pair_unique, first_pos = np.unique(pair, return_index=True)  # first purchase of each pair
    rated = rng.random(pair_unique.size) < RATING_PROBABILITY
    r_cust = lines.customer[first_pos][rated]
    r_prod = lines.product[first_pos][rated]
    r_sec = lines.seconds[first_pos][rated] + rng.integers(2 * 86400, 21 * 86400, rated.sum())

    buyers = np.unique(lines.customer)
    n_reviews = rng.poisson(REVIEWS_PER_CUSTOMER, buyers.size)
    v_cust = np.repeat(buyers, n_reviews)
    v_type = ctype[v_cust]
    from_taste = rng.random(v_cust.size) < 0.6  # the rest are products from any category
    taste_cat = _choose(rng, np.cumsum(taste[v_cust], axis=1))
    v_cat = np.where(from_taste, taste_cat, rng.integers(0, n_cat, v_cust.size))
    v_prod = v_cat * PRODUCTS_PER_CATEGORY + _choose(rng, appeal_cum[v_type, v_cat])
    v_sec = rng.integers(first_day[v_cust] * 86400, (end_offset + 1) * 86400)
    v_key = v_cust * n_products + v_prod
    _, v_first = np.unique(v_key, return_index=True)
    keep = ~np.isin(v_key, pair_unique) & np.isin(np.arange(v_key.size), v_first)

    i_cust = np.r_[r_cust, v_cust[keep]]
    i_prod = np.r_[r_prod, v_prod[keep]]
    i_sec = np.minimum(np.r_[r_sec, v_sec[keep]], (end_offset + 1) * 86400 - 1)
    # liking follows buying: the category taste and the product's appeal to the customer's type
    category_affinity = np.log(n_cat * taste[i_cust, product_cat[i_prod]] + 1e-3)
    appeal_mean = appeal.reshape(n_types, n_cat, PRODUCTS_PER_CATEGORY).mean(axis=2)
    product_affinity = np.log(appeal[ctype[i_cust], i_prod] / appeal_mean[ctype[i_cust], product_cat[i_prod]])
    score = RATING_RULE["base"] + RATING_RULE["category"] * category_affinity
    score += RATING_RULE["product"] * product_affinity + rng.normal(0.0, RATING_RULE["noise"], i_cust.size)
    cust_ids = customers.frame["customer_id"].to_numpy().astype(str)
    frame = pd.DataFrame(
        {
            "customer_id": cust_ids[i_cust],
            "product_id": product_ids[i_prod],
            "rating": np.clip(np.round(score), 1, 5).astype(int),
            "event_type": "rating",
            "_sec": i_sec,
        }
    )
    frame = frame.sort_values(["_sec", "customer_id", "product_id"], kind="stable")
    frame["timestamp"] = _fmt_seconds(frame.pop("_sec").to_numpy())
    return frame


def generate_sample(out_dir: str | Path = SAMPLE_DIR, seed: int = 42) -> dict[str, Path]:
    """Write the sample shop's CSVs (and the customer-type truth file) into ``out_dir``.

    Parameters
    ----------
    out_dir : folder to write into (created if needed); defaults to the bundled ``sample_data/``.
    seed : seed of ``numpy.random.default_rng``; the same seed always gives byte-identical files.

    Returns
    -------
    dict
        File name stem -> path for customers, products, orders, interactions, campaigns, experiments
        and ``truth_customer_types``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    end_offset = (END_DATE - START_DATE).days

    products = _products(rng)
    price = products["price"].to_numpy()
    product_ids = products["product_id"].to_numpy().astype(str)
    product_cat = np.repeat(np.arange(len(CATEGORIES)), PRODUCTS_PER_CATEGORY)
    customers = _customers(rng, SAMPLE_STRUCTURE["customers"], end_offset)
    appeal = _product_appeal(rng, price, product_cat)
    orders, lines = _orders(rng, customers, appeal, price, product_ids, end_offset)
    interactions = _interactions(rng, customers, appeal, lines, product_ids, end_offset)
    campaigns = _campaign_rows(rng, _days(START_DATE, END_DATE))
    experiments = _experiment_rows(
        rng,
        customers.frame["customer_id"].to_numpy(),
        customers.signup,
        customers.frame["loyalty_member"].to_numpy() == "true",
    )
    truth = pd.DataFrame(
        {
            "customer_id": customers.frame["customer_id"],
            "customer_type": np.array(list(CUSTOMER_TYPES))[customers.ctype],
        }
    )

    frames = {
        "customers": customers.frame,
        "products": products,
        "orders": orders,
        "interactions": interactions,
        "campaigns": campaigns,
        "experiments": experiments,
        "truth_customer_types": truth,
    }
    paths = {}
    for stem, frame in frames.items():
        path = out / f"{stem}.csv"
        frame.to_csv(path, index=False, lineterminator="\n", float_format="%.2f")
        paths[stem] = path
    return paths


def _campaign_days(camp: dict, days: np.ndarray) -> np.ndarray:
    """1.0 on the days a campaign runs, else 0.0."""
    on = np.zeros(days.size, dtype=bool)
    for start, end in camp["windows"]:
        on |= (days >= np.datetime64(start)) & (days <= np.datetime64(end))
    dow = (days.astype("int64") + 3) % 7
    if camp["days"] == "weekdays":
        on &= dow < 5
    elif camp["days"] == "tue_thu":
        on &= (dow == 1) | (dow == 3)
    return on.astype(float)


def _campaign_pull(camp: dict) -> float:
    """Relative number of orders a campaign drives per active day."""
    _, _, aov = CHANNEL_COSTS[camp["channel"]]
    if camp["roas"] is None:
        return 1.5
    return camp["daily_spend"] * camp["roas"] / aov


def _campaign_rows(rng: np.random.Generator, days: np.ndarray) -> pd.DataFrame:
    """Daily campaign performance split over 1-3 (age band, device) rows per campaign-day."""
    season = _day_weights(days)
    combos = [(a, d) for a in range(len(AGE_BANDS)) for d in range(len(DEVICES))]
    combo_age = np.array([a for a, _ in combos])
    combo_dev = np.array([d for _, d in combos])
    combo_w = np.array([0.2 * DEVICE_SHARE[d] for _, d in combos])
    conv_factor = np.array(AGE_BAND_CONVERSION)[combo_age] * np.array(DEVICE_CONVERSION)[combo_dev]
    conv_factor /= (conv_factor * combo_w).sum()  # keeps the campaign's ROAS on target on average
    parts = []
    for camp in CAMPAIGNS:
        active = np.flatnonzero(_campaign_days(camp, days))
        n = active.size
        cpm, ctr, aov = CHANNEL_COSTS[camp["channel"]]
        n_rows = 1 + rng.binomial(2, 0.5, n)
        day_idx = np.repeat(active, n_rows)
        # distinct combos per campaign-day: Gumbel top-k on log weights
        keys = np.log(combo_w)[None, :] + rng.gumbel(size=(n, len(combos)))
        order = np.argsort(-keys, axis=1, kind="stable")
        rank = np.concatenate([np.arange(k) for k in n_rows])
        combo = order[np.repeat(np.arange(n), n_rows), rank]
        share = combo_w[combo] * rng.lognormal(0.0, 0.3, combo.size)
        share /= np.bincount(np.repeat(np.arange(n), n_rows), weights=share)[np.repeat(np.arange(n), n_rows)]
        if camp["roas"] is None:
            spend = np.zeros(combo.size)
            impressions = rng.poisson(camp["sends"] * share)
            cvr = 0.04
        else:
            day_spend = camp["daily_spend"] * season[day_idx] * rng.lognormal(0.0, 0.15, combo.size)
            spend = np.round(day_spend * share, 2)
            impressions = rng.poisson(spend / cpm * 1000.0)
            cvr = camp["roas"] * cpm / (1000.0 * ctr * aov)
        clicks = rng.binomial(impressions, ctr)
        conversions = rng.binomial(clicks, np.minimum(cvr * conv_factor[combo], 0.95))
        revenue = np.round(conversions * aov * rng.lognormal(-0.02, 0.2, combo.size), 2)
        parts.append(
            pd.DataFrame(
                {
                    "campaign_id": camp["id"],
                    "campaign_name": camp["name"],
                    "channel": camp["channel"],
                    "date": np.datetime_as_string(days[day_idx], unit="D"),
                    "spend": spend,
                    "impressions": impressions,
                    "clicks": clicks,
                    "conversions": conversions,
                    "revenue": revenue,
                    "age_band": np.array(AGE_BANDS)[combo_age[combo]],
                    "device": np.array(DEVICES)[combo_dev[combo]],
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["date", "campaign_id", "age_band", "device"], kind="stable").reset_index(
        drop=True
    )


def _experiment_rows(
    rng: np.random.Generator, cust_ids: np.ndarray, signup: np.ndarray, loyal: np.ndarray
) -> pd.DataFrame:
    """One row per exposed customer of the checkout A/B test, exactly half in each variant.

    The redesign works mostly on loyalty members: treatment converters are drawn with weight
    EXPERIMENT["treatment_weight_loyal"] for members (control converters uniformly), so the Targeting page has
    a real difference to find while each variant's rate stays exactly as documented."""
    spec = EXPERIMENT
    per_variant = spec["exposures_per_variant"]
    start = np.datetime64(spec["start"], "D")
    start_offset = int((start - np.datetime64(START_DATE, "D")).astype(int))
    stop_offset = start_offset + spec["days"] - 1
    eligible = np.flatnonzero(signup < stop_offset)
    chosen = np.sort(rng.choice(eligible, size=2 * per_variant, replace=False))
    first = np.maximum(start_offset, signup[chosen] + 1)
    variant = rng.permutation(np.repeat(np.array(["control", "treatment"]), per_variant))
    # exactly the documented rate in each variant, at random positions: observed rates equal true rates
    converted = np.zeros(chosen.size, dtype=bool)
    for name, true_rate in (("control", spec["control_rate"]), ("treatment", spec["treatment_rate"])):
        members = np.flatnonzero(variant == name)
        weight = np.ones(members.size)
        if name == "treatment":
            weight[loyal[chosen[members]]] = spec["treatment_weight_loyal"]
        picked = rng.choice(
            members, size=round(true_rate * per_variant), replace=False, p=weight / weight.sum()
        )
        converted[picked] = True
    revenue = np.where(
        converted, np.round(spec["revenue_mean"] * rng.lognormal(-0.125, 0.5, chosen.size), 2), 0.0
    )
    seconds = rng.integers(first, stop_offset + 1) * 86400 + _time_of_day(rng, chosen.size)
    frame = pd.DataFrame(
        {
            "experiment_id": spec["experiment_id"],
            "variant": variant,
            "customer_id": cust_ids[chosen],
            "converted": converted.astype(int),
            "revenue": revenue,
            "exposure_date": _fmt_seconds(seconds),
        }
    )
    return frame.sort_values(["exposure_date", "customer_id"], kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.sample [out_dir]``: write the sample CSVs (default: the bundled folder)."""
    args = sys.argv[1:] if argv is None else argv
    paths = generate_sample(args[0] if args else SAMPLE_DIR)
    for stem, path in paths.items():
        print(f"{stem:22s} {path.stat().st_size / 1e6:6.2f} MB  {path}")
    return 0


__all__ = ["generate_sample"]

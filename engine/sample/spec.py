"""The sample shop's latent structure, as data: customer types, catalogue, seasonality, campaigns with their
true returns and the A/B test with its true effect.

``generate`` draws the sample files from these tables; ``SAMPLE_STRUCTURE`` documents them (with
``sample_data/README.md``) so that features built on the sample can be checked against the truth.
"""

from __future__ import annotations

from datetime import date

# Files written by ``generate_sample``: the six canonical tables plus the truth file used by tests.
SAMPLE_TABLES = ("customers", "products", "orders", "interactions", "campaigns", "experiments")
TRUTH_FILE = "truth_customer_types.csv"

START_DATE = date(2024, 1, 1)
END_DATE = date(2025, 12, 31)  # the last order day: results on the sample never depend on today

CATEGORIES = (
    "Electronics",
    "Jewelry",
    "Sports & Outdoors",
    "Garden",
    "Home & Kitchen",
    "Fashion",
    "Toys & Games",
    "Beauty",
    "Health",
    "Books",
    "Pet Supplies",
    "Grocery",
)
# Median list price per category (prices within a category are log-normal around it).
CATEGORY_PRICE = (220.0, 160.0, 65.0, 50.0, 45.0, 40.0, 28.0, 24.0, 18.0, 14.0, 16.0, 7.0)
PRODUCTS_PER_CATEGORY = 25
# Product names: an adjective, a noun of the category and a number ("Eco Kettle 2").
PRODUCT_ADJECTIVES = tuple(
    "Classic Premium Everyday Compact Deluxe Eco Smart Pro Mini Family Travel Essential Signature".split()
)
PRODUCT_NOUNS = {
    "Electronics": ["Headphones", "Speaker", "Tablet", "Camera", "Smartwatch", "Charger", "Monitor"],
    "Jewelry": ["Necklace", "Ring", "Bracelet", "Earrings", "Watch", "Pendant"],
    "Sports & Outdoors": ["Tent", "Yoga Mat", "Backpack", "Running Shoes", "Bike Light", "Dumbbells"],
    "Garden": ["Planter", "Hose", "Pruner", "Seed Kit", "Bird Feeder", "Lantern"],
    "Home & Kitchen": ["Knife Set", "Blender", "Kettle", "Pan", "Towel Set", "Lamp", "Cushion"],
    "Fashion": ["Jacket", "Sneakers", "Scarf", "Jeans", "Dress", "Handbag", "Sweater"],
    "Toys & Games": ["Puzzle", "Board Game", "Building Set", "Plush", "Drone", "Card Game"],
    "Beauty": ["Serum", "Lipstick", "Moisturiser", "Perfume", "Face Mask", "Palette"],
    "Health": ["Vitamins", "Protein", "First Aid Kit", "Thermometer", "Massager", "Tea"],
    "Books": ["Novel", "Cookbook", "Biography", "Atlas", "Comic", "Guide"],
    "Pet Supplies": ["Dog Food", "Cat Litter", "Pet Bed", "Chew Toy", "Leash", "Cat Tree"],
    "Grocery": ["Coffee", "Olive Oil", "Pasta", "Chocolate", "Granola", "Spice Mix", "Honey"],
}

# Customer types. ``taste`` is the Dirichlet weight over CATEGORIES (unlisted categories get 0.15).
# ``recency_days`` and ``orders`` are the medians the generator draws around; ``aov`` (average order
# value) follows from tastes and prices and is the median measured with seed 42. Tests check orderings.
CUSTOMER_TYPES: dict[str, dict] = {
    "champions": {
        "share": 0.08,
        "description": "Recent, very frequent, high spend; skew to age 35-54 and loyalty members.",
        "recency_days": 6,
        "orders": 15,
        "aov": 145.0,
        "taste": {"Electronics": 3.0, "Fashion": 3.0, "Home & Kitchen": 2.0, "Beauty": 1.5},
        "age": (35, 54),
        "loyalty_rate": 0.85,
        "channels": {"organic": 0.4, "email": 0.3, "paid_search": 0.2, "social": 0.1},
        "female_rate": 0.5,
        "price_tilt": 0.5,
        "lines": 0.3,
    },
    "loyal_regulars": {
        "share": 0.20,
        "description": "Steady monthly-ish buyers with mid-size baskets; home, books and garden.",
        "recency_days": 40,
        "orders": 5,
        "aov": 49.0,
        "taste": {"Home & Kitchen": 3.0, "Books": 3.0, "Garden": 2.0, "Health": 1.0},
        "age": (40, 70),
        "loyalty_rate": 0.55,
        "channels": {"organic": 0.45, "email": 0.3, "referral": 0.15, "paid_search": 0.1},
        "female_rate": 0.55,
        "price_tilt": 0.0,
        "lines": 0.25,
    },
    "bargain_hunters": {
        "share": 0.16,
        "description": "Frequent but small discounted baskets in grocery, pet, health and toys; skew to age 18-34.",
        "recency_days": 14,
        "orders": 9,
        "aov": 23.5,
        "taste": {"Grocery": 4.0, "Pet Supplies": 3.0, "Health": 2.0, "Toys & Games": 1.5},
        "age": (18, 34),
        "loyalty_rate": 0.25,
        "channels": {"affiliate": 0.4, "social": 0.3, "paid_search": 0.2, "organic": 0.1},
        "female_rate": 0.5,
        "price_tilt": -1.0,
        "lines": 0.15,
    },
    "big_spenders": {
        "share": 0.12,
        "description": "Occasional but large orders of electronics and jewelry; skew to age 45-64, region Capital.",
        "recency_days": 160,
        "orders": 2,
        "aov": 252.0,
        "taste": {"Electronics": 4.0, "Jewelry": 4.0, "Sports & Outdoors": 1.5},
        "age": (45, 64),
        "loyalty_rate": 0.2,
        "channels": {"paid_search": 0.5, "organic": 0.3, "display": 0.2},
        "female_rate": 0.4,
        "price_tilt": 1.0,
        "lines": 0.15,
    },
    "lapsed": {
        "share": 0.25,
        "description": "Bought in 2024 only, then stopped; toys, sports and fashion; mostly acquired via social.",
        "recency_days": 540,
        "orders": 2,
        "aov": 55.0,
        "taste": {"Toys & Games": 3.0, "Sports & Outdoors": 2.5, "Fashion": 1.5},
        "age": (25, 60),
        "loyalty_rate": 0.05,
        "channels": {"social": 0.5, "display": 0.25, "paid_search": 0.25},
        "female_rate": 0.5,
        "price_tilt": 0.0,
        "lines": 0.15,
    },
    "new": {
        "share": 0.15,
        "description": "Signed up in the last 90 days, one or two orders; beauty and books; skew to age 18-29, female.",
        "recency_days": 18,
        "orders": 1,
        "aov": 25.0,
        "taste": {"Beauty": 4.0, "Books": 2.0, "Fashion": 1.0},
        "age": (18, 29),
        "loyalty_rate": 0.1,
        "channels": {"social": 0.6, "email": 0.2, "paid_search": 0.2},
        "female_rate": 0.7,
        "price_tilt": 0.0,
        "lines": 0.1,
    },
    "prospects": {
        "share": 0.04,
        "description": "Signed up but never ordered (no rows in orders).",
        "recency_days": None,
        "orders": 0,
        "aov": None,
        "taste": {},
        "age": (18, 70),
        "loyalty_rate": 0.0,
        "channels": {"social": 0.4, "organic": 0.3, "email": 0.3},
        "female_rate": 0.5,
        "price_tilt": 0.0,
        "lines": 0.0,
    },
}
REGIONS = ("North", "South", "East", "West", "Capital")
# Share of each type per region (in REGIONS order); types not listed here spread evenly.
REGION_SHARE = {"big_spenders": (0.12, 0.12, 0.12, 0.12, 0.52)}
ACQUISITION_CHANNELS = ("organic", "email", "paid_search", "social", "display", "affiliate", "referral")

# Campaigns: true ROAS (revenue / spend) aimed at; ROI = ROAS - 1. Windows are inclusive date ranges;
# ``days``: 'all', 'weekdays' or 'tue_thu' (the newsletter goes out on Tuesdays and Thursdays).
CAMPAIGNS: tuple[dict, ...] = (
    {
        "id": "CMP01",
        "name": "Weekly Newsletter",
        "channel": "email",
        "daily_spend": 0.0,
        "roas": None,
        "windows": [("2024-01-01", "2025-12-31")],
        "days": "tue_thu",
        "sends": 12000,
    },
    {
        "id": "CMP02",
        "name": "Winback Email",
        "channel": "email",
        "daily_spend": 15.0,
        "roas": 6.0,
        "windows": [("2024-03-01", "2025-12-31")],
        "days": "weekdays",
    },
    {
        "id": "CMP03",
        "name": "Brand Search",
        "channel": "paid_search",
        "daily_spend": 120.0,
        "roas": 4.5,
        "windows": [("2024-01-01", "2025-12-31")],
        "days": "all",
    },
    {
        "id": "CMP04",
        "name": "Generic Search",
        "channel": "paid_search",
        "daily_spend": 250.0,
        "roas": 1.4,
        "windows": [("2024-01-01", "2025-12-31")],
        "days": "all",
    },
    {
        "id": "CMP05",
        "name": "Holiday Gift Guide",
        "channel": "social",
        "daily_spend": 400.0,
        "roas": 2.8,
        "windows": [("2024-11-01", "2024-12-31"), ("2025-11-01", "2025-12-31")],
        "days": "all",
    },
    {
        "id": "CMP06",
        "name": "Prospecting Video",
        "channel": "social",
        "daily_spend": 180.0,
        "roas": 0.55,
        "windows": [("2024-04-01", "2025-06-30")],
        "days": "all",
    },
    {
        "id": "CMP07",
        "name": "Retargeting",
        "channel": "display",
        "daily_spend": 90.0,
        "roas": 3.5,
        "windows": [("2024-02-01", "2025-12-31")],
        "days": "all",
    },
    {
        "id": "CMP08",
        "name": "Awareness Banners",
        "channel": "display",
        "daily_spend": 150.0,
        "roas": 0.35,
        "windows": [("2024-06-01", "2025-03-31")],
        "days": "all",
    },
    {
        "id": "CMP09",
        "name": "Affiliate Partners",
        "channel": "affiliate",
        "daily_spend": 60.0,
        "roas": 2.2,
        "windows": [("2024-01-01", "2025-12-31")],
        "days": "all",
    },
    {
        "id": "CMP10",
        "name": "Summer Influencers",
        "channel": "social",
        "daily_spend": 200.0,
        "roas": 0.8,
        "windows": [("2024-06-01", "2024-08-31"), ("2025-06-01", "2025-08-31")],
        "days": "all",
    },
)
CHANNEL_COSTS = {  # cost per thousand impressions, click-through rate, average order value
    "email": (2.0, 0.03, 60.0),
    "paid_search": (25.0, 0.05, 70.0),
    "social": (8.0, 0.012, 65.0),
    "display": (4.0, 0.004, 60.0),
    "affiliate": (6.0, 0.01, 55.0),
}
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_CONVERSION = (0.7, 1.0, 1.25, 1.15, 0.85)  # relative conversion rate per age band
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = (0.6, 0.3, 0.1)
DEVICE_CONVERSION = (0.8, 1.4, 1.0)  # desktop converts best, mobile worst

EXPERIMENT = {
    "experiment_id": "checkout_redesign",
    "exposures_per_variant": 2300,
    "control_rate": 0.10,
    "treatment_rate": 0.13,
    # treatment converters are drawn this many times as often among loyalty members (who to target)
    "treatment_weight_loyal": 3.0,
    "revenue_mean": 60.0,
    "start": "2025-10-01",
    "days": 70,
}

# Seasonality of orders (and of campaign spend): relative volume per weekday (Monday first) and month
# (January first), times BLACK_FRIDAY_FACTOR from November 24th, times GROWTH from GROWTH_FROM on.
WEEKDAY_WEIGHTS = (1.0, 0.95, 0.95, 1.0, 1.05, 1.2, 1.25)
MONTH_WEIGHTS = (0.8, 0.8, 0.9, 0.95, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.5, 1.7)
BLACK_FRIDAY_FROM_DAY = 24
BLACK_FRIDAY_FACTOR = 1.5
GROWTH_FROM = "2025-01-01"
GROWTH = 1.08
# Relative order volume per hour of the day, 00:00 to 23:00 (busiest in the evening).
HOURLY_ORDER_WEIGHTS = "1 .6 .4 .3 .3 .4 .8 1.5 2.2 2.8 3 3.2 3.5 3.3 3 3 3.2 3.6 4.2 4.8 5 4.4 3.2 1.8"
ORDER_SHARE_WITH_CAMPAIGN = 0.3
RETURN_SHARE = 0.02
RATING_PROBABILITY = 0.75  # each distinct purchased product is rated with this probability
REVIEWS_PER_CUSTOMER = 5.8  # mean explicit ratings of products the customer did not buy
RATING_RULE = {"base": 3.0, "category": 0.7, "product": 1.0, "noise": 0.4}

SAMPLE_STRUCTURE: dict = {
    "seed": 42,
    "period": {"first_order_day": START_DATE.isoformat(), "last_order_day": END_DATE.isoformat()},
    "customers": 5000,
    "products": len(CATEGORIES) * PRODUCTS_PER_CATEGORY,
    "categories": {name: price for name, price in zip(CATEGORIES, CATEGORY_PRICE, strict=True)},
    "customer_types": {
        name: {
            "share": spec["share"],
            "description": spec["description"],
            "median_recency_days": spec["recency_days"],
            "median_orders": spec["orders"],
            "median_aov": spec["aov"],
            "favourite_categories": list(spec["taste"]),
            "age_range": spec["age"],
            "loyalty_rate": spec["loyalty_rate"],
            "acquisition_channels": spec["channels"],
            "female_rate": spec["female_rate"],
        }
        for name, spec in CUSTOMER_TYPES.items()
    },
    "rfm_order": {
        # documented orderings of the per-type medians (tested on the generated data)
        "recency_days_ascending": [
            "champions",
            "bargain_hunters",
            "loyal_regulars",
            "big_spenders",
            "lapsed",
        ],
        "orders_descending": ["champions", "bargain_hunters", "loyal_regulars", "big_spenders"],
        "aov_descending": ["big_spenders", "champions", "loyal_regulars", "bargain_hunters"],
        "monetary_descending": [
            "champions",
            "big_spenders",
            "loyal_regulars",
            "bargain_hunters",
            "lapsed",
            "new",
        ],
    },
    "orders": {
        "seasonality": "weekends +20-25%, November x1.5 (Black Friday week x2.2), December x1.7, "
        "January-February low; 2025 about 8% above 2024",
        "campaign_share": ORDER_SHARE_WITH_CAMPAIGN,
        "return_share": RETURN_SHARE,
        "returns": "order_id 'R' + original number, negative quantity and amount, 3-30 days after the purchase",
    },
    "interactions": {
        "rating_probability": RATING_PROBABILITY,
        "reviews_per_customer": REVIEWS_PER_CUSTOMER,
        "rating_rule": "round(base + category * log(12 * customer's taste for the category) + product * "
        "log(product appeal to the customer's type / category mean appeal) + N(0, noise)), clipped 1-5",
        "rating_parameters": RATING_RULE,
    },
    "campaigns": {
        c["id"]: {
            "name": c["name"],
            "channel": c["channel"],
            "true_roas": c["roas"],
            "profitable": None if c["roas"] is None else c["roas"] > 1.0,
            "daily_spend": c["daily_spend"],
            "windows": c["windows"],
        }
        for c in CAMPAIGNS
    },
    "campaign_dimensions": {
        "age_band": dict(zip(AGE_BANDS, AGE_BAND_CONVERSION, strict=True)),
        "device": dict(zip(DEVICES, DEVICE_CONVERSION, strict=True)),
    },
    "experiment": dict(EXPERIMENT),
}


__all__ = ["SAMPLE_STRUCTURE", "SAMPLE_TABLES", "TRUTH_FILE"]

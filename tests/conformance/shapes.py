"""Files shaped like real public exports, written by the tests (the real files are not redistributed).

Each writer makes a file at a realistic size with the quirks its real counterpart has, from a fixed seed,
and returns the path. The tests read the same file independently with pandas to get the expected rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 42


def _rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(SEED + offset)


def ratings_udata(path: Path, rows: int = 100_000) -> Path:
    """MovieLens-100k ``u.data``: headerless, tab-separated ``user item rating epoch_seconds``; the epochs
    are 9-digit values from 1997-98 (874,724,710 .. 893,286,638), which no 10-digit pattern catches."""
    rng = _rng(1)
    users = rng.integers(1, 944, rows)
    items = rng.integers(1, 1683, rows)
    ratings = rng.choice([1, 2, 3, 4, 5], rows, p=[0.06, 0.11, 0.27, 0.34, 0.22])
    stamps = rng.integers(874_724_710, 893_286_639, rows)
    frame = pd.DataFrame({"u": users, "i": items, "r": ratings, "t": stamps})
    frame.to_csv(path, sep="\t", header=False, index=False, lineterminator="\n")
    return path


_TITLES = [
    "Schindler's List",
    "Misérables, Les",
    "'Til There Was You",
    "Things to Do in Denver when You're Dead",
    "Belle de jour",
    "Cité des enfants perdus, La",
    "Nénette et Boni",
    'The "Wrong" Trousers',
    "Jean de Florette",
    "Señorita Extraviada",
]


def catalogue_uitem(path: Path, rows: int = 1_682) -> Path:
    """MovieLens-100k ``u.item``: headerless, pipe-separated Latin-1 with apostrophes (also at the start of
    a field), double quotes inside titles and the first accented letter well past the first 64 KB."""
    rng = _rng(2)
    lines = []
    for movie in range(1, rows + 1):
        if movie < 500:  # the first ~70 KB are plain ASCII, as in the real file
            title = f"Movie number {movie} (1995)"
        else:
            title = f"{_TITLES[movie % len(_TITLES)]} ({1930 + movie % 68})"
        genres = "|".join(str(int(g)) for g in rng.integers(0, 2, 19))
        url = "http://us.imdb.com/M/title-exact?" + title.replace(" ", "%20")
        lines.append(f"{movie}|{title}|01-Jan-1995||{url}|{genres}")
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def email_test_hillstrom(path: Path, rows: int = 64_000) -> Path:
    """Kevin Hillstrom's MineThatData e-mail test: one row per customer and no id column; recency is months
    (1-12), visit and conversion are 0/1 flags, segment is the arm."""
    rng = _rng(3)
    history = np.round(rng.gamma(1.3, 180, rows) + 29.99, 2)
    bands = pd.cut(
        history,
        [0, 100, 200, 350, 500, 750, 1000, np.inf],
        labels=[
            "1) $0 - $100",
            "2) $100 - $200",
            "3) $200 - $350",
            "4) $350 - $500",
            "5) $500 - $750",
            "6) $750 - $1,000",
            "7) $1,000 +",
        ],
    ).astype(str)
    visit = (rng.random(rows) < 0.147).astype(int)
    conversion = (visit & (rng.random(rows) < 0.06)).astype(int)
    spend = np.where(conversion == 1, np.round(rng.gamma(2.0, 60, rows), 2), 0.0)
    frame = pd.DataFrame(
        {
            "recency": rng.integers(1, 13, rows),
            "history_segment": bands,
            "history": history,
            "mens": rng.integers(0, 2, rows),
            "womens": rng.integers(0, 2, rows),
            "zip_code": rng.choice(["Surburban", "Rural", "Urban"], rows),
            "newbie": rng.integers(0, 2, rows),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], rows),
            "segment": rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], rows),
            "visit": visit,
            "conversion": conversion,
            "spend": spend,
        }
    )
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def facebook_ads_kag(path: Path, rows: int = 1_143) -> Path:
    """The Kaggle ad-level Facebook export ``KAG_conversion_data.csv``: a unique ``ad_id`` per row, three
    campaigns (``xyz_campaign_id``), hundreds of ad sets (``fb_campaign_id``), two conversion counts."""
    rng = _rng(4)
    impressions = rng.integers(87, 3_052_003, rows)
    clicks = np.minimum(impressions, (impressions * rng.uniform(0.0001, 0.0003, rows)).astype(int))
    frame = pd.DataFrame(
        {
            "ad_id": 708_746 + np.arange(rows) * 3 + rng.integers(0, 3, rows),
            "xyz_campaign_id": rng.choice([916, 936, 1178], rows, p=[0.05, 0.39, 0.56]),
            "fb_campaign_id": 103_916 + rng.integers(0, 690, rows) * 37,
            "age": rng.choice(["30-34", "35-39", "40-44", "45-49"], rows),
            "gender": rng.choice(["M", "F"], rows),
            "interest": rng.choice(np.arange(2, 115), rows),
            "Impressions": impressions,
            "Clicks": clicks,
            "Spent": np.round(clicks * rng.uniform(1.2, 1.7, rows), 9),
            "Total_Conversion": rng.integers(0, 61, rows),
            "Approved_Conversion": rng.integers(0, 22, rows),
        }
    )
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def online_retail(path: Path, rows: int = 150_000) -> Path:
    """The UCI Online Retail invoice log, as its CSV copies circulate: Latin-1, ``M/D/YYYY H:MM`` dates,
    about 25% guest lines without a CustomerID, ids written as ``17850.0``, cancellations (``C`` invoices) with negative quantities,
    alphanumeric stock codes and descriptions with commas and quotes."""
    rng = _rng(5)
    invoice = 536_365 + np.sort(rng.integers(0, rows // 20, rows))
    cancelled = rng.random(rows) < 0.02
    quantity = rng.choice([1, 2, 3, 4, 6, 12, 24], rows)
    quantity = np.where(cancelled, -quantity, quantity)
    price = np.round(rng.choice([0.42, 0.85, 1.25, 1.65, 2.55, 3.39, 4.95, 7.95], rows), 2)
    # ids written by pandas next to empty cells come out as floats: 17850.0
    customer = (rng.integers(12_346, 18_288, rows).astype(str) + ".0").astype(object)
    guests = rng.random(rows) < 0.25
    customer[guests] = ""
    minutes = np.sort(rng.integers(0, 373 * 24 * 60, rows))
    stamps = pd.Series(pd.Timestamp("2010-12-01 08:26") + pd.to_timedelta(minutes, unit="min"))
    dates = (
        stamps.dt.month.astype(str)
        + "/"
        + stamps.dt.day.astype(str)
        + "/"
        + stamps.dt.year.astype(str)
        + " "
        + stamps.dt.hour.astype(str)
        + ":"
        + stamps.dt.minute.astype(str).str.zfill(2)
    )
    codes = np.array(["85123A", "71053", "84406B", "84029G", "22752", "POST", "21730", "22633"])
    descriptions = np.array(
        [
            "WHITE HANGING HEART T-LIGHT HOLDER",
            "WHITE METAL LANTERN",
            'CREAM CUPID HEARTS COAT HANGER, "LOVE"',
            "KNITTED UNION FLAG HOT WATER BOTTLE",
            "SET 7 BABUSHKA NESTING BOXES",
            "POSTAGE",
            "GLASS STAR FROSTED T-LIGHT HOLDER",
            "HAND WARMER UNION JACK £",
        ]
    )
    pick = rng.integers(0, len(codes), rows)
    frame = pd.DataFrame(
        {
            "InvoiceNo": np.where(cancelled, "C" + invoice.astype(str), invoice.astype(str)),
            "StockCode": codes[pick],
            "Description": descriptions[pick],
            "Quantity": quantity,
            "InvoiceDate": dates,
            "UnitPrice": price,
            "CustomerID": customer,
            "Country": rng.choice(["United Kingdom", "France", "Australia", "Netherlands", "EIRE"], rows),
        }
    )
    frame.to_csv(path, index=False, encoding="latin-1", lineterminator="\n")
    return path


def crm_customers(path: Path, rows: int = 30_000) -> Path:
    """A CRM export whose addresses hold line breaks (and doubled quotes) inside quoted fields, RFC 4180."""
    rng = _rng(6)
    lines = ["customer_id,signup_date,name,address,region"]
    for i in range(rows):
        address = f'"{i} Main St.\nApt {i % 40}"' if i % 5 == 0 else f"{i} Side Road"
        if i % 97 == 0:
            address = f'"{i} ""The Old Mill""\nUnit 2\nLeeds"'
        day = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
        lines.append(f"CRM{i:06d},{day.isoformat()},Name {i},{address},{['North', 'South'][i % 2]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BAD_VALUES = {
    # line number (1 = header) -> (column, value)
    2_502: ("order_date", "9999-12-31"),
    4_803: ("order_date", "0001-01-01"),
    7_004: ("amount", "NaN"),
    8_105: ("amount", "Infinity"),
    9_406: ("amount", "1e300"),
    9_907: ("amount", "-inf"),
}


def orders_with_placeholders(path: Path, rows: int = 10_000) -> Path:
    """An order log with the values that broke pages: placeholder dates and non-finite or huge amounts."""
    rng = _rng(7)
    lines = ["order_id,customer_id,order_date,product_id,quantity,amount"]
    for i in range(rows):
        line_number = i + 2
        day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
        values = {
            "order_id": f"O{i}",
            "customer_id": f"C{rng.integers(0, 800)}",
            "order_date": day.isoformat(),
            "product_id": f"P{rng.integers(0, 50)}",
            "quantity": "1",
            "amount": f"{rng.integers(500, 20_000) / 100:.2f}",
        }
        if line_number in BAD_VALUES:
            column, value = BAD_VALUES[line_number]
            values[column] = value
        lines.append(",".join(values.values()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


NUL_LINES = (3_001, 3_002)


def orders_with_nul_bytes(path: Path, rows: int = 5_000) -> Path:
    """An order log with NUL bytes inside ids well after the first 64 KB."""
    lines = ["order_id,customer_id,order_date,amount"]
    for i in range(rows):
        customer = f"C{i % 300}"
        if i + 2 in NUL_LINES:
            customer = f"C\x00{i}"
        lines.append(f"O{i:08d},{customer},2024-02-{i % 28 + 1:02d},{10 + i % 90}.50")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 64 * 1024 * 1.5
    return path

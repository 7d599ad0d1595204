"""The canonical tables as data: fields, types, required flags, header aliases and natural keys.

Every later feature reads these tables and nothing else. Columns of an upload that map to no canonical
field are kept as extra columns (customer attributes, campaign dimensions, ...), never dropped.
Every stored table also carries a hidden ``_load_id`` column naming the load that wrote each row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Variant names taken as the control, in this order of preference. Names are compared after lower-casing
# and turning runs of spaces, dashes, dots and underscores into one space ("No E-Mail" -> "no e mail").
# The one list of control names in Segmint.
CONTROL_NAMES: tuple[str, ...] = (
    "control",
    "ctrl",
    "no e-mail",
    "no email",
    "no mail",
    "holdout",
    "hold-out",
    "baseline",
    "none",
    "original",
    "a",
)

# Kinds decide how a source column is parsed and validated.
#   id        text identifier, trimmed; empty -> missing
#   text      free text, trimmed
#   date      calendar date (ISO, US, EU, yyyymmdd, epoch seconds, Excel serials)
#   timestamp date with optional time
#   number    decimal number (currency signs, thousands separators, decimal comma, (1.00) negatives)
#   integer   whole number (same cleaning as number; fractional values are rejected)
#   bool      yes/no, true/false, 1/0, y/n
#   category  short label (variant, channel, event type)
KINDS = ("id", "text", "date", "timestamp", "number", "integer", "bool", "category")

DUCKDB_TYPE = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "category": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Field:
    """One canonical column.

    Attributes
    ----------
    name : canonical column name.
    kind : one of ``KINDS``.
    required : a load is refused while a required field is unmapped (a constant counts as mapped).
    aliases : header spellings that suggest this field (compared after ``normalize_header``).
    description : one line for the mapping form and the README.
    minimum, maximum : optional inclusive bounds; values outside are rejected with the reason.
    count : a count of people or events (exposures, clicks): never suggested for a 0/1 flag column.
    """

    name: str
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    count: bool = False

    @property
    def sql_type(self) -> str:
        return DUCKDB_TYPE[self.kind]


@dataclass(frozen=True)
class Table:
    """One canonical table.

    Attributes
    ----------
    name : table name in the store.
    fields : canonical columns in display order.
    natural_key : columns that identify a row; append skips incoming rows whose key already exists
        and a file with the same key twice has the later rows rejected (``unique_key=True`` tables)
        or kept (line tables, where a repeated key is legitimate).
    unique_key : whether ``natural_key`` must be unique within the table.
    extras : what unmapped columns become ("attributes", "dimensions", "extra columns").
    """

    name: str
    description: str
    fields: tuple[Field, ...]
    natural_key: tuple[str, ...]
    unique_key: bool = True
    extras: str = "extra columns"
    derived: tuple[str, ...] = field(default=())

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


_ID = "id"

CUSTOMERS = Table(
    "customers",
    "One row per customer; any other columns (age, gender, region, acquisition channel ...) are kept as attributes.",
    (
        Field(
            "customer_id",
            _ID,
            True,
            (
                "customer",
                "customerid",
                "custid",
                "cust",
                "client",
                "clientid",
                "customernumber",
                "customerno",
                "custno",
                "userid",
                "user",
                "memberid",
                "buyerid",
                "accountid",
                "shopperid",
                "contactid",
            ),
            "Your identifier for the customer",
        ),
        Field(
            "signup_date",
            "date",
            False,
            (
                "signupdate",
                "signup",
                "createdat",
                "created",
                "registered",
                "registrationdate",
                "joindate",
                "joined",
                "firstseen",
                "customersince",
                "acquisitiondate",
                "datecreated",
            ),
            "When the customer signed up or was first seen",
        ),
    ),
    natural_key=("customer_id",),
    extras="attributes",
)

PRODUCTS = Table(
    "products",
    "One row per product; extra columns (brand, colour, margin ...) are kept as attributes.",
    (
        Field(
            "product_id",
            _ID,
            True,
            (
                "product",
                "productid",
                "sku",
                "itemid",
                "item",
                "stockcode",
                "articleid",
                "article",
                "asin",
                "variantsku",
                "lineitemsku",
                "productcode",
                "itemcode",
                "itemno",
            ),
            "Your identifier for the product (SKU)",
        ),
        Field(
            "name",
            "text",
            False,
            (
                "productname",
                "title",
                "itemname",
                "description",
                "producttitle",
                "lineitemname",
                "itemdescription",
            ),
            "Product name shown to marketers",
        ),
        Field(
            "category",
            "category",
            False,
            (
                "productcategory",
                "categoryname",
                "type",
                "producttype",
                "department",
                "group",
                "productgroup",
                "family",
                "genre",
            ),
            "Category used for tastes and personas",
        ),
        Field(
            "price",
            "number",
            False,
            ("unitprice", "listprice", "retailprice", "cost", "msrp", "variantprice", "lineitemprice"),
            "List price",
            minimum=0,
        ),
        Field(
            "active",
            "bool",
            False,
            ("isactive", "enabled", "published", "available", "status"),
            "False for products that must never be recommended",
        ),
        Field(
            "stock",
            "number",
            False,
            (
                "instock",
                "inventory",
                "stocklevel",
                "quantityinstock",
                "inventoryquantity",
                "onhand",
                "variantinventoryqty",
            ),
            "Units in stock; 0 excludes the product from recommendations",
        ),
    ),
    natural_key=("product_id",),
    extras="attributes",
)

ORDERS = Table(
    "orders",
    "One row per order line (or per order). Negative quantities or amounts are returns: kept and flagged.",
    (
        Field(
            "order_id",
            _ID,
            False,
            (
                "order",
                "orderid",
                "ordernumber",
                "orderno",
                "invoice",
                "invoiceno",
                "invoicenumber",
                "invoiceid",
                "transactionid",
                "transaction",
                "receiptid",
                "name",
                "ordername",
            ),
            "Order or invoice number",
        ),
        Field(
            "customer_id",
            _ID,
            False,
            CUSTOMERS.field("customer_id").aliases + ("email", "customeremail"),
            "Who bought; empty for guest orders (they count in revenue, not in customer analyses)",
        ),
        Field(
            "order_date",
            "timestamp",
            True,
            (
                "date",
                "orderdate",
                "invoicedate",
                "timestamp",
                "transactiondate",
                "purchasedate",
                "createdat",
                "datetime",
                "time",
                "orderedat",
                "paidat",
                "processedat",
                "day",
            ),
            "When the order was placed",
        ),
        Field("product_id", _ID, False, PRODUCTS.field("product_id").aliases, "What was bought"),
        Field(
            "quantity",
            "number",
            False,
            (
                "qty",
                "quantity",
                "units",
                "lineitemquantity",
                "count",
                "numberofitems",
                "items",
                "cds",
                "nitems",
            ),
            "Units on the line (negative for returns)",
        ),
        Field(
            "unit_price",
            "number",
            False,
            ("unitprice", "price", "itemprice", "lineitemprice", "priceeach", "priceperunit"),
            "Price per unit; with quantity it derives amount when amount is missing",
        ),
        Field(
            "amount",
            "number",
            True,
            (
                "amount",
                "total",
                "revenue",
                "sales",
                "value",
                "ordervalue",
                "ordertotal",
                "totalprice",
                "linetotal",
                "subtotal",
                "netsales",
                "grosssales",
                "spend",
                "totalamount",
                "price",
                "gmv",
                "dollars",
                "sale",
                "lineamount",
            ),
            "Money for the line (negative for returns); may be derived as quantity x unit price",
        ),
        Field(
            "campaign_id",
            _ID,
            False,
            ("campaign", "campaignid", "utmcampaign", "sourcecampaign"),
            "Campaign that drove the order, when known",
        ),
        Field(
            "channel",
            "category",
            False,
            ("channel", "source", "utmsource", "medium", "utmmedium", "referringsite", "saleschannel"),
            "Channel that drove the order, when known",
        ),
    ),
    natural_key=("order_id", "product_id", "customer_id", "order_date", "quantity", "amount"),
    unique_key=False,
    extras="extra columns",
    derived=("is_return",),
)

INTERACTIONS = Table(
    "interactions",
    "Ratings or behavioural events per customer and product (view, click, cart, purchase ...).",
    (
        Field("customer_id", _ID, True, CUSTOMERS.field("customer_id").aliases, "Who interacted"),
        Field(
            "product_id",
            _ID,
            True,
            PRODUCTS.field("product_id").aliases + ("movieid", "movie", "book", "bookid", "isbn"),
            "With which product",
        ),
        Field(
            "rating",
            "number",
            False,
            ("rating", "score", "stars", "review", "reviewscore", "ratingvalue"),
            "Explicit rating (e.g. 1-5)",
            minimum=0,
            maximum=100,
        ),
        Field(
            "event_type",
            "category",
            False,
            (
                "event",
                "eventtype",
                "action",
                "eventname",
                "interaction",
                "interactiontype",
                "behavior",
                "behaviour",
            ),
            "Implicit event: view, click, cart, purchase ...",
        ),
        Field("weight", "number", False, ("weight", "eventweight", "strength"), "Weight of the event"),
        Field(
            "timestamp",
            "timestamp",
            False,
            ("timestamp", "time", "date", "datetime", "eventtime", "ratedat", "createdat", "eventdate"),
            "When it happened",
        ),
    ),
    natural_key=("customer_id", "product_id", "event_type", "timestamp"),
    unique_key=False,
)

CAMPAIGNS = Table(
    "campaigns",
    "Campaign performance at any grain (ad, ad set, day, campaign); metrics are summed. Extra columns "
    "(age band, gender, interest, ad set ...) are kept as dimensions.",
    (
        Field(
            "campaign_id",
            _ID,
            True,
            (
                "campaign",
                "campaignid",
                "campaignname",
                "xyzcampaignid",
                "fbcampaignid",
                "adcampaignid",
                "campaigncode",
            ),
            "Campaign identifier",
        ),
        Field(
            "campaign_name",
            "text",
            False,
            ("campaignname", "name", "campaigntitle", "campaign"),
            "Readable campaign name",
        ),
        Field(
            "channel",
            "category",
            False,
            ("channel", "source", "platform", "medium", "network", "publisher", "adplatform"),
            "Channel or platform",
        ),
        Field(
            "date",
            "date",
            False,
            ("date", "day", "reportingstarts", "reportingdate", "startdate", "period", "week", "month", "dt"),
            "Day (or period start) of the row",
        ),
        Field(
            "spend",
            "number",
            False,
            (
                "spend",
                "cost",
                "amountspent",
                "spent",
                "adspend",
                "budgetspent",
                "costusd",
                "amountspentusd",
                "media_cost",
            ),
            "Money spent",
            minimum=0,
        ),
        Field(
            "impressions",
            "number",
            False,
            ("impressions", "impr", "imps", "views", "reach"),
            "Impressions",
            minimum=0,
            count=True,
        ),
        Field(
            "clicks", "number", False, ("clicks", "linkclicks", "clicksall"), "Clicks", minimum=0, count=True
        ),
        Field(
            "conversions",
            "number",
            False,
            (
                "conversions",
                "conv",
                "purchases",
                "results",
                "orders",
                "approvedconversion",
                "totalconversion",
                "leads",
                "sales",
            ),
            "Conversions",
            minimum=0,
            count=True,
        ),
        Field(
            "revenue",
            "number",
            False,
            (
                "revenue",
                "conversionvalue",
                "purchasevalue",
                "sales",
                "value",
                "income",
                "purchaseconversionvalue",
                "gmv",
            ),
            "Revenue attributed to the row",
        ),
    ),
    natural_key=("campaign_id", "date"),
    unique_key=False,
    extras="dimensions",
)

EXPERIMENTS = Table(
    "experiments",
    "One row per exposed customer, or one row per variant with exposures and conversions counts.",
    (
        Field(
            "experiment_id",
            _ID,
            True,
            ("experiment", "experimentid", "test", "testid", "testname", "experimentname", "abtest"),
            "Which experiment (type a constant when the file holds one test)",
        ),
        Field(
            "variant",
            "category",
            True,
            (
                "variant",
                "group",
                "arm",
                "bucket",
                "treatment",
                "cohort",
                "testgroup",
                "variation",
                "abgroup",
                "version",
            ),
            "Variant; the one named control/A/baseline is the control",
        ),
        Field("customer_id", _ID, False, CUSTOMERS.field("customer_id").aliases, "Exposed customer"),
        Field(
            "converted",
            "bool",
            False,
            ("converted", "conversion", "didconvert", "purchased", "success", "outcome", "isconverted"),
            "Whether the exposed customer converted",
        ),
        Field(
            "revenue",
            "number",
            False,
            ("revenue", "value", "amount", "sales", "ordervalue"),
            "Revenue from the exposed customer (or the variant total)",
        ),
        Field(
            "exposure_date",
            "timestamp",
            False,
            ("date", "exposuredate", "timestamp", "assignedat", "exposedat", "time", "datetime"),
            "When the customer was exposed",
        ),
        Field(
            "exposures",
            "integer",
            False,
            ("exposures", "visitors", "users", "participants", "samplesize", "n", "sessions", "exposed"),
            "Count form: customers exposed (1 per row when one row per customer)",
            minimum=0,
            count=True,
        ),
        Field(
            "conversions",
            "integer",
            False,
            ("conversions", "converters", "successes", "orders"),
            "Count form: customers who converted",
            minimum=0,
            count=True,
        ),
    ),
    natural_key=("experiment_id", "variant", "customer_id"),
    unique_key=False,
)

TABLES: dict[str, Table] = {
    t.name: t for t in (CUSTOMERS, PRODUCTS, ORDERS, INTERACTIONS, CAMPAIGNS, EXPERIMENTS)
}

LOAD_ID_COLUMN = "_load_id"


def get_table(name: str) -> Table:
    """Return the canonical table called ``name`` or raise ``SchemaError`` listing the valid names."""
    from engine.errors import SchemaError

    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"Unknown table {name!r}. Choose one of: {', '.join(TABLES)}.") from None


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_header(header: str) -> str:
    """Lower-case a header and drop spaces and punctuation: ``'Customer ID'`` -> ``'customerid'``."""
    return _NON_ALNUM.sub("", str(header).lower())


_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
ID_WORDS = frozenset({"id", "ids", "uuid", "guid", "key"})


def header_words(header: str) -> list[str]:
    """A header's words, lower-cased, split at punctuation and case changes: ``'fb_campaign_id'`` and
    ``'CustomerID'`` -> ``['fb', 'campaign', 'id']``, ``['customer', 'id']``."""
    return [w.lower() for w in _WORDS.findall(str(header))]


def looks_like_id(header: str) -> bool:
    """Whether a header names an identifier (a word ``id``, ``key``, ``uuid`` ...): such a column is never a
    name, a category or a breakdown dimension."""
    return any(word in ID_WORDS for word in header_words(header))


def names_a_measure(table: Table, header: str) -> bool:
    """Whether a header is the name or an alias of one of ``table``'s numeric fields (``Total_Conversion``
    for campaigns): an extra column so named is a measure, not a breakdown dimension."""
    norm = normalize_header(header)
    return any(
        norm == normalize_header(f.name) or norm in f.aliases
        for f in table.fields
        if f.kind in ("number", "integer")
    )


def is_dimension(table: Table, header: str) -> bool:
    """Whether an extra column may be offered as a breakdown dimension: not an identifier (``ad_id``) and
    not one of the table's measures under another name (``Total_Conversion``)."""
    return not looks_like_id(header) and not names_a_measure(table, header)


def safe_column_name(header: str, taken: set[str] | None = None) -> str:
    """Turn any header into a plain snake_case column name, unique among ``taken``.

    Hostile headers (quotes, SQL, emoji, 300 characters, names differing only in case) become
    harmless identifiers; the original header is kept in the load report.
    """
    base = re.sub(r"[^0-9a-z]+", "_", str(header).strip().lower()).strip("_")[:60] or "column"
    if base[0].isdigit():
        base = "c_" + base
    if base.startswith("_"):
        base = "c" + base
    taken = taken if taken is not None else set()
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    return name


__all__ = [
    "KINDS",
    "CONTROL_NAMES",
    "Field",
    "Table",
    "TABLES",
    "CUSTOMERS",
    "PRODUCTS",
    "ORDERS",
    "INTERACTIONS",
    "CAMPAIGNS",
    "EXPERIMENTS",
    "LOAD_ID_COLUMN",
    "get_table",
    "normalize_header",
    "header_words",
    "looks_like_id",
    "names_a_measure",
    "is_dimension",
    "safe_column_name",
]

"""Segment definitions as data (JSON) compiled to one parameterised DuckDB query over every customer.

A definition is a group::

    {"match": "all" | "any",
     "conditions": [
         {"field": "segment", "op": "in", "value": ["Champions", "Loyal"]},
         {"field": "monetary", "op": ">=", "value": 500},
         {"match": "any", "conditions": [...]},          # a nested group
     ]}

Fields are the columns of one row per customer (``audience_base``): the RFM values and scores, the
customer attributes that were uploaded (Country, age ...), the cluster when clusters are stored for the
as-of date, predicted scores when the prediction module stores them, order-level text columns kept on
the order lines (an invoice log's Country: each customer's most frequent value, as personas read it,
``engine.personas.order_attribute_sql``), plus two order facts ("bought one of
these products", "bought in one of these categories"). Column names come only from that catalogue and
are quoted; every value is a bound parameter. The definition is re-evaluated per data version: it holds
conditions, never member lists.

Empty values: a comparison (``>``, ``between``, ``in`` ...) never matches an empty value; ``not_in`` and
``!=`` do match it (an empty country is not "Germany"); ``is_empty`` asks for it explicitly.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine import rfm, store
from engine.errors import EngineError, SchemaError
from engine.store import Connection

KINDS = ("number", "date", "category", "text", "bool", "bought")

# Operators per kind of field: the only ones a definition may use (labels are for the page).
OPERATORS: dict[str, dict[str, str]] = {
    "number": {
        ">=": "at least",
        "<=": "at most",
        "between": "between",
        "=": "is",
        "!=": "is not",
        ">": "more than",
        "<": "less than",
        "is_empty": "is empty",
        "is_not_empty": "is not empty",
    },
    "date": {
        "on_or_after": "on or after",
        "on_or_before": "on or before",
        "between": "between",
        "is_empty": "is empty",
        "is_not_empty": "is not empty",
    },
    "category": {
        "in": "is any of",
        "not_in": "is none of",
        "is_empty": "is empty",
        "is_not_empty": "is not empty",
    },
    "text": {
        "in": "is any of",
        "not_in": "is none of",
        "contains": "contains",
        "is_empty": "is empty",
        "is_not_empty": "is not empty",
    },
    "bool": {"is_true": "is yes", "is_false": "is no", "is_empty": "is empty"},
    "bought": {"any_of": "any of", "none_of": "none of"},
}
NO_VALUE = {"is_empty", "is_not_empty", "is_true", "is_false"}
LIST_VALUE = {"in", "not_in", "any_of", "none_of"}
PAIR_VALUE = {"between"}

# The RFM columns a definition may use, with plain labels (business rule as data).
RFM_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("segment", "RFM segment", "category", "The named segment from the RFM scores"),
    (
        "recency_days",
        "Days since last order",
        "number",
        "Recency: days from the last purchase to the as-of date",
    ),
    ("frequency", "Orders", "number", "Frequency: distinct orders, returns left out"),
    ("monetary", "Net spend", "number", "Monetary: net revenue, returns subtracted"),
    ("r_score", "Recency score (1-5)", "number", "5 = bought most recently"),
    ("f_score", "Frequency score (1-5)", "number", "5 = orders most often"),
    ("m_score", "Monetary score (1-5)", "number", "5 = spends the most"),
    ("fm_score", "FM score (1-5)", "number", "(F + M) / 2 rounded half up; segments use it"),
    ("tenure_days", "Days since first order", "number", "Tenure"),
    ("aov", "Average order value", "number", "Net spend divided by orders (returns subtract)"),
    ("first_order", "First order", "date", "Date of the first purchase"),
    ("last_order", "Last order", "date", "Date of the last purchase"),
)
BOUGHT_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("bought_product", "Bought product", "bought", "Bought one of these products up to the as-of date"),
    ("bought_category", "Bought in category", "bought", "Bought a product of one of these categories"),
)
CLUSTER_FIELDS = (("cluster_name", "Cluster", "category", "The customer's cluster on the Segments page"),)

# Category fields offer their values in a list up to this many distinct values; more makes them "text".
MAX_LISTED_VALUES = 200

_NUMERIC_TYPES = ("DOUBLE", "BIGINT", "INTEGER", "FLOAT", "REAL", "HUGEINT", "SMALLINT", "TINYINT", "DECIMAL")
_NUMERIC_TYPES += ("UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")


@dataclass(frozen=True)
class AudienceField:
    """One field a condition may test.

    Attributes
    ----------
    name : column of the per-customer base (or ``bought_product``/``bought_category``).
    label : plain words for the page.
    kind : one of ``KINDS``; decides the operators (``OPERATORS[kind]``).
    source : ``rfm``, ``attribute`` (uploaded customer column), ``cluster``, ``prediction`` or ``orders``.
    help : one line for the page.
    """

    name: str
    label: str
    kind: str
    source: str
    help: str = ""


@dataclass(frozen=True)
class AudienceContext:
    """What a definition is evaluated against: the stored RFM table at an as-of date, and the optional
    cluster and prediction tables joined to it. Built by ``audience_context``."""

    as_of: dt.date
    rfm_table: str
    attributes: tuple[tuple[str, str], ...]  # (column, kind)
    cluster_table: str | None = None
    score_table: str | None = None
    score_columns: tuple[tuple[str, str], ...] = ()  # (column, kind)
    order_attributes: tuple[str, ...] = ()  # order-line text columns, each customer's most frequent value

    @property
    def fields(self) -> dict[str, AudienceField]:
        out: dict[str, AudienceField] = {}
        for name, label, kind, help_text in RFM_FIELDS:
            out[name] = AudienceField(name, label, kind, "rfm", help_text)
        if self.cluster_table:
            for name, label, kind, help_text in CLUSTER_FIELDS:
                out[name] = AudienceField(name, label, kind, "cluster", help_text)
        for column, kind in self.score_columns:
            label = PREDICTION_LABELS.get(column, _words(column))
            out[column] = AudienceField(column, label, kind, "prediction", "Predicted from the order log")
        for column, kind in self.attributes:
            out.setdefault(
                column, AudienceField(column, _words(column), kind, "attribute", "Uploaded column")
            )
        for column in self.order_attributes:
            out.setdefault(
                column,
                AudienceField(
                    column,
                    _words(column),
                    "category",
                    "order_attribute",
                    "From the order lines: the customer's most frequent value up to the as-of date",
                ),
            )
        for name, label, kind, help_text in BOUGHT_FIELDS:
            out[name] = AudienceField(name, label, kind, "orders", help_text)
        return out


@dataclass(frozen=True)
class AudienceSummary:
    """How big a definition's audience is: members, their net revenue, and the shares of all customers."""

    members: int
    customers: int
    revenue: float
    total_revenue: float

    @property
    def customer_share(self) -> float | None:
        return self.members / self.customers if self.customers else None

    @property
    def revenue_share(self) -> float | None:
        return self.revenue / self.total_revenue if self.total_revenue else None


def _words(column: str) -> str:
    return str(column).replace("_", " ").strip().capitalize()


def _attribute_kind(sql_type: str, distinct: int) -> str:
    upper = sql_type.upper()
    if upper.startswith(_NUMERIC_TYPES):
        return "number"
    if upper == "BOOLEAN":
        return "bool"
    if upper.startswith(("DATE", "TIMESTAMP")):
        return "date"
    return "category" if distinct <= MAX_LISTED_VALUES else "text"


# --------------------------------------------------------------------------- optional joined tables


# The prediction module (engine.predict) stores its per-customer scores (clv, churn_risk ...) as a result of
# this kind, keyed by the as-of date and its default horizon and discount rate.
PREDICTION_KIND = "predict_scores"


def _prediction_table(con: Connection, as_of: dt.date) -> str | None:
    """The stored per-customer predictions for ``as_of``, or None (no prediction module, or not computed
    yet: nothing is computed here). ``engine.predict.customer_scores_table(con, as_of)`` wins when offered."""
    try:
        predict = importlib.import_module("engine.predict")
    except ImportError:
        return None
    finder = getattr(predict, "customer_scores_table", None)
    if finder is not None:
        try:
            return finder(con, as_of)
        except EngineError:
            return None
    horizon = getattr(predict, "DEFAULT_HORIZON_DAYS", None)
    rate = getattr(predict, "DEFAULT_DISCOUNT_RATE", None)
    if horizon is None or rate is None:
        return None
    params = {"as_of": as_of.isoformat(), "horizon_days": int(horizon), "discount_rate": float(rate)}
    return store.result_table(con, PREDICTION_KIND, params)


# The predicted columns offered as fields, with plain labels (the prediction table also repeats inputs such
# as purchases and age, which the RFM fields already cover).
PREDICTION_LABELS: dict[str, str] = {
    "clv": "Predicted value (CLV)",
    "churn_risk": "Churn risk (0-1)",
    "risk_band": "Churn risk band",
    "p_alive": "Chance still active (0-1)",
    "expected_purchases": "Expected purchases",
    "expected_order_value": "Expected order value",
}


def _score_columns(
    con: Connection, table: str, taken: set[str], only: Mapping[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    """(column, kind) of a per-customer score table: numbers, and short labels (a risk band) as categories;
    only the columns of ``only`` when given."""
    out = []
    for column, sql_type in store.table_columns(con, table):
        if column in ("customer_id", "_pos") or column in taken or (only is not None and column not in only):
            continue
        if sql_type.upper().startswith(_NUMERIC_TYPES):
            out.append((column, "number"))
        elif sql_type.upper() == "VARCHAR":
            out.append((column, "category"))
    return tuple(out)


def _stored_cluster_table(con: Connection, as_of: dt.date, cluster_params: Any | None) -> str | None:
    """The stored cluster labels for these settings and date, without fitting (None when not fitted)."""
    from engine.segments import ClusterParams

    params = cluster_params if cluster_params is not None else ClusterParams()
    return store.result_table(con, "clusters", params.store_key(as_of))


def joined_sources(
    con: Connection, as_of: dt.date | str | None = None, cluster_params: Any | None = None
) -> tuple[str | None, str | None]:
    """The stored cluster and prediction tables ``audience_context`` would join now (None where not
    computed): cheap, so a cache of contexts can key on it and pick up clusters fitted a moment ago."""
    day = rfm.resolve_as_of(con, as_of)
    return _stored_cluster_table(con, day, cluster_params), _prediction_table(con, day)


def audience_context(
    con: Connection,
    as_of: dt.date | str | None = None,
    cluster_params: Any | None = None,
    score_table: str | None = None,
) -> AudienceContext:
    """Everything a definition may use at ``as_of`` (default: the last order date).

    The RFM table is computed once per data version (stored); clusters and predicted scores join in
    only when already stored. ``cluster_params`` is the ``ClusterParams`` of the Segments page.
    ``score_table`` names a stored table with ``customer_id`` and per-customer scores to join (default:
    the predictions stored for ``as_of``, when there are any); its columns become fields.
    """
    day = rfm.resolve_as_of(con, as_of)
    table = rfm.rfm_table(con, day)
    skip = set(rfm.RFM_COLUMNS) | {"cluster", "cluster_name"}
    attributes = []
    types = dict(store.table_columns(con, "customers"))
    for column in store.extra_columns(con, "customers"):
        if column in skip:
            continue
        distinct = int(
            con.execute(f"SELECT count(DISTINCT {store.quote_ident(column)}) FROM customers").fetchone()[0]
        )
        attributes.append((column, _attribute_kind(types.get(column, "VARCHAR"), distinct)))
    scores = score_table or _prediction_table(con, day)
    only = None if score_table else PREDICTION_LABELS
    score_columns = (
        _score_columns(con, scores, skip | set(types), only)
        if scores and store.table_exists(con, scores)
        else ()
    )
    from engine.personas import order_attributes

    taken = skip | set(types) | {c for c, _ in score_columns} | {n for n, *_ in BOUGHT_FIELDS}
    on_orders = tuple(order_attributes(con, skip=sorted(taken)))
    return AudienceContext(
        as_of=day,
        rfm_table=table,
        attributes=tuple(attributes),
        cluster_table=_stored_cluster_table(con, day, cluster_params),
        score_table=scores if score_columns else None,
        score_columns=score_columns,
        order_attributes=on_orders,
    )


def audience_fields(context: AudienceContext) -> pd.DataFrame:
    """The fields a condition may test: ``name, label, kind, source, help`` in catalogue order."""
    rows = [(f.name, f.label, f.kind, f.source, f.help) for f in context.fields.values()]
    return pd.DataFrame(rows, columns=["name", "label", "kind", "source", "help"])


def field_values(
    con: Connection, context: AudienceContext, field: str, limit: int = MAX_LISTED_VALUES
) -> list[str]:
    """The values a category field or an order fact can take, for the page's pick lists (sorted)."""
    known = context.fields.get(field)
    if known is None:
        raise SchemaError(f"Unknown field {field!r}.")
    if field == "bought_product":
        sql = "SELECT DISTINCT CAST(product_id AS VARCHAR) v FROM orders WHERE product_id IS NOT NULL ORDER BY v LIMIT ?"
    elif field == "bought_category":
        sql = "SELECT DISTINCT CAST(category AS VARCHAR) v FROM products WHERE category IS NOT NULL ORDER BY v LIMIT ?"
    elif known.source == "attribute":  # straight from the customers table, no join needed
        q = store.quote_ident(field)
        sql = (
            f"SELECT DISTINCT CAST({q} AS VARCHAR) v FROM customers WHERE {q} IS NOT NULL ORDER BY v LIMIT ?"
        )
    else:
        base, params = base_query(context)
        q = store.quote_ident(field)
        sql = (
            f"WITH base AS ({base}) SELECT DISTINCT CAST({q} AS VARCHAR) v FROM base "
            f"WHERE {q} IS NOT NULL ORDER BY v LIMIT $limit"
        )
        return [r[0] for r in con.execute(sql, params | {"limit": limit}).fetchall()]
    return [r[0] for r in con.execute(sql, [limit]).fetchall()]


# --------------------------------------------------------------------------- SQL


def base_query(context: AudienceContext) -> tuple[str, dict[str, Any]]:
    """One row per customer: RFM columns, uploaded attributes, cluster and predicted scores when stored,
    and each order-level attribute's most frequent value (``$order_as_of`` bound in the parameters)."""
    rfm_cols = ", ".join(f"t.{store.quote_ident(c)}" for c in rfm.RFM_COLUMNS)
    attrs = "".join(f", c.{store.quote_ident(c)}" for c, _ in context.attributes)
    joins = ""
    extra = ""
    if context.cluster_table:
        extra += ", k.cluster, k.cluster_name"
        joins += f" LEFT JOIN {store.quote_ident(context.cluster_table)} k USING (customer_id)"
    if context.score_table:
        extra += "".join(f", s.{store.quote_ident(c)}" for c, _ in context.score_columns)
        joins += f" LEFT JOIN {store.quote_ident(context.score_table)} s USING (customer_id)"
    params: dict[str, Any] = {}
    if context.order_attributes:
        from engine.personas import order_attribute_sql

        params["order_as_of"] = context.as_of
        for i, column in enumerate(context.order_attributes):
            extra += f", o{i}.value AS {store.quote_ident(column)}"
            joins += f" LEFT JOIN ({order_attribute_sql(column, 'order_as_of')}) o{i} USING (customer_id)"
    sql = (
        f"SELECT {rfm_cols}{attrs}{extra} FROM {store.quote_ident(context.rfm_table)} t "
        f"LEFT JOIN customers c USING (customer_id){joins}"  # customer_id is unique in customers (its key)
    )
    return sql, params


class _Compiler:
    def __init__(self, context: AudienceContext):
        self.fields = context.fields
        self.as_of = context.as_of
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"v{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def group(self, node: Mapping[str, Any], path: str) -> str:
        match = node.get("match", "all")
        if match not in ("all", "any"):
            raise SchemaError(f"{path}: match must be 'all' or 'any', not {match!r}.")
        conditions = node.get("conditions", [])
        if not isinstance(conditions, Sequence) or isinstance(conditions, str):
            raise SchemaError(f"{path}: conditions must be a list.")
        parts = []
        for i, child in enumerate(conditions):
            where = f"{path} > condition {i + 1}"
            if not isinstance(child, Mapping):
                raise SchemaError(f"{where}: a condition is an object with field, op and value.")
            parts.append(self.group(child, where) if "conditions" in child else self.condition(child, where))
        if not parts:
            return "TRUE"
        joiner = " AND " if match == "all" else " OR "
        return "(" + joiner.join(parts) + ")"

    def condition(self, node: Mapping[str, Any], path: str) -> str:
        name = node.get("field")
        field = self.fields.get(name) if isinstance(name, str) else None
        if field is None:
            raise SchemaError(
                f"{path}: unknown field {name!r}. Known fields: {', '.join(sorted(self.fields))}."
            )
        op = node.get("op")
        allowed = OPERATORS[field.kind]
        if op not in allowed:
            raise SchemaError(
                f"{path}: {field.label} ({field.kind}) cannot use {op!r}; use one of {', '.join(allowed)}."
            )
        value = node.get("value")
        column = store.quote_ident(field.name)
        if op in NO_VALUE:
            return {
                "is_empty": f"{column} IS NULL",
                "is_not_empty": f"{column} IS NOT NULL",
                "is_true": f"{column} IS TRUE",
                "is_false": f"{column} IS FALSE",
            }[op]
        if op in LIST_VALUE:
            values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
            values = [str(v) for v in values if v is not None and str(v) != ""]
            if not values:
                raise SchemaError(f"{path}: {field.label} {allowed[op]} needs at least one value.")
            listed = ", ".join(self.bind(v) for v in values)
            if field.kind == "bought":
                # orders up to the end of the as-of date, like the RFM values
                self.params["day_after"] = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())
                return self.bought(field.name, listed, negate=op == "none_of")
            text = f"CAST({column} AS VARCHAR)"
            if op == "in":
                return f"{text} IN ({listed})"
            return f"({column} IS NULL OR {text} NOT IN ({listed}))"
        if op == "contains":
            needle = str(value or "")
            if not needle:
                raise SchemaError(f"{path}: {field.label} contains needs some text.")
            return f"contains(lower(CAST({column} AS VARCHAR)), {self.bind(needle.lower())})"
        convert = self.number if field.kind == "number" else self.date
        if op in PAIR_VALUE:
            if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2):
                raise SchemaError(f"{path}: {field.label} between needs two values [from, to].")
            low, high = (convert(v, field, path) for v in value)
            if low > high:
                low, high = high, low
            target = column if field.kind == "number" else f"CAST({column} AS DATE)"
            return f"{target} BETWEEN {self.bind(low)} AND {self.bind(high)}"
        bound = self.bind(convert(value, field, path))
        if field.kind == "date":
            sign = ">=" if op == "on_or_after" else "<="
            return f"CAST({column} AS DATE) {sign} {bound}"
        if op == "!=":
            return f"({column} IS NULL OR {column} <> {bound})"
        return f"{column} {op} {bound}"

    @staticmethod
    def number(value: Any, field: AudienceField, path: str) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SchemaError(f"{path}: {field.label} needs a number, not {value!r}.") from None
        if number != number:
            raise SchemaError(f"{path}: {field.label} needs a number, not NaN.")
        return number

    @staticmethod
    def date(value: Any, field: AudienceField, path: str) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise SchemaError(f"{path}: {field.label} needs a date (YYYY-MM-DD), not {value!r}.") from None

    @staticmethod
    def bought(name: str, listed: str, negate: bool) -> str:
        if name == "bought_product":
            inner = (
                "SELECT customer_id FROM orders WHERE CAST(product_id AS VARCHAR) IN ({listed}) "
                "AND order_date < $day_after AND NOT coalesce(is_return, coalesce(amount, 0) < 0)"
            )
        else:
            inner = (
                "SELECT o.customer_id FROM orders o JOIN products p ON p.product_id = o.product_id "
                "WHERE CAST(p.category AS VARCHAR) IN ({listed}) AND o.order_date < $day_after "
                "AND NOT coalesce(o.is_return, coalesce(o.amount, 0) < 0)"
            )
        test = "customer_id IN (" + inner.replace("{listed}", listed) + " AND customer_id IS NOT NULL)"
        return f"NOT ({test})" if negate else test


def parse_definition(definition: Mapping[str, Any] | str) -> dict[str, Any]:
    """A definition from its JSON text (or the dict itself); raises ``SchemaError`` on bad JSON."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"The segment definition is not valid JSON: {exc.msg} (character {exc.pos})."
            ) from None
    if not isinstance(definition, Mapping):
        raise SchemaError('A segment definition is an object: {"match": "all", "conditions": [...]}.')
    return dict(definition)


def compile_definition(
    definition: Mapping[str, Any] | str, context: AudienceContext
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of ``definition`` over ``base_query(context)`` and its bound parameters.

    Raises
    ------
    SchemaError
        Naming the condition (``definition > condition 2 > condition 1``), the field and what to use.
    """
    compiler = _Compiler(context)
    where = compiler.group(parse_definition(definition), "definition")
    return where, compiler.params


def audience_query(
    definition: Mapping[str, Any] | str, context: AudienceContext, columns: str = "*"
) -> tuple[str, dict[str, Any]]:
    """The one SELECT of the members of ``definition`` (ordered by ``customer_id``) and its parameters."""
    base, base_params = base_query(context)
    where, params = compile_definition(definition, context)
    sql = f"WITH base AS ({base}) SELECT {columns} FROM base WHERE {where}"
    return sql, base_params | params


def audience_summary(
    con: Connection, definition: Mapping[str, Any] | str, context: AudienceContext
) -> AudienceSummary:
    """Members, their net revenue, all customers and all net revenue, in one query."""
    base, base_params = base_query(context)
    where, params = compile_definition(definition, context)
    sql = f"""
        WITH base AS ({base}),
             members AS (SELECT * FROM base WHERE {where})
        SELECT (SELECT count(*) FROM members),
               (SELECT coalesce(sum(monetary), 0) FROM members),
               (SELECT count(*) FROM base),
               (SELECT coalesce(sum(monetary), 0) FROM base)
    """
    members, revenue, customers, total = con.execute(sql, base_params | params).fetchone()
    return AudienceSummary(int(members), int(customers), float(revenue), float(total))


def audience_members(
    con: Connection, definition: Mapping[str, Any] | str, context: AudienceContext, limit: int | None = None
) -> pd.DataFrame:
    """The members of ``definition`` with every base column (RFM, attributes, cluster, scores), ordered by
    ``customer_id``; the first ``limit`` only when given (a preview)."""
    sql, params = audience_query(definition, context)
    sql += " ORDER BY customer_id"
    if limit is not None:
        sql += " LIMIT $limit"
        params = params | {"limit": int(limit)}
    return con.execute(sql, params).df()


def segment_definition(segments: Sequence[str]) -> dict[str, Any]:
    """The definition of "customers in these RFM segments"."""
    return {"match": "all", "conditions": [{"field": "segment", "op": "in", "value": list(segments)}]}


def describe_definition(definition: Mapping[str, Any] | str, context: AudienceContext) -> str:
    """The definition in plain words: ``RFM segment is any of Champions, Loyal and Net spend at least 500``."""
    fields = context.fields

    def words(node: Mapping[str, Any]) -> str:
        if "conditions" in node:
            parts = [words(child) for child in node.get("conditions", [])]
            if not parts:
                return "every customer"
            joined = (" and " if node.get("match", "all") == "all" else " or ").join(parts)
            return f"({joined})" if len(parts) > 1 else joined
        field = fields.get(node.get("field"))
        label = field.label if field else str(node.get("field"))
        op = node.get("op")
        op_words = OPERATORS.get(field.kind, {}).get(op, str(op)) if field else str(op)
        value = node.get("value")
        if op in NO_VALUE:
            return f"{label} {op_words}"
        if isinstance(value, Sequence) and not isinstance(value, str):
            value_text = (
                " and ".join(str(v) for v in value) if op == "between" else ", ".join(map(str, value))
            )
        else:
            value_text = str(value)
        return f"{label} {op_words} {value_text}"

    text = words(parse_definition(definition))
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


__all__ = [
    "OPERATORS",
    "RFM_FIELDS",
    "BOUGHT_FIELDS",
    "AudienceField",
    "AudienceContext",
    "AudienceSummary",
    "audience_context",
    "joined_sources",
    "audience_fields",
    "field_values",
    "base_query",
    "parse_definition",
    "compile_definition",
    "audience_query",
    "audience_summary",
    "audience_members",
    "segment_definition",
    "describe_definition",
]

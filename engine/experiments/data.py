"""What an experiment holds: its variants, which one is the control (with the evidence), the outcome columns
that can be tested, and the per-variant counts (one DuckDB aggregate)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from engine.errors import InsufficientDataError, SchemaError
from engine.schema import CONTROL_NAMES
from engine.store import Connection, extra_columns, quote_ident

# The one list of control names lives with the canonical tables (the upload's mapping reads it too).

# Words that make an extra column look like an outcome (listed first on the page); any 0/1 or numeric
# column can still be chosen.
OUTCOME_HINTS: tuple[str, ...] = (
    "convert",
    "conversion",
    "purchase",
    "order",
    "buy",
    "visit",
    "click",
    "open",
    "signup",
    "subscribe",
    "revenue",
    "spend",
    "sales",
    "value",
)

CONVERTED = "converted"
REVENUE = "revenue"
OUTCOME_KINDS = ("binary", "numeric")


def _normal(name: str) -> str:
    return re.sub(r"[\s\-_.]+", " ", str(name).strip().lower()).strip()


@dataclass(frozen=True)
class ControlChoice:
    """Which variant is the control and why.

    Attributes
    ----------
    name : the control variant, or None when no name says so and the user must choose.
    rule : ``"chosen"`` (given by the user), ``"named"`` (the whole name is a control name), ``"contains"``
        (a control name is a word of it) or ``"ask"`` (nothing matched).
    matched : the control name that matched (from ``CONTROL_NAMES``), or None.
    others : further variants whose names also look like a control (a reason to check the choice).
    evidence : one plain sentence saying why.
    """

    name: str | None
    rule: str
    matched: str | None
    others: tuple[str, ...]
    evidence: str

    @property
    def confident(self) -> bool:
        """True when the choice can be applied without asking: chosen, or one exact control name."""
        return self.rule == "chosen" or (self.rule == "named" and not self.others)


def _control_list() -> str:
    shown = [n for n in CONTROL_NAMES if n not in ("ctrl", "hold-out", "no mail", "a")]
    return ", ".join(shown) + ', "A"'


def find_control(variants: Sequence[str], chosen: str | None = None) -> ControlChoice:
    """The control among ``variants`` with its evidence (see ``ControlChoice``); never a silent guess.

    A whole-name match (``"No E-Mail"``, ``"Control"``, ``"A"``) beats a control word inside a longer name
    (``"Control group"``, ``"holdout 10%"``); among equals ``CONTROL_NAMES`` order decides. When nothing
    matches, ``name`` is None and ``evidence`` asks which variant is the control.
    """
    names = [str(v) for v in variants]
    if chosen is not None:
        if chosen not in names:
            raise SchemaError(
                f"Variant {chosen!r} is not in this experiment. Variants: {', '.join(sorted(names))}."
            )
        return ControlChoice(chosen, "chosen", None, (), f"Control: {chosen!r}, as chosen.")
    wanted = [(_normal(c), c) for c in CONTROL_NAMES]
    hits: list[tuple[int, int, str, str]] = []  # (0 whole name / 1 word inside, list position, variant, word)
    for name in sorted(names):
        normal = _normal(name)
        padded = f" {normal} "
        for position, (word, original) in enumerate(wanted):
            if normal == word:
                hits.append((0, position, name, original))
                break
            if len(word) > 1 and f" {word} " in padded:
                hits.append((1, position, name, original))
                break
    if not hits:
        return ControlChoice(
            None,
            "ask",
            None,
            (),
            f"No variant is named like a control ({_control_list()}): choose which of "
            f"{', '.join(sorted(names))} is the control.",
        )
    hits.sort()
    kind, _, name, word = hits[0]
    others = tuple(h[2] for h in hits[1:])
    how = "its name is" if kind == 0 else "its name contains"
    evidence = f"Control: {name!r}, because {how} {word!r}, one of the control names ({_control_list()})."
    if others:
        evidence += f" Also named like a control: {', '.join(repr(o) for o in others)}; check the choice."
    return ControlChoice(name, "named" if kind == 0 else "contains", word, others, evidence)


class ControlNotFound(SchemaError):
    """No variant is named like a control: the user must say which one it is (``choice`` has the evidence)."""

    def __init__(self, choice: ControlChoice):
        super().__init__(choice.evidence + " Pass the control's name (on the command line: --control NAME).")
        self.choice = choice


def detect_control(variants: Sequence[str], override: str | None = None) -> str:
    """The control variant: ``override`` if given, else the variant named like one (``find_control``).

    Raises
    ------
    ControlNotFound
        When no variant is named like a control: the message asks which one it is.
    """
    choice = find_control(variants, override)
    if choice.name is None:
        raise ControlNotFound(choice)
    return choice.name


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """A column of the experiments table that can be tested.

    ``name`` is ``"converted"``, ``"revenue"`` or the stored extra column; ``kind`` is ``"binary"`` (0/1:
    a rate, two-proportion z-test) or ``"numeric"`` (a mean per unit, Welch's t-test).
    """

    name: str
    kind: str
    label: str
    column: str | None = None

    def unit_value(self) -> str:
        """SQL for one row's value of this outcome."""
        if self.name == CONVERTED and self.column is None:
            return "CAST(coalesce(conversions > 0, converted, false) AS DOUBLE)"
        if self.name == REVENUE and self.column is None:
            return "revenue"
        column = quote_ident(self.column or self.name)
        if self.kind == "binary":
            return f"coalesce(TRY_CAST({column} AS DOUBLE), CAST(TRY_CAST({column} AS BOOLEAN) AS DOUBLE))"
        return f"TRY_CAST({column} AS DOUBLE)"

    def customer_value(self) -> str:
        """SQL merging one customer's rows: converted when any row is; numbers summed."""
        return f"{'max' if self.kind == 'binary' else 'sum'}({self.unit_value()})"

    def count_rows_total(self) -> str:
        """SQL summing count-form rows (totals per variant): only conversions and revenue exist there."""
        if self.name == CONVERTED and self.column is None:
            return "sum(coalesce(conversions, CAST(converted AS BIGINT), 0))"
        if self.name == REVENUE and self.column is None:
            return "sum(revenue)"
        return "CAST(NULL AS DOUBLE)"

    def count_rows_known(self) -> str:
        """SQL counting the count-form rows that carry this outcome."""
        if self.name == CONVERTED and self.column is None:
            return "count(*) FILTER (WHERE conversions IS NOT NULL OR converted IS NOT NULL)"
        if self.name == REVENUE and self.column is None:
            return "count(revenue)"
        return "0"


CONVERTED_OUTCOME = Outcome(CONVERTED, "binary", "Converted")
REVENUE_OUTCOME = Outcome(REVENUE, "numeric", "Revenue")


def _hinted(name: str) -> bool:
    normal = _normal(name)
    return any(h in normal for h in OUTCOME_HINTS)


def experiment_outcomes(con: Connection, experiment_id: str) -> list[Outcome]:
    """The outcomes of one experiment that can be tested, the default (primary) one first.

    ``converted`` when a converted or conversions value exists, ``revenue`` when a revenue value exists,
    then every extra column whose values are all numbers (0/1 or yes/no ones are binary) and not all equal.
    Extra columns whose names look like outcomes (``OUTCOME_HINTS``: visit, click, spend ...) come first.
    """
    extras = extra_columns(con, "experiments")
    parts = [
        "count(*) FILTER (WHERE converted IS NOT NULL OR conversions IS NOT NULL)",
        "count(revenue)",
    ]
    for column in extras:
        c = quote_ident(column)
        flag = f"coalesce(TRY_CAST({c} AS DOUBLE), CAST(TRY_CAST({c} AS BOOLEAN) AS DOUBLE))"
        parts += [
            f"count({c})",
            f"count(TRY_CAST({c} AS DOUBLE))",
            f"count({flag})",
            f"coalesce(bool_and({flag} IN (0, 1)), false)",
            f"count(DISTINCT {c})",
        ]
    row = con.execute(
        f"SELECT {', '.join(parts)} FROM experiments WHERE experiment_id = ?", [experiment_id]
    ).fetchall()[0]
    outcomes: list[Outcome] = []
    if row[0]:
        outcomes.append(CONVERTED_OUTCOME)
    if row[1]:
        outcomes.append(REVENUE_OUTCOME)
    found = []
    for i, column in enumerate(extras):
        filled, numbers, flags, zero_one, distinct = row[2 + 5 * i : 7 + 5 * i]
        if not filled or distinct < 2:
            continue
        if flags == filled and zero_one:
            found.append(Outcome(column, "binary", column, column))
        elif numbers == filled:
            found.append(Outcome(column, "numeric", column, column))
    # outcome-like names first, binary before numeric, then file order
    found.sort(key=lambda o: (not _hinted(o.name), o.kind != "binary"))
    if not outcomes or outcomes[0] is not CONVERTED_OUTCOME:
        binary = [o for o in found if o.kind == "binary"]
        if binary:  # a 0/1 column is the better default than revenue
            found.remove(binary[0])
            outcomes.insert(0, binary[0])
    return outcomes + found


def resolve_outcomes(
    con: Connection, experiment_id: str, outcomes: Sequence[str] | None = None
) -> list[Outcome]:
    """The ``Outcome`` of each requested name (the first is the primary one); None gives the default:
    the primary outcome plus revenue when the file has it."""
    available = experiment_outcomes(con, experiment_id)
    if not available:
        raise InsufficientDataError(
            f"Experiment {experiment_id!r} has no outcome to test: map a converted or conversions column, "
            f"a revenue column, or keep a 0/1 or numeric column (visit, click ...) when you load the file.",
            needed=1,
            found=0,
        )
    by_name = {o.name: o for o in available}
    if outcomes is None:
        chosen = [available[0]]
        if REVENUE in by_name and available[0].name != REVENUE:
            chosen.append(by_name[REVENUE])
        return chosen
    picked = []
    for name in outcomes:
        if name not in by_name:
            raise SchemaError(
                f"Experiment {experiment_id!r} has no outcome {name!r}. Outcomes: "
                f"{', '.join(by_name)} (any 0/1 or numeric column of the experiment file)."
            )
        if by_name[name] not in picked:
            picked.append(by_name[name])
    if not picked:
        raise SchemaError("Choose at least one outcome to test.")
    return picked


# --------------------------------------------------------------------------- counts

DEFAULT_OUTCOMES = (CONVERTED_OUTCOME, REVENUE_OUTCOME)

_COUNTS_SQL = """
    WITH units AS (
        -- one unit per exposed customer: converted when any of their rows converted, numbers summed
        SELECT experiment_id,
               min(variant) AS variant,
               min(variant) <> max(variant) AS crossover,
               count(*) AS row_count,
               false AS from_row{customer_values}
        FROM experiments
        WHERE {where} AND customer_id IS NOT NULL
        GROUP BY experiment_id, customer_id
        UNION ALL
        -- a row without a customer that stands for one exposure is one unit of its own
        SELECT experiment_id, variant, false AS crossover, 1 AS row_count, true AS from_row{row_values}
        FROM experiments
        WHERE {where} AND customer_id IS NULL AND coalesce(exposures, 1) = 1
    ), unit_variants AS (
        SELECT experiment_id,
               CASE WHEN crossover THEN NULL ELSE variant END AS variant,
               count(*) AS units,
               count(*) AS exposures,
               count(*) FILTER (WHERE from_row) AS row_units,
               false AS has_count_rows,
               sum(row_count) - count(*) AS repeated_rows{unit_stats}
        FROM units
        GROUP BY ALL
    ), count_variants AS (
        -- count-form rows (no customer, exposures other than one): totals per variant, summed
        SELECT experiment_id, variant, count(*) AS units,
               sum(exposures) AS exposures,
               0 AS row_units,
               true AS has_count_rows,
               0 AS repeated_rows{count_stats}
        FROM experiments
        WHERE {where} AND customer_id IS NULL AND coalesce(exposures, 1) <> 1
        GROUP BY ALL
    ), variants AS (
        SELECT experiment_id, variant, sum(units) AS units, sum(exposures) AS exposures,
               sum(row_units) AS row_units, bool_or(has_count_rows) AS has_count_rows, sum(repeated_rows) AS repeated_rows{merge_stats}
        FROM (SELECT * FROM unit_variants UNION ALL BY NAME SELECT * FROM count_variants)
        GROUP BY ALL
    ), dates AS (
        -- a plain scan: cheaper than carrying dates through the per-customer merge
        SELECT experiment_id, min(exposure_date) AS first_seen, max(exposure_date) AS last_seen
        FROM experiments
        WHERE {where}
        GROUP BY experiment_id
    )
    SELECT v.*, d.first_seen, d.last_seen
    FROM variants v JOIN dates d USING (experiment_id)
    ORDER BY experiment_id, variant NULLS LAST
"""


def experiment_counts(
    con: Connection, experiment_id: str | None = None, outcomes: Sequence[Outcome] = DEFAULT_OUTCOMES
) -> pd.DataFrame:
    """Per experiment and variant: units, exposures and, per outcome, its sum, spread and filled count.

    A unit is an exposed customer (their rows merged) or, for rows without a customer, the row itself;
    count-form rows (exposures and conversions per variant) add their totals. A row with ``variant`` NULL
    counts the customers seen in more than one variant (left out of every variant). Per outcome ``name``
    the columns are ``sum__name`` (successes or total), ``sd__name`` (sample sd over units, blank as 0;
    NULL when count-form rows are present) and ``known__name`` (units or rows with a value). Ordered by
    experiment and variant.
    """
    customer_values = row_values = unit_stats = count_stats = merge_stats = ""
    for i, outcome in enumerate(outcomes):
        customer_values += f", {outcome.customer_value()} AS v{i}"
        row_values += f", {outcome.unit_value()} AS v{i}"
        name = outcome.name
        unit_stats += (
            f", sum(v{i}) AS {quote_ident('sum__' + name)}"
            f", stddev_samp(coalesce(v{i}, 0)) AS {quote_ident('sd__' + name)}"
            f", count(v{i}) AS {quote_ident('known__' + name)}"
        )
        total = outcome.count_rows_total()
        count_stats += (
            f", {total} AS {quote_ident('sum__' + name)}"
            f", CAST(NULL AS DOUBLE) AS {quote_ident('sd__' + name)}"
            f", {outcome.count_rows_known()} AS {quote_ident('known__' + name)}"
        )
        merge_stats += (
            f", sum({quote_ident('sum__' + name)}) AS {quote_ident('sum__' + name)}"
            f", CASE WHEN bool_or(has_count_rows) THEN NULL ELSE max({quote_ident('sd__' + name)}) END"
            f" AS {quote_ident('sd__' + name)}"
            f", sum({quote_ident('known__' + name)}) AS {quote_ident('known__' + name)}"
        )
    where, params = ("experiment_id = ?", [experiment_id]) if experiment_id is not None else ("true", [])
    sql = _COUNTS_SQL.format(
        where=where,
        customer_values=customer_values,
        row_values=row_values,
        unit_stats=unit_stats,
        count_stats=count_stats,
        merge_stats=merge_stats,
    )
    return con.execute(sql, params * 4).df()


def experiment_variants(con: Connection, experiment_id: str) -> list[str]:
    """The variant names of one experiment, sorted."""
    rows = con.execute(
        "SELECT DISTINCT variant FROM experiments WHERE experiment_id = ? AND variant IS NOT NULL ORDER BY variant",
        [experiment_id],
    ).fetchall()
    return [str(r[0]) for r in rows]


def experiment_list(con: Connection) -> pd.DataFrame:
    """The experiments in the store: ``experiment_id, variants, rows, first_exposure, last_exposure``."""
    return con.execute(
        """
        SELECT experiment_id, count(DISTINCT variant) AS variants, count(*) AS rows,
               min(exposure_date) AS first_exposure, max(exposure_date) AS last_exposure
        FROM experiments
        GROUP BY experiment_id
        ORDER BY experiment_id
        """
    ).df()

"""Who to target: uplift models fitted on a randomised test, scored out of fold and evaluated honestly.

An A/B test says whether a send works on average; an uplift model says on whom. Methods:

- learners (all on scikit-learn's histogram gradient boosting, shallow and strongly regularised because the
  signal, a difference between two arms, is small):
  * ``x``: X-learner (Kunzel, Sekhon, Bickel & Yu 2019, PNAS 116(10)): two outcome models, then models of
    each arm's imputed effect, blended by the share treated;
  * ``t``: two models (T-learner): outcome model per arm, uplift = difference;
  * ``transformed``: class transformation generalised to any outcome and split (the transformed outcome of
    Athey & Imbens 2016: ``y (t - p) / (p (1 - p))`` has the uplift as its expectation), one regression;
- cross-fitting: the units are split into ``folds`` parts stratified by arm and outcome; every unit is
  scored by models fitted on the other parts only, so every score shown or exported is out of fold and can
  be checked against the outcomes;
- evaluation over those out-of-fold scores (each part is held out from the models that score it): the Qini
  curve (Radcliffe 2007: treated outcomes minus control outcomes scaled to the treated count among the top
  k), the uplift curve (observed uplift among the top k times k: the extra outcomes), uplift by decile, the
  Qini coefficient (area between the Qini curve and random targeting, per unit) and the AUUC, each with a
  bootstrap interval that resamples units within each arm;
- checks before modelling: sample-ratio mismatch (chi-square, ``engine.experiments.srm_check``), attribute
  balance as standardised mean differences (a column that differs between arms was recorded after the send
  or the test was not randomised), minimum sizes.

Unit: the customer when rows name one (rows of one customer and arm are merged: a 0/1 outcome counts when any
row has it, a numeric outcome is summed; customers seen in both arms are left out and counted), otherwise each
row of the test. A row's number ``row`` is its position in the file it was loaded from (1 = the first row
after the header); the store keeps load order, so the number is exact for a load that rejected no rows.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine import store
from engine.errors import EngineError, InsufficientDataError, SchemaError
from engine.schema import LOAD_ID_COLUMN
from engine.store import Connection, quote_ident

# ---------------------------------------------------------------------------------------------- settings

LEARNERS: dict[str, str] = {
    "x": "X-learner",
    "t": "Two models (T-learner)",
    "transformed": "Class transformation (transformed outcome)",
}
DEFAULT_LEARNER = "x"
DEFAULT_FOLDS = 5
DEFAULT_BOOTSTRAP = 200
DEFAULT_SEED = 42

MIN_UNITS_PER_ARM = 500  # below this a decile holds under 50 units per arm: its uplift is noise
MIN_OUTCOMES_PER_ARM = 30  # units with a non-zero outcome in each arm
BALANCE_LIMIT = 0.1  # |standardised mean difference| above which a column is not balanced between arms
SRM_THRESHOLD = 0.001
MAX_LEVELS = 40  # categories beyond the most frequent ones are pooled as "other"
MAX_ATTRIBUTES = 40
MIN_FILLED_SHARE = 0.5
PROFILE_ATTRIBUTES = 5
TARGET_SHARE = 0.3  # the share quoted in the headline sentence

# Column names that read like something measured after the send: never offered as attributes by default.
OUTCOME_WORDS: tuple[str, ...] = (
    "visit",
    "conversion",
    "converted",
    "convert",
    "spend",
    "revenue",
    "purchase",
    "purchased",
    "order",
    "orders",
    "click",
    "clicks",
    "clicked",
    "open",
    "opened",
    "opens",
    "response",
    "responded",
    "outcome",
    "result",
    "sales",
    "sale",
    "signup",
    "churn",
    "churned",
    "exposure",
    "exposures",
    "conversions",
    "target",
    "label",
)

ProgressFn = Callable[[float, str], None]

_TRUE = ("true", "t", "yes", "y")
_FALSE = ("false", "f", "no", "n")


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BalanceCheck:
    """Standardised mean differences between arms, one row per attribute (``column, kind, detail, smd``)."""

    table: pd.DataFrame
    limit: float
    unbalanced: tuple[str, ...]


@dataclass(frozen=True)
class UpliftChecks:
    """What must hold before a model is fitted; ``passed`` False means no chart, only ``message``."""

    passed: bool
    message: str
    treated_units: int
    control_units: int
    treated_with_outcome: int
    control_with_outcome: int
    srm_p_value: float
    srm_mismatch: bool
    balance: BalanceCheck
    min_units_per_arm: int = MIN_UNITS_PER_ARM
    min_outcomes_per_arm: int = MIN_OUTCOMES_PER_ARM
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpliftEvaluation:
    """Held-out (out-of-fold) evaluation of one set of uplift scores.

    ``curve``: share, units, incremental (+ interval), random, qini, qini_random, per percent of units.
    ``deciles``: decile (1 = highest predicted uplift), units, treated, control, treated_mean, control_mean,
    uplift, uplift_low, uplift_high, predicted, vs_average.
    """

    curve: pd.DataFrame
    deciles: pd.DataFrame
    average_uplift: float
    average_uplift_low: float
    average_uplift_high: float
    treated_mean: float
    control_mean: float
    qini_coefficient: float
    qini_low: float
    qini_high: float
    auuc: float
    auuc_low: float
    auuc_high: float
    auuc_random: float
    top_share: float
    kept_share: float
    kept_low: float
    kept_high: float
    top_decile_ratio: float
    top_share_ratio: float
    beats_random: bool
    top_decile_beats_average: bool = False


@dataclass(frozen=True)
class UpliftResult:
    """Everything the Targeting page and ``segmint uplift`` show for one test, arms and outcome."""

    experiment_id: str
    treatment: str
    control: str
    outcome: str
    outcome_kind: str
    unit: str
    attributes: tuple[str, ...]
    learner: str
    folds: int
    checks: UpliftChecks
    evaluation: UpliftEvaluation | None
    learners: pd.DataFrame
    profiles: pd.DataFrame
    notes: tuple[str, ...]
    fit_seconds: float
    params: dict = field(default_factory=dict)

    @property
    def modelled(self) -> bool:
        return self.evaluation is not None

    # The words are made when read (not stored), so better wording never needs a refit.
    @property
    def headline(self) -> str:
        if self.evaluation is None:
            return "The test cannot be used for targeting yet"
        return _verdict(self.evaluation, self.outcome, self.outcome_kind, self.treatment)[1]

    @property
    def verdict(self) -> str:
        """What the held-out evaluation says, in a sentence or two."""
        if self.evaluation is None:
            return self.checks.message
        return _verdict(self.evaluation, self.outcome, self.outcome_kind, self.treatment)[0]

    @property
    def recommendation_level(self) -> str:
        """``target``, ``top tenth``, ``everyone``, ``no one``, ``unclear`` or ``checks`` (not modelled)."""
        if self.evaluation is None:
            return "checks"
        return _recommendation(self.evaluation, self.outcome, self.outcome_kind, self.treatment)[0]

    @property
    def recommendation(self) -> str:
        """What to do, in a sentence."""
        if self.evaluation is None:
            return ""
        return _recommendation(self.evaluation, self.outcome, self.outcome_kind, self.treatment)[1]


# ---------------------------------------------------------------------------------------------- columns


def _norm(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def guess_uplift_control(variants: Sequence[str]) -> tuple[str | None, str]:
    """The control found from the variant names, with its evidence (``engine.experiments.find_control``, the
    one list of control names); ``(None, question)`` when no name says so."""
    from engine.experiments import find_control

    choice = find_control(variants)
    return choice.name, choice.evidence


def uplift_variants(con: Connection, experiment_id: str) -> pd.DataFrame:
    """Variants of one test with their row counts: ``variant, rows``, largest first."""
    return con.execute(
        """
        SELECT variant, count(*) AS rows
        FROM experiments
        WHERE experiment_id = ? AND variant IS NOT NULL
        GROUP BY variant
        ORDER BY rows DESC, variant
        """,
        [experiment_id],
    ).df()


def _candidate_sources(con: Connection) -> list[tuple[str, str, str]]:
    """(column, table, stored name) of every column that may be an outcome or an attribute."""
    sources: list[tuple[str, str, str]] = [("converted", "experiments", "converted")]
    sources.append(("revenue", "experiments", "revenue"))
    test_extras = store.extra_columns(con, "experiments")
    sources += [(c, "experiments", c) for c in test_extras]
    taken = {s[0] for s in sources} | {"customer_id", "row", "uplift", "decile"}
    customer_cols = ["signup_date"] + store.extra_columns(con, "customers")
    for col in customer_cols:
        name = col if col not in taken else f"customer {col}"
        taken.add(name)
        sources.append((name, "customers", col))
    return sources


def _text(table_alias: str, column: str) -> str:
    return f"NULLIF(trim(CAST({table_alias}.{quote_ident(column)} AS VARCHAR)), '')"


_PROFILE_SQL = """
SELECT {aggregates}
FROM experiments AS e
LEFT JOIN customers AS c ON c.customer_id = e.customer_id AND e.customer_id IS NOT NULL
WHERE e.experiment_id = $experiment
"""


def uplift_columns(con: Connection, experiment_id: str) -> pd.DataFrame:
    """Every column of a test (its own extra columns and, joined on customer_id, the customers table's) that
    could be an outcome or an attribute, with what it holds.

    Returns
    -------
    DataFrame with ``column, source ('test' | 'customers'), kind ('binary' | 'numeric' | 'category' |
    'date'), filled (share of rows with a value), levels (distinct values), outcome (usable as an outcome:
    0/1 or numeric and from the test), reads_as_outcome (named like a result)``, in source order.
    """
    from engine.experiments import experiment_outcomes

    outcomes = {o.name: o for o in experiment_outcomes(con, experiment_id)}
    sources = _candidate_sources(con)
    aggregates = []
    for i, (_, table, col) in enumerate(sources):
        alias = "e" if table == "experiments" else "c"
        text = _text(alias, col)
        aggregates += [
            f"count({text}) AS n{i}",
            f"count(TRY_CAST({text} AS DOUBLE)) AS num{i}",
            f"count(CASE WHEN lower({text}) IN {_TRUE + _FALSE} THEN 1 END) AS bool{i}",
            f"count(CASE WHEN TRY_CAST({text} AS DOUBLE) IN (0, 1) THEN 1 END) AS zero_one{i}",
            f"approx_count_distinct({text}) AS levels{i}",
            f"count(TRY_CAST({text} AS DATE)) AS date{i}",
        ]
    aggregates.append("count(*) AS total")
    row = con.execute(_PROFILE_SQL.format(aggregates=", ".join(aggregates)), {"experiment": experiment_id})
    values = dict(zip([d[0] for d in row.description], row.fetchone(), strict=True))
    total = int(values["total"] or 0)
    records = []
    for i, (name, table, col) in enumerate(sources):
        filled = int(values[f"n{i}"] or 0)
        if filled == 0:
            continue
        numeric = int(values[f"num{i}"] or 0)
        booleans = int(values[f"bool{i}"] or 0)
        dates = int(values[f"date{i}"] or 0)
        if table == "experiments" and name in outcomes:
            kind = outcomes[name].kind  # the Experiments page's reading of the column
        elif booleans == filled or values[f"zero_one{i}"] == filled:
            kind = "binary"
        elif numeric == filled:
            kind = "numeric"
        elif dates == filled and table == "customers":
            kind = "date"
        else:
            kind = "category"
        records.append(
            {
                "column": name,
                "source": "test" if table == "experiments" else "customers",
                "stored": col,
                "kind": kind,
                "filled": filled / total if total else 0.0,
                "levels": int(values[f"levels{i}"] or 0),
                "outcome": table == "experiments" and name in outcomes,
                "reads_as_outcome": _reads_as_outcome(name),
            }
        )
    return pd.DataFrame(
        records,
        columns=["column", "source", "stored", "kind", "filled", "levels", "outcome", "reads_as_outcome"],
    )


def _reads_as_outcome(name: str) -> bool:
    words = {w for w in "".join(ch if ch.isalnum() else " " for ch in str(name).lower()).split()}
    return bool(words & set(OUTCOME_WORDS)) or _norm(name) in OUTCOME_WORDS


def uplift_outcomes(con: Connection, experiment_id: str, columns: pd.DataFrame | None = None) -> list[str]:
    """The test's columns that can be an outcome (0/1 or numeric), the default first: the Experiments page's
    list (``engine.experiments.experiment_outcomes``). ``columns`` is accepted for symmetry and unused."""
    from engine.experiments import experiment_outcomes

    return [outcome.name for outcome in experiment_outcomes(con, experiment_id)]


# ---------------------------------------------------------------------------------------------- units


def _value_sql(alias: str, col: str, kind: str, test_start: str) -> str:
    text = _text(alias, col)
    if kind == "binary":
        return (
            f"CASE WHEN lower({text}) IN {_TRUE} THEN 1.0 WHEN lower({text}) IN {_FALSE} THEN 0.0 "
            f"ELSE TRY_CAST({text} AS DOUBLE) END"
        )
    if kind == "numeric":
        return f"TRY_CAST({text} AS DOUBLE)"
    if kind == "date":
        return f"CAST(date_diff('day', TRY_CAST({text} AS DATE), {test_start}) AS DOUBLE)"
    return text


_UNITS_SQL = """
WITH numbered AS (
    SELECT *, row_number() OVER (PARTITION BY {load_id} ORDER BY rowid) AS _u_row
    FROM experiments
),
test AS (
    SELECT * FROM numbered WHERE experiment_id = $experiment
),
merged AS (
    -- the Experiments page's units: one per customer (first row's attributes, outcome over all rows;
    -- customers seen in more than one variant of the test are left out); a row without a customer that
    -- stands for one exposure is a unit of its own
    SELECT customer_id, min(_u_row) AS _u_row, any_value(variant) AS variant,
           count(DISTINCT variant) AS _u_arms, count(*) AS _u_rows,
           {outcome_merge} AS _u_outcome{test_merged}
    FROM test WHERE customer_id IS NOT NULL
    GROUP BY customer_id
    UNION ALL
    SELECT NULL AS customer_id, _u_row, variant, 1 AS _u_arms, 1 AS _u_rows,
           {outcome_row} AS _u_outcome{test_rows}
    FROM test WHERE customer_id IS NULL AND coalesce(exposures, 1) = 1 AND variant IN ($treatment, $control)
)
SELECT m.customer_id, CASE WHEN m.customer_id IS NULL THEN m._u_row END AS "row",
       m.variant = $treatment AS _u_treated, coalesce(m._u_outcome, 0.0) AS _u_outcome,
       m._u_outcome IS NULL AS _u_outcome_missing{attributes}
FROM merged AS m
LEFT JOIN customers AS c ON c.customer_id = m.customer_id AND m.customer_id IS NOT NULL
WHERE m._u_arms = 1 AND m.variant IN ($treatment, $control)
ORDER BY m.customer_id NULLS LAST, m._u_row
"""

_UNIT_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE arms > 1 AND in_arms) AS crossover,
       count(*) FILTER (WHERE customer_id IS NOT NULL AND arms = 1 AND in_arms) AS customers,
       sum(rows) FILTER (WHERE customer_id IS NULL AND in_arms) AS rows_without_customer,
       sum(rows) FILTER (WHERE rows > 1 AND customer_id IS NOT NULL AND arms = 1 AND in_arms) AS merged_rows,
       sum(count_rows) FILTER (WHERE in_arms) AS count_form_rows
FROM (
    SELECT customer_id, count(DISTINCT variant) AS arms, count(*) AS rows,
           bool_or(variant IN ($treatment, $control)) AS in_arms,
           count(*) FILTER (WHERE customer_id IS NULL AND coalesce(exposures, 1) <> 1) AS count_rows
    FROM experiments
    WHERE experiment_id = $experiment
    GROUP BY customer_id, CASE WHEN customer_id IS NULL THEN rowid END
)
"""

_REJECTED_SQL = """
SELECT count(*) FROM _loads
WHERE table_name = 'experiments' AND NOT undone AND coalesce(rows_rejected, 0) > 0
  AND load_id IN (SELECT DISTINCT {load_id} FROM experiments WHERE experiment_id = $experiment)
"""


@dataclass(frozen=True)
class UnitData:
    """The units of a test: ``frame`` has customer_id, row, _u_treated, _u_outcome, then one column per
    attribute; ``kinds`` maps attribute -> binary | numeric | category | date."""

    frame: pd.DataFrame
    outcome: str
    outcome_kind: str
    kinds: dict[str, str]
    unit: str
    notes: tuple[str, ...]


def uplift_units(
    con: Connection,
    experiment_id: str,
    treatment: str,
    control: str,
    outcome: str,
    attributes: Sequence[str],
    columns: pd.DataFrame | None = None,
) -> UnitData:
    """The units of one test, arm, outcome and attributes (one SQL query; attributes typed in SQL).

    Raises
    ------
    SchemaError
        The outcome or an attribute is not a column of the test, or treatment equals control.
    InsufficientDataError
        The test holds count rows (exposures per variant) only: uplift needs one row per unit.
    """
    if treatment == control:
        raise SchemaError("Choose two different variants: the treatment and the control it is compared with.")
    columns = uplift_columns(con, experiment_id) if columns is None else columns
    by_name = columns.set_index("column")
    if outcome not in by_name.index or not bool(by_name.at[outcome, "outcome"]):
        usable = ", ".join(columns.loc[columns["outcome"], "column"]) or "none"
        raise SchemaError(
            f"{outcome!r} is not an outcome column of test {experiment_id!r}: pick a 0/1 or numeric column of "
            f"the test file ({usable})."
        )
    unknown = [a for a in attributes if a not in by_name.index]
    if unknown:
        raise SchemaError(
            f"Not attributes of test {experiment_id!r}: {', '.join(map(repr, unknown))}. Columns: "
            + ", ".join(columns["column"])
        )
    bound = {"experiment": experiment_id, "treatment": treatment, "control": control}
    counts = con.execute(_UNIT_COUNTS_SQL, bound).fetchone()
    crossover, customers, rows_without, merged_rows, count_rows = (int(v or 0) for v in counts)
    if count_rows:
        raise InsufficientDataError(
            f"Test {experiment_id!r} holds {count_rows:,} count rows (exposures per variant, not one row per "
            "customer or exposure). Uplift needs one row per customer or exposure with its attributes: load "
            "the test's row-level export."
        )
    from engine.experiments import experiment_outcomes

    # the outcome's value per row and per customer as the Experiments page reads it
    chosen = {o.name: o for o in experiment_outcomes(con, experiment_id)}[outcome]
    outcome_kind = chosen.kind
    test_start = "(SELECT CAST(min(exposure_date) AS DATE) FROM test)"
    test_merged, test_rows, selected = [], [], []
    kinds: dict[str, str] = {}
    for i, name in enumerate(attributes):
        stored, kind, source = (str(by_name.at[name, k]) for k in ("stored", "kind", "source"))
        kinds[name] = kind
        if source == "test":
            value = _value_sql("test", stored, kind, "NULL")
            test_merged.append(f", arg_min({value}, _u_row) AS _a{i}")
            test_rows.append(f", {value} AS _a{i}")
            selected.append(f", m._a{i} AS {quote_ident(name)}")
        else:
            selected.append(f", {_value_sql('c', stored, kind, test_start)} AS {quote_ident(name)}")
    sql = _UNITS_SQL.format(
        load_id=quote_ident(LOAD_ID_COLUMN),
        outcome_merge=chosen.customer_value(),
        outcome_row=chosen.unit_value(),
        test_merged="".join(test_merged),
        test_rows="".join(test_rows),
        attributes="".join(selected),
    )
    frame = con.execute(sql, bound).df()
    notes = []
    unit = "customer" if customers and not rows_without else "row" if not customers else "customer or row"
    if crossover:
        notes.append(
            f"{crossover:,} customers were in more than one variant of the test and are left out (as on the "
            "Experiments page)."
        )
    if merged_rows:
        notes.append(
            f"{merged_rows:,} rows belong to customers with more than one row in their arm: each customer "
            "counts once (the outcome over all their rows, the attributes of their first row)."
        )
    missing = int(frame["_u_outcome_missing"].sum()) if len(frame) else 0
    if missing:
        notes.append(f"{missing:,} units have no {outcome} value; it counts as 0.")
    if rows_without:
        rejected = con.execute(
            _REJECTED_SQL.format(load_id=quote_ident(LOAD_ID_COLUMN)), {"experiment": experiment_id}
        ).fetchone()[0]
        if rejected:
            notes.append(
                "Some rows of the loaded file were rejected at load time, so `row` counts the loaded rows: "
                "after the first rejected row it is smaller than the line in the file by the rows rejected "
                "before it."
            )
    frame = frame.drop(columns="_u_outcome_missing")
    return UnitData(frame, outcome, outcome_kind, kinds, unit, tuple(notes))


# ---------------------------------------------------------------------------------------------- checks


def _smd(treated: np.ndarray, control: np.ndarray) -> float:
    treated, control = treated[~np.isnan(treated)], control[~np.isnan(control)]
    if len(treated) < 2 or len(control) < 2:
        return math.nan
    spread = math.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2)
    diff = treated.mean() - control.mean()
    return 0.0 if spread == 0 and diff == 0 else diff / spread if spread > 0 else math.inf


def attribute_balance(
    frame: pd.DataFrame, kinds: dict[str, str], limit: float = BALANCE_LIMIT
) -> BalanceCheck:
    """Standardised mean difference of each attribute between the arms: numbers on their values, a category
    on each level's share (the largest level is reported). ``|smd| > limit`` flags a column that is not
    balanced: recorded after the send, or a test that was not randomised."""
    treated = frame["_u_treated"].to_numpy(bool)
    records = []
    for name, kind in kinds.items():
        values = frame[name]
        if kind == "category":
            level_codes = values.fillna("(blank)").astype(str)
            worst, worst_level = 0.0, ""
            for level in level_codes.value_counts().index[:MAX_LEVELS]:
                hit = (level_codes == level).to_numpy(float)
                smd = _smd(hit[treated], hit[~treated])
                if not math.isnan(smd) and abs(smd) >= abs(worst):
                    worst, worst_level = smd, level
            records.append({"column": name, "kind": kind, "detail": f"share {worst_level}", "smd": worst})
        else:
            numbers = values.to_numpy(float)
            records.append(
                {
                    "column": name,
                    "kind": kind,
                    "detail": "mean",
                    "smd": _smd(numbers[treated], numbers[~treated]),
                }
            )
    table = pd.DataFrame(records, columns=["column", "kind", "detail", "smd"])
    flagged = tuple(table.loc[table["smd"].abs() > limit, "column"]) if len(table) else ()
    return BalanceCheck(table, limit, flagged)


def uplift_checks(
    units: UnitData,
    treatment: str,
    control: str,
    shares: tuple[float, float] | None = None,
    min_units: int = MIN_UNITS_PER_ARM,
    min_outcomes: int = MIN_OUTCOMES_PER_ARM,
) -> UpliftChecks:
    """The checks before modelling: enough units and outcomes per arm, no sample-ratio mismatch against the
    intended split (``shares`` = treatment, control; equal by default), attributes balanced between arms."""
    from engine.experiments import srm_check

    frame = units.frame
    treated = frame["_u_treated"].to_numpy(bool)
    outcome = frame["_u_outcome"].to_numpy(float)
    n_t, n_c = int(treated.sum()), int((~treated).sum())
    y_t, y_c = int((outcome[treated] != 0).sum()), int((outcome[~treated] != 0).sum())
    srm = srm_check([n_t, n_c], list(shares) if shares else None, SRM_THRESHOLD, [treatment, control])
    check = attribute_balance(frame, units.kinds)
    problems = []
    if n_t < min_units or n_c < min_units:
        problems.append(
            f"Too few units to find who responds: {n_t:,} in {treatment!r} and {n_c:,} in {control!r}; at least "
            f"{min_units:,} in each arm are needed (so that each tenth of the list holds about {min_units // 10} "
            "per arm)."
        )
    elif y_t < min_outcomes or y_c < min_outcomes:
        problems.append(
            f"Too few outcomes: {y_t:,} units of {treatment!r} and {y_c:,} of {control!r} have a non-zero "
            f"{units.outcome}; at least {min_outcomes} in each arm are needed."
        )
    if srm.mismatch:
        problems.append(
            f"The split between {treatment!r} ({n_t:,}) and {control!r} ({n_c:,}) is not the intended one "
            f"(sample-ratio mismatch, p = {srm.p_value:.2g}): the assignment was not random or units went "
            "missing, so differences between the arms cannot be trusted. Fix the test data first."
        )
    if check.unbalanced:
        listed = ", ".join(
            f"{row.column} ({row.smd:+.2f})"
            for row in check.table.itertuples()
            if row.column in check.unbalanced
        )
        problems.append(
            f"These attributes differ between the arms by more than {check.limit} standard deviations: {listed}. "
            "A column recorded after the send (a result) or a test that was not randomised would do that: "
            "leave them out."
        )
    if not units.kinds:
        problems.append(
            "Choose at least one attribute: uplift is told apart by what differs between customers."
        )
    return UpliftChecks(
        passed=not problems,
        message=" ".join(problems)
        or (
            f"The test looks randomised (split as intended, p = {srm.p_value:.2g}; every attribute within "
            f"{check.limit} standard deviations between arms) and is large enough ({n_t:,} and {n_c:,} units)."
        ),
        treated_units=n_t,
        control_units=n_c,
        treated_with_outcome=y_t,
        control_with_outcome=y_c,
        srm_p_value=srm.p_value,
        srm_mismatch=srm.mismatch,
        balance=check,
        min_units_per_arm=min_units,
        min_outcomes_per_arm=min_outcomes,
        notes=units.notes,
    )


def suggest_uplift_attributes(
    con: Connection,
    experiment_id: str,
    treatment: str,
    control: str,
    outcome: str,
    columns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The suggested attributes with the evidence for each choice: ``column, source, kind, use, reason``.

    Left out: the outcome itself, columns named like a result (visit, spend ...), columns that differ
    between the arms (|smd| > 0.1: recorded after the send), nearly empty columns and identifier-like
    categories (almost one value per unit).
    """
    columns = uplift_columns(con, experiment_id) if columns is None else columns
    candidates = columns[columns["column"] != outcome]
    smd: dict[str, float] = {}
    usable = candidates[candidates["filled"] >= MIN_FILLED_SHARE]
    if len(usable):
        units = uplift_units(con, experiment_id, treatment, control, outcome, list(usable["column"]), columns)
        table = attribute_balance(units.frame, units.kinds).table
        smd = dict(zip(table["column"], table["smd"], strict=True))
        unit_count = len(units.frame)
    else:
        unit_count = 0
    records = []
    for row in candidates.itertuples():
        use, reason = True, ""
        value = smd.get(row.column, math.nan)
        if row.column in ("converted", "revenue"):
            use, reason = False, "a result of the test (recorded after the send)"
        elif row.reads_as_outcome:
            use, reason = False, "named like a result recorded after the send"
        elif row.filled < MIN_FILLED_SHARE:
            use, reason = False, f"only {row.filled:.0%} of rows have a value"
        elif row.kind == "category" and unit_count and row.levels > max(MAX_LEVELS * 5, 0.5 * unit_count):
            use, reason = False, f"{row.levels:,} different values: an identifier, not an attribute"
        elif not math.isnan(value) and abs(value) > BALANCE_LIMIT:
            use, reason = False, f"differs between arms ({value:+.2f} sd): looks recorded after the send"
        else:
            reason = "balanced between arms" + (f" ({value:+.2f} sd)" if not math.isnan(value) else "")
        records.append(
            {
                "column": row.column,
                "source": row.source,
                "kind": row.kind,
                "use": use,
                "smd": value,
                "reason": reason,
            }
        )
    frame = pd.DataFrame(records, columns=["column", "source", "kind", "use", "smd", "reason"])
    keep = frame.index[frame["use"]][MAX_ATTRIBUTES:]
    frame.loc[keep, ["use", "reason"]] = [False, f"more than {MAX_ATTRIBUTES} attributes"]
    return frame


# ---------------------------------------------------------------------------------------------- models


def uplift_features(frame: pd.DataFrame, kinds: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as they are (missing stays NaN: gradient boosting routes it), categories as codes of their
    most frequent ``MAX_LEVELS`` levels (the rest pooled). Returns (X, categorical mask)."""
    columns, categorical = [], []
    for name, kind in kinds.items():
        if kind == "category":
            values = frame[name].astype("string")
            top = values.value_counts().index[:MAX_LEVELS]
            kept = values.where(values.isin(top), "(other)").where(values.notna())
            codes = pd.Categorical(kept, categories=sorted(kept.dropna().unique())).codes.astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
            categorical.append(True)
        else:
            columns.append(frame[name].to_numpy(float))
            categorical.append(False)
    if not columns:
        return np.zeros((len(frame), 0)), np.zeros(0, bool)
    return np.column_stack(columns), np.asarray(categorical, bool)


class UpliftModel:
    """Cross-fitted uplift scores, scikit-learn style.

    ``fit(X, treated, y)`` splits the rows into ``folds`` parts (stratified by arm and outcome), fits every
    learner on all parts but one and scores the held-out part: ``oof_[learner]`` holds each row's uplift from
    models that never saw it, ``uplift_`` the chosen learner's, ``fold_`` the part each row was held out in.
    ``repeats`` > 1 averages scores over several different splits (each score still out of fold).

    Parameters
    ----------
    learner : "x", "t" or "transformed" (see ``LEARNERS``); all three are fitted, this one is ``uplift_``.
    binary : the outcome is 0/1 (classifiers for the outcome models) rather than a number.
    max_leaf_nodes, min_leaf_share, max_iter, learning_rate, l2_regularization : the gradient boosting
        settings of every model (``min_leaf_share`` of the rows a model is fitted on, at least 20, per leaf).
    threads : OpenMP threads per model (``None``: all cores). One by default: these small models gain little
        from a second thread, and on a busy 2-core machine two spinning threads made one 20,000-row fit 23x
        slower (4.5 s against 0.2 s, measured while other processes used both cores).
    n_jobs : parts fitted at the same time, one Python thread each (scikit-learn's boosting releases the
        GIL while it works); ``None``: one per core.
    """

    def __init__(
        self,
        learner: str = DEFAULT_LEARNER,
        binary: bool = True,
        folds: int = DEFAULT_FOLDS,
        repeats: int = 1,
        max_leaf_nodes: int = 4,
        min_leaf_share: float = 0.05,
        max_iter: int = 100,
        learning_rate: float = 0.075,
        l2_regularization: float = 1.0,
        random_state: int | None = DEFAULT_SEED,
        threads: int | None = 1,
        n_jobs: int | None = 2,
    ):
        self.learner = learner
        self.binary = binary
        self.folds = folds
        self.repeats = repeats
        self.max_leaf_nodes = max_leaf_nodes
        self.min_leaf_share = min_leaf_share
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.threads = threads
        self.n_jobs = n_jobs

    def _booster(self, kind: str, rows: int, categorical: np.ndarray, seed: int):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if kind == "classifier" else HistGradientBoostingRegressor
        return cls(
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=max(20, int(self.min_leaf_share * rows)),
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            l2_regularization=self.l2_regularization,
            categorical_features=categorical if categorical.any() else None,
            early_stopping=False,
            random_state=seed,
        )

    def _outcome_model(self, X, y, categorical, seed):
        kind = "classifier" if self.binary and len(np.unique(y)) == 2 else "regressor"
        model = self._booster(kind, len(y), categorical, seed).fit(X, y)
        if kind == "classifier":
            return lambda Z: model.predict_proba(Z)[:, 1]
        if self.binary:  # a single class in this part: a constant
            constant = float(y.mean()) if len(y) else 0.0
            return lambda Z: np.full(len(Z), constant)
        return model.predict

    def _fit_part(self, X, t, y, X_out, categorical, seed) -> dict[str, np.ndarray]:
        treated = t == 1
        mu1 = self._outcome_model(X[treated], y[treated], categorical, seed)
        mu0 = self._outcome_model(X[~treated], y[~treated], categorical, seed)
        out = {"t": mu1(X_out) - mu0(X_out)}
        share = float(treated.mean())
        effect1 = y[treated] - mu0(X[treated])
        effect0 = mu1(X[~treated]) - y[~treated]
        tau1 = self._booster("regressor", len(effect1), categorical, seed).fit(X[treated], effect1)
        tau0 = self._booster("regressor", len(effect0), categorical, seed).fit(X[~treated], effect0)
        out["x"] = share * tau0.predict(X_out) + (1 - share) * tau1.predict(X_out)
        transformed = y * (t - share) / (share * (1 - share))
        model = self._booster("regressor", len(y), categorical, seed).fit(X, transformed)
        out["transformed"] = model.predict(X_out)
        return out

    def fit(self, X, treated, y, categorical=None, progress: ProgressFn | None = None) -> UpliftModel:
        # The OpenMP runtime must be loaded before a limit is set, or the limit misses it.
        import sklearn.ensemble  # noqa: F401
        from sklearn.model_selection import StratifiedKFold
        from threadpoolctl import threadpool_limits

        if self.learner not in LEARNERS:
            raise SchemaError(
                f"Unknown uplift learner {self.learner!r}: choose one of {', '.join(LEARNERS)}."
            )
        X = np.asarray(X, float)
        t = np.asarray(treated).astype(int)
        y = np.asarray(y, float)
        categorical = np.zeros(X.shape[1], bool) if categorical is None else np.asarray(categorical, bool)
        rng = np.random.default_rng(self.random_state)
        strata = t * 2 + (y != 0)
        jobs = []
        for repeat in range(self.repeats):
            seed = int(rng.integers(0, 2**31 - 1))
            splitter = StratifiedKFold(self.folds, shuffle=True, random_state=seed)
            for part, (fit_rows, held_out) in enumerate(splitter.split(X, strata)):
                jobs.append((repeat, part, fit_rows, held_out, seed))

        def work(job) -> dict[str, np.ndarray]:
            _, _, fit_rows, held_out, seed = job
            # the limit is set in each worker thread: OpenMP keeps a thread count per calling thread
            with threadpool_limits(limits=self.threads, user_api="openmp"):
                return self._fit_part(X[fit_rows], t[fit_rows], y[fit_rows], X[held_out], categorical, seed)

        workers = max(1, min(self.n_jobs or os.cpu_count() or 1, len(jobs)))
        found: dict[int, dict[str, np.ndarray]] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(work, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):  # progress is reported from the calling thread
                found[futures[future]] = future.result()
                if progress:
                    progress(len(found) / len(jobs), f"Fitted part {len(found)} of {len(jobs)}")
        scores = {name: np.zeros(len(y)) for name in LEARNERS}
        fold_of = np.zeros(len(y), int)
        # summed in a fixed order, whichever part finished first: the same input gives the same scores
        for i, (repeat, part, _, held_out, _) in enumerate(jobs):
            for name, values in found[i].items():
                scores[name][held_out] += values / self.repeats
            if repeat == 0:
                fold_of[held_out] = part + 1
        self.oof_ = scores
        self.uplift_ = scores[self.learner]
        self.fold_ = fold_of
        return self


# ---------------------------------------------------------------------------------------------- evaluation


def _ranked(uplift: np.ndarray) -> np.ndarray:
    """Order from highest to lowest predicted uplift; ties keep the units' order."""
    return np.argsort(-np.asarray(uplift, float), kind="stable")


def _cumulative(t: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative (treated count, treated outcome, control count, control outcome) down the ranked list;
    ``weights`` has one row per bootstrap replicate (or a single row of ones)."""
    treated = weights * t
    control = weights * (1 - t)
    return (
        np.cumsum(treated, axis=1),
        np.cumsum(treated * y, axis=1),
        np.cumsum(control, axis=1),
        np.cumsum(control * y, axis=1),
    )


def _curves(nt, yt, nc, yc) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve (extra outcomes among the top k: observed uplift x k) and Qini curve (Radcliffe)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_t = np.where(nt > 0, yt / np.where(nt > 0, nt, 1), 0.0)
        mean_c = np.where(nc > 0, yc / np.where(nc > 0, nc, 1), 0.0)
        both = (nt > 0) & (nc > 0)
        size = nt + nc
        uplift_curve = np.where(both, (mean_t - mean_c) * size, 0.0)
        qini = np.where(nc > 0, yt - yc * nt / np.where(nc > 0, nc, 1), 0.0)
    return uplift_curve, qini


def _areas(uplift_curve: np.ndarray, qini: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Qini coefficient (area between the Qini curve and the random line) and AUUC, per unit."""
    n = uplift_curve.shape[-1]
    share = np.arange(1, n + 1) / n
    qini_area = (qini - share * qini[..., -1:]).mean(axis=-1) / n
    auuc = uplift_curve.mean(axis=-1) / n
    return qini_area, auuc


def _bootstrap_weights(t: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling weights stratified by arm: each arm keeps its size."""
    weights = np.zeros((replicates, len(t)))
    for arm in (0, 1):
        members = np.flatnonzero(t == arm)
        if len(members) == 0:
            continue
        draws = rng.integers(0, len(members), size=(replicates, len(members)))
        for r in range(replicates):
            weights[r, members] = np.bincount(draws[r], minlength=len(members))
    return weights


def evaluate_uplift(
    uplift: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    top_share: float = TARGET_SHARE,
    random_state: int | None = DEFAULT_SEED,
    confidence: float = 0.95,
) -> UpliftEvaluation:
    """Qini and uplift curves, deciles, Qini coefficient and AUUC with bootstrap intervals, for scores that
    were not fitted on these units (out-of-fold scores).

    ``beats_random`` is True when the Qini coefficient's interval lies above 0.
    """
    scores = np.asarray(uplift, float)
    order = _ranked(scores)
    t = np.asarray(treated).astype(float)[order]
    y = np.asarray(outcome, float)[order]
    n = len(y)
    if n == 0 or t.sum() == 0 or t.sum() == n:
        raise InsufficientDataError("Uplift needs units in both arms.", needed=2, found=int(n > 0))
    nt, yt, nc, yc = (a[0] for a in _cumulative(t, y, np.ones((1, n))))
    uplift_curve, qini = _curves(nt, yt, nc, yc)
    qini_area, auuc = (float(v) for v in _areas(uplift_curve, qini))
    top_k = max(1, int(round(top_share * n)))
    total = uplift_curve[-1]
    kept = uplift_curve[top_k - 1] / total if total != 0 else math.nan

    rng = np.random.default_rng(random_state)
    alpha = (1 - confidence) / 2
    boot_qini, boot_auuc, boot_kept, boot_avg, boot_curve = [], [], [], [], []
    grid = np.unique(np.clip(np.round(np.linspace(0, 1, 101) * n).astype(int), 1, n)) - 1
    # small blocks of replicates stay in cache: 200 replicates of 64,000 units took 2.2 s of CPU in blocks
    # of 62 and 0.7 s in blocks of 15 (the cumulative sums are memory bound)
    chunk = max(1, min(bootstrap, 1_000_000 // max(n, 1)))
    remaining = bootstrap
    while remaining > 0:
        size = min(chunk, remaining)
        remaining -= size
        weights = _bootstrap_weights(t, size, rng)
        b_nt, b_yt, b_nc, b_yc = _cumulative(t, y, weights)
        b_uplift, b_qini = _curves(b_nt, b_yt, b_nc, b_yc)
        area_q, area_u = _areas(b_uplift, b_qini)
        boot_qini.append(area_q)
        boot_auuc.append(area_u)
        with np.errstate(divide="ignore", invalid="ignore"):
            boot_kept.append(b_uplift[:, top_k - 1] / b_uplift[:, -1])
        boot_avg.append(b_uplift[:, -1] / n)
        boot_curve.append(b_uplift[:, grid])
    q = np.concatenate(boot_qini)
    a = np.concatenate(boot_auuc)
    k = np.concatenate(boot_kept)
    avg = np.concatenate(boot_avg)
    curve_boot = np.concatenate(boot_curve)

    def interval(values: np.ndarray) -> tuple[float, float]:
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return math.nan, math.nan
        low, high = np.quantile(values, [alpha, 1 - alpha])
        return float(low), float(high)

    q_low, q_high = interval(q)
    a_low, a_high = interval(a)
    k_low, k_high = interval(k) if math.isfinite(kept) else (math.nan, math.nan)
    avg_low, avg_high = interval(avg)
    curve_low = np.quantile(curve_boot, alpha, axis=0)
    curve_high = np.quantile(curve_boot, 1 - alpha, axis=0)
    share = (grid + 1) / n
    curve = pd.DataFrame(
        {
            "share": share,
            "units": grid + 1,
            "incremental": uplift_curve[grid],
            "incremental_low": curve_low,
            "incremental_high": curve_high,
            "random": share * total,
            "qini": qini[grid],
            "qini_random": share * qini[-1],
        }
    )
    curve = pd.concat(
        [pd.DataFrame([dict.fromkeys(curve.columns, 0.0)]).astype(curve.dtypes.to_dict()), curve],
        ignore_index=True,
    )
    deciles = _deciles(scores[order], t, y, confidence)
    average = total / n
    top_decile_ratio = float(deciles["uplift"].iloc[0] / average) if average else math.nan
    top_mean = (yt[top_k - 1] / nt[top_k - 1] if nt[top_k - 1] else math.nan) - (
        yc[top_k - 1] / nc[top_k - 1] if nc[top_k - 1] else math.nan
    )
    return UpliftEvaluation(
        curve=curve,
        deciles=deciles,
        average_uplift=float(average),
        average_uplift_low=avg_low,
        average_uplift_high=avg_high,
        treated_mean=float(yt[-1] / nt[-1]),
        control_mean=float(yc[-1] / nc[-1]),
        qini_coefficient=qini_area,
        qini_low=q_low,
        qini_high=q_high,
        auuc=auuc,
        auuc_low=a_low,
        auuc_high=a_high,
        auuc_random=float(total / n / 2),
        top_share=top_share,
        kept_share=float(kept),
        kept_low=k_low,
        kept_high=k_high,
        top_decile_ratio=top_decile_ratio,
        top_share_ratio=float(top_mean / average) if average else math.nan,
        beats_random=bool(q_low > 0),
        top_decile_beats_average=bool(deciles["uplift_low"].iloc[0] > average),
    )


def uplift_deciles(uplift: np.ndarray) -> np.ndarray:
    """Decile by predicted uplift, 1 = the tenth with the highest, by rank (ties keep the units' order)."""
    order = _ranked(uplift)
    deciles = np.empty(len(order), int)
    deciles[order] = np.arange(len(order)) * 10 // max(len(order), 1) + 1
    return deciles


def _deciles(sorted_scores: np.ndarray, t: np.ndarray, y: np.ndarray, confidence: float) -> pd.DataFrame:
    from scipy import stats

    n = len(y)
    decile = np.arange(n) * 10 // n + 1
    frame = pd.DataFrame({"decile": decile, "t": t, "y": y, "score": sorted_scores})
    z = float(stats.norm.isf((1 - confidence) / 2))
    records = []
    average = y[t == 1].mean() - y[t == 0].mean()
    for number, part in frame.groupby("decile", sort=True):
        treated = part.loc[part["t"] == 1, "y"].to_numpy()
        control = part.loc[part["t"] == 0, "y"].to_numpy()
        if len(treated) and len(control):
            diff = treated.mean() - control.mean()
            se = math.sqrt(
                (treated.var(ddof=1) if len(treated) > 1 else 0) / len(treated)
                + (control.var(ddof=1) if len(control) > 1 else 0) / len(control)
            )
        else:
            diff, se = math.nan, math.nan
        records.append(
            {
                "decile": int(number),
                "units": len(part),
                "treated": len(treated),
                "control": len(control),
                "treated_mean": treated.mean() if len(treated) else math.nan,
                "control_mean": control.mean() if len(control) else math.nan,
                "uplift": diff,
                "uplift_low": diff - z * se,
                "uplift_high": diff + z * se,
                "predicted": float(part["score"].mean()),
                "vs_average": diff / average if average else math.nan,
            }
        )
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class TargetingPlan:
    """What sending to the top ``share`` of the list by predicted uplift is expected to bring.

    ``incremental`` (+ interval) are extra outcomes among the units sent to, measured on the test;
    ``profit = value_per_outcome * incremental - cost_per_send * sent``; ``everyone_profit`` sends to all.
    """

    share: float
    sent: int
    incremental: float
    incremental_low: float
    incremental_high: float
    cost: float
    value: float
    profit: float
    everyone_profit: float
    best_share: float
    best_profit: float


def targeting_plan(
    result: UpliftResult, share: float, cost_per_send: float = 0.0, value_per_outcome: float = 1.0
) -> TargetingPlan:
    """Expected extra outcomes, cost and profit of sending to the top ``share`` (0..1) of the ranked list."""
    if result.evaluation is None:
        raise InsufficientDataError(result.checks.message)
    if not 0 <= share <= 1:
        raise SchemaError(f"The share to send to must be between 0% and 100%, not {share:.0%}.")
    curve = profit_curve(result, cost_per_send, value_per_outcome)
    row = curve.iloc[int(np.abs(curve["share"] - share).argmin())]
    best = curve.iloc[int(curve["profit"].to_numpy().argmax())]
    return TargetingPlan(
        share=float(row["share"]),
        sent=int(row["units"]),
        incremental=float(row["incremental"]),
        incremental_low=float(row["incremental_low"]),
        incremental_high=float(row["incremental_high"]),
        cost=float(row["cost"]),
        value=float(row["value"]),
        profit=float(row["profit"]),
        everyone_profit=float(curve["profit"].iloc[-1]),
        best_share=float(best["share"]),
        best_profit=float(best["profit"]),
    )


def profit_curve(
    result: UpliftResult, cost_per_send: float = 0.0, value_per_outcome: float = 1.0
) -> pd.DataFrame:
    """Per percent of the ranked list: share, units, incremental (+ interval), cost, value, profit."""
    if result.evaluation is None:
        raise InsufficientDataError(result.checks.message)
    if cost_per_send < 0 or value_per_outcome < 0:
        raise SchemaError("The cost per send and the value per outcome cannot be negative.")
    curve = result.evaluation.curve[
        ["share", "units", "incremental", "incremental_low", "incremental_high"]
    ].copy()
    curve["cost"] = curve["units"] * cost_per_send
    curve["value"] = curve["incremental"] * value_per_outcome
    curve["profit"] = curve["value"] - curve["cost"]
    return curve


# ---------------------------------------------------------------------------------------------- profiles

_PROFILE_BY_DECILE_SQL = """
SELECT u.decile, {aggregates}
FROM {scores} AS u
GROUP BY u.decile
ORDER BY u.decile
"""


def decile_profiles(
    con: Connection, scores_table: str, kinds: dict[str, str], top: int = PROFILE_ATTRIBUTES
) -> pd.DataFrame:
    """Mean (numbers) or share (a category's most telling level) of the attributes by predicted-uplift decile,
    for the ``top`` attributes that differ most between the first and the last decile (by standardised
    difference). Long form: ``attribute, label, decile, value, spread``; ``spread`` orders attributes.

    ``scores_table`` is a stored result holding ``decile`` and the attribute columns.
    """
    if not kinds:
        return pd.DataFrame(columns=["attribute", "label", "decile", "value", "spread"])
    aggregates, labels = [], []
    for i, (name, kind) in enumerate(kinds.items()):
        col = f"u.{quote_ident(name)}"
        if kind == "category":
            aggregates.append(f"histogram({col}) AS _h{i}")
            aggregates.append(f"count(*) AS _n{i}")
        else:
            aggregates.append(f"avg({col}) AS _m{i}, stddev_samp({col}) AS _s{i}")
        labels.append((i, name, kind))
    frame = con.execute(
        _PROFILE_BY_DECILE_SQL.format(aggregates=", ".join(aggregates), scores=quote_ident(scores_table))
    ).df()
    overall_sd = con.execute(
        "SELECT "
        + ", ".join(f"stddev_samp({quote_ident(n)}) AS _sd{i}" for i, n, k in labels if k != "category")
        + f" FROM {quote_ident(scores_table)}"
        if any(k != "category" for _, _, k in labels)
        else "SELECT 1"
    ).df()
    records = []
    first, last = frame["decile"].min(), frame["decile"].max()
    for i, name, kind in labels:
        if kind == "category":
            shares_by_decile = {}
            for decile, hist, count in zip(frame["decile"], frame[f"_h{i}"], frame[f"_n{i}"], strict=True):
                shares_by_decile[decile] = {k: v / count for k, v in (hist or {}).items()}
            levels = set().union(*(s.keys() for s in shares_by_decile.values()))
            best_level, best_spread = None, -1.0
            for level in levels:
                p1 = shares_by_decile.get(first, {}).get(level, 0.0)
                p10 = shares_by_decile.get(last, {}).get(level, 0.0)
                pooled = math.sqrt(max((p1 * (1 - p1) + p10 * (1 - p10)) / 2, 1e-12))
                spread = abs(p1 - p10) / pooled
                if spread > best_spread:
                    best_level, best_spread = level, spread
            if best_level is None:
                continue
            for decile in frame["decile"]:
                records.append(
                    {
                        "attribute": name,
                        "label": f"{name} = {best_level} (share)",
                        "decile": int(decile),
                        "value": shares_by_decile.get(decile, {}).get(best_level, 0.0),
                        "spread": best_spread,
                    }
                )
        else:
            means = frame.set_index("decile")[f"_m{i}"]
            sd = overall_sd.get(f"_sd{i}")
            sd_value = float(sd.iloc[0]) if sd is not None and pd.notna(sd.iloc[0]) else math.nan
            spread = (
                abs(means.get(first, math.nan) - means.get(last, math.nan)) / sd_value if sd_value else 0.0
            )
            label = f"{name} (share)" if kind == "binary" else f"{name} (mean)"
            for decile, value in means.items():
                records.append(
                    {
                        "attribute": name,
                        "label": label,
                        "decile": int(decile),
                        "value": float(value) if pd.notna(value) else math.nan,
                        "spread": 0.0 if math.isnan(spread) else float(spread),
                    }
                )
    out = pd.DataFrame(records, columns=["attribute", "label", "decile", "value", "spread"])
    if out.empty:
        return out
    ranking = out.groupby("attribute")["spread"].first().sort_values(ascending=False)
    chosen = list(ranking.index[:top])
    out = out[out["attribute"].isin(chosen)]
    out["order"] = out["attribute"].map({name: i for i, name in enumerate(chosen)})
    return out.sort_values(["order", "decile"]).drop(columns="order").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- analysis


# How a 0/1 outcome's events are called in a sentence ("extra conversions"); others add an "s".
OUTCOME_EVENTS: dict[str, str] = {
    "converted": "conversions",
    "conversion": "conversions",
    "purchased": "purchases",
    "clicked": "clicks",
    "opened": "opens",
    "responded": "responses",
    "churned": "churns",
}


def outcome_words(outcome: str, kind: str) -> str:
    """How to speak of the extra outcomes: 'extra visits', 'extra conversions', 'extra spend'."""
    name = outcome.replace("_", " ")
    if kind == "binary":
        return "extra " + OUTCOME_EVENTS.get(name.lower(), name if name.endswith("s") else f"{name}s")
    return f"extra {name}"


def outcome_event(outcome: str, kind: str) -> str:
    """One outcome in words: 'conversion', 'visit', 'unit of spend'."""
    if kind != "binary":
        return f"unit of {outcome.replace('_', ' ')}"
    plural = outcome_words(outcome, kind).removeprefix("extra ")
    return plural[:-1] if plural.endswith("s") else plural


def effect_words(evaluation: UpliftEvaluation, outcome: str, kind: str) -> str:
    """The test's average effect in words, with its 95% interval."""
    low, high = evaluation.average_uplift_low, evaluation.average_uplift_high
    if kind == "binary":
        return (
            f"{evaluation.average_uplift * 100:+.2f} percentage points of {outcome} "
            f"({evaluation.treated_mean:.2%} against {evaluation.control_mean:.2%}; 95% interval "
            f"{low * 100:+.2f} to {high * 100:+.2f})"
        )
    return (
        f"{evaluation.average_uplift:+,.4g} {outcome} per unit ({evaluation.treated_mean:,.4g} against "
        f"{evaluation.control_mean:,.4g}; 95% interval {low:+,.4g} to {high:+,.4g})"
    )


def _verdict(evaluation: UpliftEvaluation, outcome: str, kind: str, treatment: str) -> tuple[str, str]:
    """(verdict sentence, headline) in plain words."""
    share = evaluation.top_share
    extra = outcome_words(outcome, kind)
    if not evaluation.beats_random and evaluation.top_decile_beats_average:
        first = evaluation.deciles.iloc[0]
        return (
            "Over the whole list, targeting by predicted uplift does no better than random (Qini coefficient "
            f"{evaluation.qini_coefficient:.4g}, 95% interval {evaluation.qini_low:.4g} to "
            f"{evaluation.qini_high:.4g}), but the top tenth responds {evaluation.top_decile_ratio:.2f} times as "
            f"much as the average ({first['uplift']:+.4g} against {evaluation.average_uplift:+.4g} {outcome} per "
            f"unit; 95% interval {first['uplift_low']:+.4g} to {first['uplift_high']:+.4g}). Below the top tenth "
            f"{treatment!r} works about equally on everyone.",
            "Only the top tenth stands out",
        )
    if not evaluation.beats_random:
        interval = (
            "which lies below 0: the ranking is worse than random"
            if evaluation.qini_high < 0
            else "which includes 0"
        )
        return (
            "Targeting by predicted uplift does no better than random on held-out data "
            f"(Qini coefficient {evaluation.qini_coefficient:.4g}, 95% interval {evaluation.qini_low:.4g} to "
            f"{evaluation.qini_high:.4g}, {interval}): as far as these attributes tell, {treatment!r} "
            "works about equally on everyone.",
            "Targeting does not beat treating everyone alike",
        )
    if evaluation.average_uplift > 0 and math.isfinite(evaluation.kept_share):
        kept = (
            f"Sending only to the top {share:.0%} by predicted uplift keeps {evaluation.kept_share:.0%} "
            f"({evaluation.kept_low:.0%}-{evaluation.kept_high:.0%}) of the {extra} at {share:.0%} of the cost"
        )
        ratio = evaluation.top_decile_ratio
        tail = (
            f"; the top tenth responds {ratio:.2f} times as much as the average."
            if math.isfinite(ratio)
            else "."
        )
        return kept + tail, f"Top {share:.0%} keeps {evaluation.kept_share:.0%} of the {extra}"
    return (
        f"Predicted uplift ranks units better than random (Qini coefficient {evaluation.qini_coefficient:.4g}, "
        f"95% interval {evaluation.qini_low:.4g} to {evaluation.qini_high:.4g}), but {treatment!r} brings no "
        f"clear {extra} on average: send only to the top deciles whose observed uplift is above zero.",
        "Some units respond, on average the send does not pay",
    )


def _recommendation(evaluation: UpliftEvaluation, outcome: str, kind: str, treatment: str) -> tuple[str, str]:
    """(level, sentence): what to do when targeting is or is not supported."""
    extra = outcome_words(outcome, kind)
    low, high = evaluation.average_uplift_low, evaluation.average_uplift_high
    effect = effect_words(evaluation, outcome, kind)
    if not evaluation.beats_random and evaluation.top_decile_beats_average:
        rest = "send to the rest too if it pays on average" if low > 0 else "the rest shows no clear effect"
        return (
            "top tenth",
            f"Send {treatment!r} to the top tenth of the list first: it responds clearly more than the average "
            f"({effect} on average); below it the ranking is no better than random, so {rest}.",
        )
    if evaluation.beats_random:
        return (
            "target",
            f"Send {treatment!r} to the top of the list: predicted uplift finds who brings the {extra}. How far down "
            "the list to go depends on the cost of a send and the value of an outcome.",
        )
    if low > 0:
        return (
            "everyone",
            f"Treat everyone (or no one, if a send costs more than it brings): {treatment!r} works on average, "
            f"{effect}, and no group can be told apart as responding more.",
        )
    if high < 0:
        return (
            "no one",
            f"Treat no one: {treatment!r} does harm on average, {effect}, and no group responds better.",
        )
    return (
        "unclear",
        f"Neither targeting nor sending to everyone is supported: the test shows no clear average effect "
        f"({effect}). Treat everyone only if a send is nearly free; a bigger test would tell.",
    )


def _params(
    experiment_id: str,
    treatment: str,
    control: str,
    outcome: str,
    attributes: Sequence[str],
    learner: str,
    folds: int,
    seed: int,
) -> dict:
    return {
        "experiment_id": experiment_id,
        "treatment": treatment,
        "control": control,
        "outcome": outcome,
        "attributes": list(attributes),
        "learner": learner,
        "folds": folds,
        "seed": seed,
    }


def analyse_uplift(
    con: Connection,
    experiment_id: str,
    treatment: str,
    control: str | None = None,
    outcome: str = "converted",
    attributes: Sequence[str] | None = None,
    learner: str = DEFAULT_LEARNER,
    folds: int = DEFAULT_FOLDS,
    random_state: int = DEFAULT_SEED,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    progress: ProgressFn | None = None,
    use_stored: bool = True,
) -> UpliftResult:
    """Check the test, fit cross-fitted uplift models, evaluate them and store everything for this data
    version (computed once; later calls read the stored result).

    Parameters
    ----------
    experiment_id, treatment : the test and the variant whose effect is modelled.
    control : the variant it is compared with; ``None`` picks the one named like a control.
    outcome : a 0/1 or numeric column of the test (``uplift_outcomes``).
    attributes : columns to tell units apart; ``None`` takes ``suggest_uplift_attributes``.
    learner : ``x``, ``t`` or ``transformed``: the scores shown and exported (all three are compared).
    progress : called with (fraction done, text) while fitting.

    Returns
    -------
    UpliftResult; when the checks fail it carries ``checks.message`` and no evaluation.
    """
    variants = uplift_variants(con, experiment_id)
    if variants.empty:
        raise SchemaError(f"There is no test {experiment_id!r} in the experiments table.")
    names = variants["variant"].astype(str).tolist()
    if treatment not in names:
        raise SchemaError(f"Test {experiment_id!r} has no variant {treatment!r}: it has {', '.join(names)}.")
    if control is None:
        control, _ = guess_uplift_control(names)
        if control is None or control == treatment:
            others = [n for n in names if n != treatment]
            raise SchemaError(
                f"Which variant of {experiment_id!r} is the control? None is named like one; choose one of "
                f"{', '.join(others)} (--control)."
            )
    if control not in names:
        raise SchemaError(f"Test {experiment_id!r} has no variant {control!r}: it has {', '.join(names)}.")
    columns = uplift_columns(con, experiment_id)
    if attributes is None:
        suggested = suggest_uplift_attributes(con, experiment_id, treatment, control, outcome, columns)
        attributes = suggested.loc[suggested["use"], "column"].tolist()
    attributes = list(dict.fromkeys(attributes))
    params = _params(experiment_id, treatment, control, outcome, attributes, learner, folds, random_state)
    kind, scores_kind = "uplift_summary", "uplift_scores"

    def find():
        if not use_stored:
            return None
        found = store.get_blob(con, kind, params)
        if found is None or (
            found.evaluation is not None and store.result_table(con, scores_kind, params) is None
        ):
            return None
        return found

    def compute():
        return _compute(
            con, params, columns, learner, folds, random_state, bootstrap, progress, scores_kind, kind
        )

    return store.compute_once(con, kind, params, find, compute)


def _compute(
    con: Connection,
    params: dict,
    columns: pd.DataFrame,
    learner: str,
    folds: int,
    random_state: int,
    bootstrap: int,
    progress: ProgressFn | None,
    scores_kind: str,
    kind: str,
) -> UpliftResult:
    started = time.perf_counter()
    experiment_id, treatment, control = params["experiment_id"], params["treatment"], params["control"]
    outcome, attributes = params["outcome"], params["attributes"]
    if progress:
        progress(0.0, "Reading the test")
    units = uplift_units(con, experiment_id, treatment, control, outcome, attributes, columns)
    checks = uplift_checks(units, treatment, control)
    base = dict(
        experiment_id=experiment_id,
        treatment=treatment,
        control=control,
        outcome=outcome,
        outcome_kind=units.outcome_kind,
        unit=units.unit,
        attributes=tuple(attributes),
        learner=learner,
        folds=folds,
        checks=checks,
        notes=units.notes,
        params=params,
    )
    if not checks.passed:
        result = UpliftResult(
            evaluation=None,
            learners=pd.DataFrame(),
            profiles=pd.DataFrame(),
            fit_seconds=time.perf_counter() - started,
            **base,
        )
        store.put_blob(con, kind, params, result)
        return result
    frame = units.frame
    X, categorical = uplift_features(frame, units.kinds)
    treated = frame["_u_treated"].to_numpy(bool)
    y = frame["_u_outcome"].to_numpy(float)

    def fit_progress(fraction: float, text: str) -> None:
        if progress:
            progress(0.05 + 0.8 * fraction, text)

    model = UpliftModel(
        learner=learner, binary=units.outcome_kind == "binary", folds=folds, random_state=random_state
    ).fit(X, treated, y, categorical, fit_progress)
    if progress:
        progress(0.87, "Measuring on held-out units")
    evaluation = evaluate_uplift(model.uplift_, treated, y, bootstrap=bootstrap, random_state=random_state)
    learners = []
    for name, label in LEARNERS.items():
        other = (
            evaluation
            if name == learner
            else evaluate_uplift(
                model.oof_[name], treated, y, bootstrap=max(50, bootstrap // 4), random_state=random_state
            )
        )
        learners.append(
            {
                "learner": name,
                "label": label,
                "chosen": name == learner,
                "qini_coefficient": other.qini_coefficient,
                "qini_low": other.qini_low,
                "qini_high": other.qini_high,
                "top_decile_ratio": other.top_decile_ratio,
                "top_share_ratio": other.top_share_ratio,
                "kept_share": other.kept_share,
            }
        )
    if progress:
        progress(0.95, "Storing the ranked list")
    scored = frame.drop(columns=["_u_treated", "_u_outcome"]).copy()
    scored.insert(2, "treated", treated)
    scored.insert(3, "outcome", y)
    scored.insert(4, "uplift", model.uplift_)
    scored.insert(5, "decile", uplift_deciles(model.uplift_))
    scored.insert(6, "fold", model.fold_)
    table = store.put_result(con, scores_kind, params, scored)
    profiles = decile_profiles(con, table, units.kinds)
    result = UpliftResult(
        evaluation=evaluation,
        learners=pd.DataFrame(learners),
        profiles=profiles,
        fit_seconds=time.perf_counter() - started,
        **base,
    )
    store.put_blob(con, kind, params, result)
    if progress:
        progress(1.0, "Done")
    return result


def uplift_list(con: Connection, result: UpliftResult, share: float | None = None) -> pd.DataFrame:
    """The targeted list: one row per unit, highest predicted uplift first: ``customer_id`` (when the test
    names customers), ``row`` (when some rows name none: the row's number in its file), ``uplift``
    (out of fold), ``decile``. ``share`` keeps the top share of units only."""
    if result.evaluation is None:
        raise InsufficientDataError(result.checks.message)
    table = store.result_table(con, "uplift_scores", result.params)
    if table is None:
        raise EngineError("The stored scores of this analysis are gone (the data changed): run it again.")
    counts = con.execute(
        f'SELECT count(customer_id), count("row"), count(*) FROM {quote_ident(table)}'
    ).fetchone()
    keep = []
    if counts[0]:
        keep.append("customer_id")
    if counts[1]:
        keep.append('"row"')
    limit = "" if share is None else f"LIMIT {int(math.ceil(max(0.0, min(1.0, share)) * counts[2]))}"
    return con.execute(
        f"SELECT {', '.join(keep)}, uplift, decile FROM {quote_ident(table)} "
        f"ORDER BY uplift DESC, _pos {limit}"
    ).df()


def uplift_summary(result: UpliftResult) -> dict:
    """The headline numbers of an analysis as plain data (full precision) for reports and scripts."""
    out = {
        "experiment_id": result.experiment_id,
        "treatment": result.treatment,
        "control": result.control,
        "outcome": result.outcome,
        "outcome_kind": result.outcome_kind,
        "unit": result.unit,
        "attributes": list(result.attributes),
        "learner": result.learner,
        "folds": result.folds,
        "checks_passed": result.checks.passed,
        "checks": result.checks.message,
        "treated_units": result.checks.treated_units,
        "control_units": result.checks.control_units,
        "srm_p_value": result.checks.srm_p_value,
        "verdict": result.verdict,
        "recommendation": result.recommendation,
        "recommendation_level": result.recommendation_level,
        "fit_seconds": result.fit_seconds,
    }
    if result.evaluation is not None:
        ev = result.evaluation
        out.update(
            {
                "average_uplift": ev.average_uplift,
                "average_uplift_low": ev.average_uplift_low,
                "average_uplift_high": ev.average_uplift_high,
                "qini_coefficient": ev.qini_coefficient,
                "qini_low": ev.qini_low,
                "qini_high": ev.qini_high,
                "auuc": ev.auuc,
                "auuc_low": ev.auuc_low,
                "auuc_high": ev.auuc_high,
                "auuc_random": ev.auuc_random,
                "top_share": ev.top_share,
                "kept_share": ev.kept_share,
                "kept_low": ev.kept_low,
                "kept_high": ev.kept_high,
                "top_decile_ratio": ev.top_decile_ratio,
                "top_share_ratio": ev.top_share_ratio,
                "beats_random": ev.beats_random,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- command line

UPLIFT_USAGE = (
    "segmint uplift --experiment ID --treatment NAME [--control NAME] --outcome COL --out FILE\n"
    "               [--attributes COL,COL...] [--learner x|t|transformed] [--top SHARE] [--json] [--db FILE]"
)


def uplift_command(argv: Sequence[str], con: Connection | None = None) -> int:
    """``segmint uplift``: fit (or read the stored) uplift analysis and write the targeted list as CSV.

    The list has one row per unit, highest predicted uplift first: ``customer_id`` or ``row`` (the row's
    number in the loaded file, 1 = first row after the header), ``uplift`` (out of fold) and ``decile``.
    The headline figures go to standard output (``--json``: full precision). Exit code 1 when the checks
    before modelling fail (no list is written).
    """
    import argparse
    import json
    import sys
    from pathlib import Path

    from engine.export import to_csv_bytes

    parser = argparse.ArgumentParser(prog="segmint uplift", description="Who to target: uplift from a test.")
    parser.add_argument("--experiment", required=True, help="the test's experiment_id")
    parser.add_argument("--treatment", required=True, help="the variant whose effect is modelled")
    parser.add_argument(
        "--control", help="the variant it is compared with (default: the one named like a control)"
    )
    parser.add_argument(
        "--outcome", required=True, help="a 0/1 or numeric column of the test (visit, converted, spend)"
    )
    parser.add_argument("--out", required=True, help="CSV file for the targeted list")
    parser.add_argument(
        "--attributes", help="comma-separated columns to tell units apart (default: suggested)"
    )
    parser.add_argument("--learner", choices=tuple(LEARNERS), default=DEFAULT_LEARNER)
    parser.add_argument("--top", type=float, help="keep only the top share of the list (0-1, e.g. 0.3)")
    parser.add_argument("--json", action="store_true", help="print the headline figures as JSON")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    if args.top is not None and not 0 < args.top <= 1:
        raise SchemaError(f"--top is a share between 0 and 1 (0.3 = the top 30%), not {args.top}.")
    con = con if con is not None else store.connect(args.db)
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes else None

    def report(fraction: float, text: str) -> None:
        print(f"  {fraction:4.0%} {text}", file=sys.stderr)

    result = analyse_uplift(
        con,
        args.experiment,
        args.treatment,
        args.control,
        args.outcome,
        attributes,
        learner=args.learner,
        progress=report,
    )
    summary = uplift_summary(result)
    if not result.checks.passed:
        if args.json:
            print(json.dumps(summary, indent=2, default=float))
        print(f"Not modelled: {result.checks.message}", file=sys.stderr)
        return 1
    ranked = uplift_list(con, result, args.top)
    Path(args.out).write_bytes(to_csv_bytes(ranked))
    summary["rows_written"] = len(ranked)
    summary["out"] = str(args.out)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        ev = result.evaluation
        print(f"{result.headline}.")
        print(result.verdict)
        print(result.recommendation)
        print(
            f"Qini coefficient {ev.qini_coefficient:.4g} ({ev.qini_low:.4g} to {ev.qini_high:.4g}); "
            f"AUUC {ev.auuc:.4g} against {ev.auuc_random:.4g} at random; top tenth {ev.top_decile_ratio:.2f}x "
            f"and top {ev.top_share:.0%} {ev.top_share_ratio:.2f}x the average uplift."
        )
        print(f"Wrote {len(ranked):,} rows ({', '.join(ranked.columns)}) to {args.out}.")
    return 0


__all__ = [
    "LEARNERS",
    "DEFAULT_LEARNER",
    "MIN_UNITS_PER_ARM",
    "MIN_OUTCOMES_PER_ARM",
    "BALANCE_LIMIT",
    "OUTCOME_WORDS",
    "BalanceCheck",
    "UpliftChecks",
    "UpliftEvaluation",
    "UpliftResult",
    "UnitData",
    "TargetingPlan",
    "UpliftModel",
    "guess_uplift_control",
    "uplift_variants",
    "uplift_columns",
    "uplift_outcomes",
    "uplift_units",
    "attribute_balance",
    "uplift_checks",
    "suggest_uplift_attributes",
    "uplift_features",
    "evaluate_uplift",
    "uplift_deciles",
    "targeting_plan",
    "profit_curve",
    "decile_profiles",
    "analyse_uplift",
    "uplift_list",
    "uplift_summary",
    "outcome_words",
    "outcome_event",
    "effect_words",
    "uplift_command",
    "UPLIFT_USAGE",
]

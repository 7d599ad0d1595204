"""One experiment's results: per outcome and variant, rates or means with intervals, lift, tests and a
multiple-comparison correction over every variant and outcome; the sample-ratio check and the verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InsufficientDataError, SchemaError
from engine.experiments.data import (
    REVENUE,
    ControlChoice,
    ControlNotFound,
    Outcome,
    experiment_counts,
    experiment_list,
    find_control,
    resolve_outcomes,
)
from engine.experiments.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_SRM_THRESHOLD,
    SrmCheck,
    _missing,
    holm_adjust,
    lift_interval,
    prob_beat_control,
    relative_lift_interval,
    srm_check,
    two_proportion_ztest,
    welch_test,
    wilson_interval,
)
from engine.experiments.verdict import verdict
from engine.store import Connection

DEFAULT_MIN_EXPOSURES = 100  # per variant, before any verdict other than "not enough data"
DEFAULT_MIN_CONVERSIONS = 10  # over all variants
CORRECTION = "Holm"

# The primary outcome per variant (the page's main table). For a numeric primary outcome
# ``conversion_rate`` holds the mean per unit and ``conversions`` is <NA>.
VARIANT_COLUMNS = (
    "variant",
    "is_control",
    "exposures",
    "conversions",
    "conversion_rate",
    "rate_ci_low",
    "rate_ci_high",
    "abs_lift",
    "abs_lift_ci_low",
    "abs_lift_ci_high",
    "rel_lift",
    "rel_lift_ci_low",
    "rel_lift_ci_high",
    "z_statistic",
    "p_value",
    "p_value_adjusted",
    "significant",
    "prob_beat_control",
    "revenue",
    "revenue_per_exposed",
    "revenue_sd",
    "revenue_diff",
    "revenue_diff_ci_low",
    "revenue_diff_ci_high",
    "revenue_p_value",
    "revenue_p_value_adjusted",
    "intended_share",
    "observed_share",
    "outcome",
)

# Every outcome x variant (long): ``value`` is the rate (binary) or the mean per unit (numeric).
RESULT_COLUMNS = (
    "outcome",
    "kind",
    "variant",
    "is_control",
    "units",
    "successes",
    "total",
    "value",
    "value_ci_low",
    "value_ci_high",
    "sd",
    "abs_lift",
    "abs_lift_ci_low",
    "abs_lift_ci_high",
    "rel_lift",
    "rel_lift_ci_low",
    "rel_lift_ci_high",
    "test",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "significant",
    "prob_beat_control",
)
_FLOAT_RESULTS = [
    c
    for c in RESULT_COLUMNS
    if c not in ("outcome", "kind", "variant", "is_control", "units", "successes", "test", "significant")
]


@dataclass(frozen=True)
class ExperimentAnalysis:
    """Everything the Experiments page shows for one experiment.

    Attributes
    ----------
    control_choice : which variant is the control and the evidence for it.
    outcome, outcome_kind : the primary outcome (the verdict is about it) and ``binary`` or ``numeric``.
    outcomes : every outcome analysed, primary first; all of them are in the correction.
    variants : the primary outcome, one row per variant (control first), see ``VARIANT_COLUMNS``.
    results : every outcome and variant, see ``RESULT_COLUMNS``.
    comparisons : comparisons with control in the correction (variants besides control x outcomes).
    srm : the sample-ratio mismatch check over the variants' units.
    verdict_level : one of ``VERDICT_LEVELS``; ``winner`` only when a variant significantly beats control
        after correction, the SRM check passes and the data suffice.
    notes : data-quality notes (left-out customers, repeated rows, rows as units, revenue caveats).
    correction : how the comparisons were corrected, in words.
    unit : what one unit is: ``customer``, ``row`` or ``customer or row``.
    """

    experiment_id: str
    control: str
    control_choice: ControlChoice
    confidence: float
    outcome: str
    outcome_kind: str
    outcomes: tuple[str, ...]
    variants: pd.DataFrame
    results: pd.DataFrame
    comparisons: int
    srm: SrmCheck
    verdict_level: str
    verdict: str
    notes: tuple[str, ...]
    correction: str
    revenue_available: bool
    crossover_customers: int
    first_exposure: pd.Timestamp | None
    last_exposure: pd.Timestamp | None
    unit: str = "customer"


def finite_or_none(value: float) -> float | None:
    """A float, or None for missing and infinite values (never NaN in a result)."""
    if _missing(value) or not math.isfinite(float(value)):
        return None
    return float(value)


def _outcome_rows(
    outcome: Outcome,
    names: list[str],
    n: np.ndarray,
    rows: pd.DataFrame,
    welch_ok: bool,
    family_conf: float,
    confidence: float,
) -> list[dict]:
    """The results rows of one outcome (control first), before the correction."""
    total = rows[f"sum__{outcome.name}"].astype(float).fillna(0.0).to_numpy()
    sd = rows[f"sd__{outcome.name}"].astype(float).to_numpy()
    value = np.divide(total, n, out=np.full(len(n), np.nan), where=n > 0)
    records = []
    for i, name in enumerate(names):
        rec: dict = {
            "outcome": outcome.name,
            "kind": outcome.kind,
            "variant": name,
            "is_control": i == 0,
            "units": int(n[i]),
            "total": finite_or_none(total[i]),
            "value": finite_or_none(value[i]),
        }
        if outcome.kind == "binary":
            if total[i] > n[i]:
                raise SchemaError(
                    f"experiments: variant {name} has more conversions than exposures ({total[i]:,.0f} > "
                    f"{n[i]:,.0f}). Check the exposures and conversions columns."
                )
            lo, hi = wilson_interval(total[i], n[i], confidence)
            rec |= {"successes": int(total[i]), "value_ci_low": lo, "value_ci_high": hi, "test": "z-test"}
            if i > 0:
                xc, nc = total[0], n[0]
                dlo, dhi = lift_interval(total[i], n[i], xc, nc, family_conf)
                rlo, rhi = relative_lift_interval(total[i], n[i], xc, nc, family_conf)
                z, p = two_proportion_ztest(total[i], n[i], xc, nc)
                rec |= {
                    "abs_lift": value[i] - value[0],
                    "abs_lift_ci_low": dlo,
                    "abs_lift_ci_high": dhi,
                    "rel_lift": value[i] / value[0] - 1 if value[0] > 0 else math.nan,
                    "rel_lift_ci_low": rlo,
                    "rel_lift_ci_high": rhi,
                    "statistic": z,
                    "p_value": p,
                    "prob_beat_control": prob_beat_control(int(total[i]), int(n[i]), int(xc), int(nc))
                    if n[i] > 0 and nc > 0
                    else None,
                }
        else:
            rec |= {"sd": sd[i] if welch_ok else None, "test": "Welch t-test" if welch_ok else ""}
            if i > 0:
                rec |= {
                    "abs_lift": value[i] - value[0],
                    "rel_lift": value[i] / value[0] - 1 if value[0] > 0 else math.nan,
                }
                welch = (
                    welch_test(value[i], sd[i], n[i], value[0], sd[0], n[0], family_conf)
                    if welch_ok
                    else None
                )
                if welch is not None:
                    rec |= {
                        "abs_lift_ci_low": welch.ci_low,
                        "abs_lift_ci_high": welch.ci_high,
                        "statistic": welch.t_statistic,
                        "p_value": welch.p_value,
                    }
        records.append(rec)
    return records


def _correction_text(
    m: int, variants: int, outcomes: Sequence[Outcome], family_conf: float, confidence: float
) -> str:
    if m <= 1:
        return "One comparison with control: no multiple-comparison correction needed."
    parts = []
    if variants > 1:
        parts.append(f"{variants} variants")
    if len(outcomes) > 1:
        parts.append(f"{len(outcomes)} outcomes ({', '.join(o.label for o in outcomes)})")
    return (
        f"{m} comparisons with control ({' x '.join(parts)}): p-values are {CORRECTION}-adjusted over all "
        f"of them and intervals are {family_conf:.1%} (Bonferroni) so that together they hold at "
        f"{confidence:.0%}."
    )


def analyse_counts(
    counts: pd.DataFrame,
    experiment_id: str,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
    outcomes: Sequence[Outcome] | None = None,
) -> ExperimentAnalysis:
    """Analyse one experiment from the rows of ``experiment_counts`` (see ``analyse_experiment``);
    ``outcomes`` are the ones the counts were taken for (primary first; default converted and revenue)."""
    from engine.experiments.data import DEFAULT_OUTCOMES

    outcomes = list(outcomes or DEFAULT_OUTCOMES)
    rows = counts[counts["experiment_id"] == experiment_id]
    crossover = int(rows.loc[rows["variant"].isna(), "units"].sum())
    rows = rows[rows["variant"].notna()]
    if len(rows) < 2:
        raise InsufficientDataError(
            f"Experiment {experiment_id!r} has {len(rows)} variant(s) with exposures; a test needs at least "
            f"two (a control and one more). Check the variant column of the experiments file.",
            needed=2,
            found=len(rows),
        )
    choice = find_control([str(v) for v in rows["variant"]], control)
    if choice.name is None:
        raise ControlNotFound(choice)
    control_name = choice.name
    rows = pd.concat([rows[rows["variant"] == control_name], rows[rows["variant"] != control_name]])
    rows = rows.reset_index(drop=True)
    names = [str(v) for v in rows["variant"]]
    n = rows["exposures"].astype(float).to_numpy()
    if split is not None:
        unknown = [k for k in names if k not in split]
        if unknown:
            raise SchemaError(f"The intended split gives no share for variant(s) {', '.join(unknown)}.")
        shares = np.array([float(split[k]) for k in names])
    else:
        shares = np.ones(len(names))
    srm = srm_check(n, shares, srm_threshold, names)

    has_count_rows = bool(rows["has_count_rows"].any())
    welch_ok = not has_count_rows
    comparisons = (len(names) - 1) * len(outcomes)
    family_conf = 1 - (1 - confidence) / comparisons  # Bonferroni-widened intervals
    records = []
    for outcome in outcomes:
        records += _outcome_rows(outcome, names, n, rows, welch_ok, family_conf, confidence)
    results = pd.DataFrame.from_records(records).reindex(columns=list(RESULT_COLUMNS))
    p_all = [np.nan if _missing(p) else float(p) for p in results["p_value"]]
    results["p_value_adjusted"] = holm_adjust(p_all)
    alpha = 1 - confidence
    results["significant"] = [
        False if ctrl or _missing(p) or math.isnan(p) else bool(p < alpha)
        for ctrl, p in zip(results["is_control"], results["p_value_adjusted"], strict=True)
    ]
    for col in _FLOAT_RESULTS:
        results[col] = pd.array([finite_or_none(v) for v in results[col]], dtype="Float64")
    results["successes"] = pd.array(
        [None if _missing(v) else int(v) for v in results["successes"]], dtype="Int64"
    )

    primary = outcomes[0]
    first = results[results["outcome"] == primary.name].reset_index(drop=True)
    variants = pd.DataFrame(
        {
            "variant": first["variant"],
            "is_control": first["is_control"],
            "exposures": first["units"].astype("int64"),
            "conversions": first["successes"],
            "conversion_rate": first["value"],
            "rate_ci_low": first["value_ci_low"],
            "rate_ci_high": first["value_ci_high"],
            "abs_lift": first["abs_lift"],
            "abs_lift_ci_low": first["abs_lift_ci_low"],
            "abs_lift_ci_high": first["abs_lift_ci_high"],
            "rel_lift": first["rel_lift"],
            "rel_lift_ci_low": first["rel_lift_ci_low"],
            "rel_lift_ci_high": first["rel_lift_ci_high"],
            "z_statistic": first["statistic"],
            "p_value": first["p_value"],
            "p_value_adjusted": first["p_value_adjusted"],
            "significant": first["significant"],
            "prob_beat_control": first["prob_beat_control"],
            "intended_share": shares / shares.sum(),
            "observed_share": n / n.sum() if n.sum() else np.full(len(n), np.nan),
        }
    )
    revenue_available = any(o.name == REVENUE for o in outcomes) and bool(
        rows.get(f"known__{REVENUE}", pd.Series([0])).fillna(0).sum() > 0
    )
    revenue = results[results["outcome"] == REVENUE].reset_index(drop=True)
    for target, source in (
        ("revenue", "total"),
        ("revenue_per_exposed", "value"),
        ("revenue_sd", "sd"),
        ("revenue_diff", "abs_lift"),
        ("revenue_diff_ci_low", "abs_lift_ci_low"),
        ("revenue_diff_ci_high", "abs_lift_ci_high"),
        ("revenue_p_value", "p_value"),
        ("revenue_p_value_adjusted", "p_value_adjusted"),
    ):
        variants[target] = revenue[source] if revenue_available else pd.NA
    variants = variants.reindex(columns=list(VARIANT_COLUMNS))
    for col in ("intended_share", "observed_share", *[c for c in VARIANT_COLUMNS if c.startswith("revenue")]):
        variants[col] = pd.array([finite_or_none(v) for v in variants[col]], dtype="Float64")

    notes = []
    if crossover:
        notes.append(f"{crossover:,} customers were exposed to more than one variant and are left out.")
    repeated = int(rows["repeated_rows"].fillna(0).sum())
    if repeated:
        notes.append(
            f"{repeated:,} repeated rows for the same customer and variant were merged (a customer "
            f"counts once; converted if any row converted, numbers summed)."
        )
    row_units = int(rows["row_units"].fillna(0).sum())
    customer_units = int(rows["units"].sum()) - row_units if not has_count_rows else None
    if row_units:
        notes.append(
            f"{row_units:,} rows name no customer: each counts as one exposed unit, so every test runs per row."
        )
    numeric = [o for o in outcomes if o.kind == "numeric"]
    if numeric and not welch_ok:
        notes.append(
            f"{', '.join(o.label for o in numeric)} is compared per unit without a test: count-form rows "
            "(totals per variant) carry no spread, so Welch's t-test needs one row per customer or unit."
        )
    for outcome in outcomes:
        known = float(rows[f"known__{outcome.name}"].fillna(0).sum())
        if 0 < known < n.sum() and not has_count_rows:
            blank = int(n.sum() - known)
            notes.append(
                f"{blank:,} units have no {outcome.label.lower()} value; they count as "
                f"{'not converted' if outcome.kind == 'binary' else 'zero'}."
            )
    if any(o.name == REVENUE for o in outcomes) and not revenue_available:
        notes.append("The experiment file has no revenue, so revenue per exposed unit is not shown.")

    level, text, verdicts = verdict(
        variants,
        srm,
        confidence,
        min_exposures,
        min_conversions,
        comparisons,
        primary.kind,
        primary.label.lower(),
    )
    variants["outcome"] = verdicts
    first_seen = rows["first_seen"].min()
    last_seen = rows["last_seen"].max()
    unit = "row" if row_units and not customer_units else "customer or row" if row_units else "customer"
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        control=control_name,
        control_choice=choice,
        confidence=confidence,
        outcome=primary.name,
        outcome_kind=primary.kind,
        outcomes=tuple(o.name for o in outcomes),
        variants=variants,
        results=results,
        comparisons=comparisons,
        srm=srm,
        verdict_level=level,
        verdict=text,
        notes=tuple(notes),
        correction=_correction_text(comparisons, len(names) - 1, outcomes, family_conf, confidence),
        revenue_available=revenue_available,
        crossover_customers=crossover,
        first_exposure=None if pd.isna(first_seen) else pd.Timestamp(first_seen),
        last_exposure=None if pd.isna(last_seen) else pd.Timestamp(last_seen),
        unit=unit,
    )


def analyse_experiment(
    con: Connection,
    experiment_id: str,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
    outcomes: Sequence[str] | None = None,
) -> ExperimentAnalysis:
    """Results of one experiment: rates or means with intervals, lift, tests, SRM, Bayesian probability,
    a correction over every comparison, and a verdict on the primary outcome.

    Parameters
    ----------
    con : store connection.
    experiment_id : which experiment of the ``experiments`` table.
    control : the control variant; None finds it from the names (``find_control``) and raises
        ``SchemaError`` asking for it when no name says so.
    split : intended share per variant name (any positive weights); None means equal.
    confidence : level of every interval; ``1 - confidence`` is the significance level.
    srm_threshold : the SRM check fails below this p-value.
    min_exposures, min_conversions : below these the verdict is "not enough data".
    outcomes : outcome names to test (``experiment_outcomes``), the first one primary; None tests the
        default primary outcome plus revenue when the file has it.

    Returns
    -------
    ExperimentAnalysis
        ``variants`` has one row per variant, control first, with ``VARIANT_COLUMNS``; comparison columns
        are ``<NA>`` on the control row and wherever a statistic is undefined.

    Raises
    ------
    InsufficientDataError
        When the experiment does not exist, has fewer than two variants or nothing to test.
    """
    chosen = resolve_outcomes(con, experiment_id, outcomes)
    counts = experiment_counts(con, experiment_id, chosen)
    if counts.empty:
        raise InsufficientDataError(
            f"There is no experiment {experiment_id!r} in the experiments table.", needed=1, found=0
        )
    return analyse_counts(
        counts,
        experiment_id,
        control,
        split,
        confidence,
        srm_threshold,
        min_exposures,
        min_conversions,
        chosen,
    )


SUMMARY_COLUMNS = [
    "experiment_id",
    "variants",
    "customers",
    "control",
    "outcome",
    "control_rate",
    "best_variant",
    "best_rate",
    "rel_lift",
    "p_value_adjusted",
    "prob_beat_control",
    "srm_p_value",
    "verdict_level",
    "verdict",
]


def experiment_summary(
    con: Connection,
    controls: Mapping[str, str] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_exposures: int = DEFAULT_MIN_EXPOSURES,
    min_conversions: int = DEFAULT_MIN_CONVERSIONS,
) -> pd.DataFrame:
    """One row per experiment: variants, units, control, primary outcome, best variant, its lift and
    adjusted p-value, SRM p-value, verdict level and verdict (default outcomes, equal intended splits).

    Experiments that cannot be analysed get the reason as verdict, with level ``insufficient`` (a single
    variant, nothing to test), ``no_control`` (no variant named like a control) or ``invalid``.
    """
    records = []
    listing = experiment_list(con)
    for experiment_id, variant_count, row_count in zip(
        listing["experiment_id"], listing["variants"], listing["rows"], strict=True
    ):
        try:
            result = analyse_experiment(
                con,
                experiment_id,
                (controls or {}).get(experiment_id),
                None,
                confidence,
                srm_threshold,
                min_exposures,
                min_conversions,
            )
        except (InsufficientDataError, SchemaError) as error:
            level = (
                "insufficient"
                if isinstance(error, InsufficientDataError)
                else "no_control"
                if isinstance(error, ControlNotFound)
                else "invalid"
            )
            records.append(
                {
                    "experiment_id": experiment_id,
                    "variants": int(variant_count),
                    "customers": int(row_count),
                    "verdict_level": level,
                    "verdict": str(error),
                }
            )
            continue
        v = result.variants
        best = v.iloc[1:].sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
        records.append(
            {
                "experiment_id": experiment_id,
                "variants": len(v),
                "customers": int(v["exposures"].sum()),
                "control": result.control,
                "outcome": result.outcome,
                "control_rate": v.iloc[0]["conversion_rate"],
                "best_variant": best["variant"],
                "best_rate": best["conversion_rate"],
                "rel_lift": best["rel_lift"],
                "p_value_adjusted": best["p_value_adjusted"],
                "prob_beat_control": best["prob_beat_control"],
                "srm_p_value": result.srm.p_value,
                "verdict_level": result.verdict_level,
                "verdict": result.verdict,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    for col in (
        "control_rate",
        "best_rate",
        "rel_lift",
        "p_value_adjusted",
        "prob_beat_control",
        "srm_p_value",
    ):
        frame[col] = pd.array([finite_or_none(x) for x in frame[col]], dtype="Float64")
    return frame

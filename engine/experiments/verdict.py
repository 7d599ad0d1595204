"""The plain-language verdict of a test and the wording of its numbers.

Rules, in order: a sample-ratio mismatch makes the test ``invalid`` (never a winner); too few units or
conversions make it ``insufficient``; a variant whose corrected p-value is below the significance level
``beats`` or is ``worse than`` control; otherwise there is no clear difference yet.
"""

from __future__ import annotations

import math

import pandas as pd

from engine.experiments.planning import minimum_detectable_lift
from engine.experiments.stats import SrmCheck, _missing

VERDICT_LEVELS = ("winner", "loser", "inconclusive", "invalid", "insufficient", "no_control")


def percent_text(value: float | None, digits: int = 1, signed: bool = False) -> str:
    """``value`` (a fraction) as a percentage; an empty string when it is missing."""
    if _missing(value) or not math.isfinite(float(value)):
        return ""
    return f"{value * 100:+.{digits}f}%" if signed else f"{value * 100:.{digits}f}%"


def p_value_text(value: float | None) -> str:
    """``p < 0.001`` or ``p = 0.012``; an empty string when it is missing."""
    if _missing(value):
        return ""
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def value_text(value: float | None, kind: str) -> str:
    """A rate as a percentage (two decimals) or a mean per unit as a number."""
    if _missing(value):
        return ""
    return percent_text(value, 2) if kind == "binary" else f"{value:,.2f}"


def _joined(*parts: str, sep: str = ", ") -> str:
    """The non-empty parts joined: a sentence never carries a placeholder for a missing number."""
    return sep.join(p for p in parts if p)


def _lift_words(row: pd.Series, conf: str, kind: str, corrected: bool) -> str:
    """'relative lift +54.0%, 95% interval +20.1% to +97.0%; p < 0.001 after correction' (parts that are
    missing are left out)."""
    lift = percent_text(row["rel_lift"], signed=True)
    if kind == "binary":
        low, high = (
            percent_text(row["rel_lift_ci_low"], signed=True),
            percent_text(row["rel_lift_ci_high"], signed=True),
        )
        interval = f"{conf} interval {low} to {high}" if low and high else ""
    else:
        low, high = row["abs_lift_ci_low"], row["abs_lift_ci_high"]
        interval = (
            f"{conf} interval of the difference {low:+,.2f} to {high:+,.2f}"
            if not _missing(low) and not _missing(high)
            else ""
        )
    p = p_value_text(row["p_value_adjusted"])
    if p and corrected:
        p += " after correction"
    return _joined(_joined(f"relative lift {lift}" if lift else "", interval), p, sep="; ")


def verdict(
    frame: pd.DataFrame,
    srm: SrmCheck,
    confidence: float,
    min_exposures: int,
    min_conversions: int,
    comparisons: int,
    kind: str,
    label: str,
) -> tuple[str, str, list[str]]:
    """(level, text, per-variant outcome) for the primary outcome's rows (control first).

    ``frame`` has ``variant, exposures, conversions, conversion_rate`` (for a numeric outcome the mean per
    unit), lifts with intervals, ``p_value_adjusted``, ``significant`` and ``prob_beat_control``.
    """
    control = frame.iloc[0]
    others = frame.iloc[1:]
    outcomes = ["control"] + ["no clear difference"] * len(others)
    if srm.mismatch:
        text = (
            f"Do not act on this test: the split between variants is off (sample-ratio mismatch, "
            f"{p_value_text(srm.p_value)}; expected {', '.join(f'{e:,.0f}' for e in srm.expected)}, got "
            f"{', '.join(f'{o:,}' for o in srm.observed)}). Assignment or logging is broken, so the "
            f"differences below cannot be trusted. Fix the split and rerun."
        )
        return "invalid", text, ["control"] + ["not trustworthy (split is off)"] * len(others)
    smallest = int(frame["exposures"].min())
    total_conv = int(frame["conversions"].fillna(0).sum()) if kind == "binary" else None
    if smallest < min_exposures or (total_conv is not None and total_conv < min_conversions):
        needed = f"at least {min_exposures:,} per variant"
        have = f"the smallest variant has {smallest:,} units"
        if total_conv is not None:
            needed += f" and {min_conversions:,} conversions"
            have += f" and there are {total_conv:,} conversions in all"
        text = (
            f"Not enough data yet: {have} ({needed} are needed before reading the result). "
            f"Keep the test running."
        )
        return "insufficient", text, ["control"] + ["too early"] * len(others)

    conf = f"{confidence:.0%}"
    corrected = comparisons > 1
    lift = others["abs_lift"].astype("Float64")
    better = others[(others["significant"] & (lift > 0)).fillna(False).astype(bool)]
    worse = others[(others["significant"] & (lift < 0)).fillna(False).astype(bool)]
    for idx in better.index:
        outcomes[idx] = "beats control"
    for idx in worse.index:
        outcomes[idx] = "worse than control"
    name = str(control["variant"])
    control_label = "control" if name.strip().lower() == "control" else f"control ({name})"
    if kind == "binary":
        measure = (
            "converts at" if label in ("converted", "conversion", "conversions") else f"has a {label} rate of"
        )
    else:
        measure = f"has {label} per unit of"
    base = f"{control_label} {measure} {value_text(control['conversion_rate'], kind)}"
    if len(better):
        top = better.sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
        text = (
            f"Variant {top['variant']} is the winner: it {measure} "
            f"{value_text(top['conversion_rate'], kind)} while {base} "
            f"({_lift_words(top, conf, kind, corrected)})."
        )
        chance = percent_text(top["prob_beat_control"])
        if chance:
            text += f" Probability to beat control: {chance}."
        if len(better) > 1:
            text += (
                f" Variant(s) {', '.join(better['variant'].drop(top.name))} also beat control; the test "
                f"does not compare the variants with each other."
            )
        return "winner", text, outcomes
    if len(worse):
        names = ", ".join(worse["variant"])
        first = worse.iloc[0]
        rates = (
            f"{value_text(first['conversion_rate'], kind)} vs {value_text(control['conversion_rate'], kind)}"
        )
        text = (
            f"No variant beats {control_label}. Variant {names} does significantly worse "
            f"({_joined(rates, p_value_text(first['p_value_adjusted']))}): keep the control."
        )
        return "loser", text, outcomes
    best = others.sort_values("conversion_rate", ascending=False, kind="mergesort").iloc[0]
    text = (
        f"No clear difference yet: the best variant ({best['variant']}) {measure} "
        f"{value_text(best['conversion_rate'], kind)} while {base} ({_lift_words(best, conf, kind, corrected)}). "
        f"The interval includes no change, so this could be noise."
    )
    control_rate = control["conversion_rate"]
    if kind == "binary" and not _missing(control_rate):
        mde = minimum_detectable_lift(
            float(control_rate), float(smallest), 1 - confidence, 0.8, comparisons + 1
        )
        if mde is not None:
            text += (
                f" With {smallest:,} units per variant the test reliably detects lifts of about "
                f"{percent_text(mde, 0, signed=True)} or more; use the planner for a smaller lift."
            )
    return "inconclusive", text, outcomes

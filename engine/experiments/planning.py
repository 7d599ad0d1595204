"""Planning a test: customers per variant to detect a lift, and the smallest lift a test of a given size detects."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import SchemaError
from engine.experiments.stats import (
    cohens_h,
    detectable_effect_size,
    power_two_proportions,
    sample_size_two_proportions,
)


@dataclass(frozen=True)
class ExperimentPlan:
    """Sample size for a planned test: customers per variant to detect ``relative_lift`` on ``baseline_rate``."""

    baseline_rate: float
    relative_lift: float
    target_rate: float
    alpha: float
    alpha_per_comparison: float
    power: float
    variants: int
    effect_size: float
    per_variant: int
    total: int
    days: int | None


def _check_rate(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise SchemaError(f"The {name} must be between 0% and 100% (exclusive), not {value:.4g}.")


def plan_experiment(
    baseline_rate: float,
    relative_lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    daily_exposures: float | None = None,
) -> ExperimentPlan:
    """Customers per variant needed to detect a relative lift with a two-sided test.

    Parameters
    ----------
    baseline_rate : control's expected conversion rate (0-1).
    relative_lift : smallest lift worth detecting, relative (0.1 = +10%; may be negative).
    alpha : false-positive rate for the whole test; with more than two variants it is split over the
        comparisons with control (Bonferroni), matching the correction used on results.
    power : chance of detecting a true lift of that size.
    variants : number of variants, control included.
    daily_exposures : customers entering the test per day, for the duration; None leaves it out.
    """
    _check_rate(baseline_rate, "baseline conversion rate")
    target = baseline_rate * (1 + relative_lift)
    _check_rate(target, "target conversion rate (baseline x (1 + lift))")
    if relative_lift == 0:
        raise SchemaError("The lift to detect cannot be zero.")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise SchemaError("Power and significance level must be between 0 and 1.")
    if variants < 2:
        raise SchemaError("A test needs at least two variants (control and one more).")
    alpha_each = alpha / (variants - 1)
    h = cohens_h(target, baseline_rate)
    per_variant = math.ceil(sample_size_two_proportions(h, alpha_each, power) - 1e-9)
    days = math.ceil(per_variant * variants / daily_exposures) if daily_exposures else None
    return ExperimentPlan(
        baseline_rate=baseline_rate,
        relative_lift=relative_lift,
        target_rate=target,
        alpha=alpha,
        alpha_per_comparison=alpha_each,
        power=power,
        variants=variants,
        effect_size=h,
        per_variant=per_variant,
        total=per_variant * variants,
        days=days,
    )


def minimum_detectable_lift(
    baseline_rate: float, per_variant: float, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> float | None:
    """Smallest upward relative lift a test with ``per_variant`` customers per variant detects with the
    given power; None when no lift short of a 100% conversion rate would be detected."""
    if not 0 < baseline_rate < 1 or per_variant <= 0:
        return None
    alpha_each = alpha / max(variants - 1, 1)
    h_max = cohens_h(1.0, baseline_rate)
    if power_two_proportions(h_max, per_variant, alpha_each) < power:
        return None
    h = detectable_effect_size(per_variant, alpha_each, power)
    # back from Cohen's h to a rate: h = 2 asin(sqrt(rate)) - 2 asin(sqrt(baseline))
    rate = math.sin(math.asin(math.sqrt(baseline_rate)) + h / 2) ** 2
    return rate / baseline_rate - 1

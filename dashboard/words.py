"""Plain words for technical terms: the label a page shows, and the help that names the method.

A marketer reads "Separation" on the card and finds "silhouette score" in its help; the method stays one hover
away for the analyst who wants to check it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """``label``: the plain words on the page; ``technical``: the field's name; ``meaning``: one sentence."""

    label: str
    technical: str
    meaning: str


TERMS: dict[str, Term] = {
    "silhouette": Term(
        "Separation",
        "silhouette score",
        "How clearly customers sit in their own group rather than the next one, from -1 to 1; higher is clearer",
    ),
    "stability": Term(
        "Repeatability",
        "cluster stability (adjusted Rand index between fits on resampled customers)",
        "Whether the same groups come back when the customers are resampled; 1 means identical groups",
    ),
    "component_1": Term(
        "Biggest difference between customers",
        "principal component 1",
        "The direction in which customers differ most, combining the chosen traits",
    ),
    "component_2": Term(
        "Next biggest difference",
        "principal component 2",
        "The direction of the next biggest difference, unrelated to the first",
    ),
    "hypergeometric": Term(
        "more common than by chance",
        "one-sided hypergeometric test",
        "A trait counts only when it is more common in the group than a random draw of that size would make it",
    ),
    "benjamini_hochberg": Term(
        "checked across every trait at once",
        "Benjamini-Hochberg false discovery rate",
        "Testing many traits finds some by luck; the bar is raised so few of the traits shown are flukes",
    ),
    "epochs": Term("Training passes", "epochs (n_epochs)", "How many times training goes over every rating"),
    "learning_rate": Term(
        "Step size",
        "learning rate (lr_all)",
        "How far each training step moves the model; too big overshoots",
    ),
    "grid_search": Term(
        "trying every combination of settings",
        "GridSearchCV (Surprise) with 3-fold cross-validation",
        "Each combination is trained on two thirds of the ratings and scored on the rest, three times",
    ),
    "rmse": Term(
        "Rating error",
        "RMSE (root mean squared error)",
        "How far predicted ratings are from the real ones, in rating points; lower is better",
    ),
    "ndcg": Term(
        "Ranking quality",
        "NDCG@k (normalised discounted cumulative gain)",
        "Liked products found near the top of the list count more; 1 is a perfect order",
    ),
    "map": Term(
        "Precision in order",
        "MAP@k (mean average precision)",
        "Precision measured at every liked product found, averaged; rewards finding them early",
    ),
    "novelty": Term(
        "Less obvious picks",
        "novelty in bits (mean -log2 of each product's share of customers)",
        "Higher means the lists suggest products fewer customers already have",
    ),
    "holm": Term(
        "corrected for several comparisons",
        "Holm step-down correction",
        "With several variants or outcomes, each p-value is raised so the set as a whole keeps the chosen risk",
    ),
    "bonferroni": Term(
        "widened for several comparisons",
        "Bonferroni-adjusted intervals",
        "Intervals are widened so all of them hold together at the chosen confidence",
    ),
    "welch": Term(
        "Revenue p-value",
        "Welch's t-test p-value",
        "The chance of a revenue difference this big if the variants were really the same",
    ),
    "chi_square": Term(
        "Split check",
        "chi-square goodness-of-fit test (sample-ratio mismatch)",
        "Whether customers were split between variants as intended; a failed check means the result is not "
        "trusted",
    ),
}


def label(term: str) -> str:
    """The plain words for ``term``."""
    return TERMS[term].label


def explain(term: str, extra: str = "") -> str:
    """Help text for ``term``: what it means, then its technical name (and ``extra``, e.g. the value)."""
    found = TERMS[term]
    return f"{found.meaning}. Technical name: {found.technical}.{' ' + extra if extra else ''}"


__all__ = ["Term", "TERMS", "label", "explain"]

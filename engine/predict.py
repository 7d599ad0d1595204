"""Who will buy again and what they are worth: BG/NBD and Gamma-Gamma fitted by maximum likelihood, CLV,
churn risk, and a check of the predictions on the months after a calibration date.

Models (each a scikit-learn-style estimator: parameters in ``__init__``, learned attributes end in ``_``):

- ``BetaGeoModel``: the BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your
  customers the easy way", Marketing Science 24(2)). While alive a customer buys at a Poisson rate
  (heterogeneity Gamma(r, alpha)); after each purchase they drop out with probability p (heterogeneity
  Beta(a, b)). Fitted by maximising the closed-form likelihood (equation 6 of the paper) with SciPy's
  L-BFGS-B on log-parameters and its analytic gradient. Gives P(alive), expected purchases in the next
  ``t`` periods (equation 10) and the chance of no purchase in them.
- ``GammaGammaModel``: spend per order (Fader, Hardie & Lee 2005b, "RFM and CLV: using iso-value curves",
  and Hardie's note "The Gamma-Gamma model of monetary value"): a customer's orders vary around their own
  mean, which varies across customers; fitted on repeat buyers' mean spend per repeat purchase. Gives the
  expected value of a customer's future orders, a weighted mean of their own average and the population's.

Unit of analysis: the customer. A purchase is a distinct day with a (non-return) order by a known customer,
the model's convention, so two orders on one day count once; the first purchase day starts the customer's
clock and the others are repeat purchases. Returns (negative amounts or flagged lines) and guest orders (no
customer id) are left out and counted. Time is measured in weeks inside the models (the paper's unit).

CLV over ``horizon_days`` = expected order value x expected purchases in each month of the horizon,
discounted at ``discount_rate`` per month (the horizon is cut into equal periods of about 30 days).

Churn risk = the chance of no purchase in the next ``horizon_days``:
``1 - P(alive) x (1 - P(no purchase | alive))``. It is stricter than ``1 - P(alive)`` alone, which the
BG/NBD sets to 0 for every customer who never bought twice (the model lets customers drop out only right
after a purchase), however long ago their only order was.

The check on later months (``holdout_check``) fits the models on orders up to a calibration date and compares
with what the same customers did afterwards: repeat purchases per week (the paper's tracking chart), mean
purchases by number of calibration purchases, and how well the risk ranks who did not come back (ROC AUC).
No order after the calibration date reaches the fit.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine import store
from engine.errors import InsufficientDataError, SchemaError
from engine.store import Connection

# ---------------------------------------------------------------------------------------------- settings

DEFAULT_HORIZON_DAYS = 365
DEFAULT_DISCOUNT_RATE = 0.01  # per month
WEEK = 7.0  # days per model period (the paper's unit)
MONTH_DAYS = 30.0

MIN_HISTORY_DAYS = 90  # about three months
MIN_REPEAT_BUYERS = 30
MIN_CUSTOMERS = 100
SPEND_CORRELATION_LIMIT = (
    0.3  # |Pearson r| of purchases and mean spend above which the spend model is doubted
)
# subscription-like: most customers with at least SUBSCRIPTION_MIN_PURCHASES purchase days buy at nearly
# fixed intervals (coefficient of variation of their gaps below SUBSCRIPTION_GAP_CV)
SUBSCRIPTION_MIN_PURCHASES = 4
SUBSCRIPTION_GAP_CV = 0.25
SUBSCRIPTION_SHARE = 0.5

# Risk bands as data: (band, lower bound of churn risk inclusive, description). First matching from the top.
RISK_BANDS = pd.DataFrame(
    [
        ("Probably lost", 0.8, "At least 80% likely to buy nothing in the horizon"),
        ("At risk", 0.5, "Between 50% and 80% likely to buy nothing in the horizon"),
        ("Likely active", 0.0, "More likely than not to buy again in the horizon"),
    ],
    columns=["band", "min_risk", "description"],
)

SCORE_COLUMNS = [
    "customer_id",
    "purchases",
    "repeat_purchases",
    "recency_days",
    "age_days",
    "average_order_value",
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "clv",
    "churn_risk",
    "risk_band",
]
EXPORT_COLUMNS = [
    "customer_id",
    "purchases",
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "clv",
    "churn_risk",
    "risk_band",
]

ProgressFn = Callable[[float, str], None]


# ---------------------------------------------------------------------------------------------- models


LOG_PARAMETER_BOUND = 12.0  # parameters kept within exp(+-12): beyond it a likelihood is flat (e.g. every
# customer spends the same, where the spend model's q and gamma run off to infinity) and numbers overflow


def _minimise(objective, start: np.ndarray, max_iter: int) -> tuple[np.ndarray, bool, int]:
    from scipy.optimize import minimize

    bounds = [(-LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND)] * len(start)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        found = minimize(
            objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter}
        )
    return found.x, bool(found.success), int(found.nit)


def _weights(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how often each occurs: the likelihood is a sum over customers, so
    customers with the same history are evaluated once (pandas hashing: 0.09 s for 1M rows here, where
    ``np.unique(axis=0)`` sorts in 1.4 s)."""
    counts = pd.DataFrame({str(i): column for i, column in enumerate(columns)}).value_counts(sort=False)
    unique = counts.index.to_frame(index=False)
    return [unique[c].to_numpy(float) for c in unique.columns], counts.to_numpy(float)


class BetaGeoModel:
    """BG/NBD repeat-purchase model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    Parameters
    ----------
    max_iter : iterations of L-BFGS-B.

    Attributes (after ``fit``)
    --------------------------
    r_, alpha_ : purchase-rate heterogeneity Gamma(r, alpha) (alpha in model periods).
    a_, b_ : drop-out heterogeneity Beta(a, b).
    log_likelihood_ : the maximised log-likelihood (sum over customers).
    n_customers_, converged_, iterations_.
    """

    def __init__(self, max_iter: int = 500):
        self.max_iter = max_iter

    @staticmethod
    def log_likelihood(params: Sequence[float], frequency, recency, T, weights=None) -> float:
        """Sum of per-customer log-likelihoods (equation 6 of the paper) at ``(r, alpha, a, b)``."""
        value, _ = _bgnbd_objective(np.log(np.asarray(params, float)), frequency, recency, T, weights, False)
        return -value

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Fit on repeat purchases ``frequency`` (x), time of the last purchase ``recency`` (t_x) and
        age ``T``, all measured from each customer's first purchase in model periods."""
        x, tx, age = (np.asarray(v, float) for v in (frequency, recency, T))
        if not (len(x) == len(tx) == len(age)) or len(x) == 0:
            raise InsufficientDataError("The BG/NBD model needs at least one customer.", needed=1, found=0)
        if np.any(x < 0) or np.any(tx < 0) or np.any(tx > age + 1e-9) or np.any((x > 0) & (tx <= 0)):
            raise SchemaError("BG/NBD input: need 0 <= recency <= T, and recency > 0 wherever frequency > 0.")
        (ux, utx, uage), counts = _weights(x, tx, age)
        total = counts.sum()

        def objective(log_params: np.ndarray):
            value, grad = _bgnbd_objective(log_params, ux, utx, uage, counts, True)
            return value / total, grad / total

        best, self.converged_, self.iterations_ = _minimise(objective, np.zeros(4), self.max_iter)
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(best))
        self.log_likelihood_ = -_bgnbd_objective(best, ux, utx, uage, counts, False)[0]
        self.n_customers_ = int(total)
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive at T | x, t_x, T) (the paper's equation 11); 1 for customers with no repeat purchase."""
        x, tx, age = (np.asarray(v, float) for v in (frequency, recency, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + age) - np.log(alpha + tx))
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] (equation 10), ``t`` in model periods."""
        from scipy.special import hyp2f1

        x, tx, age = (np.asarray(v, float) for v in (frequency, recency, T))
        t = np.asarray(t, float)
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + age + t)
        tail = 1.0 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * tail * self.p_alive(x, tx, age)

    def p_no_purchase(self, t, frequency, recency, T) -> np.ndarray:
        """P(no purchase in (T, T + t] | x, t_x, T): dead, or alive and silent (rate posterior
        Gamma(r + x, alpha + T), so silent with probability ((alpha + T) / (alpha + T + t))^(r + x))."""
        x, tx, age = (np.asarray(v, float) for v in (frequency, recency, T))
        silent = ((self.alpha_ + age) / (self.alpha_ + age + np.asarray(t, float))) ** (self.r_ + x)
        return 1.0 - self.p_alive(x, tx, age) * (1.0 - silent)

    def expected_purchases_new(self, t) -> np.ndarray:
        """E[repeat purchases in (0, t]] for a customer who just made a first purchase (equation 9)."""
        from scipy.special import hyp2f1

        t = np.asarray(t, float)
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def _bgnbd_objective(log_params, x, tx, age, weights, with_grad: bool):
    """Minus the weighted BG/NBD log-likelihood and, when asked, its gradient in log-parameters."""
    from scipy.special import betaln, digamma, gammaln

    r, alpha, a, b = np.exp(log_params)
    w = np.ones_like(x) if weights is None else weights
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    u = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + age)
    xm = np.where(repeat, x - 1, 0.0)
    v = np.where(repeat, betaln(a + 1, b + xm) - betaln(a, b) - (r + x) * np.log(alpha + tx), -np.inf)
    mix = np.logaddexp(u, v)
    value = -float(np.sum(w * (a1 + mix)))
    if not with_grad:
        return value, None
    share_u = np.exp(u - mix)
    share_v = 1.0 - share_u
    safe_tx = np.where(repeat, tx, 1.0)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - share_u * np.log(alpha + age)
    d_r -= np.where(repeat, share_v * np.log(alpha + safe_tx), 0.0)
    d_alpha = r / alpha - share_u * (r + x) / (alpha + age) - share_v * (r + x) / (alpha + safe_tx)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    d_a = share_u * (psi_ab - psi_abx) + share_v * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    d_b = share_u * (digamma(b + x) - psi_abx - digamma(b) + psi_ab) + share_v * (
        digamma(b + np.maximum(xm, 0) + np.where(repeat, 0.0, 1.0)) - psi_abx - digamma(b) + psi_ab
    )
    grad = np.array([np.sum(w * g) for g in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return value, -grad


class GammaGammaModel:
    """Gamma-Gamma model of spend per order (Fader, Hardie & Lee 2005b), fitted by maximum likelihood on
    customers with at least one repeat purchase and their mean spend per repeat purchase.

    Attributes (after ``fit``): ``p_``, ``q_``, ``gamma_``, ``log_likelihood_``, ``n_customers_``,
    ``converged_``, ``iterations_``.
    """

    def __init__(self, max_iter: int = 500):
        self.max_iter = max_iter

    def fit(self, frequency, monetary) -> GammaGammaModel:
        x, z = np.asarray(frequency, float), np.asarray(monetary, float)
        keep = (x > 0) & (z > 0) & np.isfinite(z)
        if keep.sum() < 2:
            raise InsufficientDataError(
                "The spend model needs customers with a repeat purchase and positive spend.",
                needed=2,
                found=int(keep.sum()),
            )
        x, z = x[keep], z[keep]
        scale = float(np.mean(z))  # fit on spend in units of its mean: gamma's start of 1 is then sensible
        zs = z / scale

        def objective(log_params: np.ndarray):
            value, grad = _gamma_gamma_objective(log_params, x, zs, True)
            return value / len(x), grad / len(x)

        best, self.converged_, self.iterations_ = _minimise(objective, np.zeros(3), self.max_iter)
        p, q, gamma = np.exp(best)
        self.p_, self.q_, self.gamma_ = float(p), float(q), float(gamma * scale)
        # the population's mean spend per order, p gamma / (q - 1), is infinite when q <= 1 (a very long
        # tail of big spenders): the observed mean of the fitted customers stands in for it then
        self.population_mean_ = (
            self.p_ * self.gamma_ / (self.q_ - 1) if self.q_ > 1 else float(np.average(z, weights=x))
        )
        # the likelihood of the spend itself (rescaling spend shifts the density by log(scale) per customer)
        self.log_likelihood_ = -_gamma_gamma_objective(best, x, zs, False)[0] - len(x) * math.log(scale)
        self.n_customers_ = int(len(x))
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"p": self.p_, "q": self.q_, "gamma": self.gamma_}

    def expected_order_value(self, frequency, monetary) -> np.ndarray:
        """E[spend per order | x, mean spend]: ``p (gamma + x m) / (p x + q - 1)``; the population mean
        ``population_mean_`` for customers without a repeat purchase."""
        x = np.asarray(frequency, float)
        m = np.nan_to_num(np.asarray(monetary, float), nan=0.0)
        x = np.where(m > 0, x, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = self.p_ * (self.gamma_ + x * m) / (self.p_ * x + self.q_ - 1)
        return np.where(x > 0, value, self.population_mean_)


def _gamma_gamma_objective(log_params, x, z, with_grad: bool):
    from scipy.special import digamma, gammaln

    p, q, gamma = np.exp(log_params)
    px = p * x
    log_term = np.log(gamma + x * z)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(z)
        + px * np.log(x)
        - (px + q) * log_term
    )
    value = -float(np.sum(ll))
    if not with_grad:
        return value, None
    psi = digamma(px + q)
    d_p = np.sum(x * (psi - digamma(px) + np.log(z) + np.log(x) - log_term))
    d_q = np.sum(psi - digamma(q) + np.log(gamma) - log_term)
    d_gamma = np.sum(q / gamma - (px + q) / (gamma + x * z))
    return value, -np.array([d_p * p, d_q * q, d_gamma * gamma])


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PurchaseSummary:
    """Per-customer purchase history as of ``as_of`` (the model's input) and what was left out.

    ``frame``: customer_id, purchases (distinct purchase days), repeat_purchases, recency_days (first to
    last purchase day), age_days (first purchase day to ``as_of``), average_order_value (mean spend per
    purchase day), monetary (mean spend per repeat purchase day; NaN without one), first_purchase.
    """

    frame: pd.DataFrame
    as_of: dt.date
    first_order: dt.date | None
    guest_lines: int
    return_lines: int

    @property
    def history_days(self) -> int:
        return 0 if self.first_order is None else (self.as_of - self.first_order).days

    @property
    def repeat_buyers(self) -> int:
        return int((self.frame["repeat_purchases"] > 0).sum())


_SUMMARY_SQL = """
WITH lines AS (
    SELECT
        customer_id,
        CAST(order_date AS DATE) AS day,
        CAST(coalesce(amount, 0) AS DECIMAL(18, 4)) AS amount,  -- exact sums: the same data gives the same fit
        coalesce(is_return, coalesce(amount, 0) < 0) AS is_return
    FROM orders
    WHERE order_date < $day_after
),
days AS (
    SELECT customer_id, day, sum(amount) AS spend
    FROM lines
    WHERE customer_id IS NOT NULL AND NOT is_return
    GROUP BY customer_id, day
),
marked AS (
    SELECT *, day = min(day) OVER (PARTITION BY customer_id) AS is_first FROM days
)
SELECT
    customer_id,
    count(*) AS purchases,
    count(*) - 1 AS repeat_purchases,
    date_diff('day', min(day), max(day)) AS recency_days,
    date_diff('day', min(day), $as_of) AS age_days,
    CAST(avg(spend) AS DOUBLE) AS average_order_value,
    CAST(avg(spend) FILTER (WHERE NOT is_first) AS DOUBLE) AS monetary,
    min(day) AS first_purchase
FROM marked
GROUP BY customer_id
ORDER BY customer_id
"""

_LEFT_OUT_SQL = """
SELECT
    count(*) FILTER (WHERE customer_id IS NULL) AS guest_lines,
    count(*) FILTER (WHERE customer_id IS NOT NULL AND coalesce(is_return, coalesce(amount, 0) < 0))
        AS return_lines,
    CAST(min(order_date) AS DATE) AS first_order
FROM orders
WHERE order_date < $day_after
"""


def _to_date(value: dt.date | str | None, name: str = "as-of date") -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise SchemaError(f"The {name} {value!r} is not a date: write it as YYYY-MM-DD.") from None


def last_order_date(con: Connection) -> dt.date | None:
    """The day of the last order line (any customer), or None when there are no orders."""
    row = con.execute("SELECT CAST(max(order_date) AS DATE) FROM orders").fetchone()
    return row[0] if row else None


def purchase_summary(con: Connection, as_of: dt.date | str | None = None) -> PurchaseSummary:
    """Frequency, recency, age and spend per customer from the orders table, computed in DuckDB.

    Parameters
    ----------
    con : store connection or cursor.
    as_of : the last day counted (inclusive); default the day of the last order.

    Returns
    -------
    PurchaseSummary (see its docstring for the columns); customers with no purchase up to ``as_of`` are
    not in it.
    """
    day = _to_date(as_of) or last_order_date(con)
    if day is None:
        raise InsufficientDataError("There are no orders to predict from: load an order log first.")
    bound = {"as_of": day, "day_after": day + dt.timedelta(days=1)}
    frame = con.execute(_SUMMARY_SQL, bound).df()
    guests, returns, first = con.execute(_LEFT_OUT_SQL, {"day_after": bound["day_after"]}).fetchone()
    for column in ("purchases", "repeat_purchases", "recency_days", "age_days"):
        frame[column] = frame[column].astype("int64")
    frame["customer_id"] = frame["customer_id"].astype(str)
    return PurchaseSummary(
        frame=frame,
        as_of=day,
        first_order=first,
        guest_lines=int(guests or 0),
        return_lines=int(returns or 0),
    )


# Purchase days (the model's repeat transactions): distinct days per customer, returns and guests left out.
_PURCHASE_DAYS = """days AS (
    SELECT DISTINCT customer_id, CAST(order_date AS DATE) AS day
    FROM orders
    WHERE customer_id IS NOT NULL AND order_date < $day_after
      AND NOT coalesce(is_return, coalesce(amount, 0) < 0)
)"""

_REGULARITY_SQL = f"""
WITH {_PURCHASE_DAYS},
gaps AS (
    SELECT customer_id, date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
    FROM days
),
per_customer AS (
    SELECT customer_id, count(gap) AS gaps, stddev_pop(gap) / avg(gap) AS cv, median(gap) AS typical
    FROM gaps
    GROUP BY customer_id
    HAVING count(gap) >= $min_gaps
)
SELECT count(*) AS customers, count(*) FILTER (WHERE cv < $cv) AS regular, median(typical) AS typical_gap
FROM per_customer
"""


# ---------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class FitChecks:
    """Whether the data suits the models; when ``passed`` is False, ``messages`` say why, plainly."""

    passed: bool
    messages: tuple[str, ...]
    customers: int
    repeat_buyers: int
    history_days: int
    regular_share: float | None
    typical_gap_days: float | None


def fit_checks(con: Connection, summary: PurchaseSummary) -> FitChecks:
    """The model assumes non-contractual purchasing at any time: refuse data with too few customers or
    repeat buyers, under about three months of history, or a subscription-like regular pattern."""
    customers, repeat, history = len(summary.frame), summary.repeat_buyers, summary.history_days
    messages = []
    if customers < MIN_CUSTOMERS:
        messages.append(
            f"Only {customers:,} customers bought up to {summary.as_of}: the model needs at least "
            f"{MIN_CUSTOMERS:,} to learn how customers differ."
        )
    if repeat < MIN_REPEAT_BUYERS:
        messages.append(
            f"Only {repeat:,} customers bought on more than one day up to {summary.as_of}: the model learns "
            f"how often people come back from repeat buyers and needs at least {MIN_REPEAT_BUYERS}."
        )
    if history < MIN_HISTORY_DAYS:
        messages.append(
            f"The orders cover {history} days up to {summary.as_of}; predicting who comes back needs at "
            f"least {MIN_HISTORY_DAYS} days (about three months) of history."
        )
    row = con.execute(
        _REGULARITY_SQL,
        {
            "day_after": summary.as_of + dt.timedelta(days=1),
            "min_gaps": SUBSCRIPTION_MIN_PURCHASES - 1,
            "cv": SUBSCRIPTION_GAP_CV,
        },
    ).fetchone()
    regular_customers, regular, typical = row
    share = regular / regular_customers if regular_customers else None
    if share is not None and regular_customers >= MIN_REPEAT_BUYERS and share >= SUBSCRIPTION_SHARE:
        messages.append(
            f"{share:.0%} of the {regular_customers:,} customers with {SUBSCRIPTION_MIN_PURCHASES}+ purchase days "
            f"buy at nearly fixed intervals (typically every {typical:.0f} days): this looks like a "
            "subscription, where customers leave by cancelling. The model is made for customers who can buy "
            "at any time and leave silently, so it would mislead here."
        )
    return FitChecks(
        passed=not messages,
        messages=tuple(messages),
        customers=customers,
        repeat_buyers=repeat,
        history_days=history,
        regular_share=share,
        typical_gap_days=None if typical is None else float(typical),
    )


# ---------------------------------------------------------------------------------------------- scoring


def risk_bands(churn_risk, bands: pd.DataFrame | None = None) -> np.ndarray:
    """The band of each churn risk under ``bands`` (default ``RISK_BANDS``: first row whose ``min_risk``
    the risk reaches, rows in descending ``min_risk``)."""
    table = (RISK_BANDS if bands is None else bands).sort_values("min_risk", ascending=False)
    risk = np.asarray(churn_risk, float)
    out = np.full(risk.shape, table["band"].iloc[-1], dtype=object)
    assigned = np.zeros(risk.shape, bool)
    for band, low in zip(table["band"], table["min_risk"], strict=True):
        hit = ~assigned & (risk >= low)
        out[hit] = band
        assigned |= hit
    return out


def clv_values(
    model: BetaGeoModel,
    order_value: np.ndarray,
    frequency,
    recency,
    T,
    horizon_days: float,
    discount_rate: float,
) -> np.ndarray:
    """Discounted value of the next ``horizon_days``: the horizon is cut into ``ceil(horizon / 30)`` equal
    periods; each period's expected purchases x order value is discounted at ``discount_rate`` per 30 days
    from the period's end."""
    periods = max(1, math.ceil(horizon_days / MONTH_DAYS))
    step = horizon_days / periods
    total = np.zeros(len(np.asarray(frequency)), float)
    before = np.zeros_like(total)
    for k in range(1, periods + 1):
        upto = model.expected_purchases(k * step / WEEK, frequency, recency, T)
        total += order_value * (upto - before) / (1 + discount_rate) ** (k * step / MONTH_DAYS)
        before = upto
    return total


@dataclass
class FittedModels:
    """Both models fitted on one summary, with the fit's cost."""

    purchases: BetaGeoModel
    spend: GammaGammaModel
    fit_seconds: float


def fit_models(summary: PurchaseSummary) -> FittedModels:
    """BG/NBD on every customer, Gamma-Gamma on repeat buyers with positive spend (time in weeks)."""
    started = time.perf_counter()
    frame = summary.frame
    x = frame["repeat_purchases"].to_numpy(float)
    purchases = BetaGeoModel().fit(
        x, frame["recency_days"].to_numpy(float) / WEEK, frame["age_days"].to_numpy(float) / WEEK
    )
    spend = GammaGammaModel().fit(x, frame["monetary"].to_numpy(float))
    return FittedModels(purchases, spend, time.perf_counter() - started)


def score_customers(
    models: FittedModels,
    summary: PurchaseSummary,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    bands: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer (``SCORE_COLUMNS``), highest CLV first (ties by customer_id)."""
    frame = summary.frame
    x = frame["repeat_purchases"].to_numpy(float)
    tx = frame["recency_days"].to_numpy(float) / WEEK
    age = frame["age_days"].to_numpy(float) / WEEK
    bgnbd = models.purchases
    order_value = models.spend.expected_order_value(x, frame["monetary"].to_numpy(float))
    risk = bgnbd.p_no_purchase(horizon_days / WEEK, x, tx, age)
    out = frame[
        ["customer_id", "purchases", "repeat_purchases", "recency_days", "age_days", "average_order_value"]
    ].copy()
    out["p_alive"] = bgnbd.p_alive(x, tx, age)
    out["expected_purchases"] = bgnbd.expected_purchases(horizon_days / WEEK, x, tx, age)
    out["expected_order_value"] = order_value
    out["clv"] = clv_values(bgnbd, order_value, x, tx, age, horizon_days, discount_rate)
    out["churn_risk"] = risk
    out["risk_band"] = risk_bands(risk, bands)
    out = out.sort_values(["clv", "customer_id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- holdout


@dataclass(frozen=True)
class HoldoutCheck:
    """Predictions made at ``calibration_end`` compared with what happened up to ``holdout_end``.

    ``tracking``: week_start, actual, predicted, actual_cumulative, predicted_cumulative (repeat purchases
    per week of customers whose first purchase is on or before ``calibration_end``).
    ``by_purchases``: calibration_purchases (repeat purchases before; the last row is "k+"), customers,
    actual (mean repeat purchases in the holdout), predicted (mean expected).
    ``bands``: band, customers, share_not_back (share who bought nothing in the holdout), mean_risk.
    """

    calibration_end: dt.date
    holdout_end: dt.date
    holdout_days: int
    customers: int
    predicted_total: float
    actual_total: int
    auc: float | None
    auc_p_alive: float | None
    tracking: pd.DataFrame
    by_purchases: pd.DataFrame
    bands: pd.DataFrame
    params: dict[str, float]

    @property
    def sentence(self) -> str:
        weeks = self.holdout_days / WEEK
        span = f"{weeks:.0f} weeks" if self.holdout_days % 7 == 0 else f"{self.holdout_days} days"
        gap = (self.predicted_total - self.actual_total) / self.actual_total if self.actual_total else None
        how = "" if gap is None else f" ({abs(gap):.0%} {'over' if gap > 0 else 'under'})"
        return (
            f"Fitted on orders up to {self.calibration_end}, the model predicted "
            f"{self.predicted_total:,.0f} repeat purchases by these {self.customers:,} customers in the "
            f"{span} after; they made {self.actual_total:,}{how}."
        )


# Purchase days after the calibration date of each customer who bought by then, in the summary's order (both
# ORDER BY customer_id over customers with a purchase day on or before the calibration date): no customer ids
# travel to pandas, which at a million customers was most of the check's time.
_HOLDOUT_SQL = f"""
WITH {_PURCHASE_DAYS},
per_customer AS (
    SELECT customer_id, min(day) AS first_day, count(*) FILTER (WHERE day > $cal_end) AS later
    FROM days
    GROUP BY customer_id
)
SELECT later FROM per_customer WHERE first_day <= $cal_end ORDER BY customer_id
"""


def default_calibration_end(
    con: Connection, horizon_days: int = DEFAULT_HORIZON_DAYS, end: dt.date | str | None = None
) -> dt.date | None:
    """``end`` (default the last order day) minus the check's length: ``horizon_days``, capped at half the
    history up to ``end`` so the calibration keeps at least half of it."""
    row = con.execute(
        "SELECT CAST(min(order_date) AS DATE), CAST(max(order_date) AS DATE) FROM orders"
    ).fetchone()
    if not row or row[1] is None:
        return None
    last = _to_date(end, "end of the check") or row[1]
    span = max((last - row[0]).days, 0)
    return last - dt.timedelta(days=min(horizon_days, span // 2))


def holdout_check(
    con: Connection,
    calibration_end: dt.date | str | None = None,
    holdout_end: dt.date | str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    bands: pd.DataFrame | None = None,
    max_purchases: int = 7,
) -> HoldoutCheck:
    """Fit on orders up to ``calibration_end`` and compare with the repeat purchases after it, up to
    ``holdout_end`` (default: the last order). Raises ``InsufficientDataError`` when the calibration data
    does not suit the model or there is no later period."""
    from sklearn.metrics import roc_auc_score

    last = last_order_date(con)
    if last is None:
        raise InsufficientDataError("There are no orders to predict from: load an order log first.")
    end = _to_date(holdout_end, "end of the check") or last
    cal_end = _to_date(calibration_end, "calibration date") or default_calibration_end(con, horizon_days, end)
    if end <= cal_end:
        raise InsufficientDataError(
            f"There are no orders after {cal_end} to check the predictions against: choose an earlier date."
        )
    summary = purchase_summary(con, cal_end)
    checks = fit_checks(con, summary)
    if not checks.passed:
        raise InsufficientDataError(" ".join(checks.messages))
    models = fit_models(summary)
    bgnbd = models.purchases
    frame = summary.frame
    holdout_days = (end - cal_end).days
    x = frame["repeat_purchases"].to_numpy(float)
    tx = frame["recency_days"].to_numpy(float) / WEEK
    age = frame["age_days"].to_numpy(float) / WEEK
    expected = bgnbd.expected_purchases(holdout_days / WEEK, x, tx, age)
    risk = bgnbd.p_no_purchase(holdout_days / WEEK, x, tx, age)
    p_alive = bgnbd.p_alive(x, tx, age)

    actual = np.asarray(
        con.execute(_HOLDOUT_SQL, {"cal_end": cal_end, "day_after": end + dt.timedelta(days=1)}).fetchnumpy()[
            "later"
        ],
        float,
    )
    if len(actual) != len(frame):  # the same customers by construction; a mismatch would misalign every row
        raise InsufficientDataError("The orders changed while the check ran: open the page again.")
    not_back = actual == 0
    auc = auc_alive = None
    if 0 < not_back.sum() < len(not_back):
        auc = float(roc_auc_score(not_back, risk))
        auc_alive = float(roc_auc_score(not_back, 1 - p_alive))

    # tracking: calendar weeks from the first purchase; actual = repeat purchase days of these customers
    first = pd.to_datetime(frame["first_purchase"])
    start_day = first.min().date()
    weeks = ((end - start_day).days + 1) // 7  # whole weeks only: a last partial week would look like a drop
    week_starts = pd.to_datetime([start_day + dt.timedelta(days=7 * k) for k in range(weeks)])
    edges = np.arange(weeks + 1) * 7.0
    first_offset = (first - pd.Timestamp(start_day)).dt.days.to_numpy(float)
    # expected repeat purchases by each week's end: E[X(elapsed)] summed over customers (grouped by their
    # first purchase day); a purchase on day d is at time d - first day, so days before e end at e - 1
    offsets, counts = np.unique(first_offset, return_counts=True)
    cumulative = np.zeros(len(edges))
    for offset, count in zip(offsets, counts, strict=True):
        since = np.clip(edges - offset - 1, 0, None) / WEEK
        cumulative += count * bgnbd.expected_purchases_new(since)
    day_offsets = _repeat_day_offsets(con, start_day, cal_end, end)
    tracking = pd.DataFrame(
        {
            "week_start": week_starts,
            "actual": np.histogram(day_offsets, bins=edges)[0].astype(float),
            "predicted": np.diff(cumulative),
        }
    )
    tracking["actual_cumulative"] = tracking["actual"].cumsum()
    tracking["predicted_cumulative"] = tracking["predicted"].cumsum()

    capped = np.minimum(x, max_purchases)
    by = pd.DataFrame({"k": capped, "actual": actual, "predicted": expected})
    by_purchases = (
        by.groupby("k").agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
    ).reset_index()
    by_purchases["calibration_purchases"] = [
        f"{int(k)}+" if k == max_purchases else str(int(k)) for k in by_purchases["k"]
    ]
    by_purchases = by_purchases[["calibration_purchases", "customers", "actual", "predicted"]]

    band = risk_bands(risk, bands)
    order = (RISK_BANDS if bands is None else bands).sort_values("min_risk")["band"].tolist()
    band_frame = (
        pd.DataFrame({"band": band, "not_back": not_back, "risk": risk})
        .groupby("band")
        .agg(customers=("risk", "size"), share_not_back=("not_back", "mean"), mean_risk=("risk", "mean"))
        .reindex(order)
        .dropna(subset=["customers"])
        .reset_index()
    )
    band_frame["customers"] = band_frame["customers"].astype(int)
    return HoldoutCheck(
        calibration_end=cal_end,
        holdout_end=end,
        holdout_days=holdout_days,
        customers=len(frame),
        predicted_total=float(expected.sum()),
        actual_total=int(actual.sum()),
        auc=auc,
        auc_p_alive=auc_alive,
        tracking=tracking,
        by_purchases=by_purchases,
        bands=band_frame,
        params=bgnbd.params_ | models.spend.params_,
    )


def _repeat_day_offsets(con: Connection, start: dt.date, cal_end: dt.date, end: dt.date) -> np.ndarray:
    """Days from ``start`` of every repeat purchase day up to ``end`` of customers whose first purchase is
    on or before ``cal_end``."""
    rows = con.execute(
        f"""
        WITH {_PURCHASE_DAYS},
        marked AS (
            SELECT day, min(day) OVER (PARTITION BY customer_id) AS first_day FROM days
        )
        SELECT date_diff('day', $start, day) AS offset FROM marked
        WHERE day > first_day AND first_day <= $cal_end
        """,
        {"day_after": end + dt.timedelta(days=1), "start": start, "cal_end": cal_end},
    ).fetchnumpy()
    return np.asarray(rows["offset"], float)


# ---------------------------------------------------------------------------------------------- stored


@dataclass(frozen=True)
class Prediction:
    """Predictions as of ``as_of`` for the next ``horizon_days`` (scores stored as a result table)."""

    as_of: dt.date
    horizon_days: int
    discount_rate: float
    checks: FitChecks
    params: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None
    customers: int = 0
    repeat_buyers: int = 0
    guest_lines: int = 0
    return_lines: int = 0
    fit_seconds: float = 0.0
    store_params: dict[str, Any] = field(default_factory=dict)
    spend_correlation: float | None = None  # repeat buyers' purchases vs mean spend (Pearson)

    @property
    def spend_note(self) -> str | None:
        """A warning when spend per order moves with the number of purchases: the spend model assumes they
        are independent (Fader, Hardie & Lee 2005b), so expected order values lean the wrong way."""
        r = self.spend_correlation
        if r is None or abs(r) < SPEND_CORRELATION_LIMIT:
            return None
        more = "more" if r > 0 else "less"
        return (
            f"Customers who buy more often spend {more} per order here (correlation {r:.2f}); the spend model "
            "assumes the two are unrelated, so read expected order values and CLV as rough."
        )

    @property
    def caption(self) -> str:
        return (
            f"{self.customers:,} customers ({self.repeat_buyers:,} bought on more than one day), orders up to "
            f"{self.as_of}. Left out: {self.return_lines:,} return lines and {self.guest_lines:,} guest order "
            "lines (no customer id)."
        )


def _params(as_of: dt.date, horizon_days: int, discount_rate: float) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": int(horizon_days),
        "discount_rate": float(discount_rate),
    }


def predict_customers(
    con: Connection,
    as_of: dt.date | str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    progress: ProgressFn | None = None,
) -> Prediction:
    """Fit both models on orders up to ``as_of`` (default the last order day) and score every customer;
    stored once per data version and parameters. When the data does not suit the model, the result has
    ``checks.passed`` False and no scores (``prediction_scores`` raises with the reasons).
    """
    if horizon_days < 1:
        raise SchemaError(f"The horizon is a number of days (1 or more), not {horizon_days}.")
    if not 0 <= discount_rate < 1:
        raise SchemaError(
            f"The discount rate is per month, between 0 and 1 (0.01 = 1%), not {discount_rate}."
        )
    day = _to_date(as_of) or last_order_date(con)
    if day is None:
        raise InsufficientDataError("There are no orders to predict from: load an order log first.")
    params = _params(day, horizon_days, discount_rate)
    kind, scores_kind = "predict_summary", "predict_scores"

    def find():
        found = store.get_blob(con, kind, params)
        if found is None or (found.checks.passed and store.result_table(con, scores_kind, params) is None):
            return None
        return found

    def compute() -> Prediction:
        if progress:
            progress(0.0, "Summarising each customer's purchases")
        summary = purchase_summary(con, day)
        checks = fit_checks(con, summary)
        base = dict(
            as_of=day,
            horizon_days=int(horizon_days),
            discount_rate=float(discount_rate),
            checks=checks,
            customers=len(summary.frame),
            repeat_buyers=summary.repeat_buyers,
            guest_lines=summary.guest_lines,
            return_lines=summary.return_lines,
            store_params=params,
        )
        if not checks.passed:
            result = Prediction(**base)
            store.put_blob(con, kind, params, result)
            return result
        if progress:
            progress(0.3, "Fitting the purchase and spend models")
        models = fit_models(summary)
        if progress:
            progress(0.7, "Scoring every customer")
        scores = score_customers(models, summary, horizon_days, discount_rate)
        store.put_result(con, scores_kind, params, scores)
        repeat = summary.frame[summary.frame["repeat_purchases"] > 0]
        correlation = (
            float(repeat["repeat_purchases"].corr(repeat["monetary"]))
            if len(repeat) > 2 and repeat["repeat_purchases"].nunique() > 1
            else None
        )
        result = Prediction(
            params=models.purchases.params_ | models.spend.params_,
            log_likelihood=models.purchases.log_likelihood_,
            fit_seconds=models.fit_seconds,
            spend_correlation=None if correlation is None or math.isnan(correlation) else correlation,
            **base,
        )
        store.put_blob(con, kind, params, result)
        if progress:
            progress(1.0, "Done")
        return result

    return store.compute_once(con, kind, params, find, compute)


def prediction_scores(con: Connection, prediction: Prediction) -> pd.DataFrame:
    """The stored per-customer scores of ``prediction`` (``SCORE_COLUMNS``), highest CLV first."""
    table = _scores_table(con, prediction)
    return con.execute(f"SELECT * EXCLUDE (_pos) FROM {store.quote_ident(table)} ORDER BY _pos").df()


def stored_holdout_check(
    con: Connection,
    calibration_end: dt.date | str | None = None,
    holdout_end: dt.date | str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> HoldoutCheck:
    """``holdout_check`` stored once per data version and parameters."""
    end = _to_date(holdout_end, "end of the check") or last_order_date(con)
    cal_end = _to_date(calibration_end, "calibration date") or default_calibration_end(con, horizon_days, end)
    if cal_end is None or end is None:
        raise InsufficientDataError("There are no orders to predict from: load an order log first.")
    params = {
        "calibration_end": cal_end.isoformat(),
        "holdout_end": end.isoformat(),
        "horizon_days": horizon_days,
    }
    kind = "predict_holdout"

    def compute() -> HoldoutCheck:
        result = holdout_check(con, cal_end, end, horizon_days=horizon_days)
        store.put_blob(con, kind, params, result)
        return result

    return store.compute_once(con, kind, params, lambda: store.get_blob(con, kind, params), compute)


def at_risk_valuable(scores: pd.DataFrame, top_share: float = 0.2, min_risk: float = 0.5) -> pd.DataFrame:
    """Customers in the top ``top_share`` by CLV whose churn risk is at least ``min_risk``, highest CLV
    first: the ones worth a win-back offer."""
    if scores.empty:
        return scores
    cut = scores["clv"].quantile(1 - top_share)
    picked = scores[(scores["clv"] >= cut) & (scores["churn_risk"] >= min_risk)]
    return picked.sort_values(["clv", "customer_id"], ascending=[False, True]).reset_index(drop=True)


_SEGMENT_VALUE_SQL = """
SELECT
    s.segment,
    count(*) AS customers,
    sum(p.clv) AS clv,
    avg(p.clv) AS clv_per_customer,
    avg(p.churn_risk) AS churn_risk,
    avg(p.p_alive) AS p_alive,
    avg(CASE WHEN p.churn_risk >= $at_risk THEN 1.0 ELSE 0.0 END) AS share_at_risk
FROM {segments} s
JOIN {scores} p ON CAST(s.customer_id AS VARCHAR) = p.customer_id
GROUP BY s.segment
ORDER BY clv DESC, s.segment
"""


def _scores_table(con: Connection, prediction: Prediction) -> str:
    if not prediction.checks.passed:
        raise InsufficientDataError(" ".join(prediction.checks.messages))
    table = store.result_table(con, "predict_scores", prediction.store_params)
    if table is None:
        raise InsufficientDataError("The predictions are out of date: the data changed; open the page again.")
    return table


def segment_value(con: Connection, prediction: Prediction, at_risk: float = 0.5) -> pd.DataFrame:
    """Predicted value and churn risk per RFM segment (segments measured at the prediction's date), highest
    total CLV first: ``segment, customers, clv, clv_per_customer, churn_risk, p_alive, share_at_risk``
    (the share with a churn risk of ``at_risk`` or more). Customers without a purchase are not counted."""
    from engine.rfm import rfm_table

    sql = _SEGMENT_VALUE_SQL.replace(
        "{segments}", store.quote_ident(rfm_table(con, prediction.as_of))
    ).replace("{scores}", store.quote_ident(_scores_table(con, prediction)))
    return con.execute(sql, {"at_risk": at_risk}).df()


def with_predictions(
    con: Connection, frame: pd.DataFrame, prediction: Prediction, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """``frame`` (with a ``customer_id`` column) with each customer's predicted columns appended (default
    ``p_alive, expected_purchases, clv, churn_risk, risk_band``); empty where a customer has no prediction
    (no purchase up to the prediction's date). Row order is kept."""
    wanted = list(columns or ["p_alive", "expected_purchases", "clv", "churn_risk", "risk_band"])
    unknown = [c for c in wanted if c not in SCORE_COLUMNS or c == "customer_id"]
    if unknown:
        raise SchemaError(
            f"Unknown prediction column(s) {', '.join(unknown)}; choose from {SCORE_COLUMNS[1:]}."
        )
    table = _scores_table(con, prediction)
    cols = ", ".join(store.quote_ident(c) for c in ["customer_id", *wanted])
    scores = con.execute(f"SELECT {cols} FROM {store.quote_ident(table)}").df()
    keys = frame["customer_id"].astype(str)
    merged = pd.DataFrame({"customer_id": keys}).merge(scores, on="customer_id", how="left")
    out = frame.copy()
    for column in wanted:
        out[column] = merged[column].to_numpy()
    return out


# ---------------------------------------------------------------------------------------------- command


def predict_command(argv: Sequence[str], con: Connection | None = None) -> int:
    """``segmint predict``: every customer's P(alive), expected purchases and order value, CLV and churn
    risk as CSV, as of a date for the next N days; the check on later months goes to standard error."""
    import argparse
    import json
    import sys
    from pathlib import Path

    from engine.export import to_csv_bytes

    parser = argparse.ArgumentParser(
        prog="segmint predict",
        description="Customer lifetime value and churn risk (BG/NBD + Gamma-Gamma) as CSV: "
        + ", ".join(EXPORT_COLUMNS),
    )
    parser.add_argument(
        "--as-of", help="predict from orders up to this day (YYYY-MM-DD; default the last order)"
    )
    parser.add_argument(
        "--horizon-days", type=int, default=DEFAULT_HORIZON_DAYS, help="days ahead (default 365)"
    )
    parser.add_argument(
        "--discount-rate", type=float, default=DEFAULT_DISCOUNT_RATE, help="per month (default 0.01 = 1%%)"
    )
    parser.add_argument("--out", required=True, help="the CSV file to write ('-' for standard output)")
    parser.add_argument("--no-check", action="store_true", help="skip the check on the months before --as-of")
    parser.add_argument("--json", action="store_true", help="print the headline figures as JSON")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    con = con if con is not None else store.connect(args.db)
    result = predict_customers(con, args.as_of, args.horizon_days, args.discount_rate)
    summary: dict[str, Any] = {
        "as_of": result.as_of.isoformat(),
        "horizon_days": result.horizon_days,
        "discount_rate": result.discount_rate,
        "passed": result.checks.passed,
        "messages": list(result.checks.messages),
        "customers": result.customers,
        "repeat_buyers": result.repeat_buyers,
        "return_lines_left_out": result.return_lines,
        "guest_lines_left_out": result.guest_lines,
    }
    if not result.checks.passed:
        if args.json:
            print(json.dumps(summary, indent=2))
        print("Not predicted: " + " ".join(result.checks.messages), file=sys.stderr)
        return 1
    scores = prediction_scores(con, result)[EXPORT_COLUMNS]
    data = to_csv_bytes(scores)
    if args.out == "-":
        sys.stdout.write(data.decode("utf-8-sig"))
    else:
        Path(args.out).write_bytes(data)
    summary |= {
        "params": result.params,
        "log_likelihood": result.log_likelihood,
        "expected_purchases": float(scores["expected_purchases"].sum()),
        "clv": float(scores["clv"].sum()),
        "risk_bands": {str(k): int(v) for k, v in scores["risk_band"].value_counts().items()},
        "spend_correlation": result.spend_correlation,
    }
    print(result.caption, file=sys.stderr)
    print(
        "Model: "
        + ", ".join(f"{k}={v:.4g}" for k, v in result.params.items())
        + f"; fitted in {result.fit_seconds:.2f} s.",
        file=sys.stderr,
    )
    if result.spend_note:
        print(f"Note: {result.spend_note}", file=sys.stderr)
    if not args.no_check:  # fitted up to --as-of minus the horizon (at most half the history), checked up to
        # --as-of: nothing after --as-of is read
        try:
            check = stored_holdout_check(con, None, result.as_of, args.horizon_days)
            auc = f" Churn risk ranks who did not come back with AUC {check.auc:.3f}." if check.auc else ""
            print(f"Check: {check.sentence}{auc}", file=sys.stderr)
            summary["check"] = {
                "calibration_end": check.calibration_end.isoformat(),
                "holdout_end": check.holdout_end.isoformat(),
                "customers": check.customers,
                "predicted_repeat_purchases": check.predicted_total,
                "actual_repeat_purchases": check.actual_total,
                "auc": check.auc,
                "auc_p_alive": check.auc_p_alive,
                "sentence": check.sentence,
            }
        except InsufficientDataError as error:
            print(f"Check not possible: {error}", file=sys.stderr)
            summary["check"] = {"message": str(error)}
    if args.out != "-":
        print(
            f"Wrote {len(scores):,} customers ({', '.join(scores.columns)}) to {args.out}.", file=sys.stderr
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_DISCOUNT_RATE",
    "RISK_BANDS",
    "SCORE_COLUMNS",
    "EXPORT_COLUMNS",
    "BetaGeoModel",
    "GammaGammaModel",
    "PurchaseSummary",
    "FitChecks",
    "FittedModels",
    "HoldoutCheck",
    "Prediction",
    "purchase_summary",
    "fit_checks",
    "fit_models",
    "score_customers",
    "risk_bands",
    "clv_values",
    "holdout_check",
    "stored_holdout_check",
    "default_calibration_end",
    "predict_customers",
    "prediction_scores",
    "at_risk_valuable",
    "segment_value",
    "with_predictions",
    "predict_command",
]

"""Predict: who will buy again, what each customer is worth over the coming months, who may lapse, and how
well the same model did on months it had not seen."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import engine
from dashboard import components, share, state
from dashboard.charts import predict as cp
from dashboard.charts.campaigns import styled_table
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_money_short, fmt_pct

HORIZONS = {"90 days": 90, "6 months": 182, "1 year": 365}
SCORE_HEADERS = {
    "customer_id": "Customer",
    "segment": "RFM segment",
    "purchases": "Purchase days",
    "recency_days": "First to last purchase (days)",
    "average_order_value": "Spend per purchase day",  # the model's input: returns left out, not net / orders
    "p_alive": "Still a customer (P(alive))",
    "expected_purchases": "Expected purchases",
    "expected_order_value": "Expected order value",
    "clv": "Predicted value (CLV)",
    "churn_risk": "Churn risk",
    "risk_band": "Risk",
}
SCORE_KINDS = {
    "average_order_value": "money",
    "expected_order_value": "money",
    "clv": "money",
    "p_alive": "pct1",
    "churn_risk": "pct1",
    "expected_purchases": "ratio",
}
SHOWN = ["customer_id", "segment", *engine.EXPORT_COLUMNS[1:]]  # the export's columns, with the RFM segment


@st.cache_data(show_spinner=False, max_entries=4)  # a row per customer: keep few copies
def load_scores(version: int, params_key: str, _prediction) -> pd.DataFrame:
    """Scores with each customer's RFM segment beside them."""
    scores = engine.prediction_scores(state.cursor(), _prediction)
    segments = engine.customer_segments(state.cursor(), _prediction.as_of)[["customer_id", "segment"]]
    segments["customer_id"] = segments["customer_id"].astype(str)
    return scores.merge(segments, on="customer_id", how="left")


@st.cache_data(show_spinner=False, max_entries=8)
def load_segment_value(version: int, params_key: str, _prediction) -> pd.DataFrame:
    return engine.segment_value(state.cursor(), _prediction)


def predict(as_of, horizon_days: int, discount_rate: float):
    """The stored predictions, or a fit with a progress bar (once per data version and choice)."""
    holder: dict = {}

    def progress(fraction: float, text: str) -> None:
        if "bar" not in holder:
            holder["bar"] = st.progress(0.0, text="Fitting the purchase and spend models…")
        holder["bar"].progress(min(max(fraction, 0.0), 1.0), text=text)

    result = engine.predict_customers(state.cursor(), as_of, horizon_days, discount_rate, progress=progress)
    if "bar" in holder:
        holder["bar"].empty()
    return result


def table(frame: pd.DataFrame, height: int = 360) -> None:
    shown = frame[[c for c in SHOWN if c in frame.columns]]
    st.dataframe(
        styled_table(shown, SCORE_HEADERS, SCORE_KINDS), hide_index=True, width="stretch", height=height
    )


st.title(":material/online_prediction: Who will buy again")
st.caption(
    "From nothing but the order log: how likely each customer is to come back, how much they are worth over "
    "the coming months, and a check of the same predictions on months the model did not see."
)

version = state.data_version()
if not state.table_counts(version)["orders"]:
    components.no_data("orders", "orders")
    st.stop()

controls = st.columns([1, 1, 2])
horizon_label = controls[0].selectbox(
    "Look ahead",
    list(HORIZONS),
    index=2,
    key="predict_horizon",
    help="How far ahead purchases and value are predicted, and how long the check period is.",
)
horizon = HORIZONS[horizon_label]
discount_pct = controls[1].number_input(
    "Discount rate per month (%)",
    min_value=0.0,
    max_value=20.0,
    value=1.0,
    step=0.5,
    key="predict_discount",
    help="Money next month is worth a little less than money now: future value is discounted by this rate "
    "per month (the discount rate of the customer lifetime value, CLV).",
)
as_of = state.default_as_of(version)
controls[2].caption(
    f"Predicting from orders up to **{as_of}** (the end of the sidebar's date range), for the next "
    f"{horizon} days."
)

try:
    prediction = predict(as_of, horizon, discount_pct / 100)
except engine.EngineError as error:
    components.show_error(error)
    st.stop()

if not prediction.checks.passed:
    st.info(
        "**These orders do not suit the prediction model, so no numbers are shown.**",
        icon=":material/info:",
    )
    for message in prediction.checks.messages:
        st.markdown(f"- {message}")
    st.stop()

scores = load_scores(version, repr(prediction.store_params), prediction)
st.caption(f":material/info: {prediction.caption}")
if prediction.spend_note:
    st.warning(prediction.spend_note, icon=":material/warning:")

at_risk_share = float((scores["churn_risk"] >= 0.5).mean())
components.kpi_row(
    [
        Kpi(
            "Customers",
            fmt_int(len(scores)),
            help="Customers with at least one purchase up to the date; a purchase is a day with an order.",
        ),
        Kpi(
            "Came back",
            fmt_int(prediction.repeat_buyers),
            help="Customers who bought on more than one day: the model learns how often people return from "
            "them (repeat purchases).",
        ),
        Kpi(
            "Expected purchases",
            fmt_int(scores["expected_purchases"].sum()),
            help=f"Over the next {horizon} days, summed over customers: the expected number of purchase days "
            "(BG/NBD model, conditional expectation).",
        ),
        Kpi(
            "Predicted value (CLV)",
            fmt_money_short(scores["clv"].sum()),
            help=f"Over the next {horizon} days, summed over customers: expected purchases x expected order "
            "value (Gamma-Gamma model), discounted per month.",
        ),
        Kpi(
            "At risk or lost",
            fmt_pct(at_risk_share, 0),
            help=f"Customers at least 50% likely to buy nothing in the next {horizon} days (churn risk).",
        ),
    ]
)

worth, lapse, valuable, check, model = st.tabs(
    ["Who is worth most", "Who may lapse", "At risk and valuable", "How well it predicts", "The model"]
)

with worth:
    left, right = st.columns([1, 1])
    with left:
        share.chart(cp.clv_histogram(scores, horizon), scores, "predict_clv")
    top_share = scores["clv"].nlargest(max(1, len(scores) // 10)).sum() / max(scores["clv"].sum(), 1e-9)
    right.markdown(
        f"The top 10% of customers hold **{top_share:.0%}** of the predicted value. Predicted value (CLV) is "
        "how many purchases a customer is expected to make times what they are expected to spend per order, "
        "discounted per month."
    )
    st.subheader("Top customers by predicted value")
    table(scores.head(100))
    components.csv_download(scores[[c for c in SHOWN if c in scores.columns]], "predicted_value.csv")

with lapse:
    bands = (
        scores.groupby("risk_band", observed=True)
        .agg(customers=("customer_id", "size"), clv=("clv", "sum"), churn_risk=("churn_risk", "mean"))
        .reindex(list(engine.RISK_BANDS["band"][::-1]))
        .dropna(subset=["customers"])
        .reset_index()
        .rename(columns={"risk_band": "band"})
    )
    bands["customers"] = bands["customers"].astype(int)
    left, right = st.columns([1, 1])
    with left:
        share.chart(cp.risk_band_chart(bands), bands, "predict_bands")
    with right:
        st.markdown(
            f"**Churn risk** is the chance a customer buys nothing in the next {horizon} days: either they "
            "have already left, or they are still a customer but do not buy in that time."
        )
        bands_table = engine.RISK_BANDS.assign(min_risk=engine.RISK_BANDS["min_risk"].map("{:.0%}".format))
        st.dataframe(
            bands_table.rename(columns={"band": "Risk", "min_risk": "Risk from", "description": "Meaning"}),
            hide_index=True,
            width="stretch",
        )
    st.subheader("Risk beside the RFM segment")
    by_segment = load_segment_value(version, repr(prediction.store_params), prediction)
    st.dataframe(
        styled_table(
            by_segment,
            {
                "segment": "RFM segment",
                "churn_risk": "Mean churn risk",
                "p_alive": "Mean P(alive)",
                "clv": "Predicted value (CLV)",
                "clv_per_customer": "CLV per customer",
                "share_at_risk": "At risk or lost",
            },
            {
                "churn_risk": "pct1",
                "p_alive": "pct1",
                "clv": "money",
                "clv_per_customer": "money",
                "share_at_risk": "pct1",
            },
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "P(alive) is 100% for every customer who bought only once: the model lets customers leave only right "
        "after a purchase. Churn risk also counts the chance that a customer buys nothing in the time ahead, "
        "so it is the figure to act on."
    )
    components.csv_download(by_segment, "risk_by_segment.csv", key="dl_risk_by_segment")

with valuable:
    picked = engine.at_risk_valuable(scores)
    if picked.empty:
        # a sentence about "0 customers ... together $0" would read as a finding; say what it means instead
        st.markdown(
            f"**No customer is both valuable and at risk:** everyone in the top 20% by predicted value is more "
            f"likely than not to buy again in the next {horizon} days. A shorter look-ahead is stricter and "
            "may show who is slipping."
        )
    else:
        st.markdown(
            f"**{len(picked):,} customers** are in the top 20% by predicted value and at least 50% likely to "
            f"buy nothing in the next {horizon} days: together {fmt_money(picked['clv'].sum())} of predicted "
            "value. They are the first to win back."
        )
        table(picked, height=420)
        components.csv_download(
            picked[[c for c in SHOWN if c in picked.columns]], "at_risk_and_valuable.csv", key="dl_at_risk"
        )

with check:
    try:
        with st.spinner("Checking the model on the months after a calibration date…"):
            holdout = engine.stored_holdout_check(state.cursor(), None, as_of, horizon)
    except engine.EngineError as error:
        components.show_error(error)
    else:
        st.markdown(f"**{holdout.sentence}**")
        if holdout.auc is not None:
            st.markdown(
                f"Churn risk told apart who did not come back from who did with an AUC of **{holdout.auc:.2f}** "
                "(0.5 is a coin toss, 1 is perfect).",
                help="ROC AUC of the churn risk at the calibration date against 'no purchase in the check "
                f"period'. The model's P(alive) alone scores {holdout.auc_p_alive:.2f}: it counts every "
                "customer who bought only once as still a customer.",
            )
        cumulative = st.toggle("Show running totals", key="predict_cumulative")
        share.chart(
            cp.tracking_chart(holdout.tracking, holdout.calibration_end, cumulative),
            holdout.tracking,
            "predict_tracking",
        )
        st.caption(
            f"The model learned from orders up to {holdout.calibration_end} and predicted the "
            f"{holdout.holdout_days} days after; customers who first bought later are not in this chart. The "
            "model knows no seasons or campaigns: a holiday peak shows as actual above predicted, and the "
            "totals over the whole period are what to compare."
        )
        left, right = st.columns([3, 2])
        with left:
            share.chart(
                cp.by_purchases_chart(holdout.by_purchases), holdout.by_purchases, "predict_by_purchases"
            )
        with right:
            st.markdown("**What each risk band did in the check period**")
            st.dataframe(
                styled_table(
                    holdout.bands,
                    {
                        "band": "Risk",
                        "share_not_back": "Did not come back",
                        "mean_risk": "Predicted risk",
                    },
                    {"share_not_back": "pct1", "mean_risk": "pct1"},
                ),
                hide_index=True,
                width="stretch",
            )

with model:
    params = prediction.params
    st.markdown(
        "Two models from the customer-base analysis literature, fitted by maximum likelihood:\n\n"
        f"- **How often and how long customers buy** (BG/NBD, Fader, Hardie & Lee 2005): purchase rate "
        f"Gamma(r = {params['r']:.3g}, alpha = {params['alpha']:.3g} weeks); chance of leaving after a "
        f"purchase Beta(a = {params['a']:.3g}, b = {params['b']:.3g}); log-likelihood "
        f"{prediction.log_likelihood:,.1f}.\n"
        f"- **What they spend per order** (Gamma-Gamma): p = {params['p']:.3g}, q = {params['q']:.3g}, "
        f"gamma = {params['gamma']:.3g}, fitted on customers who came back.\n\n"
        "A purchase is a day with an order (two orders on one day count once); returns and guest orders "
        "are left out. The models suit shops where customers can buy at any time and leave without telling "
        "you; for subscriptions they are the wrong tool."
    )
    st.caption(f"Fitted in {prediction.fit_seconds:.2f} s; stored until the data changes.")

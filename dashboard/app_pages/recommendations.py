"""Recommendations: what we would suggest to each customer and why, how much better than best-sellers
that is, similar products, and every customer's list for export."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import engine
from dashboard import auth, charts_recommend, components, state
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_pct

SETTINGS = "rec_settings"
TUNING = "rec_tuning"
TAB_KEY = "rec_tab"
TABS = ["Customer", "Evaluation", "Similar products", "All customers"]
PERCENT_COLUMNS = ["precision", "recall", "hit_rate", "coverage"]
PARAM_LABELS = {
    "n_factors": "taste factors",
    "n_epochs": "training passes",
    "lr_all": "learning rate",
    "reg_all": "regularisation",
}
EXPORT_COLUMNS = {
    "customer_id": "Customer",
    "rank": st.column_config.NumberColumn("#", width="small"),
    "product_id": "Product id",
    "name": "Product",
    "category": "Category",
    "price": st.column_config.NumberColumn("Price", format="dollar"),
    "predicted_rating": st.column_config.NumberColumn("Predicted", format="%.2f"),
    "score": st.column_config.NumberColumn("Ranking score", format="%.2f"),
    "fallback": "Fallback",
    "reason": "Reason",
    "cold_item": "New product",
    "because_product_id": "Because of (id)",
    "because_name": "Because of",
}
SPLITS = {
    "time": "Each customer's latest ratings (what they did next)",
    "random": "A random 20% of all ratings",
}


# ------------------------------------------------------------------------------------------ cached reads


@st.cache_data(show_spinner=False, max_entries=8)
def load_categories(version: int) -> list[str]:
    return sorted({str(c) for c in engine.product_categories(state.cursor()).values()})


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(version: int, params_json: str) -> engine.Recommender:
    """The trained model, shared read-only by every session (a cached resource, not copied per run); it is
    already stored, so this only reads it back once per data version and settings."""
    return engine.train_recommender(state.cursor(), json.loads(params_json))


@st.cache_data(show_spinner=False, max_entries=8)
def load_customers(version: int, table: str) -> pd.DataFrame:
    return engine.recommended_customers(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=4)
def load_segments(version: int) -> pd.DataFrame | None:
    return engine.customer_segment_frame(state.cursor())


@st.cache_data(show_spinner=False, max_entries=4)
def load_personas(version: int) -> dict[str, dict[str, str]]:
    return engine.segment_personas(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_summary(version: int, table: str) -> dict[str, Any]:
    return engine.recommendation_summary(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=4)
def load_export(version: int, table: str) -> pd.DataFrame:
    return engine.export_recommendations(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=8)
def load_catalogue(version: int) -> pd.DataFrame:
    return engine.catalogue(state.cursor())


# ------------------------------------------------------------------------------------------ helpers


def default_settings(has_categories: bool) -> dict[str, Any]:
    options = engine.RecommendOptions(diversity_by="category" if has_categories else "factors")
    return {"params": dict(engine.DEFAULT_PARAMS), "options": options.as_dict()}


def options_of(settings: dict[str, Any]) -> engine.RecommendOptions:
    o = settings["options"]
    return engine.RecommendOptions(
        n=o["n"],
        exclude_inactive=o["exclude_inactive"],
        exclude_out_of_stock=o["exclude_out_of_stock"],
        categories=tuple(o["categories"]),
        diversity=o["diversity"],
        diversity_by=o["diversity_by"],
    )


def progress_in(box) -> engine.recommend.ProgressFn:
    """A progress callback that draws a bar in ``box`` only once work really starts."""
    widgets: dict[str, Any] = {}

    def report(fraction: float, text: str) -> None:
        if "bar" not in widgets:
            widgets["bar"] = box.progress(0.0, text=text)
        widgets["bar"].progress(min(max(float(fraction), 0.0), 1.0), text=text)

    return report


def with_value(choices: list[float], value: float) -> list[float]:
    """Slider choices that always include the current value (tuning may pick one off the list)."""
    return sorted(set(choices) | {float(value)})


def settings_form(settings: dict[str, Any], categories: list[str]) -> None:
    params, options = settings["params"], settings["options"]
    with st.form("rec_settings_form", border=False):
        left, middle, right = st.columns(3)
        with left:
            st.markdown("**Model** (Surprise SVD)")
            n_factors = st.slider(
                "Taste factors",
                2,
                200,
                int(params["n_factors"]),
                help="How many hidden taste dimensions the model learns.",
            )
            n_epochs = st.slider("Training passes (epochs)", 5, 200, int(params["n_epochs"]))
            lr_all = st.select_slider(
                "Learning rate",
                with_value([0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05], params["lr_all"]),
                value=float(params["lr_all"]),
            )
            reg_all = st.select_slider(
                "Regularisation",
                with_value([0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5], params["reg_all"]),
                value=float(params["reg_all"]),
                help="Higher values keep the model from over-reading a few ratings.",
            )
        with middle:
            st.markdown("**Lists**")
            n = st.slider("Products per customer", 3, 50, int(options["n"]))
            min_item = st.slider(
                "Ratings a product needs to be scored on taste",
                1,
                20,
                int(params["min_item_ratings"]),
                help="Products with fewer ratings are scored like products the model has not "
                "seen (average + customer bias) and flagged as new.",
            )
            exclude_inactive = st.checkbox("Leave out inactive products", bool(options["exclude_inactive"]))
            exclude_stock = st.checkbox(
                "Leave out products out of stock", bool(options["exclude_out_of_stock"])
            )
        with right:
            st.markdown("**Focus and variety**")
            chosen = st.multiselect(
                "Only these categories",
                categories,
                default=list(options["categories"]),
                placeholder="All categories",
            )
            diversity = st.slider(
                "Diversity",
                0.0,
                1.0,
                float(options["diversity"]),
                0.1,
                help="0 ranks purely by predicted liking; higher values trade some of it for "
                "products unlike those already in the list.",
            )
            by = st.radio(
                "Vary by",
                ["category", "factors"],
                index=0 if options["diversity_by"] == "category" else 1,
                format_func={"category": "Category", "factors": "Taste profile"}.get,
                horizontal=True,
                disabled=not categories,
            )
        if st.form_submit_button("Apply", icon=":material/check:", type="primary"):
            st.session_state[SETTINGS] = {
                "params": {
                    **params,
                    "n_factors": n_factors,
                    "n_epochs": n_epochs,
                    "lr_all": lr_all,
                    "reg_all": reg_all,
                    "min_item_ratings": min_item,
                },
                "options": {
                    "n": n,
                    "exclude_inactive": exclude_inactive,
                    "exclude_out_of_stock": exclude_stock,
                    "categories": sorted(chosen),
                    "diversity": round(diversity, 4),
                    "diversity_by": by if categories else "factors",
                },
            }
            st.rerun()


def tuning_panel(version: int, settings: dict[str, Any]) -> None:
    n_fits = 3 * int(np.prod([len(v) for v in engine.TUNING_GRID.values()]))
    st.markdown(
        f"**Tune** with Surprise's GridSearchCV ({n_fits} model fits, about a minute on the sample; 3-fold "
        "cross-validation over "
        + "; ".join(
            f"{PARAM_LABELS.get(k, k)} {' or '.join(f'{x:g}' for x in v)}"
            for k, v in engine.TUNING_GRID.items()
        )
        + "; picks the lowest rating error)."
    )
    if st.button("Run tuning", icon=":material/tune:"):
        box = st.empty()
        try:
            data = engine.training_data(state.cursor())
            result = engine.tune_recommender(data, base_params=settings["params"], progress=progress_in(box))
        except engine.EngineError as error:
            components.show_error(error)
            return
        box.empty()
        st.session_state[TUNING] = {"version": version, "table": result.table, "best": result.best_params}
    found = st.session_state.get(TUNING)
    if found and found["version"] == version:
        st.dataframe(
            found["table"],
            hide_index=True,
            width="stretch",
            column_config={
                **{k: v.capitalize() for k, v in PARAM_LABELS.items()},
                "rmse": st.column_config.NumberColumn(
                    "RMSE", format="%.4f", help="Rating error; lower is better."
                ),
                "mae": st.column_config.NumberColumn("MAE", format="%.4f", help="Average rating error."),
            },
        )
        if st.button("Use the best settings", icon=":material/done_all:"):
            st.session_state[SETTINGS] = {**settings, "params": dict(found["best"])}
            st.rerun()


ATTRIBUTE_IN_TEXT = re.compile(r"\b([a-z][a-z0-9_]*) = ([^,()]+?) \(")


def attributes_in_words(text: str) -> str:
    """``loyalty_member = true (1.9x)`` -> ``Loyalty member: yes (1.9x)``, as on the Personas page."""

    def words(found: re.Match) -> str:
        column, value = found.groups()
        value = {"true": "yes", "false": "no"}.get(value.lower(), value)
        return f"{column.replace('_', ' ').capitalize()}: {value} ("

    return ATTRIBUTE_IN_TEXT.sub(words, text)


def why_text(row: pd.Series, verb: str) -> str:
    if row["fallback"]:
        return f"New to the model: {row['reason']}"
    if row["cold_item"]:
        return "New product with few ratings yet: suggested on your overall taste"
    if isinstance(row["because_name"], str) and row["because_name"]:
        return f"Because you {verb} {row['because_name']}"
    return "Matches your taste profile"


# ------------------------------------------------------------------------------------------ views


def customer_view(version: int, table: str, verb: str, scale: tuple[float, float], score_label: str) -> None:
    customers = load_customers(version, table)
    if customers.empty:
        components.no_data("customers", "customers")
        return
    new = set(customers.loc[customers["fallback"], "customer_id"])
    customer = st.selectbox(
        "Customer",
        customers["customer_id"].tolist(),
        key="rec_customer",
        format_func=lambda c: f"{c} (new to the model)" if c in new else c,
        help="Type to search by customer id.",
    )
    cur = state.cursor()
    recs = engine.customer_recommendations(cur, table, customer)
    history = engine.customer_history(cur, customer)

    segments = load_segments(version)
    profile = None
    if segments is not None:
        found = segments[segments["customer_id"].astype(str) == str(customer)]
        profile = None if found.empty else found.iloc[0]
    kpis = []
    if profile is not None:
        kpis.append(Kpi("Days since last order", fmt_int(profile.get("recency_days"))))
        kpis.append(Kpi("Orders", fmt_int(profile.get("frequency"))))
        kpis.append(Kpi("Spend", fmt_money(profile.get("monetary"))))
        scores = [profile.get(c) for c in ("r_score", "f_score", "m_score")]
        if all(s is not None and not pd.isna(s) for s in scores):
            kpis.append(
                Kpi(
                    "RFM scores",
                    "-".join(str(int(s)) for s in scores),
                    help="Recency, frequency and monetary scores, 1 (low) to 5 (high).",
                )
            )
    kpis.append(Kpi("Products in history", fmt_int(len(history))))
    if profile is not None:
        persona = load_personas(version).get(str(profile["segment"]))
        line = f":material/donut_large: Segment **{profile['segment']}**"
        if persona and persona.get("action"):
            line += f" · :material/lightbulb: Segment action: **{persona['action']}**"
        st.markdown(line)
        if persona and persona.get("description"):
            st.caption(f"The segment: {attributes_in_words(persona['description'])}")
    elif segments is None:
        st.caption("Segments are not available yet, so no segment or RFM profile is shown.")
    components.kpi_row(kpis)

    if recs.empty:
        st.info(
            "Nothing left to recommend to this customer: they already have every product that passes "
            "the filters.",
            icon=":material/info:",
        )
        return
    if bool(recs["fallback"].iloc[0]):
        st.warning(
            f"This customer has no ratings or purchases the model learned from, so they get a fallback: "
            f"**{recs['reason'].iloc[0]}**. The predicted rating shown is what the model expects from an "
            "average customer.",
            icon=":material/person_search:",
        )

    st.subheader(f"Top {len(recs)} for {customer}")
    shown = recs.assign(why=recs.apply(why_text, axis=1, verb=verb))
    st.dataframe(
        shown[["rank", "name", "category", "price", "predicted_rating", "why"]],
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn("#", width="small"),
            "name": st.column_config.TextColumn("Product", width="medium"),
            "category": "Category",
            "price": st.column_config.NumberColumn("Price", format="dollar"),
            "predicted_rating": st.column_config.ProgressColumn(
                score_label, min_value=scale[0], max_value=scale[1], format="%.2f"
            ),
            "why": st.column_config.TextColumn("Why", width="large"),
        },
    )
    components.csv_download(
        shown.drop(columns=["because_similarity"]),
        f"recommendations_{customer}",
        "Download this list",
        key="dl_rec_customer",
    )
    left, right = st.columns([3, 2])
    with left:
        st.subheader("History")
        if history.empty:
            st.caption("No ratings or purchases yet.")
        else:
            st.dataframe(
                history[["name", "category", "rating", "events", "last_at"]],
                hide_index=True,
                width="stretch",
                height=min(35 * len(history) + 38, 380),
                column_config={
                    "name": "Product",
                    "category": "Category",
                    "rating": st.column_config.NumberColumn(
                        "Rating", format="%.1f", help="The rating the model learned from."
                    ),
                    "events": st.column_config.NumberColumn(
                        "Times", help="Ratings, events or orders behind it."
                    ),
                    "last_at": st.column_config.DatetimeColumn("Last", format="YYYY-MM-DD"),
                },
            )
    with right:
        if not history.empty:
            st.plotly_chart(charts_recommend.category_mix_chart(history, recs), width="stretch")


def evaluation_view(version: int, settings: dict[str, Any]) -> None:
    options = settings["options"]
    split = st.radio("Hold out", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="rec_split")
    box = st.empty()
    try:
        result = engine.evaluate_recommender(
            state.cursor(),
            split=split,
            k=int(options["n"]),
            params=settings["params"],
            diversity=float(options["diversity"]),
            diversity_by=options["diversity_by"],
            progress=progress_in(box),
        )
    except engine.EngineError as error:
        box.empty()
        components.show_error(error)
        return
    box.empty()
    headline = engine.evaluation_headline(result)
    st.success("\n".join(f"- {line}" for line in headline), icon=":material/fact_check:")
    st.caption(
        f"{result.description} {result.n_train:,} ratings to learn from, {result.n_test:,} held out; "
        f"scored on {int(result.metrics['customers'].iloc[0]):,} customers. "
        + (
            f"A held-out product counts as liked when rated {result.relevant_from:g} or more."
            if result.source.startswith("ratings")
            else "Every held-out product counts."
        )
        + " Every model ranks all products the customer did not already have."
    )
    if result.diversity == 0:
        st.caption("Set a diversity above 0 in the settings to see its effect here as an extra row.")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts_recommend.hits_chart(result.metrics, result.k), width="stretch")
    with right:
        st.plotly_chart(charts_recommend.ranking_chart(result.metrics), width="stretch")
    table = result.metrics.drop(columns=["model"])
    shown = table.assign(**{c: table[c] * 100 for c in PERCENT_COLUMNS})
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        placeholder="n/a",
        column_config={
            "label": "Model",
            "rmse": st.column_config.NumberColumn(
                "RMSE", format="%.3f", help="Rating error; lower is better."
            ),
            "mae": st.column_config.NumberColumn("MAE", format="%.3f", help="Average rating error."),
            "precision": st.column_config.NumberColumn(f"Precision@{result.k}", format="%.1f%%"),
            "recall": st.column_config.NumberColumn(f"Recall@{result.k}", format="%.1f%%"),
            "ndcg": st.column_config.NumberColumn(f"NDCG@{result.k}", format="%.3f"),
            "map": st.column_config.NumberColumn(f"MAP@{result.k}", format="%.3f"),
            "hit_rate": st.column_config.NumberColumn("Hit rate", format="%.1f%%"),
            "coverage": st.column_config.NumberColumn("Catalogue coverage", format="%.1f%%"),
            "novelty": st.column_config.NumberColumn(
                "Novelty (bits)", format="%.2f", help="Higher = less obvious products."
            ),
            "personalisation": st.column_config.NumberColumn(
                "Personalisation", format="%.2f", help="0 = everyone gets the same list, 1 = no overlap."
            ),
            "categories_per_list": st.column_config.NumberColumn("Categories per list", format="%.1f"),
            "hits": st.column_config.NumberColumn("Liked products found"),
            "relevant": st.column_config.NumberColumn("Liked products held out"),
            "customers": st.column_config.NumberColumn("Customers scored"),
        },
    )
    components.csv_download(
        table, f"recommendation_evaluation_{result.split}", "Download evaluation", key="dl_rec_eval"
    )
    with st.expander("What the models are", icon=":material/help:"):
        for key, label in engine.MODEL_LABELS.items():
            st.markdown(f"- **{label}**: {engine.MODEL_NOTES[key]}")


def similar_view(version: int, model: engine.Recommender) -> None:
    products = load_catalogue(version)
    known = pd.DataFrame({"product_id": model.item_ids_[~model.cold_items_]})
    known = known.merge(products, on="product_id", how="left")
    if known.empty:
        st.info("No product has enough ratings to compare yet.", icon=":material/info:")
        return
    labels = dict(zip(known["product_id"], known["name"].fillna(known["product_id"]), strict=True))
    product = st.selectbox(
        "Product",
        known["product_id"].tolist(),
        key="rec_product",
        format_func=lambda p: f"{labels.get(p, p)} ({p})",
        help="Type to search by name or id.",
    )
    near = engine.similar_products(state.cursor(), model, product, 10)
    left, right = st.columns([1, 1])
    with left:
        st.dataframe(
            near[["name", "category", "similarity", "ratings"]],
            hide_index=True,
            width="stretch",
            column_config={
                "name": "Product",
                "category": "Category",
                "similarity": st.column_config.NumberColumn("Similarity", format="%.2f"),
                "ratings": st.column_config.NumberColumn("Ratings"),
            },
        )
        components.csv_download(
            near, f"similar_to_{product}", "Download similar products", key="dl_rec_similar"
        )
    with right:
        st.plotly_chart(charts_recommend.similarity_chart(near), width="stretch")
    st.caption(
        "Similarity is the cosine between the products' taste factors: products liked by the same kind "
        "of customer score near 1. Use it for 'you may also like' blocks and bundles."
    )


def export_view(version: int, table: str) -> None:
    summary = load_summary(version, table)
    components.kpi_row(
        [
            Kpi("Customers", fmt_int(summary["customers"])),
            Kpi(
                "On a fallback",
                fmt_int(summary["fallback_customers"]),
                help="Customers the model has no ratings or purchases for: they get best-sellers of their segment.",
            ),
            Kpi("Distinct products suggested", fmt_int(summary["distinct_products"])),
            Kpi("Rows", fmt_int(summary["rows"])),
        ]
    )
    frame = load_export(version, table)
    components.csv_download(
        frame, "recommendations_all_customers", "Download all customers' lists (CSV)", key="dl_rec_all"
    )
    st.dataframe(frame.head(500), hide_index=True, width="stretch", column_config=EXPORT_COLUMNS)
    if len(frame) > 500:
        st.caption(f"Showing the first 500 of {len(frame):,} rows; the download has them all.")


# ------------------------------------------------------------------------------------------ page

st.title("Recommendations")
st.caption("What we would suggest to each customer and why, and how much better than best-sellers it is.")

version = state.data_version()
categories = load_categories(version)
settings = st.session_state.setdefault(SETTINGS, default_settings(bool(categories)))
params_json = json.dumps(settings["params"], sort_keys=True)

if auth.can("retrain"):
    with st.expander("Settings", icon=":material/tune:"):
        settings_form(settings, categories)
        st.divider()
        tuning_panel(version, settings)

progress_box = st.empty()
try:
    table = engine.recommendations_table(
        state.cursor(), settings["params"], options_of(settings), progress=progress_in(progress_box)
    )
    model = load_model(version, params_json)
except engine.InsufficientDataError as error:
    progress_box.empty()
    if error.found == 0:
        components.no_data(
            "ratings, events or purchases of products", "purchase history (orders or interactions)"
        )
    else:
        components.show_error(error)
    st.stop()
except engine.EngineError as error:
    progress_box.empty()
    components.show_error(error)
    st.stop()
progress_box.empty()

training = getattr(model, "training_", {})
verb = training.get("verb", "chose")
summary = load_summary(version, table)
components.kpi_row(
    [
        Kpi(
            "Ratings learned from",
            fmt_int(training.get("n_ratings")),
            help="One per customer and product after the conversion rule below.",
        ),
        Kpi("Customers known to the model", fmt_int(training.get("n_customers"))),
        Kpi("Products", fmt_int(training.get("n_products"))),
        Kpi(
            "Customers on a fallback",
            fmt_pct(summary["fallback_customers"] / max(summary["customers"], 1), 0),
            help="New customers without ratings or purchases: they get their segment's best-sellers.",
        ),
    ]
)
SOURCE_WORDS = {
    "ratings": "explicit ratings",
    "ratings+events": "ratings and browsing events",
    "events": "browsing and purchase events",
    "orders": "purchases from orders",
}
source_words = SOURCE_WORDS.get(training.get("source", ""), "n/a")
with st.expander(f"Learned from {source_words}: how", icon=":material/database:"):
    st.markdown(training.get("rule", ""))
    o = settings["options"]
    excluded = [
        w
        for w, on in (("inactive", o["exclude_inactive"]), ("out-of-stock", o["exclude_out_of_stock"]))
        if on
    ]
    st.markdown(
        "Lists leave out products the customer already rated or bought"
        + (f", and {' and '.join(excluded)} products" if excluded else "")
        + (f"; only {', '.join(o['categories'])}" if o["categories"] else "")
        + (f"; diversity {o['diversity']:g} by {o['diversity_by']}" if o["diversity"] else "")
        + ". Ranked by the model's unclipped score; ties go to the more popular product, then product id."
    )

scale = tuple(training.get("rating_scale", (1.0, 5.0)))
tabs = st.tabs(TABS, key=TAB_KEY, on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        explicit = str(training.get("source", "")).startswith("ratings")
        customer_view(version, table, verb, scale, "Predicted rating" if explicit else "Predicted interest")
with tabs[1]:
    if tabs[1].open:
        evaluation_view(version, settings)
with tabs[2]:
    if tabs[2].open:
        similar_view(version, model)
with tabs[3]:
    if tabs[3].open:
        export_view(version, table)

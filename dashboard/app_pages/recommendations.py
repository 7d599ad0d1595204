"""Recommendations: what we would suggest to each customer and why, how much better than best-sellers
that is, similar products, and every customer's list for export."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import engine
from dashboard import auth, checks, components, share, state, words
from dashboard.charts import recommendations as charts_recommend
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_pct

SETTINGS = "rec_settings"
TUNING = "rec_tuning"
TAB_KEY = "rec_tab"
TABS = ["Customer", "Evaluation", "Similar products", "All customers"]
PERCENT_COLUMNS = ["precision", "recall", "hit_rate", "coverage"]
#: How long the page waits for training before it shows best-sellers and keeps training in the background
#: ($SEGMINT_TRAINING_WAIT overrides it, e.g. for tests that must see the trained lists).
WAIT_SECONDS = 20.0
#: Above this many customers the customer is typed instead of picked from a list.
PICKER_LIMIT = 50_000
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
    "model": "Model",
    "fallback": "Fallback",
    "reason": "Reason",
    "cold_item": "New product",
    "because_product_id": "Because of (id)",
    "because_name": "Because of",
}
SPLITS = {
    "date": "Before and after a date (what customers chose next)",
    "time": "Each customer's latest choices",
    "random": "A random 20% of all pairs",
}


# ------------------------------------------------------------------------------------------ cached reads


@st.cache_data(show_spinner=False, max_entries=8)
def load_categories(version: int) -> list[str]:
    return sorted({str(c) for c in engine.product_categories(state.cursor()).values()})


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(version: int, params_json: str, model: str) -> engine.RankingModel:
    """The shipped model, shared read-only by every session (a cached resource, not copied per run); it is
    already stored, so this only reads it back once per data version and settings."""
    return engine.train_recommender(state.cursor(), json.loads(params_json), model=model)


@st.cache_data(show_spinner=False, max_entries=8)
def load_customers(version: int, table: str) -> pd.DataFrame:
    return engine.recommended_customers(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=4)
def load_segments(version: int) -> pd.DataFrame | None:
    return engine.customer_segment_frame(state.cursor())


@st.cache_data(show_spinner=False, max_entries=4)
def load_personas(version: int) -> dict[str, engine.SegmentPersona]:
    return engine.segment_personas(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_summary(version: int, table: str) -> dict[str, Any]:
    return engine.recommendation_summary(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=4)
def load_export(version: int, table: str) -> pd.DataFrame:
    return engine.export_recommendations(state.cursor(), table)


@st.cache_data(show_spinner=False, max_entries=4)
def load_directory(version: int) -> engine.CustomerDirectory:
    return engine.customer_directory(state.cursor(), PICKER_LIMIT)


@st.cache_data(show_spinner=False, max_entries=8)
def load_catalogue(version: int) -> pd.DataFrame:
    return engine.catalogue(state.cursor())


# ------------------------------------------------------------------------------------------ helpers


def default_settings(has_categories: bool) -> dict[str, Any]:
    options = engine.RecommendOptions(diversity_by="category" if has_categories else "factors")
    return {"params": dict(engine.DEFAULT_PARAMS), "options": options.as_dict(), "model": "auto"}


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
            st.markdown("**Model**")
            model = st.selectbox(
                "Lists come from",
                list(engine.MODEL_CHOICES),
                index=list(engine.MODEL_CHOICES).index(settings.get("model", "auto")),
                format_func=engine.MODEL_CHOICES.get,
                help="Automatic compares every model with best-sellers on held-out data at each retrain and "
                "ships the best one that is clearly better (else best-sellers). Pin a model or choose "
                "best-sellers to overrule it; the evidence is still shown.",
            )
            st.markdown("**Rating model** (Surprise SVD)")
            n_factors = st.slider(
                "Taste factors",
                2,
                200,
                int(params["n_factors"]),
                help="How many hidden taste dimensions the model learns.",
            )
            n_epochs = st.slider(
                words.label("epochs"), 5, 200, int(params["n_epochs"]), help=words.explain("epochs")
            )
            lr_all = st.select_slider(
                words.label("learning_rate"),
                with_value([0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05], params["lr_all"]),
                value=float(params["lr_all"]),
                help=words.explain("learning_rate"),
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
                "model": model,
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
        f"**Tune** by {words.label('grid_search')} ({n_fits} model fits, about a minute on the sample) over "
        + "; ".join(
            f"{PARAM_LABELS.get(k, k)} {' or '.join(f'{x:g}' for x in v)}"
            for k, v in engine.TUNING_GRID.items()
        )
        + "; picks the lowest rating error).",
        help=words.explain("grid_search"),
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
                    words.label("rmse"), format="%.4f", help=words.explain("rmse")
                ),
                "mae": st.column_config.NumberColumn("MAE", format="%.4f", help="Average rating error."),
            },
        )
        if st.button("Use the best settings", icon=":material/done_all:"):
            st.session_state[SETTINGS] = {**settings, "params": dict(found["best"])}
            st.rerun()


def trait_words(trait: engine.PersonaTrait) -> str:
    """A segment trait in words: ``Loyalty member: yes (1.9x)``, ``Category Books (2.0x)``."""
    value = {"true": "yes", "false": "no"}.get(trait.value.lower(), trait.value)
    if trait.kind == "category":
        return f"buy {value} ({trait.lift:.1f}x)"
    if not value:
        return f"{trait.column} ({trait.lift:.1f}x)"
    return f"{trait.column.replace('_', ' ').capitalize()}: {value} ({trait.lift:.1f}x)"


def persona_words(persona: engine.SegmentPersona) -> str:
    text = f"{persona.customers:,} customers ({persona.customer_share:.0%} of all)"
    if persona.traits:
        text += "; stand out for " + ", ".join(trait_words(t) for t in persona.traits)
    return text + "."


def known_columns(frame: pd.DataFrame, columns: list[str], optional=("category", "price")) -> list[str]:
    """``columns`` without the optional catalogue ones that are empty on every row (an invoice log has no
    categories or list prices): a column of "None" says nothing and takes the product name's room."""
    return [c for c in columns if c not in optional or (c in frame and frame[c].notna().any())]


#: Why-label of a pick that only popularity explains (the shipped model is best-sellers, or the customer has
#: nothing kept to match, e.g. every purchase returned): "matches what they chose" would be untrue.
POPULAR_WHY = "Popular with other customers"


def why_text(row: pd.Series, verb: str, kept: bool = True) -> str:
    """The "Why" of one pick; ``kept`` is whether the customer has any product they kept or rated (without
    one, the model's list for them is its popularity order)."""
    if row["fallback"] and row["reason"] == "best-sellers while the model trains":
        return "Best-seller, shown while the model trains"
    if row["fallback"]:
        return f"New to the model: {row['reason']}"
    if row["model"] == "popular":
        return POPULAR_WHY
    if not kept:
        return f"{POPULAR_WHY}: nothing they kept to match yet"
    if row["cold_item"]:
        return "New product with few ratings yet: suggested on your overall taste"
    if isinstance(row["because_name"], str) and row["because_name"]:
        return f"Because you {verb} {row['because_name']}"
    return "Matches what they chose before"


# ------------------------------------------------------------------------------------------ views


def customer_view(
    version: int,
    table: str | None,
    verb: str,
    scale: tuple[float, float] | None,
    options: engine.RecommendOptions,
) -> None:
    directory = load_directory(version)
    if directory.count == 0:
        components.no_data("customers", "customers")
        return
    if directory.complete:
        new = (
            set(load_customers(version, table).query("fallback")["customer_id"])
            if table is not None
            else set()
        )
        ids = list(directory.ids)
        customer = st.selectbox(
            "Customer",
            ids,
            # open on someone with a history to learn from, not on whoever sorts first
            index=ids.index(directory.first_with_history) if directory.first_with_history in ids else 0,
            key="rec_customer",
            format_func=lambda c: f"{c} (new to the model)" if c in new else c,
            help="Type to search by customer id.",
        )
    else:
        # a list of a million ids would have to travel to the browser on every run: ask for the id instead
        examples = ", ".join(directory.ids)
        customer = st.text_input(
            "Customer id",
            value=directory.first_with_history or directory.ids[0],
            key="rec_customer_id",
            help=f"{directory.count:,} customers: type an id, e.g. {examples}.",
        ).strip()
        if not engine.customer_known(state.cursor(), customer):
            st.info(
                f"No customer with the id {customer!r}. Ids look like {examples}.", icon=":material/info:"
            )
            return
    cur = state.cursor()
    recs = (
        engine.customer_recommendations(cur, table, customer)
        if table is not None
        else engine.best_seller_list(cur, customer, options)
    )
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
        if persona and persona.action:
            line += f" · :material/lightbulb: Segment action: **{persona.action}**"
        st.markdown(line)
        if persona:
            st.caption(f"The segment: {persona_words(persona)}")
    elif segments is None:
        st.caption("No segment or RFM profile: segments are built from orders, and this store has none.")
    components.kpi_row(kpis)

    if recs.empty:
        st.info(
            "Nothing left to recommend to this customer: they already have every product that passes "
            "the filters.",
            icon=":material/info:",
        )
        return
    if table is not None and bool(recs["fallback"].iloc[0]):
        st.warning(
            f"This customer has no ratings, events or purchases yet, so they get a fallback: "
            f"**{recs['reason'].iloc[0]}**.",
            icon=":material/person_search:",
        )

    st.subheader(f"Top {len(recs)} for {components.plain(customer)}")
    kept = bool((history["affinity"] > 0).any()) if not history.empty else False
    if table is not None and not kept and not bool(recs["fallback"].iloc[0]):
        st.info(
            "Nothing this customer bought was kept (every purchase was returned in full), so there is no "
            "taste to match: their list is what is popular with other customers.",
            icon=":material/info:",
        )
    shown = recs.assign(why=recs.apply(why_text, axis=1, verb=verb, kept=kept))
    columns = ["rank", "name", "category", "price", "why"]
    config: dict[str, Any] = {
        "rank": st.column_config.NumberColumn("#", width="small"),
        "name": st.column_config.TextColumn("Product", width="medium"),
        "category": "Category",
        "price": st.column_config.NumberColumn("Price", format="dollar"),
        "why": st.column_config.TextColumn("Why", width="large"),
    }
    if scale is not None and shown["predicted_rating"].notna().any():
        columns.insert(4, "predicted_rating")
        config["predicted_rating"] = st.column_config.ProgressColumn(
            "Predicted rating",
            min_value=scale[0],
            max_value=scale[1],
            format="%.2f",
            help="What the rating model (Surprise SVD) expects this customer to rate the product.",
        )
    st.dataframe(shown[known_columns(shown, columns)], hide_index=True, width="stretch", column_config=config)
    components.csv_download(
        shown.drop(columns=["because_similarity", "score", "cold_item"], errors="ignore"),
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
                # a rating column only where customers rate; for purchases it would be a made-up number
                history[
                    known_columns(
                        history,
                        ["name", "category"]
                        + (["rating"] if history["explicit"].any() else [])
                        + ["affinity", "events", "last_at"],
                    )
                ],
                hide_index=True,
                width="stretch",
                height=min(35 * len(history) + 38, 380),
                column_config={
                    "name": "Product",
                    "category": "Category",
                    "rating": st.column_config.NumberColumn(
                        "Rating",
                        format="%.1f",
                        help="Their rating, or for purchases and events the rating the rating model learned.",
                    ),
                    "affinity": st.column_config.NumberColumn(
                        "Strength",
                        format="%.0f",
                        help="How strongly they chose it: a rating counts its stars, each order 5, each "
                        "event its weight.",
                    ),
                    "events": st.column_config.NumberColumn(
                        "Times", help="Ratings, events or orders behind it."
                    ),
                    "last_at": st.column_config.DatetimeColumn("Last", format="YYYY-MM-DD"),
                },
            )
    with right:
        if not history.empty and (history["category"].notna().any() or recs["category"].notna().any()):
            share.chart(charts_recommend.category_mix_chart(history, recs), history, "rec_category_mix")
        elif not history.empty:
            st.caption(
                "No product categories to compare what they chose with what we suggest: load a products file "
                "with a category column on the Data page."
            )


def evaluation_view(
    version: int, settings: dict[str, Any], shipped: str, choice: engine.ModelChoice | None
) -> None:
    options = settings["options"]
    chosen_by = (
        choice.evaluation.split if choice is not None and choice.evaluation.split in SPLITS else "date"
    )
    split = st.radio(
        "Hold out",
        list(SPLITS),
        index=list(SPLITS).index(chosen_by),
        format_func=SPLITS.get,
        horizontal=True,
        key="rec_split",
        help="The model that ships was chosen on the first selected holdout.",
    )
    baselines = st.toggle(
        "Also compare Surprise's rating baselines",
        key="rec_rating_baselines",
        help="BaselineOnly, KNNBaseline and NormalPredictor: rating-error benchmarks for SVD (slower).",
    )
    box = st.empty()
    same_as_choice = (
        choice is not None
        and split == choice.evaluation.split
        and not baselines
        and float(options["diversity"]) == 0
        and int(options["n"]) == choice.evaluation.k
    )
    try:
        # the comparison the model was chosen by, when the settings ask for exactly that one
        result = (
            choice.evaluation
            if same_as_choice
            else engine.evaluate_recommender(
                state.cursor(),
                split=split,
                k=int(options["n"]),
                params=settings["params"],
                diversity=float(options["diversity"]),
                diversity_by=options["diversity_by"],
                rating_baselines=baselines,
                progress=progress_in(box),
            )
        )
    except engine.EngineError as error:
        box.empty()
        components.show_error(error)
        return
    box.empty()
    headline = engine.evaluation_headline(result)
    st.success("\n".join(f"- {line}" for line in headline), icon=":material/fact_check:")
    st.caption(
        f"{result.description} {result.n_train:,} customer-product pairs to learn from, {result.n_test:,} held "
        f"out; scored on {int(result.metrics['customers'].iloc[0]):,} customers. "
        + (
            f"A held-out product counts as liked when rated {result.relevant_from:g} or more, or bought."
            if "ratings" in result.source
            else "Every held-out product counts."
        )
        + " Every model ranks all products the customer did not already have. Lift is each model's ranking "
        "quality divided by best-sellers', with a 95% interval from resampling customers."
    )
    if result.diversity == 0:
        st.caption("Set a diversity above 0 in the settings to see its effect here as an extra row.")
    left, right = st.columns(2)
    with left:
        share.chart(
            charts_recommend.hits_chart(result.metrics, result.k, shipped), result.metrics, "rec_hits"
        )
    with right:
        share.chart(charts_recommend.ranking_chart(result.metrics, shipped), result.metrics, "rec_ranking")
    table = result.metrics.drop(columns=["model"])
    shown = table.assign(**{c: table[c] * 100 for c in PERCENT_COLUMNS})
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        placeholder="n/a",
        column_config={
            "label": "Model",
            "ndcg": st.column_config.NumberColumn(
                words.label("ndcg"), format="%.3f", help=words.explain("ndcg", f"k = {result.k}.")
            ),
            "lift": st.column_config.NumberColumn("Lift vs best-sellers", format="%.2fx"),
            "lift_low": st.column_config.NumberColumn("Lift, 95% low", format="%.2fx"),
            "lift_high": st.column_config.NumberColumn("Lift, 95% high", format="%.2fx"),
            "rmse": st.column_config.NumberColumn(
                words.label("rmse"), format="%.3f", help=words.explain("rmse")
            ),
            "mae": st.column_config.NumberColumn("MAE", format="%.3f", help="Average rating error."),
            "precision": st.column_config.NumberColumn(f"Precision@{result.k}", format="%.1f%%"),
            "recall": st.column_config.NumberColumn(f"Recall@{result.k}", format="%.1f%%"),
            "map": st.column_config.NumberColumn(
                words.label("map"), format="%.3f", help=words.explain("map", f"k = {result.k}.")
            ),
            "hit_rate": st.column_config.NumberColumn("Hit rate", format="%.1f%%"),
            "coverage": st.column_config.NumberColumn("Catalogue coverage", format="%.1f%%"),
            "novelty": st.column_config.NumberColumn(
                words.label("novelty"), format="%.2f", help=words.explain("novelty")
            ),
            "personalisation": st.column_config.NumberColumn(
                "Personalisation", format="%.2f", help="0 = everyone gets the same list, 1 = no overlap."
            ),
            "categories_per_list": st.column_config.NumberColumn("Categories per list", format="%.1f"),
            "hits": st.column_config.NumberColumn("Liked products found"),
            "relevant": st.column_config.NumberColumn("Liked products held out"),
            "customers": st.column_config.NumberColumn("Customers scored"),
            "seconds": st.column_config.NumberColumn("Training seconds", format="%.1f"),
        },
    )
    components.csv_download(
        table, f"recommendation_evaluation_{result.split}", "Download evaluation", key="dl_rec_eval"
    )
    with st.expander("What the models are", icon=":material/help:"):
        for key, label in engine.MODEL_LABELS.items():
            st.markdown(f"- **{label}**: {engine.MODEL_NOTES[key]}")


def similar_view(version: int, model: engine.RankingModel) -> None:
    products = load_catalogue(version)
    model = engine.similarity_model(model)
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
            near[known_columns(near, ["name", "category", "similarity", "ratings"])],
            hide_index=True,
            width="stretch",
            column_config={
                "name": "Product",
                "category": "Category",
                "similarity": st.column_config.NumberColumn("Similarity", format="%.2f"),
                "ratings": st.column_config.NumberColumn("Customers", help="Customers who chose it."),
            },
        )
        components.csv_download(
            near, f"similar_to_{product}", "Download similar products", key="dl_rec_similar"
        )
    with right:
        share.chart(charts_recommend.similarity_chart(near), near, "rec_similar")
    how = (
        "how often the same customers chose both (Jaccard or cosine of their customer sets)"
        if isinstance(model, engine.ItemSimilarity)
        else "the cosine between the products' taste factors"
    )
    st.caption(
        f"Similarity is {how}: products chosen by the same kind of customer score near 1. Use it for "
        "'you may also like' blocks and bundles."
    )


def export_view(version: int, table: str) -> None:
    summary = load_summary(version, table)
    components.kpi_row(
        [
            Kpi("Customers", fmt_int(summary["customers"])),
            Kpi(
                "On a fallback",
                fmt_int(summary["fallback_customers"]),
                help="Customers with no rating, event or purchase yet: they get best-sellers of their segment.",
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


def choice_banner(choice: engine.ModelChoice | None, k: int) -> None:
    """Which model ships and by how much it beats best-sellers, worded from the engine's values."""
    if choice is None:
        st.info(
            "**Best-sellers ship**: there is too little history to hold any out and check a model against "
            "best-sellers, so nobody gets a list that was not shown to work.",
            icon=":material/leaderboard:",
        )
        return
    lift = choice.lift
    evidence = (
        f"On held-out data it reaches **{lift.ratio:.1f}x** best-sellers' ranking quality (95% "
        f"interval {lift.low:.1f}-{lift.high:.1f}x); {choice.hit_rate:.0%} of customers find something they "
        f"went on to choose in its top {k} (best-sellers {choice.popular_hit_rate:.0%}); its lists cover "
        f"{choice.coverage:.0%} of the catalogue."
    )
    if choice.how == "best_sellers":
        st.info("**Best-sellers ship**, as chosen in the settings.", icon=":material/leaderboard:")
    elif choice.how == "pinned":
        st.info(
            f"**{choice.label} ships**, as chosen in the settings. {evidence}", icon=":material/push_pin:"
        )
    elif choice.model == "popular":
        best = choice.evaluation.metrics.set_index("model")
        runner = best.drop(index="popular")
        runner = runner[runner.index.isin(engine.RANKING_MODELS)]
        closest = runner["lift"].idxmax() if len(runner) else None
        text = "**Best-sellers ship**: no model was clearly better than best-sellers on held-out data"
        if closest is not None:
            row = runner.loc[closest]
            text += (
                f" (the closest, {row['label']}, reached {row['lift']:.2f}x, 95% interval "
                f"{row['lift_low']:.2f}-{row['lift_high']:.2f}x)"
            )
        st.warning(
            text + ". Every customer gets the best-sellers they do not have yet.",
            icon=":material/leaderboard:",
        )
    else:
        st.success(
            f"**{choice.label} ships**, chosen on held-out data as the best model. {evidence}",
            icon=":material/verified:",
        )


def wait_for(job: engine.TrainingJob, box, seconds: float) -> bool:
    """Show the job's progress for up to ``seconds``; True when it finished."""
    bar = None
    deadline = time.monotonic() + seconds
    while not job.wait(0.25):
        if bar is None:
            bar = box.progress(0.0, text=job.text)
        bar.progress(min(max(job.fraction, 0.0), 1.0), text=job.text)
        if time.monotonic() > deadline:
            return False
    return True


@st.fragment(run_every=2.0)
def training_status(job: engine.TrainingJob) -> None:
    """While the model trains in the background: its progress, and a rerun as soon as it is done."""
    if job.done:
        st.rerun()
    st.progress(
        min(max(job.fraction, 0.0), 1.0),
        text=f"Training in the background ({job.seconds:.0f} s so far): {job.text}",
    )


st.title("Recommendations")
st.caption("What we would suggest to each customer and why, and how much better than best-sellers it is.")

version = state.data_version()
checks.show_id_warnings(version, ("interactions", "products"))
categories = load_categories(version)
settings = st.session_state.setdefault(SETTINGS, default_settings(bool(categories)))
settings.setdefault("model", "auto")
params_json = json.dumps(settings["params"], sort_keys=True)
options = options_of(settings)

if auth.can("retrain"):
    with st.expander("Settings", icon=":material/tune:"):
        settings_form(settings, categories)
        st.divider()
        tuning_panel(version, settings)

progress_box = st.empty()
try:
    job = engine.start_training(state.cursor(), settings["params"], options, model=settings["model"])
    # a small store trains in seconds: wait and show its lists; a big one shows best-sellers at once
    wait = WAIT_SECONDS if engine.trains_quickly(state.cursor()) else 1.0
    ready = wait_for(job, progress_box, float(os.environ.get("SEGMINT_TRAINING_WAIT", wait)))
    table = job.result() if ready else None
    model = load_model(version, params_json, settings["model"]) if ready else None
except engine.InsufficientDataError as error:
    progress_box.empty()
    if error.found == 0:
        components.no_data(
            "ratings, events or purchases of products", "purchase history (orders or interactions)"
        )
    else:
        components.show_error(error)
    st.stop()
progress_box.empty()

if model is None:
    st.info(
        "**Best-sellers are shown while the model trains.** Every model is being compared with "
        "best-sellers on held-out data; the lists switch to the winner as soon as it is ready.",
        icon=":material/hourglass_top:",
    )
    training_status(job)
    customer_view(version, None, "chose", None, options)
    st.stop()

training = model.training_
verb = training["verb"]
summary = load_summary(version, table)
choice_banner(model.choice_, options.n)
components.kpi_row(
    [
        Kpi(
            "Pairs learned from",
            fmt_int(training["n_ratings"]),
            help="Customer-product pairs: every rating, event and purchase, one per customer and product.",
        ),
        Kpi("Customers known to the model", fmt_int(training["n_customers"])),
        Kpi("Products", fmt_int(training["n_products"])),
        Kpi(
            "Customers on a fallback",
            fmt_pct(summary["fallback_customers"] / max(summary["customers"], 1), 0),
            help="Customers with no rating, event or purchase yet: they get their segment's best-sellers.",
        ),
    ]
)
SOURCE_WORDS = {"ratings": "ratings", "events": "browsing and other events", "orders": "purchases"}
source_words = " and ".join(SOURCE_WORDS[s] for s in training["sources"])
with st.expander(f"Learned from {source_words}: how", icon=":material/database:"):
    st.markdown(training["rule"])
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
        + ". Ties go to the more popular product, then product id."
    )

rating_model = model.rating_model_
scale = tuple(training["rating_scale"]) if rating_model is not None else None
shipped_key = training["model"]
tabs = st.tabs(TABS, key=TAB_KEY, on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        customer_view(version, table, verb, scale, options)
with tabs[1]:
    if tabs[1].open:
        evaluation_view(version, settings, shipped_key, model.choice_)
with tabs[2]:
    if tabs[2].open:
        similar_view(version, model)
with tabs[3]:
    if tabs[3].open:
        export_view(version, table)

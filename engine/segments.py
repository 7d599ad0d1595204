"""Customer clusters (a scikit-learn style estimator with automatic k and a stability score), readable
cluster names, stored cluster results, and segment migration between two as-of dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from engine import rfm, store
from engine.errors import InsufficientDataError, SchemaError
from engine.store import Connection

RFM_FEATURES = ("recency_days", "frequency", "monetary")
# Silhouette costs n^2 distances; it is measured on this many sampled customers (enough for +-0.01).
SILHOUETTE_POINTS = 2000

# Words for a cluster's name, by where its median sits among all customers (percentile of the median).
# A cluster is "low" below the 1/3 point, "high" above the 2/3 point, else "mid". Override with
# ``CustomerClusterer(name_words=...)``.
NAME_WORDS = pd.DataFrame(
    [
        ("recency_days", "low", "Recent"),
        ("recency_days", "mid", "Lapsing"),
        ("recency_days", "high", "Dormant"),
        ("frequency", "low", "infrequent"),
        ("frequency", "mid", "regular"),
        ("frequency", "high", "frequent"),
        ("monetary", "low", "low spend"),
        ("monetary", "mid", "mid spend"),
        ("monetary", "high", "high spend"),
    ],
    columns=["feature", "level", "word"],
)

# Confidence badge from the stability score (mean adjusted Rand index across bootstrap resamples).
STABILITY_BADGES = pd.DataFrame(
    [
        (0.8, "High", "Clusters come back almost unchanged when the data is resampled"),
        (0.6, "Medium", "Clusters mostly come back when the data is resampled; borders move"),
        (-1.0, "Low", "Clusters change a lot when the data is resampled: treat them as a rough guide"),
    ],
    columns=["min_stability", "badge", "meaning"],
)


def level_of(percentile: float) -> str:
    """'low' below 1/3, 'high' above 2/3, else 'mid' (the percentile is in 0..1)."""
    if percentile < 1 / 3:
        return "low"
    if percentile > 2 / 3:
        return "high"
    return "mid"


# Two clusters whose medians differ by less than this factor are too close to be told apart in words.
CLOSE_MEDIANS = 1.5


def _settle_close_levels(profile: pd.DataFrame, feature: str) -> list[str]:
    """Levels of one feature after giving clusters with close medians the same word.

    Levels come from where each median sits among all customers, so two clusters at 20 and 25 days can
    straddle a cut and read "Recent" and "Lapsing" while the numbers beside them say they are alike. When
    the medians of clusters next to each other (in median order) are within ``CLOSE_MEDIANS`` of each other
    (and, for counts, less than one apart), both take the level of the one with more customers.
    """
    levels = list(profile[f"{feature}_level"])
    order = profile.sort_values(f"median_{feature}").index.tolist()
    for a, b in zip(order, order[1:], strict=False):
        low, high = float(profile.at[a, f"median_{feature}"]), float(profile.at[b, f"median_{feature}"])
        if levels[a] == levels[b] or not (np.isfinite(low) and np.isfinite(high)):
            continue
        close = high <= low * CLOSE_MEDIANS if low > 0 else high == low
        if feature == "frequency":
            close = close and high - low < 1
        if close:
            bigger = a if profile.at[a, "customers"] >= profile.at[b, "customers"] else b
            levels[a] = levels[b] = levels[bigger]
    return levels


def percentile_within(values: np.ndarray, point: float) -> float:
    """Mid-rank percentile of ``point`` within ``values`` (ties count half), in 0..1."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return 0.5
    below = np.count_nonzero(values < point)
    equal = np.count_nonzero(values == point)
    return float((below + equal / 2) / len(values))


def stability_badge(stability: float | None, badges: pd.DataFrame | None = None) -> tuple[str, str]:
    """(badge, meaning) for a stability score; ("Unknown", ...) when it could not be measured."""
    table = STABILITY_BADGES if badges is None else badges
    if stability is None or not np.isfinite(stability):
        return "Unknown", "Too few customers to measure stability"
    for row in table.sort_values("min_stability", ascending=False).itertuples():
        if stability >= row.min_stability:
            return str(row.badge), str(row.meaning)
    return "Low", str(table.iloc[-1]["meaning"])


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (as ``sklearn.metrics.silhouette_score``), NaN unless 2 <= clusters <= n - 1.

    One distance matrix and one matrix product for every cluster at once, instead of scikit-learn's
    chunked loop: the automatic-k search calls this nine times.
    """
    n = len(points)
    groups, index = np.unique(labels, return_inverse=True)
    k = len(groups)
    if k < 2 or k > n - 1:
        return float("nan")
    distances = euclidean_distances(points)
    np.fill_diagonal(distances, 0.0)
    members = np.zeros((n, k))
    members[np.arange(n), index] = 1.0
    sums = distances @ members
    sizes = members.sum(axis=0)
    own = sizes[index]
    inside = sums[np.arange(n), index] / np.maximum(own - 1, 1)
    other = sums / sizes
    other[np.arange(n), index] = np.inf
    nearest = other.min(axis=1)
    spread = np.maximum(inside, nearest)
    scores = np.divide(nearest - inside, spread, out=np.zeros(n), where=(spread > 0) & (own > 1))
    return float(scores.mean())


def _distinct_rows(matrix: np.ndarray) -> int:
    return len(np.unique(np.round(matrix, 9), axis=0))


def _signed_log(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.copysign(np.log1p(np.abs(x)), x)


class CustomerClusterer:
    """KMeans on scaled, log-transformed RFM plus chosen customer attributes, with automatic k.

    Parameters
    ----------
    k : int or "auto"
        Number of clusters; "auto" picks the k in ``k_range`` with the best silhouette on a sample
        (ties go to the smaller k). A k above the number of distinct customers is lowered to it and
        recorded in ``notes_``.
    k_range : (int, int)
        Inclusive range searched when ``k="auto"``.
    attributes : sequence of str
        Extra columns of the input to cluster on: numeric ones are scaled, others one-hot encoded
        (at most 20 levels each, rarer levels grouped).
    sample_size : int
        Customers sampled (with ``random_state``) for the silhouette curve, the stability resamples and
        the reported silhouette; the final KMeans is fitted on every customer.
    random_state : int
        Seed for sampling and KMeans: the same input gives the same clusters.
    n_bootstrap : int
        Bootstrap resamples used for ``stability_`` (0 skips it).
    name_words : DataFrame or None
        Override of ``NAME_WORDS``.

    Attributes
    ----------
    k_ : chosen number of clusters.
    labels_ : cluster (0..k_-1) per input row; clusters are numbered by descending size.
    cluster_centers_ : centres in the transformed feature space, one row per cluster.
    silhouette_curve_ : DataFrame ``k, silhouette`` (auto k) or the single chosen k.
    silhouette_ : silhouette of the final clustering on the sample.
    stability_ : mean adjusted Rand index between the clustering and re-fits on bootstrap resamples.
    stability_scores_ : the individual resample scores.
    names_ : readable name per cluster, from where its medians sit among all customers.
    profile_ : DataFrame per cluster: size, share, median recency/frequency/monetary and levels.
    feature_names_ : names of the transformed features.
    projection_ : PCA of the scaled sample for 2-D plots (None when every customer is identical).
    notes_ : list of plain-language notes (k lowered, stability skipped ...).
    alternative_k_, alternative_silhouette_ : when automatic k picks 2, the best k in 3..8 and its
        silhouette (a finer split to offer); None and NaN otherwise.
    k_reason_ : why automatic k chose what it chose, in words ("" for a k given by the user).
    """

    def __init__(
        self,
        k: int | str = "auto",
        k_range: tuple[int, int] = (2, 10),
        attributes: Sequence[str] = (),
        sample_size: int = 5000,
        random_state: int = 42,
        n_bootstrap: int = 10,
        name_words: pd.DataFrame | None = None,
    ):
        self.k = k
        self.k_range = k_range
        self.attributes = attributes
        self.sample_size = sample_size
        self.random_state = random_state
        self.n_bootstrap = n_bootstrap
        self.name_words = name_words

    # ------------------------------------------------------------------ helpers
    def _preprocessor(self, frame: pd.DataFrame) -> ColumnTransformer:
        numeric = [
            c
            for c in self.attributes
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        categorical = [c for c in self.attributes if c not in numeric]
        parts: list[tuple[str, Any, list[str]]] = [
            (
                "rfm",
                Pipeline(
                    [
                        ("log", FunctionTransformer(_signed_log, feature_names_out="one-to-one")),
                        ("scale", StandardScaler()),
                    ]
                ),
                list(RFM_FEATURES),
            ),
        ]
        if numeric:
            parts.append(("numeric", StandardScaler(), numeric))
        if categorical:
            parts.append(
                (
                    "categorical",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist", max_categories=20, sparse_output=False
                    ),
                    categorical,
                )
            )
        return ColumnTransformer(parts, verbose_feature_names_out=False)

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (*RFM_FEATURES, *self.attributes) if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"The clustering input lacks column(s) {', '.join(missing)}. Build it with "
                f"cluster_features(con, attributes=...) or pick attributes from the customers table."
            )
        data = frame[list(RFM_FEATURES) + list(self.attributes)].copy()
        for c in RFM_FEATURES:
            data[c] = pd.to_numeric(data[c], errors="coerce").astype(float).fillna(0.0)
        for c in self.attributes:
            if pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c]):
                col = pd.to_numeric(data[c], errors="coerce").astype(float)
                data[c] = col.fillna(col.median() if col.notna().any() else 0.0)
            else:
                data[c] = data[c].astype("string").fillna("(missing)").astype(object)
        return data

    def _kmeans(self, k: int) -> KMeans:
        return KMeans(n_clusters=k, n_init=3, random_state=self.random_state)

    # ------------------------------------------------------------------ fit
    def fit(
        self, X: pd.DataFrame, y: None = None, progress: Callable[[float, str], None] | None = None
    ) -> CustomerClusterer:
        """Fit on a frame with ``recency_days, frequency, monetary`` and the chosen attributes.

        ``progress(fraction, message)`` is called as the work advances (for a progress bar).
        """
        report = progress or (lambda _f, _m: None)
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(
                "CustomerClusterer.fit needs a DataFrame with recency_days, frequency, monetary."
            )
        data = self._prepare(X)
        n = len(data)
        if n < 2:
            raise InsufficientDataError(
                f"Clustering needs at least 2 customers with a purchase; found {n}. Load more orders.",
                needed=2,
                found=n,
            )
        rng = np.random.default_rng(self.random_state)
        self.notes_: list[str] = []
        self.preprocessor_ = self._preprocessor(data)
        matrix = np.asarray(self.preprocessor_.fit_transform(data), dtype=float)
        self.feature_names_ = list(self.preprocessor_.get_feature_names_out())
        sample_idx = rng.choice(n, size=min(n, int(self.sample_size)), replace=False)
        sample = matrix[sample_idx]
        # distinct customers cap k; counting them on everyone is slow, so only when the sample has few
        low, high = (int(v) for v in self.k_range)
        wanted = max(high, int(self.k) if str(self.k).isdigit() else 0)
        n_distinct = _distinct_rows(sample)
        if n_distinct < wanted and len(sample) < n:
            n_distinct = _distinct_rows(matrix)

        # choose k. Work on the sample runs single-threaded: for a few thousand rows thread start-up
        # costs more than it saves, badly so on a busy machine.
        sample_models: dict[int, KMeans] = {}
        with threadpool_limits(limits=1):
            if self.k == "auto":
                candidates = [k for k in range(max(2, low), high + 1) if k <= n_distinct]
                if not candidates:
                    candidates = [min(max(2, low), n_distinct)] if n_distinct >= 2 else [1]
                rows = []
                for i, k in enumerate(candidates):
                    report(0.05 + 0.5 * i / len(candidates), f"Trying k = {k}")
                    sample_models[k] = self._kmeans(k).fit(sample)
                    rows.append((k, self._silhouette(sample, sample_models[k].labels_)))
                curve = pd.DataFrame(rows, columns=["k", "silhouette"])
                valid = curve.dropna()
                chosen = (
                    int(valid.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]["k"])
                    if len(valid)
                    else int(curve["k"].min())
                )
            else:
                try:
                    chosen = int(self.k)
                except (TypeError, ValueError):
                    raise SchemaError(f"k must be a whole number or 'auto', not {self.k!r}.") from None
                if chosen < 1:
                    raise SchemaError(f"k must be at least 1, not {chosen}.")
                if chosen > n_distinct:
                    self.notes_.append(
                        f"Asked for {chosen} clusters but there are only {n_distinct} distinct customers; "
                        f"using {n_distinct}."
                    )
                    chosen = n_distinct
                curve = None
                if _distinct_rows(sample) >= chosen:
                    sample_models[chosen] = self._kmeans(chosen).fit(sample)
        self.k_ = chosen

        report(0.6, f"Fitting {chosen} clusters on {n:,} customers")
        # the best of several starts on the sample seeds one run on every customer
        seed = sample_models.get(chosen)
        if seed is not None:
            model = KMeans(
                n_clusters=chosen, init=seed.cluster_centers_, n_init=1, random_state=self.random_state
            ).fit(matrix)
        else:
            model = self._kmeans(chosen).fit(matrix)
        # number clusters by descending size (ties: by centre) so numbering is stable and readable
        sizes = np.bincount(model.labels_, minlength=chosen)
        order = sorted(
            range(chosen), key=lambda c: (-sizes[c], tuple(np.round(model.cluster_centers_[c], 9)))
        )
        remap = np.empty(chosen, dtype=int)
        remap[order] = np.arange(chosen)
        self.model_ = model
        self._remap = remap
        self.labels_ = remap[model.labels_]
        self.cluster_centers_ = model.cluster_centers_[order]
        with threadpool_limits(limits=1):
            self.silhouette_ = self._silhouette(sample, self.labels_[sample_idx])
        self.silhouette_curve_ = (
            curve if curve is not None else pd.DataFrame({"k": [chosen], "silhouette": [self.silhouette_]})
        )

        # stability: re-fit on bootstrap resamples of the sample, compare labels on the sample
        report(0.75, "Measuring stability")
        scores = []
        if chosen >= 2 and len(sample) >= 2 * chosen and self.n_bootstrap:
            reference = self.labels_[sample_idx]
            with threadpool_limits(limits=1):
                check = n_distinct < 10 * chosen  # only then can a resample hold fewer distinct rows than k
                for _ in range(int(self.n_bootstrap)):
                    boot = sample[rng.integers(0, len(sample), size=len(sample))]
                    if check and _distinct_rows(boot) < chosen:
                        continue
                    # one start per resample: how much the clusters move with the data *and* the seed
                    refit = KMeans(n_clusters=chosen, n_init=1, random_state=self.random_state).fit(boot)
                    scores.append(adjusted_rand_score(reference, refit.predict(sample)))
        else:
            self.notes_.append("Too few customers to measure stability by resampling.")
        self.stability_scores_ = np.asarray(scores, dtype=float)
        self.stability_ = float(np.mean(scores)) if scores else float("nan")

        # 2-D projection for the scatter
        n_comp = min(2, matrix.shape[1], len(sample))
        varied = bool(np.any(sample.var(axis=0) > 0))
        self.projection_ = (
            PCA(n_components=n_comp, random_state=self.random_state).fit(sample) if varied else None
        )

        report(0.95, "Naming clusters")
        self.profile_ = self._profile(data)
        self.names_ = list(self.profile_["name"])
        self._explain_k(curve)
        report(1.0, "Done")
        return self

    # words for the features the two-cluster explanation may name
    _FEATURE_WORDS = {"recency_days": "days since the last order", "frequency": "orders", "monetary": "spend"}

    def _explain_k(self, curve: pd.DataFrame | None) -> None:
        """Set ``alternative_k_``, ``alternative_silhouette_`` and ``k_reason_`` (see the class docstring)."""
        self.alternative_k_: int | None = None
        self.alternative_silhouette_ = float("nan")
        self.k_reason_ = ""
        if curve is None or self.k_ != 2:
            if curve is not None:
                self.k_reason_ = (
                    f"k = {self.k_} has the best silhouette ({self.silhouette_:.2f}) of the k tried "
                    f"({int(curve['k'].min())}-{int(curve['k'].max())})."
                )
            return
        finer = curve[(curve["k"] >= 3) & (curve["k"] <= 8)].dropna()
        if len(finer):
            top = finer.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
            self.alternative_k_ = int(top["k"])
            self.alternative_silhouette_ = float(top["silhouette"])
        # the RFM feature whose centres differ most (in scaled units) is what the two groups are about
        rfm_idx = [self.feature_names_.index(f) for f in RFM_FEATURES if f in self.feature_names_]
        gaps = np.abs(self.cluster_centers_[0, rfm_idx] - self.cluster_centers_[1, rfm_idx])
        feature = RFM_FEATURES[int(np.argmax(gaps))]
        medians = self.profile_[f"median_{feature}"].tolist()
        self.k_reason_ = (
            f"k = 2 separates customers most cleanly (silhouette {self.silhouette_:.2f}): the two groups "
            f"differ mostly in {self._FEATURE_WORDS[feature]} (median {medians[0]:,.0f} vs {medians[1]:,.0f}). "
            "Silhouette rewards a few well-separated groups, so one strong split such as one-time vs repeat "
            "buyers often wins."
        )
        if self.alternative_k_ is not None:
            self.k_reason_ += (
                f" The best finer split is k = {self.alternative_k_} (silhouette "
                f"{self.alternative_silhouette_:.2f})."
            )

    def _silhouette(self, sample: np.ndarray, labels: np.ndarray) -> float:
        """Silhouette on the first ``SILHOUETTE_POINTS`` rows of the (already random) sample."""
        return silhouette(sample[:SILHOUETTE_POINTS], labels[:SILHOUETTE_POINTS])

    def _profile(self, data: pd.DataFrame) -> pd.DataFrame:
        words = NAME_WORDS if self.name_words is None else self.name_words
        lookup = {(r.feature, r.level): r.word for r in words.itertuples()}
        frame = data[list(RFM_FEATURES)].assign(cluster=self.labels_)
        med = frame.groupby("cluster")[list(RFM_FEATURES)].median()
        sizes = frame.groupby("cluster").size()
        rows = []
        for c in range(self.k_):
            row: dict[str, Any] = {
                "cluster": c,
                "customers": int(sizes.get(c, 0)),
                "share": float(sizes.get(c, 0) / len(frame)),
            }
            for f in RFM_FEATURES:
                value = float(med.loc[c, f]) if c in med.index else float("nan")
                row[f"median_{f}"] = value
                row[f"{f}_level"] = level_of(percentile_within(frame[f].to_numpy(), value))
            rows.append(row)
        profile = pd.DataFrame(rows)
        for f in RFM_FEATURES:
            profile[f"{f}_level"] = _settle_close_levels(profile, f)
        names = []
        for row in profile.itertuples():
            parts = [
                lookup.get((f, getattr(row, f"{f}_level")), f"{getattr(row, f'{f}_level')} {f}")
                for f in RFM_FEATURES
            ]
            name = f"{parts[0]}, {parts[1]}, {parts[2]}"
            names.append(name[:1].upper() + name[1:])
        profile["name"] = names
        # identical names: number them so every cluster stays distinguishable
        counts = profile["name"].value_counts()
        seen: dict[str, int] = {}
        for i, name in enumerate(profile["name"]):
            if counts[name] > 1:
                seen[name] = seen.get(name, 0) + 1
                profile.loc[i, "name"] = f"{name} ({seen[name]})"
        return profile

    # ------------------------------------------------------------------ use
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The scaled feature matrix the clusters live in."""
        return np.asarray(self.preprocessor_.transform(self._prepare(X)), dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Cluster of each row (numbered like ``labels_``)."""
        return self._remap[self.model_.predict(self.transform(X))]

    def project(self, X: pd.DataFrame) -> np.ndarray:
        """2-D coordinates (principal components of the scaled features) for a scatter plot."""
        matrix = self.transform(X)
        if self.projection_ is None:  # every customer identical: one point
            return np.zeros((len(matrix), 2))
        coords = self.projection_.transform(matrix)
        if coords.shape[1] == 1:
            coords = np.column_stack([coords, np.zeros(len(coords))])
        return coords


# --------------------------------------------------------------------------- store-backed helpers


def customer_attributes(con: Connection) -> pd.DataFrame:
    """Customer attribute columns usable for clustering and personas: ``column, kind, distinct``.

    ``kind`` is "numeric" or "categorical"; identifier-like columns (as many values as customers) and
    constant columns are left out.
    """
    rows = []
    total = store.row_count(con, "customers")
    types = dict(store.table_columns(con, "customers"))
    for col in store.extra_columns(con, "customers"):
        q = store.quote_ident(col)
        distinct = int(con.execute(f"SELECT count(DISTINCT {q}) FROM customers").fetchone()[0])
        numeric = types.get(col, "").upper() in {
            "DOUBLE",
            "BIGINT",
            "INTEGER",
            "FLOAT",
            "REAL",
            "HUGEINT",
            "SMALLINT",
            "TINYINT",
            "UBIGINT",
            "UINTEGER",
        } or types.get(col, "").upper().startswith("DECIMAL")
        if distinct < 2:
            continue
        if not numeric and (distinct > 50 or distinct >= 0.9 * total):
            continue
        rows.append((col, "numeric" if numeric else "categorical", distinct))
    return pd.DataFrame(rows, columns=["column", "kind", "distinct"])


def cluster_features(
    con: Connection, as_of: dt.date | str | None = None, attributes: Sequence[str] = ()
) -> pd.DataFrame:
    """Customers who bought (as of the date) with their RFM values and the chosen attributes.

    Returns ``customer_id, segment, recency_days, frequency, monetary, r_score, f_score, m_score`` plus
    one column per attribute, ordered by ``customer_id``.
    """
    known = set(store.extra_columns(con, "customers"))
    unknown = [a for a in attributes if a not in known]
    if unknown:
        raise SchemaError(
            f"Unknown customer attribute(s) {', '.join(unknown)}; the customers table has: "
            f"{', '.join(sorted(known)) or 'no extra columns'}."
        )
    name = rfm.rfm_table(con, as_of)
    extra = "".join(f", c.{store.quote_ident(a)}" for a in attributes)
    sql = f"""
        SELECT t.customer_id, t.segment, t.recency_days, t.frequency, t.monetary,
               t.r_score, t.f_score, t.m_score{extra}
        FROM {store.quote_ident(name)} t
        LEFT JOIN (SELECT DISTINCT ON (customer_id) * FROM customers ORDER BY customer_id) c
            USING (customer_id)
        WHERE t.segment <> ?
        ORDER BY t.customer_id
    """
    return con.execute(sql, [rfm.NO_PURCHASES]).df()


@dataclass(frozen=True)
class ClusterParams:
    """How customers are clustered: the settings of ``CustomerClusterer`` (see it for each one).

    Together with the as-of date they key the stored clusters, so every caller that passes the same
    settings reads the same fitted result.
    """

    k: int | str = "auto"
    attributes: tuple[str, ...] = ()
    k_range: tuple[int, int] = (2, 10)
    sample_size: int = 5000
    random_state: int = 42
    n_bootstrap: int = 10

    def __post_init__(self) -> None:
        # lists are accepted and kept as tuples: the settings stay hashable and compare by value
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "k_range", tuple(int(v) for v in self.k_range))

    def estimator(self) -> CustomerClusterer:
        """An unfitted ``CustomerClusterer`` with these settings."""
        return CustomerClusterer(**asdict(self))

    def store_key(self, as_of: dt.date) -> dict[str, Any]:
        """The parameters the stored clusterer and labels are kept under."""
        return {
            "k": self.k,
            "attributes": list(self.attributes),
            "as_of": as_of.isoformat(),
            "k_range": list(self.k_range),
            "sample_size": self.sample_size,
            "random_state": self.random_state,
            "n_bootstrap": self.n_bootstrap,
        }


def fit_clusters(
    con: Connection,
    params: ClusterParams = ClusterParams(),
    as_of: dt.date | str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> CustomerClusterer:
    """Fit (once per data version, settings and as-of date) and return the clusterer; store labels too.

    The fitted estimator is kept with ``store.put_blob``; the labels go to a stored result table (see
    ``cluster_table``) with ``customer_id, cluster, cluster_name``. ``progress(fraction, message)`` is
    called while fitting.
    """
    day = rfm.resolve_as_of(con, as_of)
    key = params.store_key(day)

    def find() -> CustomerClusterer | None:
        if store.result_table(con, "clusters", key) is None:
            return None
        return store.get_blob(con, "clusterer", key)

    def compute() -> CustomerClusterer:
        features = cluster_features(con, day, params.attributes)
        model = params.estimator()
        model.fit(features, progress=progress)
        names = np.asarray(model.names_, dtype=object)
        labels = pd.DataFrame(
            {
                "customer_id": features["customer_id"].to_numpy(),
                "cluster": model.labels_.astype("int64"),
                "cluster_name": names[model.labels_],
            }
        )
        store.put_blob(con, "clusterer", key, model)
        store.put_result_sql(con, "clusters", key, "SELECT * FROM _incoming", {}, "customer_id", frame=labels)
        return model

    return store.compute_once(con, "clusters", key, find, compute)


def cluster_table(
    con: Connection, params: ClusterParams = ClusterParams(), as_of: dt.date | str | None = None
) -> str:
    """Name of the stored table ``customer_id, cluster, cluster_name`` (fitting first when needed)."""
    day = rfm.resolve_as_of(con, as_of)
    fit_clusters(con, params, day)
    name = store.result_table(con, "clusters", params.store_key(day))
    if name is None:
        raise SchemaError("The cluster table could not be stored; retry.")
    return name


_CLUSTER_LABELS_SQL = "SELECT customer_id, cluster, cluster_name FROM {table} ORDER BY customer_id"


def cluster_members(
    con: Connection, params: ClusterParams = ClusterParams(), as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Every clustered customer with RFM values, scores, customer attributes, ``cluster`` and
    ``cluster_name``, for export; ordered by cluster then ``customer_id``."""
    day = rfm.resolve_as_of(con, as_of)
    table = cluster_table(con, params, day)
    members = rfm.segment_members(con, None, day)
    labels = con.execute(_CLUSTER_LABELS_SQL.replace("{table}", store.quote_ident(table))).df()
    out = members.merge(labels, on="customer_id", how="inner")
    return out.sort_values(["cluster", "customer_id"], kind="stable").reset_index(drop=True)


def cluster_points(
    con: Connection,
    model: CustomerClusterer,
    as_of: dt.date | str | None = None,
    max_points: int = 20000,
    random_state: int = 42,
) -> pd.DataFrame:
    """A reproducible sample of customers with 2-D coordinates, cluster and RFM segment for the scatter.

    Returns ``customer_id, x, y, cluster, cluster_name, segment, recency_days, frequency, monetary``.
    """
    features = cluster_features(con, as_of, model.attributes)
    if len(features) > max_points:
        features = features.sample(n=max_points, random_state=random_state).sort_values("customer_id")
    coords = model.project(features)
    labels = model.predict(features)
    names = np.asarray(model.names_, dtype=object)
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "x": coords[:, 0],
            "y": coords[:, 1],
            "cluster": labels,
            "cluster_name": names[labels],
            "segment": features["segment"].to_numpy(),
            "recency_days": features["recency_days"].to_numpy(),
            "frequency": features["frequency"].to_numpy(),
            "monetary": features["monetary"].to_numpy(),
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- migration

NOT_YET = "Not yet a customer"

_MIGRATION_SQL = """
SELECT
    coalesce(b.segment, $not_yet) AS from_segment,
    coalesce(a.segment, $not_yet) AS to_segment,
    count(*) AS customers
FROM {before} b
FULL OUTER JOIN {after} a USING (customer_id)
GROUP BY ALL
ORDER BY customers DESC, from_segment, to_segment
"""


def segment_migration(
    con: Connection,
    as_of: dt.date | str | None = None,
    earlier: dt.date | str | None = None,
    days: int = 90,
    rules: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Who moved between RFM segments from ``earlier`` (default ``as_of`` minus ``days``) to ``as_of``.

    Returns ``from_segment, to_segment, customers`` (largest flows first). A customer unknown at the
    earlier date comes from "Not yet a customer".
    """
    after_day = rfm.resolve_as_of(con, as_of)
    before_day = (
        rfm.resolve_as_of(con, earlier) if earlier is not None else after_day - dt.timedelta(days=days)
    )
    if before_day >= after_day:
        raise SchemaError(
            f"The earlier date {before_day} must come before the as-of date {after_day}; pick an earlier date."
        )
    before = rfm.rfm_table(con, before_day, rules)
    after = rfm.rfm_table(con, after_day, rules)
    sql = _MIGRATION_SQL.replace("{before}", store.quote_ident(before)).replace(
        "{after}", store.quote_ident(after)
    )
    return con.execute(sql, {"not_yet": NOT_YET}).df()


def _who(segment: str, count: int) -> str:
    """How a sentence names the members of a segment: "Loyal customers", "Champions", ..."""
    if segment == rfm.NO_PURCHASES:
        return "customer without a purchase" if count == 1 else "customers without a purchase"
    if segment == NOT_YET:
        return "new customer" if count == 1 else "new customers"
    if segment.endswith("s") and " " not in segment or segment.endswith(("Customers", "Loyalists")):
        return segment
    return f"{segment} customer" if count == 1 else f"{segment} customers"


def migration_statements(flows: pd.DataFrame, top: int = 5, include_new: bool = False) -> list[str]:
    """Plain sentences for the largest moves, e.g. "312 Loyal customers became At Risk".

    Moves within a segment are skipped, and so are arrivals from "Not yet a customer" unless
    ``include_new``. Largest first; ties by segment names.
    """
    moved = flows[flows["from_segment"] != flows["to_segment"]]
    if not include_new:
        moved = moved[moved["from_segment"] != NOT_YET]
    moved = moved.sort_values(["customers", "from_segment", "to_segment"], ascending=[False, True, True])
    return [
        f"{int(row.customers):,} {_who(row.from_segment, int(row.customers))} became {row.to_segment}"
        for row in moved.head(top).itertuples()
    ]


__all__ = [
    "RFM_FEATURES",
    "NAME_WORDS",
    "STABILITY_BADGES",
    "NOT_YET",
    "level_of",
    "percentile_within",
    "silhouette",
    "stability_badge",
    "CustomerClusterer",
    "ClusterParams",
    "customer_attributes",
    "cluster_features",
    "fit_clusters",
    "cluster_table",
    "cluster_members",
    "cluster_points",
    "segment_migration",
    "migration_statements",
]

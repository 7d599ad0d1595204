"""Encodings shared by every model: Surprise trainsets built with vectorised code, sampled negatives, and
the customer x product matrix the ranking models learn from."""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Stable argsort of small non-negative integer keys (radix sort on 16-bit keys: several times faster)."""
    dtype = (
        np.uint16
        if n_keys <= np.iinfo(np.uint16).max
        else np.uint32
        if n_keys <= np.iinfo(np.uint32).max
        else np.int64
    )
    return np.argsort(keys.astype(dtype, copy=False), kind="stable")


@dataclass(frozen=True)
class _Encoded:
    """Inner ids in order of first appearance (Surprise's rule) and the rows grouped user by user."""

    users: np.ndarray
    user_ids: np.ndarray
    items: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray
    user_order: np.ndarray


def _encode(frame: pd.DataFrame) -> _Encoded:
    users, user_ids = pd.factorize(frame["customer_id"], sort=False)
    items, item_ids = pd.factorize(frame["product_id"], sort=False)
    ratings = frame["rating"].to_numpy(dtype=float)
    return _Encoded(
        users,
        np.asarray(user_ids, dtype=object),
        items,
        np.asarray(item_ids, dtype=object),
        ratings,
        _stable_order(users, len(user_ids)),
    )


def build_trainset(frame: pd.DataFrame, rating_scale: tuple[float, float], encoded: _Encoded | None = None):
    """A Surprise ``Trainset`` from a customer_id, product_id, rating frame, built with vectorised code.

    It is identical to ``Dataset.load_from_df(frame, Reader(rating_scale=...)).build_full_trainset()``
    (same inner ids in order of first appearance, same rating order), only faster on large frames. Its
    rating tuples also lie user by user in memory, which makes ``SVD.fit`` several times faster than on
    a trainset built from rows in arbitrary order (same results).
    """
    enc = encoded if encoded is not None else _encode(frame)
    with _gc_paused():  # millions of small tuples: the cyclic collector would rescan them again and again
        return _build_trainset(enc, len(frame), rating_scale)


@contextlib.contextmanager
def _gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_trainset(enc: _Encoded, n_ratings: int, rating_scale: tuple[float, float]):
    from surprise import Trainset

    n_users, n_items = len(enc.user_ids), len(enc.item_ids)

    def grouped(keys: np.ndarray, n_keys: int, others: np.ndarray, order: np.ndarray) -> defaultdict:
        bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n_keys))]).tolist()
        pairs = list(zip(others[order].tolist(), enc.ratings[order].tolist(), strict=True))
        out: defaultdict = defaultdict(list)
        for key in range(n_keys):
            out[key] = pairs[bounds[key] : bounds[key + 1]]
        return out

    trainset = Trainset(
        grouped(enc.users, n_users, enc.items, enc.user_order),
        grouped(enc.items, n_items, enc.users, _stable_order(enc.items, n_items)),
        n_users,
        n_items,
        n_ratings,
        tuple(float(x) for x in rating_scale),
        {raw: inner for inner, raw in enumerate(enc.user_ids.tolist())},
        {raw: inner for inner, raw in enumerate(enc.item_ids.tolist())},
    )
    # Surprise's global mean is np.mean over all_ratings(), which runs user by user: same numbers, same order.
    trainset._global_mean = float(np.mean(enc.ratings[enc.user_order]))
    return trainset


def sample_negatives(
    observed: pd.DataFrame, ratio: float, rating: float, random_state: int = 42
) -> pd.DataFrame:
    """About ``ratio`` products per observed one that each customer never chose, drawn uniformly with a
    seeded generator (draws that hit a chosen product or repeat are dropped), all rated ``rating``.

    Returns
    -------
    DataFrame
        customer_id, product_id, rating; ordered by customer (first appearance) then product.
    """
    users, user_ids = pd.factorize(observed["customer_id"], sort=False)
    items, item_ids = pd.factorize(observed["product_id"], sort=False)
    n_items = len(item_ids)
    per_user = np.bincount(users, minlength=len(user_ids))
    wanted = np.minimum(np.round(ratio * per_user).astype(np.int64), n_items - per_user)
    rng = np.random.default_rng(random_state)
    # draw more than needed (a draw may hit a chosen product or repeat), keep each customer's first
    # ``wanted`` distinct unchosen ones in draw order
    free = np.maximum(n_items - per_user, 1)
    draws = np.where(wanted > 0, np.ceil(1.5 * wanted * n_items / free).astype(np.int64) + 2, 0)
    owner = np.repeat(np.arange(len(user_ids), dtype=np.int64), draws)
    key = owner * n_items + rng.integers(0, n_items, len(owner))
    valid = ~np.isin(key, users.astype(np.int64) * n_items + items)
    key, first = np.unique(key[valid], return_index=True)
    key = key[np.argsort(first, kind="stable")]  # back to draw order (owners stay grouped)
    owner = key // n_items
    starts = np.searchsorted(owner, owner, side="left")
    keep = (np.arange(len(key)) - starts) < wanted[owner]
    key = np.sort(key[keep])
    return pd.DataFrame(
        {
            "customer_id": np.asarray(user_ids, dtype=object)[key // n_items],
            "product_id": np.asarray(item_ids, dtype=object)[key % n_items],
            "rating": float(rating),
        }
    )


@dataclass(frozen=True)
class Interactions:
    """Customer-product pairs as sparse matrices over a fixed item order (most chosen first, then
    product_id), the order every ranking breaks ties by.

    Attributes
    ----------
    user_ids, item_ids : raw ids by row and by column.
    item_counts : customers who chose each product (pairs with a positive affinity).
    seen : CSR, 1 for every training pair (also returned or disliked ones: never suggested again).
    affinity : CSR of each pair's affinity (0 pairs are absent).
    last_at : CSR of each pair's age in days before the newest signal (for time decay), or None.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    item_counts: np.ndarray
    seen: sp.csr_matrix
    affinity: sp.csr_matrix
    age_days: sp.csr_matrix | None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def encode_interactions(frame: pd.DataFrame) -> Interactions:
    """``Interactions`` from a frame with customer_id, product_id, affinity (and optionally last_at).

    Users keep their order of first appearance; items are ordered by how many customers chose them (most
    first, ties by product_id).
    """
    users, user_ids = pd.factorize(frame["customer_id"], sort=False)
    items, raw_items = pd.factorize(frame["product_id"], sort=False)
    affinity = frame["affinity"].to_numpy(dtype=float) if "affinity" in frame else np.ones(len(frame))
    chosen = affinity > 0
    counts = np.bincount(items[chosen], minlength=len(raw_items)).astype(np.int64)
    raw_items = np.asarray(raw_items, dtype=object)
    order = np.lexsort((raw_items.astype(str), -counts))
    position = np.empty(len(raw_items), dtype=np.int64)
    position[order] = np.arange(len(raw_items))
    cols = position[items]
    shape = (len(user_ids), len(raw_items))
    seen = sp.csr_matrix((np.ones(len(frame)), (users, cols)), shape=shape)
    seen.sum_duplicates()
    seen.data[:] = 1.0
    weights = sp.csr_matrix((affinity[chosen], (users[chosen], cols[chosen])), shape=shape)
    weights.sum_duplicates()
    age = None
    if "last_at" in frame and frame["last_at"].notna().any():
        stamps = pd.to_datetime(frame["last_at"])
        newest = stamps.max()
        days = ((newest - stamps).dt.total_seconds() / 86400.0).fillna(0.0).to_numpy()
        # 1 day is added so a signal from the newest day is stored (a CSR drops explicit zeros)
        age = sp.csr_matrix((days[chosen] + 1.0, (users[chosen], cols[chosen])), shape=shape)
        age.sum_duplicates()
    for matrix in (seen, weights, age):
        if matrix is not None:
            matrix.sort_indices()
    return Interactions(
        np.asarray(user_ids, dtype=object), raw_items[order], counts[order], seen, weights, age
    )


__all__ = ["build_trainset", "sample_negatives", "Interactions", "encode_interactions"]

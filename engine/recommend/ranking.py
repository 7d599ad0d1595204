"""Batch top-N kernels: exact top-n per row with a fixed tie rule, maximal-marginal-relevance re-ranking,
and the chunked driver every model's lists go through."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

# The most score cells one chunk of the batch may hold (8 bytes each: 32 MB).
CHUNK_CELLS = 4_000_000


def top_n_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` highest finite scores per row, best first; -1 pads short rows.

    Ties go to the lower column index, so with columns in a fixed item order the result never depends on
    how ``argpartition`` happens to order equal values.
    """
    n_rows, n_cols = scores.shape
    out = np.full((n_rows, n), -1, dtype=np.int64)
    if n_cols == 0 or n_rows == 0:
        return out
    k = min(n, n_cols)
    if k < n_cols:  # the k largest sit at the end of the partition (no negated copy of the matrix)
        part = np.argpartition(scores, n_cols - k, axis=1)[:, n_cols - k :]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    kth = vals.min(axis=1)
    # Rows whose boundary value is shared by items outside the partition, or which have fewer than k
    # finite scores, are resolved exactly below; the rest only need their k picks sorted.
    ties = np.count_nonzero(scores >= kth[:, None], axis=1) > k
    short = ~np.isfinite(kth)
    slow = ties | short
    fast = ~slow
    if fast.any():
        order = np.lexsort((part[fast], -vals[fast]), axis=1)
        out[fast, :k] = np.take_along_axis(part[fast], order, axis=1)
    for r in np.flatnonzero(slow):
        row = scores[r]
        candidates = (
            np.flatnonzero(np.isfinite(row) & (row >= kth[r]))
            if np.isfinite(kth[r])
            else np.flatnonzero(np.isfinite(row))
        )
        best = candidates[np.lexsort((candidates, -row[candidates]))][:k]
        out[r, : len(best)] = best
    return out


def mmr(
    pool: np.ndarray,
    scores: np.ndarray,
    features: np.ndarray | None,
    n: int,
    diversity: float,
    similarity: np.ndarray | None = None,
) -> np.ndarray:
    """Maximal marginal relevance over a ranked candidate pool, for a chunk of users at once.

    Each step picks the candidate maximising ``(1 - diversity) x relevance - diversity x max similarity to
    the products already picked``, relevance being the score min-max scaled within the pool. Products are
    compared by the dot product of their ``features`` rows, or read from a product x product
    ``similarity`` matrix when given.
    """
    n_rows, size = pool.shape
    valid = pool >= 0
    raw = np.take_along_axis(scores, np.maximum(pool, 0), axis=1)
    low = np.where(valid, raw, np.inf).min(axis=1)
    high = np.where(valid, raw, -np.inf).max(axis=1)
    span = np.where(high > low, high - low, 1.0)
    # invalid slots get relevance 0 here and are masked out of every step below (0 x -inf would be NaN)
    rel = np.where(valid, (raw - np.where(np.isfinite(low), low, 0.0)[:, None]) / span[:, None], 0.0)
    safe = np.maximum(pool, 0)
    if similarity is not None:
        sim = similarity[safe[:, :, None], safe[:, None, :]]
    else:
        vec = features[safe]
        sim = np.einsum("umf,uvf->umv", vec, vec)
    chosen = np.zeros((n_rows, size), dtype=bool)
    max_sim = np.zeros((n_rows, size))
    out = np.full((n_rows, n), -1, dtype=np.int64)
    all_rows = np.arange(n_rows)
    for step in range(min(n, size)):
        objective = (1.0 - diversity) * rel - diversity * max_sim
        objective[chosen | ~valid] = -np.inf
        best = objective.argmax(axis=1)
        ok = np.isfinite(objective[all_rows, best])
        out[ok, step] = pool[all_rows[ok], best[ok]]
        chosen[all_rows[ok], best[ok]] = True
        max_sim = np.maximum(max_sim, sim[all_rows, best, :])
    return out


def top_n_lists(
    score_rows: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    n: int,
    n_items: int,
    *,
    seen: sp.csr_matrix | None = None,
    blocked: np.ndarray | None = None,
    diversity: float = 0.0,
    features: np.ndarray | None = None,
    similarity: np.ndarray | None = None,
    chunk_cells: int = CHUNK_CELLS,
    with_scores: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Top-``n`` item columns for each of ``rows``, chunk by chunk so memory stays bounded.

    Parameters
    ----------
    score_rows : rows -> (len(rows), n_items) scores, higher is better (a fresh array it may own).
    seen : CSR over ``rows`` (one matrix row per requested row) of items never to list for that row.
    blocked : bool mask of items never to list for anyone.
    diversity, features, similarity : MMR re-ranking strength and the item vectors (or item x item
        similarity) it compares products by (see ``mmr``).

    Returns
    -------
    ndarray (len(rows), n) of item columns, best first, -1 where fewer than ``n`` items qualify; with
    ``with_scores`` also the picks' scores (NaN for -1).
    """
    pool = n if diversity <= 0 else min(n_items, max(5 * n, n + 20))
    chunk = max(1, int(chunk_cells // max(n_items, 1)))
    picked = np.full((len(rows), n), -1, dtype=np.int64)
    picked_scores = np.full((len(rows), n), np.nan) if with_scores else None
    any_blocked = blocked is not None and bool(blocked.any())
    for start in range(0, len(rows), chunk):
        stop = min(start + chunk, len(rows))
        scores = np.asarray(score_rows(rows[start:stop]), dtype=float)
        if any_blocked:
            scores[:, blocked] = -np.inf
        if seen is not None:
            part = seen[start:stop]
            owner = np.repeat(np.arange(stop - start), np.diff(part.indptr))
            scores[owner, part.indices] = -np.inf
        top = top_n_indices(scores, pool)
        if diversity > 0 and (features is not None or similarity is not None):
            top = mmr(top, scores, features, n, diversity, similarity)
        picked[start:stop] = top[:, :n]
        if picked_scores is not None:
            cols = top[:, :n]
            values = np.take_along_axis(scores, np.maximum(cols, 0), axis=1)
            picked_scores[start:stop] = np.where(cols >= 0, values, np.nan)
    return (picked, picked_scores) if with_scores else picked


__all__ = ["CHUNK_CELLS", "top_n_indices", "mmr", "top_n_lists"]

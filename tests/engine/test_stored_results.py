"""Stored results and models are keyed by code version: what other engine code stored is recomputed,
never loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import engine
from engine import store

OLD_RELEASE = "0ld0ld0ld0ld"


@pytest.fixture
def old_release(monkeypatch):
    """Run the block as if an older engine release were installed (a different code version)."""

    class Switch:
        def __enter__(self):
            monkeypatch.setattr(store, "code_version", lambda: OLD_RELEASE)

        def __exit__(self, *exc):
            monkeypatch.undo()

    return Switch()


def test_code_version_is_a_digest_of_the_engine_sources():
    root = Path(engine.__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    assert store.code_version() == digest.hexdigest()[:12]
    assert engine.code_version() == store.code_version()


def test_a_blob_of_an_older_release_is_not_loaded(con, old_release):
    with old_release:
        store.put_blob(con, "recommender", {"factors": 8}, {"model": "pickled by the old release"})
        assert store.get_blob(con, "recommender", {"factors": 8}) == {"model": "pickled by the old release"}
    # the same kind, parameters and data version, but other code: not loaded
    assert store.get_blob(con, "recommender", {"factors": 8}) is None
    store.put_blob(con, "recommender", {"factors": 8}, {"model": "current"})
    assert store.get_blob(con, "recommender", {"factors": 8}) == {"model": "current"}
    with old_release:  # and the old release does not load the new one's either
        assert store.get_blob(con, "recommender", {"factors": 8}) == {"model": "pickled by the old release"}


def test_a_result_table_of_an_older_release_is_recomputed(con, old_release):
    calls = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"x": [len(calls)]})

    with old_release:
        assert store.cached_result(con, "segments", {"k": 3}, compute)["x"].tolist() == [1]
        assert store.cached_result(con, "segments", {"k": 3}, compute)["x"].tolist() == [1]  # stored
    assert store.get_result(con, "segments", {"k": 3}) is None
    assert store.result_table(con, "segments", {"k": 3}) is None
    assert store.cached_result(con, "segments", {"k": 3}, compute)["x"].tolist() == [2]  # computed again
    assert len(calls) == 2


def test_a_model_stored_by_an_older_release_is_refitted_by_its_user(con, old_release):
    """A real user of the API (stored clusters) passes nothing and still never loads the old pickle."""
    values = ", ".join(
        f"('{i}', 'c{i % 60}', DATE '2024-01-01' + INTERVAL ({i % 90}) DAY, {5 + (i % 60) * 3}, false)"
        for i in range(600)
    )
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, is_return) VALUES {values}")
    params = engine.ClusterParams(k=2, n_bootstrap=0)
    day = engine.resolve_as_of(con)
    with old_release:
        old = engine.fit_clusters(con, params)
        # what the old release pickled: stand in a model that the current code could not use
        store.put_blob(con, "clusterer", params.store_key(day), "a model pickled by the old release")
        assert engine.fit_clusters(con, params) == "a model pickled by the old release"
    model = engine.fit_clusters(con, params)
    assert isinstance(model, engine.CustomerClusterer) and model.k_ == 2
    assert list(model.labels_) == list(old.labels_)  # refitted the same way on the same data

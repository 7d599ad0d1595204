"""The one module that connects to DuckDB: the store file, identifier quoting, data versions, load
history and stored results.

One connection per process; callers take ``con.cursor()`` per thread or Streamlit run. Every other
engine module receives a connection (or cursor) and never calls ``duckdb.connect`` itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.errors import EngineError, StoreBusyError
from engine.schema import LOAD_ID_COLUMN, TABLES, Table

DEFAULT_DB = Path("data") / "segmint.duckdb"

Connection = duckdb.DuckDBPyConnection

_META_DDL = [
    """CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS _loads (
        load_id BIGINT PRIMARY KEY,
        table_name VARCHAR NOT NULL,
        file_name VARCHAR,
        mode VARCHAR NOT NULL,
        rows_read BIGINT,
        rows_loaded BIGINT,
        rows_rejected BIGINT,
        rows_before BIGINT,
        rows_after BIGINT,
        loaded_at TIMESTAMP DEFAULT current_timestamp,
        data_version BIGINT,
        backup_table VARCHAR,
        undone BOOLEAN DEFAULT false,
        is_sample BOOLEAN DEFAULT false,
        mapping_json VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS _mappings (
        header_key VARCHAR PRIMARY KEY,
        table_name VARCHAR,
        mapping_json VARCHAR,
        saved_at TIMESTAMP DEFAULT current_timestamp
    )""",
    """CREATE TABLE IF NOT EXISTS _results (
        kind VARCHAR,
        key VARCHAR,
        data_version BIGINT,
        table_name VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (kind, key)
    )""",
    """CREATE TABLE IF NOT EXISTS _blobs (
        kind VARCHAR,
        key VARCHAR,
        data_version BIGINT,
        payload BLOB,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (kind, key)
    )""",
]

_process_lock = threading.Lock()
_connections: dict[str, Connection] = {}


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL: the only way a user-supplied name may enter a statement."""
    text = str(name)
    if "\x00" in text:
        raise EngineError("Column and table names cannot contain NUL characters.")
    return '"' + text.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal, for the few places DuckDB does not accept a bound parameter
    (table functions' file arguments in DDL). Prefer bound parameters everywhere else."""
    text = str(value)
    if "\x00" in text:
        raise EngineError("Text values cannot contain NUL characters.")
    return "'" + text.replace("'", "''") + "'"


def db_path(path: str | os.PathLike | None = None) -> Path:
    """The store file: ``path``, else ``$SEGMINT_DB``, else ``./data/segmint.duckdb``."""
    chosen = path or os.environ.get("SEGMINT_DB") or DEFAULT_DB
    return Path(chosen).expanduser().resolve()


def connect(path: str | os.PathLike | None = None, *, shared: bool = True) -> Connection:
    """Open (creating if needed) the store and make sure the canonical and bookkeeping tables exist.

    With ``shared=True`` the process keeps one connection per file and returns it again; take a
    ``cursor()`` per thread. A second process holding the file gets a ``StoreBusyError`` that says so.
    """
    file = db_path(path)
    key = str(file)
    with _process_lock:
        if shared and key in _connections:
            return _connections[key]
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(key)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusyError(
                    f"The store {file.name} is open in another Segmint process. Close that process, or "
                    f"point SEGMINT_DB at another file, then retry."
                ) from exc
            raise
        ensure_schema(con)
        if shared:
            _connections[key] = con
        return con


def close_all() -> None:
    """Close every shared connection of this process (tests and the CLI use it)."""
    with _process_lock:
        for con in _connections.values():
            try:
                con.close()
            except duckdb.Error:
                pass
        _connections.clear()


def ensure_schema(con: Connection) -> None:
    """Create the bookkeeping tables and an empty version of every canonical table."""
    for ddl in _META_DDL:
        con.execute(ddl)
    con.execute("INSERT INTO _meta VALUES ('data_version', '0') ON CONFLICT DO NOTHING")
    for table in TABLES.values():
        con.execute(empty_table_ddl(table))


def canonical_columns(table: Table) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the stored canonical columns, derived ones included."""
    cols = [(f.name, f.sql_type) for f in table.fields]
    if table.name == "orders":
        cols.append(("is_return", "BOOLEAN"))
    return cols


def empty_table_ddl(table: Table, name: str | None = None, *, if_not_exists: bool = True) -> str:
    """CREATE TABLE statement for an empty canonical table (canonical columns plus ``_load_id``)."""
    cols = canonical_columns(table) + [(LOAD_ID_COLUMN, "BIGINT")]
    body = ", ".join(f"{quote_ident(c)} {t}" for c, t in cols)
    clause = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {clause}{quote_ident(name or table.name)} ({body})"


def data_version(con: Connection) -> int:
    """The number bumped by every successful load and undo; results and caches key on it."""
    row = con.execute("SELECT value FROM _meta WHERE key = 'data_version'").fetchone()
    return int(row[0]) if row else 0


def bump_data_version(con: Connection) -> int:
    """Increase the data version inside the caller's transaction and return the new value."""
    con.execute(
        "UPDATE _meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'"
    )
    return data_version(con)


def get_meta(con: Connection, key: str, default: str | None = None) -> str | None:
    """A value from the store's ``_meta`` table, or ``default``."""
    row = con.execute("SELECT value FROM _meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(con: Connection, key: str, value: str) -> None:
    """Set a value in the store's ``_meta`` table."""
    con.execute(
        "INSERT INTO _meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]
    )


@contextmanager
def transaction(con: Connection) -> Iterator[Connection]:
    """Run a block as one transaction: commit on success, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
    else:
        try:
            con.execute("COMMIT")
        except duckdb.TransactionException as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            from engine.errors import ConcurrentChangeError

            raise ConcurrentChangeError(
                "Another user changed the same data at the same moment, so this change was not saved. "
                "Nothing was lost: retry."
            ) from exc


def table_exists(con: Connection, name: str) -> bool:
    """Whether a table called ``name`` exists in the store."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def table_columns(con: Connection, name: str) -> list[tuple[str, str]]:
    """(column, type) of a stored table, in order."""
    return [
        (r[0], r[1])
        for r in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [name],
        ).fetchall()
    ]


def extra_columns(con: Connection, name: str) -> list[str]:
    """Columns of a canonical table beyond its canonical fields: customer attributes, campaign dimensions."""
    table = TABLES[name]
    known = {c for c, _ in canonical_columns(table)} | {LOAD_ID_COLUMN}
    return [c for c, _ in table_columns(con, name) if c not in known]


def row_count(con: Connection, name: str) -> int:
    """Rows in a stored table."""
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])


def table_counts(con: Connection) -> dict[str, int]:
    """Rows in every canonical table."""
    return {name: row_count(con, name) for name in TABLES}


def is_sample_data(con: Connection) -> bool:
    """True while every non-empty canonical table still holds only the bundled sample data."""
    return get_meta(con, "sample_loaded") == "1" and get_meta(con, "user_data") != "1"


# ---------------------------------------------------------------- stored results


def result_key(params: dict[str, Any] | None) -> str:
    """A stable short key for a parameter set (JSON with sorted keys, hashed)."""
    text = json.dumps(params or {}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _result_table_name(kind: str, key: str) -> str:
    safe_kind = "".join(ch if ch.isalnum() else "_" for ch in kind)[:40]
    return f"_r_{safe_kind}_{key}"


def get_result(con: Connection, kind: str, params: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """A stored result frame for this kind, parameters and the current data version, or None."""
    key = result_key(params)
    row = con.execute(
        "SELECT table_name FROM _results WHERE kind = ? AND key = ? AND data_version = ?",
        [kind, key, data_version(con)],
    ).fetchone()
    if not row or not table_exists(con, row[0]):
        return None
    return con.execute(f"SELECT * FROM {quote_ident(row[0])} ORDER BY _pos").df().drop(columns="_pos")


def put_result(con: Connection, kind: str, params: dict[str, Any] | None, frame: pd.DataFrame) -> str:
    """Store a result frame for the current data version (replacing older versions of the same key).

    Returns the table name, which SQL may join against while the data version stays the same.
    """
    key = result_key(params)
    name = _result_table_name(kind, key)
    version = data_version(con)
    stored = frame.reset_index(drop=True).copy()
    stored["_pos"] = range(len(stored))
    cur = con.cursor()
    cur.register("_incoming_result", stored)
    try:
        with transaction(cur):
            cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM _incoming_result")
            cur.execute(
                "INSERT INTO _results (kind, key, data_version, table_name) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET data_version = excluded.data_version, "
                "table_name = excluded.table_name, created_at = now()",
                [kind, key, version, name],
            )
    finally:
        cur.unregister("_incoming_result")
    return name


def result_table(con: Connection, kind: str, params: dict[str, Any] | None = None) -> str | None:
    """Name of the stored result table for the current data version, or None when not computed yet."""
    row = con.execute(
        "SELECT table_name FROM _results WHERE kind = ? AND key = ? AND data_version = ?",
        [kind, result_key(params), data_version(con)],
    ).fetchone()
    return row[0] if row and table_exists(con, row[0]) else None


def get_blob(con: Connection, kind: str, params: dict[str, Any] | None = None) -> Any | None:
    """A stored Python object (a trained model) for this kind, parameters and data version, or None.

    Blobs are written only by this process's own ``put_blob``; they are never read from uploads.
    """
    row = con.execute(
        "SELECT payload FROM _blobs WHERE kind = ? AND key = ? AND data_version = ?",
        [kind, result_key(params), data_version(con)],
    ).fetchone()
    return pickle.loads(row[0]) if row else None  # noqa: S301 - our own stored models only


def put_blob(con: Connection, kind: str, params: dict[str, Any] | None, obj: Any) -> None:
    """Store a Python object for the current data version under this kind and parameter set."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    con.execute(
        "INSERT INTO _blobs (kind, key, data_version, payload) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET data_version = excluded.data_version, "
        "payload = excluded.payload, created_at = now()",
        [kind, result_key(params), data_version(con), payload],
    )


def prune_results(con: Connection) -> int:
    """Drop stored results and blobs of older data versions; returns how many were dropped."""
    version = data_version(con)
    stale = con.execute("SELECT table_name FROM _results WHERE data_version <> ?", [version]).fetchall()
    for (name,) in stale:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    con.execute("DELETE FROM _results WHERE data_version <> ?", [version])
    con.execute("DELETE FROM _blobs WHERE data_version <> ?", [version])
    return len(stale)


_result_locks: dict[tuple[str, str], threading.Lock] = {}


@contextmanager
def computing(kind: str, params: dict[str, Any] | None) -> Iterator[None]:
    """Let one thread of this process compute a given result at a time; the others wait and then find it
    stored. (A store file is open in one process only, so a process lock covers every writer.)"""
    key = (kind, result_key(params))
    with _process_lock:
        lock = _result_locks.setdefault(key, threading.Lock())
    with lock:
        yield


def compute_once(con: Connection, kind: str, params: dict[str, Any] | None, find, compute):
    """``find()`` the stored result, else ``compute()`` it; concurrent callers compute it once.

    A write-write conflict with another session becomes ``ConcurrentChangeError`` (retry), never a traceback.
    """
    from engine.errors import ConcurrentChangeError

    found = find()
    if found is not None:
        return found
    with computing(kind, params):
        found = find()
        if found is not None:
            return found
        try:
            return compute()
        except duckdb.TransactionException as exc:
            raise ConcurrentChangeError(
                f"Another user changed the stored {kind} results at the same moment; nothing was lost: retry."
            ) from exc


def cached_result(con: Connection, kind: str, params: dict[str, Any] | None, compute) -> pd.DataFrame:
    """Return the stored result for (kind, params, data version), computing and storing it once if absent.

    ``compute`` is a zero-argument callable returning a DataFrame.
    """

    def compute_and_store() -> pd.DataFrame:
        frame = compute()
        put_result(con, kind, params, frame)
        return frame

    return compute_once(con, kind, params, lambda: get_result(con, kind, params), compute_and_store)


def put_result_sql(
    con: Connection,
    kind: str,
    params: dict[str, Any] | None,
    sql: str,
    bound: dict[str, Any] | list[Any] | None = None,
    order_by: str = "1",
    frame: pd.DataFrame | None = None,
) -> str:
    """Run ``sql`` straight into a stored result table (no round trip through pandas) and register it so
    ``get_result``/``result_table`` find it for this data version and parameter set.

    ``order_by`` fixes the stored order; ``frame``, when given, is visible to ``sql`` as ``_incoming``.
    """
    key = result_key(params)
    name = _result_table_name(kind, key)
    version = data_version(con)
    cur = con.cursor()
    if frame is not None:
        cur.register("_incoming", frame)
    try:
        with transaction(cur):
            cur.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(name)} AS "
                f"SELECT *, row_number() OVER (ORDER BY {order_by}) - 1 AS _pos FROM ({sql})",
                bound or {},
            )
            cur.execute(
                "INSERT INTO _results (kind, key, data_version, table_name) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET data_version = excluded.data_version, "
                "table_name = excluded.table_name, created_at = now()",
                [kind, key, version, name],
            )
    finally:
        if frame is not None:
            cur.unregister("_incoming")
    return name


def fetch_df(con: Connection, sql: str, params: Iterable[Any] | None = None) -> pd.DataFrame:
    """Run a query with bound parameters and return a DataFrame."""
    return con.execute(sql, list(params or [])).df()


__all__ = [
    "Connection",
    "DEFAULT_DB",
    "quote_ident",
    "quote_literal",
    "db_path",
    "connect",
    "close_all",
    "ensure_schema",
    "canonical_columns",
    "empty_table_ddl",
    "data_version",
    "bump_data_version",
    "get_meta",
    "set_meta",
    "transaction",
    "table_exists",
    "table_columns",
    "extra_columns",
    "row_count",
    "table_counts",
    "is_sample_data",
    "result_key",
    "get_result",
    "put_result",
    "result_table",
    "get_blob",
    "put_blob",
    "prune_results",
    "computing",
    "compute_once",
    "cached_result",
    "put_result_sql",
    "fetch_df",
]

"""The one module that connects to DuckDB: the store file, identifier quoting, data versions, load
history and stored results.

One connection per process; callers take ``con.cursor()`` per thread or Streamlit run. Every other
engine module receives a connection (or cursor) and never calls ``duckdb.connect`` itself.

The connection is locked down: DuckDB may read files only in the upload staging folder and the bundled
sample folder, may not write files elsewhere, attach databases or install and load extensions, and the
configuration cannot be changed afterwards (``connect(locked=False)`` exists for maintenance tools only).
Write transactions of one process run one at a time (a store file is open in one process only), so
concurrent appends both commit; two replaces of the same table at the same moment leave one version and
the second gets ``ConcurrentChangeError``. A write-ahead log left by an unclean shutdown is copied aside and
replayed (DuckDB keeps every finished change and drops a cut-off tail); one that cannot be replayed is moved
aside and the store opens at its last checkpoint. Both leave a warning the app shows (``recovery_warning``).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.errors import ConcurrentChangeError, EngineError, StoreBusyError
from engine.schema import LOAD_ID_COLUMN, TABLES, Table

DEFAULT_DB = Path("data") / "segmint.duckdb"
# The bundled sample CSVs (written by ``engine.sample``, which builds on this module; the store may read them).
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
STAGING_FOLDER = "staging"

# Options of the locked-down connection that DuckDB accepts at open time; ``allowed_directories``,
# ``enable_external_access`` and ``lock_configuration`` are set right after (DuckDB refuses
# ``allowed_directories`` before the database has started).
_LOCKED_OPEN_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

_log = logging.getLogger("segmint.store")

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
    # saved segments (a definition) and saved views (a page and its filters), named per kind
    """CREATE TABLE IF NOT EXISTS _saved (
        kind VARCHAR,
        name VARCHAR,
        definition_json VARCHAR NOT NULL,
        saved_by VARCHAR,
        saved_at TIMESTAMP DEFAULT current_timestamp,
        updated_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (kind, name)
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


class StoreWriteError(EngineError):
    """The store file could not be written (disk full, file size limit, read-only disk); the change was
    rolled back and the store holds what it held before."""


# Warnings from start-up recovery in this process (also kept in the store: ``recovery_warning``).
RECOVERY_WARNINGS: list[str] = []


def allowed_directories(path: str | os.PathLike | None = None) -> list[Path]:
    """The only folders the locked-down connection to the store ``path`` may read from or write to:
    the upload staging folder beside the store file and the bundled sample folder."""
    return [db_path(path).parent / STAGING_FOLDER, SAMPLE_DIR]


def connect(path: str | os.PathLike | None = None, *, shared: bool = True, locked: bool = True) -> Connection:
    """Open (creating if needed) the store and make sure the canonical and bookkeeping tables exist.

    With ``shared=True`` the process keeps one connection per file and returns it again; take a
    ``cursor()`` per thread. A second process holding the file gets a ``StoreBusyError`` that says so.

    Parameters
    ----------
    path : the store file; default ``$SEGMINT_DB`` or ``./data/segmint.duckdb``.
    shared : return this process's one connection to the file (opening it the first time).
    locked : lock the connection down (the default, and the only setting the app and the command line
        use): files only in ``allowed_directories(path)``, no extension install or autoload, no other
        database attached, configuration frozen. ``locked=False`` is for maintenance tools that need an
        open connection; a file cannot be open both ways in one process.

    Raises
    ------
    StoreBusyError
        Another process has the file open.
    EngineError
        The file is already open in this process with the other ``locked`` setting.
    """
    file = db_path(path)
    key = str(file)
    with _process_lock:
        if shared and key in _connections:
            if (key in _unlocked) == locked:
                raise EngineError(_mixed_message(file, locked))
            return _connections[key]
        file.parent.mkdir(parents=True, exist_ok=True)
        con = _open(file, locked)
        try:
            if locked:
                _lock_down(con, file)
            ensure_schema(con)
            _record_recovery(con, file)
        except BaseException:
            con.close()
            raise
        if shared:
            _connections[key] = con
            _close_at_exit()
            if locked:
                _unlocked.discard(key)
            else:
                _unlocked.add(key)
        return con


_unlocked: set[str] = set()
_pending_recovery: dict[str, str] = {}


def _mixed_message(file: Path, locked: bool) -> str:
    have, want = ("an open (unlocked)", "locked") if locked else ("a locked", "unlocked")
    return (
        f"The store {file.name} is already open in this process with {have} connection, so it cannot be "
        f"opened {want} too. Close the other connection first (store.close_all())."
    )


# A write-ahead log left by an unclean shutdown is copied aside before DuckDB replays it, up to this size
# (a bigger one is replayed without a copy; the warning says so). The newest few copies are kept.
UNCLEAN_LOG_COPY_LIMIT = 512 * 1024**2
UNCLEAN_LOG_COPIES_KEPT = 3


def _open_in_this_process(file: Path) -> bool:
    """Whether this process already holds ``file`` open (DuckDB then hands out its running database, and a
    write-ahead log beside it is the live one, not one left by a crash). Linux only; elsewhere False."""
    fds = Path("/proc/self/fd")
    try:
        entries = list(fds.iterdir())
    except OSError:
        return False
    target = str(file)
    for entry in entries:
        try:
            if os.readlink(entry) == target:
                return True
        except OSError:
            continue
    return False


def _stamp() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"


def _keep_unclean_log(file: Path) -> tuple[Path | None, int] | None:
    """Before a start-up replays a write-ahead log left by an unclean shutdown (kill, crash, power loss),
    copy it beside the store (``<store>.wal.unclean-<time>``) so nothing it held is lost even if the replay
    drops a cut-off tail. Returns (copy or None when too big, log size), or None when there is no such log."""
    wal = Path(f"{file}.wal")
    try:
        size = wal.stat().st_size
    except OSError:
        return None
    if size == 0 or _open_in_this_process(file):
        return None
    if size > UNCLEAN_LOG_COPY_LIMIT:
        return None, size
    copy = wal.with_name(f"{wal.name}.unclean-{_stamp()}")
    try:
        shutil.copyfile(wal, copy)
    except OSError as exc:  # no room for a copy: replay anyway, the warning says there is no copy
        _log.warning("Could not keep a copy of the write-ahead log %s: %s", wal, exc)
        copy.unlink(missing_ok=True)
        return None, size
    for old in sorted(wal.parent.glob(f"{wal.name}.unclean-*"))[:-UNCLEAN_LOG_COPIES_KEPT]:
        old.unlink(missing_ok=True)
    return copy, size


def _unclean_message(file: Path, copy: Path | None, size: int) -> str:
    kept = (
        f"A copy of the log was kept as {copy.name} beside the store."
        if copy is not None
        else "The log was too big to copy or there was no room, so no copy was kept."
    )
    return (
        f"Segmint was stopped without a clean shutdown (killed, crashed or lost power) and left a "
        f"write-ahead log of {size:,} bytes beside {file.name}. The store replayed every change that had "
        f"finished; a load that was cut off was dropped whole, so every table is as it was before or after "
        f"that load. {kept} Check the load history on the Data page and load again any file that is missing."
    )


def _open(file: Path, locked: bool) -> Connection:
    """``duckdb.connect`` with friendly errors: a write-ahead log left by an unclean shutdown is copied
    aside and replayed, one that cannot be replayed is moved aside; both leave a warning."""
    config = dict(_LOCKED_OPEN_CONFIG) if locked else {}
    unclean = _keep_unclean_log(file)
    try:
        con = duckdb.connect(str(file), config=config)
    except duckdb.Error as exc:
        if unclean and unclean[0] is not None:
            unclean[0].unlink(missing_ok=True)
        text = str(exc)
        if "Could not set lock" in text or "Conflicting lock" in text:
            pid = re.search(r"PID (\d+)", text)
            holder = f" (process {pid.group(1)})" if pid else ""
            raise StoreBusyError(
                f"The store {file.name} is open in another Segmint process{holder}. Close that process, or "
                f"point SEGMINT_DB at another file, then retry."
            ) from exc
        if "different configuration" in text:
            raise EngineError(_mixed_message(file, locked)) from exc
        if _is_disk_error(text):
            # Never give up a log that is fine but could not be replayed for lack of space.
            raise StoreWriteError(
                f"The store {file.name} cannot be opened: the disk holding it is full (or the file reached a "
                f"size limit). Free some disk space, then start Segmint again. Nothing was changed. "
                f"(Detail: {text.splitlines()[0][:200]})"
            ) from exc
        wal = Path(f"{file}.wal")
        if not (wal.exists() and "replaying WAL" in text):
            raise
        moved = wal.with_name(f"{wal.name}.corrupt-{_stamp()}")
        os.replace(wal, moved)
        message = (
            f"Segmint could not replay the write-ahead log of {file.name} after an unclean shutdown "
            f"({text.splitlines()[0][:300]}). The store was opened at its last checkpoint: changes made "
            f"just before the shutdown may be missing. The log was kept as {moved.name} beside the store; "
            f"check the data and load the latest files again if needed."
        )
        _log.error(message)
        RECOVERY_WARNINGS.append(message)
        _pending_recovery[str(file)] = message
        return duckdb.connect(str(file), config=config)
    if unclean:
        message = _unclean_message(file, *unclean)
        _log.warning(message)
        RECOVERY_WARNINGS.append(message)
        _pending_recovery[str(file)] = message
    return con


def _lock_down(con: Connection, file: Path) -> None:
    """Restrict file access to the staging and sample folders, then freeze the configuration."""
    locked_now, external = con.execute(
        "SELECT current_setting('lock_configuration'), current_setting('enable_external_access')"
    ).fetchone()
    if locked_now:
        # DuckDB hands a second connection to the same file the already locked-down database.
        if external:
            raise EngineError(_mixed_message(file, True))
        return
    folders = allowed_directories(file)
    folders[0].mkdir(parents=True, exist_ok=True)
    listed = ", ".join(quote_literal(str(folder)) for folder in folders)
    con.execute(f"SET allowed_directories = [{listed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _record_recovery(con: Connection, file: Path) -> None:
    message = _pending_recovery.pop(str(file), None)
    if message:
        set_meta(con, "recovery_warning", message)


def recovery_warning(con: Connection) -> str | None:
    """The warning left by start-up recovery (a write-ahead log moved aside), or None; show it loudly."""
    return get_meta(con, "recovery_warning") or None


def clear_recovery_warning(con: Connection) -> None:
    """Forget the start-up recovery warning once someone has read it."""
    with transaction(con) as tx:
        tx.execute("DELETE FROM _meta WHERE key = 'recovery_warning'")


def close_all() -> None:
    """Close every shared connection of this process (tests and the CLI use it; also run at exit).

    Each store is checkpointed first: DuckDB folds its write-ahead log into the file only when the last
    cursor on it is gone, and a process that stops while a thread still holds a cursor (the dashboard's
    inbox watcher, Streamlit's cached connection on Ctrl+C) would otherwise leave the log behind, and the
    next start would take an ordinary stop for a crash. A checkpoint that cannot run (a write still under
    way) leaves the log, and the next start rightly replays it and warns.
    """
    with _process_lock:
        for con in _connections.values():
            try:
                con.execute("CHECKPOINT")
            except duckdb.Error:
                pass
            try:
                con.close()
            except duckdb.Error:
                pass
        _connections.clear()
        _unlocked.clear()


_exit_hook = threading.Event()


def _close_at_exit() -> None:
    """Register ``close_all`` to run when the process ends normally (once per process)."""
    if not _exit_hook.is_set():
        _exit_hook.set()
        atexit.register(close_all)


def ensure_schema(con: Connection) -> None:
    """Create the bookkeeping tables and an empty version of every canonical table.

    Only what is missing is created, so reopening a store writes nothing (and cannot collide with a
    write of another thread).
    """
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    wanted = ["_meta", "_loads", "_mappings", "_results", "_saved", "_blobs", *TABLES]
    if not set(wanted) <= present:
        for ddl in _META_DDL:
            con.execute(ddl)
        for table in TABLES.values():
            con.execute(empty_table_ddl(table))
    if get_meta(con, "data_version") is None:
        con.execute("INSERT INTO _meta VALUES ('data_version', '0') ON CONFLICT DO NOTHING")


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


class _Writer:
    """The write lock of one store file and the canonical tables replaced by its recent commits."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.commits = 0
        self.replaced: list[tuple[int, frozenset[str]]] = []

    def replaced_since(self, commit: int) -> set[str]:
        return {name for number, names in self.replaced if number > commit for name in names}

    def record(self, names: frozenset[str]) -> None:
        self.commits += 1
        if names:
            self.replaced.append((self.commits, names))
            del self.replaced[:-64]


_writers: dict[str, _Writer] = {}


def _store_key(con: Connection) -> str:
    sql = "SELECT file FROM pragma_database_list WHERE name = current_database()"
    try:
        row = con.execute(sql).fetchone()
    except duckdb.TransactionException as exc:
        if "aborted" not in str(exc):
            raise
        # A failed statement left this cursor's transaction aborted: nothing in it can be kept.
        con.execute("ROLLBACK")
        row = con.execute(sql).fetchone()
    return str(row[0]) if row and row[0] else f"memory:{id(con)}"


def _writer(con: Connection) -> _Writer:
    key = _store_key(con)
    with _process_lock:
        return _writers.setdefault(key, _Writer())


def _rollback(con: Connection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _last_load_id(con: Connection) -> int | None:
    try:
        return int(con.execute("SELECT coalesce(max(load_id), 0) FROM _loads").fetchone()[0])
    except duckdb.CatalogException:
        return None


_DISK_ERRORS = ("no space left", "file too large", "disk quota", "read-only file system", "disk is full")


def _is_disk_error(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _DISK_ERRORS)


def translate_error(exc: BaseException, *, committing: bool = False) -> BaseException:
    """The domain error for a DuckDB failure of a write, or ``exc`` itself when it has none.

    A write-write conflict becomes ``ConcurrentChangeError`` (retry); a full disk or a file size limit
    becomes ``StoreWriteError``. With ``committing`` any other transaction failure at COMMIT counts as a
    conflict, as DuckDB reports conflicts found at commit that way.
    """
    if isinstance(exc, EngineError) or not isinstance(exc, duckdb.Error):
        return exc
    text = str(exc)
    if _is_disk_error(text):
        return StoreWriteError(
            "The store could not be written: the disk holding it is full (or the file reached a size "
            "limit). Nothing was changed: the whole change was rolled back and the store holds the same "
            "data as before. Free some disk space, then retry. "
            f"(Detail: {text.splitlines()[0][:200]})"
        )
    if "conflict" in text.lower() or (committing and isinstance(exc, duckdb.TransactionException)):
        return ConcurrentChangeError(
            "Another user changed the same data at the same moment, so this change was not saved. "
            "Nothing was lost: retry."
        )
    return exc


@contextmanager
def transaction(con: Connection) -> Iterator[Connection]:
    """Run a block as one transaction: commit on success, roll back on any error.

    Write transactions on one store run one at a time in this process (a store file is open in one
    process only), so they never fail on each other's bookkeeping rows. Two replaces of the same canonical
    table at the same moment (the second started while the first was running) leave the first one's
    version: the second is rolled back with ``ConcurrentChangeError``. A full disk raises
    ``StoreWriteError``. Whatever fails, the cursor is left usable (never "transaction is aborted").
    """
    writer = _writer(con)
    arrived = writer.commits
    with writer.lock:
        base = _last_load_id(con)
        con.execute("BEGIN TRANSACTION")
        replaced: frozenset[str] = frozenset()
        try:
            yield con
            if base is not None:
                replaced = frozenset(
                    r[0]
                    for r in con.execute(
                        "SELECT DISTINCT table_name FROM _loads WHERE load_id > ? AND mode = 'replace' "
                        "ORDER BY table_name",
                        [base],
                    ).fetchall()
                )
            clash = sorted(replaced & writer.replaced_since(arrived))
            if clash:
                raise ConcurrentChangeError(
                    f"Another user replaced the {', '.join(clash)} table at the same moment, so your change "
                    f"was not saved and their data stays. Nothing was lost: look at the data again, then "
                    f"retry if you still want to replace it."
                )
        except BaseException as exc:
            _rollback(con)
            translated = translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc
        try:
            con.execute("COMMIT")
        except duckdb.Error as exc:
            _rollback(con)
            translated = translate_error(exc, committing=True)
            if translated is exc:
                raise
            raise translated from exc
        writer.record(replaced)


def table_exists(con: Connection, name: str) -> bool:
    """Whether a table called ``name`` exists in the store."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
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


def customer_count(con: Connection) -> int:
    """Distinct customers the store knows of: the customers table's, and those that only appear in orders
    (an invoice log comes without a customers table) or in interactions (a ratings file); guests (no id)
    are not customers."""
    return int(
        con.execute(
            """
            SELECT count(DISTINCT customer_id) FROM (
                SELECT customer_id FROM customers UNION ALL SELECT customer_id FROM orders
                UNION ALL SELECT customer_id FROM interactions
            ) WHERE customer_id IS NOT NULL
            """
        ).fetchone()[0]
    )


def product_count(con: Connection) -> int:
    """Distinct products the store knows of: the products table's, and those that only appear on order lines
    (an invoice log comes without a products table) or in interactions (a ratings file)."""
    return int(
        con.execute(
            """
            SELECT count(DISTINCT product_id) FROM (
                SELECT product_id FROM products UNION ALL SELECT product_id FROM orders
                UNION ALL SELECT product_id FROM interactions
            ) WHERE product_id IS NOT NULL
            """
        ).fetchone()[0]
    )


def is_sample_data(con: Connection) -> bool:
    """True while every non-empty canonical table still holds only the bundled sample data."""
    return get_meta(con, "sample_loaded") == "1" and get_meta(con, "user_data") != "1"


# ---------------------------------------------------------------- stored results
#
# Stored results and models are keyed by kind, parameters, data version and code version: a table or a
# pickled model written by other engine code (an older release, or a newer one on a shared store) is never
# read back; it is computed again and replaces the old entry's role. The code version is folded into the
# key, so every caller of this API gets it without passing anything.


@functools.cache
def code_version() -> str:
    """A digest of every engine source file (their paths and bytes): changes whenever the engine's code
    does, so results stored by other code are not loaded. Computed once per process (a few milliseconds)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def result_key(params: dict[str, Any] | None) -> str:
    """A stable short key for a parameter set under this code version (JSON with sorted keys, hashed)."""
    text = json.dumps({"code": code_version(), "params": params or {}}, sort_keys=True, default=str)
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
    """A stored Python object (a trained model) for this kind, parameters, data version and code version,
    or None.

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
    "SAMPLE_DIR",
    "StoreWriteError",
    "RECOVERY_WARNINGS",
    "allowed_directories",
    "recovery_warning",
    "clear_recovery_warning",
    "translate_error",
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
    "customer_count",
    "product_count",
    "is_sample_data",
    "result_key",
    "get_result",
    "put_result",
    "result_table",
    "get_blob",
    "put_blob",
    "prune_results",
    "code_version",
    "computing",
    "compute_once",
    "cached_result",
    "put_result_sql",
    "fetch_df",
]

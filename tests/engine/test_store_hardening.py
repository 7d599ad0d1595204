"""The store under pressure: sessions writing at once, a second process, kill -9 in the middle of a load, a
damaged write-ahead log, a full disk, and the same input giving the same stored results."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import engine
from engine import store

CHECK_SQL = "SELECT count(*), coalesce(sum(hash(order_id)), 0), sum(round(amount * 100)::BIGINT) FROM orders"
# the same, with the data version read in the same statement (one snapshot)
CHECK_WITH_VERSION_SQL = (
    "SELECT count(*), coalesce(sum(hash(order_id)), 0), sum(round(amount * 100)::BIGINT), "
    "(SELECT value FROM _meta WHERE key = 'data_version') FROM orders"
)


def write_orders(path: Path, tag: str, n: int) -> Path:
    """An orders CSV of ``n`` rows whose order ids start with ``tag`` (disjoint tags never collide)."""
    lines = "".join(
        f"{tag}{i},C{i % 997},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},P{i % 50},{i % 3 + 1},{(i % 1000) / 10 + 1:.2f}\n"
        for i in range(n)
    )
    path.write_text("order_id,customer_id,order_date,product_id,quantity,amount\n" + lines)
    return path


def stage(con, path: Path):
    """Read and validate an upload as the Data page does, up to the user's confirmation."""
    staged = engine.read_upload(con, path, path.name)
    mapping = engine.suggest_mapping(con, staged, "orders")
    report = engine.validate(con, staged, mapping)
    assert report.can_load and not report.rows_rejected and not mapping.questions, report.to_text()
    return staged, mapping


def load_file(con, path: Path, mode: str = "replace") -> engine.LoadResult:
    staged, mapping = stage(con, path)
    return engine.load(con, staged, mapping, mode, confirm=True)


def state(con) -> tuple:
    return con.execute(CHECK_SQL).fetchone()


def run_together(*jobs):
    """Run callables in threads released at the same moment; returns each one's result or exception."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            outcomes[i] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each session got
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


def python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


# ---------------------------------------------------------------- sessions of one process


def test_two_sessions_appending_at_once_both_commit(con, tmp_path):
    load_file(con, write_orders(tmp_path / "base.csv", "B", 500))
    version = engine.data_version(con)
    first, second = con.cursor(), con.cursor()
    a = stage(first, write_orders(tmp_path / "a.csv", "A", 10_000))
    b = stage(second, write_orders(tmp_path / "b.csv", "Z", 10_000))
    outcomes = run_together(
        lambda: engine.load(first, *a, "append", confirm=True),
        lambda: engine.load(second, *b, "append", confirm=True),
    )
    assert all(isinstance(o, engine.LoadResult) for o in outcomes), outcomes
    assert sorted(o.rows_loaded for o in outcomes) == [10_000, 10_000]
    assert store.row_count(con, "orders") == 500 + 10_000 + 10_000
    assert engine.data_version(con) == version + 2
    assert con.execute("SELECT count(DISTINCT load_id) FROM _loads WHERE mode = 'append'").fetchone() == (2,)


def test_two_sessions_replacing_the_same_table_leave_one_version_and_the_loser_may_retry(con, tmp_path):
    load_file(con, write_orders(tmp_path / "base.csv", "B", 500))
    first, second = con.cursor(), con.cursor()
    a = stage(first, write_orders(tmp_path / "a.csv", "A", 25_000))
    b = stage(second, write_orders(tmp_path / "b.csv", "Z", 25_000))
    outcomes = run_together(
        lambda: engine.load(first, *a, "replace", confirm=True),
        lambda: engine.load(second, *b, "replace", confirm=True),
    )
    winners = [i for i, o in enumerate(outcomes) if isinstance(o, engine.LoadResult)]
    losers = [i for i, o in enumerate(outcomes) if isinstance(o, engine.ConcurrentChangeError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "retry" in str(outcomes[losers[0]]) and "orders" in str(outcomes[losers[0]])
    winner_tag = "AZ"[winners[0]]
    # exactly one version: every row is the winner's
    assert con.execute(
        "SELECT count(*), count(*) FILTER (WHERE starts_with(order_id, ?)) FROM orders", [winner_tag]
    ).fetchone() == (25_000, 25_000)
    assert con.execute("SELECT count(*) FROM _loads").fetchone() == (2,)
    # the loser's cursor works and its staged upload loads on retry
    loser_cursor, loser_upload = [(first, a), (second, b)][losers[0]]
    retry = engine.load(loser_cursor, *loser_upload, "replace", confirm=True)
    assert retry.rows_loaded == 25_000
    assert con.execute(
        "SELECT count(*) FILTER (WHERE NOT starts_with(order_id, ?)) FROM orders", [winner_tag]
    ).fetchone() == (25_000,)


def test_a_reader_during_a_replace_sees_the_old_or_the_new_table_never_a_mix(con, tmp_path):
    load_file(con, write_orders(tmp_path / "old.csv", "O", 20_000))
    old = state(con)
    old_version = engine.data_version(con)
    writer = con.cursor()
    upload = stage(writer, write_orders(tmp_path / "new.csv", "N", 30_000))
    seen: list[tuple] = []
    done = threading.Event()
    started = threading.Event()

    def read():
        reader = con.cursor()
        while True:
            finished = done.is_set()
            seen.append(reader.execute(CHECK_WITH_VERSION_SQL).fetchone())
            started.set()
            if finished:
                return

    thread = threading.Thread(target=read)
    thread.start()
    started.wait(30)
    try:
        engine.load(writer, *upload, "replace", confirm=True)
    finally:
        done.set()
        thread.join(60)
    new = state(con)
    assert new != old and new[0] == 30_000
    allowed = {(*old, str(old_version)), (*new, str(old_version + 1))}
    assert set(seen) <= allowed, set(seen) - allowed
    assert seen[0] == (*old, str(old_version)) and seen[-1] == (*new, str(old_version + 1))
    flips = [i for i in range(1, len(seen)) if seen[i] != seen[i - 1]]
    assert len(flips) == 1  # old, old, ..., new, new: never back


def test_after_a_failed_statement_every_cursor_carries_on(con):
    first, second = con.cursor(), con.cursor()
    with pytest.raises(duckdb.CatalogException):
        with store.transaction(first):
            first.execute("INSERT INTO customers (customer_id) VALUES ('C1')")
            first.execute("SELECT * FROM no_such_table")
    assert first.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    assert second.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    with store.transaction(first):
        first.execute("INSERT INTO customers (customer_id) VALUES ('C2')")
    assert second.execute("SELECT customer_id FROM customers").fetchall() == [("C2",)]
    # a cursor someone left in an aborted transaction of its own is recovered by the next transaction
    third = con.cursor()
    third.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.CatalogException):
        third.execute("SELECT * FROM no_such_table")
    with store.transaction(third):
        third.execute("INSERT INTO customers (customer_id) VALUES ('C3')")
    assert second.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall() == [("C2",), ("C3",)]
    # a failing stored-result write rolls back too, and the store keeps serving
    with pytest.raises(duckdb.Error):
        store.put_result_sql(first, "broken", {}, "SELECT * FROM no_such_table")
    assert store.get_result(second, "broken", {}) is None
    assert engine.data_version(first) == 0


# ---------------------------------------------------------------- other processes and crashes

BUSY_CHILD = """
import json, sys
import engine
try:
    engine.connect(sys.argv[1])
    print(json.dumps({"opened": True}))
except engine.EngineError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
"""


def test_a_second_process_gets_a_friendly_busy_error_while_the_first_keeps_serving(con, tmp_path):
    child = python(BUSY_CHILD, str(tmp_path / "store.duckdb"))
    out, err = child.communicate(timeout=120)
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["type"] == "StoreBusyError", (out, err)
    assert answer["message"].startswith("The store store.duckdb is open in another Segmint process")
    assert f"(process {os.getpid()})" in answer["message"] and "retry" in answer["message"]
    assert "IO Error" not in answer["message"]
    store.set_meta(con, "still", "serving")
    assert store.get_meta(con, "still") == "serving"


# A process that loads an upload staged and validated beforehand (pickled), so that it spends its time in
# ``engine.load``; ``how`` is "close" (a normal run), "no-close" (exit without a checkpoint, leaving the
# committed load in the write-ahead log) or "limit-file-size" (no file may grow 256 KB past the store).
LOAD_CHILD = """
import json, os, pickle, resource, signal, sys
import engine
db, upload, mode, how = sys.argv[1:5]
with open(upload, "rb") as handle:
    staged, mapping = pickle.load(handle)
con = engine.connect(db)
if how == "limit-file-size":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(db) + 256 * 1024, resource.RLIM_INFINITY))
print("loading", flush=True)
try:
    engine.load(con, staged, mapping, mode, confirm=True)
    answer = {"type": None}
except engine.EngineError as exc:
    answer = {"type": type(exc).__name__, "message": str(exc)}
answer["state"] = [str(v) for v in con.execute(sys.argv[5]).fetchone()]
answer["version"] = engine.data_version(con)
print(json.dumps(answer), flush=True)
if how == "no-close":
    os._exit(0)
"""


def prepared_store(folder: Path, old_rows: int, new_rows: int) -> tuple[Path, Path, tuple, int]:
    """A closed store in ``folder`` with ``old_rows`` orders and a validated upload of ``new_rows`` more,
    pickled for a child process. Returns (store, pickled upload, old state, old data version)."""
    folder.mkdir(exist_ok=True)
    db = folder / "store.duckdb"
    con = engine.connect(db, shared=False)
    load_file(con, write_orders(folder / "old.csv", "O", old_rows))
    staged, mapping = stage(con, write_orders(folder / "new.csv", "N", new_rows))
    old, version = state(con), engine.data_version(con)
    con.close()  # checkpoints: the store file alone holds everything
    upload = folder / "upload.pickle"
    upload.write_bytes(pickle.dumps((staged, mapping)))
    return db, upload, old, version


def start_load(db: Path, upload: Path, mode: str, how: str = "close") -> subprocess.Popen:
    child = python(LOAD_CHILD, str(db), str(upload), mode, how, CHECK_SQL)
    assert child.stdout.readline().strip() == "loading", child.stderr.read()
    return child


def answer_of(child: subprocess.Popen) -> dict:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def as_text(values) -> list[str]:
    return [str(v) for v in values]


def test_kill_9_in_the_middle_of_a_large_load_leaves_the_table_old_or_new(tmp_path):
    db, upload, old, old_version = prepared_store(tmp_path / "store", 20_000, 100_000)
    pristine = tmp_path / "pristine"
    shutil.copytree(db.parent, pristine)

    def fresh_copy():
        shutil.rmtree(db.parent)
        shutil.copytree(pristine, db.parent)

    # a run to the end (here, in this process) gives each mode's new state and how long the load takes
    with open(upload, "rb") as handle:
        staged, mapping = pickle.load(handle)
    new, took = {}, {}
    for mode in ("replace", "append"):
        fresh_copy()
        con = engine.connect(db, shared=False)
        began = time.monotonic()
        engine.load(con, staged, mapping, mode, confirm=True)
        took[mode] = time.monotonic() - began
        new[mode] = as_text(state(con))
        con.close()
    assert new["replace"][0] == "100000" and new["append"][0] == "120000"
    rng = random.Random(7)
    for attempt in range(4):
        mode = ("append", "replace")[attempt % 2]
        fresh_copy()
        child = start_load(db, upload, mode)
        time.sleep(rng.uniform(0.0, took[mode]))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        left = Path(f"{db}.wal")
        left_bytes = left.read_bytes() if left.exists() else b""
        check = engine.connect(db, shared=False)
        got, version = as_text(state(check)), engine.data_version(check)
        assert_unclean_warning(check, db, left_bytes)
        check.close()
        assert (got, version) in ((as_text(old), old_version), (new[mode], old_version + 1)), (
            mode,
            got,
            version,
        )


def assert_unclean_warning(con, db: Path, left_bytes: bytes) -> None:
    """A log left by the killed process is kept as a copy and named in a warning; no log, no warning."""
    warning = store.recovery_warning(con)
    copies = sorted(db.parent.glob(f"{db.name}.wal.unclean-*"))
    if not left_bytes:
        assert warning is None and not copies
        return
    assert warning and "without a clean shutdown" in warning and f"{len(left_bytes):,} bytes" in warning
    assert copies and copies[-1].read_bytes() == left_bytes and copies[-1].name in warning


@pytest.fixture
def store_with_wal(tmp_path):
    """(restore, WAL bytes, old, new): a committed load that lives only in the write-ahead log; ``restore``
    puts the store back with the given log bytes. old/new are (state, data version)."""
    db, upload, old_state, old_version = prepared_store(tmp_path, 5_000, 8_000)
    answer = answer_of(start_load(db, upload, "replace", "no-close"))
    assert answer["type"] is None, answer
    wal = Path(f"{db}.wal")
    saved_db, saved_wal = db.read_bytes(), wal.read_bytes()
    assert len(saved_wal) > 0

    def restore(wal_bytes: bytes) -> Path:
        for leftover in tmp_path.glob("store.duckdb.wal*"):
            leftover.unlink()
        db.write_bytes(saved_db)
        wal.write_bytes(wal_bytes)
        return db

    return restore, saved_wal, (as_text(old_state), old_version), (answer["state"], answer["version"])


def test_a_truncated_write_ahead_log_opens_with_the_table_old_or_new(store_with_wal):
    restore, wal_bytes, old, new = store_with_wal
    assert new[0][0] == "8000" and new[1] == old[1] + 1
    for cut in (1, 40, len(wal_bytes) // 3, len(wal_bytes) // 2, len(wal_bytes) - 1, len(wal_bytes)):
        db = restore(wal_bytes[:cut])
        con = engine.connect(db, shared=False)
        got = (as_text(state(con)), engine.data_version(con))
        assert_unclean_warning(con, db, wal_bytes[:cut])
        con.close()
        assert got in (old, new), (cut, got)
        if cut == len(wal_bytes):
            assert got == new  # the whole log replays the committed load


def test_a_damaged_write_ahead_log_is_moved_aside_with_a_loud_warning(store_with_wal):
    restore, wal_bytes, old, _ = store_with_wal
    middle = len(wal_bytes) // 2
    damaged = wal_bytes[:middle] + bytes([wal_bytes[middle] ^ 0xFF]) + wal_bytes[middle + 1 :]
    db = restore(damaged)
    with pytest.raises(duckdb.Error, match="WAL"):  # what DuckDB alone does: refuse to open, every time
        duckdb.connect(str(db)).close()
    warnings_before = len(engine.RECOVERY_WARNINGS)
    con = engine.connect(db, shared=False)
    try:
        assert (as_text(state(con)), engine.data_version(con)) == old  # the last checkpoint
        warning = engine.recovery_warning(con)
        assert warning and "write-ahead log" in warning and "last checkpoint" in warning
        assert engine.RECOVERY_WARNINGS[warnings_before:] == [warning]
        kept = sorted(db.parent.glob("store.duckdb.wal.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == damaged and kept[0].name in warning
        load_file(con, write_orders(db.parent / "again.csv", "A", 10))  # the store is writable again
    finally:
        con.close()
    con = engine.connect(db, shared=False)  # a clean restart: the warning stays until someone clears it
    assert engine.recovery_warning(con) == warning and len(engine.RECOVERY_WARNINGS) == warnings_before + 1
    engine.clear_recovery_warning(con)
    assert engine.recovery_warning(con) is None
    assert store.row_count(con, "orders") == 10
    con.close()


def test_a_write_failing_inside_the_load_rolls_back_with_a_clear_error(tmp_path):
    db, upload, old, version = prepared_store(tmp_path, 5_000, 60_000)
    answer = answer_of(start_load(db, upload, "append", "limit-file-size"))
    assert answer["type"] == "StoreWriteError", answer
    assert "disk holding it is full" in answer["message"] and "rolled back" in answer["message"]
    assert (answer["state"], answer["version"]) == (as_text(old), version)  # the same session keeps reading
    con = engine.connect(db, shared=False)
    assert (state(con), engine.data_version(con)) == (old, version)
    con.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs mounted for this test only (skipped where mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        engine.close_all()
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_during_a_load_rolls_back_and_the_store_reopens_with_the_old_data(small_disk, tmp_path):
    db = small_disk / "store.duckdb"
    con = engine.connect(db, shared=False)
    load_file(con, write_orders(tmp_path / "old.csv", "O", 5_000))
    old, version = state(con), engine.data_version(con)
    staged, mapping = stage(con, write_orders(tmp_path / "big.csv", "N", 60_000))
    con.execute("CHECKPOINT")
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # fill the disk to the last byte, then give back 256 KB
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - 256 * 1024))
    with pytest.raises(engine.StoreWriteError, match="disk holding it is full") as caught:
        engine.load(con, staged, mapping, "append", confirm=True)
    assert "rolled back" in str(caught.value)
    assert (state(con), engine.data_version(con)) == (old, version)  # the same session keeps reading
    con.close()
    con = engine.connect(db, shared=False)  # the disk is still full: the store opens with the old data
    assert (state(con), engine.data_version(con)) == (old, version)
    con.close()
    filler.unlink()
    con = engine.connect(db, shared=False)
    result = engine.load(con, staged, mapping, "append", confirm=True)  # space again: the same upload loads
    assert result.rows_loaded == 60_000 and store.row_count(con, "orders") == 65_000
    con.close()


# ---------------------------------------------------------------- same input, same results


def test_the_same_sample_gives_byte_identical_segments_and_recommendations(tmp_path):
    outputs = []
    for name in ("first", "second"):
        con = engine.connect(tmp_path / name / "store.duckdb", shared=False)
        try:
            engine.load_sample(con)
            segments = engine.customer_segments(con)
            options = engine.RecommendOptions(diversity_by="category")  # the page's default with categories
            table = engine.recommendations_table(con, dict(engine.DEFAULT_PARAMS), options)
            outputs.append(
                (
                    segments,
                    engine.to_csv_bytes(segments),
                    engine.to_csv_bytes(engine.export_recommendations(con, table)),
                )
            )
        finally:
            con.close()
    (seg_a, csv_a, recs_a), (seg_b, csv_b, recs_b) = outputs
    assert len(seg_a) > 0 and recs_a.count(b"\r\n") > len(seg_a)
    pd.testing.assert_frame_equal(seg_a, seg_b)
    assert csv_a == csv_b
    assert recs_a == recs_b


def test_a_process_that_stops_while_a_thread_holds_a_cursor_leaves_no_write_ahead_log(tmp_path):
    """The dashboard keeps cursors alive in threads (the inbox watcher, Streamlit's cached connection), so
    DuckDB never folds the log into the file on its own when the server stops with Ctrl+C; the next start
    then took an ordinary stop for a crash and showed the unclean-shutdown warning."""
    db = tmp_path / "store.duckdb"
    child = python(
        """
import sys, threading, time
import engine
con = engine.connect(sys.argv[1])
con.execute("CREATE TABLE written AS SELECT range AS i, repeat('x', 50) AS pad FROM range(200000)")
held = con.cursor()
threading.Thread(target=lambda: (held, time.sleep(60)), daemon=True).start()
""",
        str(db),
    )
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    wal = Path(f"{db}.wal")
    assert not wal.exists() or wal.stat().st_size == 0
    engine.close_all()
    reopened = engine.connect(db)
    assert engine.recovery_warning(reopened) is None
    assert reopened.execute("SELECT count(*) FROM written").fetchone()[0] == 200_000
    assert not list(tmp_path.glob("store.duckdb.wal.unclean-*"))
    engine.close_all()

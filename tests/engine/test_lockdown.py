"""The locked-down store connection: no file, database or extension outside the staging and sample folders,
while uploads (CSV, Excel, Parquet) and the bundled sample still load."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

import engine
from engine import cli, store

REPO = Path(__file__).resolve().parents[2]

ESCAPES = {
    "read a system file": "SELECT * FROM read_csv('/etc/passwd')",
    "read a system file as text": "SELECT * FROM read_text('/etc/hostname')",
    "list a folder": "SELECT * FROM glob('/etc/*')",
    "write a file": "COPY orders TO '/tmp/x.csv'",
    "attach a database": "ATTACH '/tmp/other.duckdb'",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "switch access back on": "SET enable_external_access = true",
    "reset access": "RESET enable_external_access",
    "unlock the configuration": "SET lock_configuration = false",
    "widen the folders": "SET allowed_directories = ['/']",
    "fetch from the network": "SELECT * FROM read_csv('https://example.com/x.csv')",
}


def orders_frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(n)],
            "customer_id": [f"C{i % 2}" for i in range(n)],
            "order_date": [f"2024-02-{i + 1:02d}" for i in range(n)],
            "amount": [f"{10 + i}.25" for i in range(n)],
        }
    )


def upload_and_load(con, path: Path, name: str, table: str = "orders") -> engine.LoadResult:
    staged = engine.read_upload(con, path, name)
    mapping = engine.suggest_mapping(con, staged, table)
    report = engine.validate(con, staged, mapping)
    assert report.can_load, report.to_text()
    return engine.load(con, staged, mapping, "replace", confirm=True)


def test_the_store_connection_carries_the_lockdown_settings(con, tmp_path):
    row = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('autoinstall_known_extensions'), "
        "current_setting('autoload_known_extensions'), current_setting('lock_configuration'), "
        "current_setting('allowed_directories')"
    ).fetchone()
    staging = tmp_path / "staging"
    assert row[:4] == (False, False, False, True)
    # DuckDB adds its own spill folder (``<store>.tmp``) to the folders we allow
    spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert sorted(d.rstrip("/") for d in row[4]) == sorted([str(staging), str(engine.SAMPLE_DIR), spill])
    assert spill == str(tmp_path / "store.duckdb.tmp")
    assert engine.allowed_directories(tmp_path / "store.duckdb") == [staging, engine.SAMPLE_DIR]
    assert engine.ingest.staging_dir(con) == staging
    assert store.SAMPLE_DIR == engine.SAMPLE_DIR == engine.sample.SAMPLE_DIR


@pytest.fixture(scope="module")
def one_store(tmp_path_factory):
    """One locked store for the refusal checks below (they change nothing)."""
    connection = engine.connect(tmp_path_factory.mktemp("locked") / "store.duckdb", shared=False)
    yield connection
    connection.close()


@pytest.mark.parametrize("through", ["connection", "cursor"])
@pytest.mark.parametrize("what", list(ESCAPES))
def test_locked_connection_refuses_every_way_out(one_store, through, what):
    con = one_store
    runner = con if through == "connection" else con.cursor()
    with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)) as caught:
        runner.execute(ESCAPES[what])
    assert "disabled" in str(caught.value) or "locked" in str(caught.value)
    # the refusal leaves no aborted transaction behind: the next statement works on every cursor
    assert runner.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)


def test_folder_checks_cannot_be_dodged(con, tmp_path):
    staging = engine.ingest.staging_dir(con)
    (tmp_path / "staging2").mkdir()
    (tmp_path / "staging2" / "x.csv").write_text("a\n1\n")
    (tmp_path / "secret.csv").write_text("a\n1\n")
    for path in (
        tmp_path / "staging2" / "x.csv",
        f"{staging}/../secret.csv",
        f"{staging}/../../../etc/passwd",
    ):
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv({store.quote_literal(str(path))})")
    # inside the staging folder DuckDB may read and write (ingest stages uploads there)
    con.execute(f"COPY (SELECT 1 AS a) TO {store.quote_literal(str(staging / 'probe.parquet'))}")
    assert con.execute(
        f"SELECT a FROM read_parquet({store.quote_literal(str(staging / 'probe.parquet'))})"
    ).fetchall() == [(1,)]


def test_the_escape_hatch_is_open_and_used_nowhere_in_the_product(tmp_path):
    # Control: the same statements work without the lock, so the test above can fail.
    open_con = engine.connect(tmp_path / "tool.duckdb", shared=False, locked=False)
    try:
        assert (
            open_con.execute("SELECT count(*) FROM read_csv('/etc/passwd', header = false)").fetchone()[0] > 0
        )
        out = tmp_path / "out.csv"
        open_con.execute(f"COPY orders TO {store.quote_literal(str(out))}")
        assert out.exists()
        # a file cannot be open both ways in one process
        with pytest.raises(engine.EngineError, match="already open"):
            engine.connect(tmp_path / "tool.duckdb", shared=False)
    finally:
        open_con.close()
    for folder in ("engine", "dashboard"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name != "store.py":
                assert "locked=False" not in path.read_text(encoding="utf-8"), (
                    f"{path} opens the store unlocked"
                )


def test_shared_connection_is_locked_and_a_second_connect_agrees(tmp_path):
    path = tmp_path / "shared.duckdb"
    try:
        first = engine.connect(path)
        assert engine.connect(path) is first
        with pytest.raises(engine.EngineError, match="already open"):
            engine.connect(path, locked=False)
        other = engine.connect(path, shared=False)  # same database, already locked: no second SET
        assert other.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
        with pytest.raises(duckdb.PermissionException):
            other.execute("SELECT * FROM read_csv('/etc/passwd')")
        other.close()
    finally:
        engine.close_all()


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_uploads_load_through_the_staging_folder(con, tmp_path, kind):
    frame = orders_frame()
    uploads = tmp_path / "uploads"  # outside every allowed folder, like a browser upload's temp file
    uploads.mkdir()
    path = uploads / f"orders.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False)
    result = upload_and_load(con, path, path.name)
    assert result.rows_loaded == 4
    assert con.execute("SELECT order_id, amount FROM orders ORDER BY order_id").fetchall() == [
        ("O0", 10.25),
        ("O1", 11.25),
        ("O2", 12.25),
        ("O3", 13.25),
    ]
    assert list(engine.ingest.staging_dir(con).iterdir()) == []


def test_the_bundled_sample_loads_on_a_cursor(con):
    counts = engine.load_sample(con.cursor())
    assert counts["orders"] > 0
    assert engine.table_counts(con) == counts


def test_the_command_line_uses_the_locked_store(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    csv = tmp_path / "orders.csv"
    orders_frame().to_csv(csv, index=False)
    try:
        assert cli.main(["load", str(csv), "--as", "orders", "--db", str(db)]) == 0
        con = engine.connect(db)
        assert store.row_count(con, "orders") == 4
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")
    finally:
        engine.close_all()

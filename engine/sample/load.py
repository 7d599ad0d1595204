"""Load the bundled sample files into a store, in one transaction."""

from __future__ import annotations

import csv
import shutil
import uuid
from pathlib import Path

from engine.ingest import staging_dir
from engine.sample.generate import generate_sample
from engine.sample.spec import SAMPLE_TABLES
from engine.schema import LOAD_ID_COLUMN, TABLES
from engine.store import (
    SAMPLE_DIR,
    Connection,
    bump_data_version,
    canonical_columns,
    quote_ident,
    quote_literal,
    set_meta,
    transaction,
)


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def load_sample(con: Connection, sample_dir: str | Path | None = None) -> dict[str, int]:
    """Replace every canonical table with the bundled sample data, in one transaction.

    Missing CSVs are generated first (into ``sample_dir``, default ``SAMPLE_DIR``). Canonical columns are
    cast to their canonical types, other columns are kept as extra columns, ``orders.is_return`` is derived
    (quantity < 0 or amount < 0), each table gets a ``_loads`` row marked as sample, the meta flags
    ``sample_loaded``/``user_data`` are set and the data version is bumped once.

    Parameters
    ----------
    con : store connection (or cursor).
    sample_dir : folder holding the sample CSVs; defaults to the bundled ``sample_data/``.

    Returns
    -------
    dict
        Rows loaded per table.
    """
    folder = Path(sample_dir) if sample_dir is not None else SAMPLE_DIR
    if not all((folder / f"{name}.csv").exists() for name in SAMPLE_TABLES):
        generate_sample(folder)
    if folder.resolve() == SAMPLE_DIR.resolve():
        return _load_folder(con, folder)
    # The store reads files only in its staging folder and the bundled sample folder: read a copy.
    copy = staging_dir(con) / f"sample_{uuid.uuid4().hex[:12]}"
    copy.mkdir()
    try:
        for name in SAMPLE_TABLES:
            shutil.copyfile(folder / f"{name}.csv", copy / f"{name}.csv")
        return _load_folder(con, copy)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _load_folder(con: Connection, folder: Path) -> dict[str, int]:
    """Load the sample CSVs of ``folder`` (one the store may read) in one transaction."""
    loaded: dict[str, int] = {}
    with transaction(con):
        version = bump_data_version(con)
        next_id = int(con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM _loads").fetchone()[0])
        for offset, name in enumerate(SAMPLE_TABLES):
            table = TABLES[name]
            path = folder / f"{name}.csv"
            header = _csv_header(path)
            canonical = dict(canonical_columns(table))
            types = ", ".join(
                f"{quote_literal(col)}: {quote_literal(canonical[col])}" for col in header if col in canonical
            )
            source = f"read_csv({quote_literal(str(path))}, header = true, types = {{{types}}})"
            select = []
            for col, sql_type in canonical.items():
                if col == "is_return":
                    expr = "coalesce(quantity < 0 OR amount < 0, false)"
                elif col in header:
                    expr = f"CAST({quote_ident(col)} AS {sql_type})"
                else:
                    expr = f"CAST(NULL AS {sql_type})"
                select.append(f"{expr} AS {quote_ident(col)}")
            select += [quote_ident(col) for col in header if col not in canonical and col != LOAD_ID_COLUMN]
            load_id = next_id + offset
            select.append(f"CAST({load_id} AS BIGINT) AS {quote_ident(LOAD_ID_COLUMN)}")
            rows_before = int(con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])
            con.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT {', '.join(select)} FROM {source}"
            )
            rows = int(con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])
            con.execute(
                "INSERT INTO _loads (load_id, table_name, file_name, mode, rows_read, rows_loaded, rows_rejected,"
                " rows_before, rows_after, data_version, is_sample) VALUES (?, ?, ?, 'replace', ?, ?, 0, ?, ?, ?, true)",
                [load_id, name, path.name, rows, rows, rows_before, rows, version],
            )
            loaded[name] = rows
        set_meta(con, "sample_loaded", "1")
        set_meta(con, "user_data", "0")
    return loaded


__all__ = ["load_sample"]

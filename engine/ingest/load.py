"""Load in one transaction, keep the history, undo; the one-call path for the command line and tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from engine import store
from engine.errors import IngestError
from engine.ingest.model import (
    BACKUPS_KEPT,
    DEFAULT_LIMITS,
    Limits,
    LoadResult,
    Mapping,
    StagedUpload,
    ValidationReport,
)
from engine.ingest.read import discard, read_upload
from engine.ingest.suggest import apply_overrides, suggest_mapping
from engine.ingest.validate import _extra_names, _typed_name, validate
from engine.schema import LOAD_ID_COLUMN, TABLES, get_table
from engine.store import Connection, quote_ident


def _next_load_id(con: Connection) -> int:
    return int(con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM _loads").fetchone()[0])


def load(
    con: Connection,
    staged: StagedUpload,
    mapping: Mapping,
    mode: str = "replace",
    *,
    accept_rejects: bool = False,
    confirm: bool = True,
    is_sample: bool = False,
) -> LoadResult:
    """Write the upload's valid rows into its table in one transaction and bump the data version.

    Parameters
    ----------
    mode : "replace" (the table becomes the file) or "append" (rows whose natural key is already stored
        are skipped).
    accept_rejects : load the valid rows even when some rows were rejected. Without it any rejected row
        stops the load and nothing is written.
    confirm : the user answered the mapping's questions (ambiguous dates, guesses); without it an unsure
        mapping stops the load.

    Raises
    ------
    IngestError
        When anything blocks the load; the store is exactly as it was.
    """
    if mode not in ("replace", "append"):
        raise IngestError(f"Unknown mode {mode!r}: use 'replace' or 'append'.")
    spec = get_table(mapping.table)
    report = validate(con, staged, mapping)
    if report.blocking:
        raise IngestError(f"{staged.file_name}: not loaded. " + " ".join(report.blocking))
    if mapping.questions and not confirm:
        raise IngestError(f"{staged.file_name}: not loaded; confirm first: " + " ".join(mapping.questions))
    if report.rows_rejected and not accept_rejects:
        raise IngestError(
            f"{staged.file_name}: not loaded, {report.rows_rejected:,} of {report.rows_read:,} rows would be rejected. "
            + " ".join(i.describe() for i in report.issues)
            + " Fix the file, or choose to load the valid rows only."
        )
    typed = _typed_name(staged, mapping)
    extras = _extra_names(spec, mapping)
    target = quote_ident(spec.name)
    canon = store.canonical_columns(spec)
    with store.transaction(con):
        load_id = _next_load_id(con)
        cleared: dict[str, int] = {}
        if not is_sample and store.is_sample_data(con):
            cleared = _set_sample_aside(con, load_id, keep=spec.name if mode == "replace" else None)
        rows_before = store.row_count(con, spec.name)
        select = [quote_ident(c) for c, _ in canon if c != "is_return"]
        if spec.name == "orders":
            select.append("is_return")
        select += [quote_ident(s) for s in extras.values()]
        select.append(f"CAST({load_id} AS BIGINT) AS {quote_ident(LOAD_ID_COLUMN)}")
        names = [c for c, _ in canon if c != "is_return"] + (["is_return"] if spec.name == "orders" else [])
        names += list(extras.values()) + [LOAD_ID_COLUMN]
        backup = None
        skipped = 0
        if mode == "replace":
            # The typed staging table becomes the new table: no copy of the rows.
            backup = f"_undo_{load_id}_{spec.name}"
            staged_table = quote_ident(typed)
            if report.rows_rejected:
                con.execute(f"DELETE FROM {staged_table} WHERE _err <> 0")
            con.execute(f"ALTER TABLE {staged_table} DROP COLUMN _err")
            con.execute(f"ALTER TABLE {staged_table} DROP COLUMN _vals")
            con.execute(
                f"ALTER TABLE {staged_table} ADD COLUMN {quote_ident(LOAD_ID_COLUMN)} BIGINT DEFAULT {int(load_id)}"
            )
            con.execute(f"ALTER TABLE {target} RENAME TO {quote_ident(backup)}")
            con.execute(f"ALTER TABLE {staged_table} RENAME TO {target}")
            loaded = store.row_count(con, spec.name)
        else:
            existing = {c for c, _ in store.table_columns(con, spec.name)}
            for stored in extras.values():
                if stored not in existing:
                    con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(stored)} VARCHAR")
            key_cols = [k for k in spec.natural_key]
            match = " AND ".join(
                f"x.{quote_ident(k)} IS NOT DISTINCT FROM t.{quote_ident(k)}" for k in key_cols
            )
            incoming = f"(SELECT {', '.join(select)} FROM {quote_ident(typed)} WHERE _err = 0) t"
            con.execute(
                f"INSERT INTO {target} ({', '.join(quote_ident(n) for n in names)}) "
                f"SELECT {', '.join('t.' + quote_ident(n) for n in names)} FROM {incoming} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {target} x WHERE {match})"
            )
            loaded = store.row_count(con, spec.name) - rows_before
            skipped = report.rows_valid - loaded
        rows_after = store.row_count(con, spec.name)
        version = store.bump_data_version(con)
        con.execute(
            "INSERT INTO _loads (load_id, table_name, file_name, mode, rows_read, rows_loaded, rows_rejected, "
            "rows_before, rows_after, data_version, backup_table, is_sample, mapping_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                spec.name,
                staged.file_name,
                mode,
                report.rows_read,
                loaded,
                report.rows_rejected,
                rows_before,
                rows_after,
                version,
                backup,
                is_sample,
                mapping.to_json(),
            ],
        )
        if is_sample:
            store.set_meta(con, "sample_loaded", "1")
        else:
            store.set_meta(con, "user_data", "1")
            con.execute(
                "INSERT INTO _mappings (header_key, table_name, mapping_json) VALUES (?, ?, ?) "
                "ON CONFLICT (header_key) DO UPDATE SET table_name = excluded.table_name, "
                "mapping_json = excluded.mapping_json, saved_at = now()",
                [staged.header_key, spec.name, _saved_form(mapping)],
            )
    discard(con, staged)
    _prune_backups(con)
    return LoadResult(
        load_id=load_id,
        table=spec.name,
        mode=mode,
        rows_loaded=loaded,
        rows_rejected=report.rows_rejected,
        rows_skipped_existing=skipped,
        rows_before=rows_before,
        rows_after=rows_after,
        data_version=version,
        sample_cleared=cleared,
        rejected_money=dict(report.rejected_money),
    )


_SAMPLE_ASIDE = "sample_set_aside_{}"


def sample_to_clear(con: Connection) -> dict[str, int]:
    """Rows per table of the bundled sample that the next load of the user's own data will remove (the
    sample rule: the first real load empties the whole sample, so no page mixes the two); {} when the
    store holds no sample. For the "will be removed" line shown before that load."""
    if not store.is_sample_data(con):
        return {}
    return {name: n for name, n in store.table_counts(con).items() if n}


def _set_sample_aside(con: Connection, load_id: int, keep: str | None) -> dict[str, int]:
    """Inside the load's transaction: every canonical table holding sample rows is renamed to a backup and
    replaced by an empty table (``keep``, the table a replace is about to swap out, is backed up by the
    replace itself). The backups are listed in ``_meta`` for undo. Returns the rows set aside per table."""
    counts = store.table_counts(con)
    moved: dict[str, str] = {}
    for name, table in TABLES.items():
        if name == keep or not counts.get(name):
            continue
        backup = f"_undo_{load_id}_sample_{name}"
        con.execute(f"ALTER TABLE {quote_ident(name)} RENAME TO {quote_ident(backup)}")
        con.execute(store.empty_table_ddl(table, if_not_exists=False))
        moved[name] = backup
    store.set_meta(con, _SAMPLE_ASIDE.format(load_id), json.dumps(moved, sort_keys=True))
    return {name: n for name, n in counts.items() if n}


def _bring_sample_back(con: Connection, load_id: int) -> bool:
    """Undo's half of the sample rule: put back the sample tables a load set aside."""
    moved = store.get_meta(con, _SAMPLE_ASIDE.format(load_id))
    if moved is None:
        return False
    for name, backup in json.loads(moved).items():
        if not store.table_exists(con, backup):
            raise IngestError(
                f"The sample data set aside by load {load_id} is gone, so that load cannot be undone. "
                "Use 'Reset everything to the sample data' instead."
            )
        con.execute(f"DROP TABLE {quote_ident(name)}")
        con.execute(f"ALTER TABLE {quote_ident(backup)} RENAME TO {quote_ident(name)}")
    con.execute("DELETE FROM _meta WHERE key = ?", [_SAMPLE_ASIDE.format(load_id)])
    return True


def _saved_form(mapping: Mapping) -> str:
    kept = Mapping.from_json(mapping.to_json())
    kept.questions = []
    return kept.to_json()


def _prune_backups(con: Connection) -> None:
    old = con.execute(
        "SELECT load_id, backup_table FROM _loads WHERE backup_table IS NOT NULL ORDER BY load_id DESC OFFSET ?",
        [BACKUPS_KEPT],
    ).fetchall()
    for load_id, backup in old:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(backup)}")
        con.execute("UPDATE _loads SET backup_table = NULL WHERE load_id = ?", [load_id])
    # sample tables set aside by a load that is no longer among the last few loads
    kept = con.execute(
        "SELECT coalesce(min(load_id), 0) FROM (SELECT load_id FROM _loads ORDER BY load_id DESC LIMIT ?)",
        [BACKUPS_KEPT],
    ).fetchone()[0]
    for key, moved in con.execute(
        "SELECT key, value FROM _meta WHERE key LIKE 'sample_set_aside_%' ORDER BY key"
    ).fetchall():
        if int(key.rsplit("_", 1)[1]) < int(kept):
            for backup in json.loads(moved).values():
                con.execute(f"DROP TABLE IF EXISTS {quote_ident(backup)}")
            con.execute("DELETE FROM _meta WHERE key = ?", [key])


def load_history(con: Connection) -> pd.DataFrame:
    """Every load, newest first: file, table, rows, mode, time, data version, whether it was undone."""
    return con.execute(
        """SELECT load_id, loaded_at, table_name AS "table", file_name AS file, mode, rows_read, rows_loaded,
                  rows_rejected, rows_before, rows_after, data_version, undone, is_sample AS sample
           FROM _loads ORDER BY load_id DESC"""
    ).df()


def undo_last_load(con: Connection) -> dict[str, Any]:
    """Undo the most recent load that is not undone yet: a replace brings the old table back, an append
    removes exactly the rows it added. Bumps the data version. Returns what was undone."""
    with store.transaction(con):
        row = con.execute(
            "SELECT load_id, table_name, mode, backup_table, file_name FROM _loads WHERE NOT undone "
            "ORDER BY load_id DESC LIMIT 1"
        ).fetchone()
        if not row:
            raise IngestError("There is no load to undo.")
        load_id, table, mode, backup, file_name = row
        target = quote_ident(table)
        if mode == "replace":
            if not backup or not store.table_exists(con, backup):
                raise IngestError(
                    f"The load of {file_name!r} is too old to undo (only the last {BACKUPS_KEPT} replaced tables are kept)."
                )
            con.execute(f"DROP TABLE {target}")
            con.execute(f"ALTER TABLE {quote_ident(backup)} RENAME TO {target}")
        else:
            con.execute(f"DELETE FROM {target} WHERE {quote_ident(LOAD_ID_COLUMN)} = ?", [load_id])
        sample_back = _bring_sample_back(con, load_id)
        con.execute("UPDATE _loads SET undone = true, backup_table = NULL WHERE load_id = ?", [load_id])
        version = store.bump_data_version(con)
        remaining_user = con.execute(
            "SELECT count(*) FROM _loads WHERE NOT undone AND NOT is_sample"
        ).fetchone()[0]
        store.set_meta(con, "user_data", "1" if remaining_user else "0")
    return {
        "load_id": load_id,
        "table": table,
        "mode": mode,
        "file": file_name,
        "data_version": version,
        "sample_restored": sample_back,
    }


def load_file(
    con: Connection,
    path: str | Path,
    table: str,
    *,
    file_name: str | None = None,
    overrides: dict[str, str] | None = None,
    mapping: Mapping | None = None,
    mode: str = "replace",
    accept_rejects: bool = False,
    confirm: bool = False,
    is_sample: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[ValidationReport, LoadResult | None]:
    """Read, map, validate and (when nothing stops it) load a file: the command-line and sample path.

    ``overrides`` maps canonical fields to source columns, or to constants written ``:value``.
    Returns the report and the load result (None when the load was stopped; the staging is discarded).
    """
    staged = read_upload(con, path, file_name, limits=limits)
    try:
        chosen = mapping or suggest_mapping(con, staged, table)
        chosen = apply_overrides(con, chosen, overrides or {}, staged)
        report = validate(con, staged, chosen)
        if (
            report.blocking
            or (chosen.questions and not confirm)
            or (report.rows_rejected and not accept_rejects)
        ):
            discard(con, staged)
            return report, None
        return report, load(
            con, staged, chosen, mode, accept_rejects=accept_rejects, confirm=True, is_sample=is_sample
        )
    except BaseException:
        discard(con, staged)
        raise

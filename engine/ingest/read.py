"""Read an upload into staging: format and encoding from the content, delimiter, header, caps."""

from __future__ import annotations

import codecs
import os
import re
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from engine.errors import IngestError
from engine.ingest.model import DEFAULT_LIMITS, Limits, StagedUpload
from engine.store import Connection, quote_ident, quote_literal


def staging_dir(con: Connection) -> Path:
    """The folder uploads are copied to before reading: beside the store file."""
    row = con.execute("SELECT file FROM pragma_database_list WHERE name = current_database()").fetchone()
    base = Path(row[0]).parent if row and row[0] else Path.cwd() / "data"
    folder = base / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _display_name(name: str | None, path: Path) -> str:
    text = str(name or path.name)
    text = text.replace("\x00", "").replace("\\", "/").split("/")[-1].strip()
    return text[:200] or "upload"


def _sniff_kind(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa", b"#!")):
        return "executable"
    if head.startswith((b"\xd0\xcf\x11\xe0",)):
        return "xls"
    if head.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")):
        return "binary"
    return "text"


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) > 4 and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if len(head) > 4 and head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    try:
        # cut at the last newline so a multi-byte character split by the sample does not fool us
        cut = head.rfind(b"\n")
        (head[: cut + 1] if cut > 0 else head).decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _transcode(src: Path, dst: Path, encoding: str, whitespace: bool) -> None:
    """Copy a text file to UTF-8 (streamed), optionally turning runs of spaces into tabs."""
    errors = "strict" if encoding != "cp1252" else "replace"
    try:
        with (
            open(src, encoding=encoding, errors=errors, newline="") as fin,
            open(dst, "w", encoding="utf-8", newline="") as fout,
        ):
            if whitespace:
                splitter = re.compile(r"[ \t]+")
                for line in fin:
                    fout.write(splitter.sub("\t", line.strip(" \t\r\n")) + "\n")
            else:
                shutil.copyfileobj(fin, fout, 1 << 20)
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"The file is not valid {encoding} text (byte {exc.start:,}). Save it again as UTF-8 CSV and re-upload."
        ) from exc


def _looks_whitespace_separated(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) < 2 or any(ch in text for ch in (",", ";", "\t", "|")):
        return False
    counts = {len(ln.split()) for ln in lines}
    return len(counts) == 1 and counts.pop() > 1


def _new_token() -> str:
    return uuid.uuid4().hex[:12]


def read_upload(
    con: Connection,
    path: str | Path,
    file_name: str | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    header: bool | None = None,
) -> StagedUpload:
    """Copy an upload into the staging folder and describe it; nothing is written to the store's tables.

    Parameters
    ----------
    con : store connection.
    path : the uploaded file on disk (its name is never used as a path inside Segmint).
    file_name : the name the user gave the file, for messages.
    limits : byte, row and column caps.
    header : force header / no header; None detects.

    Raises
    ------
    IngestError
        Empty, header-only, binary, over a cap, or unreadable files, with the reason and the fix.
    """
    src = Path(path)
    name = _display_name(file_name, src)
    size = src.stat().st_size
    if size == 0:
        raise IngestError(f"{name}: the file is empty (0 bytes). Export it again with its data rows.")
    if size > limits.max_bytes:
        raise IngestError(
            f"{name}: the file is {size / 1e6:,.1f} MB, over the {limits.max_bytes / 1e6:,.0f} MB limit. "
            f"Split it into smaller files and append them one after another."
        )
    with open(src, "rb") as fh:
        head = fh.read(64 * 1024)
    kind = _sniff_kind(head)
    ext = src.suffix.lower() if not file_name else Path(name).suffix.lower()
    token = _new_token()
    folder = staging_dir(con)
    warnings: list[str] = []

    if kind in ("executable", "binary", "xls"):
        what = {
            "executable": "a program (executable), not a data file",
            "binary": "a binary file (image, PDF or archive), not a data file",
            "xls": "an old-style Excel 97-2003 .xls workbook, which is not supported",
        }[kind]
        fix = (
            "Save it as .xlsx or CSV and upload that."
            if kind == "xls"
            else "Upload a CSV, Excel (.xlsx) or Parquet export."
        )
        raise IngestError(f"{name}: the content is {what}. {fix}")
    if kind == "zip":
        staged = folder / f"{token}.xlsx"
        _stage_file(src, staged)
        if ext not in (".xlsx", ".xlsm"):
            warnings.append(
                f"{name} is named {ext or 'without extension'} but is an Excel workbook; read as Excel."
            )
        return _read_xlsx(con, staged, name, token, limits, warnings, header)
    if kind == "parquet":
        staged = folder / f"{token}.parquet"
        _stage_file(src, staged)
        if ext != ".parquet":
            warnings.append(
                f"{name} is named {ext or 'without extension'} but is a Parquet file; read as Parquet."
            )
        return _read_parquet(con, staged, name, token, limits, warnings)
    if b"\x00" in head and not _detect_encoding(head).startswith("utf-16"):
        raise IngestError(
            f"{name}: the content is binary, not text. Upload a CSV, Excel (.xlsx) or Parquet export."
        )
    if ext in (".xlsx", ".xlsm", ".parquet"):
        warnings.append(f"{name} is named {ext} but contains plain text; read as CSV.")
    return _read_text(con, src, name, token, folder, head, limits, warnings, header)


def _stage_file(src: Path, staged: Path) -> None:
    """Put the upload into the staging folder (the only folder the store's connection may read): a hard
    link when both are on one file system (instant, no second copy of a large file on disk), else a copy.
    The staged name is removed after the load; the original file is never touched."""
    try:
        os.link(src, staged)
    except OSError:  # another file system, links not allowed, or no permission: copy
        shutil.copyfile(src, staged)


def _read_text(con, src, name, token, folder, head, limits, warnings, header) -> StagedUpload:
    encoding = _detect_encoding(head)
    sample_text = head.decode(encoding if encoding != "utf-8-sig" else "utf-8-sig", errors="replace")
    if not sample_text.strip():
        raise IngestError(
            f"{name}: the file holds only blank lines or spaces. Export it again with its data rows."
        )
    whitespace = _looks_whitespace_separated(sample_text)
    staged = folder / f"{token}.csv"
    if encoding in ("utf-8",) and not whitespace:
        _stage_file(src, staged)
    else:
        _transcode(src, staged, "utf-8-sig" if encoding == "utf-8" else encoding, whitespace)
    detected: dict[str, Any] = {
        "encoding": {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "cp1252": "Windows-1252 / Latin-1"}.get(
            encoding, "UTF-16"
        )
    }
    path_sql = quote_literal(str(staged))
    try:
        sniff = con.execute(
            f"SELECT Delimiter, Quote, Escape, HasHeader, Columns FROM sniff_csv({path_sql}, sample_size = 20480"
            + ("" if not whitespace else ", delim = '\t'")
            + ")"
        ).fetchone()
    except Exception as exc:  # noqa: BLE001 - DuckDB raises several error types for unreadable text
        raise IngestError(
            f"{name}: could not read the file as CSV ({_short(exc)}). Check it is a CSV export."
        ) from exc
    delim, quote, escape, has_header, sniffed_cols = sniff
    if header is not None:
        has_header = header
    n_cols = len(sniffed_cols)
    if n_cols > limits.max_columns:
        raise IngestError(
            f"{name}: {n_cols:,} columns, over the limit of {limits.max_columns:,}. Remove unused columns."
        )
    detected["delimiter"] = (
        "runs of spaces"
        if whitespace
        else {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delim, repr(delim))
    )
    detected["header"] = bool(has_header)
    options = [
        f"delim = {quote_literal(delim if not whitespace else chr(9))}",
        f"header = {'true' if has_header else 'false'}",
        "all_varchar = true",
        "null_padding = true",
        "strict_mode = false",
        "max_line_size = 10000000",
    ]
    if quote and quote != "(empty)":
        options.append(f"quote = {quote_literal(quote)}")
    if escape and escape != "(empty)":
        options.append(f"escape = {quote_literal(escape)}")
    reader = f"read_csv({path_sql}, {', '.join(options)})"
    relation = f"_src_{token}"
    try:
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(relation)} AS SELECT * FROM {reader}")
        columns = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(relation)}").fetchall()]
    except Exception as exc:  # noqa: BLE001
        _drop_quietly(con, relation, staged)
        raise IngestError(f"{name}: could not read the file as CSV ({_short(exc)}).") from exc
    header_line = _first_line(staged) if has_header else ""
    return _finish_staging(
        con, name, token, "csv", staged, relation, columns, limits, detected, warnings, header_line
    )


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.readline()


def _read_xlsx(con, staged, name, token, limits, warnings, header) -> StagedUpload:
    try:
        with zipfile.ZipFile(staged) as archive:
            infos = archive.infolist()
            if not any(i.filename.startswith("xl/") for i in infos):
                raise IngestError(
                    f"{name}: a zip archive that is not an Excel workbook. Upload the .xlsx itself."
                )
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > limits.max_xlsx_uncompressed or total / packed > limits.max_xlsx_ratio:
                raise IngestError(
                    f"{name}: the workbook expands to {total / 1e6:,.0f} MB ({total / packed:,.0f}x its size), over "
                    f"the {limits.max_xlsx_uncompressed / 1e6:,.0f} MB / {limits.max_xlsx_ratio}x limit. "
                    f"Save the sheet as CSV and upload that."
                )
    except zipfile.BadZipFile as exc:
        raise IngestError(f"{name}: a damaged Excel file. Open it in Excel and save it again.") from exc
    try:
        # openpyxl walks the sheet in Python: bounded by the caps above; CSV is the fast path.
        frame = pd.read_excel(staged, sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for damaged files
        raise IngestError(
            f"{name}: could not read the workbook ({_short(exc)}). Save the sheet as CSV."
        ) from exc
    frame = frame.dropna(how="all").dropna(axis=1, how="all")
    if frame.empty:
        raise IngestError(f"{name}: the first sheet is empty. Put the data on the first sheet.")
    text = frame.map(_cell_text)
    first = text.iloc[0].tolist()
    if header is None:
        header = all(v is not None and not _looks_numeric_or_date(v) for v in first)
    if header:
        columns = _dedupe_headers([v or f"column{i}" for i, v in enumerate(first)])
        body = text.iloc[1:]
    else:
        columns = [f"column{i}" for i in range(text.shape[1])]
        body = text
    if len(columns) > limits.max_columns:
        raise IngestError(f"{name}: {len(columns):,} columns, over the limit of {limits.max_columns:,}.")
    body = body.copy()
    body.columns = columns
    relation = f"_src_{token}"
    cur = con.cursor()
    cur.register("_xlsx_frame", body.reset_index(drop=True).astype("string"))
    try:
        cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
        cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(relation)} AS SELECT {cols} FROM _xlsx_frame")
    finally:
        cur.unregister("_xlsx_frame")
    detected = {"encoding": "Excel workbook (first sheet)", "header": bool(header)}
    return _finish_staging(
        con,
        name,
        token,
        "xlsx",
        staged,
        relation,
        columns,
        limits,
        detected,
        warnings,
        ",".join(str(v) for v in first) if header else "",
    )


def _cell_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        text = value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
        return text[:-9] if text.endswith(" 00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_NUMERIC_OR_DATE = re.compile(r"^[\s$€£(+-]*\d[\d\s.,:/T-]*\)?$")


def _looks_numeric_or_date(text: str) -> bool:
    return bool(_NUMERIC_OR_DATE.match(text))


def _dedupe_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        h = str(h).strip() or "column"
        if h in seen:
            seen[h] += 1
            candidate = f"{h}_{seen[h]}"
            while candidate in seen:
                seen[h] += 1
                candidate = f"{h}_{seen[h]}"
            out.append(candidate)
            seen[candidate] = 0
        else:
            seen[h] = 0
            out.append(h)
    return out


def _read_parquet(con, staged, name, token, limits, warnings) -> StagedUpload:
    relation = f"_src_{token}"
    try:
        described = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({quote_literal(str(staged))})"
        ).fetchall()
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{name}: could not read the Parquet file ({_short(exc)}).") from exc
    columns = [r[0] for r in described]
    if len(columns) > limits.max_columns:
        raise IngestError(f"{name}: {len(columns):,} columns, over the limit of {limits.max_columns:,}.")
    cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
    con.execute(
        f"CREATE OR REPLACE VIEW {quote_ident(relation)} AS SELECT {cols} FROM read_parquet({quote_literal(str(staged))})"
    )
    detected = {"encoding": "Parquet", "header": True}
    return _finish_staging(
        con, name, token, "parquet", staged, relation, columns, limits, detected, warnings, ""
    )


def _finish_staging(
    con, name, token, fmt, staged, relation, columns, limits, detected, warnings, header_line
):
    # An exact count of a big CSV costs a full read; it is taken from the typed rows at validation.
    small = fmt != "csv" or Path(staged).stat().st_size < 64 * 1024 * 1024
    if small:
        rows = int(con.execute(f"SELECT count(*) FROM {quote_ident(relation)}").fetchone()[0])
    else:
        rows = int(
            con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote_ident(relation)} LIMIT 1)").fetchone()[0]
        )
    if rows == 0:
        _drop_quietly(con, relation, staged)
        if detected.get("header"):
            raise IngestError(
                f"{name}: the file has a header row but no data rows. Export it again with its data."
            )
        raise IngestError(f"{name}: the file has no data rows.")
    if small and rows > limits.max_rows:
        _drop_quietly(con, relation, staged)
        raise IngestError(
            f"{name}: {rows:,} rows, over the limit of {limits.max_rows:,}. Split the file and append the parts."
        )
    # duplicate headers: DuckDB renames the second 'a' to 'a_1'; say so
    if header_line:
        raw = [h.strip().strip('"') for h in re.split(r"[,;\t|]", header_line.strip("\ufeff\r\n"))]
        lowered = [h.lower() for h in raw]
        dupes = sorted({h for h in lowered if h and lowered.count(h) > 1})
        for h in dupes:
            where = [str(i + 1) for i, x in enumerate(lowered) if x == h]
            renamed = [c for c in columns if re.fullmatch(re.escape(h) + r"(_\d+)?", c, flags=re.IGNORECASE)]
            warnings.append(
                f"Header {h!r} appears {len(where)} times (columns {', '.join(where)}; names are compared ignoring "
                f"case); they are kept as "
                f"{', '.join(repr(r) for r in renamed)}. Check which one you map."
            )
    return StagedUpload(
        token,
        name,
        fmt,
        columns,
        rows if small else None,
        str(staged),
        relation,
        detected,
        warnings,
        limits.max_rows,
    )


def discard(con: Connection, staged: StagedUpload) -> None:
    """Drop an upload's staging relations and file (after a load or a cancel)."""
    _drop_quietly(con, staged.source_relation, Path(staged.staged_path))
    for (table_name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE ?",
        [f"_typed_{staged.token}%"],
    ).fetchall():
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(table_name)}")


def _drop_quietly(con: Connection, relation: str, staged: Path | None) -> None:
    for kind in ("VIEW", "TABLE"):
        try:
            con.execute(f"DROP {kind} IF EXISTS {quote_ident(relation)}")
        except Exception:  # noqa: BLE001, S110 - wrong kind for this name; the other one drops it
            pass
    if staged is not None:
        Path(staged).unlink(missing_ok=True)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]

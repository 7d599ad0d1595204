"""Ingest: read an upload into staging, suggest a mapping, validate every row in one pass, load in one
transaction, keep a history with undo.

The path is the same for the Data page, the ``segmint load`` command and the bundled sample:

    staged = read_upload(con, path, "orders.csv")          # detect format, encoding, delimiter, header
    mapping = suggest_mapping(con, staged, "orders")        # from headers and content (or a saved mapping)
    report = validate(con, staged, mapping)                 # every problem, nothing written
    result = load(con, staged, mapping, mode="append")      # one transaction, new data version
    undo_last_load(con)                                     # restores the previous state

Files are read by DuckDB's readers with every column as text; parsing (dates, decimal commas, currency,
booleans) is SQL over the whole column, so a bad value at row 25,000 is found like one at row 2.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import shutil
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine import store
from engine.errors import IngestError, SchemaError
from engine.schema import LOAD_ID_COLUMN, Field, Table, get_table, normalize_header, safe_column_name
from engine.store import Connection, quote_ident, quote_literal

# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Limits:
    """Caps on what an upload may be; stated on the Data page."""

    max_bytes: int = 200 * 1024 * 1024
    max_rows: int = 20_000_000
    max_columns: int = 500
    max_xlsx_uncompressed: int = 300 * 1024 * 1024
    max_xlsx_ratio: int = 120


DEFAULT_LIMITS = Limits()
# The command line reads files straight from disk, so it may take larger files than a browser upload.
COMMAND_LINE_LIMITS = Limits(max_bytes=20 * 1024**3, max_rows=500_000_000)
SAMPLE_ROWS = 5_000  # rows inspected when suggesting a mapping (validation always reads every row)
EXAMPLES_PER_ISSUE = 5
BACKUPS_KEPT = 5

# Date formats a column can be parsed with; "ask" marks day/month order that the data cannot decide.
DATE_FORMATS: dict[str, str] = {
    "iso": "ISO: 2024-03-31 or 2024-03-31 14:05",
    "dmy": "Day first: 31/03/2024, 31.03.2024",
    "mdy": "Month first (US): 03/31/2024",
    "ymd_slash": "2024/03/31",
    "yyyymmdd": "Digits: 20240331",
    "epoch_s": "Unix seconds: 1711843200",
    "epoch_ms": "Unix milliseconds: 1711843200000",
    "excel": "Excel serial days: 45382",
    "text_month": "Month names: 31 Mar 2024, Mar 31 2024, 31-Mar-2024",
}

_TIME_SUFFIXES = ["", " %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "T%H:%M:%S", " %H:%M:%S.%f"]
_STRPTIME = {
    "dmy": [
        f"{d}{t}"
        for d in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
        for t in _TIME_SUFFIXES
    ],
    "mdy": [f"{d}{t}" for d in ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%Y") for t in _TIME_SUFFIXES],
    "ymd_slash": [f"{d}{t}" for d in ("%Y/%m/%d", "%Y.%m.%d") for t in _TIME_SUFFIXES],
    "yyyymmdd": ["%Y%m%d"],
    "text_month": [
        f"{d}{t}"
        for d in (
            "%d %b %Y",
            "%d %B %Y",
            "%b %d %Y",
            "%B %d %Y",
            "%b %d, %Y",
            "%B %d, %Y",
            "%d-%b-%Y",
            "%d-%b-%y",
            "%a, %d %b %Y",
            "%A, %B %d, %Y",
        )
        for t in _TIME_SUFFIXES[:3]
    ],
}

_TRUE = ("1", "true", "t", "yes", "y", "converted", "x", "1.0")
_FALSE = ("0", "false", "f", "no", "n", "0.0", "-")

_CONTROL_NAMES = ("control", "a", "baseline", "original", "ctrl")


# ---------------------------------------------------------------- results


@dataclass
class StagedUpload:
    """An upload read into staging: what was detected and where the rows are.

    Attributes
    ----------
    token : staging id; the rows are in the relation ``source_relation``.
    file_name : the name the user gave the file (shown, never used as a path).
    format : "csv", "xlsx" or "parquet" (from the content, not the extension).
    columns : source column names as the user will see them (headerless: column0, column1, ...).
    rows : data rows in the file; None for a large CSV until validation has counted them.
    detected : what was detected (encoding, delimiter, header, decimal comma ...), for the report.
    warnings : problems that do not stop a load (renamed duplicate headers, extension mismatch ...).
    """

    token: str
    file_name: str
    format: str
    columns: list[str]
    rows: int | None
    staged_path: str
    source_relation: str
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    max_rows: int = DEFAULT_LIMITS.max_rows
    reports: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def header_key(self) -> str:
        names = "\x1f".join(normalize_header(c) for c in self.columns)
        return hashlib.sha1(names.encode()).hexdigest()[:20]


@dataclass
class Mapping:
    """How a file's columns fill a canonical table.

    Attributes
    ----------
    table : canonical table name.
    columns : canonical field -> source column.
    constants : canonical field -> a constant typed by the user (e.g. one experiment id for the file).
    date_formats : canonical field -> key of ``DATE_FORMATS`` (decided from content, or asked).
    decimal_comma : canonical field -> True when "1.234,56" style numbers.
    amount_rule : orders only: "column" (amount as given), "quantity_x_unit_price" or
        "split_order_total" (an order total repeated on each line is divided across the lines).
    confidence : canonical field -> "saved", "header", "content", "derived", "constant", "user".
    questions : what the user must confirm before loading (ambiguous dates, content-only guesses).
    extras : source columns kept as extra columns (attributes / dimensions), in file order.
    """

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    decimal_comma: dict[str, bool] = field(default_factory=dict)
    amount_rule: str = "column"
    confidence: dict[str, str] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def unsure(self) -> bool:
        return bool(self.questions)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> Mapping:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def signature(self) -> str:
        core = {k: v for k, v in asdict(self).items() if k not in ("confidence", "questions")}
        return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Issue:
    """One kind of problem in one column: how many rows, which, and sample values."""

    field: str
    column: str | None
    problem: str
    rows: int
    examples: list[tuple[int, str]]
    fix: str

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else f"field {self.field!r}"
        shown = ", ".join(f"line {line}: {value!r}" for line, value in self.examples)
        more = "" if self.rows <= len(self.examples) else f" and {self.rows - len(self.examples):,} more"
        return f"{self.rows:,} row(s) with {self.problem} in {where} ({shown}{more}). {self.fix}"


@dataclass
class ValidationReport:
    """Everything a user needs before deciding to load; nothing has been written."""

    file_name: str
    table: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    issues: list[Issue]
    blocking: list[str]
    questions: list[str]
    warnings: list[str]
    notes: list[str]
    date_range: tuple[Any, Any] | None
    totals: dict[str, float]
    preview: pd.DataFrame
    mapping_signature: str

    @property
    def can_load(self) -> bool:
        """True when nothing blocks the load (rejected rows still need ``accept_rejects``)."""
        return not self.blocking and self.rows_valid > 0

    @property
    def clean(self) -> bool:
        return self.can_load and self.rows_rejected == 0 and not self.questions

    def issues_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "field": i.field,
                    "column": i.column or "",
                    "problem": i.problem,
                    "rows": i.rows,
                    "example lines": ", ".join(str(line) for line, _ in i.examples),
                    "example values": ", ".join(repr(v) for _, v in i.examples),
                    "how to fix": i.fix,
                }
                for i in self.issues
            ],
            columns=["field", "column", "problem", "rows", "example lines", "example values", "how to fix"],
        )

    def to_text(self) -> str:
        lines = [
            f"File {self.file_name!r} -> table {self.table}",
            f"  rows read: {self.rows_read:,}   will load: {self.rows_valid:,}   rejected: {self.rows_rejected:,}",
        ]
        if self.date_range:
            lines.append(f"  dates: {self.date_range[0]} to {self.date_range[1]}")
        for name, value in self.totals.items():
            lines.append(f"  total {name}: {value:,.2f}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        for issue in self.issues:
            lines.append(f"  REJECTED: {issue.describe()}")
        for question in self.questions:
            lines.append(f"  CONFIRM: {question}")
        for block in self.blocking:
            lines.append(f"  BLOCKED: {block}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LoadResult:
    load_id: int
    table: str
    mode: str
    rows_loaded: int
    rows_rejected: int
    rows_skipped_existing: int
    rows_before: int
    rows_after: int
    data_version: int


# ---------------------------------------------------------------- reading


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


# ---------------------------------------------------------------- profiling and suggestions


@dataclass
class ColumnProfile:
    name: str
    non_null: int
    distinct: int
    share_numeric: float
    share_integer: float
    share_decimal_comma: float
    share_bool: float
    date_format: str | None
    date_share: float
    date_ambiguous: bool
    median_number: float | None
    max_length: int


_DATE_PATTERNS = {
    "iso": r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "ymd_slash": r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}( .*)?$",
    "dm_or_md": r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T].*)?$",
    "yyyymmdd": r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$",
    "epoch_s": r"^1\d{9}$",
    "epoch_ms": r"^1\d{12}$",
    "text_month": r"^(\d{1,2}[ -])?[A-Za-z]{3,9}\.?[ -]\d{1,2}?,? ?\d{2,4}( .*)?$|^[A-Za-z]{3,9},? ",
}
_NUM_PLAIN = r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$"
_NUM_MESSY = r"^\(?[+-]?\s*[$€£¥]?\s*[+-]?\d[\d.,' ]*\s*[$€£¥]?\)?\s*(USD|EUR|GBP)?$"
_NUM_DEC_COMMA = r"^\(?[+-]?[$€£¥]?\s*\d{1,3}(\.\d{3})*,\d+\s*[$€£¥]?\)?$|^[+-]?\d+,\d+$"
_INT = r"^[+-]?\d+$"


def profile_columns(
    con: Connection, staged: StagedUpload, sample_rows: int = SAMPLE_ROWS
) -> dict[str, ColumnProfile]:
    """Describe each source column from a sample of rows: what kind of values it holds."""
    if not staged.columns:
        return {}
    sample = f"_sample_{staged.token}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(sample)} AS "
        f"SELECT * FROM {quote_ident(staged.source_relation)} LIMIT {int(sample_rows)}"
    )
    parts = []
    for i, col in enumerate(staged.columns):
        c = f"trim({quote_ident(col)})"
        nn = f"NULLIF({c}, '')"
        parts.append(
            f"""count({nn}) AS n{i},
            count(DISTINCT {nn}) AS d{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_NUM_PLAIN)}) OR regexp_matches({c}, {quote_literal(_NUM_MESSY)})) AS num{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_INT)})) AS int{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_NUM_DEC_COMMA)})) AS dc{i},
            count(*) FILTER (WHERE lower({c}) IN {_TRUE + _FALSE}) AS b{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["iso"])})) AS iso{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["ymd_slash"])})) AS ymd{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["dm_or_md"])})) AS dm{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["yyyymmdd"])})) AS y8{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["epoch_s"])})) AS es{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["epoch_ms"])})) AS ems{i},
            count(*) FILTER (WHERE regexp_matches({c}, {quote_literal(_DATE_PATTERNS["text_month"])})) AS tm{i},
            max(TRY_CAST(regexp_extract({c}, '^(\\d{{1,2}})[/.-]', 1) AS INTEGER)) AS p1_{i},
            max(TRY_CAST(regexp_extract({c}, '^\\d{{1,2}}[/.-](\\d{{1,2}})[/.-]', 1) AS INTEGER)) AS p2_{i},
            bool_or(regexp_matches({c}, '^\\d{{1,2}}\\.\\d{{1,2}}\\.')) AS dots{i},
            median(TRY_CAST({c} AS DOUBLE)) AS med{i},
            max(length({c})) AS len{i}"""
        )
    try:
        row = con.execute(f"SELECT {', '.join(parts)} FROM {quote_ident(sample)}").fetchone()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(sample)}")
    width = 18
    out: dict[str, ColumnProfile] = {}
    for i, col in enumerate(staged.columns):
        (n, d, num, integer, dc, b, iso, ymd, dm, y8, es, ems, tm, p1, p2, dots, med, length) = row[
            i * width : (i + 1) * width
        ]
        n = int(n or 0)
        denom = max(n, 1)
        candidates = {
            "iso": iso,
            "ymd_slash": ymd,
            "dm_or_md": dm,
            "yyyymmdd": y8,
            "epoch_s": es,
            "epoch_ms": ems,
            "text_month": tm,
        }
        best = max(candidates, key=lambda k: candidates[k])
        date_share = candidates[best] / denom if n else 0.0
        fmt, ambiguous = None, False
        if date_share >= 0.8:
            fmt = best
            if best == "dm_or_md":
                p1, p2 = int(p1 or 0), int(p2 or 0)
                if p1 > 12 and p2 <= 12:
                    fmt = "dmy"
                elif p2 > 12 and p1 <= 12:
                    fmt = "mdy"
                else:
                    fmt, ambiguous = ("dmy" if dots else "mdy"), True
        out[col] = ColumnProfile(
            col,
            n,
            int(d or 0),
            (num or 0) / denom,
            (integer or 0) / denom,
            (dc or 0) / denom,
            (b or 0) / denom,
            fmt,
            date_share,
            ambiguous,
            float(med) if med is not None else None,
            int(length or 0),
        )
    return out


def _refine_ambiguous_dates(con: Connection, staged: StagedUpload, profile: ColumnProfile) -> ColumnProfile:
    """A sample that cannot tell day from month is checked against every row of the column."""
    c = f"trim({quote_ident(profile.name)})"
    p1, p2 = con.execute(
        f"""SELECT max(TRY_CAST(regexp_extract({c}, '^(\\d{{1,2}})[/.-]', 1) AS INTEGER)),
                   max(TRY_CAST(regexp_extract({c}, '^\\d{{1,2}}[/.-](\\d{{1,2}})[/.-]', 1) AS INTEGER))
            FROM {quote_ident(staged.source_relation)}"""
    ).fetchone()
    p1, p2 = int(p1 or 0), int(p2 or 0)
    if p1 > 12 and p2 <= 12:
        profile.date_format, profile.date_ambiguous = "dmy", False
    elif p2 > 12 and p1 <= 12:
        profile.date_format, profile.date_ambiguous = "mdy", False
    return profile


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(quote_literal(i) for i in items) + "]"


def _kind_fit(fld: Field, prof: ColumnProfile) -> float:
    """How well a column's content fits a field's kind (0..1)."""
    if prof.non_null == 0:
        return 0.3
    if fld.kind in ("date", "timestamp"):
        return 1.0 if prof.date_format else 0.0
    if fld.kind in ("number",):
        return (
            1.0
            if prof.share_numeric >= 0.95 and not prof.date_format
            else (0.2 if prof.share_numeric > 0.5 else 0.0)
        )
    if fld.kind == "integer":
        return 1.0 if prof.share_integer >= 0.95 and not prof.date_format else 0.0
    if fld.kind == "bool":
        return 1.0 if prof.share_bool >= 0.95 else 0.0
    if fld.kind == "id":
        return (
            0.3
            if prof.date_format
            else (0.2 if prof.share_numeric >= 0.95 and prof.share_integer < 0.5 else 1.0)
        )
    return 0.2 if prof.date_format else 1.0


def _header_score(fld: Field, column: str) -> float:
    norm = normalize_header(column)
    if not norm:
        return 0.0
    if norm == normalize_header(fld.name):
        return 1.0
    if norm in fld.aliases:
        return 0.9 - 0.001 * fld.aliases.index(norm)
    for alias in (normalize_header(fld.name),) + fld.aliases:
        if len(alias) >= 4 and (alias in norm or (len(norm) >= 4 and norm in alias)):
            return 0.6
    return 0.0


def saved_mapping(con: Connection, staged: StagedUpload, table: str) -> Mapping | None:
    """The mapping confirmed earlier for a file with the same headers, if any."""
    row = con.execute(
        "SELECT mapping_json FROM _mappings WHERE header_key = ? AND table_name = ?",
        [staged.header_key, table],
    ).fetchone()
    if not row:
        return None
    mapping = Mapping.from_json(row[0])
    if not set(mapping.columns.values()) <= set(staged.columns):
        return None
    mapping.confidence = {f: "saved" for f in list(mapping.columns) + list(mapping.constants)}
    mapping.questions = []
    return mapping


def suggest_mapping(con: Connection, staged: StagedUpload, table: str) -> Mapping:
    """Suggest how the file's columns fill ``table``, from headers and content; reuse a saved mapping.

    A field matched only by content (a headerless file, say), an ambiguous day/month order, a repeated
    order total or a missing required field becomes a question the user must answer before loading.
    """
    spec = get_table(table)
    saved = saved_mapping(con, staged, table)
    if saved is not None:
        return saved
    profiles = profile_columns(con, staged)
    for prof in profiles.values():
        if prof.date_ambiguous:
            _refine_ambiguous_dates(con, staged, prof)
    scores: list[tuple[float, int, str, str, str]] = []
    for order, fld in enumerate(spec.fields):
        for col in staged.columns:
            prof = profiles[col]
            fit = _kind_fit(fld, prof)
            head = _header_score(fld, col)
            if head > 0 and fit > 0:
                scores.append((head * (0.5 + 0.5 * fit), -order, fld.name, col, "header"))
            elif fit >= 1.0 and head == 0:
                content = _content_score(fld, prof, staged.columns.index(col))
                if content > 0:
                    scores.append((content, -order, fld.name, col, "content"))
    scores.sort(key=lambda s: (-s[0], -s[1]))
    mapping = Mapping(table=table)
    used: set[str] = set()
    for score, _, fname, col, how in scores:
        if fname in mapping.columns or col in used or score < 0.25:
            continue
        mapping.columns[fname] = col
        mapping.confidence[fname] = how
        used.add(col)
    _orders_rules(con, staged, spec, mapping, profiles)
    for fname, col in mapping.columns.items():
        fld = spec.field(fname)
        prof = profiles[col]
        if fld.kind in ("date", "timestamp"):
            mapping.date_formats[fname] = prof.date_format or "iso"
            if prof.date_ambiguous:
                mapping.questions.append(
                    f"Dates in {col!r} could be day-first or month-first (every value has both parts <= 12). "
                    f"Choose the order for {fname}: 'dmy' (31/03) or 'mdy' (03/31)."
                )
        if fld.kind in ("number", "integer"):
            mapping.decimal_comma[fname] = prof.share_decimal_comma > 0 and (
                prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
            )
        if mapping.confidence.get(fname) == "content":
            mapping.questions.append(
                f"{fname} <- {col!r} was guessed from the column's content only; confirm it."
            )
    mapping.extras = [c for c in staged.columns if c not in mapping.columns.values()]
    missing = [
        f
        for f in spec.required
        if f not in mapping.columns
        and f not in mapping.constants
        and not (f == "amount" and mapping.amount_rule == "quantity_x_unit_price")
    ]
    for fname in missing:
        mapping.questions.append(
            f"No column found for required field {fname!r}: pick one, or type a constant for the whole file."
        )
    return mapping


def _content_score(fld: Field, prof: ColumnProfile, position: int) -> float:
    """A score for a content-only match (no header evidence)."""
    if fld.kind in ("date", "timestamp"):
        return 0.55 if fld.required else 0.4
    if fld.name == "customer_id":
        return 0.5 - 0.01 * position if prof.share_integer >= 0.95 or prof.distinct > 1 else 0.0
    if fld.name == "amount" and prof.share_numeric >= 0.95 and prof.share_integer < 0.9:
        return 0.5
    if fld.name == "quantity" and prof.share_integer >= 0.99 and (prof.median_number or 0) <= 20:
        return 0.35
    if fld.name in ("rating",) and prof.share_numeric >= 0.99 and (prof.median_number or 0) <= 10:
        return 0.3
    if fld.name == "product_id" and fld.required:
        return 0.45 - 0.01 * position
    return 0.0


def _orders_rules(con, staged, spec: Table, mapping: Mapping, profiles) -> None:
    """Orders: derive amount from quantity x unit price, and detect an order total repeated per line."""
    if spec.name != "orders":
        return
    cols = mapping.columns
    # 'Price' next to a quantity is a unit price, not the line amount
    if "amount" in cols and "quantity" in cols and "unit_price" not in cols:
        if normalize_header(cols["amount"]) in ("price", "unitprice", "itemprice", "lineitemprice"):
            cols["unit_price"] = cols.pop("amount")
            mapping.confidence["unit_price"] = mapping.confidence.pop("amount")
    if "amount" not in cols and "quantity" in cols and "unit_price" in cols:
        mapping.amount_rule = "quantity_x_unit_price"
        mapping.confidence["amount"] = "derived"
        return
    if "amount" in cols and "order_id" in cols:
        comma = {f: profiles[c].share_decimal_comma >= 0.5 for f, c in cols.items()}
        verdict = detect_repeated_order_total(
            con, staged, cols["order_id"], cols["amount"], cols.get("quantity"), cols.get("unit_price"), comma
        )
        if verdict:
            if "quantity" in cols and "unit_price" in cols:
                mapping.amount_rule = "quantity_x_unit_price"
                mapping.questions.append(
                    f"{cols['amount']!r} repeats the same total on every line of {verdict} multi-line orders: it is "
                    f"an order total. Line amounts will be quantity x unit price instead; confirm."
                )
            else:
                mapping.amount_rule = "split_order_total"
                mapping.questions.append(
                    f"{cols['amount']!r} repeats the same total on every line of {verdict} multi-line orders: it is "
                    f"an order total. It will be split evenly across each order's lines so it is counted once; confirm."
                )
            mapping.confidence["amount"] = "derived"


def detect_repeated_order_total(
    con: Connection,
    staged: StagedUpload,
    order_col: str,
    amount_col: str,
    quantity_col: str | None = None,
    price_col: str | None = None,
    decimal_comma: dict[str, bool] | None = None,
) -> int:
    """Number of multi-line orders whose amount is the same on every line (and is not quantity x price),
    when that is the pattern of the file (at least 10 such orders and 90% of multi-line orders); else 0.

    Looks at the first ``SAMPLE_ROWS`` rows: exports list an order's lines together, and the pattern is a
    property of the export, not of single orders."""
    o, a = quote_ident(order_col), quote_ident(amount_col)
    line_check = "true"
    if quantity_col and price_col:
        comma = decimal_comma or {}
        amount = _number_expr(_text(amount_col), comma.get("amount", False))
        qty = _number_expr(_text(quantity_col), comma.get("quantity", False))
        price = _number_expr(_text(price_col), comma.get("unit_price", False))
        line_check = f"bool_or(abs(({amount}) - ({qty}) * ({price})) > 0.005)"
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE same AND differs), count(*)
            FROM (SELECT count(DISTINCT trim({a})) = 1 AND count(trim({a})) = count(*) AS same,
                         {line_check} AS differs
                  FROM (SELECT * FROM {quote_ident(staged.source_relation)} LIMIT {SAMPLE_ROWS})
                  WHERE NULLIF(trim({o}), '') IS NOT NULL
                  GROUP BY trim({o}) HAVING count(*) > 1)"""
    ).fetchone()
    repeated, multi = int(row[0] or 0), int(row[1] or 0)
    return repeated if repeated >= 10 and repeated >= 0.9 * multi else 0


# ---------------------------------------------------------------- parsing expressions


def _text(col: str) -> str:
    return f"NULLIF(trim({quote_ident(col)}), '')"


def _number_expr(src: str, decimal_comma: bool) -> str:
    """SQL turning cleaned text into DOUBLE: currency signs, spaces, thousands separators, (1.00) negatives."""
    stripped = f"regexp_replace({src}, '[\\s$€£¥'']|USD|EUR|GBP', '', 'g')"
    if decimal_comma:
        normal = f"replace(replace({stripped}, '.', ''), ',', '.')"
    else:
        normal = f"replace({stripped}, ',', '')"
    messy = (
        f"CASE WHEN trim({src}) LIKE '(%)' THEN -TRY_CAST(trim({normal}, '()') AS DOUBLE) "
        f"ELSE TRY_CAST({normal} AS DOUBLE) END"
    )
    if decimal_comma:
        return messy
    return f"COALESCE(TRY_CAST({src} AS DOUBLE), {messy})"


def _date_expr(src: str, fmt: str) -> str:
    if fmt == "iso":
        return (
            f"COALESCE(TRY_CAST({src} AS TIMESTAMP), TRY_CAST(TRY_CAST({src} AS TIMESTAMPTZ) AS TIMESTAMP))"
        )
    if fmt == "epoch_s":
        return f"epoch_ms(TRY_CAST({src} AS BIGINT) * 1000)"
    if fmt == "epoch_ms":
        return f"epoch_ms(TRY_CAST({src} AS BIGINT))"
    if fmt == "excel":
        return f"CAST(DATE '1899-12-30' + TRY_CAST(TRY_CAST({src} AS DOUBLE) AS INTEGER) AS TIMESTAMP)"
    formats = _STRPTIME.get(fmt)
    if not formats:
        raise SchemaError(f"Unknown date format {fmt!r}. Choose one of: {', '.join(DATE_FORMATS)}.")
    return f"try_strptime({src}, {_sql_list(formats)})"


def _parse_expr(fld: Field, src: str, mapping: Mapping) -> str:
    """Typed value of a field from cleaned text ``src`` (NULL when it does not parse)."""
    if fld.kind in ("id",):
        # spreadsheets turn the id 1234 into 1234.0; only such values pay for the regular expression
        return (
            f"CASE WHEN ends_with({src}, '0') AND contains({src}, '.') "
            f"THEN regexp_replace({src}, '^(-?\\d+)\\.0+$', '\\1') ELSE {src} END"
        )
    if fld.kind in ("text", "category"):
        return src
    if fld.kind in ("number", "integer"):
        expr = _number_expr(src, mapping.decimal_comma.get(fld.name, False))
        if fld.kind == "integer":
            return f"(CASE WHEN ({expr}) = floor({expr}) THEN CAST({expr} AS BIGINT) END)"
        return expr
    if fld.kind == "bool":
        return f"(CASE WHEN lower({src}) IN {_TRUE} THEN true WHEN lower({src}) IN {_FALSE} THEN false END)"
    if fld.kind in ("date", "timestamp"):
        expr = _date_expr(src, mapping.date_formats.get(fld.name, "iso"))
        return f"CAST({expr} AS DATE)" if fld.kind == "date" else f"CAST({expr} AS TIMESTAMP)"
    raise SchemaError(f"Unknown kind {fld.kind!r}")


_PROBLEM = {
    1: "a missing value",
    2: "a value that cannot be read",
    3: "a value out of range",
    4: "a duplicate key",
}


def _fix_for(fld: Field, code: int, mapping: Mapping) -> str:
    if code == 1:
        return f"{fld.name} is required: fill it in the file, or map another column."
    if code == 3:
        lo = "" if fld.minimum is None else f">= {fld.minimum:g}"
        hi = "" if fld.maximum is None else f"<= {fld.maximum:g}"
        return f"{fld.name} must be {' and '.join(x for x in (lo, hi) if x)}."
    if code == 4:
        return f"Each {fld.name} may appear once; the first row is kept, later ones are rejected."
    if fld.kind in ("date", "timestamp"):
        fmt = mapping.date_formats.get(fld.name, "iso")
        return f"Expected dates like {DATE_FORMATS.get(fmt, fmt)}; fix these cells or choose another date format."
    if fld.kind in ("number", "integer"):
        style = "1.234,56" if mapping.decimal_comma.get(fld.name) else "1,234.56"
        whole = " whole" if fld.kind == "integer" else ""
        return f"Expected{whole} numbers like {style}; fix these cells or map another column."
    if fld.kind == "bool":
        return "Expected yes/no, true/false or 1/0."
    return "Fix these cells."


# ---------------------------------------------------------------- validation


def _check_mapping(staged: StagedUpload, spec: Table, mapping: Mapping) -> list[str]:
    blocking = []
    for fname, col in mapping.columns.items():
        if fname not in spec.field_names:
            blocking.append(
                f"{fname!r} is not a field of {spec.name}. Fields: {', '.join(spec.field_names)}."
            )
        elif col not in staged.columns:
            blocking.append(
                f"Column {col!r} (mapped to {fname}) is not in the file. Columns: {', '.join(staged.columns)}."
            )
    for fname in mapping.constants:
        if fname not in spec.field_names:
            blocking.append(f"{fname!r} is not a field of {spec.name}.")
    for fname in spec.required:
        if fname in mapping.columns or fname in mapping.constants:
            continue
        if fname == "amount" and mapping.amount_rule == "quantity_x_unit_price":
            continue
        blocking.append(
            f"Required field {fname!r} of {spec.name} has no column. Map one of the file's columns to it"
            + (
                ", or type a constant for the whole file."
                if spec.field(fname).kind in ("id", "category")
                else "."
            )
        )
    if mapping.amount_rule == "quantity_x_unit_price" and not {"quantity", "unit_price"} <= set(
        mapping.columns
    ):
        blocking.append("Amount = quantity x unit price needs both quantity and unit_price mapped.")
    if mapping.amount_rule == "split_order_total" and not {"order_id", "amount"} <= set(mapping.columns):
        blocking.append("Splitting an order total across lines needs order_id and amount mapped.")
    for fname, fmt in mapping.date_formats.items():
        if fmt not in DATE_FORMATS:
            blocking.append(
                f"Unknown date format {fmt!r} for {fname}. Choose one of: {', '.join(DATE_FORMATS)}."
            )
    return blocking


def _typed_name(staged: StagedUpload, mapping: Mapping) -> str:
    return f"_typed_{staged.token}_{mapping.signature()}"


def _extra_names(spec: Table, mapping: Mapping) -> dict[str, str]:
    """Source column -> safe stored column name for extra columns."""
    taken = {f.name for f in spec.fields} | {"is_return", LOAD_ID_COLUMN}
    out = {}
    for col in mapping.extras:
        name = safe_column_name(col, taken)
        taken.add(name)
        out[col] = name
    return out


def _build_typed(con: Connection, staged: StagedUpload, spec: Table, mapping: Mapping) -> str:
    """One pass over every row: typed canonical columns, extras, and the problems packed in ``_err``/``_vals``.

    Three layers so each cell is cleaned once and parsed once: cleaned text -> typed value -> error code.
    """
    name = _typed_name(staged, mapping)
    if store.table_exists(con, name):
        staged.rows = store.row_count(con, name)
        return name
    clean, parsed, final, error_cols = [], [], [], []
    extras = _extra_names(spec, mapping)
    for i, fld in enumerate(spec.fields):
        s, v = f"_s{i}", f"_x{i}"
        if fld.name in mapping.columns:
            column = mapping.columns[fld.name]
            # number casts ignore surrounding spaces, so numbers skip trim(), which costs as much as the read
            cleaned = (
                f"NULLIF({quote_ident(column)}, '')" if fld.kind in ("number", "integer") else _text(column)
            )
            clean.append(f"{cleaned} AS {s}")
            clean.append(f"{quote_ident(mapping.columns[fld.name])} AS _r{i}")
        elif fld.name in mapping.constants:
            clean.append(f"NULLIF(trim({quote_literal(mapping.constants[fld.name])}), '') AS {s}")
            clean.append(f"{quote_literal(mapping.constants[fld.name])} AS _r{i}")
        else:
            parsed.append(f"CAST(NULL AS {fld.sql_type}) AS {quote_ident(fld.name)}")
            continue
        parsed.append(f"{s}, _r{i}, {_parse_expr(fld, s, mapping)} AS {v}")
    for col, stored in extras.items():
        clean.append(f"{_text(col)} AS {quote_ident(stored)}")
        parsed.append(quote_ident(stored))
    layer1 = f"SELECT {', '.join(clean) or '1 AS _none'} FROM {quote_ident(staged.source_relation)}"
    layer2 = f"SELECT {', '.join(parsed)} FROM ({layer1}) AS cleaned"
    for i, fld in enumerate(spec.fields):
        mapped = fld.name in mapping.columns or fld.name in mapping.constants
        derived = fld.name == "amount" and spec.name == "orders" and mapping.amount_rule != "column"
        if not mapped and not derived:
            final.append(quote_ident(fld.name))
            continue
        s, v, raw = f"_s{i}", f"_x{i}", f"_r{i}"
        if derived and mapping.amount_rule == "quantity_x_unit_price":
            qi, pi = spec.field_names.index("quantity"), spec.field_names.index("unit_price")
            v = f"round(_x{qi} * _x{pi}, 4)"
            s = f"CASE WHEN _x{qi} IS NULL OR _x{pi} IS NULL THEN NULL ELSE 'x' END"
            raw = f"CAST(_r{qi} AS VARCHAR) || ' x ' || CAST(_r{pi} AS VARCHAR)"
        elif derived:  # split_order_total
            oi = spec.field_names.index("order_id")
            v = f"(_x{i} / count(*) OVER (PARTITION BY _s{oi}))"
        checks = []
        if fld.minimum is not None:
            checks.append(f"{v} < {fld.minimum}")
        if fld.maximum is not None:
            checks.append(f"{v} > {fld.maximum}")
        code = (
            f"CAST(CASE WHEN {s} IS NULL THEN {1 if fld.required else 0} "
            f"WHEN {v} IS NULL THEN (CASE WHEN trim({s}) = '' THEN {1 if fld.required else 0} ELSE 2 END) "
            f"WHEN {' OR '.join(checks) or 'false'} THEN 3 ELSE 0 END AS UTINYINT)"
        )
        final.append(f"{v} AS {quote_ident(fld.name)}, {code} AS _c{i}, CAST({raw} AS VARCHAR) AS _raw_{i}")
        error_cols.append((i, fld.name))
    final += [quote_ident(stored) for stored in extras.values()]
    layer3 = f"SELECT {', '.join(final)} FROM ({layer2}) AS parsed"
    # Two narrow columns carry every problem: _err packs a 3-bit code per field (0 ok, 1 missing,
    # 2 unreadable, 3 out of range, 4 duplicate key); _vals holds the offending cells, NULL on good rows.
    outer = [quote_ident(f.name) for f in spec.fields]
    outer += [quote_ident(stored) for stored in extras.values()]
    if spec.name == "orders":
        outer.append("(coalesce(quantity < 0, false) OR coalesce(amount < 0, false)) AS is_return")
    packed = " | ".join(f"(CAST(_c{i} AS INTEGER) << {3 * i})" for i, _ in error_cols) or "0"
    outer.append(f"CAST({packed} AS INTEGER) AS _err")
    cells = ", ".join(f"CASE WHEN _c{i} > 0 THEN left(_raw_{i}, 80) END" for i, _ in error_cols)
    any_bad = " OR ".join(f"_c{i} > 0" for i, _ in error_cols) or "false"
    outer.append(
        f"CASE WHEN {any_bad} THEN [{cells}] END AS _vals"
        if error_cols
        else "CAST(NULL AS VARCHAR[]) AS _vals"
    )
    sql = f"CREATE TABLE {quote_ident(name)} AS SELECT {', '.join(outer)} FROM ({layer3}) AS checked"
    try:
        con.execute(sql)
        rows = store.row_count(con, name)
        if rows > staged.max_rows:
            raise IngestError(
                f"{staged.file_name}: {rows:,} rows, over the limit of {staged.max_rows:,}. "
                "Split the file and append the parts."
            )
        staged.rows = rows
        _mark_duplicate_keys(con, name, spec, mapping)
    except Exception:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
        raise
    return name


def _mark_duplicate_keys(con: Connection, typed: str, spec: Table, mapping: Mapping) -> None:
    """Later rows repeating an earlier row's natural key get code 4 on the key field."""
    if not spec.unique_key:
        return
    key = spec.natural_key
    if not all(k in mapping.columns or k in mapping.constants for k in key):
        return
    keys = ", ".join(quote_ident(k) for k in key)
    shift = 3 * spec.field_names.index(key[0])
    con.execute(
        f"""UPDATE {quote_ident(typed)} SET _err = _err | ({4} << {shift})
            WHERE rowid IN (SELECT rid FROM (SELECT rowid AS rid,
                row_number() OVER (PARTITION BY {keys} ORDER BY rowid) AS n
                FROM {quote_ident(typed)} WHERE _err = 0) WHERE n > 1)"""
    )


def validate(con: Connection, staged: StagedUpload, mapping: Mapping) -> ValidationReport:
    """Check every row of the upload against the mapping and report every problem in one pass.

    Nothing is written to the canonical tables. The typed rows are kept in staging so a confirmed load
    does not parse the file again.
    """
    spec = get_table(mapping.table)
    cached = staged.reports.get(mapping.signature())
    if cached is not None and store.table_exists(con, _typed_name(staged, mapping)):
        return cached
    blocking = _check_mapping(staged, spec, mapping)
    notes = [
        f"Read as {staged.format.upper()}: "
        + ", ".join(
            f"{k} {'yes' if v is True else 'no' if v is False else v}" for k, v in staged.detected.items()
        )
    ]
    if blocking:
        return ValidationReport(
            staged.file_name,
            spec.name,
            staged.rows or 0,
            0,
            0,
            [],
            blocking,
            list(mapping.questions),
            list(staged.warnings),
            notes,
            None,
            {},
            pd.DataFrame(),
            mapping.signature(),
        )
    try:
        typed = _build_typed(con, staged, spec, mapping)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - any DuckDB failure becomes a readable report line
        return ValidationReport(
            staged.file_name,
            spec.name,
            staged.rows or 0,
            0,
            0,
            [],
            [f"The file could not be read completely: {_short(exc)}. Check the delimiter and quoting."],
            list(mapping.questions),
            list(staged.warnings),
            notes,
            None,
            {},
            pd.DataFrame(),
            mapping.signature(),
        )
    t = quote_ident(typed)
    header_offset = 2 if staged.detected.get("header") else 1
    checked = [
        f.name
        for f in spec.fields
        if f.name in mapping.columns
        or f.name in mapping.constants
        or (f.name == "amount" and spec.name == "orders" and mapping.amount_rule != "column")
    ]
    date_field = next(
        (
            f.name
            for f in spec.fields
            if f.kind in ("date", "timestamp") and (f.name in mapping.columns or f.name in mapping.constants)
        ),
        None,
    )
    money = [
        f.name
        for f in spec.fields
        if f.kind in ("number", "integer")
        and (f.name in mapping.columns or (f.name == "amount" and mapping.amount_rule != "column"))
    ]
    codes = (1, 2, 3, 4)
    aggregates = ["count(*) FILTER (WHERE _err <> 0)"]
    if date_field:
        aggregates += [
            f"min({quote_ident(date_field)}) FILTER (WHERE _err = 0)",
            f"max({quote_ident(date_field)}) FILTER (WHERE _err = 0)",
        ]
    aggregates += [f"sum({quote_ident(m)}) FILTER (WHERE _err = 0)" for m in money]
    if spec.name == "orders":
        aggregates.append("count(*) FILTER (WHERE _err = 0 AND is_return)")
    row = list(con.execute(f"SELECT {', '.join(aggregates)} FROM {t}").fetchone())
    rejected = int(row.pop(0))
    issues: list[Issue] = []
    counts: list[int] = []
    if rejected:  # which field, which problem: only rows with a problem are looked at
        per_field = [
            f"count(*) FILTER (WHERE (_err >> {3 * spec.field_names.index(fname)}) & 7 = {code})"
            for fname in checked
            for code in codes
        ]
        counts = [
            int(n) for n in con.execute(f"SELECT {', '.join(per_field)} FROM {t} WHERE _err <> 0").fetchone()
        ]
    for position, fname in enumerate(checked):
        fld = spec.field(fname)
        shift = 3 * spec.field_names.index(fname)
        for code in codes:
            n = counts.pop(0) if counts else 0
            if not n:
                continue
            shown = f"_vals[{position + 1}]" if code != 4 else f"CAST({quote_ident(fname)} AS VARCHAR)"
            examples = con.execute(
                f"SELECT rowid + {header_offset}, {shown} FROM {t} "
                f"WHERE (_err >> {shift}) & 7 = ? ORDER BY rowid LIMIT {EXAMPLES_PER_ISSUE}",
                [code],
            ).fetchall()
            column = mapping.columns.get(fname) or (
                f"constant {mapping.constants[fname]!r}" if fname in mapping.constants else None
            )
            issues.append(
                Issue(
                    fname,
                    column,
                    _PROBLEM[code],
                    n,
                    [(int(line), v if v is not None else "") for line, v in examples],
                    _fix_for(fld, code, mapping),
                )
            )
    date_range = None
    if date_field:
        lo, hi = row.pop(0), row.pop(0)
        if lo is not None:
            date_range = (lo, hi)
            if getattr(hi, "year", 2000) > 2100 or getattr(lo, "year", 2000) < 1900:
                notes.append(f"Dates run from {lo} to {hi}: check the date format.")
    totals = {}
    for m in money:
        value = row.pop(0)
        if value is not None:
            totals[m] = float(value)
    if spec.name == "orders":
        returns = int(row.pop(0))
        if returns:
            notes.append(
                f"{returns:,} line(s) have a negative quantity or amount: kept and flagged as returns."
            )
        if mapping.amount_rule == "quantity_x_unit_price":
            notes.append("amount = quantity x unit_price for every line.")
        elif mapping.amount_rule == "split_order_total":
            notes.append(
                "The order total is split evenly across each order's lines, so each order counts once."
            )
    valid = staged.rows - rejected
    extras = _extra_names(spec, mapping)
    if extras:
        notes.append(
            f"Kept as {spec.extras}: "
            + ", ".join(f"{c!r}" + (f" (as {s})" if s != c else "") for c, s in extras.items())
        )
    preview_cols = [
        f.name
        for f in spec.fields
        if f.name in mapping.columns
        or f.name in mapping.constants
        or (f.name == "amount" and mapping.amount_rule != "column")
    ] + list(extras.values())
    preview = (
        con.execute(
            f"SELECT {', '.join(quote_ident(c) for c in preview_cols)} FROM (SELECT *, rowid AS _rid FROM {t} "
            f"LIMIT 1000) WHERE _err = 0 ORDER BY _rid LIMIT 20"
        ).df()
        if preview_cols
        else pd.DataFrame()
    )
    if valid == 0:
        blocking.append("No row of the file can be loaded: fix the problems listed above.")
    report = ValidationReport(
        staged.file_name,
        spec.name,
        staged.rows,
        valid,
        rejected,
        issues,
        blocking,
        list(mapping.questions),
        list(staged.warnings),
        notes,
        date_range,
        totals,
        preview,
        mapping.signature(),
    )
    staged.reports[mapping.signature()] = report
    return report


# ---------------------------------------------------------------- loading


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
        load_id, spec.name, mode, loaded, report.rows_rejected, skipped, rows_before, rows_after, version
    )


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
        con.execute("UPDATE _loads SET undone = true, backup_table = NULL WHERE load_id = ?", [load_id])
        version = store.bump_data_version(con)
        remaining_user = con.execute(
            "SELECT count(*) FROM _loads WHERE NOT undone AND NOT is_sample"
        ).fetchone()[0]
        store.set_meta(con, "user_data", "1" if remaining_user else "0")
    return {"load_id": load_id, "table": table, "mode": mode, "file": file_name, "data_version": version}


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


def apply_overrides(
    con: Connection, mapping: Mapping, overrides: dict[str, str], staged: StagedUpload
) -> Mapping:
    """Apply user choices: ``field -> column``, ``field -> ':constant'``, ``field -> ''`` (unmap),
    ``<field>__date_format -> dmy``, ``amount_rule -> quantity_x_unit_price``. Answered questions go away."""
    spec = get_table(mapping.table)
    out = Mapping.from_json(mapping.to_json())
    for key, value in overrides.items():
        if key == "amount_rule":
            out.amount_rule = value
            out.questions = [q for q in out.questions if "order total" not in q]
            continue
        if key.endswith("__date_format"):
            fname = key[: -len("__date_format")]
            out.date_formats[fname] = value
            out.questions = [q for q in out.questions if f"for {fname}:" not in q]
            continue
        if key.endswith("__decimal_comma"):
            out.decimal_comma[key[: -len("__decimal_comma")]] = str(value).lower() in ("1", "true", "yes")
            continue
        if key not in spec.field_names:
            raise SchemaError(
                f"{key!r} is not a field of {spec.name}. Fields: {', '.join(spec.field_names)}."
            )
        out.columns.pop(key, None)
        out.constants.pop(key, None)
        out.questions = [
            q for q in out.questions if not q.startswith(f"{key} <-") and f"field {key!r}" not in q
        ]
        if value.startswith(":"):
            out.constants[key] = value[1:]
            out.confidence[key] = "constant"
        elif value:
            if value not in staged.columns:
                raise SchemaError(
                    f"Column {value!r} is not in {staged.file_name}. Columns: {', '.join(staged.columns)}."
                )
            for other, col in list(out.columns.items()):
                if col == value:
                    out.columns.pop(other)
            out.columns[key] = value
            out.confidence[key] = "user"
            fld = spec.field(key)
            if fld.kind in ("date", "timestamp") and f"{key}__date_format" not in overrides:
                prof = profile_columns(con, staged)[value]
                if prof.date_ambiguous:
                    prof = _refine_ambiguous_dates(con, staged, prof)
                out.date_formats[key] = prof.date_format or "iso"
                if prof.date_ambiguous:
                    out.questions.append(
                        f"Dates in {value!r} could be day-first or month-first (every value has both parts <= 12). "
                        f"Choose the order for {key}: 'dmy' (31/03) or 'mdy' (03/31)."
                    )
            if fld.kind in ("number", "integer") and f"{key}__decimal_comma" not in overrides:
                prof = profile_columns(con, staged)[value]
                out.decimal_comma[key] = prof.share_decimal_comma > 0 and (
                    prof.share_decimal_comma >= 0.5 or staged.detected.get("delimiter") == "semicolon"
                )
    out.extras = [c for c in staged.columns if c not in out.columns.values()]
    return out


__all__ = [
    "Limits",
    "DEFAULT_LIMITS",
    "COMMAND_LINE_LIMITS",
    "DATE_FORMATS",
    "StagedUpload",
    "Mapping",
    "Issue",
    "ValidationReport",
    "LoadResult",
    "ColumnProfile",
    "read_upload",
    "profile_columns",
    "suggest_mapping",
    "saved_mapping",
    "detect_repeated_order_total",
    "validate",
    "load",
    "load_file",
    "apply_overrides",
    "discard",
    "load_history",
    "undo_last_load",
    "staging_dir",
]

"""Read an upload into staging: format and encoding from the content, delimiter, header, caps."""

from __future__ import annotations

import codecs
import errno
import os
import re
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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


# ---------------------------------------------------------------- staging names, debris and a full disk

# A staging token starts with its creation time (8 hex digits of Unix seconds), so files and relations left
# by a killed process can be told apart from live ones by name alone: hard-linked uploads keep the mtime of
# the original file, and DuckDB relations have no creation time.
_TOKEN = re.compile(r"^([0-9a-f]{8})[0-9a-f]{6}$")
_STAGED_RELATION = re.compile(r"^_(?:src|typed|sample)_([0-9a-f]{14})(?:_|$)")
DEBRIS_AGE_SECONDS = 24 * 3600


def _new_token() -> str:
    return f"{int(time.time()):08x}{uuid.uuid4().hex[:6]}"


def _token_age(token: str, now: float) -> float | None:
    found = _TOKEN.match(token)
    return now - int(found.group(1), 16) if found else None


def staged_relations(con: Connection, token: str | None = None) -> list[str]:
    """Names of the staging tables and views (``_src_*``, ``_typed_*``, ``_sample_*``), of one token or all."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE regexp_matches(table_name, ?) "
        "ORDER BY table_name",
        [r"^_(src|typed|sample)_"],
    ).fetchall()
    names = [r[0] for r in rows]
    if token is None:
        return names
    return [n for n in names if (m := _STAGED_RELATION.match(n)) and m.group(1) == token]


def sweep_staging(con: Connection, older_than: float = DEBRIS_AGE_SECONDS) -> int:
    """Remove what uploads left behind: staged files and staging relations older than ``older_than``
    seconds (a closed tab, a killed process). Returns how many files and relations were removed.

    Called when the dashboard and the command line start; ``discard`` removes one upload's staging at once.
    """
    now = time.time()
    removed = 0
    folder = staging_dir(con)
    for path in folder.iterdir():
        token = path.name.split(".", 1)[0]
        age = _token_age(token, now)
        if age is None:
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
        if age >= older_than:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    for relation in staged_relations(con):
        found = _STAGED_RELATION.match(relation)
        age = _token_age(found.group(1), now) if found else None
        if age is None or age >= older_than:
            _drop_quietly(con, relation, None)
            removed += 1
    return removed


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means there is no room left on the disk (or a file size limit was hit)."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return any(m in text for m in ("no space left", "disk quota", "file too large", "disk is full"))


def disk_full_error(name: str, folder: Path) -> IngestError:
    """The message for a full disk: how much is free, and that nothing was kept."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    return IngestError(
        f"{name}: The disk is full ({free / 1024**2:,.0f} MB free) where uploads are staged ({folder}). "
        "The half-written copy was removed and nothing was loaded. Free some disk space, then upload again."
    )


# ---------------------------------------------------------------- what the bytes say


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


def _utf16_encoding(head: bytes) -> str | None:
    """UTF-16 from its byte-order mark or its pattern of NUL bytes (ASCII text in UTF-16), else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) > 4 and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if len(head) > 4 and head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    return None


ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
}
# Bytes Windows-1252 leaves undefined: a file holding them is Latin-1 (ISO-8859-1), not Windows-1252.
_CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)
_SCAN_CHUNK = 16 * 1024 * 1024
_EXAMPLES = 5


@dataclass
class TextScan:
    """One pass over every byte of a text file, before DuckDB reads it.

    Attributes
    ----------
    lines : physical lines (newline-terminated, plus a last unterminated one).
    utf8_error : (byte offset, line, the offending bytes) of the first byte sequence that is not UTF-8.
    nul_lines : line numbers holding NUL bytes (first few) and ``nul_count`` their total.
    long_line : (line, length in bytes) of the first line over the limit.
    quoted_newlines : a line break falls inside double quotes somewhere (RFC 4180 multi-line fields).
    quoted_breaks : the physical lines whose line break falls inside quotes (ascending; None when there are
        more than ``_MAX_QUOTED_BREAKS``), so a record's physical line can be told (``physical_lines``).
    """

    lines: int = 0
    utf8_error: tuple[int, int, bytes] | None = None
    nul_lines: list[int] = field(default_factory=list)
    nul_count: int = 0
    long_line: tuple[int, int] | None = None
    quoted_newlines: bool = False
    quoted_breaks: list[np.ndarray] | None = field(default_factory=list)

    def quoted_break_lines(self) -> np.ndarray | None:
        if self.quoted_breaks is None:
            return None
        return np.concatenate(self.quoted_breaks) if self.quoted_breaks else np.zeros(0, dtype=np.int64)


_MAX_QUOTED_BREAKS = 2_000_000


def physical_lines(logical: np.ndarray, quoted_breaks: np.ndarray) -> np.ndarray:
    """Physical line numbers (1-based) where records start, from their logical numbers (the line they would
    be on if no field held a line break: header 1, first data row 2).

    Record k+1 starts after the k-th line break outside quotes. ``d[i]`` counts the breaks outside quotes
    before the i-th quoted one, so the k-th outside break ends line ``k + #(d < k)``."""
    logical = np.asarray(logical, dtype=np.int64)
    d = quoted_breaks - np.arange(1, quoted_breaks.size + 1)
    k = logical - 1
    return k + np.searchsorted(d, k, side="left") + 1


def scan_text(path: Path, max_line_bytes: int, *, check_utf8: bool = True) -> TextScan:
    """Read ``path`` once in large chunks and count what a CSV reader would trip on later: bytes that are
    not UTF-8, NUL bytes, over-long lines and line breaks inside quotes. Vectorised with numpy (0.3 s for the
    45 MB UCI Online Retail CSV on a busy 2-core machine), so every byte is looked at, not a sample."""
    scan = TextScan()
    decoder = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
    offset = 0
    carry = 0  # bytes since the last newline
    in_quotes = False
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            data = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            if decoder is not None and np.count_nonzero(data >= 128):  # plain ASCII is UTF-8 as it is
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    where = offset + exc.start
                    line = scan.lines + int(np.searchsorted(newlines, exc.start, side="right")) + 1
                    scan.utf8_error = (where, line, chunk[exc.start : exc.start + 4])
                    decoder = None
            nuls = np.flatnonzero(data == 0)
            if nuls.size:
                scan.nul_count += int(nuls.size)
                if len(scan.nul_lines) < _EXAMPLES:
                    found = scan.lines + np.searchsorted(newlines, nuls, side="right") + 1
                    for line in np.unique(found)[:_EXAMPLES]:
                        if len(scan.nul_lines) < _EXAMPLES and int(line) not in scan.nul_lines:
                            scan.nul_lines.append(int(line))
            if scan.long_line is None:
                if newlines.size:
                    lengths = np.diff(newlines, prepend=-1) - 1
                    lengths[0] += carry
                    over = np.flatnonzero(lengths > max_line_bytes)
                    if over.size:
                        scan.long_line = (scan.lines + int(over[0]) + 1, int(lengths[over[0]]))
                    carry = len(chunk) - int(newlines[-1]) - 1
                else:
                    carry += len(chunk)
                if scan.long_line is None and carry > max_line_bytes:
                    scan.long_line = (scan.lines + int(newlines.size) + 1, carry)
            # a line break inside quotes: an odd number of quotes before it (doubled quotes add two)
            quotes = np.flatnonzero(data == 34)
            if quotes.size or in_quotes:
                inside = (np.searchsorted(quotes, newlines) + int(in_quotes)) % 2 == 1
                in_quotes = bool((quotes.size + int(in_quotes)) % 2)
                if inside.any():
                    scan.quoted_newlines = True
                    if scan.quoted_breaks is not None:
                        scan.quoted_breaks.append(scan.lines + np.flatnonzero(inside).astype(np.int64) + 1)
                        if sum(a.size for a in scan.quoted_breaks) > _MAX_QUOTED_BREAKS:
                            scan.quoted_breaks = None
            scan.lines += int(newlines.size)
            offset += len(chunk)
    if carry:
        scan.lines += 1
    return scan


def _choose_encoding(name: str, path: Path, scan: TextScan) -> str:
    """UTF-8 when every byte is; Windows-1252 or Latin-1 when the file holds no UTF-8 at all; a file that is
    mostly UTF-8 with a few stray bytes is refused with the line and the byte (re-saving it is the fix:
    guessing would turn its accented letters into mojibake)."""
    if scan.utf8_error is None:
        return "utf-8"
    good = bad = 0
    undefined = False
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            text = decoder.decode(chunk)
            replaced = text.count("\ufffd")
            good += len(text) - len(text.encode("ascii", "ignore")) - replaced  # well-formed UTF-8 letters
            bad += replaced
            undefined = undefined or any(bytes([b]) in chunk for b in _CP1252_UNDEFINED)
    if good >= 3 and good >= bad:
        where, line, raw = scan.utf8_error
        shown = raw[:1].decode("cp1252", errors="replace")
        raise IngestError(
            f"{name}: the file is UTF-8 text except at line {line:,} (byte {where:,}), where byte "
            f"0x{raw[0]:02X} ({shown!r} in Windows-1252) is not UTF-8: the file mixes two encodings. Open it "
            f"in a spreadsheet or text editor, save it again as UTF-8 CSV, and upload that."
        )
    if undefined:
        return "latin-1"
    return "cp1252"


def _transcode(src: Path, dst: Path, encoding: str, whitespace: bool, name: str) -> None:
    """Copy a text file to UTF-8 (streamed), optionally turning runs of spaces into tabs."""
    try:
        with (
            open(src, encoding=encoding, errors="strict", newline="") as fin,
            open(dst, "w", encoding="utf-8", newline="") as fout,
        ):
            if whitespace:
                splitter = re.compile(r"[ \t]+")
                for line in fin:
                    fout.write(splitter.sub("\t", line.strip(" \t\r\n")) + "\n")
            else:
                shutil.copyfileobj(fin, fout, 1 << 20)
    except UnicodeDecodeError as exc:
        line = _line_of_text_offset(src, encoding, exc.start)
        raise IngestError(
            f"{name}: the file is not valid {ENCODING_NAMES.get(encoding, encoding)} text: line {line:,} holds "
            f"bytes {exc.object[exc.start : exc.start + 4]!r} that this encoding does not have. Save it again "
            f"as UTF-8 CSV and upload that."
        ) from exc


def _line_of_text_offset(path: Path, encoding: str, start: int) -> int:
    """The line of a decoding error: ``start`` counts bytes from the start of the failing read chunk, so
    decode line by line up to the error (only ever run on a failure)."""
    line = 1
    with open(path, encoding=encoding, errors="strict", newline="") as fh:
        try:
            while fh.readline():
                line += 1
        except UnicodeDecodeError:
            return line
    return line


def _looks_whitespace_separated(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) < 2 or any(ch in text for ch in (",", ";", "\t", "|")):
        return False
    counts = {len(ln.split()) for ln in lines}
    return len(counts) == 1 and counts.pop() > 1


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
    limits : byte, row, column, line and workbook caps.
    header : force header / no header; None detects.

    Raises
    ------
    IngestError
        Empty, header-only, binary, over a cap, damaged or unreadable files, with the reason and the fix.
        Whatever fails, nothing of the upload is left in staging.
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
    try:
        if kind == "zip":
            if ext not in (".xlsx", ".xlsm"):
                warnings.append(
                    f"{name} is named {ext or 'without extension'} but is an Excel workbook; read as Excel."
                )
            _check_workbook(src, name, limits)
            staged = folder / f"{token}.xlsx"
            _stage_file(src, staged, name)
            return _read_xlsx(con, staged, name, token, limits, warnings, header)
        if kind == "parquet":
            staged = folder / f"{token}.parquet"
            _stage_file(src, staged, name)
            if ext != ".parquet":
                warnings.append(
                    f"{name} is named {ext or 'without extension'} but is a Parquet file; read as Parquet."
                )
            return _read_parquet(con, staged, name, token, limits, warnings)
        if b"\x00" in head[:4096] and _utf16_encoding(head) is None:
            raise IngestError(
                f"{name}: the content is binary, not text. Upload a CSV, Excel (.xlsx) or Parquet export."
            )
        if ext in (".xlsx", ".xlsm", ".parquet"):
            warnings.append(f"{name} is named {ext} but contains plain text; read as CSV.")
        return _read_text(con, src, name, token, folder, head, limits, warnings, header)
    except BaseException as exc:
        _discard_token(con, folder, token)
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise disk_full_error(name, folder) from exc
        raise


def _discard_token(con: Connection, folder: Path, token: str) -> None:
    for relation in staged_relations(con, token):
        _drop_quietly(con, relation, None)
    for path in folder.glob(f"{token}*"):
        path.unlink(missing_ok=True)


def _stage_file(src: Path, staged: Path, name: str) -> None:
    """Put the upload into the staging folder (the only folder the store's connection may read): a hard
    link when both are on one file system (instant, no second copy of a large file on disk), else a copy.
    The staged name is removed after the load; the original file is never touched. A copy cut short by a
    full disk is removed and said so."""
    try:
        os.link(src, staged)
        return
    except OSError:  # another file system, links not allowed, or no permission: copy
        pass
    try:
        shutil.copyfile(src, staged)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(name, staged.parent) from exc
        raise


def _text_problems(name: str, scan: TextScan, limits: Limits, encoding: str) -> None:
    """Refuse, with line numbers, what no text export holds: NUL bytes and lines over the limit."""
    if scan.long_line is not None:
        line, length = scan.long_line
        raise IngestError(
            f"{name}: line {line:,} is longer than the limit ({length / 1024**2:,.1f} MB; at most "
            f"{limits.max_line_bytes / 1024**2:,.0f} MB per line). The file is damaged or is not a table "
            f"export: check that line, or export the table again."
        )
    if scan.nul_count:
        lines = ", ".join(f"{line:,}" for line in scan.nul_lines)
        more = "" if scan.nul_count <= len(scan.nul_lines) else f" ({scan.nul_count:,} NUL bytes in all)"
        raise IngestError(
            f"{name}: NUL bytes (character 0, never part of {ENCODING_NAMES.get(encoding, encoding)} text) "
            f"on line{'s' if len(scan.nul_lines) > 1 else ''} {lines}{more}. The file is damaged or was "
            f"cut and pasted from a binary source: remove those characters or export the file again."
        )


def _read_text(con, src, name, token, folder, head, limits, warnings, header) -> StagedUpload:
    staged = folder / f"{token}.csv"
    utf16 = _utf16_encoding(head)
    if utf16:
        encoding = utf16
        sample_text = head.decode(encoding, errors="replace")
    else:
        scan = scan_text(src, limits.max_line_bytes)
        encoding = _choose_encoding(name, src, scan)
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        _text_problems(name, scan, limits, encoding)
        sample_text = head.decode(encoding, errors="replace")
    if not sample_text.strip():
        raise IngestError(
            f"{name}: the file holds only blank lines or spaces. Export it again with its data rows."
        )
    whitespace = _looks_whitespace_separated(sample_text)
    try:
        if encoding == "utf-8" and not whitespace:
            _stage_file(src, staged, name)
        else:
            _transcode(src, staged, encoding, whitespace, name)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(name, folder) from exc
        raise
    if utf16 or whitespace:  # the bytes DuckDB reads are the transcoded copy: look at those
        scan = scan_text(staged, limits.max_line_bytes, check_utf8=False)
        _text_problems(name, scan, limits, encoding)
    detected: dict[str, Any] = {"encoding": ENCODING_NAMES.get(encoding, encoding)}
    path_sql = quote_literal(str(staged))
    try:
        sniff = con.execute(
            f"SELECT Delimiter, Quote, Escape, HasHeader, Columns FROM sniff_csv({path_sql}, sample_size = 20480"
            + ("" if not whitespace else ", delim = '\t'")
            + ")"
        ).fetchone()
    except Exception as exc:  # noqa: BLE001 - DuckDB raises several error types for unreadable text
        raise _csv_error(name, staged, detected["encoding"], exc) from exc
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
        f"max_line_size = {max(limits.max_line_bytes * 2, 2_097_152)}",
    ]
    if scan.quoted_newlines:
        # DuckDB's parallel scanner cannot pad short rows when a quoted field holds a line break
        # (RFC 4180 multi-line addresses): read such files with one thread.
        options.append("parallel = false")
        detected["line breaks inside quoted fields"] = True
    if quote == "'":
        # The sniffer reads apostrophes in text ("Schindler's List") as a quote character; exports quote
        # with double quotes (RFC 4180), and a file without any reads the same either way.
        quote, escape = '"', '"'
    # Always say which quote the sniffer found (none included): left unset, read_csv sniffs again on its own
    # sample and may pick the apostrophe, and then fails far down the file.
    quote = "" if not quote or quote == "(empty)" else quote
    escape = "" if not escape or escape == "(empty)" else escape
    options.append(f"quote = {quote_literal(quote)}")
    options.append(f"escape = {quote_literal(escape if quote else '')}")
    reader = f"read_csv({path_sql}, {', '.join(options)})"
    relation = f"_src_{token}"
    try:
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(relation)} AS SELECT * FROM {reader}")
        columns = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(relation)}").fetchall()]
    except Exception as exc:  # noqa: BLE001
        raise _csv_error(name, staged, detected["encoding"], exc) from exc
    header_line = _first_line(staged) if has_header else ""
    return _finish_staging(
        con,
        name=name,
        token=token,
        fmt="csv",
        staged=staged,
        relation=relation,
        columns=columns,
        limits=limits,
        detected=detected,
        warnings=warnings,
        header_line=header_line,
        quoted_breaks=scan.quoted_break_lines() if scan.quoted_newlines else None,
        text_lines=scan.lines,
    )


_CSV_LINE = re.compile(r"Line:?\s*(\d+)", re.IGNORECASE)


def _csv_error(name: str, staged: Path, encoding: str, exc: Exception) -> IngestError:
    """A DuckDB CSV error as a message naming the encoding, the line and what is on it."""
    if is_disk_full(exc):
        return disk_full_error(name, staged.parent)
    text = _short(exc)
    found = _CSV_LINE.search(str(exc))
    if not found:
        return IngestError(
            f"{name}: could not read the file as {encoding} CSV ({text}). Check it is a CSV export."
        )
    line = int(found.group(1))
    shown = ""
    with open(staged, encoding="utf-8", errors="replace", newline="") as fh:
        for number, content in enumerate(fh, 1):
            if number == line:
                shown = content.rstrip("\r\n")
                break
    odd = next((ch for ch in shown if ch in "\"'\x00" or ord(ch) > 126), None)
    hint = f" It holds the character {odd!r}." if odd else ""
    return IngestError(
        f"{name}: read as {encoding} CSV, line {line:,} could not be read: {shown[:120]!r}.{hint} "
        f"({text}) Check the quoting on that line, or save the file again as UTF-8 CSV."
    )


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.readline()


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number


def _first_sheet_member(archive: zipfile.ZipFile) -> str | None:
    """The part holding the workbook's first sheet (the one read), from workbook.xml and its relations."""
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    sheet = re.search(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", workbook)
    if not sheet:
        return None
    for rel in re.finditer(rb"<Relationship\b[^>]*>", rels):
        tag = rel.group(0)
        if re.search(rb'Id="' + re.escape(sheet.group(1)) + rb'"', tag):
            target = re.search(rb'Target="([^"]+)"', tag)
            if target:
                path = target.group(1).decode("utf-8", "replace").lstrip("/")
                return path if path.startswith("xl/") else f"xl/{path}"
    return None


def _check_workbook(src: Path, name: str, limits: Limits) -> None:
    """Refuse a workbook before reading it when it would expand past the caps: total uncompressed size,
    expansion ratio, or the number of cells its first sheet declares (``<dimension ref="A1:K541910">``).
    Only the zip directory and the first few kilobytes of the sheet are read."""
    try:
        with zipfile.ZipFile(src) as archive:
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
                    f"the {limits.max_xlsx_uncompressed / 1e6:,.0f} MB / {limits.max_xlsx_ratio}x limit for "
                    f"workbooks. Save the sheet as CSV and upload that (CSV has a far higher limit)."
                )
            member = _first_sheet_member(archive)
            if member and member in archive.namelist():
                with archive.open(member) as sheet:
                    start = sheet.read(64 * 1024)
                found = _DIMENSION.search(start)
                if found and found.group(3):
                    rows = int(found.group(4)) - int(found.group(2)) + 1
                    cols = _column_number(found.group(3)) - _column_number(found.group(1)) + 1
                    cells = rows * cols
                    if cells > limits.max_xlsx_cells:
                        raise IngestError(
                            f"{name}: the first sheet holds {rows:,} rows x {cols:,} columns = {cells:,} cells, "
                            f"over the {limits.max_xlsx_cells:,}-cell limit for workbooks. Save the sheet as "
                            f"CSV and upload that (CSV has a far higher limit)."
                        )
    except zipfile.BadZipFile as exc:
        raise IngestError(f"{name}: a damaged Excel file. Open it in Excel and save it again.") from exc


def _read_xlsx(con, staged, name, token, limits, warnings, header) -> StagedUpload:
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
        name=name,
        token=token,
        fmt="xlsx",
        staged=staged,
        relation=relation,
        columns=columns,
        limits=limits,
        detected=detected,
        warnings=warnings,
        header_line=",".join(str(v) for v in first) if header else "",
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
        con,
        name=name,
        token=token,
        fmt="parquet",
        staged=staged,
        relation=relation,
        columns=columns,
        limits=limits,
        detected=detected,
        warnings=warnings,
        header_line="",
    )


def _finish_staging(
    con: Connection,
    *,
    name: str,
    token: str,
    fmt: str,
    staged: Path,
    relation: str,
    columns: list[str],
    limits: Limits,
    detected: dict[str, Any],
    warnings: list[str],
    header_line: str,
    quoted_breaks: np.ndarray | None = None,
    text_lines: int | None = None,
) -> StagedUpload:
    # An exact count of a big CSV costs a full read; it is taken from the typed rows at validation.
    small = fmt != "csv" or Path(staged).stat().st_size < 64 * 1024 * 1024
    try:
        if small:
            rows = int(con.execute(f"SELECT count(*) FROM {quote_ident(relation)}").fetchone()[0])
        else:
            rows = int(
                con.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM {quote_ident(relation)} LIMIT 1)"
                ).fetchone()[0]
            )
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - DuckDB's CSV errors become a message naming the line
        raise _csv_error(name, Path(staged), str(detected.get("encoding", "")), exc) from exc
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
        quoted_breaks=quoted_breaks,
        text_lines=text_lines,
    )


def discard(con: Connection, staged: StagedUpload) -> None:
    """Drop an upload's staging relations and file (after a load, a cancel, a failure or a closed tab)."""
    _drop_quietly(con, staged.source_relation, Path(staged.staged_path))
    _discard_token(con, Path(staged.staged_path).parent, staged.token)


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

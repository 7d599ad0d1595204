"""CSV exports that are safe to open in a spreadsheet (OWASP CSV injection) and round-trip (RFC 4180)."""

from __future__ import annotations

import pandas as pd

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote.

    Numbers stay numbers: ``-5`` as a number is safe; the text ``"-5+cmd"`` is not.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and header neutralised against formula injection."""
    out = frame.copy()
    out.columns = [str(neutralise_cell(str(c))) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """RFC 4180 CSV (CRLF line ends, quoted where needed), UTF-8 with a BOM so Excel shows accents."""
    text = safe_frame(frame).to_csv(index=False, lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


__all__ = ["FORMULA_PREFIXES", "neutralise_cell", "safe_frame", "to_csv_bytes"]

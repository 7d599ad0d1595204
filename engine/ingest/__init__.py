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

from engine import store  # noqa: F401  (tests patch store functions through this package)
from engine.ingest.load import load, load_file, load_history, sample_to_clear, undo_last_load
from engine.ingest.model import (
    COMMAND_LINE_LIMITS,
    DATE_FORMATS,
    DEFAULT_LIMITS,
    PRESELECT_SCORE,
    Issue,
    Limits,
    LoadResult,
    Mapping,
    StagedUpload,
    ValidationReport,
    sample_removed_line,
)
from engine.ingest.read import discard, read_upload, staging_dir, sweep_staging
from engine.ingest.suggest import (
    ColumnProfile,
    accept_suggestions,
    apply_overrides,
    describe_suggestion,
    detect_repeated_order_total,
    profile_columns,
    saved_mapping,
    suggest_mapping,
)
from engine.ingest.validate import validate

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
    "sweep_staging",
    "PRESELECT_SCORE",
    "accept_suggestions",
    "describe_suggestion",
    "sample_to_clear",
    "sample_removed_line",
]

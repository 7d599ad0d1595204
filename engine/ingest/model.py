"""Ingest settings and results: caps, date formats, the staged upload, the mapping, the validation report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from engine.schema import normalize_header


@dataclass(frozen=True)
class Limits:
    """Caps on what an upload may be; stated on the Data page.

    ``max_line_bytes`` caps one physical line of a text file (a 50 MB line is a damaged export, and
    reading it would hold the whole line in memory). An Excel workbook is refused before it is read when
    its parts expand beyond ``max_xlsx_uncompressed`` bytes, ``max_xlsx_ratio`` times their packed size,
    or when its first sheet declares more than ``max_xlsx_cells`` cells: openpyxl walks every cell in
    Python, so these caps bound the time and memory one upload can take from everyone else.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_rows: int = 20_000_000
    max_columns: int = 500
    max_line_bytes: int = 4 * 1024 * 1024
    max_xlsx_uncompressed: int = 100 * 1024 * 1024
    max_xlsx_ratio: int = 120
    max_xlsx_cells: int = 3_000_000


DEFAULT_LIMITS = Limits()
# The command line reads files straight from disk, so it may take larger files than a browser upload.
COMMAND_LINE_LIMITS = Limits(max_bytes=20 * 1024**3, max_rows=500_000_000)
# The one rule for preselecting a suggested column: a score of at least this. Header evidence (the name or
# an alias of the field) with content that fits reaches it; content alone never does (at most 0.55), so a
# guess from content is shown as a hint and applied only when the user takes it.
PRESELECT_SCORE = 0.6
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
    profiles: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # text files with line breaks inside quoted fields: the physical lines whose break is quoted (None:
    # none, or too many to keep), and the file's physical line count, so messages name physical lines
    quoted_breaks: Any = field(default=None, repr=False, compare=False)
    text_lines: int | None = field(default=None, repr=False, compare=False)

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
    confidence : canonical field -> where the choice came from: "saved", "header", "content", "derived",
        "constant", "user", "accepted" (a weak suggestion taken with ``accept_suggestions``).
    questions : what the user must confirm before loading (ambiguous dates, an order total per line).
    extras : source columns kept as extra columns (attributes / dimensions), in file order.
    suggestions : canonical field -> the best candidate column with its score (0..1) and evidence, whether
        applied or not: ``{"column": ..., "score": 0.9, "evidence": [...]}``. Only suggestions scoring at
        least ``PRESELECT_SCORE`` are in ``columns``; weaker ones are hints (see ``hints``).
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
    suggestions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def unsure(self) -> bool:
        return bool(self.questions)

    @property
    def hints(self) -> dict[str, dict[str, Any]]:
        """Weak suggestions that were not applied: field -> {column, score, evidence}."""
        return {
            f: s
            for f, s in self.suggestions.items()
            if f not in self.columns and f not in self.constants and s["column"] not in self.columns.values()
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> Mapping:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def signature(self) -> str:
        core = {k: v for k, v in asdict(self).items() if k not in ("confidence", "questions", "suggestions")}
        return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Issue:
    """One kind of problem in one column: how many rows, which, sample values, and the money they hold."""

    field: str
    column: str | None
    problem: str
    rows: int
    examples: list[tuple[int | str, str]]  # (physical line, value), or ('data row N', value)
    fix: str
    money: float | None = None
    money_field: str | None = None

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else f"field {self.field!r}"
        shown = ", ".join(
            f"{line if isinstance(line, str) else f'line {line}'}: {value!r}" for line, value in self.examples
        )
        more = "" if self.rows <= len(self.examples) else f" and {self.rows - len(self.examples):,} more"
        money = f", holding {self.money_field} {self.money:,.2f}" if self.money is not None else ""
        return f"{self.rows:,} row(s) with {self.problem} in {where} ({shown}{more}){money}. {self.fix}"


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
    rejected_money: dict[str, float] = field(default_factory=dict)

    @property
    def can_load(self) -> bool:
        """True when nothing blocks the load (rejected rows still need ``accept_rejects``)."""
        return not self.blocking and self.rows_valid > 0

    @property
    def clean(self) -> bool:
        return self.can_load and self.rows_rejected == 0 and not self.questions

    def rejected_money_text(self) -> str:
        """``'amount 1,447,682.42 (14.9% of the file's amount)'``, or '' when nothing with money is rejected."""
        parts = []
        for name, value in self.rejected_money.items():
            total = value + self.totals.get(name, 0.0)
            ratio = value / total if total else 0.0
            shown = "under 0.1%" if 0 < abs(ratio) < 0.001 else f"{ratio:.1%}"
            share = f" ({shown} of the file's {name})" if total else ""
            parts.append(f"{name} {value:,.2f}{share}")
        return ", ".join(parts)

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
                    "money": i.money,
                    "how to fix": i.fix,
                }
                for i in self.issues
            ],
            columns=[
                "field",
                "column",
                "problem",
                "rows",
                "example lines",
                "example values",
                "money",
                "how to fix",
            ],
        )

    def to_text(self) -> str:
        lines = [
            f"File {self.file_name!r} -> table {self.table}",
            f"  rows read: {self.rows_read:,}   will load: {self.rows_valid:,}   rejected: {self.rows_rejected:,}",
        ]
        if self.rejected_money_text():
            lines.append(f"  rejected rows hold {self.rejected_money_text()}")
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
    """What a load did; ``sample_cleared`` holds the sample rows removed per table by the first load of
    the user's own data (empty otherwise), ``rejected_money`` the money of the rows left out."""

    load_id: int
    table: str
    mode: str
    rows_loaded: int
    rows_rejected: int
    rows_skipped_existing: int
    rows_before: int
    rows_after: int
    data_version: int
    sample_cleared: dict[str, int] = field(default_factory=dict)
    rejected_money: dict[str, float] = field(default_factory=dict)

    @property
    def sample_note(self) -> str:
        """The one line that says the sample data was removed, or ''."""
        return sample_removed_line(self.sample_cleared, done=True) if self.sample_cleared else ""


def sample_removed_line(counts: dict[str, int], *, done: bool) -> str:
    """``'The sample data was removed (5,000 customers, 300 products, ...) ...'`` (or 'will be removed')."""
    listed = ", ".join(f"{n:,} {table}" for table, n in counts.items() if n)
    verb = "was removed" if done else "will be removed"
    return (
        f"This is the first load of your own data, so the sample data {verb} ({listed}): no page mixes made-up "
        f"rows with yours. Undo {'brings' if done else 'would bring'} it back."
    )

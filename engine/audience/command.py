"""``segmint audience``: write a segment's audience file (Meta, Google or CRM) from the same engine calls
as the Segment builder page."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import store
from engine.audience.builder import (
    audience_context,
    audience_members,
    audience_summary,
    describe_definition,
    segment_definition,
)
from engine.audience.files import AUDIENCE_FORMATS, audience_file
from engine.audience.saved import SAVED_SEGMENT, list_saved, resolve_segment
from engine.errors import EngineError
from engine.rfm import segment_order


def _list(con: store.Connection, as_of: str | None) -> int:
    context = audience_context(con, as_of)
    print(f"Segments as of {context.as_of} (customers):")
    for segment in segment_order():
        size = audience_summary(con, segment_definition([segment]), context).members
        if size:
            print(f"  {segment:<28} {size:>9,}  (RFM)")
    for row in list_saved(con, SAVED_SEGMENT).itertuples():
        try:
            size = f"{audience_summary(con, row.definition, context).members:>9,}"
            words = describe_definition(row.definition, context)
        except EngineError as error:
            size, words = "        -", f"cannot be evaluated: {error}"
        print(f"  {row.name:<28} {size}  saved by {row.saved_by or 'unknown'}: {words}")
    return 0


def audience_command(argv: Sequence[str], con: store.Connection | None = None) -> int:
    """``segmint audience --segment NAME --format meta|google|crm --out FILE``: write the audience file of
    an RFM segment or a saved segment; the identifiers found and the rows left out go to standard error.
    ``--list`` prints the segments there are and their sizes."""
    parser = argparse.ArgumentParser(
        prog="segmint audience",
        description="Write the members of an RFM segment or a saved segment as an audience file: "
        "meta (Custom Audiences customer list), google (Customer Match) or crm (plain list). "
        "Identifiers are normalised and SHA-256 hashed for meta and google; upload the file in the platform.",
    )
    parser.add_argument("--segment", help="an RFM segment (e.g. Champions) or a saved segment")
    parser.add_argument("--format", choices=AUDIENCE_FORMATS)
    parser.add_argument("--out", help="the CSV file to write ('-' for standard output)")
    parser.add_argument("--as-of", help="measure RFM at this date (YYYY-MM-DD); default the last order date")
    parser.add_argument(
        "--list", action="store_true", help="list the RFM and saved segments with their sizes"
    )
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    con = con if con is not None else store.connect(args.db)
    if args.list:
        return _list(con, args.as_of)
    missing = [f"--{name}" for name in ("segment", "format", "out") if not getattr(args, name)]
    if missing:
        parser.error(f"{', '.join(missing)} required (or --list)")
    definition = resolve_segment(con, args.segment)
    context = audience_context(con, args.as_of)
    members = audience_members(con, definition, context)
    file = audience_file(members, args.format, segment_name=args.segment)
    data = file.to_csv_bytes()
    if args.out == "-":
        sys.stdout.write(data.decode("utf-8-sig"))
    else:
        Path(args.out).write_bytes(data)
    print(
        f"Segment {args.segment}: {describe_definition(definition, context)} (as of {context.as_of}).",
        file=sys.stderr,
    )
    for note in file.notes:
        print(note, file=sys.stderr)
    used = ", ".join(f"{role} <- {column!r}" for role, column in file.identifiers.items()) or "none"
    print(f"Identifiers found: {used}.", file=sys.stderr)
    where = "standard output" if args.out == "-" else args.out
    print(f"Wrote {file.rows:,} rows for {file.members:,} members to {where}.", file=sys.stderr)
    return 0


__all__ = ["audience_command"]

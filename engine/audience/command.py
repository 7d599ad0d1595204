"""``segmint audience``: write a segment's audience file (Meta, Google or CRM) from the same engine calls
as the Segment builder page."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import store
from engine.audience.builder import audience_context, audience_members, describe_definition
from engine.audience.files import AUDIENCE_FORMATS, audience_file
from engine.audience.saved import resolve_segment


def audience_command(argv: Sequence[str]) -> int:
    """``segmint audience --segment NAME --format meta|google|crm --out FILE``: write the audience file of
    an RFM segment or a saved segment; the identifiers found and the rows left out go to standard error."""
    parser = argparse.ArgumentParser(
        prog="segmint audience",
        description="Write the members of an RFM segment or a saved segment as an audience file: "
        "meta (Custom Audiences customer list), google (Customer Match) or crm (plain list). "
        "Identifiers are normalised and SHA-256 hashed for meta and google; upload the file in the platform.",
    )
    parser.add_argument("--segment", required=True, help="an RFM segment (e.g. Champions) or a saved segment")
    parser.add_argument("--format", required=True, choices=AUDIENCE_FORMATS)
    parser.add_argument("--out", required=True, help="the CSV file to write ('-' for standard output)")
    parser.add_argument("--as-of", help="measure RFM at this date (YYYY-MM-DD); default the last order date")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    con = store.connect(args.db)
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

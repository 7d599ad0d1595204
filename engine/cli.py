"""The ``segmint`` command: run the dashboard, load a file through the upload path, reset to the sample."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import ingest, store
from engine.errors import EngineError, StoreBusyError

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"

USAGE = """segmint [run] [streamlit options]     start the dashboard (e.g. --server.port 8600); this computer only
             [--unsafe-no-login]          unless a login is configured, or this flag is given
segmint load FILE --as TABLE [--map field=column|field=:constant]... [--mapping FILE.json]
             [--mode replace|append] [--accept-suggestions] [--yes]
segmint sample                         reset the store to the bundled sample data
segmint recommend --top N --out FILE [--model auto|item_similarity|item_cosine|als|bpr|blend|svd|popular]
             [--train-until YYYY-MM-DD]   every customer's top N as CSV
segmint report overview|segments|personas|campaigns|experiments|recommendations [--from DATE --to DATE]
               [--as-of DATE] [--experiment ID --control NAME --outcome COL] --format json|csv   page numbers
segmint report pdf --out FILE [--from DATE --to DATE]   the story of the data as a PDF report
segmint user add|remove|list [EMAIL] [--role viewer|analyst|admin] [--file USERS.toml]   manage dashboard logins
segmint uplift --experiment ID --treatment NAME [--control NAME] --outcome COL --out FILE   who to target
segmint predict --out FILE [--as-of DATE] [--horizon-days N] [--discount-rate R]   CLV and churn risk
segmint audience --segment NAME --format meta|google|crm --out FILE [--as-of DATE] | --list   audience file
While the dashboard runs it holds the store: load, report, recommend, predict, uplift and audience are then
run by the dashboard for you (same output, --out file and exit code; see README "Nightly loads")."""


def _run(argv: list[str]) -> int:
    """Become the Streamlit server for the dashboard with safe settings (``engine.serve``); every other
    option and STREAMLIT_* variable passes through."""
    from engine import serve

    return serve.run(argv)


def _parse_maps(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise EngineError(f"--map {item!r}: write it as field=column or field=:constant.")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _load(argv: list[str], con: store.Connection | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segmint load", description="Load a file into a canonical table.")
    parser.add_argument("file")
    parser.add_argument(
        "--as",
        dest="table",
        required=True,
        help="customers, products, orders, interactions, campaigns or experiments",
    )
    parser.add_argument(
        "--map",
        dest="maps",
        action="append",
        default=[],
        help="field=column, or field=:constant for a value typed once for the whole file",
    )
    parser.add_argument("--mapping", help='a JSON file: {"field": "column", ...} or a saved mapping')
    parser.add_argument("--mode", choices=("replace", "append"), default="replace")
    parser.add_argument(
        "--accept-suggestions",
        action="store_true",
        help="also take the weak suggestions (content-only guesses), which are otherwise only listed",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="load the valid rows even when some are rejected, confirm the mapping's questions and, on the "
        "first load of your own data, the removal of the sample data; weak suggestions stay unmapped",
    )
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(argv)
    try:
        con = con if con is not None else store.connect(args.db)
    except StoreBusyError as busy:  # a running dashboard holds the store: it does the load (engine.inbox)
        from engine import inbox

        return inbox.hand_over(args, store.db_path(args.db), busy)
    overrides: dict[str, str] = {}
    mapping = None
    if args.mapping:
        data = json.loads(Path(args.mapping).read_text(encoding="utf-8"))
        if "table" in data and "columns" in data:
            mapping = ingest.Mapping.from_json(data)
            mapping.table = args.table
        else:
            overrides.update({k: str(v) for k, v in data.items()})
    overrides.update(_parse_maps(args.maps))
    ingest.sweep_staging(con)
    staged = ingest.read_upload(con, args.file, limits=ingest.COMMAND_LINE_LIMITS)
    try:
        chosen = mapping or ingest.suggest_mapping(con, staged, args.table)
        if args.accept_suggestions:
            chosen = ingest.accept_suggestions(chosen)
        chosen = ingest.apply_overrides(con, chosen, overrides, staged)
        print("Mapping:")
        for fname, col in chosen.columns.items():
            how = chosen.confidence.get(fname, "user")
            suggestion = chosen.suggestions.get(fname)
            why = (
                f" [{ingest.describe_suggestion(suggestion)}]"
                if suggestion and suggestion["column"] == col and how not in ("user", "saved")
                else ""
            )
            print(f"  {fname:<14} <- {col!r} ({how}){why}")
        for fname, value in chosen.constants.items():
            print(f"  {fname:<14} <- constant {value!r}")
        if chosen.amount_rule != "column":
            print(f"  amount         <- {chosen.amount_rule.replace('_', ' ')}")
        for fname, fmt in chosen.date_formats.items():
            if fname in chosen.columns:
                print(f"  {fname} dates: {ingest.DATE_FORMATS.get(fmt, fmt)}")
        if chosen.hints:
            print(
                "Weak suggestions, not applied (take them with --accept-suggestions, or --map field=column):"
            )
            for fname, hint in chosen.hints.items():
                print(f"  {fname:<14} <- {hint['column']!r}? [{ingest.describe_suggestion(hint)}]")
        report = ingest.validate(con, staged, chosen)
        print(report.to_text())
        if report.blocking:
            print("Not loaded: fix what is BLOCKED above (see --map).")
            ingest.discard(con, staged)
            return 2
        sample = ingest.sample_to_clear(con)
        if sample:
            print(ingest.sample_removed_line(sample, done=False))
        if not args.yes and (report.rows_rejected or chosen.questions or sample):
            reasons = [
                "rows would be rejected" if report.rows_rejected else "",
                "the mapping needs confirming" if chosen.questions else "",
                "the sample data would be removed" if sample else "",
            ]
            print(
                f"Not loaded: {', '.join(r for r in reasons if r)}. "
                "Answer with --map (e.g. --map order_date__date_format=dmy) or pass --yes to go ahead."
            )
            ingest.discard(con, staged)
            return 1
        result = ingest.load(con, staged, chosen, args.mode, accept_rejects=args.yes, confirm=True)
    except BaseException:
        ingest.discard(con, staged)
        raise
    if result.sample_note:
        print(result.sample_note)
    money = ", ".join(f"{k} {v:,.2f}" for k, v in result.rejected_money.items())
    print(
        f"Loaded {result.rows_loaded:,} rows into {result.table} ({result.mode}); "
        f"{result.rows_rejected:,} rejected{f' (holding {money})' if money and result.rows_rejected else ''}, "
        f"{result.rows_skipped_existing:,} already present; "
        f"table now {result.rows_after:,} rows; data version {result.data_version}."
    )
    return 0


def load_command(argv: list[str], con: store.Connection | None = None) -> int:
    """``segmint load ARGV`` on a given connection: the dashboard runs loads handed to it with this."""
    return _load(argv, con)


def _sample(argv: list[str]) -> int:
    from engine.sample import load_sample

    parser = argparse.ArgumentParser(prog="segmint sample", description="Reset the store to the sample data.")
    parser.add_argument("--db")
    args = parser.parse_args(argv)
    con = store.connect(args.db)
    load_sample(con)
    counts = store.table_counts(con)
    print("Sample data loaded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def _recommend(argv: list[str], con: store.Connection | None = None) -> int:
    """``segmint recommend``: every customer's top N as CSV, from the same stored model as the page."""
    from engine import recommend
    from engine.export import to_csv_bytes

    parser = argparse.ArgumentParser(
        prog="segmint recommend",
        description="Write every customer's top-N recommendations as CSV "
        "(customer_id, rank, product_id, score, model, reason).",
    )
    parser.add_argument("--top", type=int, default=10, help="products per customer (default 10)")
    parser.add_argument(
        "--model",
        default="auto",
        choices=list(recommend.MODEL_CHOICES),
        help="auto (the best on held-out data, the default) or a model to pin; popular = best-sellers",
    )
    parser.add_argument(
        "--train-until",
        help="learn only from ratings, events and orders before this date (YYYY-MM-DD), to check the "
        "lists against what customers did afterwards",
    )
    parser.add_argument("--out", required=True, help="the CSV file to write ('-' for standard output)")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(argv)
    con = con if con is not None else store.connect(args.db)

    shown = {"step": -1}

    def progress(fraction: float, text: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{fraction:4.0%} {text[:70]:<70}", end="", file=sys.stderr, flush=True)
        elif int(fraction * 10) != shown["step"]:  # a log file gets one line per tenth
            shown["step"] = int(fraction * 10)
            print(f"{fraction:4.0%} {text}", file=sys.stderr, flush=True)

    frame = recommend.top_n_export(con, args.top, model=args.model, until=args.train_until, progress=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    shipped = recommend.train_recommender(con, model=args.model, until=args.train_until)
    choice = shipped.choice_
    if choice is not None:
        for line in recommend.choice_summary(choice):
            print(line, file=sys.stderr)
    data = to_csv_bytes(frame)
    if args.out == "-":
        sys.stdout.write(data.decode("utf-8-sig"))
    else:
        Path(args.out).write_bytes(data)
        print(
            f"Wrote {len(frame):,} rows for {frame['customer_id'].nunique():,} customers to {args.out}",
            file=sys.stderr,
        )
    return 0


def _user(argv: list[str]) -> int:
    """``segmint user add|remove|list``: the dashboard's users file (see engine.auth)."""
    from engine.auth import user_command

    return user_command(argv)


def _report(argv: list[str], con: store.Connection | None = None) -> int:
    from engine.report import report_command

    return report_command(argv, con)


def _uplift(argv: list[str], con: store.Connection | None = None) -> int:
    from engine.uplift import uplift_command

    return uplift_command(argv, con)


def _predict(argv: list[str], con: store.Connection | None = None) -> int:
    from engine.predict import predict_command

    return predict_command(argv, con)


def _audience(argv: list[str], con: store.Connection | None = None) -> int:
    from engine.audience import audience_command

    return audience_command(argv, con)


# The commands a running dashboard runs for the command line while it holds the store (engine.inbox), each
# on a cursor of the dashboard's connection; `load` hands over its file itself, the others only read.
SERVED = {
    "load": load_command,
    "report": _report,
    "recommend": _recommend,
    "predict": _predict,
    "uplift": _uplift,
    "audience": _audience,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command = argv[0] if argv and not argv[0].startswith("-") else "run"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    try:
        if command == "run":
            return _run(rest)
        if command == "load":
            return _load(rest)
        if command == "sample":
            return _sample(rest)
        if command == "user":
            return _user(rest)
        if command in SERVED:
            try:
                return SERVED[command](rest)
            except StoreBusyError as busy:  # a running dashboard holds the store: it runs the command
                from engine import inbox

                return inbox.hand_over_command(command, rest, busy)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""Every page's headline numbers as plain data, from the same engine calls as the pages, for
``segmint report PAGE --format json|csv``: scripts, notebooks and anyone checking a page.

A report is a set of named sections, each a table (list of rows) or a record (one row). Numbers keep full
precision: fractions stay fractions (0.1234, not "12.3%"), money is not rounded, missing values are null.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InsufficientDataError, SchemaError
from engine.store import Connection

PAGES = ("overview", "segments", "personas", "campaigns", "experiments", "recommendations")
FORMATS = ("json", "csv")


@dataclass(frozen=True)
class ReportOptions:
    """What a report covers; each page reads the options it has a control for.

    ``start``/``end`` are the sidebar's date range (overview, campaigns); ``as_of`` the date segments and
    personas are measured at (default: the end of the range or the last order); ``experiment``,
    ``control`` and ``outcomes`` the Experiments page's choices; ``value_per_conversion`` the Campaigns
    page's assumption for rows without revenue.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    as_of: dt.date | None = None
    experiment: str | None = None
    control: str | None = None
    outcomes: tuple[str, ...] = ()
    value_per_conversion: float | None = None


@dataclass
class Report:
    """One page's numbers: ``sections`` maps a name to a DataFrame (a table) or a dict (one record)."""

    page: str
    options: ReportOptions
    sections: dict[str, pd.DataFrame | dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        """``{"page", "options", "sections": {name: [rows] | {record}}}`` with full-precision numbers."""
        payload = {
            "page": self.page,
            "options": {k: plain(v) for k, v in asdict(self.options).items()},
            "sections": {name: _section_data(value) for name, value in self.sections.items()},
        }
        return json.dumps(payload, indent=2, allow_nan=False)

    def to_csv(self, section: str | None = None) -> str:
        """One section as a plain table, or every section in long form: ``section, row, field, value``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if section is not None:
            if section not in self.sections:
                raise SchemaError(
                    f"The {self.page} report has no section {section!r}. Sections: {', '.join(self.sections)}."
                )
            rows = _rows(self.sections[section])
            columns = list(dict.fromkeys(c for row in rows for c in row))
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])
            return out.getvalue()
        writer.writerow(["section", "row", "field", "value"])
        for name, value in self.sections.items():
            for i, row in enumerate(_rows(value)):
                for column, cell in row.items():
                    writer.writerow([name, i, column, _cell(cell)])
        return out.getvalue()


def plain(value: Any) -> Any:
    """A JSON-ready value: numpy and pandas scalars to Python, dates to ISO text, NaN/NA/inf to None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if is_dataclass(value):
        return plain(asdict(value))
    return str(value)


def _rows(value: pd.DataFrame | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(value, pd.DataFrame):
        return [{str(k): plain(v) for k, v in row.items()} for row in value.to_dict("records")]
    return [{str(k): plain(v) for k, v in value.items()}]


def _section_data(value: pd.DataFrame | dict[str, Any]) -> list[dict[str, Any]] | dict[str, Any]:
    rows = _rows(value)
    return rows if isinstance(value, pd.DataFrame) else rows[0]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# --------------------------------------------------------------------------- pages


def _overview(con: Connection, o: ReportOptions) -> dict:
    from engine.overview import KPI_DEFINITIONS, cohort_retention, kpis, new_vs_returning, revenue_over_time

    k = kpis(con, o.start, o.end)
    if k is None:
        raise InsufficientDataError("There are no orders to report on.", needed=1, found=0)
    record = {name: getattr(k, name) for name in ("start", "end", "customers", "active_90d", "orders")}
    record |= {
        "revenue": k.revenue,
        "average_order_value": k.average_order_value,
        "repeat_rate": k.repeat_rate,
        "guest_orders": k.guest_orders,
        "guest_revenue": k.guest_revenue,
        "guest_revenue_share": (k.guest_revenue / k.revenue) if k.revenue else None,
    }
    record |= {f"previous_{name}": value for name, value in k.previous.items()}
    return {
        "kpis": record,
        "revenue_per_month": revenue_over_time(con, "month", o.start, o.end),
        "new_vs_returning_per_month": new_vs_returning(con, "month", o.start, o.end),
        "cohort_retention": cohort_retention(con),
        "definitions": dict(KPI_DEFINITIONS),
    }


def _as_of(con: Connection, o: ReportOptions) -> dt.date:
    from engine.rfm import default_as_of

    last = default_as_of(con)
    if o.as_of is not None:
        return o.as_of
    if o.end is not None and last is not None:
        return min(o.end, last)
    return o.end or last or dt.date.today()


def _segments(con: Connection, o: ReportOptions) -> dict:
    from engine.overview import guest_orders
    from engine.rfm import SCORE_RULE, score_grid, segment_summary
    from engine.segments import fit_clusters

    as_of = _as_of(con, o)
    sections: dict[str, Any] = {
        "segments": segment_summary(con, as_of),
        "score_grid": score_grid(con, as_of),
        "score_rule": {"as_of": as_of, "rule": SCORE_RULE},
        "guest_orders": asdict(guest_orders(con, None, as_of)),
    }
    model = fit_clusters(con, as_of=as_of)
    sections["clusters"] = model.profile_
    sections["cluster_choice"] = {
        "k": model.k_,
        "silhouette": model.silhouette_,
        "stability": model.stability_,
        "alternative_k": model.alternative_k_,
        "alternative_silhouette": model.alternative_silhouette_,
        "reason": model.k_reason_,
    }
    sections["silhouette_curve"] = model.silhouette_curve_
    return sections


def _personas(con: Connection, o: ReportOptions) -> dict:
    from engine.overview import guest_orders
    from engine.personas import persona_cards, persona_table

    as_of = _as_of(con, o)
    cards = persona_cards(con, by="segment", as_of=as_of)
    return {"personas": persona_table(cards), "guest_orders": asdict(guest_orders(con, None, as_of))}


def _campaigns(con: Connection, o: ReportOptions) -> dict:
    from engine.campaigns import (
        CampaignFilter,
        available_metrics,
        best_and_worst,
        campaign_metrics,
        campaign_totals,
    )

    filters = CampaignFilter(o.start, o.end)
    totals = campaign_totals(con, filters, o.value_per_conversion)
    metrics = campaign_metrics(con, "campaign", filters, o.value_per_conversion)
    best, worst = best_and_worst(metrics, "roi", n=3)
    return {
        "totals": asdict(totals) | {"available_metrics": available_metrics(totals)},
        "campaigns": metrics,
        "channels": campaign_metrics(con, "channel", filters, o.value_per_conversion),
        "best_by_roi": best,
        "losing_money": worst,
    }


def _experiments(con: Connection, o: ReportOptions) -> dict:
    from engine.experiments import analyse_experiment, experiment_summary

    sections: dict[str, Any] = {"summary": experiment_summary(con)}
    if o.experiment is None:
        if o.control or o.outcomes:
            raise SchemaError("--control and --outcome need --experiment ID.")
        return sections
    result = analyse_experiment(con, o.experiment, o.control, outcomes=list(o.outcomes) or None)
    sections["analysis"] = {
        "experiment_id": result.experiment_id,
        "control": result.control,
        "control_rule": result.control_choice.rule,
        "control_evidence": result.control_choice.evidence,
        "outcome": result.outcome,
        "outcome_kind": result.outcome_kind,
        "outcomes": list(result.outcomes),
        "unit": result.unit,
        "comparisons": result.comparisons,
        "correction": result.correction,
        "confidence": result.confidence,
        "srm_chi2": result.srm.chi2,
        "srm_p_value": result.srm.p_value,
        "srm_mismatch": result.srm.mismatch,
        "verdict_level": result.verdict_level,
        "verdict": result.verdict,
        "notes": list(result.notes),
        "first_exposure": result.first_exposure,
        "last_exposure": result.last_exposure,
    }
    sections["variants"] = result.variants
    sections["results"] = result.results
    return sections


def _recommendations(con: Connection, o: ReportOptions) -> dict:
    from engine.recommend import recommendation_summary, recommendations_table

    table = recommendations_table(con)
    return {"summary": recommendation_summary(con, table)}


_BUILDERS = {
    "overview": _overview,
    "segments": _segments,
    "personas": _personas,
    "campaigns": _campaigns,
    "experiments": _experiments,
    "recommendations": _recommendations,
}


def build_report(con: Connection, page: str, options: ReportOptions | None = None) -> Report:
    """The numbers of one page (``PAGES``) as a ``Report``.

    Raises
    ------
    SchemaError
        For an unknown page or options the page does not take.
    InsufficientDataError
        When the store has nothing for that page.
    """
    if page not in _BUILDERS:
        raise SchemaError(f"Unknown page {page!r}. Choose one of: {', '.join(PAGES)}.")
    options = options or ReportOptions()
    return Report(page, options, _BUILDERS[page](con, options))


def report_command(argv: Sequence[str], con: Connection | None = None) -> int:
    """``segmint report PAGE [--from --to] [--as-of] [--experiment --control --outcome] --format json|csv``."""
    import argparse
    import sys

    from engine import store

    if list(argv[:1]) == ["pdf"]:
        from engine.pdf import pdf_command

        return pdf_command(argv[1:], con)
    parser = argparse.ArgumentParser(
        prog="segmint report", description="Print every headline number of a dashboard page."
    )
    parser.add_argument("page", choices=PAGES)
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date, YYYY-MM-DD")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="date segments are measured at")
    parser.add_argument("--experiment", help="experiment id (experiments page)")
    parser.add_argument("--control", help="the control variant (default: found from the names)")
    parser.add_argument(
        "--outcome",
        action="append",
        default=[],
        help="outcome column to test; repeat for several (the first decides the verdict)",
    )
    parser.add_argument("--value-per-conversion", type=float, help="assumed revenue per conversion")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--section", help="CSV: print one section as a plain table")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    options = ReportOptions(
        start=args.start,
        end=args.end,
        as_of=args.as_of,
        experiment=args.experiment,
        control=args.control,
        outcomes=tuple(args.outcome),
        value_per_conversion=args.value_per_conversion,
    )
    con = con if con is not None else store.connect(args.db)
    report = build_report(con, args.page, options)
    sys.stdout.write(report.to_json() + "\n" if args.format == "json" else report.to_csv(args.section))
    return 0


__all__ = ["PAGES", "FORMATS", "ReportOptions", "Report", "plain", "build_report", "report_command"]

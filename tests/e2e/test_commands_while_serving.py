"""The commands that read the store while the dashboard runs: the dashboard holds the store, so
``segmint report`` and ``segmint recommend`` hand themselves to it through the inbox and give the same
numbers and files as when the store is free."""

from __future__ import annotations

import io
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.support.protocol import StreamlitSocket
from tests.support.server import running_server

SEGMINT = Path(sys.executable).parent / "segmint"


def _orders_file(path: Path) -> pd.DataFrame:
    generator = random.Random(42)
    rows = [
        {
            "order_id": f"N{i}",
            "customer_id": f"C{generator.randrange(15)}",
            "order_date": f"2026-{generator.randrange(1, 4):02d}-{generator.randrange(1, 28):02d}",
            "product_id": f"P{generator.randrange(8)}",
            "amount": generator.randrange(500, 9000) / 100,
        }
        for i in range(120)
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def test_report_and_recommend_work_while_the_dashboard_runs(tmp_path):
    db = tmp_path / "store.duckdb"
    orders = _orders_file(tmp_path / "orders.csv")
    env = {**os.environ, "SEGMINT_DB": str(db)}

    def segmint(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SEGMINT), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )

    loaded = segmint("load", "orders.csv", "--as", "orders", "--yes")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    free = segmint("report", "overview", "--format", "json")
    assert free.returncode == 0, free.stderr

    with running_server(db, log_path=tmp_path / "server.log") as server:
        with StreamlitSocket(server.url) as visitor:  # the first visit opens the store, as a person would
            visitor.rerun(timeout=120)

        busy = segmint("report", "overview", "--format", "json")
        assert busy.returncode == 0, busy.stdout + busy.stderr + server.log_tail()
        assert "dashboard" in busy.stderr  # said on standard error: standard output stays pure JSON
        assert json.loads(busy.stdout) == json.loads(free.stdout)
        kpis = json.loads(busy.stdout)["sections"]["kpis"]
        assert kpis["orders"] == orders["order_id"].nunique() == 120
        assert kpis["customers"] == orders["customer_id"].nunique()
        assert abs(kpis["revenue"] - orders["amount"].sum()) < 0.005
        assert abs(kpis["average_order_value"] - orders["amount"].sum() / 120) < 1e-6

        listed = segmint("recommend", "--top", "3", "--out", "lists.csv")
        assert listed.returncode == 0, listed.stdout + listed.stderr + server.log_tail()
        assert "100% " in listed.stderr  # the progress lines come through
        assert "to lists.csv" in listed.stderr and "inbox" not in listed.stderr
        lists = pd.read_csv(io.StringIO((tmp_path / "lists.csv").read_text(encoding="utf-8-sig")))
        assert set(lists["customer_id"]) == set(orders["customer_id"])
        assert lists.groupby("customer_id")["rank"].max().max() <= 3

        # An error in the command comes back with its message and exit code.
        refused = segmint("audience", "--segment", "No such segment", "--format", "crm", "--out", "a.csv")
        assert refused.returncode == 2 and "error:" in refused.stderr, refused.stdout + refused.stderr
        assert not (tmp_path / "a.csv").exists()

        inbox = tmp_path / "inbox"
        assert stat.S_IMODE(inbox.stat().st_mode) == 0o700  # requests and results for this user only
        assert not [p for p in inbox.iterdir() if p.is_dir()]  # every request folder is cleaned up

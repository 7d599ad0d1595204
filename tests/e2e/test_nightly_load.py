"""A scheduled ``segmint load`` while the dashboard runs: the dashboard holds the store, so the command hands
the load to it through the inbox and prints the same outcome; the next page run shows the new data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.protocol import StreamlitSocket
from tests.support.server import running_server

SEGMINT = Path(sys.executable).parent / "segmint"


def sidebar_counts(text: str) -> tuple[int, int]:
    """(order lines, data version) from the sidebar's status line."""
    found = re.search(r"([\d,]+) order lines .* data version (\d+)", text)
    assert found, text
    return int(found.group(1).replace(",", "")), int(found.group(2))


def test_a_command_line_load_works_while_the_dashboard_runs(sample_db_file, tmp_path):
    db = tmp_path / "store.duckdb"
    shutil.copy(sample_db_file, db)
    orders = tmp_path / "nightly_orders.csv"
    lines = ["order_id,customer_id,order_date,amount"]
    lines += [f"N{i},C{i % 4},2026-03-{i + 1:02d},{20 + i}.00" for i in range(7)]
    orders.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with running_server(db, log_path=tmp_path / "server.log") as server:
        with StreamlitSocket(server.url) as visitor:  # the first visit opens the store, as a person would
            _, version_before = sidebar_counts(visitor.rerun(timeout=120).text())

        command = [str(SEGMINT), "load", str(orders), "--as", "orders", "--mode", "append", "--yes"]
        env = {**os.environ, "SEGMINT_DB": str(db)}
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "the dashboard" in done.stdout.lower() and "Loaded 7 rows into orders" in done.stdout

        with StreamlitSocket(server.url) as visitor:
            order_lines, version_after = sidebar_counts(visitor.rerun(timeout=120).text())
        assert order_lines == 7  # the first own file sets the sample aside (--yes confirms it)
        assert version_after > version_before
        assert not list((tmp_path / "inbox").glob("*/job.json"))  # the job folder is gone

        # A load the server refuses comes back with its reason and exit code.
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
        refused = subprocess.run(
            [str(SEGMINT), "load", str(tmp_path / "bad.csv"), "--as", "orders"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert refused.returncode == 2 and "Not loaded" in refused.stdout, refused.stdout + refused.stderr

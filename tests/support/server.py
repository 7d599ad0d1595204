"""A real Segmint server for browser tests, the load test and the screenshot script.

One way to start ``streamlit run dashboard/app.py`` on 127.0.0.1 over a given store file, wait until it
answers its health check, and stop it; and the one set of flags for headless Chromium. Benchmarks and the
screenshot script import it too (run them from the repository root with ``python -m``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

CHROMIUM = os.environ.get("SEGMINT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

# Every server started here is a test or measurement server: local only, no usage statistics, and deaf to
# edits of the work tree while it runs.
SERVER_ARGS = (
    "--server.address",
    HOST,
    "--server.headless",
    "true",
    "--browser.gatherUsageStats",
    "false",
    "--server.fileWatcherType",
    "none",
    "--server.runOnSave",
    "false",
)
HEALTH_POLL_SECONDS = 0.3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server: its URL, process (``process.pid`` for samplers) and log file."""

    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    _log: IO[str] = field(repr=False)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log (stdout and stderr)."""
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self, timeout: float = 20) -> None:
        """Ask the server to stop; kill it when it has not stopped after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_server(
    db: Path,
    *,
    log_path: Path,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 120,
) -> Server:
    """Start Segmint over the store file ``db``; return once ``/_stcore/health`` answers.

    Parameters
    ----------
    db : the store file (``SEGMINT_DB``); an empty or missing one gets the bundled sample on first start.
    log_path : where the server's output goes.
    port : the port to listen on (default: a free one).
    env : extra environment variables for the server.
    args : extra ``streamlit run`` options, e.g. ``("--secrets.files", path)``.
    timeout : seconds to wait for the health check.

    Raises
    ------
    RuntimeError
        With the end of the server's log, when it exits or does not answer within ``timeout``.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py")]
    command += ["--server.port", str(port), *SERVER_ARGS, *args]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by Server.stop
    process = subprocess.Popen(
        command,
        cwd=REPO,  # .streamlit/config.toml is read from the working directory
        env={**os.environ, **(env or {}), "SEGMINT_DB": str(db)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://{HOST}:{port}", port, process, log_path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(server.url + "/_stcore/health", timeout=1)
            return server
        except OSError:
            time.sleep(HEALTH_POLL_SECONDS)
    server.stop(timeout=5)
    raise RuntimeError(
        "the app did not start:\n" + log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    )


@contextmanager
def running_server(db: Path, **options) -> Iterator[Server]:
    """``start_server(db, **options)`` for the length of a ``with`` block, stopped afterwards."""
    server = start_server(db, **options)
    try:
        yield server
    finally:
        server.stop()

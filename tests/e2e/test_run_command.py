"""``segmint run`` as a person starts it: from any folder, safe settings, this computer only unless a login
is configured, and one process that stops when its id is signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine import serve
from tests.support.protocol import StreamlitSocket
from tests.support.server import free_port

SEGMINT = Path(sys.executable).parent / "segmint"


def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port``, read from the kernel's socket tables (hex, as /proc has them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.append(address)
    return found


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1
ANY_HEX = {"00000000", "00000000000000000000000000000000"}  # 0.0.0.0 and ::


def _start(argv: list[str], cwd: Path, db: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "SEGMINT_USERS"))}
    return subprocess.Popen(
        [str(SEGMINT), "run", *argv],
        cwd=cwd,
        env={**clean, "SEGMINT_DB": str(db), "HOME": str(cwd), **(env or {})},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("no answer:\n" + log.read_text())


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def elsewhere(tmp_path):
    """A working folder with no .streamlit/ of its own, outside the repository."""
    folder = tmp_path / "somewhere-else"
    folder.mkdir()
    return folder


def test_started_from_another_folder_it_is_safe_local_and_one_process(elsewhere, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    process = _start(["--server.port", str(port)], elsewhere, tmp_path / "store.duckdb", log)
    try:
        _wait_healthy(port, process, log)
        # This computer only, and it says so.
        addresses = _listening(port)
        assert addresses and set(addresses) <= LOOPBACK_HEX, addresses
        assert "listens on this computer only" in log.read_text()
        # The process id that was started is the server itself (no child left behind on stop).
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in command and b"run" in command, command
        text = b" ".join(command).decode()
        assert "--client.showErrorDetails none" in text
        assert "--server.enableXsrfProtection true" in text
        # What the server tells a browser: no usage statistics, the minimal toolbar.
        with StreamlitSocket(f"http://127.0.0.1:{port}") as client:
            client.rerun(timeout=90)
            assert client.config.gather_usage_stats is False
            assert client.config.toolbar_mode == client.config.MINIMAL
        assert "Collecting usage statistics" not in log.read_text()
        # Stopping by process id stops the server: the port is free again.
        os.kill(process.pid, signal.SIGTERM)
        process.wait(30)
        time.sleep(0.5)
        assert _refused(port) and not _listening(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_other_interfaces_without_a_login_need_the_explicit_flag(elsewhere, tmp_path):
    port = free_port()
    log = tmp_path / "refused.log"
    refused = _start(
        ["--server.address", "0.0.0.0", "--server.port", str(port)], elsewhere, tmp_path / "s", log
    )
    assert refused.wait(30) == 2
    assert "refusing to listen on 0.0.0.0 without a login" in log.read_text()
    assert _refused(port)

    log = tmp_path / "unsafe.log"
    argv = ["--server.address", "0.0.0.0", "--server.port", str(port), serve.UNSAFE_FLAG]
    process = _start(argv, elsewhere, tmp_path / "store.duckdb", log)
    try:
        _wait_healthy(port, process, log)
        assert set(_listening(port)) & ANY_HEX
        assert "WARNING" in log.read_text() and "NO LOGIN" in log.read_text()
    finally:
        process.kill()
        process.wait()


def test_with_a_login_configured_other_interfaces_are_allowed_and_the_start_says_so(tmp_path):
    users = tmp_path / "users.toml"
    launch = serve.plan(["--server.address", "0.0.0.0"], env={"SEGMINT_USERS": str(users)}, cwd=tmp_path)
    assert launch.command is not None and "sign-in required" in launch.messages[0]
    oidc = tmp_path / ".streamlit"
    oidc.mkdir()
    (oidc / "secrets.toml").write_text('[auth]\nclient_id = "x"\n')
    launch = serve.plan(["--server.address", "0.0.0.0"], env={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert launch.command is not None and "identity provider" in launch.messages[0]
    # No login: loopback by default, a refusal for another interface.
    alone = tmp_path / "alone"
    assert serve.plan([], env={}, cwd=alone, home=alone).command[-2:] == ["--server.address", "127.0.0.1"]
    assert serve.plan(["--server.address", "10.1.2.3"], env={}, cwd=alone, home=alone).exit_code == 2


def test_a_setting_given_by_the_person_wins_over_the_safe_default(tmp_path):
    command = serve.plan(["--server.maxUploadSize", "50"], env={}, cwd=tmp_path, home=tmp_path).command
    assert command.index("50") > command.index("200")  # the later flag is the one Streamlit keeps
    env_set = serve.plan([], env={"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "20"}, cwd=tmp_path, home=tmp_path)
    assert "--server.maxUploadSize" not in env_set.command

"""How ``segmint run`` starts the dashboard: safe settings passed as flags wherever it is started, this
computer only unless a login is configured, and Streamlit in this very process (stopping it stops the
server)."""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import auth

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
SHIPPED_CONFIG = APP.parent.parent / ".streamlit" / "config.toml"
UNSAFE_FLAG = "--unsafe-no-login"
DEFAULT_PORT = "8501"

# Streamlit reads `.streamlit/config.toml` from the working directory only, so a server started from another
# folder would run with Streamlit's defaults: usage statistics sent, tracebacks shown in the browser, code
# watched and rerun on save. These go on the command line every time; a flag given after `segmint run`
# (or a STREAMLIT_* variable) still wins, because it is an explicit choice.
SAFE_SETTINGS: dict[str, str] = {
    "server.headless": "true",
    "server.enableXsrfProtection": "true",
    "server.maxUploadSize": "200",
    "server.runOnSave": "false",
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": "false",
    "client.showErrorDetails": "none",
    "client.toolbarMode": "minimal",
}


@dataclass(frozen=True)
class Launch:
    """What ``segmint run`` will do: the full Streamlit command, or a refusal; and what to say first."""

    command: list[str] | None
    messages: list[str]
    exit_code: int = 0


def _option(argv: Sequence[str], name: str) -> str | None:
    """The last value given for ``--name value`` or ``--name=value`` in ``argv``."""
    value = None
    for index, item in enumerate(argv):
        if item == f"--{name}" and index + 1 < len(argv):
            value = argv[index + 1]
        elif item.startswith(f"--{name}="):
            value = item.split("=", 1)[1]
    return value


def _env_name(option: str) -> str:
    """``server.maxUploadSize`` -> ``STREAMLIT_SERVER_MAX_UPLOAD_SIZE`` (Streamlit's own mapping)."""
    section, key = option.split(".", 1)
    snake = "".join(f"_{c}" if c.isupper() else c for c in key)
    return f"STREAMLIT_{section}_{snake}".upper()


def _flatten(config: Mapping[str, object]) -> dict[str, str]:
    flags = {}
    for section, table in config.items():
        if isinstance(table, Mapping):
            for key, value in table.items():
                flags[f"{section}.{key}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return flags


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def identity_provider_configured(argv: Sequence[str], cwd: Path, home: Path) -> bool:
    """Whether a secrets file Streamlit will read has an ``[auth]`` section (identity-provider login)."""
    given = _option(argv, "secrets.files")
    files = (
        [Path(given)]
        if given
        else [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]
    )
    return any("auth" in _toml(path) for path in files)


def is_loopback(address: str) -> bool:
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def plan(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> Launch:
    """Decide how to start Streamlit for ``segmint run ARGV`` (pure: the caller prints and execs).

    Parameters
    ----------
    argv : what follows ``segmint run``: Streamlit options, and ``--unsafe-no-login``.
    env, cwd, home : the environment, working folder and home folder (default: this process's).

    Returns
    -------
    Launch
        ``command`` is None when the start is refused (``exit_code`` 2, ``messages`` say why).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    unsafe = UNSAFE_FLAG in argv
    argv = [item for item in argv if item != UNSAFE_FLAG]

    settings = {**_flatten(_toml(SHIPPED_CONFIG)), **SAFE_SETTINGS}
    flags = [
        part
        for name, value in settings.items()
        if _env_name(name) not in env
        for part in (f"--{name}", value)
    ]

    named = env.get(auth.USERS_ENV, "").strip()
    users = Path(named) if named else None
    login = users is not None or identity_provider_configured(argv, cwd, home)
    address = _option(argv, "server.address") or env.get("STREAMLIT_SERVER_ADDRESS") or None
    port = _option(argv, "server.port") or env.get("STREAMLIT_SERVER_PORT") or DEFAULT_PORT
    messages: list[str] = []
    if login:
        how = f"the users file {users}" if users is not None else "the identity provider in secrets.toml"
        where = address or "every interface"
        messages.append(f"Segmint: sign-in required ({how}); listening on {where}, port {port}.")
    elif address is None and not unsafe:
        flags += ["--server.address", "127.0.0.1"]
        messages.append(
            f"Segmint: no login is configured, so the dashboard listens on this computer only: "
            f"http://127.0.0.1:{port}. To let others in, set up a login first (README, 'Deploying for a team')."
        )
    elif address is not None and is_loopback(address):
        messages.append(f"Segmint: no login is configured; listening on {address} (this computer only).")
    elif not unsafe:
        return Launch(
            None,
            [
                f"Segmint: refusing to listen on {address} without a login: anyone who reaches port {port} "
                "could upload, delete and download all data. Set up a login (SEGMINT_USERS, see README "
                f"'Deploying for a team'), or, on a network you trust, add {UNSAFE_FLAG}."
            ],
            exit_code=2,
        )
    else:
        messages.append(
            f"WARNING: Segmint is listening on {address or 'every interface'}, port {port}, with NO LOGIN "
            f"({UNSAFE_FLAG}): anyone who reaches this port can upload, delete and download all data."
        )
    command = [sys.executable, "-m", "streamlit", "run", str(APP), *flags, *argv]
    return Launch(command, messages)


def run(argv: Sequence[str]) -> int:
    """Print what ``plan`` says, then become the Streamlit server (same process id), or refuse."""
    launch = plan(argv)
    for line in launch.messages:
        print(line, file=sys.stderr)
    if launch.command is None:
        return launch.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(launch.command[0], launch.command)
    return 0  # not reached: execv replaces this process


__all__ = ["SAFE_SETTINGS", "UNSAFE_FLAG", "Launch", "plan", "run", "is_loopback"]

"""Commands handed to a running dashboard: while a Segmint server holds the store, ``segmint load`` (from
cron, say) and the commands that read the store (``report``, ``recommend``, ``predict``, ``uplift``,
``audience``) put their request in the store's inbox folder; the server runs it with the command's own code
on its store connection, and the command line shows what it prints as it prints it, moves the ``--out``
file to the path given, and exits with its code.

DuckDB lets one process open a store file. The dashboard keeps it open while it runs, so a second process
cannot open it; instead of failing, the command line asks the process that holds the file to do the work.

Safety: only the commands in ``engine.cli.SERVED`` run; the arguments travel as a JSON list and are parsed
by the command's own parser (never a shell); the inbox folder is owner-only (0700) and the server runs only
requests whose folder belongs to its own user; an ``--out`` file is written inside the request's folder and
moved by the waiting command, so the server writes nowhere else.

Layout (beside the store, ``data/inbox/``)::

    server.json              {"pid": ..., "store": ...}: a server watches this inbox
    <job>/job.json           {"command": ..., "argv": [...]}; for a load, <job>/<file> is the file
    <job>/started            written by the server when it takes the request
    <job>/stdout, stderr     what the command prints, as it prints it
    <job>/out/<name>         the --out file, moved to the path the user gave
    <job>/result.json        {"exit_code": ...}, written by the server when done
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import IO

from engine.errors import ConcurrentChangeError, EngineError, StoreBusyError
from engine.store import db_path

POLL_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 6 * 3600.0
PICKUP_ENV = "SEGMINT_INBOX_TIMEOUT"
DEFAULT_PICKUP_SECONDS = 30.0
READ_COMMANDS = ("report", "recommend", "predict", "uplift", "audience")
# The commands whose --out FILE the server writes into the request's folder (`report pdf` among them).
_OUT_COMMANDS = ("recommend", "predict", "uplift", "audience", "report pdf")
_log = logging.getLogger("segmint.inbox")
_watchers: dict[str, threading.Thread] = {}
_watchers_lock = threading.Lock()
_loads_lock = threading.Lock()  # loads run one at a time; reads run side by side on their own cursors
_local = threading.local()


def inbox_dir(store_file: Path) -> Path:
    return Path(store_file).resolve().parent / "inbox"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watching_server(store_file: Path) -> int | None:
    """The process id of a live server watching this store's inbox, or None."""
    try:
        info = json.loads((inbox_dir(store_file) / "server.json").read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("store") != str(Path(store_file).resolve()) or not _alive(pid):
        return None
    return pid


def pickup_seconds() -> float:
    """How long a command waits for the dashboard to take its request (``$SEGMINT_INBOX_TIMEOUT``)."""
    try:
        return max(float(os.environ.get(PICKUP_ENV, DEFAULT_PICKUP_SECONDS)), 0.1)
    except ValueError:
        return DEFAULT_PICKUP_SECONDS


# ---- the command line's side ---------------------------------------------------------------------------


def _option(argv: Sequence[str], name: str) -> str | None:
    """The last value given for ``--name value`` or ``--name=value``."""
    value = None
    for index, item in enumerate(argv):
        if item == f"--{name}" and index + 1 < len(argv):
            value = argv[index + 1]
        elif item.startswith(f"--{name}="):
            value = item.split("=", 1)[1]
    return value


def _has_out(command: str, argv: Sequence[str]) -> bool:
    key = "report pdf" if command == "report" and list(argv[:1]) == ["pdf"] else command
    return key in _OUT_COMMANDS


def _out_positions(argv: Sequence[str]) -> list[tuple[int, str]]:
    """Where ``--out`` values are in ``argv``: (index, "") for ``--out VALUE`` at index+1, (index, flag) for
    ``--out=VALUE``; argparse's unambiguous abbreviations ``--o``/``--ou`` count too."""
    found = []
    for index, item in enumerate(argv):
        flag, _, _ = item.partition("=")
        if flag in ("--o", "--ou", "--out"):
            found.append((index, flag if "=" in item else ""))
    return found


def _redirect_out(command: str, argv: Sequence[str], job: Path) -> tuple[list[str], Path | None, str | None]:
    """``argv`` with its ``--out FILE`` pointing into ``job/out/``; that file and the path the user gave
    (None when there is no file: no --out, or '-' for standard output)."""
    argv = list(argv)
    if not _has_out(command, argv):
        return argv, None, None
    given = None
    positions = _out_positions(argv)
    for index, flag in positions:
        given = argv[index].split("=", 1)[1] if flag else (argv[index + 1] if index + 1 < len(argv) else None)
    if given is None or given == "-":
        return argv, None, None
    (job / "out").mkdir(mode=0o700)
    inside = job / "out" / (Path(given).name or "out")
    for index, flag in positions:
        if flag:
            argv[index] = f"{flag}={inside}"
        elif index + 1 < len(argv):
            argv[index + 1] = str(inside)
    return argv, inside, given


def _new_job(store_file: Path, busy: StoreBusyError) -> Path:
    job = inbox_dir(store_file) / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    try:
        job.mkdir(mode=0o700)
    except PermissionError as error:
        raise StoreBusyError(
            f"{busy} The dashboard that holds it runs as another user, so it takes no requests from this "
            f"one: run the command as the user the dashboard runs as."
        ) from error
    return job


class _Follower:
    """Copies what the server writes to a job's stdout/stderr files onto this process's streams, a whole
    line at a time (so the request's folder can be replaced by the user's --out path in the text)."""

    def __init__(self, job: Path, replace: tuple[str, str] | None) -> None:
        self.files = {"stdout": job / "stdout", "stderr": job / "stderr"}
        self.offsets = dict.fromkeys(self.files, 0)
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in self.files}
        self.pending = dict.fromkeys(self.files, "")
        self.replace = replace

    def _emit(self, name: str, text: str) -> None:
        if self.replace:
            text = text.replace(*self.replace)
        stream = sys.stdout if name == "stdout" else sys.stderr
        stream.write(text)
        stream.flush()

    def pump(self, final: bool = False) -> None:
        for name, path in self.files.items():
            try:
                with open(path, "rb") as handle:
                    handle.seek(self.offsets[name])
                    chunk = handle.read()
            except FileNotFoundError:
                chunk = b""
            self.offsets[name] += len(chunk)
            text = self.pending[name] + self.decoders[name].decode(chunk, final=final)
            whole, newline, rest = text.rpartition("\n")
            if final:
                whole, newline, rest = text, "", ""
            self.pending[name] = rest
            if whole or newline:
                self._emit(name, whole + newline)


def _follow(
    job: Path,
    store_file: Path,
    pid: int,
    wait: float,
    replace: tuple[str, str] | None = None,
) -> int:
    """Wait for the server to run ``job``, showing its output as it comes; the job's exit code, or 3 with a
    message when the server does not take the request in time, stops, or does not finish within ``wait``."""
    follower = _Follower(job, replace)
    pickup = pickup_seconds()
    started_by = time.monotonic() + pickup
    deadline = time.monotonic() + wait
    result = job / "result.json"
    while True:
        done = result.exists()
        follower.pump()
        if done:
            break
        now = time.monotonic()
        if not (job / "started").exists() and now > started_by:
            print(
                f"The dashboard (process {pid}) holds the store but did not take the request within "
                f"{pickup:.0f} s, so nothing was run. Try again; if it keeps happening, stop the dashboard "
                f"and run the command on its own (the wait is set by {PICKUP_ENV}).",
                file=sys.stderr,
            )
            return 3
        if now > deadline or watching_server(store_file) is None:
            follower.pump(final=True)
            print(
                "The dashboard stopped or did not finish in time; the command did not complete.",
                file=sys.stderr,
            )
            return 3
        time.sleep(POLL_SECONDS / 4)
    follower.pump(final=True)
    return int(json.loads(result.read_text(encoding="utf-8"))["exit_code"])


def _submit(job: Path, command: str, argv: list[str]) -> None:
    (job / "job.partial").write_text(json.dumps({"command": command, "argv": argv}), encoding="utf-8")
    os.replace(job / "job.partial", job / "job.json")  # the server never sees half a request


def _job_argv(args: argparse.Namespace, job: Path) -> list[str]:
    """The ``segmint load`` options, with the file (and a mapping file) copied into the job folder."""
    data = job / Path(args.file).name
    try:
        os.link(args.file, data)  # no second copy of a big export where the inbox is on the same disk
    except OSError:
        shutil.copyfile(args.file, data)
    argv = [str(data), "--as", args.table, "--mode", args.mode]
    for item in args.maps:
        argv += ["--map", item]
    if args.mapping:
        mapping = job / "mapping.json"
        shutil.copyfile(args.mapping, mapping)
        argv += ["--mapping", str(mapping)]
    argv += ["--accept-suggestions"] if args.accept_suggestions else []
    argv += ["--yes"] if args.yes else []
    return argv


def hand_over(
    args: argparse.Namespace, store_file: Path, busy: StoreBusyError, wait: float = DEFAULT_WAIT_SECONDS
) -> int:
    """For ``segmint load``: give the load to the server that holds ``store_file`` and wait for it.

    Re-raises ``busy`` when no Segmint server watches the inbox (another command holds the file).
    Returns the exit code of the load the server ran, after printing its output.
    """
    pid = watching_server(store_file)
    if pid is None:
        raise busy
    job = _new_job(store_file, busy)
    try:
        _submit(job, "load", _job_argv(args, job))
        print(f"The dashboard (process {pid}) has the store open: it is loading the file now.", flush=True)
        return _follow(job, store_file, pid, wait)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def hand_over_command(
    command: str, argv: Sequence[str], busy: StoreBusyError, wait: float = DEFAULT_WAIT_SECONDS
) -> int:
    """For the commands that read the store: have the server that holds it run ``segmint COMMAND ARGV``.

    Shows the command's output as the server produces it, moves its ``--out`` file to the path given, and
    returns its exit code (3 when the server does not answer). Re-raises ``busy`` when no Segmint server
    watches the store's inbox, or when ``busy`` is not about opening the store.
    """
    if command not in READ_COMMANDS or isinstance(busy, ConcurrentChangeError):
        raise busy
    store_file = db_path(_option(argv, "db"))
    pid = watching_server(store_file)
    if pid is None:
        raise busy
    job = _new_job(store_file, busy)
    try:
        job_argv, inside, given = _redirect_out(command, argv, job)
        _submit(job, command, job_argv)
        print(f"The dashboard (process {pid}) has the store open: it runs this command.", file=sys.stderr)
        code = _follow(job, store_file, pid, wait, (str(inside), given) if inside and given else None)
        if inside is not None and given is not None and inside.exists():
            try:
                shutil.move(inside, given)
            except OSError as error:
                print(f"error: could not write {given}: {error.strerror or error}", file=sys.stderr)
                return 2
        return code
    finally:
        shutil.rmtree(job, ignore_errors=True)


# ---- the server's side ---------------------------------------------------------------------------------


class _ThreadStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while the inbox is watched: what a request's thread prints goes to that
    request's file; every other thread prints to the server's own stream as before."""

    def __init__(self, name: str, fallback: IO[str]) -> None:
        self._name = name
        self._fallback = fallback

    def _target(self) -> IO[str]:
        return getattr(_local, self._name, None) or self._fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target().encoding

    def fileno(self) -> int:
        return self._target().fileno()

    def __getattr__(self, name: str):
        return getattr(self._target(), name)


def _route_prints() -> None:
    if not isinstance(sys.stdout, _ThreadStream):
        sys.stdout = _ThreadStream("stdout", sys.stdout)
    if not isinstance(sys.stderr, _ThreadStream):
        sys.stderr = _ThreadStream("stderr", sys.stderr)


def _outs_inside(argv: Sequence[str], job: Path) -> bool:
    """Every ``--out`` value is '-' or a file in ``job/out/`` (what ``_redirect_out`` makes)."""
    for index, flag in _out_positions(argv):
        value = argv[index].split("=", 1)[1] if flag else (argv[index + 1] if index + 1 < len(argv) else "-")
        if value != "-" and Path(value).resolve().parent != (job / "out").resolve():
            return False
    return True


def _run_job(job: Path, command: str, argv: list[str], runner: Callable[[str, list[str]], int]) -> None:
    with (
        open(job / "stdout", "w", encoding="utf-8", buffering=1) as out,
        open(job / "stderr", "w", encoding="utf-8", buffering=1) as err,
    ):
        _local.stdout, _local.stderr = out, err
        try:
            with _loads_lock if command == "load" else contextlib.nullcontext():
                code = runner(command, argv)
        except SystemExit as stop:  # the command's argument parser said no (or --help)
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        except EngineError as error:
            print(f"error: {error}", file=err)
            code = 2
        except Exception as error:  # noqa: BLE001 - any failure is reported to the waiting command
            _log.exception("segmint %s from the inbox failed", command)
            print(f"error: {error}", file=err)
            code = 2
        finally:
            _local.stdout = _local.stderr = None
    try:
        (job / "result.partial").write_text(json.dumps({"exit_code": code}), encoding="utf-8")
        os.replace(job / "result.partial", job / "result.json")
    except OSError:  # the command line stopped waiting (Ctrl-C) and removed the request
        _log.info("segmint %s from the inbox: %s finished after its caller left", command, job.name)
        return
    _log.info("segmint %s from the inbox: %s (exit code %s)", command, job.name, code)


def run_pending(
    store_file: Path, runner: Callable[[str, list[str]], int], known: Collection[str]
) -> list[threading.Thread]:
    """Start every request waiting in the inbox, each in its own thread with ``runner(command, argv)``
    (the command's own code); returns the threads. Requests of another OS user, for an unknown command,
    or with an ``--out`` outside their folder are refused with a message in their result."""
    started = []
    for spec in sorted(inbox_dir(store_file).glob("*/job.json")):
        job = spec.parent
        if (job / "started").exists() or (job / "result.json").exists():
            continue
        (job / "started").touch()
        try:
            request = json.loads(spec.read_text(encoding="utf-8"))
            command, argv = request.get("command", "load"), request["argv"]
            mine = job.stat().st_uid == os.getuid() and spec.stat().st_uid == os.getuid()
        except (OSError, ValueError, KeyError, AttributeError):
            command, argv, mine = "", [], False
        usable = isinstance(argv, list) and all(isinstance(item, str) for item in argv)
        if not (mine and command in known and usable and _outs_inside(argv, job)):
            _log.warning("Refused an inbox request: %s", job.name)
            (job / "stderr").write_text(
                "error: the dashboard refused this request (another user's, or not a Segmint command).\n",
                encoding="utf-8",
            )
            (job / "result.json").write_text(json.dumps({"exit_code": 2}), encoding="utf-8")
            continue
        _route_prints()
        thread = threading.Thread(
            target=_run_job, args=(job, command, argv, runner), name=f"segmint-{command}", daemon=True
        )
        thread.start()
        started.append(thread)
    return started


def watch(store_file: Path, con, poll: float = POLL_SECONDS) -> None:
    """Start (once per process and store) a thread that runs the inbox's requests as they arrive, each with
    the command's own code (``engine.cli.SERVED``) on a fresh cursor of ``con`` (the server's connection)."""
    from engine.cli import SERVED

    def runner(command: str, argv: list[str]) -> int:
        cursor = con.cursor()
        try:
            return SERVED[command](argv, cursor)
        finally:
            cursor.close()

    key = str(Path(store_file).resolve())
    with _watchers_lock:
        if key in _watchers and _watchers[key].is_alive():
            return
        folder = inbox_dir(store_file)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            _log.warning("Not watching %s: the folder belongs to another user", folder)
            return
        os.chmod(folder, 0o700)  # requests carry data and results: for this user only
        (folder / "server.json").write_text(json.dumps({"pid": os.getpid(), "store": key}), encoding="utf-8")

        def loop() -> None:
            while True:
                try:
                    run_pending(store_file, runner, SERVED)
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad job folder
                    _log.exception("Inbox watcher")
                time.sleep(poll)

        thread = threading.Thread(target=loop, name="segmint-inbox", daemon=True)
        thread.start()
        _watchers[key] = thread


__all__ = [
    "READ_COMMANDS",
    "inbox_dir",
    "watching_server",
    "pickup_seconds",
    "hand_over",
    "hand_over_command",
    "run_pending",
    "watch",
]

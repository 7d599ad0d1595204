"""Loads handed to a running dashboard: while a Segmint server holds the store, ``segmint load`` (from cron,
say) puts the file and its options in the store's inbox folder, the server loads it with the same code and
writes the outcome back, and the command prints it and exits with its code.

DuckDB lets one process open a store file. The dashboard keeps it open while it runs, so a second process
cannot load; instead of failing, the command line asks the process that holds the file to do the load.

Layout (beside the store, ``data/inbox/``)::

    server.json              {"pid": ..., "store": ...}: a server watches this inbox
    <job>/job.json           the ``segmint load`` options; <job>/<file> the file to load
    <job>/result.json        {"exit_code": ..., "output": ...}, written by the server when done
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from engine.errors import StoreBusyError

POLL_SECONDS = 1.0
DEFAULT_WAIT_SECONDS = 6 * 3600.0
_log = logging.getLogger("segmint.inbox")
_watchers: dict[str, threading.Thread] = {}
_watchers_lock = threading.Lock()
_stdout_lock = threading.Lock()


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
    job = inbox_dir(store_file) / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    job.mkdir(parents=True)
    try:
        argv = _job_argv(args, job)
        (job / "job.partial").write_text(json.dumps({"argv": argv}), encoding="utf-8")
        os.replace(job / "job.partial", job / "job.json")  # the server never sees half a job
        print(f"The dashboard (process {pid}) has the store open: it is loading the file now.", flush=True)
        deadline = time.monotonic() + wait
        result = job / "result.json"
        while not result.exists():
            if time.monotonic() > deadline or watching_server(store_file) is None:
                print(
                    "The dashboard stopped or did not finish the load in time; nothing is known to be loaded."
                )
                return 3
            time.sleep(POLL_SECONDS / 4)
        outcome = json.loads(result.read_text(encoding="utf-8"))
        print(outcome["output"], end="")
        return int(outcome["exit_code"])
    finally:
        shutil.rmtree(job, ignore_errors=True)


def run_pending(store_file: Path, runner: Callable[[list[str]], int]) -> int:
    """Run every job waiting in the inbox with ``runner`` (``segmint load``'s own code); returns how many.

    The output the runner prints goes into the job's result, not the server's console.
    """
    done = 0
    folder = inbox_dir(store_file)
    for spec in sorted(folder.glob("*/job.json")):
        job = spec.parent
        if (job / "result.json").exists():
            continue
        argv = json.loads(spec.read_text(encoding="utf-8"))["argv"]
        output = io.StringIO()
        with _stdout_lock, contextlib.redirect_stdout(output):
            try:
                code = runner(argv)
            except Exception as error:  # noqa: BLE001 - any failure is reported to the waiting command
                _log.exception("Load from the inbox failed")
                print(f"error: {error}")
                code = 2
        (job / "result.partial").write_text(
            json.dumps({"exit_code": code, "output": output.getvalue()}), encoding="utf-8"
        )
        os.replace(job / "result.partial", job / "result.json")
        _log.info("Loaded from the inbox: %s (exit code %s)", job.name, code)
        done += 1
    return done


def watch(store_file: Path, con, poll: float = POLL_SECONDS) -> None:
    """Start (once per process and store) a thread that runs the inbox's jobs as they arrive, each with
    ``segmint load``'s own code on a fresh cursor of ``con`` (the server's store connection)."""
    from engine.cli import load_command

    def runner(argv: list[str]) -> int:
        cursor = con.cursor()
        try:
            return load_command(argv, cursor)
        finally:
            cursor.close()

    key = str(Path(store_file).resolve())
    with _watchers_lock:
        if key in _watchers and _watchers[key].is_alive():
            return
        folder = inbox_dir(store_file)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.json").write_text(json.dumps({"pid": os.getpid(), "store": key}), encoding="utf-8")

        def loop() -> None:
            while True:
                try:
                    run_pending(store_file, runner)
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad job folder
                    _log.exception("Inbox watcher")
                time.sleep(poll)

        thread = threading.Thread(target=loop, name="segmint-inbox", daemon=True)
        thread.start()
        _watchers[key] = thread


__all__ = ["inbox_dir", "watching_server", "hand_over", "run_pending", "watch"]

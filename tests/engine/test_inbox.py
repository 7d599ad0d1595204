"""The inbox's command-line side without a dashboard: a clear message and exit code 3 when the process that
holds the store does not take the request; only known commands, with --out inside the request, are run."""

from __future__ import annotations

import json
import os
import stat

import pytest

from engine import inbox
from engine.errors import StoreBusyError


def _pretend_server(store_file):
    """server.json naming this (live) process, as a dashboard that holds the store but never answers."""
    folder = inbox.inbox_dir(store_file)
    folder.mkdir(mode=0o700)
    (folder / "server.json").write_text(
        json.dumps({"pid": os.getpid(), "store": str(store_file.resolve())}), encoding="utf-8"
    )
    return folder


def test_no_server_watching_gives_back_the_busy_error(tmp_path):
    busy = StoreBusyError("The store is open in another Segmint process.")
    with pytest.raises(StoreBusyError):
        inbox.hand_over_command("report", ["overview", "--db", str(tmp_path / "s.duckdb")], busy)


def test_a_server_that_does_not_answer_times_out_with_a_message(tmp_path, monkeypatch, capsys):
    store_file = tmp_path / "s.duckdb"
    folder = _pretend_server(store_file)
    monkeypatch.setenv(inbox.PICKUP_ENV, "0.3")
    busy = StoreBusyError("busy")
    code = inbox.hand_over_command("recommend", ["--out", "x.csv", "--db", str(store_file)], busy)
    assert code == 3
    err = capsys.readouterr().err
    assert f"process {os.getpid()}" in err and "did not take the request within" in err
    assert "nothing was run" in err and inbox.PICKUP_ENV in err
    assert [p.name for p in folder.iterdir()] == ["server.json"]  # the request folder is removed
    assert not (tmp_path / "x.csv").exists()


def test_only_known_commands_with_their_out_inside_the_request_are_run(tmp_path):
    store_file = tmp_path / "s.duckdb"
    folder = _pretend_server(store_file)
    requests = {
        "unknown": {"command": "sample", "argv": []},
        "escaping": {
            "command": "recommend",
            "argv": ["--top", "3", "--out", str(tmp_path / "elsewhere.csv")],
        },
        "not_a_list": {"command": "report", "argv": "overview; rm -rf /"},
        "fine": {"command": "report", "argv": ["overview"]},
    }
    for name, request in requests.items():
        (folder / name).mkdir(mode=0o700)
        (folder / name / "job.json").write_text(json.dumps(request), encoding="utf-8")
    ran = []
    threads = inbox.run_pending(
        store_file, lambda command, argv: ran.append((command, argv)) or 0, {"report"}
    )
    for thread in threads:
        thread.join(10)
    assert ran == [("report", ["overview"])]
    for name in ("unknown", "escaping", "not_a_list"):
        assert json.loads((folder / name / "result.json").read_text())["exit_code"] == 2
        assert "refused" in (folder / name / "stderr").read_text()
    assert json.loads((folder / "fine" / "result.json").read_text())["exit_code"] == 0
    assert not (tmp_path / "elsewhere.csv").exists()


@pytest.mark.parametrize(
    ("argv", "given"),
    [
        (["--top", "3", "--out", "lists.csv"], "lists.csv"),
        (["--out=sub/lists.csv"], "sub/lists.csv"),
        (["--ou", "a.csv", "--out", "b.csv"], "b.csv"),  # argparse keeps the last one
        (["--out", "-"], None),
    ],
)
def test_the_out_file_is_written_inside_the_request(tmp_path, argv, given):
    job = tmp_path / "job"
    job.mkdir()
    rewritten, inside, user_path = inbox._redirect_out("recommend", argv, job)
    assert user_path == given
    if given is None:
        assert inside is None and rewritten == argv
    else:
        assert inside.parent == job / "out" and stat.S_IMODE((job / "out").stat().st_mode) == 0o700
        assert str(inside) in " ".join(rewritten)
        assert inbox._outs_inside(rewritten, job) and not inbox._outs_inside(argv, job)


def test_a_report_page_keeps_its_outcome_options(tmp_path):
    argv = ["experiments", "--experiment", "t", "--ou", "visit"]  # --ou is --outcome for a page report
    assert inbox._redirect_out("report", argv, tmp_path) == (argv, None, None)

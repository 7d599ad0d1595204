"""Attacks made with the raw Streamlit protocol against a real server in password mode: a client message
that clears the server's caches must not clear the sign-in lockout, and a session id offered by another
client must not carry the sign-in with it, and files are taken only from sessions that may upload."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from engine import auth
from tests.support.protocol import Run, StreamlitSocket
from tests.support.server import running_server

PASSWORD = "analyst-pass-1"


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "segmint_users.toml"
    path.write_text('[access]\ndefault_role = "viewer"\n')
    auth.add_user(path, "ana@example.com", "analyst", PASSWORD, name="Ana")
    auth.add_user(path, "vera@example.com", "viewer", "viewer-pass-1", name="Vera")
    return path


@pytest.fixture
def server(users, tmp_path):
    with running_server(
        tmp_path / "store.duckdb", log_path=tmp_path / "server.log", env={auth.USERS_ENV: str(users)}
    ) as running:
        yield running


def sign_in(client: StreamlitSocket, prompt: Run, email: str, password: str) -> Run:
    """Fill in and submit the sign-in form as the browser would (every form widget, then the trigger)."""
    return client.rerun(
        {
            prompt.widget("text_input", "Email").id: email,
            prompt.widget("text_input", "Password").id: password,
            prompt.widget("button", "Log in").id: True,
        }
    )


def signed_in(run: Run) -> bool:
    return not any(
        kind == "text_input" and element.text_input.label == "Password" for kind, element in run.elements
    )


def test_clear_cache_from_any_client_does_not_lift_a_lockout(server):
    with StreamlitSocket(server.url) as guesser:
        prompt = guesser.rerun()
        for _ in range(5):
            answer = sign_in(guesser, prompt, "ana@example.com", "guessing-wrong")
            assert "Wrong email or password." in answer.text()
        assert "Too many failed attempts" in sign_in(guesser, prompt, "ana@example.com", PASSWORD).text()

    # A fresh socket, never signed in, asks the server to clear every cache.
    with StreamlitSocket(server.url) as stranger:
        stranger.rerun()
        stranger.clear_cache()
        stranger.rerun()  # messages of one socket are handled in order: the clear is done

    with StreamlitSocket(server.url) as again:
        prompt = again.rerun()
        answer = sign_in(again, prompt, "ana@example.com", PASSWORD)
        assert "Too many failed attempts for this address" in answer.text()
        assert not signed_in(answer)
        # Another address from the same client is not locked by ana's five failures.
        assert signed_in(sign_in(again, prompt, "vera@example.com", "viewer-pass-1"))


def test_guessing_across_many_addresses_locks_the_client(server):
    with StreamlitSocket(server.url) as guesser:
        prompt = guesser.rerun()
        for number in range(20):  # four tries each at five addresses: no address reaches its limit
            sign_in(guesser, prompt, f"guess{number % 5}@example.com", "guessing-wrong")
        guesser.clear_cache()
        answer = sign_in(guesser, prompt, "vera@example.com", "viewer-pass-1")
        assert "Too many failed attempts for your network address" in answer.text()
        assert not signed_in(answer)


def browser_cookie() -> tuple[str, str]:
    """A browser's XSRF cookie as Streamlit sets it (``2|mask|masked token|time``): (cookie header, value)."""
    value = f"2|{os.urandom(4).hex()}|{os.urandom(16).hex()}|{int(time.time())}"
    return f"_streamlit_xsrf={value}", value


def test_a_session_id_alone_does_not_carry_a_sign_in(server):
    cookie, token = browser_cookie()
    with StreamlitSocket(server.url, cookie=cookie, xsrf=token) as victim:
        prompt = victim.rerun()
        assert signed_in(sign_in(victim, prompt, "ana@example.com", PASSWORD))
        victim_session = victim.session_id
    assert victim_session

    # Someone who read the session id (an upload URL in a proxy log) offers it from their own client.
    with StreamlitSocket(server.url, session_id=victim_session) as intruder:
        answer = intruder.rerun()
        assert not signed_in(answer), answer.text()
        assert "data version" not in answer.text()  # no sidebar, no counts
        assert intruder.session_id == victim_session  # it did reattach: the sign-in is what stayed behind

    # With a cookie of their own making the same.
    forged, forged_token = browser_cookie()
    with StreamlitSocket(server.url, session_id=victim_session, cookie=forged, xsrf=forged_token) as intruder:
        assert not signed_in(intruder.rerun())


def test_the_browser_that_signed_in_keeps_its_sign_in_over_a_reconnect(server):
    cookie, token = browser_cookie()
    with StreamlitSocket(server.url, cookie=cookie, xsrf=token) as tab:
        prompt = tab.rerun()
        assert signed_in(sign_in(tab, prompt, "vera@example.com", "viewer-pass-1"))
        session = tab.session_id
    # Streamlit re-masks the cookie on each page load; the token inside is what counts.
    _, mask, masked, _ = token.split("|")
    inner = bytes(b ^ bytes.fromhex(mask)[i % 4] for i, b in enumerate(bytes.fromhex(masked)))
    remasked = f"2|ffffffff|{bytes(b ^ 0xFF for b in inner).hex()}|{int(time.time())}"
    assert remasked != token
    with StreamlitSocket(
        server.url, session_id=session, cookie=f"_streamlit_xsrf={remasked}", xsrf=remasked
    ) as again:
        answer = again.rerun()
        assert signed_in(answer) and "data version" in answer.text()


def put_file(server, session_id: str, file_id: str, size: int = 1024) -> int:
    """Send a file as the uploader does (a self-made XSRF cookie equal to the header); the HTTP status."""
    _, token = browser_cookie()
    answer = httpx.put(
        f"{server.url}/_stcore/upload_file/{session_id}/{file_id}",
        files={"file": (f"{file_id}.csv", b"a,b\n" + b"1,2\n" * (size // 4), "text/csv")},
        headers={"X-Xsrftoken": token},
        cookies={"_streamlit_xsrf": token},
        timeout=60,
    )
    return answer.status_code


def test_only_a_session_that_may_upload_can_send_files_and_only_a_few(server):
    with StreamlitSocket(server.url) as stranger:
        stranger.rerun()  # the sign-in prompt: this session may not upload
        assert put_file(server, stranger.session_id, "f1") == 403

    cookie, token = browser_cookie()
    with StreamlitSocket(server.url, cookie=cookie, xsrf=token) as viewer:
        prompt = viewer.rerun()
        assert signed_in(sign_in(viewer, prompt, "vera@example.com", "viewer-pass-1"))
        assert put_file(server, viewer.session_id, "f1") == 403  # a viewer may not upload

    cookie, token = browser_cookie()
    with StreamlitSocket(server.url, cookie=cookie, xsrf=token) as analyst:
        prompt = analyst.rerun()
        assert signed_in(sign_in(analyst, prompt, "ana@example.com", PASSWORD))
        statuses = [put_file(server, analyst.session_id, f"f{n}") for n in range(5)]
        assert statuses == [204, 204, 204, 413, 413]
        assert put_file(server, analyst.session_id, "f0") == 204  # sending a held file again replaces it

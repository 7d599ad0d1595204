"""Attacks made with the raw Streamlit protocol against a real server in password mode: a client message
that clears the server's caches must not clear the sign-in lockout."""

from __future__ import annotations

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

"""The sign-in gate over every page and deep link, roles on the Data and Recommendations pages, identity-
provider users and the allow-list, and unexpected errors shown as an incident id without a traceback."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import auth

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = ["overview", "segments", "personas", "recommendations", "campaigns", "experiments", "data"]
# What the sign-in prompt is made of: anything else (a table, chart, metric, sidebar) would be a leak.
LOGIN_ELEMENTS = {"flex_container", "column", "title", "caption", "form", "text_input", "button", "error"}
OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret-of-enough-length",
        "client_id": "segmint-test",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
    }
}


@pytest.fixture
def users_file(app_db, tmp_path, monkeypatch):
    """A users file with a viewer and an analyst (passwords below) and an allow-list for example.com."""
    path = tmp_path / "segmint_users.toml"
    path.write_text('[access]\nallowed_domains = ["example.com"]\ndefault_role = "viewer"\n')
    auth.add_user(path, "vera@example.com", "viewer", "viewer-pass-1", name="Vera")
    auth.add_user(path, "ana@example.com", "analyst", "analyst-pass-1", name="Ana")
    monkeypatch.setenv(auth.USERS_ENV, str(path))
    auth.SIGN_IN_GUARD.reset()  # failed sign-ins are counted per process, as on a real server
    yield path
    auth.SIGN_IN_GUARD.reset()


def element_types(node) -> set[str]:
    found = set()
    children = node.children.values() if isinstance(node.children, dict) else node.children
    for child in children:
        found.add(child.type)
        if hasattr(child, "children"):
            found |= element_types(child)
    return found


def assert_only_login(at: AppTest, also: frozenset[str] = frozenset()) -> None:
    assert not at.exception, [e.value for e in at.exception]
    extra = element_types(at.main) - LOGIN_ELEMENTS - also
    assert not extra, extra
    assert not element_types(at.sidebar)
    assert [t.value for t in at.title] == [":material/donut_large: Segmint"]


def has_login_form(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["Email", "Password"]


def sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="segmint_login_email").input(email)
    next(t for t in at.text_input if t.label == "Password").input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def start(page: str = "overview") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def button_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_every_page_and_deep_link_shows_only_the_login_form(users_file):
    at = start()
    assert_only_login(at)
    assert has_login_form(at)
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert_only_login(at)
        assert has_login_form(at)


def test_wrong_password_and_unknown_email_are_rejected_alike(users_file):
    at = start("data")
    sign_in(at, "vera@example.com", "not-her-password")
    assert_only_login(at)
    assert [e.value for e in at.error] == ["Wrong email or password."]
    sign_in(at, "mallory@example.com", "viewer-pass-1")
    assert_only_login(at)
    assert [e.value for e in at.error] == ["Wrong email or password."]


def test_repeated_failures_lock_the_address(users_file):
    at = start()
    for _ in range(5):
        sign_in(at, "ana@example.com", "guessing-wrong")
    sign_in(at, "ana@example.com", "analyst-pass-1")  # right password, but locked for now
    assert_only_login(at)
    assert "Too many failed attempts" in at.error[0].value


def test_viewer_sees_the_pages_but_cannot_change_data(users_file):
    at = start("data")  # a deep link: after signing in the visitor lands on it
    sign_in(at, "vera@example.com", "viewer-pass-1")
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Data"]
    assert not at.get("file_uploader")
    labels = button_labels(at)
    assert not any(label.startswith(("Undo", "Reset")) for label in labels), labels
    assert "Log out" in labels
    assert any("Your role (**viewer**)" in i.value for i in at.info)
    assert at.dataframe  # the history and table profiles are still there to read
    assert any("Vera · viewer" in c.value for c in at.sidebar.caption)

    at.switch_page("app_pages/overview.py")
    at.run()
    assert not at.exception and at.metric

    at.switch_page("app_pages/recommendations.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any(e.label == "Settings" for e in at.expander)
    assert not {"Run tuning", "Apply"} & set(button_labels(at))


def test_analyst_may_upload_undo_and_reset(users_file):
    at = start("data")
    sign_in(at, "ANA@example.com", "analyst-pass-1")
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("file_uploader")) == 1
    labels = button_labels(at)
    assert "Reset everything to the sample data" in labels
    assert any(label.startswith("Undo the last load") for label in labels), labels

    at.switch_page("app_pages/recommendations.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.label == "Settings" for e in at.expander)
    assert "Run tuning" in button_labels(at)


def test_log_out_and_removal_end_the_session(users_file):
    at = start()
    sign_in(at, "vera@example.com", "viewer-pass-1")
    assert at.metric
    next(b for b in at.button if b.label == "Log out").click()
    at.run()
    assert_only_login(at)

    sign_in(at, "ana@example.com", "analyst-pass-1")
    assert at.metric
    auth.remove_user(users_file, "ana@example.com")
    at.run()  # the next interaction re-reads the users file
    assert_only_login(at)


def test_a_broken_users_file_fails_closed(users_file, caplog):
    users_file.write_text("[access]\ndefault_role = 'owner'\n")
    with caplog.at_level(logging.ERROR, logger="segmint.auth"):
        at = start("segments")
    assert not at.exception
    assert element_types(at.main) <= {"error"}
    assert "cannot work" in at.error[0].value and str(users_file) not in at.error[0].value
    assert "default_role 'owner'" in caplog.text and str(users_file) in caplog.text


def test_identity_provider_user_outside_the_allow_list_is_refused(users_file):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": "eve@other.org", "email_verified": True, "name": "Eve"}
    at.run()
    assert_only_login(at)
    assert "eve@other.org is not allowed" in at.error[0].value
    assert not has_login_form(at) or "Log out" in button_labels(at)


def test_identity_provider_user_on_the_allow_list_gets_the_default_role(users_file):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": "Pat@Example.com", "email_verified": True, "name": "Pat"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric
    assert any("Pat · viewer" in c.value for c in at.sidebar.caption)
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.get("file_uploader")


def test_unverified_identity_provider_email_is_refused(users_file):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": "pat@example.com", "email_verified": False}
    at.run()
    assert_only_login(at)
    assert "not verified" in at.error[0].value


def test_identity_provider_visitor_not_signed_in_sees_only_the_prompt(app_db, monkeypatch):
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": False}
    at.run()
    assert_only_login(at, also=frozenset({"warning"}))
    assert not has_login_form(at)  # no users file: identity provider only
    # a provider button, or (where Authlib is not installed) a warning that says how to get it
    assert "Log in" in button_labels(at) or "streamlit[auth]" in at.warning[0].value


# ------------------------------------------------------------------------------------------ incidents

RUNNER = """
import streamlit as st
from dashboard import components
page = st.navigation([st.Page({page!r}, title="Broken")])
components.run_page(page)
"""


def test_unexpected_error_shows_an_incident_id_and_logs_the_traceback(tmp_path, caplog):
    broken = tmp_path / "broken.py"
    broken.write_text(
        "import streamlit as st\nst.title('Half a page')\n"
        "raise RuntimeError('internal detail: /srv/secret/path.duckdb')\n"
    )
    at = AppTest.from_string(RUNNER.format(page=str(broken)), default_timeout=30)
    with caplog.at_level(logging.ERROR, logger="segmint.incidents"):
        at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Half a page"]
    message = at.error[0].value
    assert "incident" in message and "Traceback" not in message and "secret" not in message
    incident = message.split("**")[1]
    assert re.fullmatch(r"[0-9a-f]{8}", incident), incident  # an id to quote, nothing else
    records = [r for r in caplog.records if r.name == "segmint.incidents"]
    assert len(records) == 1 and incident in records[0].getMessage()
    assert records[0].exc_info[0] is RuntimeError
    assert "/srv/secret/path.duckdb" in caplog.text  # the full story is in the server log only


def test_engine_errors_still_show_their_own_message(tmp_path):
    page = tmp_path / "short.py"
    page.write_text(
        "import engine\nraise engine.InsufficientDataError('Segments need at least 10 customers; found 3.', 10, 3)\n"
    )
    at = AppTest.from_string(RUNNER.format(page=str(page)), default_timeout=30)
    at.run()
    assert not at.exception and not at.error
    assert at.info[0].value == "Segments need at least 10 customers; found 3."

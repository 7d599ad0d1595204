"""Identity-provider sign-in in a real browser: Streamlit's ``st.login`` against a local OpenID Connect
provider (tests/oidc_provider.py), then Segmint's allow-list and roles, and log out."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from engine import auth
from tests.conftest import REPO, assert_no_exception, wait_for_app
from tests.oidc_provider import Identity, OIDCProvider
from tests.support.server import HOST, free_port, running_server

pytestmark = pytest.mark.browser

CLIENT_ID = "segmint-test"
CLIENT_SECRET = "a-client-secret-only-the-provider-and-segmint-know"
VIEWER = Identity("pat@example.com", name="Pat Doe")  # admitted by the domain allow-list: default role
ANALYST = Identity("ana@example.com", name="Ana")  # listed in the users file as an analyst
STRANGER = Identity("eve@other.org", name="Eve")  # signed in at the provider, but not allowed here

NAV = '[data-testid="stSidebarNavLink"]'
DATA = '[data-testid="stMetric"], [data-testid="stDataFrame"], [data-testid="stPlotlyChart"]'


@pytest.fixture(scope="module")
def oidc_app(sample_db_file, tmp_path_factory) -> Iterator[tuple[str, OIDCProvider]]:
    """The provider, and a Segmint server whose ``[auth]`` secrets point at it; yields (app URL, provider).

    The app's port is chosen first because the redirect URI registered at the provider names it.
    """
    folder = tmp_path_factory.mktemp("oidc")
    db = folder / "server.duckdb"
    shutil.copy(sample_db_file, db)
    users = folder / "users.toml"
    users.write_text('[access]\nallowed_domains = ["example.com"]\ndefault_role = "viewer"\n')
    auth.add_user(users, ANALYST.email, "analyst", name=ANALYST.name)  # no password: provider only

    port = free_port()
    url = f"http://{HOST}:{port}"
    with OIDCProvider(CLIENT_ID, CLIENT_SECRET, url + "/oauth2callback", VIEWER) as provider:
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{provider.redirect_uri}"\n'
            'cookie_secret = "a-cookie-secret-that-is-long-enough-for-hs256"\n'
            f'client_id = "{CLIENT_ID}"\n'
            f'client_secret = "{CLIENT_SECRET}"\n'
            f'server_metadata_url = "{provider.metadata_url}"\n'
        )
        log_path = folder / "server.log"
        with running_server(
            db,
            log_path=log_path,
            port=port,
            env={auth.USERS_ENV: str(users)},
            args=("--secrets.files", str(secrets_file)),
        ) as server:
            assert server.url == url
            yield url, provider
    # A failed token exchange or ID-token check is only logged by the server (the browser just lands on
    # the prompt again): make it fail the run.
    server_log = log_path.read_text()
    assert "Traceback" not in server_log and "OAuth" not in server_log, server_log[-3000:]


def open_page(browser, url: str):
    """A fresh page in its own context (its own cookies: nobody is signed in yet)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    goto(page, url)
    return page


def goto(page, url: str) -> None:
    """Load ``url`` and wait until the app has drawn its first heading and finished the run."""
    page.goto(url)
    page.locator("h1").first.wait_for(timeout=60_000)
    wait_for_app(page)


def assert_only_prompt(page) -> None:
    """The sign-in prompt and nothing else: no navigation, no sidebar, no figures, tables or charts."""
    page.get_by_role("button", name=re.compile("^Log (in|out)$")).wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert [title.split()[-1] for title in page.locator("h1").all_inner_texts()] == ["Segmint"]
    assert page.locator(NAV).count() == 0
    assert page.locator('[data-testid="stSidebar"]').count() == 0
    assert page.locator(DATA).count() == 0


def sign_in(page, provider: OIDCProvider, identity: Identity) -> None:
    """Click "Log in": to the provider, which approves ``identity``, and back through /oauth2callback."""
    provider.identity = identity
    issued = provider.tokens_issued
    with page.expect_request(
        lambda request: "/oauth2callback?" in request.url and "code=" in request.url, timeout=30_000
    ):
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"), timeout=30_000)
    page.locator(f"{NAV}, [data-testid='stAlertContentError']").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert provider.tokens_issued == issued + 1  # the ID token really came from the provider


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def test_visitor_not_signed_in_sees_only_the_prompt_on_every_link(oidc_app, browser):
    url, provider = oidc_app
    page = open_page(browser, url)
    assert_only_prompt(page)
    assert page.get_by_role("button", name="Log in").count() == 1
    assert page.get_by_text("Password").count() == 0  # identity provider only: no password form
    goto(page, url + "/segments")  # a deep link (the Data page's is checked below)
    assert_only_prompt(page)
    page.context.close()


def test_viewer_signs_in_through_the_provider_sees_data_but_no_upload_then_logs_out(oidc_app, browser):
    url, provider = oidc_app
    page = open_page(browser, url + "/data")
    assert_only_prompt(page)
    sign_in(page, provider, VIEWER)
    page.locator("h1", has_text="Overview").wait_for(timeout=30_000)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    assert_no_exception(page)
    assert "Pat Doe · viewer" in sidebar_text(page)
    # every page the router registers (counted from dashboard/app.py, so a new page needs no edit here)
    registered = (REPO / "dashboard" / "app.py").read_text().count("st.Page(")
    assert page.locator(NAV).count() == registered

    page.locator(NAV, has_text="Data").click()
    page.locator("h1", has_text="Data").wait_for(timeout=30_000)
    page.get_by_text("Your role (viewer) can look at every page").wait_for(timeout=30_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    page.get_by_role("tab", name=re.compile("History")).click()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)  # the history is there to read
    assert page.get_by_role("button", name=re.compile("^(Undo|Reset)")).count() == 0

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"), timeout=30_000)
    assert_only_prompt(page)
    goto(page, url + "/data")  # the cookie is gone, not just this tab's session
    assert_only_prompt(page)
    page.context.close()


def test_analyst_listed_in_the_users_file_may_upload(oidc_app, browser):
    url, provider = oidc_app
    page = open_page(browser, url)
    sign_in(page, provider, ANALYST)
    assert "Ana · analyst" in sidebar_text(page)
    goto(page, url + "/data")
    assert_no_exception(page)
    page.locator('[data-testid="stFileUploader"]').wait_for(timeout=30_000)
    page.get_by_role("tab", name=re.compile("History")).click()
    page.get_by_role("button", name=re.compile("Reset everything to the sample data")).wait_for(
        timeout=30_000
    )
    page.context.close()


def test_provider_user_outside_the_allow_list_is_refused(oidc_app, browser):
    url, provider = oidc_app
    page = open_page(browser, url)
    sign_in(page, provider, STRANGER)
    assert_only_prompt(page)
    assert page.get_by_text("eve@other.org is not allowed to use this Segmint").count() == 1
    goto(page, url + "/segments")  # the refusal holds on a deep link too
    assert_only_prompt(page)
    assert page.get_by_text("is not allowed").count() == 1
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"), timeout=30_000)
    assert_only_prompt(page)
    assert page.get_by_text("is not allowed").count() == 0
    assert page.get_by_role("button", name="Log in").count() == 1
    page.context.close()

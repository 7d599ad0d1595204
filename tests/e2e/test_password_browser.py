"""A real browser signs in with a password and keeps its sign-in from page to page (the sign-in is bound to
the browser's own cookie, which a real browser sends on every connection)."""

from __future__ import annotations

import re
import shutil

import pytest

from engine import auth
from tests.conftest import assert_no_exception, wait_for_app
from tests.support.server import running_server

pytestmark = pytest.mark.browser


def test_password_sign_in_lasts_across_pages_in_a_real_browser(sample_db_file, browser, tmp_path):
    users = tmp_path / "segmint_users.toml"
    users.write_text('[access]\ndefault_role = "viewer"\n')
    auth.add_user(users, "vera@example.com", "viewer", "viewer-pass-1", name="Vera")
    db = tmp_path / "store.duckdb"
    shutil.copy(sample_db_file, db)
    with running_server(db, log_path=tmp_path / "server.log", env={auth.USERS_ENV: str(users)}) as server:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "/segments")
        wait_for_app(page)
        page.get_by_role("textbox", name="Email").fill("vera@example.com")
        page.get_by_role("textbox", name="Password").fill("viewer-pass-1")
        page.get_by_role("button", name=re.compile("Log in")).click()
        wait_for_app(page)
        page.get_by_text("Vera · viewer").wait_for(timeout=60_000)
        page.locator('[data-testid="stSidebarNavLink"]', has_text="Campaigns").click()
        wait_for_app(page)
        page.get_by_role("heading", name="Campaigns").first.wait_for(timeout=60_000)
        assert page.get_by_role("textbox", name="Password").count() == 0
        assert "Vera · viewer" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert_no_exception(page)
        page.close()

"""The dashboard's gate: who is signed in (a password from the users file, or an identity provider through
``st.login``), the sign-in prompt, and the role checks pages use (``can``, ``require``, ``explain``).

No users file (``$SEGMINT_USERS``) and no ``[auth]`` section in ``.streamlit/secrets.toml``: no login, the
local user may do everything. Otherwise every run is checked here before any page or data is shown.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import math
import time
from dataclasses import dataclass

import streamlit as st

from dashboard import upload_gate
from dashboard.components import server_log
from engine import auth as access

SESSION_KEY = "_segmint_signed_in"
SESSION_SECONDS = 12 * 3600
# What Streamlit's login needs on the server (``streamlit[auth]``): Authlib and an HTTP client for it (httpx,
# or its successor httpx2, which newer Authlib prefers). Without one, Authlib's client cannot be imported
# and "Log in" would end in a server error instead of the explanation in ``login_prompt``.
OIDC_MODULES: tuple[tuple[str, ...], ...] = (("authlib",), ("httpx", "httpx2"))


@dataclass(frozen=True)
class _Status:
    account: access.Account | None
    config: access.AccessConfig | None = None
    refusal: str | None = None
    error: access.AccessConfigError | None = None


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (identity-provider login)."""
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def login_required() -> bool:
    """Whether anyone must sign in: a users file or an identity provider is configured."""
    return access.users_path() is not None or oidc_configured()


def _fingerprint(password_hash: str | None) -> str:
    """Ties a password session to the hash it was opened with: a password reset ends old sessions."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


# Streamlit's XSRF cookie (SameSite=Lax, set by the server when the page loads, never in a URL): its token
# stays the same for one browser while the cookie value is re-masked on each page load.
XSRF_COOKIE = "_streamlit_xsrf"


def _xsrf_token(cookie: str) -> bytes:
    """The token inside an XSRF cookie value (``2|mask|masked token|time``, or plain hex), or b""."""
    value = cookie.strip("\"'")
    try:
        if value.startswith("2|"):
            _, mask_hex, masked_hex, _ = value.split("|")
            mask, masked = bytes.fromhex(mask_hex), bytes.fromhex(masked_hex)
            return bytes(b ^ mask[i % 4] for i, b in enumerate(masked)) if len(mask) == 4 else b""
        return bytes.fromhex(value)
    except ValueError:
        return b""


def _browser_key() -> str:
    """What ties a password sign-in to the browser that signed in: a digest of its XSRF cookie's token.

    A Streamlit session id shows up in upload URLs (and so in a proxy's access log), and a websocket that
    offers it reattaches to that session; it does not carry the victim's cookie, so this key differs and
    the sign-in does not follow it. Empty where the cookie is missing (XSRF protection turned off).
    """
    token = _xsrf_token(str(st.context.cookies.get(XSRF_COOKIE) or ""))
    return hashlib.sha256(b"segmint sign-in|" + token).hexdigest() if token else ""


def _oidc_providers() -> list[str | None]:
    """Named providers (``[auth.google]``...) or ``[None]`` for the single provider of ``[auth]``."""
    section = st.secrets["auth"]
    named = [name for name, value in section.items() if hasattr(value, "keys")]
    return named or [None]


def _resolve() -> _Status:
    if not login_required():
        return _Status(access.LOCAL_ACCOUNT)
    path = access.users_path()
    try:
        config = access.load_access(path) if path is not None else access.AccessConfig(source="no users file")
    except access.AccessConfigError as error:
        return _Status(None, error=error)
    signed = st.session_state.get(SESSION_KEY)
    if signed:
        email, since, fingerprint, browser = signed
        entry = config.user(email)
        if (
            entry is not None
            and entry.password_hash
            and _fingerprint(entry.password_hash) == fingerprint
            and time.monotonic() - since < SESSION_SECONDS
            and hmac.compare_digest(browser, _browser_key())
        ):
            return _Status(access.Account(entry.email, entry.role, entry.name, "password"), config)
        if not hmac.compare_digest(browser, _browser_key()):
            server_log("segmint.auth").warning("Sign-in of %s used from another browser: signed out", email)
        del st.session_state[SESSION_KEY]  # removed, password changed, expired, or another browser
    if oidc_configured() and st.user.get("is_logged_in") is True:
        email = str(st.user.get("email") or "")
        if not email:
            refusal = (
                "Your identity provider did not share an email address, so Segmint cannot check your access."
            )
        elif st.user.get("email_verified") is False:
            refusal = f"Your identity provider has not verified {email}."
        else:
            role = config.role_for(email)
            if role is not None:
                entry = config.user(email)
                name = str(st.user.get("name") or (entry.name if entry else ""))
                account = access.Account(access.normalise_email(email, strict=False), role, name, "oidc")
                return _Status(account, config)
            if not (config.users or config.allowed_emails or config.allowed_domains):
                refusal = (
                    f"You signed in as {email}, but no one is allowed in yet: the administrator lists people "
                    f"or domains in the users file (${access.USERS_ENV})."
                )
            else:
                refusal = f"{email} is not allowed to use this Segmint. Ask an admin to add you."
        return _Status(None, config, refusal=refusal)
    return _Status(None, config)


def account() -> access.Account | None:
    """The account signed in for this run (the local account when no login is configured), or None."""
    return _resolve().account


def can(action: str) -> bool:
    """Whether the person using this session may ``action`` (a key of ``engine.auth.ACTIONS``)."""
    current = account()
    return current is not None and current.can(action)


def explain(action: str) -> None:
    """Say why an action is not offered to this person."""
    current = account()
    role = current.role if current else "not signed in"
    st.info(
        f"Your role (**{role}**) can look at every page but not {access.ACTIONS[action]}. "
        "Ask an admin for the analyst role if you need to.",
        icon=":material/lock:",
    )


def require(action: str) -> None:
    """Stop the run with an explanation unless this person may ``action``."""
    if not can(action):
        explain(action)
        st.stop()


def signed_in() -> access.Account | None:
    """For the entry point: the account, or None when the sign-in prompt is due.

    A broken users file stops the run with a short message (the reason goes to the server log): the
    dashboard fails closed.
    """
    status = _resolve()
    if status.error is not None:
        # The reason names server paths: it goes to the server log, not to a visitor who is not signed in.
        server_log("segmint.auth").error("Sign-in is configured but cannot work: %s", status.error)
        st.error(
            "Sign-in is configured but cannot work right now, so Segmint shows nothing. The administrator "
            "finds the reason in the server log.",
            icon=":material/error:",
        )
        st.stop()
    # The server takes files only from sessions whose person may upload (dashboard.upload_gate).
    upload_gate.admit(status.account is not None and status.account.can("upload"))
    return status.account


def _password_login(config: access.AccessConfig, email: str, password: str) -> None:
    key = access.normalise_email(email, strict=False)
    client = st.context.ip_address or "this computer"  # None when the visitor connects from localhost
    guard = access.SIGN_IN_GUARD
    wait, why = guard.retry_after(key, client)
    if wait > 0:
        origin = "this address" if why == "address" else "your network address"
        st.error(
            f"Too many failed attempts for {origin}. Try again in {math.ceil(wait / 60)} minute(s).",
            icon=":material/timer:",
        )
        return
    signed = access.authenticate(config, key, password)
    if signed is None:
        guard.failed(key, client)
        server_log("segmint.auth").warning("Failed sign-in for %r from %s", key, client)
        st.error("Wrong email or password.", icon=":material/error:")
        return
    guard.succeeded(key)
    entry = config.user(signed.email)
    st.session_state[SESSION_KEY] = (
        signed.email,
        time.monotonic(),
        _fingerprint(entry.password_hash),
        _browser_key(),
    )
    server_log("segmint.auth").info("Signed in: %s (%s)", signed.email, signed.role)
    st.rerun()


def login_prompt() -> None:
    """Show only the sign-in prompt (no data, no navigation), then stop the run."""
    status = _resolve()
    config = status.config or access.AccessConfig()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/donut_large: Segmint")
        st.caption("Sign in to see your shop's segments, campaigns and recommendations.")
        if status.refusal:
            st.error(status.refusal, icon=":material/block:")
            if st.button("Log out", icon=":material/logout:", key="segmint_refused_logout"):
                st.logout()
        elif oidc_configured():
            if not all(any(importlib.util.find_spec(name) for name in names) for names in OIDC_MODULES):
                st.warning(
                    "Sign-in with an identity provider needs Authlib and httpx on the server: "
                    '`pip install "streamlit[auth]"`.',
                    icon=":material/warning:",
                )
            else:
                for provider in _oidc_providers():
                    label = f"Log in with {provider.title()}" if provider else "Log in"
                    if st.button(
                        label, type="primary", icon=":material/login:", key=f"segmint_oidc_{provider}"
                    ):
                        st.login(provider)
        if config.has_passwords:
            if oidc_configured():
                st.caption("Or with a Segmint password:")
            with st.form("segmint_login", clear_on_submit=True):
                email = st.text_input("Email", key="segmint_login_email", autocomplete="username")
                password = st.text_input("Password", type="password", autocomplete="current-password")
                submitted = st.form_submit_button("Log in", type="primary", icon=":material/login:")
            if submitted:
                _password_login(config, email, password)
        elif not oidc_configured():
            st.warning(
                f"No one can sign in yet: the users file {config.source} lists no password. "
                "Add one with `segmint user add EMAIL --role admin`.",
                icon=":material/warning:",
            )
    st.stop()


def account_box(current: access.Account) -> None:
    """Sidebar: who is signed in, their role, and a log-out button (nothing when no login is configured)."""
    if current.method == "none":
        return
    st.caption(f":material/person: {current.name or current.email} · {current.role}")
    if st.button("Log out", icon=":material/logout:", key="segmint_logout"):
        server_log("segmint.auth").info("Signed out: %s", current.email)
        if current.method == "oidc":
            st.logout()  # clears the identity cookie and starts a new session
            return
        st.session_state.clear()
        st.rerun()


__all__ = [
    "SESSION_KEY",
    "oidc_configured",
    "login_required",
    "account",
    "can",
    "explain",
    "require",
    "signed_in",
    "login_prompt",
    "account_box",
]

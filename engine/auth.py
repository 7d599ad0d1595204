"""Who may use the dashboard and what each role may do: the users file, password hashes, the allow-list
and the role table. Pure Python (no streamlit); ``dashboard/auth.py`` is the gate that uses it.

Authentication proves who someone is (a password checked here, or an identity provider through
Streamlit's ``st.login``); authorisation is decided here, from one TOML file::

    [access]
    allowed_domains = ["example.com"]     # identity-provider users at these domains are admitted
    allowed_emails = ["pat@agency.io"]    # and these addresses
    default_role = "viewer"               # role of an admitted person without a [[users]] entry

    [[users]]
    email = "ana@example.com"
    name = "Ana"
    role = "analyst"
    password_hash = "scrypt$16384$8$1$<salt>$<hash>"   # omit for identity-provider-only users

A person listed under ``[[users]]`` is always admitted with their role; anyone else only when the
allow-list names their address or domain (identity-provider login only: a password needs an entry).
"""

from __future__ import annotations

import argparse
import base64
import functools
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError

USERS_ENV = "SEGMINT_USERS"

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")

ACTIONS: dict[str, str] = {
    "view": "see the analysis pages and download their tables",
    "upload": "upload files and load them into the store",
    "undo": "undo a load",
    "reset": "reset the store to the sample data",
    "retrain": "change the recommendation settings, retrain and tune the model",
    "save_views": "save, rename and delete segments and views",
    "manage_users": "add and remove users",
}

# Business rule as data: which role may do what. Override by passing ``permissions=`` to ``role_can``.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "analyst": frozenset({"view", "upload", "undo", "reset", "retrain", "save_views"}),
    "admin": frozenset(ACTIONS),
}

MIN_PASSWORD_LENGTH = 8
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_MIN_ITERATIONS = 100_000
_MAX_SCRYPT_N = 2**20

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


class AccessConfigError(EngineError):
    """The users file cannot be read or holds something invalid; the message names the file and the fix."""


@dataclass(frozen=True)
class UserEntry:
    """One ``[[users]]`` entry: an email, a role, an optional display name and password hash."""

    email: str
    role: str
    name: str = ""
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Account:
    """The person using the dashboard in this session, and how they signed in.

    ``method`` is ``"password"``, ``"oidc"`` or ``"none"`` (no login configured: the local user).
    """

    email: str
    role: str
    name: str = ""
    method: str = "password"

    def can(self, action: str) -> bool:
        """Whether this account's role allows ``action`` (a key of ``ACTIONS``)."""
        return role_can(self.role, action)


LOCAL_ACCOUNT = Account(email="", role="admin", name="Local user", method="none")


@dataclass(frozen=True)
class AccessConfig:
    """The parsed users file: listed users, the allow-list and the role of admitted unlisted people."""

    users: tuple[UserEntry, ...] = ()
    allowed_emails: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    default_role: str = "viewer"
    source: str = ""

    def user(self, email: str) -> UserEntry | None:
        """The entry for ``email`` (any case), or None."""
        wanted = normalise_email(email, strict=False)
        return next((u for u in self.users if u.email == wanted), None)

    @property
    def has_passwords(self) -> bool:
        """Whether anyone can sign in with a password (so the dashboard shows a password form)."""
        return any(u.password_hash for u in self.users)

    def is_allowed(self, email: str) -> bool:
        """Listed users, and addresses or domains on the allow-list (exact domain match, no subdomains)."""
        address = normalise_email(email, strict=False)
        if not _EMAIL.match(address):
            return False
        if self.user(address) is not None or address in self.allowed_emails:
            return True
        return address.rsplit("@", 1)[1] in self.allowed_domains

    def role_for(self, email: str) -> str | None:
        """The role of an identity-provider user: their entry's role, ``default_role`` when the allow-list
        admits them, None when they are not allowed."""
        entry = self.user(email)
        if entry is not None:
            return entry.role
        return self.default_role if self.is_allowed(email) else None


def role_can(role: str, action: str, permissions: Mapping[str, frozenset[str]] | None = None) -> bool:
    """Whether ``role`` may perform ``action``.

    Parameters
    ----------
    role : str
        One of ``ROLES`` (an unknown role may do nothing).
    action : str
        A key of ``ACTIONS``; an unknown action is a programming error and raises ``KeyError``.
    permissions : mapping, optional
        Role -> allowed actions; defaults to ``ROLE_PERMISSIONS``.
    """
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}; known actions: {', '.join(ACTIONS)}")
    table = ROLE_PERMISSIONS if permissions is None else permissions
    return action in table.get(role, frozenset())


def normalise_email(email: str, *, strict: bool = True) -> str:
    """Lower-case, trimmed address; with ``strict`` raise ``AccessConfigError`` unless it looks like a@b."""
    address = str(email).strip().lower()
    if strict and not _EMAIL.match(address):
        raise AccessConfigError(f"{email!r} is not an email address (write it as name@example.com).")
    return address


# ------------------------------------------------------------------------------------------ passwords


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` to store in the users file.

    The format is ``scrypt$N$r$p$<salt base64>$<hash base64>``; a fresh 16-byte random salt is drawn
    unless ``salt`` is given (tests only).
    """
    salt = os.urandom(16) if salt is None else salt
    digest = _scrypt(password.encode("utf-8"), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r * p + 2**20)


def _parse_hash(stored: str) -> tuple[str, tuple[int, ...], bytes, bytes] | None:
    """(scheme, parameters, salt, digest) of a stored hash, or None when it is not a hash we make."""
    parts = str(stored).split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            if not (2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
                return None
            params: tuple[int, ...] = (n, r, p)
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            params = (int(parts[1]),)
            if not PBKDF2_MIN_ITERATIONS <= params[0] <= 10_000_000:
                return None
        else:
            return None
        salt = base64.b64decode(parts[-2], validate=True)
        digest = base64.b64decode(parts[-1], validate=True)
    except ValueError:
        return None
    if len(salt) < 8 or len(digest) < 16:
        return None
    return parts[0], params, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (scrypt or ``pbkdf2_sha256$iterations$salt$hash``).

    The comparison takes constant time; a malformed stored hash never matches.
    """
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    scheme, params, salt, digest = parsed
    secret = password.encode("utf-8")
    if scheme == "scrypt":
        n, r, p = params
        candidate = _scrypt(secret, salt, n, r, p, len(digest))
    else:
        candidate = hashlib.pbkdf2_hmac("sha256", secret, salt, params[0], len(digest))
    return hmac.compare_digest(candidate, digest)


@functools.cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong address takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def authenticate(config: AccessConfig, email: str, password: str) -> Account | None:
    """The account for a correct email and password, or None (the same answer for any kind of failure)."""
    entry = config.user(email)
    if entry is None or not entry.password_hash:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, entry.password_hash):
        return None
    return Account(email=entry.email, role=entry.role, name=entry.name, method="password")


def check_password_policy(password: str, email: str = "") -> None:
    """Raise ``AccessConfigError`` when a new password is too short or is the email address itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessConfigError(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if email and password.strip().lower() == email.strip().lower():
        raise AccessConfigError("The password must not be the email address.")


# ------------------------------------------------------------------------------------------ the file


def parse_access(data: Mapping[str, Any], source: str = "users file") -> AccessConfig:
    """Validate a parsed users file (a mapping as read from TOML) into an ``AccessConfig``.

    Raises
    ------
    AccessConfigError
        For unknown sections or keys, an unknown role, a malformed email or domain, a duplicate user or
        a password hash that is not ours; the message names ``source`` and the fix.
    """
    unknown = set(data) - {"access", "users"}
    if unknown:
        raise AccessConfigError(
            f"{source}: unknown section(s) {', '.join(sorted(unknown))}; use [access] and [[users]]."
        )
    access = data.get("access", {})
    if not isinstance(access, Mapping):
        raise AccessConfigError(f"{source}: [access] must be a table.")
    unknown = set(access) - {"allowed_emails", "allowed_domains", "default_role"}
    if unknown:
        raise AccessConfigError(
            f"{source}: unknown key(s) in [access]: {', '.join(sorted(unknown))} "
            "(known: allowed_emails, allowed_domains, default_role)."
        )

    def _strings(key: str) -> list[str]:
        value = access.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AccessConfigError(f'{source}: [access] {key} must be a list of strings, e.g. ["a", "b"].')
        return value

    emails = frozenset(normalise_email(e) for e in _strings("allowed_emails"))
    domains = set()
    for raw in _strings("allowed_domains"):
        domain = raw.strip().lower().lstrip("@")
        if not _DOMAIN.match(domain) or "." not in domain:
            raise AccessConfigError(
                f"{source}: {raw!r} in allowed_domains is not a domain (write example.com)."
            )
        domains.add(domain)
    default_role = access.get("default_role", "viewer")
    if default_role not in ROLES:
        raise AccessConfigError(f"{source}: default_role {default_role!r} is not one of {', '.join(ROLES)}.")

    rows = data.get("users", [])
    if not isinstance(rows, list):
        raise AccessConfigError(f"{source}: users must be written as [[users]] tables.")
    users: list[UserEntry] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{source}: user {number}"
        if not isinstance(row, Mapping):
            raise AccessConfigError(f"{where} must be a [[users]] table.")
        unknown = set(row) - {"email", "role", "name", "password_hash"}
        if unknown:
            raise AccessConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}.")
        if "email" not in row:
            raise AccessConfigError(f"{where} has no email.")
        email = normalise_email(row["email"])
        where = f"{source}: user {email}"
        if email in seen:
            raise AccessConfigError(f"{where} is listed twice; keep one entry.")
        seen.add(email)
        role = row.get("role", "viewer")
        if role not in ROLES:
            raise AccessConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}.")
        password_hash = row.get("password_hash") or None
        if password_hash is not None and _parse_hash(password_hash) is None:
            raise AccessConfigError(
                f"{where}: password_hash is not a hash Segmint understands (scrypt$... or pbkdf2_sha256$...). "
                f"Set it with: segmint user add {email} --role {role}"
            )
        users.append(UserEntry(email, role, str(row.get("name", "")), password_hash))
    return AccessConfig(tuple(users), emails, frozenset(domains), default_role, source)


def load_access(path: str | os.PathLike) -> AccessConfig:
    """Read and validate the users file at ``path`` (raises ``AccessConfigError`` naming the file)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise AccessConfigError(
            f"The users file {path} does not exist. Create it with `segmint user add EMAIL --role admin` "
            f"or unset {USERS_ENV}."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise AccessConfigError(f"The users file {path} cannot be read: {error}.") from error
    except tomllib.TOMLDecodeError as error:
        raise AccessConfigError(f"The users file {path} is not valid TOML: {error}.") from error
    return parse_access(data, source=str(path))


def _toml_string(value: str) -> str:
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _toml_list(values: frozenset[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in sorted(values)) + "]"


def render_access(config: AccessConfig) -> str:
    """The TOML text of ``config`` (what ``write_access`` stores); users in the order given."""
    lines = [
        "# Segmint users and access rules. `segmint user add|remove` rewrites this file (comments are not kept).",
        "# Roles: viewer (read only), analyst (upload, undo, retrain, reset), admin (everything).",
        "",
        "[access]",
        f"allowed_domains = {_toml_list(config.allowed_domains)}",
        f"allowed_emails = {_toml_list(config.allowed_emails)}",
        f"default_role = {_toml_string(config.default_role)}",
    ]
    for user in config.users:
        lines += ["", "[[users]]", f"email = {_toml_string(user.email)}", f"role = {_toml_string(user.role)}"]
        if user.name:
            lines.append(f"name = {_toml_string(user.name)}")
        if user.password_hash:
            lines.append(f"password_hash = {_toml_string(user.password_hash)}")
    return "\n".join(lines) + "\n"


def write_access(config: AccessConfig, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` atomically, readable by its owner only (it holds password hashes)."""
    path = Path(path)
    text = render_access(config)
    parse_access(tomllib.loads(text), source=str(path))  # never write a file we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def add_user(
    path: str | os.PathLike,
    email: str,
    role: str,
    password: str | None = None,
    *,
    name: str | None = None,
    keep_password: bool = False,
) -> UserEntry:
    """Add a user to the users file, or change an existing one's role, name or password.

    Parameters
    ----------
    path : path-like
        The users file; created (mode 600) when missing.
    email, role : str
        The address (stored lower-case) and one of ``ROLES``.
    password : str, optional
        Hashed with scrypt and a fresh salt. None: the user signs in through the identity provider only
        (or keeps their current password with ``keep_password``).
    name : str, optional
        Display name; None keeps the current one.
    keep_password : bool
        Change only the role or name of a listed user.
    """
    address = normalise_email(email)
    if role not in ROLES:
        raise AccessConfigError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    config = load_access(path) if Path(path).exists() else AccessConfig(source=str(path))
    current = config.user(address)
    if password is not None:
        check_password_policy(password, address)
        password_hash = hash_password(password)
    elif keep_password:
        if current is None:
            raise AccessConfigError(
                f"{address} is not listed yet: give a password, or none for identity-provider login."
            )
        password_hash = current.password_hash
    else:
        password_hash = None
    entry = UserEntry(
        address, role, name if name is not None else (current.name if current else ""), password_hash
    )
    others = tuple(u for u in config.users if u.email != address)
    if current is None:
        users = (*others, entry)
    else:
        users = tuple(entry if u.email == address else u for u in config.users)
    write_access(
        AccessConfig(users, config.allowed_emails, config.allowed_domains, config.default_role), path
    )
    return entry


def remove_user(path: str | os.PathLike, email: str) -> bool:
    """Remove a user from the users file; False when they were not listed."""
    config = load_access(path)
    address = normalise_email(email)
    users = tuple(u for u in config.users if u.email != address)
    if len(users) == len(config.users):
        return False
    write_access(
        AccessConfig(users, config.allowed_emails, config.allowed_domains, config.default_role), path
    )
    return True


def users_path() -> Path | None:
    """The users file named by ``$SEGMINT_USERS``, or None when login by password is not configured."""
    value = os.environ.get(USERS_ENV, "").strip()
    return Path(value) if value else None


# ------------------------------------------------------------------------------------------ throttling


class LoginThrottle:
    """Failed sign-ins per key (an email): after ``max_failures`` within ``window`` seconds the key is
    locked for ``lockout`` seconds. Thread-safe; one instance per server process.

    Parameters
    ----------
    max_failures : int
    window, lockout : float
        Seconds.
    clock : callable
        Returns seconds; ``time.monotonic`` by default (tests pass a fake).
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 900.0,
        lockout: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may try now)."""
        with self._lock:
            until = self._locked_until.get(key, 0.0)
            left = until - self.clock()
            if left <= 0 and key in self._locked_until:
                del self._locked_until[key]
            return max(left, 0.0)

    def failed(self, key: str) -> None:
        """Record a failed attempt for ``key``; may start a lockout."""
        with self._lock:
            now = self.clock()
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lockout
                recent = []
            self._failures[key] = recent
            if len(self._failures) > 10_000:  # bound memory under a spray of made-up addresses
                self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < self.window}

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` after a successful sign-in."""
        with self._lock:
            self._failures.pop(key, None)

    def reset(self) -> None:
        """Forget everything (a fresh server process; tests that start one in this process)."""
        with self._lock:
            self._failures.clear()
            self._locked_until.clear()


class SignInGuard:
    """Failed password sign-ins counted per address (5 in 15 minutes lock it for 15 minutes) and per client
    network address (20 in 15 minutes, whatever addresses they tried, lock that client out).

    One instance per server process, kept at module level (``SIGN_IN_GUARD``): never in Streamlit's caches,
    which any client may clear with one message. Behind a reverse proxy every client has the proxy's address,
    so the per-client limit then holds for everyone at once; the per-address limit is unchanged.
    """

    def __init__(self, per_address: LoginThrottle | None = None, per_client: LoginThrottle | None = None):
        self.per_address = per_address or LoginThrottle()
        self.per_client = per_client or LoginThrottle(max_failures=20)

    def retry_after(self, email: str, client: str) -> tuple[float, str]:
        """Seconds to wait and why (``"address"`` or ``"client"``); ``(0, "")`` when a try is allowed."""
        for wait, why in (
            (self.per_address.retry_after(email), "address"),
            (self.per_client.retry_after(client), "client"),
        ):
            if wait > 0:
                return wait, why
        return 0.0, ""

    def failed(self, email: str, client: str) -> None:
        self.per_address.failed(email)
        self.per_client.failed(client)

    def succeeded(self, email: str) -> None:
        """A right password clears its address's count, never the client's (or a valid account could
        reset the count between guesses at others)."""
        self.per_address.succeeded(email)

    def reset(self) -> None:
        self.per_address.reset()
        self.per_client.reset()


SIGN_IN_GUARD = SignInGuard()


# ------------------------------------------------------------------------------------------ command line


def user_command(
    argv: list[str],
    *,
    read_password: Callable[[str], str] = getpass.getpass,
    stdin=None,
    out: Callable[[str], None] = print,
) -> int:
    """``segmint user add|remove|list``: manage the users file named by ``--file`` or ``$SEGMINT_USERS``."""
    parser = argparse.ArgumentParser(
        prog="segmint user", description=f"Manage the dashboard's users file (--file or ${USERS_ENV})."
    )
    parser.add_argument("action", choices=("add", "remove", "list"))
    parser.add_argument("email", nargs="?")
    parser.add_argument("--role", choices=ROLES, default=None, help="default: viewer for a new user")
    parser.add_argument("--name", default=None, help="display name")
    parser.add_argument("--file", default=os.environ.get(USERS_ENV) or None, help=f"default: ${USERS_ENV}")
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first input line"
    )
    how.add_argument(
        "--no-password",
        action="store_true",
        help="no password: the user signs in through the identity provider",
    )
    how.add_argument(
        "--keep-password", action="store_true", help="change only the role or name of a listed user"
    )
    args = parser.parse_args(argv)
    if not args.file:
        raise AccessConfigError(f"Say which users file to change: --file PATH, or set {USERS_ENV}=PATH.")
    if args.action == "list":
        config = load_access(args.file)
        for user in config.users:
            out(
                f"{user.email:<40} {user.role:<8} {'password' if user.password_hash else 'identity provider'}"
            )
        if config.allowed_domains or config.allowed_emails:
            out(
                "Also admitted as "
                + config.default_role
                + ": "
                + ", ".join(sorted(config.allowed_emails) + ["@" + d for d in sorted(config.allowed_domains)])
            )
        return 0
    if not args.email:
        parser.error(f"{args.action} needs an EMAIL")
    if args.action == "remove":
        removed = remove_user(args.file, args.email)
        out(f"Removed {args.email}." if removed else f"{args.email} was not listed in {args.file}.")
        return 0 if removed else 1
    existing = load_access(args.file).user(args.email) if Path(args.file).exists() else None
    role = args.role or (existing.role if existing else "viewer")
    password = None
    if args.password_stdin:
        password = (stdin or sys.stdin).readline().rstrip("\r\n")
    elif not (args.no_password or args.keep_password):
        password = read_password(f"Password for {args.email}: ")
        check_password_policy(password, args.email)
        if read_password("Repeat the password: ") != password:
            raise AccessConfigError("The two passwords differ; nothing was changed.")
    entry = add_user(args.file, args.email, role, password, name=args.name, keep_password=args.keep_password)
    out(
        f"{'Updated' if existing else 'Added'} {entry.email} as {entry.role} in {args.file}. "
        f"The dashboard asks for a login when started with {USERS_ENV}={Path(args.file).resolve()}."
    )
    return 0


__all__ = [
    "USERS_ENV",
    "ROLES",
    "ACTIONS",
    "ROLE_PERMISSIONS",
    "MIN_PASSWORD_LENGTH",
    "AccessConfigError",
    "UserEntry",
    "Account",
    "LOCAL_ACCOUNT",
    "AccessConfig",
    "role_can",
    "normalise_email",
    "hash_password",
    "verify_password",
    "authenticate",
    "check_password_policy",
    "parse_access",
    "load_access",
    "render_access",
    "write_access",
    "add_user",
    "remove_user",
    "users_path",
    "LoginThrottle",
    "user_command",
]

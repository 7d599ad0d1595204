"""Users file, password hashes, allow-list, roles and the sign-in throttle."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import tomllib

import pytest

from engine import auth
from engine.auth import AccessConfig, AccessConfigError, UserEntry

SALT = b"0123456789abcdef"


def test_scrypt_hash_matches_hashlib_and_verifies():
    stored = auth.hash_password("correct horse", salt=SALT)
    scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert base64.b64decode(salt_b64) == SALT
    expected = hashlib.scrypt(b"correct horse", salt=SALT, n=16384, r=8, p=1, dklen=32)
    assert base64.b64decode(digest_b64) == expected
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horsE", stored)
    assert not auth.verify_password("", stored)


def test_each_hash_gets_its_own_salt():
    first, second = auth.hash_password("same password"), auth.hash_password("same password")
    assert first != second
    assert auth.verify_password("same password", first) and auth.verify_password("same password", second)


def test_pbkdf2_hashes_are_accepted():
    digest = hashlib.pbkdf2_hmac("sha256", b"s3cret-pass", SALT, 200_000)
    stored = f"pbkdf2_sha256$200000${base64.b64encode(SALT).decode()}${base64.b64encode(digest).decode()}"
    assert auth.verify_password("s3cret-pass", stored)
    assert not auth.verify_password("s3cret-pasS", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext-password",
        "scrypt$16384$8$1$notbase64!$AAAA",
        "scrypt$1000$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,  # N not a power of two
        "pbkdf2_sha256$10$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,  # too few iterations
        "md5$abc$def",
    ],
)
def test_malformed_hashes_never_match(stored):
    assert not auth.verify_password("anything", stored)


def test_role_table():
    assert auth.role_can("viewer", "view")
    for action in ("upload", "undo", "reset", "retrain", "manage_users"):
        assert not auth.role_can("viewer", action)
    for action in ("view", "upload", "undo", "reset", "retrain"):
        assert auth.role_can("analyst", action)
    assert not auth.role_can("analyst", "manage_users")
    assert all(auth.role_can("admin", action) for action in auth.ACTIONS)
    assert not auth.role_can("intruder", "view")
    with pytest.raises(KeyError, match="unknown action"):
        auth.role_can("admin", "delete_everything")


def test_role_table_can_be_overridden():
    permissions = {"viewer": frozenset({"view", "retrain"})}
    assert auth.role_can("viewer", "retrain", permissions)
    assert not auth.role_can("analyst", "view", permissions)


def test_allow_list_domains_emails_and_listed_users():
    config = AccessConfig(
        users=(UserEntry("contractor@gmail.com", "analyst"),),
        allowed_emails=frozenset({"pat@agency.io"}),
        allowed_domains=frozenset({"example.com"}),
        default_role="viewer",
    )
    assert config.role_for("Ana@Example.com ") == "viewer"
    assert config.role_for("pat@agency.io") == "viewer"
    assert config.role_for("contractor@gmail.com") == "analyst"
    assert config.role_for("eve@other.org") is None
    assert config.role_for("eve@evilexample.com") is None  # exact domain, no suffix match
    assert config.role_for("eve@sub.example.com") is None  # and no subdomains
    assert config.role_for("example.com") is None
    assert config.role_for("") is None


def test_empty_config_admits_no_one():
    assert AccessConfig().role_for("ana@example.com") is None


def test_parse_normalises_and_validates():
    config = auth.parse_access(
        {
            "access": {
                "allowed_domains": ["@Example.COM"],
                "allowed_emails": ["Pat@Agency.io"],
                "default_role": "analyst",
            },
            "users": [{"email": " Ana@Example.com", "role": "admin", "name": "Ana"}],
        }
    )
    assert config.allowed_domains == frozenset({"example.com"})
    assert config.allowed_emails == frozenset({"pat@agency.io"})
    assert config.default_role == "analyst"
    assert config.users == (UserEntry("ana@example.com", "admin", "Ana", None),)
    assert not config.has_passwords


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"acess": {}}, "unknown section"),
        ({"access": {"allowed_domain": []}}, "unknown key"),
        ({"access": {"allowed_domains": "example.com"}}, "list of strings"),
        ({"access": {"allowed_domains": ["not a domain"]}}, "not a domain"),
        ({"access": {"default_role": "owner"}}, "default_role 'owner'"),
        ({"users": [{"role": "viewer"}]}, "no email"),
        ({"users": [{"email": "nobody"}]}, "not an email"),
        ({"users": [{"email": "a@b.c", "role": "root"}]}, "role 'root'"),
        ({"users": [{"email": "a@b.c"}, {"email": "A@b.c"}]}, "listed twice"),
        ({"users": [{"email": "a@b.c", "password_hash": "hunter2"}]}, "segmint user add a@b.c"),
        ({"users": [{"email": "a@b.c", "password": "hunter2"}]}, "unknown key"),
    ],
)
def test_parse_rejects_bad_files(data, message):
    with pytest.raises(AccessConfigError, match=message):
        auth.parse_access(data, source="users.toml")


def test_load_names_the_file(tmp_path):
    with pytest.raises(AccessConfigError, match="does not exist"):
        auth.load_access(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[access\n")
    with pytest.raises(AccessConfigError, match=r"broken\.toml is not valid TOML"):
        auth.load_access(broken)


def test_add_change_and_remove_users(tmp_path):
    path = tmp_path / "users.toml"
    auth.add_user(path, "Ana@Example.com", "analyst", "analyst-pass", name="Ana")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    auth.add_user(path, "boss@example.com", "admin")  # identity-provider user: no password
    config = auth.load_access(path)
    assert [(u.email, u.role, bool(u.password_hash)) for u in config.users] == [
        ("ana@example.com", "analyst", True),
        ("boss@example.com", "admin", False),
    ]
    first_hash = config.user("ana@example.com").password_hash

    auth.add_user(path, "ana@example.com", "viewer", keep_password=True)  # role change only
    ana = auth.load_access(path).user("ana@example.com")
    assert (ana.role, ana.name, ana.password_hash) == ("viewer", "Ana", first_hash)

    auth.add_user(path, "ana@example.com", "viewer", "a-new-password")  # password reset
    assert auth.authenticate(auth.load_access(path), "ana@example.com", "a-new-password") is not None
    assert auth.authenticate(auth.load_access(path), "ana@example.com", "analyst-pass") is None

    assert auth.remove_user(path, "ANA@example.com")
    assert not auth.remove_user(path, "ana@example.com")
    assert [u.email for u in auth.load_access(path).users] == ["boss@example.com"]


def test_written_file_keeps_the_allow_list_and_escapes_strings(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text('[access]\nallowed_domains = ["example.com"]\ndefault_role = "analyst"\n')
    auth.add_user(path, "zoe@example.com", "viewer", "zoe-password", name='Zoë "Z" \\ O\'Neil\n')
    data = tomllib.loads(path.read_text())
    assert data["access"] == {
        "allowed_domains": ["example.com"],
        "allowed_emails": [],
        "default_role": "analyst",
    }
    assert data["users"][0]["name"] == 'Zoë "Z" \\ O\'Neil\n'


def test_add_user_refuses_weak_passwords_and_bad_roles(tmp_path):
    path = tmp_path / "users.toml"
    with pytest.raises(AccessConfigError, match="at least 8"):
        auth.add_user(path, "ana@example.com", "viewer", "short")
    with pytest.raises(AccessConfigError, match="must not be the email"):
        auth.add_user(path, "ana@example.com", "viewer", "ANA@example.com")
    with pytest.raises(AccessConfigError, match="not one of"):
        auth.add_user(path, "ana@example.com", "superuser", "long enough pw")
    with pytest.raises(AccessConfigError, match="not listed yet"):
        auth.add_user(path, "ana@example.com", "viewer", keep_password=True)
    assert not path.exists()


def test_authenticate():
    config = AccessConfig(
        users=(
            UserEntry("ana@example.com", "analyst", "Ana", auth.hash_password("analyst-pass", salt=SALT)),
            UserEntry("boss@example.com", "admin"),  # no password: identity provider only
        )
    )
    account = auth.authenticate(config, " ANA@example.com", "analyst-pass")
    assert account == auth.Account("ana@example.com", "analyst", "Ana", "password")
    assert account.can("upload") and not account.can("manage_users")
    assert auth.authenticate(config, "ana@example.com", "wrong-pass") is None
    assert auth.authenticate(config, "nobody@example.com", "analyst-pass") is None
    assert auth.authenticate(config, "boss@example.com", "") is None


def test_throttle_locks_after_repeated_failures():
    now = [1000.0]
    throttle = auth.LoginThrottle(max_failures=3, window=60, lockout=300, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("ana@example.com")
    assert throttle.retry_after("ana@example.com") == 0
    throttle.failed("ana@example.com")
    assert throttle.retry_after("ana@example.com") == 300
    assert throttle.retry_after("other@example.com") == 0
    now[0] += 299
    assert throttle.retry_after("ana@example.com") == 1
    now[0] += 1
    assert throttle.retry_after("ana@example.com") == 0


def test_throttle_forgets_old_failures_and_successes():
    now = [0.0]
    throttle = auth.LoginThrottle(max_failures=3, window=60, lockout=300, clock=lambda: now[0])
    throttle.failed("ana@example.com")
    throttle.failed("ana@example.com")
    now[0] = 61  # outside the window: the two failures no longer count
    throttle.failed("ana@example.com")
    assert throttle.retry_after("ana@example.com") == 0
    throttle.failed("ana@example.com")
    throttle.succeeded("ana@example.com")
    throttle.failed("ana@example.com")
    assert throttle.retry_after("ana@example.com") == 0


def test_guard_counts_per_address_and_per_client_and_success_clears_only_the_address():
    now = [0.0]
    guard = auth.SignInGuard(
        auth.LoginThrottle(max_failures=3, window=60, lockout=300, clock=lambda: now[0]),
        auth.LoginThrottle(max_failures=4, window=60, lockout=600, clock=lambda: now[0]),
    )
    guard.failed("ana@example.com", "10.0.0.1")
    guard.failed("ana@example.com", "10.0.0.1")
    guard.succeeded("ana@example.com")  # a right password: ana's count starts again, the client's does not
    guard.failed("bo@example.com", "10.0.0.1")
    assert guard.retry_after("ana@example.com", "10.0.0.1") == (0.0, "")
    guard.failed("cy@example.com", "10.0.0.1")  # the client's fourth failure
    assert guard.retry_after("ana@example.com", "10.0.0.1") == (600.0, "client")
    assert guard.retry_after("ana@example.com", "10.0.0.2") == (0.0, "")
    for _ in range(3):
        guard.failed("dee@example.com", "10.0.0.3")
    assert guard.retry_after("dee@example.com", "10.0.0.9") == (300.0, "address")
    guard.reset()
    assert guard.retry_after("dee@example.com", "10.0.0.1") == (0.0, "")


def test_user_command_add_list_remove(tmp_path):
    path = str(tmp_path / "users.toml")
    printed: list[str] = []
    answers = iter(["viewer-pass-1", "viewer-pass-1"])
    code = auth.user_command(
        ["add", "vera@example.com", "--file", path], read_password=lambda _: next(answers), out=printed.append
    )
    assert code == 0 and "Added vera@example.com as viewer" in printed[-1]
    code = auth.user_command(
        ["add", "ana@example.com", "--role", "analyst", "--password-stdin", "--file", path],
        stdin=io.StringIO("analyst-pass-1\n"),
        out=printed.append,
    )
    assert code == 0
    config = auth.load_access(path)
    assert auth.authenticate(config, "vera@example.com", "viewer-pass-1").role == "viewer"
    assert auth.authenticate(config, "ana@example.com", "analyst-pass-1").role == "analyst"

    printed.clear()
    auth.user_command(["list", "--file", path], out=printed.append)
    assert [line.split()[:2] for line in printed] == [
        ["vera@example.com", "viewer"],
        ["ana@example.com", "analyst"],
    ]

    mismatched = iter(["first-password", "second-password"])
    with pytest.raises(AccessConfigError, match="differ"):
        auth.user_command(["add", "x@example.com", "--file", path], read_password=lambda _: next(mismatched))
    assert auth.user_command(["remove", "vera@example.com", "--file", path], out=printed.append) == 0
    assert [u.email for u in auth.load_access(path).users] == ["ana@example.com"]


def test_user_command_needs_a_file(monkeypatch):
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    with pytest.raises(AccessConfigError, match="--file PATH"):
        auth.user_command(["add", "ana@example.com", "--no-password"])


def test_segmint_user_is_dispatched_by_the_cli(tmp_path, monkeypatch, capsys):
    from engine import cli

    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-password-1\n"))
    assert (
        cli.main(
            ["user", "add", "ana@example.com", "--role", "analyst", "--password-stdin", "--file", str(path)]
        )
        == 0
    )
    assert auth.load_access(path).user("ana@example.com").role == "analyst"
    assert cli.main(["user", "add", "bad", "--no-password", "--file", str(path)]) == 2
    assert "not an email address" in capsys.readouterr().err

"""A small OpenID Connect provider on 127.0.0.1 for tests: sign-in through ``st.login`` without the internet.

It implements the authorization-code flow as a real provider does, so the dashboard's login is checked by
Streamlit and Authlib exactly as in production: a discovery document, ``/authorize`` (approves the
configured person at once, with no form), ``/token`` (checks the code, the client's secret and the PKCE
verifier, and returns an ID token signed RS256 with the request's nonce), ``/jwks`` and ``/userinfo``.
The signing key is generated at start and never leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["Identity", "OIDCProvider"]

TOKEN_SECONDS = 300


@dataclass(frozen=True)
class Identity:
    """The person the provider signs in: the claims it puts into the ID token and ``/userinfo``."""

    email: str
    name: str = ""
    email_verified: bool = True

    @property
    def subject(self) -> str:
        """A stable opaque user id (``sub``), derived from the address as providers keep one per person."""
        return hashlib.sha256(self.email.encode()).hexdigest()[:20]

    def claims(self) -> dict[str, Any]:
        """The identity claims (``sub``, ``email``, ``email_verified`` and ``name`` when there is one)."""
        found: dict[str, Any] = {
            "sub": self.subject,
            "email": self.email,
            "email_verified": self.email_verified,
        }
        if self.name:
            found["name"] = self.name
        return found


@dataclass
class _Grant:
    identity: Identity
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    expires: float


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass
class OIDCProvider:
    """An OpenID Connect provider for one client, served from a thread; use it as a context manager.

    Parameters
    ----------
    client_id, client_secret : str
        The only client the provider knows; ``/token`` refuses any other.
    redirect_uri : str
        The client's registered callback; ``/authorize`` redirects nowhere else.
    identity : Identity
        Who signs in; change the attribute between sign-ins to sign in someone else.

    Attributes
    ----------
    issuer : str
        ``http://127.0.0.1:<port>``, known once started; the discovery document is at ``metadata_url``.
    requests : list of str
        Paths served, in order (``"/authorize"``, ``"/token"``...), so a test can see the flow happened.
    tokens_issued : int
        ID tokens handed out by ``/token``.
    """

    client_id: str
    client_secret: str
    redirect_uri: str
    identity: Identity
    requests: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)
    _key_id: str = field(init=False)
    _grants: dict[str, _Grant] = field(init=False, default_factory=dict, repr=False)
    _access_tokens: dict[str, Identity] = field(init=False, default_factory=dict, repr=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)
    _server: ThreadingHTTPServer | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = secrets.token_hex(8)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> OIDCProvider:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        provider = self

        class Handler(_Handler):
            pass

        Handler.provider = provider
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        """The provider's base URL, which is also the ``iss`` of its tokens."""
        if self._server is None:
            raise RuntimeError("the provider is not running: call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        """The discovery document's URL (``server_metadata_url`` in Streamlit's ``[auth]`` secrets)."""
        return self.issuer + "/.well-known/openid-configuration"

    # ------------------------------------------------------------------------------------------ documents

    def metadata(self) -> dict[str, Any]:
        """The OpenID discovery document."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
            ],
        }

    def jwks(self) -> dict[str, Any]:
        """The public signing key as a JSON Web Key Set."""
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._key_id}
        return {"keys": [key | {"n": _int_b64url(numbers.n), "e": _int_b64url(numbers.e)}]}

    def id_token(self, identity: Identity, nonce: str | None) -> str:
        """A compact JWS (RS256) ID token for ``identity``, audience this client, valid ``TOKEN_SECONDS``."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + TOKEN_SECONDS}
        claims |= identity.claims()
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"alg": "RS256", "typ": "JWT", "kid": self._key_id}
        signing_input = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    # ------------------------------------------------------------------------------------------ endpoints

    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Approve ``identity`` at once: redirect to the client's callback with a one-time code and state."""
        if params.get("client_id") != self.client_id or params.get("redirect_uri") != self.redirect_uri:
            return (
                400,
                {},
                {"error": "invalid_request", "error_description": "unknown client or redirect_uri"},
            )
        query: dict[str, str] = {"state": params["state"]} if "state" in params else {}
        scopes = params.get("scope", "").split()
        if params.get("response_type") != "code" or "openid" not in scopes:
            query["error"] = "unsupported_response_type" if "openid" in scopes else "invalid_scope"
        elif params.get("code_challenge") and params.get("code_challenge_method") != "S256":
            query["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = _Grant(
                    self.identity,
                    self.redirect_uri,
                    params.get("nonce"),
                    params.get("code_challenge"),
                    time.time() + 60,
                )
            query["code"] = code
        return 302, {"Location": self.redirect_uri + "?" + urlencode(query)}, None

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, str], Any]:
        """Exchange a code for tokens after checking the client, the redirect URI and the PKCE verifier."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, client_secret = (unquote(part) for part in decoded.partition(":"))
        if client_id != self.client_id or not secrets.compare_digest(client_secret or "", self.client_secret):
            return 401, {"WWW-Authenticate": "Basic"}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.expires < time.time() or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {}, {"error": "invalid_grant"}
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant.identity
            self.tokens_issued += 1
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": "openid email profile",
            "id_token": self.id_token(grant.identity, grant.nonce),
        }
        return 200, {"Cache-Control": "no-store"}, body

    def userinfo(self, authorization: str | None) -> tuple[int, dict[str, str], Any]:
        """The claims of the person an access token was issued to."""
        token = (authorization or "").removeprefix("Bearer ")
        identity = self._access_tokens.get(token)
        if identity is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        return 200, {}, identity.claims()


class _Handler(BaseHTTPRequestHandler):
    provider: OIDCProvider

    def log_message(self, *args: Any) -> None:
        pass  # keep test output clean; ``provider.requests`` records the paths

    def _reply(self, status: int, headers: dict[str, str], body: Any) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        params = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._reply(200, {}, self.provider.metadata())
        elif url.path == "/jwks":
            self._reply(200, {}, self.provider.jwks())
        elif url.path == "/authorize":
            self._reply(*self.provider.authorize(params))
        elif url.path == "/userinfo":
            self._reply(*self.provider.userinfo(self.headers.get("Authorization")))
        else:
            self._reply(404, {}, {"error": "not_found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path == "/token":
            self._reply(*self.provider.token(form, self.headers.get("Authorization")))
        else:
            self._reply(404, {}, {"error": "not_found"})

"""Who is calling and what they may do: bearer tokens to a `Principal`, and `require(scope)` per operation.

Two kinds of bearer token are accepted:

* OAuth 2.0 JWT access tokens (RFC 9068) of the configured OpenID issuer (`OIDC_ISSUER`), checked against its JWKS
  (found through discovery, cached, refreshed when a token names an unknown `kid`, at most once per
  `OIDC_JWKS_MIN_REFRESH_SECONDS`). Campus systems get them with the client-credentials grant (`sub` equals
  `client_id`: a *system*); a student's token carries the configured claim (`OIDC_STUDENT_CLAIM`) naming the
  student (a *student*, who sees only their own data). Only asymmetric signatures are accepted.
* Static tokens (`API_TOKENS`, demo only): `name:token:scope scope...` entries separated by `;`; each is a *demo*
  principal with exactly the scopes listed.

Failed attempts are counted per client address; past `AUTH_FAILURES_PER_MINUTE` the address gets 429 with
Retry-After until its oldest failure is a minute old. The count is in memory, per replica.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jwt
from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPBearer

log = logging.getLogger(__name__)

Kind = Literal["system", "student", "demo"]

ASYMMETRIC_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
"""Signatures accepted on access tokens: never `none`, never HS* (a shared secret would let any holder mint)."""

_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)
"""RFC 6750 §2.1: `Bearer` then a b64token."""

PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "example")
MIN_TOKEN_LENGTH = 32


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. A student principal sees only data of `student_id`."""

    subject: str
    scopes: frozenset[str]
    kind: Kind
    student_id: str | None = None

    def sees(self, student_id: str) -> bool:
        """Whether this caller may see data of that student (systems and the demo see every student)."""
        return self.kind != "student" or self.student_id == student_id


class StaticTokenError(ValueError):
    """An API_TOKENS entry that must not be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class StaticToken:
    name: str
    token: str = field(repr=False)
    scopes: frozenset[str]

    def __str__(self) -> str:
        return f"{self.name}:<{len(self.token)} characters>:{' '.join(sorted(self.scopes))}"


def parse_static_tokens(value: str | list[str] | list[StaticToken]) -> list[StaticToken]:
    """`name:token:scope scope...` entries separated by `;` (or given as a list) -> static tokens.

    Refuses (StaticTokenError) an entry without a name or scopes, a placeholder or a token shorter than 32
    characters, so a service configured with one does not start."""
    entries: list[Any] = [part for part in value.split(";")] if isinstance(value, str) else list(value)
    tokens = [entry if isinstance(entry, StaticToken) else _static_token(entry) for entry in entries if entry]
    names = [token.name for token in tokens]
    if len(set(names)) != len(names):
        raise StaticTokenError("API_TOKENS: two entries have the same name")
    return tokens


def _static_token(entry: str) -> StaticToken:
    entry = entry.strip()
    name, _, rest = entry.partition(":")
    token, separator, scopes = rest.partition(":")
    name, token = name.strip(), token.strip()
    if not separator or not name or not token or not scopes.split():
        # Not the entry itself in the message: a bare token would end up in the logs.
        raise StaticTokenError(
            "an API_TOKENS entry does not look like name:token:scope1 scope2 (entries separated by ';'); "
            "a bare token has no scopes and is refused"
        )
    lowered = token.lower()
    if lowered.startswith("<") or any(word in lowered for word in PLACEHOLDERS):
        raise StaticTokenError(f"API_TOKENS entry {name!r} has a placeholder token; generate one (see README)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise StaticTokenError(
            f"API_TOKENS entry {name!r}: the token has {len(token)} characters, at least {MIN_TOKEN_LENGTH} are "
            'required; e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return StaticToken(name=name, token=token, scopes=frozenset(scopes.split()))


class InvalidToken(Exception):
    """The token is not one we accept; the reason is logged, never told to the caller in detail."""


class StaticTokenVerifier:
    def __init__(self, tokens: list[StaticToken]) -> None:
        self._tokens = [(entry, entry.token.encode()) for entry in tokens]

    def verify(self, token: str) -> Principal:
        presented = token.encode()
        found: StaticToken | None = None
        # Every entry is compared, in constant time, so timing says neither which entry nor how much matched.
        for entry, secret in self._tokens:
            if hmac.compare_digest(presented, secret):
                found = entry
        if found is None:
            raise InvalidToken("unknown static token")
        return Principal(subject=f"static:{found.name}", scopes=found.scopes, kind="demo")


class JwksCache:
    """The issuer's signing keys: fetched through discovery, refetched for an unknown kid at most every
    `min_refresh` seconds (an attacker sending random kids must not make us hammer the issuer)."""

    def __init__(self, issuer: str, min_refresh: float, max_age: float = 3600) -> None:
        self.issuer = issuer
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        if self._fetched_at is None or time.monotonic() - self._fetched_at > self._max_age:
            await self._refresh()
        elif kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise InvalidToken(f"no key {kid!r} in the issuer's JWKS")
        return found

    async def _refresh(self) -> None:
        # Imported here: httpx is about 1 MiB of every process's memory as deployed (3 where rich is installed,
        # which its command line imports), and only a service configured with an OpenID issuer fetches keys.
        import httpx

        asked_at = time.monotonic()
        async with self._lock:
            if self._fetched_at is not None and self._fetched_at >= asked_at:
                return  # another request refreshed while this one waited for the lock
            try:
                discovery = await self._get_json(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
                if discovery.get("issuer") != self.issuer:
                    raise InvalidToken("the discovery document names another issuer")
                jwks = await self._get_json(str(discovery["jwks_uri"]))
            except (httpx.HTTPError, KeyError, ValueError) as error:
                self._fetched_at = time.monotonic()  # retried after min_refresh, not at every request
                raise InvalidToken(f"the issuer's keys could not be fetched: {type(error).__name__}") from error
            keys: dict[str, jwt.PyJWK] = {}
            for entry in jwks.get("keys", []):
                if entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                try:
                    key = jwt.PyJWK(entry)
                except jwt.PyJWKError:
                    continue  # a key type we do not use (e.g. an encryption key)
                if key.algorithm_name in ASYMMETRIC_ALGORITHMS:
                    keys[entry["kid"]] = key
            self._keys, self._fetched_at = keys, time.monotonic()
            log.info("fetched the issuer's signing keys", extra={"key_ids": sorted(keys)})

    async def _get_json(self, url: str) -> dict[str, Any]:
        import httpx

        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:  # refreshes are rare
            response = await client.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body


class JwtVerifier:
    """RFC 9068 access tokens of one issuer for one audience (this service)."""

    def __init__(self, jwks: JwksCache, audience: str, student_claim: str | None, leeway: float) -> None:
        self._jwks = jwks
        self._audience = audience
        self._student_claim = student_claim
        self._leeway = leeway

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("not a JWS") from error
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidToken("typ is not at+jwt")
        if header.get("alg") not in ASYMMETRIC_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken("alg not accepted or no kid")
        key = await self._jwks.key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ASYMMETRIC_ALGORITHMS),
                audience=self._audience,
                issuer=self._jwks.issuer,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "client_id"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from error
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope", "")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        subject = str(claims["sub"])
        student = claims.get(self._student_claim) if self._student_claim else None
        if student is not None:
            if not isinstance(student, str) or not student:
                raise InvalidToken("the student claim is not a string")
            return Principal(subject=subject, scopes=scopes, kind="student", student_id=student)
        if subject == str(claims["client_id"]):
            return Principal(subject=subject, scopes=scopes, kind="system")
        # A person who is no student (no student claim): nothing here is theirs to see. Fail closed.
        raise InvalidToken("a user token without the student claim")


class FailureLimiter:
    """At most `limit` failed authentications per client address per `window` seconds (in memory, per replica)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds the address must wait, or None when it may try."""
        failures = self._failures.get(address)
        if not failures:
            return None
        now = time.monotonic()
        while failures and now - failures[0] >= self._window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        if len(failures) < self._limit:
            return None
        return max(1, int(self._window - (now - failures[0])) + 1)

    def failed(self, address: str) -> None:
        if len(self._failures) > 100_000:  # bound memory under a spray of addresses: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque()).append(time.monotonic())


def _unauthorised(message: str, error: str | None = "invalid_token") -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge})


class Authenticator:
    """Turns a request's Authorization header into a Principal (or a 401 / 429) and guards operations by scope."""

    def __init__(
        self,
        static: StaticTokenVerifier | None,
        jwt_verifier: JwtVerifier | None,
        limiter: FailureLimiter,
    ) -> None:
        self._static = static
        self._jwt = jwt_verifier
        self._limiter = limiter
        # Only documents the scheme in OpenAPI (so /docs offers "Authorize"); the guard reads the header itself.
        self._scheme = HTTPBearer(
            auto_error=False, description="An OAuth 2.0 access token, or (demo) an API_TOKENS one."
        )

    async def authenticate(self, request: Request) -> Principal:
        raw = [value for name, value in request.scope.get("headers", []) if name == b"authorization"]
        address = request.client.host if request.client else "unknown"
        if not raw or not any(value[:7].lower() == b"bearer " for value in raw):
            # No bearer credentials at all (none, or another scheme such as Basic): RFC 6750 §3.1, no error code.
            raise _unauthorised("a bearer token is required (Authorization: Bearer <token>)", error=None)
        wait = self._limiter.retry_after(address)
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many failed authentications from this address; try again later",
                headers={"Retry-After": str(wait)},
            )
        try:
            return await self._verify(raw)
        except InvalidToken as error:
            self._limiter.failed(address)
            log.info("authentication refused", extra={"reason": str(error)[:200], "client": address})
            raise _unauthorised("the bearer token is not valid") from None

    async def _verify(self, raw: list[bytes]) -> Principal:
        if len(raw) != 1:
            raise InvalidToken("more than one Authorization header")
        try:
            header = raw[0].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken("a non-ASCII Authorization header") from None
        match = _BEARER.match(header)
        if match is None:
            raise InvalidToken("not a Bearer b64token")
        token = match.group(1)
        if token.count(".") == 2 and self._jwt is not None:
            return await self._jwt.verify(token)
        if self._static is not None:
            return self._static.verify(token)
        raise InvalidToken("no verifier for this token")


# Only documents the scheme in OpenAPI (so /docs offers "Authorize"); the guard reads the header itself.
_SCHEME = HTTPBearer(auto_error=False, description="An OAuth 2.0 access token, or (demo) one of API_TOKENS.")


def require(scope: str, *, systems_only: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's Principal when it holds `scope` (401 without a valid token, 403 without the
    scope), authenticated by the app's `state.authenticator`. `systems_only`: a student's token is refused even
    with the scope (operations over every student's data)."""

    async def guard(request: Request, _documented: Annotated[Any, Security(_SCHEME)]) -> Principal:
        authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
        if authenticator is None:  # an app built without one serves nobody (fail closed)
            raise _unauthorised("this service accepts no tokens")
        principal = await authenticator.authenticate(request)
        if scope not in principal.scopes or (systems_only and principal.kind == "student"):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this token lacks the scope {scope!r}"
                if scope not in principal.scopes
                else "a student's token may not do this",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        request.state.principal = principal
        return principal

    guard.__name__ = f"require_{scope.replace(':', '_')}"
    return guard

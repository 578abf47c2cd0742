"""A real OpenID provider (npm oidc-provider, tests/oidc/provider.mjs) on a free port, and how tests get tokens.

Keys, client secrets and the cookie key are generated per run. The provider can be restarted with a rotated key
set (the new key first, the old one still published) and a second one can run with another issuer URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).parent
RESOURCES = {"enrolment": "urn:mc:enrolment", "billing": "urn:mc:billing", "certification": "urn:mc:certification"}
STUDENTS = {"amira.account": "s0100001", "bram.account": "s0100002"}
"""Accounts of two students at the provider -> the student ids their tokens carry in the student_id claim."""
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the code is read from the redirect itself
SYSTEM_CLIENTS = {
    "student-administration": "enrolments:read enrolments:write",
    "finance-office": "billing:read billing:export operations",
    "registrar": "credentials:read credentials:revoke credentials:offer",
    "short-lived": "billing:read",
}
STUDENT_SCOPES = (
    "openid enrolments:read enrolments:write billing:read billing:export credentials:read credentials:revoke "
    "credentials:offer"
)


def signing_key() -> dict[str, Any]:
    """A fresh ES256 private JWK with a random kid."""
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    return {**jwk, "kid": secrets.token_hex(8), "alg": "ES256", "use": "sig"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OpenIdProvider:
    workdir: Path
    keys: list[dict[str, Any]]
    port: int = field(default_factory=free_port)
    secrets: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        keys_file = self.workdir / f"jwks-{self.port}.json"
        keys_file.write_text(json.dumps({"keys": self.keys}))
        clients = [
            {
                "client_id": client_id,
                "client_secret": self.secrets.setdefault(client_id, secrets.token_urlsafe(32)),
                "grant_types": ["client_credentials"],
                "response_types": [],
                "redirect_uris": [],
                "scope": scope,
            }
            for client_id, scope in SYSTEM_CLIENTS.items()
        ]
        clients.append(
            {
                "client_id": "student-portal",
                "client_secret": self.secrets.setdefault("student-portal", secrets.token_urlsafe(32)),
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "redirect_uris": [REDIRECT_URI],
                "scope": STUDENT_SCOPES,
            }
        )
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_ISSUER": self.issuer,
            "OIDC_JWKS_FILE": str(keys_file),
            "OIDC_CLIENTS": json.dumps(clients),
            "OIDC_STUDENTS": json.dumps(STUDENTS),
            "OIDC_SHORT_LIVED_CLIENT": "short-lived",
            "OIDC_COOKIE_KEY": secrets.token_urlsafe(32),
        }
        log = (self.workdir / f"provider-{self.port}.log").open("ab")
        self.process = subprocess.Popen(["node", "provider.mjs"], cwd=HERE, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"oidc-provider did not start: {(self.workdir / f'provider-{self.port}.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def rotate(self) -> None:
        """A new signing key first; the old one stays published (tokens it signed stay valid until they expire)."""
        self.stop()
        self.keys = [signing_key(), *self.keys]
        self.start()

    def system_token(self, client_id: str, service: str, scope: str | None = None) -> str:
        response = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "client_credentials",
                "resource": RESOURCES[service],
                "scope": scope or SYSTEM_CLIENTS[client_id],
            },
            auth=(client_id, self.secrets[client_id]),
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def student_token(self, account: str, service: str, scope: str = STUDENT_SCOPES) -> str:
        """The authorization-code flow with PKCE, following the provider's redirects through login and consent."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        with httpx.Client(base_url=self.issuer) as browser:
            response = browser.get(
                "/auth",
                params={
                    "client_id": "student-portal",
                    "response_type": "code",
                    "redirect_uri": REDIRECT_URI,
                    "scope": scope,
                    "resource": RESOURCES[service],
                    "login_hint": account,
                    "state": secrets.token_urlsafe(8),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            for _ in range(10):
                location = response.headers.get("location", "")
                if location.startswith(REDIRECT_URI):
                    break
                if not response.is_redirect:
                    raise RuntimeError(f"the provider stopped at {response.status_code}: {response.text[:300]}")
                response = browser.get(location)
            query = parse_qs(urlsplit(location).query)
            if "code" not in query:
                raise RuntimeError(f"no code: {query}")
            token = browser.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                    "resource": RESOURCES[service],
                },
                auth=("student-portal", self.secrets["student-portal"]),
            )
        token.raise_for_status()
        return str(token.json()["access_token"])


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    if shutil.which("node") is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node and tests/oidc/node_modules are needed (./dev setup runs npm ci in tests/oidc)")
    provider = OpenIdProvider(workdir=tmp_path_factory.mktemp("oidc"), keys=[signing_key()])
    provider.start()
    yield provider
    provider.stop()

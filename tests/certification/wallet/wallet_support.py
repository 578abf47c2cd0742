"""The certification service as a real uvicorn process on a free port, fed through its own event handlers, and the
Node wallet and verifiers run against it as outside programs.

A learner's credential comes about as in production: the catalogue entry, the enrolment and the passed courses
are applied by the service's Kafka handlers (in this process, on the service's database); the service then
holds the credential and has queued the notification with the offer and its PIN (CredentialOfferCreated), which
the test reads from the outbox as the notification system would receive it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import create_issuer, migrate
from certification.config import CertificationSettings
from certification.entrypoints.kafka import event_handlers
from reliability.database import create_database_engine
from sqlalchemy.engine import Engine

from tests.certification.certification_support import (
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
    queued_events,
)

HERE = Path(__file__).parent
INTEROP = HERE.parent / "interop"
OFFER_SCHEME = "openid-credential-offer://"
MAX_PIN_ATTEMPTS = 3
"""The service's OFFER_MAX_PIN_ATTEMPTS here (not its default), so the attempt-limit test states its own limit."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """The running service: its public base URL, the token of an operator and of a reader, its database."""

    base_url: str
    engine: Engine
    issuer: Issuer
    operator_token: str
    reader_token: str
    log: Path

    def issue_credential(self, enrolment_id: str) -> str:
        """A learner passes every course of the heritage micro-credential; the id of the credential issued."""
        handlers = event_handlers(self.issuer)
        apply(self.engine, handlers, enrolment_created(enrolment_id), *passes(enrolment_id))
        row = credential_of(self.engine, enrolment_id)
        assert row is not None, f"no credential for {enrolment_id}"
        return str(row.id)

    def notified_offer(self, enrolment_id: str) -> dict[str, Any]:
        """The newest CredentialOfferCreated for the enrolment, as the notification system receives it."""
        events = [e for e in queued_events(self.engine, "CredentialOfferCreated") if e.subject == enrolment_id]
        assert events, f"no CredentialOfferCreated queued for {enrolment_id}"
        return events[-1].data.model_dump(mode="json")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)


def service_environment(database_url: str, base_url: str, port: int, api_tokens: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": base_url,
        "HTTP_PORT": str(port),
        "CREDENTIAL_SIGNING_KEY": generate_secret_key(),
        "SIGNING_KEY_ID": "key-2026",
        "IDENTITY_SALT": "wallet-interop-identity-salt",
        "API_TOKENS": api_tokens,
        # DEV_MODE (allowed on a localhost base URL only) lets keys the test does not set be ephemeral.
        "DEV_MODE": "true",
        "LOG_LEVEL": "WARNING",
        "OFFER_MAX_PIN_ATTEMPTS": str(MAX_PIN_ATTEMPTS),
        # One canonicalisation worker with a generous budget: the test machine is shared, and what is checked
        # here is the verdict, not how fast it comes (tests/certification/service tests the bounds).
        "VERIFY_WORKERS": "1",
        "VERIFY_TIME_BUDGET_SECONDS": "60",
    }


def _settings_of(environment: Mapping[str, str]) -> CertificationSettings:
    saved = dict(os.environ)
    try:
        os.environ.update(environment)
        return CertificationSettings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 240  # a start-up deadline, not a measurement: CI machines are shared
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited ({process.returncode}):\n{log.read_text()[-4000:]}"
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the service did not become healthy:\n{log.read_text()[-4000:]}")


@contextmanager
def running_service(database_url: str, workdir: Path, tokens: tuple[str, str]) -> Iterator[Service]:
    """The service process (serve.py: settings from the environment, as `python -m certification`), with the
    heritage micro-credential published; stopped and its database engine disposed afterwards."""
    operator, reader = tokens
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_tokens = (
        f"registrar:{operator}:credentials:read credentials:revoke credentials:offer;learner-portal:{reader}:"
        "credentials:read"
    )
    environment = service_environment(database_url, base_url, port, api_tokens)
    settings = _settings_of(environment)
    issuer = create_issuer(settings)
    migrate(database_url)
    engine = create_database_engine(database_url)
    apply(engine, event_handlers(issuer), heritage_published())
    log = workdir / "certification.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "serve.py")], env={**os.environ, **environment}, stdout=out, stderr=out
        )
    try:
        _wait_until_healthy(process, base_url, log)
        yield Service(base_url, engine, issuer, operator, reader, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        engine.dispose()


def run_node(node: str, script: Path, payload: Mapping[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(script)], input=json.dumps(payload), capture_output=True, text=True, timeout=180, cwd=script.parent
    )
    assert done.stdout.strip(), f"{script.name} printed nothing; stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert not result.get("crashed"), f"{script.name} crashed: {result}\n{done.stderr}"
    return result


def wallet(node: str, **payload: Any) -> dict[str, Any]:
    return run_node(node, HERE / "wallet.mjs", payload)


def sd_jwt(node: str, **payload: Any) -> dict[str, Any]:
    return run_node(node, HERE / "sdjwt.mjs", payload)


def digital_bazaar(node: str, credential: Mapping[str, Any], documents: Mapping[str, Any]) -> dict[str, Any]:
    return run_node(node, INTEROP / "verify.mjs", {"credential": credential, "documents": documents})


def offer_uri_of(qr_payload: str) -> str:
    """The credential_offer_uri a wallet reads from the QR payload (openid-credential-offer://?...)."""
    assert qr_payload.startswith(OFFER_SCHEME), qr_payload
    return parse_qs(urlsplit(qr_payload).query)["credential_offer_uri"][0]


def documents_for(service: Service, credential: Mapping[str, Any]) -> dict[str, Any]:
    """What a verifier of the W3C edition fetches from the issuer, fetched here over HTTP: the issuer's controller
    document, the service's own JSON-LD contexts and the status list the credential points at."""
    issuer = credential["issuer"]
    urls = [issuer["id"] if isinstance(issuer, dict) else issuer]
    urls += [c for c in credential["@context"] if isinstance(c, str) and c.startswith(service.base_url)]
    status = credential.get("credentialStatus")
    statuses = status if isinstance(status, list) else [status] if status else []
    urls += [entry["statusListCredential"] for entry in statuses]
    with service.client() as client:
        return {url: client.get(url).raise_for_status().json() for url in urls}

"""The HTTP trust boundary before any token is looked at: body limit, malformed Authorization headers, the
per-address failure limit; and static (demo) tokens that must not start a service."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from enrolment.adapters.catalogue import load_catalogue
from enrolment.config import EnrolmentSettings
from enrolment.entrypoints.http import create_app
from enrolment.store import Database, migrate
from pydantic import ValidationError
from reliability.database import create_database_engine
from sqlalchemy import text

from tests.enrolment.enrolment_support import enrolment_request

TOKEN = secrets.token_urlsafe(32)
MIB = 1024 * 1024


def settings(url: str, **overrides: object) -> EnrolmentSettings:
    return EnrolmentSettings(database_url=url, api_tokens=f"registry:{TOKEN}:enrolments:read", **overrides)  # type: ignore[arg-type]


@pytest.fixture
def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path}/enrolment.db"
    migrate(url)
    return Database(create_database_engine(url))


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(str(database.engine.url)), database, load_catalogue())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://enrolment") as client:
        yield client


def enrolments(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM enrolment")).scalar_one())


async def test_an_oversized_body_without_a_token_is_413_before_it_is_read(client, database):
    declared = await client.post(
        "/enrolments", content=b"{" + b" " * (2 * MIB) + b"}", headers={"Content-Type": "application/json"}
    )

    async def chunks():  # no Content-Length: the body streams (chunked) and is counted as it arrives
        for _ in range(20):
            yield b" " * (128 * 1024)

    streamed = await client.post("/enrolments", content=chunks(), headers={"Content-Type": "application/json"})

    assert declared.status_code == 413 and declared.json()["error"]["status"] == 413
    assert streamed.status_code == 413
    assert "www-authenticate" not in declared.headers  # refused before authentication was even tried
    assert enrolments(database) == 0


async def test_a_body_within_the_limit_reaches_authentication(client):
    # Valid JSON: FastAPI answers unparseable JSON (422) before dependencies run; otherwise the guard runs first.
    body = b"{" + b" " * (MIB - 10) + b"}"
    response = await client.post("/enrolments", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "value",
    [
        "Bearer tökén".encode(),
        b"Bearer \xff\xfe\x00",
        "Bearer ünïcødé-but-long-enough-to-be-a-token-0123456789".encode("latin-1"),
        b"Bearer",
        b"Bearer a b c",
        b"Bearer " + b"A" * 9000,
    ],
)
async def test_a_malformed_or_non_ascii_authorization_header_is_401_never_500(client, value):
    response = await client.get("/enrolments", params={"student_id": "s1"}, headers=[(b"Authorization", value)])
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


async def test_failed_authentication_is_rate_limited_per_client_address(database):
    app = create_app(settings(str(database.engine.url), auth_failures_per_minute=5), database, load_catalogue())
    attacker = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    colleague = httpx.ASGITransport(app=app, client=("198.51.100.2", 40000))
    good = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(transport=attacker, base_url="http://enrolment") as guessing,
        httpx.AsyncClient(transport=colleague, base_url="http://enrolment") as other,
    ):
        guesses = [
            (await guessing.get("/enrolments/enr-1", headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}))
            for _ in range(6)
        ]
        blocked_even_with_the_right_token = await guessing.get("/enrolments/enr-1", headers=good)
        from_elsewhere = await other.get("/enrolments/enr-1", headers=good)

    assert [response.status_code for response in guesses] == [401] * 5 + [429]
    assert int(guesses[-1].headers["retry-after"]) > 0
    assert blocked_even_with_the_right_token.status_code == 429
    assert from_elsewhere.status_code == 404  # authenticated; the enrolment simply does not exist


@pytest.mark.parametrize(
    ("api_tokens", "reason"),
    [
        ("registry:change-me-operator-token-0123456789abcdef:enrolments:read", "placeholder"),
        ("registry:<generate-a-token-of-32-characters-or-more>:enrolments:read", "placeholder"),
        (f"registry:{secrets.token_urlsafe(12)}:enrolments:read", "at least 32"),
        (secrets.token_urlsafe(32), "name:token:scope1"),
        (f"registry:{secrets.token_urlsafe(32)}:", "name:token:scope1"),
    ],
)
def test_a_placeholder_short_or_scopeless_static_token_refuses_to_start(monkeypatch, api_tokens, reason):
    monkeypatch.setenv("API_TOKENS", api_tokens)
    with pytest.raises(ValidationError) as refused:
        EnrolmentSettings()
    assert reason in str(refused.value)
    token = api_tokens.split(":")[1] if ":" in api_tokens else api_tokens
    assert token not in str(refused.value)  # the refusal does not print the secret


async def test_a_static_token_has_exactly_its_scopes(client):
    token = {"Authorization": f"Bearer {TOKEN}"}
    read = await client.get("/enrolments", params={"student_id": "s1"}, headers=token)
    write = await client.post("/enrolments", json=enrolment_request("s1"), headers=token)
    assert read.status_code == 200 and read.json() == []
    assert write.status_code == 403 and write.headers["www-authenticate"].startswith(
        'Bearer error="insufficient_scope"'
    )

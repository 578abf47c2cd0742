"""Billing's HTTP API through the ASGI app: tokens, statement, reimbursement export (JSON and CSV), 404s."""

from __future__ import annotations

import csv
import io
import secrets

import httpx
import pytest
from billing import usecases
from billing.config import BillingSettings
from billing.entrypoints.http import create_app
from billing.store import Database, Store
from reliability.database import transaction

from tests.billing.billing_support import (
    API_TOKENS,
    TOKEN,
    brussels,
    catalogue_of,
    enrolment_cancelled,
    enrolment_created,
    record_catalogue,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANOTHER_TOKEN = secrets.token_urlsafe(32)
TWO_SEMESTERS = (("A", "6", 1), ("B", "4", 2), ("C", "1.5", 2))


@pytest.fixture
async def client(engine, uantwerp_en):
    """Three enrolments: enr-1 cancelled in the middle window, enr-2 invoiced only, enr-3 (next year) cancelled;
    plus a cancellation of enr-9 whose enrolment has not arrived."""
    enrolments = (
        enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33", student_id="=cmd|'/C:calc'!A0"),
        enrolment_created("enr-2", microcredential_id="mc-other"),
        enrolment_created("enr-3", academic_year="2027-2028", enrolled_at=brussels(2027, 6, 1, 9)),
    )
    record_catalogue(engine, uantwerp_en, *catalogue_of(*enrolments))
    with transaction(engine) as session:
        for event in enrolments:
            usecases.bill_enrolment_event(Store(session), event, uantwerp_en)
        for event in (
            enrolment_cancelled("enr-1", brussels(2027, 2, 1, 12), event_id="cancel-1"),
            enrolment_cancelled("enr-3", brussels(2027, 7, 1, 12), event_id="cancel-3"),
            enrolment_cancelled("enr-9", brussels(2026, 10, 1, 12), event_id="cancel-9"),
        ):
            usecases.bill_enrolment_event(Store(session), event, uantwerp_en)
    settings = BillingSettings(
        api_tokens=f"{API_TOKENS};other:{ANOTHER_TOKEN}:billing:read billing:export operations",
        database_url="sqlite://",
    )
    app = create_app(settings, Database(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
        yield client


FINANCIAL_PATHS = (
    "/enrolments/enr-1/statement",
    "/reimbursements",
    "/reimbursements?academic_year=2026-2027",
    "/cancellations/pending",
)


async def test_financial_endpoints_need_a_known_bearer_token(client):
    for path in FINANCIAL_PATHS:
        missing = await client.get(path)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer", path
        assert missing.json()["error"]["status"] == 401
        wrong = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401 and wrong.json()["error"]["status"] == 401, path
        assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"', path
        basic = await client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401, path
        assert (await client.get(path, headers={"Authorization": f"Bearer {ANOTHER_TOKEN}"})).status_code == 200, path


async def test_no_configured_token_refuses_everyone(engine):
    app = create_app(BillingSettings(api_tokens=[], database_url="sqlite://"), Database(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
        response = await client.get("/reimbursements", headers={"Authorization": "Bearer "})
        assert response.status_code == 401
        assert (await client.get("/reimbursements", headers=AUTH)).status_code == 401


async def test_operations_and_docs_are_open(client):
    health = await client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "checks": {"database": "ok"}}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "events_consumed_total" in metrics.text
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/enrolments/{enrolment_id}/statement", "/reimbursements", "/cancellations/pending"} <= set(paths)


async def test_statement_of_a_cancelled_enrolment(client):
    response = await client.get("/enrolments/enr-1/statement", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    # Invoice: 6 x 33.33 = 199.98; 5.5 x 33.33 = 183.315 -> 183.32; + 245.00 = 628.30.
    # Cancelled 1 February 2027: middle window, only the second-semester line comes back.
    assert body == {
        "enrolment_id": "enr-1",
        "student_id": "=cmd|'/C:calc'!A0",
        "microcredential_id": "mc-test",
        "academic_year": "2026-2027",
        "currency": "EUR",
        "enrolled_at": "2026-09-01T08:00:00Z",
        "status": "cancelled",
        "invoice": {
            "event_id": usecases.invoice_event_id("enr-1"),
            "currency": "EUR",
            "lines": [
                {"semester": 1, "credits": "6", "amount": "199.98"},
                {"semester": 2, "credits": "5.5", "amount": "183.32"},
            ],
            "fixed_fee": "245.00",
            "total": "628.30",
        },
        "reimbursement": {
            "event_id": usecases.reimbursement_event_id("enr-1"),
            "cancellation_event_id": "cancel-1",
            "cancelled_at": "2027-02-01T11:00:00Z",
            "policy": "uantwerp-en@1",
            "policy_id": "uantwerp-en",
            "policy_version": "1",
            "rule": "second-semester-refund",
            "currency": "EUR",
            "lines": [
                {"semester": 1, "credits": "6", "invoiced": "199.98", "refunded": "0.00"},
                {"semester": 2, "credits": "5.5", "invoiced": "183.32", "refunded": "183.32"},
            ],
            "fixed_fee": "0.00",
            "total": "183.32",
        },
    }


async def test_statement_of_an_enrolment_that_is_only_invoiced(client):
    body = (await client.get("/enrolments/enr-2/statement", headers=AUTH)).json()
    # 6 x 50.00 = 300.00 + 245.00 = 545.00
    assert body["status"] == "invoiced" and body["reimbursement"] is None
    assert body["invoice"]["lines"] == [{"semester": 1, "credits": "6", "amount": "300.00"}]
    assert (body["invoice"]["fixed_fee"], body["invoice"]["total"]) == ("245.00", "545.00")


async def test_unknown_enrolment_is_a_json_404(client):
    response = await client.get("/enrolments/nobody/statement", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "message": "no enrolment 'nobody' is known"}}
    waiting = await client.get("/enrolments/enr-9/statement", headers=AUTH)
    assert waiting.status_code == 404 and "waiting for the enrolment" in waiting.json()["error"]["message"]


async def test_reimbursements_of_one_academic_year_as_json(client):
    body = (await client.get("/reimbursements", params={"academic_year": "2026-2027"}, headers=AUTH)).json()
    assert body["academic_year"] == "2026-2027" and body["count"] == 1
    [item] = body["reimbursements"]
    assert (item["enrolment_id"], item["rule"], item["total"]) == ("enr-1", "second-semester-refund", "183.32")
    everything = (await client.get("/reimbursements", headers=AUTH)).json()
    # enr-3 (2027-2028) cancelled 1 July 2027, before 1 December 2027: everything, 6 x 50.00 + 245.00 = 545.00.
    assert [(i["enrolment_id"], i["academic_year"], i["total"]) for i in everything["reimbursements"]] == [
        ("enr-1", "2026-2027", "183.32"),
        ("enr-3", "2027-2028", "545.00"),
    ]


async def test_reimbursements_as_csv_for_the_finance_office(client):
    response = await client.get(
        "/reimbursements", params={"academic_year": "2026-2027"}, headers={**AUTH, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="reimbursements-2026-2027.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [
        {
            "enrolment_id": "enr-1",
            "student_id": "'=cmd|'/C:calc'!A0",  # neutralised: a spreadsheet must not run it as a formula
            "microcredential_id": "mc-test",
            "academic_year": "2026-2027",
            "cancelled_at": "2027-02-01T11:00:00+00:00",
            "policy": "uantwerp-en@1",
            "rule": "second-semester-refund",
            "currency": "EUR",
            "semester_1_credits": "6",
            "semester_1_refund": "0.00",
            "semester_2_credits": "5.5",
            "semester_2_refund": "183.32",
            "fixed_fee_refund": "0.00",
            "total_refund": "183.32",
            "event_id": usecases.reimbursement_event_id("enr-1"),
        }
    ]
    other_year = await client.get("/reimbursements?academic_year=2027-2028", headers={**AUTH, "Accept": "text/csv"})
    [row] = list(csv.DictReader(io.StringIO(other_year.text)))
    # enr-3 has only first-semester credits: the semester-2 columns say so with zeros.
    assert (row["semester_1_refund"], row["semester_2_credits"], row["semester_2_refund"]) == ("300.00", "0", "0.00")


async def test_an_invalid_academic_year_names_the_parameter(client):
    response = await client.get("/reimbursements?academic_year=2026", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "query.academic_year"


async def test_pending_cancellations_are_listed_for_operators(client):
    body = (await client.get("/cancellations/pending", headers=AUTH)).json()
    assert body["status"] == "waiting" and body["count"] == 1
    [item] = body["cancellations"]
    assert (item["enrolment_id"], item["event_id"], item["status"]) == ("enr-9", "cancel-9", "waiting")
    assert item["cancelled_at"] == "2026-10-01T10:00:00Z" and item["resolved_at"] is None
    assert (await client.get("/cancellations/pending?status=rejected", headers=AUTH)).json()["count"] == 0
    assert (await client.get("/cancellations/pending?status=lost", headers=AUTH)).status_code == 422

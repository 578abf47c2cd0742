"""The HTTP API through the ASGI app, on SQLite and PostgreSQL: status codes, messages, and the outbox rows
written with each state change (none when a request is refused)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from enrolment.domain import Catalogue
from enrolment.usecases import SOURCE

from contracts import CONTENT_TYPE
from tests.enrolment.enrolment_support import (
    MC,
    TOKEN,
    YEAR,
    enrolment_count,
    enrolment_request,
    outbox_events,
    outbox_events_of,
)

# --- the catalogue (public) ----------------------------------------------------------------------------------


async def test_catalogue_lists_every_year_or_one_year_without_a_token(client, catalogue: Catalogue):
    anonymous = {"Authorization": ""}
    everything = await client.get("/microcredentials", headers=anonymous)
    assert everything.status_code == 200
    assert len(everything.json()) == len(catalogue)
    one_year = await client.get("/microcredentials", params={"academic_year": YEAR}, headers=anonymous)
    assert one_year.status_code == 200
    assert [entry["id"] for entry in one_year.json()] == [entry.id for entry in catalogue.entries(YEAR)]
    assert {entry["academic_year"] for entry in one_year.json()} == {YEAR}


async def test_catalogue_entry_shows_courses_credits_and_tuition_as_exact_strings(client, catalogue: Catalogue):
    response = await client.get(f"/microcredentials/{MC}", params={"academic_year": YEAR})
    assert response.status_code == 200
    body = response.json()
    entry = catalogue.get(YEAR, MC)
    assert body["title"] == entry.title
    assert [course["id"] for course in body["courses"]] == [course.id for course in entry.courses]
    assert body["total_credits"] == format(entry.total_credits, "f")
    assert body["semesters"] == sorted(entry.semesters)
    assert body["tuition"] == {
        "currency": entry.tuition.currency,
        "fixed_fee": format(entry.tuition.fixed_fee, "f"),
        "per_credit": format(entry.tuition.per_credit, "f"),
    }


async def test_catalogue_entry_defaults_to_the_newest_year_that_offers_it(client, catalogue: Catalogue):
    offered_in_both = "mc-heritage-adaptive-reuse"
    assert catalogue.get("2026-2027", offered_in_both) and catalogue.get("2027-2028", offered_in_both)
    newest = await client.get(f"/microcredentials/{offered_in_both}")
    assert newest.status_code == 200 and newest.json()["academic_year"] == "2027-2028"
    only_first_year = next(
        entry.id
        for entry in catalogue.entries("2026-2027")
        if entry.id not in {e.id for e in catalogue.entries("2027-2028")}
    )
    older = await client.get(f"/microcredentials/{only_first_year}")
    assert older.status_code == 200 and older.json()["academic_year"] == "2026-2027"


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/microcredentials/mc-unknown", {}, "'mc-unknown' is in no catalogue"),
        ("/microcredentials/mc-unknown", {"academic_year": YEAR}, "'mc-unknown' is not in the 2026-2027 catalogue"),
        (
            f"/microcredentials/{MC}",
            {"academic_year": "2030-2031"},
            "no micro-credential catalogue for academic year '2030-2031'",
        ),
        (
            "/microcredentials",
            {"academic_year": "2030-2031"},
            "no micro-credential catalogue for academic year '2030-2031'",
        ),
    ],
)
async def test_catalogue_says_404_and_why(client, path, params, expected):
    response = await client.get(path, params=params)
    assert response.status_code == 404
    assert expected in response.json()["error"]["message"]


async def test_malformed_academic_year_is_422_naming_the_parameter(client):
    response = await client.get("/microcredentials", params={"academic_year": "2026-2028"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert "query.academic_year" in error["message"] and "two consecutive years" in error["message"]


# --- enrolling -------------------------------------------------------------------------------------------------


async def test_enrolling_answers_201_with_location_and_queues_enrolment_created_with_the_snapshot(
    client, engine, catalogue: Catalogue
):
    request = enrolment_request("s0100001")
    before = datetime.now(UTC)
    response = await client.post("/enrolments", json=request)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/enrolments/{body['id']}"
    assert body["status"] == "active" and body["origin"] == SOURCE
    assert body["student"] == request["student"]
    assert body["microcredential"]["id"] == MC and body["microcredential"]["academic_year"] == YEAR
    assert before <= datetime.fromisoformat(body["enrolled_at"]) <= datetime.now(UTC)

    # The event was written in the same transaction as the enrolment.
    assert enrolment_count(engine) == 1
    [created] = outbox_events(engine)
    assert (created.type, created.source, created.subject) == ("EnrolmentCreated", SOURCE, body["id"])
    entry = catalogue.get(YEAR, MC)
    data = created.data
    assert data.enrolment_id == body["id"]
    assert data.student.id == "s0100001" and data.student.email == request["student"]["email"]
    assert data.enrolled_at == datetime.fromisoformat(body["enrolled_at"])
    assert [(c.id, c.title, c.credits, c.semester) for c in data.microcredential.courses] == [
        (c.id, c.title, c.credits, c.semester) for c in entry.courses
    ]
    assert (data.tuition.currency, data.tuition.fixed_fee, data.tuition.per_credit) == (
        entry.tuition.currency,
        entry.tuition.fixed_fee,
        entry.tuition.per_credit,
    )


async def test_outbox_row_carries_key_and_content_type_header(client, engine):
    from reliability.tables import OutboxMessage
    from sqlmodel import Session, select

    response = await client.post("/enrolments", json=enrolment_request())
    with Session(engine) as session:
        [row] = session.exec(select(OutboxMessage)).all()
    assert row.topic == "enrolment.events"
    assert row.key == response.json()["id"].encode()
    # Only trace context may come besides, when a tracer provider is installed (tests/kit/ installs one for good).
    assert row.headers[0] == ["content-type", CONTENT_TYPE]
    assert {name for name, _ in row.headers[1:]} <= {"traceparent", "tracestate"}
    assert row.published_at is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"microcredential_id": "mc-not-offered"}, "'mc-not-offered' is not in the 2026-2027 catalogue"),
        ({"academic_year": "2031-2032"}, "no micro-credential catalogue for academic year '2031-2032'"),
    ],
)
async def test_catalogue_refusals_are_422_and_leave_no_row_and_no_event(client, engine, change, expected):
    response = await client.post("/enrolments", json={**enrolment_request(), **change})
    assert response.status_code == 422
    assert expected in response.json()["error"]["message"]
    assert enrolment_count(engine) == 0 and outbox_events(engine) == []


async def test_second_active_enrolment_is_409_naming_the_existing_one(client, engine):
    request = enrolment_request("s0100002")
    first = (await client.post("/enrolments", json=request)).json()
    again = await client.post("/enrolments", json=request)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["existing_enrolment_id"] == first["id"]
    assert first["id"] in error["message"] and "already enrolled" in error["message"]
    assert enrolment_count(engine) == 1 and len(outbox_events(engine)) == 1


async def test_after_cancelling_or_in_another_year_the_student_may_enrol_again(client, engine):
    request = enrolment_request("s0100003", microcredential_id="mc-heritage-adaptive-reuse")
    first = (await client.post("/enrolments", json=request)).json()
    other_year = await client.post("/enrolments", json={**request, "academic_year": "2027-2028"})
    assert other_year.status_code == 201
    await client.post(f"/enrolments/{first['id']}/cancellation", json={})
    again = await client.post("/enrolments", json=request)
    assert again.status_code == 201 and again.json()["id"] != first["id"]


async def test_two_concurrent_requests_enrol_the_student_once(client, engine):
    request = enrolment_request("s0100004")
    responses = await asyncio.gather(*(client.post("/enrolments", json=request) for _ in range(4)))
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409]
    assert enrolment_count(engine) == 1 and len(outbox_events(engine)) == 1


@pytest.mark.parametrize(
    ("student", "field", "expected"),
    [
        ({"email": "not-an-email"}, "body.student.email", "email"),
        ({"given_name": " Amira"}, "body.student.given_name", "must not start or end with whitespace"),
        ({"family_name": "Pee\x00ters"}, "body.student.family_name", "control characters"),
        ({"id": ""}, "body.student.id", "1-64 visible ASCII characters"),
    ],
)
async def test_invalid_student_is_422_naming_the_field(client, engine, student, field, expected):
    response = await client.post("/enrolments", json=enrolment_request(**student))
    assert response.status_code == 422
    error = response.json()["error"]
    assert field in error["message"] and expected in error["message"]
    assert any(detail["field"] == field for detail in error["details"])
    assert outbox_events(engine) == []


async def test_unknown_and_missing_fields_are_422(client):
    request = enrolment_request()
    request["acadmic_year"] = request.pop("academic_year")
    response = await client.post("/enrolments", json=request)
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "body.academic_year: Field required" in message and "body.acadmic_year" in message


# --- reading enrolments ------------------------------------------------------------------------------------------


async def test_enrolment_can_be_read_back_by_id_and_by_student(client):
    created = (await client.post("/enrolments", json=enrolment_request("s0100005"))).json()
    other = (
        await client.post("/enrolments", json=enrolment_request("s0100005", microcredential_id="mc-eu-policy-making"))
    ).json()
    await client.post("/enrolments", json=enrolment_request("s0100006"))

    by_id = await client.get(f"/enrolments/{created['id']}")
    assert by_id.status_code == 200 and by_id.json() == created
    by_student = await client.get("/enrolments", params={"student_id": "s0100005"})
    assert by_student.status_code == 200
    assert [enrolment["id"] for enrolment in by_student.json()] == [created["id"], other["id"]]
    nobody = await client.get("/enrolments", params={"student_id": "s9999999"})
    assert nobody.status_code == 200 and nobody.json() == []


async def test_unknown_enrolment_is_404_and_a_malformed_id_422(client):
    unknown = await client.get("/enrolments/enr-does-not-exist")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "there is no enrolment 'enr-does-not-exist'"
    malformed = await client.get("/enrolments/enr%20with%20spaces")
    assert malformed.status_code == 422 and "path.enrolment_id" in malformed.json()["error"]["message"]


async def test_listing_needs_a_student_id(client):
    response = await client.get("/enrolments")
    assert response.status_code == 422 and "query.student_id: Field required" in response.json()["error"]["message"]


# --- cancelling -----------------------------------------------------------------------------------------------


async def test_cancelling_is_202_and_queues_one_enrolment_cancelled_even_when_repeated(client, engine):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    # Within the allowed clock skew, in another offset, whole seconds: after the enrolment whatever the clock.
    when = (datetime.now(UTC) + timedelta(minutes=1)).astimezone(timezone_plus_two())
    request = {"cancelled_at": when.isoformat(timespec="seconds"), "reason": "  changed jobs  "}
    first = await client.post(f"/enrolments/{created['id']}/cancellation", json=request)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == "cancelled" and body["cancellation_reason"] == "changed jobs"
    assert datetime.fromisoformat(body["cancelled_at"]) == when.replace(microsecond=0)

    # Repeated, even with another date and reason: same answer, the first date stays, no second event.
    later = {"cancelled_at": datetime.now(UTC).isoformat(), "reason": "again"}
    second = await client.post(f"/enrolments/{created['id']}/cancellation", json=later)
    assert second.status_code == 202 and second.json() == body

    [cancelled] = outbox_events_of(engine, "EnrolmentCancelled")
    assert (cancelled.source, cancelled.subject) == (SOURCE, created["id"])
    assert cancelled.data.cancelled_at == when.replace(microsecond=0)
    assert cancelled.data.reason == "changed jobs"
    assert [event.type for event in outbox_events(engine)] == ["EnrolmentCreated", "EnrolmentCancelled"]


async def test_cancelling_without_a_body_cancels_now(client, engine):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    before = datetime.now(UTC)
    response = await client.post(f"/enrolments/{created['id']}/cancellation")
    assert response.status_code == 202
    assert before <= datetime.fromisoformat(response.json()["cancelled_at"]) <= datetime.now(UTC)
    assert response.json()["cancellation_reason"] is None


async def test_cancelling_an_unknown_enrolment_is_404_without_event(client, engine):
    response = await client.post("/enrolments/enr-nobody/cancellation", json={})
    assert response.status_code == 404
    assert "there is no enrolment 'enr-nobody'" in response.json()["error"]["message"]
    assert outbox_events(engine) == []


@pytest.mark.parametrize(
    ("cancelled_at", "expected"),
    [
        ("2026-12-01T10:00:00", "offset"),
        ("2026-12-01", "RFC 3339"),
        ("2001-01-01T00:00:00Z", "before it was created"),
        ((datetime.now(UTC) + timedelta(days=2)).isoformat(), "is in the future"),
        ("9999-12-31T23:59:59-23:59", "out of range"),
    ],
)
async def test_cancellation_date_must_carry_an_offset_and_be_plausible(client, engine, cancelled_at, expected):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    response = await client.post(f"/enrolments/{created['id']}/cancellation", json={"cancelled_at": cancelled_at})
    assert response.status_code == 422
    assert expected in response.json()["error"]["message"]
    assert outbox_events_of(engine, "EnrolmentCancelled") == []
    assert (await client.get(f"/enrolments/{created['id']}")).json()["status"] == "active"


async def test_reason_longer_than_the_contract_allows_is_422(client):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    response = await client.post(f"/enrolments/{created['id']}/cancellation", json={"reason": "x" * 1001})
    assert response.status_code == 422 and "body.reason" in response.json()["error"]["message"]


# --- tokens -----------------------------------------------------------------------------------------------------

PROTECTED = [
    ("POST", "/enrolments"),
    ("GET", "/enrolments?student_id=s1"),
    ("GET", "/enrolments/enr-1"),
    ("POST", "/enrolments/enr-1/cancellation"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    ("authorization", "status", "expected"),
    [
        (None, 401, "a bearer token is required"),
        ("Basic dXNlcjpwYXNz", 401, "a bearer token is required"),
        ("Bearer wrong-token", 401, "not valid"),
    ],
)
async def test_enrolment_endpoints_need_a_valid_bearer_token(
    client, engine, method, path, authorization, status, expected
):
    headers = {"Authorization": authorization} if authorization else {}
    client.headers.pop("Authorization")
    json = enrolment_request() if path == "/enrolments" else None
    response = await client.request(method, path, headers=headers, json=json)
    assert response.status_code == status
    assert expected in response.json()["error"]["message"]
    if authorization and authorization.startswith("Bearer"):
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    else:
        assert response.headers["www-authenticate"] == "Bearer"
    assert enrolment_count(engine) == 0 and outbox_events(engine) == []


async def test_without_configured_tokens_nobody_may_write(engine, catalogue):
    from enrolment.entrypoints.http import create_app
    from enrolment.store import Database

    from tests.enrolment.enrolment_support import settings_for

    app = create_app(settings_for(str(engine.url)).model_copy(update={"api_tokens": []}), Database(engine), catalogue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as anonymous:
        response = await anonymous.post(
            "/enrolments", json=enrolment_request(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 401


# --- operations and documentation ---------------------------------------------------------------------------------


async def test_health_reports_the_database_and_metrics_are_prometheus_text(client):
    health = await client.get("/health", headers={"Authorization": ""})
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"database": "ok"}}
    metrics = await client.get("/metrics", headers={"Authorization": ""})
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    assert "events_published_total" in metrics.text


async def test_openapi_documents_the_bearer_scheme_and_the_error_statuses(client):
    assert (await client.get("/docs")).status_code == 200
    document = (await client.get("/openapi.json")).json()
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    post = document["paths"]["/enrolments"]["post"]
    assert {"201", "401", "403", "409", "422"} <= set(post["responses"])
    assert "security" in post
    assert "security" not in document["paths"]["/microcredentials"]["get"]


def timezone_plus_two():
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_money_in_responses_is_never_a_float():
    # Guard for the response models: Decimal fields must serialise as strings, as in the contract.
    from enrolment.entrypoints.http import EnrolledMicrocredentialOut

    out = EnrolledMicrocredentialOut(id="x", title="t", academic_year=YEAR, courses=[], total_credits=Decimal("4.5"))
    assert out.model_dump(mode="json")["total_credits"] == "4.5"


async def test_a_method_the_path_does_not_support_is_405_listing_every_allowed_one(client):
    response = await client.request("DELETE", "/enrolments")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["status"] == 405

"""`./dev run`: the whole platform on this machine, and a demo a newcomer can read.

Starts a local Apache Kafka (secured: SASL_SSL with SCRAM-SHA-512, ACLs from deploy/kafka-acls.yaml applied by
`mc-ops acls apply`, each service as its own principal) and the three services (SQLite, fresh each run), plays the scenario in
`stack.scenario`, prints invoices, reimbursements per semester and credentials, writes one PDF certificate,
then keeps everything running for you to explore until Ctrl-C, which stops it all cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from localkafka import LocalKafka
from reliability.kafka_security import client_kwargs, sasl_ssl_settings, security_env

from contracts import topics
from stack import oracle, scenario
from stack.processes import SERVICES, Stack

ROOT = Path(__file__).resolve().parents[4]


def line(text: str = "") -> None:
    print(text, flush=True)


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    right = [all(_is_number(row[i]) for row in rows) and rows for i in range(len(headers))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            (str(c).rjust(w) if r else str(c).ljust(w)) for c, w, r in zip(cells, widths, right, strict=False)
        )

    line("  " + fmt(headers))
    line("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        line("  " + fmt(row))


def _brussels(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(oracle.BRUSSELS).strftime("%Y-%m-%d %H:%M")


def _is_number(text: str) -> bool:
    try:
        Decimal(text.replace("€", "").strip())
    except Exception:
        return False
    return True


async def collect(stack: Stack, token: str, outcome: scenario.Outcome, bootstrap: str, prefix: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        statements: dict[str, Any] = {}

        async def statements_ready() -> bool:
            for key, enrolment_id in outcome.enrolment_ids.items():
                response = await http.get(f"{stack['billing'].base_url}/enrolments/{enrolment_id}/statement")
                if response.status_code != 200:
                    return False
                statements[key] = response.json()
                if key in outcome.expected_reimbursements and statements[key]["reimbursement"] is None:
                    return False
            return True

        await scenario.wait_for(statements_ready, 90, "billing statements")
        issued: list[dict[str, Any]] = []

        async def credentials_ready() -> bool:
            nonlocal issued
            events = await scenario.read_topic(bootstrap, prefix + topics.CERTIFICATION_EVENTS, settle_ms=500)
            issued = [event for event in events if event["type"] == "CredentialIssued"]
            return len(issued) >= len(outcome.expected_credentials)

        await scenario.wait_for(credentials_ready, 90, "credentials")
        held = (await http.get(f"{stack['certification'].base_url}/credentials/held")).json()
    return {"statements": statements, "issued": issued, "held": held}


def show(outcome: scenario.Outcome, results: dict[str, Any]) -> None:
    names = {s.key: f"{s.given_name} {s.family_name}" for s in scenario.STUDENTS}
    statements = results["statements"]
    line("\nInvoices (TuitionInvoiced) — per semester: credits × per-credit fee, rounded half-up, plus the fixed fee")
    rows = []
    for key, statement in statements.items():
        invoice = statement["invoice"]
        by_semester = {line_["semester"]: f"{line_['amount']} ({line_['credits']} cr)" for line_ in invoice["lines"]}
        rows.append(
            [
                names[key],
                statement["microcredential_id"],
                by_semester.get(1, "—"),
                by_semester.get(2, "—"),
                invoice["fixed_fee"],
                invoice["total"],
            ]
        )
    table(["student", "micro-credential", "semester 1", "semester 2", "fixed fee", "total €"], rows)

    line("\nReimbursements (ReimbursementCalculated) — the University of Antwerp's cancellation policy")
    rows = []
    for key, statement in statements.items():
        refund = statement.get("reimbursement")
        if refund is None:
            continue
        by_semester = {item["semester"]: item["refunded"] for item in refund["lines"]}
        rows.append(
            [
                names[key],
                _brussels(refund["cancelled_at"]),
                refund["rule"],
                by_semester.get(1, "—"),
                by_semester.get(2, "—"),
                refund["fixed_fee"],
                refund["total"],
            ]
        )
    table(["student", "cancelled (Brussels time)", "rule", "semester 1", "semester 2", "fixed fee", "refund €"], rows)

    line("\nCredentials (CredentialIssued) — W3C VC 2.0 / Open Badges 3.0, signed eddsa-rdfc-2022")
    by_enrolment = {v: k for k, v in outcome.enrolment_ids.items()}
    rows = []
    for event in results["issued"]:
        data = event["data"]
        rows.append(
            [
                names.get(by_enrolment.get(data["enrolment_id"], ""), "?"),
                data["microcredential_id"],
                data["issued_at"],
                data["credential_url"],
            ]
        )
    table(["learner", "micro-credential", "issued at", "credential"], rows)
    held = results["held"]
    held_items = held.get("held", held) if isinstance(held, dict) else held
    if held_items:
        line(f"\nHeld, not issued half-empty (the catalogue lacks credential metadata): {len(held_items)}")


async def play(
    stack: Stack, token: str, bootstrap: str, prefix: str, output: Path, campus: dict[str, dict[str, Any]]
) -> None:
    urls = {name: stack[name].base_url for name in ("enrolment", "billing", "certification")}
    line("\nPlaying the 2026-2027 academic year (each campus system publishes as its own Kafka principal):")
    outcome = await scenario.run_scenario(urls, token, bootstrap, prefix, say=line, campus=campus)
    results = await collect(stack, token, outcome, bootstrap, prefix)
    show(outcome, results)
    if results["issued"]:
        credential_url = results["issued"][0]["data"]["credential_url"]
        async with httpx.AsyncClient(timeout=30) as http:
            pdf = await http.get(f"{credential_url}/certificate.pdf", headers={"Authorization": f"Bearer {token}"})
            pdf.raise_for_status()
        target = await asyncio.to_thread(_write, output / "certificate.pdf", pdf.content)
        line(f"\nPDF certificate written to {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        line(f"Verify it in a browser: {urls['certification']}/verify?credential={credential_url}")


def _write(target: Path, content: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


CAMPUS = ("student-administration", "exam-administration", "operator")
ACL_FILE = ROOT / "deploy" / "kafka-acls.yaml"


def _kafka_env(kafka: LocalKafka, principal: str) -> dict[str, str]:
    return security_env(principal, kafka.credentials()[principal], kafka.ca_file)


def _client_kwargs(kafka: LocalKafka, principal: str) -> dict[str, Any]:
    """aiokafka's arguments for a campus system's own principal: what the demo publishes as."""
    return client_kwargs(sasl_ssl_settings(principal, kafka.credentials()[principal], kafka.ca_file))


def provision(kafka: LocalKafka, bootstrap: str) -> None:
    """As an operator provisions a cluster: `mc-ops acls apply` as the super user (ACLs, then the topics). The demo
    itself then plays the campus systems and reads the outputs as that super user; the services never see it."""
    admin = _kafka_env(kafka, "admin")
    made = subprocess.run(
        [sys.executable, "-m", "opscli", "--bootstrap", bootstrap, "acls", "apply", str(ACL_FILE)],
        env={**os.environ, **admin},
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise RuntimeError(f"provisioning Kafka failed: {made.stderr[-2000:]}")
    line(f"  Kafka {bootstrap}: SASL_SSL (SCRAM-SHA-512), ACLs of {ACL_FILE.relative_to(ROOT)} applied")
    line(f"  CA {kafka.ca_file}; passwords of this run in {kafka.credentials_file}")
    os.environ.update(admin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev run", description=__doc__)
    parser.add_argument("--no-wait", action="store_true", help="stop after the demo instead of waiting for Ctrl-C")
    args = parser.parse_args(argv)
    workdir = ROOT / "var" / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    token = secrets.token_urlsafe(32)
    line("Starting Apache Kafka (local, KRaft) ...")
    kafka = LocalKafka(
        name="demo", fresh=True, remove_on_stop=True, tie_to_parent=True, secured=True, users=[*SERVICES, *CAMPUS]
    )
    bootstrap = kafka.start()
    provision(kafka, bootstrap)
    stack = Stack(
        workdir=workdir,
        bootstrap=bootstrap,
        api_token=token,
        kafka_env={name: _kafka_env(kafka, name) for name in SERVICES},
    )
    interrupted = False
    status = 0

    def on_signal(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # Explicitly: a shell that starts us in the background hands SIGINT over ignored, and Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        line("Starting enrolment, billing and certification ...")
        stack.start()
        for name in ("enrolment", "billing", "certification"):
            line(f"  {name:<14} {stack[name].base_url}   (OpenAPI: {stack[name].base_url}/docs)")
        campus = {system: _client_kwargs(kafka, system) for system in CAMPUS}
        asyncio.run(play(stack, token, bootstrap, "", ROOT / "demo-output", campus))
        if not args.no_wait:
            died = keep_running(stack, token, workdir)
            line(f"\n{died}\nStopping the rest.")
            status = 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # Stopping is bounded (SIGTERM, then kill after a timeout); a second Ctrl-C must not cut it short and leave
        # the services running without us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        line("\nStopping services and Kafka ..." if interrupted else "\nStopping ...")
        stack.stop()
        kafka.stop()
        line("Stopped.")
    return status


def keep_running(stack: Stack, token: str, workdir: Path, poll_seconds: float = 1.0) -> str:
    """Wait (until Ctrl-C) while every service runs; returns the exit report of the first that stopped.

    "Everything keeps running" is said only when it is true, and a service that dies later (a poison message,
    a lost database) is reported at once instead of leaving the demo claiming it still runs."""
    reports = [report for service in stack.services.values() if (report := service.exit_report())]
    if not reports:
        line(f"\nEverything keeps running. API token for this run: {token}")
        line(f"Logs: {workdir}/*.log — press Ctrl-C to stop.")
    while not reports:
        time.sleep(poll_seconds)
        reports = [report for service in stack.services.values() if (report := service.exit_report())]
    return "A service stopped on its own: " + "\n\n".join(reports)


if __name__ == "__main__":
    sys.exit(main())

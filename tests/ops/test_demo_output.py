"""The demo's small truths: its "Brussels time" column is Brussels time, and it says "Everything keeps running"
only while every service runs (it kept saying so after a service died under a poison message)."""

from __future__ import annotations

import subprocess
import sys
import threading
from types import SimpleNamespace

from stack import demo, scenario
from stack.processes import ServiceProcess


def test_the_cancelled_column_shows_brussels_local_time(capsys):
    statement = {
        "microcredential_id": "mc-eu-policy-making",
        "invoice": {"lines": [], "fixed_fee": "100.00", "total": "100.00"},
        # 23:30 UTC on 30 November is 00:30 on 1 December in Brussels: the day the policy's window changes.
        "reimbursement": {"cancelled_at": "2026-11-30T23:30:00Z", "rule": "second-semester-refund", "lines": [],
                          "fixed_fee": "0.00", "total": "0.00"},
    }  # fmt: skip
    demo.show(scenario.Outcome(), {"statements": {"bram": statement}, "issued": [], "held": []})
    row = next(text for text in capsys.readouterr().out.splitlines() if "Bram Peeters" in text and "refund" in text)
    assert "2026-12-01 00:30" in row, row
    assert "2026-11-30" not in row


def _service(tmp_path, name: str, command: list[str]) -> ServiceProcess:
    log = tmp_path / f"{name}.log"
    log.write_text(f"{name} log line\n")
    service = ServiceProcess(name=name, port=0, env={}, log_path=log)
    service.process = subprocess.Popen(command)
    return service


def test_a_service_that_dies_is_reported_instead_of_everything_keeps_running(tmp_path, capsys):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    services = {name: _service(tmp_path, name, sleeper) for name in ("enrolment", "certification")}
    services["billing"] = _service(tmp_path, "billing", sleeper)
    stack = SimpleNamespace(services=services)
    killer = threading.Timer(1.0, services["billing"].kill)
    killer.start()
    try:
        report = demo.keep_running(stack, "token", tmp_path, poll_seconds=0.1)  # type: ignore[arg-type]
    finally:
        killer.cancel()
        for service in services.values():
            service.kill()
    assert report.startswith("A service stopped on its own: billing exited with -9"), report
    assert "enrolment" not in report and "certification" not in report
    printed = capsys.readouterr().out
    assert "Everything keeps running" in printed  # true while all three ran


def test_it_never_says_everything_keeps_running_when_a_service_already_stopped(tmp_path, capsys):
    services = {"billing": _service(tmp_path, "billing", [sys.executable, "-c", "raise SystemExit(3)"])}
    services["billing"].process.wait()  # type: ignore[union-attr]
    report = demo.keep_running(SimpleNamespace(services=services), "token", tmp_path, poll_seconds=0.1)  # type: ignore[arg-type]
    assert "billing exited with 3" in report
    assert "Everything keeps running" not in capsys.readouterr().out

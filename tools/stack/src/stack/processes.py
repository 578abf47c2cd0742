"""Start, stop, kill and restart the three services as real processes, the way an operator runs them.

Each service is `python -m <service>` with its configuration in environment variables (as in docker-compose),
its own SQLite file (or a given database URL) and its log in the work directory.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("enrolment", "billing", "certification")
DEFAULT_PORTS = {"enrolment": 8001, "billing": 8002, "certification": 8003}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.name],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the demo, which stops services in order
        )
        log.close()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                response = httpx.get(f"{self.base_url}/health", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} not healthy after {timeout:.0f}s: {last}; see {self.log_path}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the service stops HTTP, its consumer and its relay in order."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, lines: int = 15) -> str:
        """The end of its log, for a failure message worth reading."""
        try:
            every = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        # Health probes would fill the tail; what matters is everything else.
        tail = [line for line in every if '"uvicorn.access"' not in line][-lines:]
        return "\n".join(line[:400] for line in tail)

    def exit_report(self) -> str | None:
        """None while running (or never started); else its exit code and the end of its log."""
        if self.process is None or self.process.poll() is None:
            return None
        return f"{self.name} exited with {self.process.returncode}; end of {self.log_path}:\n{self.log_tail(30)}"

    def kill(self) -> None:
        """kill -9: no cleanup at all, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@dataclass
class Stack:
    """The three services against one Kafka; `workdir` holds their databases and logs."""

    workdir: Path
    bootstrap: str
    api_token: str
    topic_prefix: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    kafka_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per service, its Kafka client security (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CA_FILE): each
    service connects as its own principal. Missing: PLAINTEXT (the KAFKA_* of this process are never passed on)."""
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            port = self.ports.get(name) or (DEFAULT_PORTS[name] if port_is_free(DEFAULT_PORTS[name]) else free_port())
            self.services[name] = ServiceProcess(
                name, port, self._environment(name, port), self.workdir / f"{name}.log"
            )

    def _environment(self, name: str, port: int) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "DATABASE_"))}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "DATABASE_URL": self.database_urls.get(name, f"sqlite:///{self.workdir / (name + '.db')}"),
                # The demo's one static token (at least 32 characters) may do everything the scenario does.
                "API_TOKENS": f"stack:{self.api_token}:enrolments:read enrolments:write billing:read billing:export "
                "operations credentials:read credentials:revoke",
                "TOPIC_PREFIX": self.topic_prefix,
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "LOG_FORMAT": "json",
            }
        )
        if name == "certification":
            env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            # A signing key and salt of this run only, made the way an operator makes them; never written to disk.
            env["CREDENTIAL_SIGNING_KEY"] = self._signing_key()
            env["IDENTITY_SALT"] = secrets.token_hex(16)
        env.update(self.kafka_env.get(name, {}))
        env.update(self.extra_env.get(name, {}))
        return env

    @staticmethod
    def _signing_key() -> str:
        made = subprocess.run(
            [sys.executable, "-m", "certification", "generate-key"], capture_output=True, text=True, check=True
        )
        return made.stdout.strip().splitlines()[0]

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def start(self, timeout: float = 90.0) -> None:
        for service in self.services.values():
            service.start()
        try:
            for service in self.services.values():
                service.wait_healthy(timeout)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"the stack did not start: {error}\n{self.log_tails()}") from error

    def log_tails(self, lines: int = 15) -> str:
        """The end of each service's log."""
        return "\n".join(
            f"--- {name} ({service.log_path}) ---\n{service.log_tail(lines)}" for name, service in self.services.items()
        )

    def assert_running(self) -> None:
        """Fail with the end of its log if a service exited on its own: a crash must not pass unnoticed, nor
        surface only as a refused connection."""
        reports = [report for service in self.services.values() if (report := service.exit_report())]
        if reports:
            raise AssertionError("\n\n".join(reports))

    def stop(self) -> None:
        for name in reversed(SERVICES):
            self.services[name].stop()

"""The compose stack of the container tests: docker-compose.yml as an operator runs it, on this machine's engine.

`ComposeStack.up()` makes sure there is an engine (scripts/docker-engine), the compose plugin
(scripts/compose-plugin) and the images (deploy/images/build: local stand-ins, as there is no Docker Hub here),
writes an env file like an operator's .env (fresh secrets, free ports, PUBLIC_BASE_URL) and runs
`docker compose up --build --wait`. `down()` is `docker compose down -v`: the fixture calls it whatever happened.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from certification.adapters import generate_secret_key
from opscli.acls import load as load_acl_file
from opscli.acls import password_variable
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs
from stack.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("enrolment", "billing", "certification")
# Every principal of the ACL file gets a password, as kafka-setup requires (a new principal must not need an edit here).
KAFKA_PRINCIPALS = ("admin", *load_acl_file(ROOT / "deploy" / "kafka-acls.yaml"))
"""The SCRAM users of the compose Kafka: the super user and each principal of deploy/kafka-acls.yaml."""
SCOPES = "enrolments:read enrolments:write billing:read billing:export operations credentials:read credentials:revoke"


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def prepare_engine_and_images() -> dict[str, str]:
    """Engine, plugin and stand-in images, each installed or built only when missing. {variable: image}."""
    for script in (["scripts/docker-engine", "ensure"], ["scripts/compose-plugin", "ensure"]):
        done = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            _unavailable(f"{' '.join(script)} failed: {(done.stderr or done.stdout).strip()[-600:]}")
    built = subprocess.run(["deploy/images/build"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if built.returncode != 0:
        _unavailable(f"deploy/images/build failed: {built.stderr.strip()[-600:]}")
    return dict(line.split("=", 1) for line in built.stdout.split())


@dataclass
class ComposeStack:
    workdir: Path
    images: dict[str, str]
    project: str = field(default_factory=lambda: f"mctest{secrets.token_hex(4)}")
    ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in (*SERVICES, "kafka")})
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def env_file(self) -> Path:
        return self.workdir / "operator.env"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def bootstrap(self) -> str:
        """Kafka's HOST listener, as mc-ops on the host reaches it."""
        return f"127.0.0.1:{self.ports['kafka']}"

    def write_env_file(self) -> None:
        values = {
            "PUBLIC_BASE_URL": self.url("certification"),
            **{f"{name}_PASSWORD": secrets.token_urlsafe(24) for name in ("POSTGRES", "ENROLMENT_DB", "BILLING_DB")},
            "CERTIFICATION_DB_PASSWORD": secrets.token_urlsafe(24),
            "API_TOKENS": f"operator:{self.token}:{SCOPES}",
            "CREDENTIAL_SIGNING_KEY": generate_secret_key(),
            "IDENTITY_SALT": secrets.token_hex(16),
            **{kafka_password_variable(name): secrets.token_urlsafe(24) for name in KAFKA_PRINCIPALS},
            **{f"{name.upper()}_PORT": str(self.ports[name]) for name in (*SERVICES, "kafka")},
            **self.images,
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))

    def env_values(self) -> dict[str, str]:
        """The env file as it is now (the operations guide edits it: a rotated password)."""
        lines = self.env_file.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def kafka_password(self, principal: str) -> str:
        return self.env_values()[kafka_password_variable(principal)]

    def kafka_security(self, principal: str, password: str | None = None) -> dict[str, str]:
        """A host client's KAFKA_* security variables as `principal` (mc-ops, the harness)."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": principal,
            "KAFKA_SASL_PASSWORD": self.kafka_password(principal) if password is None else password,
        }

    def client_kwargs(self, principal: str, password: str | None = None) -> dict[str, Any]:
        """aiokafka's security arguments as `principal` through the HOST listener."""
        settings = KafkaSecuritySettings(**{k.lower(): v for k, v in self.kafka_security(principal, password).items()})
        return client_kwargs(settings)

    def compose(self, *arguments: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file), *arguments]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=clean_env())
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(arguments)} failed ({done.returncode}):\n{done.stderr[-3000:]}\n{self.logs()}"
            )
        return done

    def up(self, *services: str, build: bool = False) -> None:
        self.compose("up", "--detach", "--wait", "--wait-timeout", "300", *(["--build"] if build else []), *services)

    def logs(self, service: str = "", tail: int = 40) -> str:
        done = subprocess.run(
            ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file), "logs", "--no-color",
             "--tail", str(tail), *([service] if service else [])],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=clean_env(),
        )  # fmt: skip
        return done.stdout[-6000:]

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        return self.compose("exec", "-T", service, *command, check=False, timeout=300)

    def state(self) -> dict[str, dict[str, str]]:
        listed = self.compose("ps", "--all", "--format", "json").stdout
        rows = [json.loads(line) for line in listed.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def down(self, *, volumes: bool) -> None:
        self.compose("down", "--remove-orphans", *(["--volumes"] if volumes else []), check=False, timeout=300)


def kafka_password_variable(principal: str) -> str:
    """KAFKA_ADMIN_PASSWORD for the super user; <PRINCIPAL>_KAFKA_PASSWORD (what kafka-setup reads) for the rest."""
    return "KAFKA_ADMIN_PASSWORD" if principal == "admin" else password_variable(principal)


def clean_env() -> dict[str, str]:
    """The test's environment minus what compose would substitute from it instead of the env file."""
    names = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    names |= {line.lstrip("# ").split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()}
    # Nor the harness's own Kafka identity: a command of the guide names the principal it runs as.
    return {key: value for key, value in os.environ.items() if key not in names and not key.startswith("KAFKA_")}

"""docker-compose.yml, .env.example and the Dockerfile, checked without Docker.

There is no Docker engine (nor compose plugin) on the CI machine, so the files are checked against the code
they configure: every command is an importable `python -m` module, every environment variable is a field of
the settings class that reads it (pydantic-settings silently ignores unknown ones, so a typo would go
unnoticed), ports and healthchecks agree with HTTP_PORT, data sits in named volumes, secrets are required
from the environment, and the Dockerfile's CMD starts each service, answers /health and stops cleanly on
SIGTERM when run as a plain process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from billing.bootstrap import active_policy
from billing.config import BillingSettings
from certification.adapters import generate_secret_key
from certification.config import CertificationSettings
from enrolment.config import EnrolmentSettings
from opscli.acls import load as load_acl_file
from opscli.acls import password_variable
from opscli.cli import DESCRIPTION as OPSCLI_DESCRIPTION
from opscli.cli import build_parser as opscli_parser
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from reliability.auth import StaticToken
from reliability.kafka_security import KafkaSecuritySettings
from stack.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

KAFKA_PASSWORDS = (
    "KAFKA_ADMIN_PASSWORD",
    *(password_variable(principal) for principal in load_acl_file(ROOT / "deploy" / "kafka-acls.yaml")),
)
OUR_SERVICES: dict[str, type[BaseSettings]] = {
    "enrolment": EnrolmentSettings,
    "billing": BillingSettings,
    "certification": CertificationSettings,
}
SECRET_NAME = re.compile(r"(PASSWORD|TOKENS?|SECRET|SIGNING_KEY|SALT)$")
# ${VAR}, ${VAR:?message}, ${VAR?message}, ${VAR:-default}, ${VAR-default}; $$ is a literal dollar.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())  # safe_load resolves the `<<: *service` merge keys
    assert isinstance(document, dict) and "services" in document
    return document


def interpolations(value: str) -> list[re.Match[str]]:
    return list(INTERPOLATION.finditer(value.replace("$$", "")))


def every_string(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*every_string(key), *every_string(value))]
    if isinstance(node, list):
        return [text for item in node for text in every_string(item)]
    return []


def required_variables() -> set[str]:
    """Variables compose substitutes without a default: the operator has to provide them."""
    return {
        match["name"]
        for text in every_string(load_compose())
        for match in interpolations(text)
        if match["op"] not in (":-", "-")
    }


def dummy_values() -> dict[str, str]:
    """Stand-ins for the operator's secrets, valid where the settings validate them."""
    return {
        "POSTGRES_PASSWORD": "dummy-password",
        "ENROLMENT_DB_PASSWORD": "dummy-enrolment-password",
        "BILLING_DB_PASSWORD": "dummy-billing-password",
        "CERTIFICATION_DB_PASSWORD": "dummy-certification-password",
        "PUBLIC_BASE_URL": "https://credentials.example.edu",
        "API_TOKENS": "operator:dummy-token-1-of-at-least-32-characters:billing:read;"
        "desk:dummy-token-2-of-at-least-32-characters:enrolments:read enrolments:write",
        "CREDENTIAL_SIGNING_KEY": generate_secret_key(),
        "IDENTITY_SALT": "0123456789abcdef0123456789abcdef",
        **{name: f"dummy-{name.lower()}-0123456789" for name in KAFKA_PASSWORDS},
    }


def substitute(value: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name in values:
            return values[name]
        if match["op"] in (":-", "-"):
            return match["arg"]
        raise AssertionError(f"no dummy value for ${{{name}}}; add it to dummy_values()")

    return INTERPOLATION.sub(replace, value).replace("$$", "$")


def environment(service: dict[str, Any], values: dict[str, str] | None = None) -> dict[str, str]:
    """A service's `environment` (mapping or list form) with placeholders replaced."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    values = dummy_values() if values is None else values
    return {str(key): substitute(str(value), values) for key, value in raw.items()}


# --- commands -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*OUR_SERVICES, "kafka-setup"])
def test_each_command_is_python_dash_m_of_a_module_in_the_venv(name):
    command = load_compose()["services"][name]["command"]
    assert isinstance(command, list) and command[:2] == ["python", "-m"], command
    package = command[2]
    assert importlib.util.find_spec(package) is not None, f"{package} is not importable"
    assert importlib.util.find_spec(f"{package}.__main__") is not None, f"`python -m {package}` needs a __main__"
    if name in OUR_SERVICES:
        assert command == ["python", "-m", name], "a service runs as `python -m <service>`, nothing more"


def test_the_kafka_setup_job_runs_a_valid_opscli_command_with_the_services_partition_count():
    compose = load_compose()["services"]
    command = compose["kafka-setup"]["command"]
    arguments = command[3:]
    parsed = opscli_parser().parse_args(arguments)  # exits (SystemExit 2) on anything opscli does not accept
    assert (parsed.command, parsed.acls_command, parsed.set_passwords) == ("acls", "apply", True)
    assert not parsed.no_create_topics and not parsed.dry_run
    # The ACL file the image ships (Dockerfile) is the one the job applies.
    assert ["deploy/kafka-acls.yaml", str(parsed.file)] in [
        arguments_.split() for instruction, arguments_ in dockerfile_final_stage() if instruction == "COPY"
    ]
    partitions = {environment(compose[name]).get("TOPIC_PARTITIONS") for name in OUR_SERVICES}
    assert partitions == {str(parsed.partitions)}, "topics created by the job and by the services must agree"
    helped = subprocess.run(
        [sys.executable, "-m", "opscli", *arguments[:2], "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert "--partitions" in helped.stdout and "--set-passwords" in helped.stdout


def test_the_kafka_setup_job_sets_only_variables_opscli_reads():
    # Its own login: the security settings every opscli command reads (opscli.kafka.security()).
    security = {field.upper() for field in KafkaSecuritySettings.model_fields}
    passwords = set(KAFKA_PASSWORDS) - {"KAFKA_ADMIN_PASSWORD"}  # what --set-passwords reads
    for key in environment(load_compose()["services"]["kafka-setup"]):
        assert f"${key}" in OPSCLI_DESCRIPTION or key in security | passwords, f"opscli does not read {key}"


# --- environment ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OUR_SERVICES))
def test_every_environment_variable_is_a_field_of_the_services_settings(name, monkeypatch):
    settings_class = OUR_SERVICES[name]
    env = environment(load_compose()["services"][name])
    unknown = sorted(key for key in env if key.lower() not in settings_class.model_fields)
    assert not unknown, f"{name}: {unknown} set in compose but no field of {settings_class.__name__} (ignored)"
    # Only compose's values: nothing from the machine running the tests may fill a gap.
    for field in settings_class.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_class()
    for key, value in env.items():
        # Read back as set: proves the variable reached the field (and was not, say, shadowed by an alias).
        assert _as_text(getattr(settings, key.lower())) == value, key
    assert settings.http_port == int(env["HTTP_PORT"])
    if isinstance(settings, BillingSettings):
        active_policy(settings)  # the configured policy is one that ships
    if isinstance(settings, CertificationSettings):
        assert settings.signing_secret() == env["CREDENTIAL_SIGNING_KEY"]
        assert settings.dev_mode is False, "production must not sign with a throw-away key"


def _as_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, StaticToken) for item in value):
        return ";".join(f"{item.name}:{item.token}:{' '.join(sorted(item.scopes))}" for item in value)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


@pytest.mark.parametrize("name", list(OUR_SERVICES))
def test_published_port_and_healthcheck_use_http_port(name):
    service = load_compose()["services"][name]
    port = environment(service)["HTTP_PORT"]
    assert len(service["ports"]) == 1
    published = service["ports"][0]
    # Host address and port from .env, the container's port HTTP_PORT; this machine only unless .env says so.
    assert substitute(published, {}) == f"127.0.0.1:{port}:{port}", published
    assert (
        substitute(published, {"BIND_ADDRESS": "0.0.0.0", f"{name.upper()}_PORT": "18000"}) == f"0.0.0.0:18000:{port}"
    )
    test = service["healthcheck"]["test"]
    assert f"http://127.0.0.1:{port}/health" in " ".join(test), test
    assert environment(service)["HTTP_HOST"] == "0.0.0.0", "inside a container the API must listen on all interfaces"


def test_every_long_running_service_has_a_healthcheck():
    for name, service in load_compose()["services"].items():
        if service.get("restart") == "no":
            continue  # a one-shot job (kafka-format, kafka-setup) is waited for with service_completed_successfully
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_services_start_only_after_kafka_postgres_and_the_kafka_setup_job():
    for name in OUR_SERVICES:
        depends = load_compose()["services"][name]["depends_on"]
        assert depends == {
            "kafka": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
            "kafka-setup": {"condition": "service_completed_successfully"},
        }, name


def test_kafka_and_postgres_keep_their_data_in_named_volumes():
    compose = load_compose()
    named = set(compose.get("volumes") or {})
    mounts = {"kafka": "/var/lib/kafka/data", "postgres": "/var/lib/postgresql/data"}
    for name, path in mounts.items():
        volumes = [str(v) for v in compose["services"][name].get("volumes", [])]
        sources = {v.split(":")[0] for v in volumes if v.split(":")[1] == path}
        assert sources and sources <= named, f"{name}: {path} is not on a named volume ({volumes})"
    assert compose["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"] == mounts["kafka"]


def test_each_service_has_its_own_role_and_database_that_postgres_creates():
    script = (ROOT / "deploy" / "postgres-init.sh").read_text()
    loop = re.search(r"^for service in (?P<names>[\w ]+); do", script, re.MULTILINE)
    assert loop and 'CREATE DATABASE :"role" OWNER :"role"' in script
    created = set(loop["names"].split())
    mounts = load_compose()["services"]["postgres"]["volumes"]
    assert "./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/10-databases.sh:ro" in mounts
    for name in OUR_SERVICES:
        url = urlsplit(environment(load_compose()["services"][name])["DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg" and url.hostname == "postgres", url
        assert url.path.lstrip("/") == name and url.username == name and name in created, (url, created)
        password = f"{name.upper()}_DB_PASSWORD"
        assert (
            load_compose()["services"]["postgres"]["environment"][password]
            == f"${{{password}:?set {password} in .env}}"
        )


# --- secrets --------------------------------------------------------------------------------------------------


def test_no_secret_is_written_into_the_compose_file():
    compose = load_compose()
    for name, service in compose["services"].items():
        raw = service.get("environment") or {}
        for key, value in raw.items():
            if key == "KAFKA_SASL_PASSWORD":  # the principal's own variable, not one shared name
                assert re.fullmatch(r"\$\{(KAFKA_ADMIN|[A-Z]+)_?[A-Z]*_PASSWORD:\?[^}]+\}", str(value)), (name, value)
            elif SECRET_NAME.search(key):
                assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", str(value)), (
                    f"{name}.{key} must be ${{{key}:?...}} (required from the environment), not {value!r}"
                )
            if key == "DATABASE_URL":
                password = urlsplit(str(value).replace("${", "{")).password
                assert password == f"{{{name.upper()}_DB_PASSWORD}}", f"{name}: its own role's password, from .env"
    for name in (
        "POSTGRES_PASSWORD",
        "API_TOKENS",
        "CREDENTIAL_SIGNING_KEY",
        *(f"{s.upper()}_DB_PASSWORD" for s in OUR_SERVICES),
        *KAFKA_PASSWORDS,
    ):
        assert name in required_variables()
    # A password inside a value (the broker's login settings, its healthcheck) is the admin's, from .env.
    for text in every_string(compose):
        for literal in re.findall(r'password="([^"]*)"', text):
            assert literal == "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD in .env}", text


def test_every_published_port_listens_on_the_bind_address_from_env():
    for name, service in load_compose()["services"].items():
        # Kafka (SASL_PLAINTEXT) has its own: exposing the HTTP ports must not expose it (docs/operations.md).
        variable = "KAFKA_BIND_ADDRESS" if name == "kafka" else "BIND_ADDRESS"
        for published in service.get("ports", []):
            assert str(published).startswith(f"${{{variable}:-127.0.0.1}}:"), f"{name}: {published} listens everywhere"


def test_the_public_base_url_comes_from_env_and_is_required():
    env = environment(
        load_compose()["services"]["certification"], {**dummy_values(), "PUBLIC_BASE_URL": "https://x.example"}
    )
    assert env["PUBLIC_BASE_URL"] == "https://x.example"
    assert "PUBLIC_BASE_URL" in required_variables()


def test_env_example_lists_exactly_the_variables_compose_requires():
    listed = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert listed == required_variables()


def test_env_example_holds_no_real_secret():
    values = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    for key, value in values.items():
        if SECRET_NAME.search(key):
            assert value == "" or "change-me" in value, f"{key} in .env.example looks like a real value"


def test_docker_compose_config_accepts_the_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine, so `docker compose config` cannot run")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if version.returncode != 0:
        pytest.skip(
            f"the docker compose plugin is not installed: {(version.stderr or version.stdout).strip().splitlines()[0]}"
        )
    # --env-file: compose then reads that file instead of a .env it finds (a developer's, with real secrets).
    env_file = tmp_path / "dummy.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in dummy_values().items()))
    clean = {key: value for key, value in os.environ.items() if key not in dummy_values()}
    config = [docker, "compose", "-f", str(COMPOSE), "--env-file"]
    checked = subprocess.run(
        [*config, str(env_file), "config", "--format", "json"], env=clean, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    resolved = json.loads(checked.stdout)["services"]
    assert resolved["certification"]["environment"]["PUBLIC_BASE_URL"] == dummy_values()["PUBLIC_BASE_URL"]
    assert {p["host_ip"] for s in resolved.values() for p in s.get("ports", [])} == {"127.0.0.1"}
    (tmp_path / "empty.env").write_text("")
    refused = subprocess.run(
        [*config, str(tmp_path / "empty.env"), "config", "--quiet"], env=clean, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "set " in refused.stderr, "missing secrets must stop compose"


# --- the Dockerfile -------------------------------------------------------------------------------------------


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined if line.strip()]
    last_from = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


def dockerfile_env_and_cmd(service: str) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    cmd: list[str] = []
    for instruction, arguments in dockerfile_final_stage():
        if instruction == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", arguments):
                env[key] = value.replace("${SERVICE}", service)
        elif instruction == "CMD":
            cmd = json.loads(arguments)
    # The image's venv is /app/.venv; here it is the workspace's.
    env["PATH"] = env["PATH"].replace("/app/.venv", sys.prefix).replace("$PATH", os.environ["PATH"])
    env["EVENT_SOURCES_FILE"] = env["EVENT_SOURCES_FILE"].replace("/app/", f"{ROOT}/", 1)
    return env, cmd


def test_the_image_installs_each_service_by_its_workspace_package_name():
    text = DOCKERFILE.read_text()
    assert '--package "${SERVICE}-service"' in text and "--package mc-opscli" in text
    names = {tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("services/*/pyproject.toml")}
    assert names == {f"{service}-service" for service in OUR_SERVICES}
    compose = load_compose()["services"]
    assert "build" not in compose["kafka-setup"], "the kafka-setup job reuses a service's image (it has opscli)"
    assert [n for n in OUR_SERVICES if compose[n]["image"] == compose["kafka-setup"]["image"]] == ["billing"]
    assert compose["billing"]["build"]["args"]["SERVICE"] == "billing"
    for name in OUR_SERVICES:
        assert compose[name]["build"]["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}"


def test_the_image_ships_the_event_source_allow_list_where_its_setting_points():
    stage = dockerfile_final_stage()
    env, _ = dockerfile_env_and_cmd("billing")
    copied = [arguments.split() for instruction, arguments in stage if instruction == "COPY"]
    assert ["deploy/event-sources.yaml", "/app/deploy/event-sources.yaml"] in copied
    assert env["EVENT_SOURCES_FILE"] == f"{ROOT}/deploy/event-sources.yaml"
    assert (ROOT / "deploy" / "event-sources.yaml").is_file()


def _same_scheme(url: str, like: str) -> str:
    return urlsplit(like).scheme + "://" + url.split("://", 1)[1]


def _signing_key() -> str:
    made = subprocess.run(
        [sys.executable, "-m", "certification", "generate-key"], capture_output=True, text=True, check=True, timeout=60
    )
    return made.stdout.strip().splitlines()[0]


def image_requirements(service: str) -> set[str]:
    """The distributions the image's `uv sync` installs for `service` (the Dockerfile's flags, from uv.lock)."""
    flags = re.search(r"uv sync (?P<flags>[^\n]+)", DOCKERFILE.read_text())
    assert flags, "the Dockerfile installs with `uv sync`"
    arguments = flags["flags"].replace("${SERVICE}", service).replace('"', "").split()
    arguments = [a for a in arguments if a not in ("--no-editable",)]
    exported = subprocess.run(
        ["uv", "export", "--no-hashes", "--no-header", "--no-emit-workspace", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert exported.returncode == 0, exported.stderr
    return {
        re.split(r"[=<>\[; ]", line.strip())[0].lower() for line in exported.stdout.splitlines() if line[:1].isalnum()
    }


@pytest.mark.parametrize("name", list(OUR_SERVICES))
def test_the_image_installs_the_driver_its_database_url_names(name):
    """`postgresql+psycopg://` needs psycopg in the image, which installs without the dev group (it did not)."""
    scheme = urlsplit(environment(load_compose()["services"][name])["DATABASE_URL"]).scheme
    driver = scheme.split("+", 1)[1]
    assert driver in image_requirements(name), f"the {name} image lacks {driver}, which {scheme}:// needs"


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(OUR_SERVICES))
def test_the_dockerfile_cmd_serves_health_and_stops_cleanly_on_sigterm(
    name, kafka_bootstrap, fresh_postgres_url, tmp_path
):
    image_env, cmd = dockerfile_env_and_cmd(name)
    assert cmd, "the Dockerfile has no CMD"
    port = free_port()
    env = {
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        **image_env,
        **environment(load_compose()["services"][name]),
        # What differs outside Docker: the broker, the test server's PostgreSQL (same driver), a local free port.
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": _same_scheme(fresh_postgres_url, environment(load_compose()["services"][name])["DATABASE_URL"]),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "TOPIC_PREFIX": f"ops{uuid.uuid4().hex[:8]}.",
    }
    # The session's test broker is a plain one: no SASL login (the compose stack's is tests/containers' business).
    env = {key: value for key, value in env.items() if not key.startswith("KAFKA_SASL_")}
    env["KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    if name == "certification":
        env["CREDENTIAL_SIGNING_KEY"] = _signing_key()
    (tmp_path / "var").mkdir()  # the image's WORKDIR /app has a writable var/
    log = tmp_path / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, f"{name}: /health {status}, exit {process.poll()}\n{log.read_text()[-3000:]}"
        # The compose healthcheck command itself, pointed at this port.
        probe = [
            part.replace(":" + environment(load_compose()["services"][name])["HTTP_PORT"], f":{port}")
            for part in load_compose()["services"][name]["healthcheck"]["test"][1:]
        ]
        assert probe[0] == "python"
        checked = subprocess.run([sys.executable, *probe[1:]], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        assert code == 0, f"{name} exited with {code} after SIGTERM\n{log.read_text()[-3000:]}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

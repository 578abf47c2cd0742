"""Kafka for tests: one real broker per session and helpers for isolated topics.

The broker is, in this order of preference:
1. the one named by KAFKA_BOOTSTRAP_SERVERS (CI services, a broker you already run);
2. with KAFKA_TEST_ROUTE=testcontainers, an Apache Kafka 4.4 container (tests/kafka_container.py; image
   KAFKA_TEST_IMAGE, default apache/kafka:4.4.0), when a Docker engine answers and has the image — otherwise
   localkafka, with the reason in the header;
3. a local Apache Kafka started by `localkafka` (plain Java process; needs Java 17+ and, once, Maven): the
   default, chosen on purpose even where a Docker engine runs (a broker in a few seconds, no image to build;
   tests/containers runs a suite on the container route to keep it working).

Tests marked `kafka` (added automatically to tests that use `kafka_bootstrap`) share the broker, so they
must only use topics they create: `new_topic()` or the `contract_topics` fixture, both uniquely named.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pytest
from localkafka import KAFKA_VERSION, FetchError, LocalKafka, StartError, ensure_topics, kafka_home

from tests import kafka_container

log = logging.getLogger("tests.kafka")

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
ROUTE_ENV = "KAFKA_TEST_ROUTE"
_LOCAL_PREFIX = "pytest-"
_SECURED_SUFFIX = "-secured"
ACL_FILE = Path(__file__).resolve().parents[1] / "deploy" / "kafka-acls.yaml"

RouteKind = Literal["env", "testcontainers", "localkafka"]


@dataclass(frozen=True)
class KafkaRoute:
    kind: RouteKind
    description: str


_ROUTE = pytest.StashKey[KafkaRoute]()
_BOOTSTRAP = pytest.StashKey[str]()


def choose_route(config: pytest.Config) -> KafkaRoute:
    """Decided once per session; nothing is started here."""
    if _ROUTE not in config.stash:
        requested = os.environ.get(ROUTE_ENV, "localkafka")
        if os.environ.get(BOOTSTRAP_ENV):
            route = KafkaRoute("env", f"external broker from ${BOOTSTRAP_ENV}")
        elif requested == "testcontainers":
            image = kafka_container.image_name()
            reason = kafka_container.why_unavailable(image)
            if reason is None:
                route = KafkaRoute("testcontainers", f"testcontainers Apache Kafka container ({image})")
            else:
                route = KafkaRoute(
                    "localkafka",
                    f"local Apache Kafka {KAFKA_VERSION} via localkafka (testcontainers asked, but {reason})",
                )
        else:
            route = KafkaRoute(
                "localkafka",
                f"local Apache Kafka {KAFKA_VERSION} via localkafka (the default; {ROUTE_ENV}=testcontainers for a container)",
            )
        config.stash[_ROUTE] = route
    return config.stash[_ROUTE]


def pytest_report_header(config: pytest.Config) -> str:
    return f"kafka route: {choose_route(config).description}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # So `-m "not kafka"` also deselects tests that only reach the broker through a fixture.
    for item in items:
        names = getattr(item, "fixturenames", ())
        uses_kafka = "kafka_bootstrap" in names or "secured_kafka" in names
        if uses_kafka and item.get_closest_marker("kafka") is None:
            item.add_marker(pytest.mark.kafka)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _BOOTSTRAP in config.stash:
        route = choose_route(config)
        terminalreporter.write_line(f"kafka: used {config.stash[_BOOTSTRAP]}, {route.description}")


def _announce(config: pytest.Config, message: str) -> None:
    log.info("%s", message)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line(message)


def _unavailable(message: str) -> None:
    # In CI a missing broker must fail loudly, not turn every Kafka test into a quiet skip.
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _prune_stale_local_brokers() -> None:
    """Remove data of earlier sessions that died without cleaning up (their pid is in the name)."""
    runs = kafka_home() / "run"
    if not runs.is_dir():
        return
    for entry in runs.iterdir():
        suffix = entry.name.removeprefix(_LOCAL_PREFIX).removesuffix(_SECURED_SUFFIX)
        if entry.name == suffix or not suffix.isdigit() or int(suffix) == os.getpid():
            continue
        try:
            os.kill(int(suffix), 0)
            continue  # that session is still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        broker = LocalKafka(entry.name)
        if broker.is_running():
            broker.stop()
        shutil.rmtree(entry, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """host:port of a real Kafka broker shared by the whole session."""
    config = request.config
    route = choose_route(config)
    if route.kind == "env":
        bootstrap = os.environ[BOOTSTRAP_ENV]
        config.stash[_BOOTSTRAP] = bootstrap
        _announce(config, f"kafka: using {bootstrap} from ${BOOTSTRAP_ENV}")
        yield bootstrap
    elif route.kind == "testcontainers":
        from stack.processes import free_port

        with kafka_container.kafka_container(kafka_container.image_name(), free_port()) as bootstrap:
            config.stash[_BOOTSTRAP] = bootstrap
            _announce(config, f"kafka: testcontainers broker at {bootstrap} ({kafka_container.image_name()})")
            yield bootstrap
    else:
        _prune_stale_local_brokers()
        broker = LocalKafka(f"{_LOCAL_PREFIX}{os.getpid()}", fresh=True, remove_on_stop=True, tie_to_parent=True)
        try:
            bootstrap = broker.start()
        except (FetchError, StartError) as exc:
            broker.stop()
            _unavailable(f"local Kafka could not start: {exc}")
            raise  # unreachable: _unavailable raises
        try:
            config.stash[_BOOTSTRAP] = bootstrap
            _announce(config, f"kafka: local Apache Kafka {KAFKA_VERSION} at {bootstrap} (data {broker.data_dir})")
            yield bootstrap
        finally:
            broker.stop()


def unique_topic_name(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class NewTopic(Protocol):
    async def __call__(
        self, prefix: str = "test", *, partitions: int = 3, configs: Mapping[str, str] | None = None
    ) -> str: ...


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> NewTopic:
    """An async factory: `topic = await new_topic("enrolments")` creates a uniquely named topic
    (3 partitions unless told otherwise) and returns its name."""

    async def create(prefix: str = "test", *, partitions: int = 3, configs: Mapping[str, str] | None = None) -> str:
        name = unique_topic_name(prefix)
        await ensure_topics(kafka_bootstrap, [name], partitions, topic_configs={name: configs or {}})
        return name

    return create


async def create_contract_topics(bootstrap: str, prefix: str = "", partitions: int = 3) -> dict[str, str]:
    """Create every contract topic and its dead-letter topic, each named `prefix + name`.

    Returns {contract topic name: actual topic name}. Compacted contract topics stay compacted; their
    dead-letter topics do not, since a DLQ must keep every rejected message.
    """
    from contracts import topics as contract

    names = [*contract.ALL, *(contract.dead_letter_topic(t) for t in contract.ALL)]
    actual = {name: prefix + name for name in names}
    configs = {actual[t]: {"cleanup.policy": "compact"} for t in contract.COMPACTED}
    await ensure_topics(bootstrap, list(actual.values()), partitions, topic_configs=configs)
    return actual


@pytest.fixture
async def contract_topics(kafka_bootstrap: str) -> dict[str, str]:
    """The contract topics under a prefix unique to this test: {contract name: actual name}."""
    return await create_contract_topics(kafka_bootstrap, prefix=f"{uuid.uuid4().hex[:10]}.")


# -- the secured broker ---------------------------------------------------------------------------------------------

INTRUDER = "campus-intruder"
"""A SCRAM user the secured broker knows but the ACL file grants nothing: a system that has a password and no
business on any topic (a decommissioned system, a mistake in provisioning)."""


@dataclass
class SecuredKafka:
    """The session's secured broker (SASL_SSL, SCRAM-SHA-512, StandardAuthorizer, deny by default) with the
    principals of deploy/kafka-acls.yaml, plus the super user ``admin`` and `INTRUDER`."""

    bootstrap: str
    ca_file: Path
    passwords: dict[str, str]
    provisioned: set[str] = field(default_factory=set)

    def settings(self, principal: str, password: str | None = None) -> Any:
        from reliability.kafka_security import sasl_ssl_settings

        return sasl_ssl_settings(
            principal, password if password is not None else self.passwords[principal], self.ca_file
        )

    def client_kwargs(self, principal: str, password: str | None = None) -> dict[str, Any]:
        """aiokafka's arguments (producer, consumer, admin) for `principal`."""
        from reliability.kafka_security import client_kwargs

        return client_kwargs(self.settings(principal, password))

    def librdkafka(self, principal: str) -> dict[str, str]:
        """confluent-kafka's configuration for `principal`, bootstrap included: what a campus system sets."""
        from reliability.kafka_security import librdkafka_config

        return {"bootstrap.servers": self.bootstrap, **librdkafka_config(self.settings(principal))}

    def env(self, principal: str) -> dict[str, str]:
        """The environment of a process running as `principal` (a service, mc-ops)."""
        from reliability.kafka_security import security_env

        return {
            BOOTSTRAP_ENV: self.bootstrap,
            **security_env(principal, self.passwords[principal], self.ca_file),
        }

    def service_envs(self) -> dict[str, dict[str, str]]:
        """Each service's Kafka security environment, its own principal (Stack's ``kafka_env``)."""
        from reliability.kafka_security import security_env

        services = ("enrolment", "billing", "certification")
        return {name: security_env(name, self.passwords[name], self.ca_file) for name in services}

    def harness_env(self) -> dict[str, str]:
        """The test harness's own identity (the scenario, the fault tests' producers and readers): the super user,
        since it plays every campus system and reads every output. The services never get it."""
        return self.env("admin")

    def provision_now(self, prefix: str) -> dict[str, str]:
        """`provision` from sync code (fixtures that start a Stack)."""
        from localkafka.topics import run_sync

        return run_sync(self.provision(prefix))

    @classmethod
    def of(cls, broker: LocalKafka, bootstrap: str) -> SecuredKafka:
        return cls(bootstrap, broker.ca_file, broker.credentials())

    async def provision(self, prefix: str, partitions: int = 3) -> dict[str, str]:
        """What provisioning does for a deployment under `prefix`: the ACL file applied (topic and group names
        prefixed) and the contract topics with their DLQs created, as the super user. {contract name: actual}."""
        import asyncio

        from opscli.acls import apply_acls, expand, load

        from contracts import topics as contract

        if prefix not in self.provisioned:
            await asyncio.to_thread(apply_acls, self.bootstrap, self.settings("admin"), expand(load(ACL_FILE), prefix))
            self.provisioned.add(prefix)
        names = [*contract.ALL, *(contract.dead_letter_topic(t) for t in contract.ALL)]
        actual = {name: prefix + name for name in names}
        configs = {actual[t]: {"cleanup.policy": "compact"} for t in contract.COMPACTED}
        await ensure_topics(
            self.bootstrap,
            list(actual.values()),
            partitions,
            topic_configs=configs,
            client_config=self.client_kwargs("admin"),
        )
        return actual


def secured_users() -> list[str]:
    """The SCRAM users of a secured test broker: the ACL file's principals and the intruder."""
    return [*acl_principals(), INTRUDER]


def acl_principals() -> list[str]:
    from opscli.acls import principals_of

    return principals_of(ACL_FILE)


@pytest.fixture(scope="session")
def secured_kafka(request: pytest.FixtureRequest) -> Iterator[SecuredKafka]:
    """A secured local broker for the session (always localkafka: the only route that can start one)."""
    config = request.config
    _prune_stale_local_brokers()
    broker = LocalKafka(
        f"{_LOCAL_PREFIX}{os.getpid()}{_SECURED_SUFFIX}",
        fresh=True,
        remove_on_stop=True,
        tie_to_parent=True,
        secured=True,
        users=secured_users(),
    )
    try:
        bootstrap = broker.start()
    except (FetchError, StartError) as exc:
        broker.stop()
        _unavailable(f"secured local Kafka could not start: {exc}")
        raise
    try:
        _announce(config, f"kafka: secured local Apache Kafka {KAFKA_VERSION} at {bootstrap} (SASL_SSL, ACLs)")
        yield SecuredKafka.of(broker, bootstrap)
    finally:
        broker.stop()


@pytest.fixture
async def secured_topics(secured_kafka: SecuredKafka) -> tuple[str, dict[str, str]]:
    """A prefix unique to this test, provisioned on the secured broker: (prefix, {contract name: actual name})."""
    prefix = f"{uuid.uuid4().hex[:10]}."
    return prefix, await secured_kafka.provision(prefix)

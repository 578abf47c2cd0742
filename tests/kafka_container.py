"""The testcontainers route: Apache Kafka 4.4 in a container, from the same image as docker-compose.yml.

Not testcontainers' `KafkaContainer`: it drives the scripts of Confluent's image (Kafka 3.9). A generic container
runs the Apache image's own entrypoint, configured by `KAFKA_*` variables as compose configures it, on a host port
chosen here and advertised as such, and is ready when the broker logs that it started.

Ryuk (testcontainers' reaper, an image from Docker Hub) is disabled; the fixture removes its container itself,
and a session that died without doing so (SIGKILL) has its container removed by the next session: each
container carries the pid of the pytest process that started it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

IMAGE_ENV = "KAFKA_TEST_IMAGE"
# The official image by default; on a machine without Docker Hub, `deploy/images/build` makes local/kafka:4.4.0
# and tests/containers sets KAFKA_TEST_IMAGE to it.
DEFAULT_IMAGE = "apache/kafka:4.4.0"
SESSION_LABEL = "microcredentials.tests.pid"
STARTED = re.compile(r"Kafka Server started")


def image_name() -> str:
    return os.environ.get(IMAGE_ENV) or os.environ.get("KAFKA_IMAGE") or DEFAULT_IMAGE


def _client():  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env(timeout=5)


def why_unavailable(image: str) -> str | None:
    """None when a container of `image` can be started here, else the reason it cannot."""
    try:
        import docker
    except ImportError:
        return "the docker package is not installed"
    try:
        client = _client()
    except Exception as error:
        return f"no Docker engine answered ({type(error).__name__})"
    try:
        client.ping()
        client.images.get(image)
        return None
    except docker.errors.ImageNotFound:
        return f"image {image} is not on this engine (no registry pull is tried; build it: deploy/images/build)"
    except Exception as error:
        return f"no Docker engine answered ({type(error).__name__}: {error})"
    finally:
        client.close()


def remove_stale_containers() -> list[str]:
    """Remove containers of earlier test sessions whose pytest process is gone. Returns their names."""
    client = _client()
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": SESSION_LABEL}):
            pid = int(container.labels.get(SESSION_LABEL, "0") or 0)
            if pid == os.getpid() or _alive(pid):
                continue
            container.remove(force=True, v=True)
            removed.append(container.name)
    finally:
        client.close()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def broker_environment(port: int) -> dict[str, str]:
    """The single-node KRaft configuration compose gives Kafka, advertised on the host's `port`."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }


@contextlib.contextmanager
def kafka_container(image: str, port: int, timeout: float = 120) -> Iterator[str]:
    """Run a broker of `image` published on 127.0.0.1:`port`; yields its bootstrap. Removed on exit, always."""
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    testcontainers_config.ryuk_disabled = True  # its image is Docker Hub's; this fixture removes the container
    remove_stale_containers()
    container = (
        DockerContainer(image)
        .with_envs(**broker_environment(port))
        .with_bind_ports(9092, port)
        .with_kwargs(labels={SESSION_LABEL: str(os.getpid())})
        .waiting_for(LogMessageWaitStrategy(STARTED).with_startup_timeout(int(timeout)))
    )
    container.ports["9092"] = ("127.0.0.1", port)  # type: ignore[assignment]  # docker-py: (address, port)
    try:
        container.start()
        yield f"127.0.0.1:{port}"
    finally:
        container.stop()

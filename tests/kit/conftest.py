import os

import pytest

from tests.db_fixtures import database_url, fresh_postgres_url  # noqa: F401

if "kafka_bootstrap" not in globals():  # temporary until the shared broker fixture lands

    @pytest.fixture(scope="session")
    def kafka_bootstrap() -> str:
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
async def producer(kafka_bootstrap: str):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    yield producer
    await producer.stop()

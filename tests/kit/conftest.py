import pytest
from aiokafka import AIOKafkaProducer

from tests.db_fixtures import database_url, fresh_postgres_url  # noqa: F401


@pytest.fixture
async def producer(kafka_bootstrap: str):
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    yield producer
    await producer.stop()

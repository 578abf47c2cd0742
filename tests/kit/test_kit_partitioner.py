"""The producer's partitioner puts a key's records where the Java client and aiokafka put them."""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from reliability.partitioner import KeyHashPartitioner, murmur2
from reliability.producer import create_producer

JAVA_MURMUR2 = {
    # Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2 (signed ints).
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def as_java_int(unsigned: int) -> int:
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


@pytest.mark.parametrize("key", list(JAVA_MURMUR2))
def test_the_hash_is_the_java_clients(key):
    assert as_java_int(murmur2(key)) == JAVA_MURMUR2[key]


def test_the_hash_is_aiokafkas_for_every_length_and_tail():
    rng = random.Random(14)
    for length in range(0, 130):
        for _ in range(20):
            key = rng.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key), (length, key.hex())


def test_the_partition_is_aiokafkas_for_every_partition_count():
    ours, theirs = KeyHashPartitioner(), DefaultPartitioner()
    keys = [str(uuid.UUID(bytes=os.urandom(16))).encode() for _ in range(500)] + [b"", b"\xff" * 7]
    for count in (1, 2, 3, 6, 7, 12, 50):
        partitions = list(range(count))
        for key in keys:
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions), (count, key)


def test_a_record_without_a_key_goes_to_an_available_partition():
    partitioner = KeyHashPartitioner()
    assert {partitioner(None, [0, 1, 2], [2]) for _ in range(50)} == {2}
    assert {partitioner(None, [0, 1, 2], []) for _ in range(200)} == {0, 1, 2}


@pytest.mark.kafka
async def test_the_platforms_producer_and_aiokafkas_default_one_agree_on_a_real_broker(kafka_bootstrap, new_topic):
    topic = await new_topic("partitioner", partitions=7)
    keys = [f"enrolment-{n}".encode() for n in range(60)]
    ours = create_producer(kafka_bootstrap, "partitioner-test")
    theirs = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await ours.start()
    await theirs.start()
    try:
        placed = {}
        for name, producer in (("ours", ours), ("theirs", theirs)):
            futures = [await producer.send(topic, key=key, value=b"{}") for key in keys]
            placed[name] = [metadata.partition for metadata in await asyncio.gather(*futures)]
    finally:
        await ours.stop()
        await theirs.stop()
    assert placed["ours"] == placed["theirs"]
    assert len(set(placed["ours"])) == 7, "60 keys should reach every one of 7 partitions"

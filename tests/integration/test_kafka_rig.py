"""The test rig's broker answers: a message produced is consumed in a group."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def test_broker_round_trip(kafka_bootstrap: str) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"hello")
    await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id="g"
    )
    await consumer.start()
    msg = await consumer.getone()
    await consumer.stop()
    assert msg.value == b"hello"

"""Enrolment's baseline: a bare HTTP endpoint that produces one Kafka record per request, to measure it against.

Enrolment's only input that produces output is HTTP: students enrol and cancel through its API, and each request
commits the enrolment and its event (EnrolmentCreated, EnrolmentCancelled) to the outbox, which the relay sends
to enrolment.events. What other campus systems publish on enrolment.events it records, but publishes nothing for.

This endpoint does the same HTTP and Kafka work with nothing else: uvicorn (as the service runs) with a bare ASGI
callable, no framework, no authentication, no validation, no database. `POST /enrolments` decodes the JSON body,
makes an enrolment id and sends one record (the body wrapped with a type, an id and the enrolment id) with the
kit's producer settings (idempotent, acks=all, linger 0), and answers 201 once the broker acknowledged it;
`POST /enrolments/{id}/cancellation` does the same with a cancellation record and answers 202. The service
answers once its database committed and publishes later; this one answers once Kafka holds the record.

    python -m benchmarks.raw_http BOOTSTRAP OUTPUT_TOPIC PORT
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from reliability.producer import create_producer

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class RawEnrolments:
    """The ASGI application."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.producer: AIOKafkaProducer | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            status, body = await self._handle(scope["method"], scope["path"], receive)
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.producer = create_producer(self.bootstrap, f"raw-http-{uuid.uuid4().hex[:8]}")
                await self.producer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.producer is not None:
                    await self.producer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, method: str, path: str, receive: Receive) -> tuple[int, bytes]:
        if method == "GET" and path == "/health":
            return 200, b'{"status":"ok"}'
        if method != "POST":
            return 405, b"{}"
        body = await _body(receive)
        parts = path.strip("/").split("/")
        if parts == ["enrolments"]:
            enrolment_id = "enr-" + uuid.uuid4().hex
            await self._publish("RawEnrolmentCreated", enrolment_id, json.loads(body))
            return 201, json.dumps({"id": enrolment_id}).encode()
        if len(parts) == 3 and parts[0] == "enrolments" and parts[2] == "cancellation":
            await self._publish("RawEnrolmentCancelled", parts[1], json.loads(body or b"{}"))
            return 202, json.dumps({"id": parts[1], "status": "cancelled"}).encode()
        return 404, b"{}"

    async def _publish(self, kind: str, enrolment_id: str, data: dict[str, Any]) -> None:
        assert self.producer is not None
        document = {"type": kind, "id": str(uuid.uuid4()), "subject": enrolment_id, "data": data}
        value = json.dumps(document, separators=(",", ":")).encode()
        delivery = await self.producer.send(self.topic, key=enrolment_id.encode(), value=value)
        await delivery


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m benchmarks.raw_http")
    parser.add_argument("bootstrap")
    parser.add_argument("output")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    uvicorn.run(RawEnrolments(args.bootstrap, args.output), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

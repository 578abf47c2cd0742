"""Whether a principal authenticates: an admin client's bootstrap is the SCRAM exchange, and nothing else."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError


async def logs_in(bootstrap: str, client_kwargs: dict[str, Any]) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=8000, **client_kwargs)
    try:
        await admin.start()
    except KafkaConnectionError:
        return False
    await admin.close()
    return True

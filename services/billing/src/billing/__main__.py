"""`python -m billing`: HTTP API, outbox relay and consumer of enrolment.events in one process."""

from __future__ import annotations

import asyncio

from reliability.logs import configure_logging

from billing.bootstrap import SERVICE, build
from billing.config import BillingSettings


def main() -> None:
    settings = BillingSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app, runtime = build(settings)
    asyncio.run(runtime.serve(app, settings.http_port))


if __name__ == "__main__":
    main()

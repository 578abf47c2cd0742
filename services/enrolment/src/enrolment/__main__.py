"""`python -m enrolment`: the HTTP API, the outbox relay and the consumer of enrolment.events in one process."""

from __future__ import annotations

import asyncio

from reliability.logs import configure_logging

from enrolment.bootstrap import SERVICE, build
from enrolment.config import EnrolmentSettings


def main() -> None:
    settings = EnrolmentSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app, runtime = build(settings)
    asyncio.run(runtime.serve(app, settings.http_port))


if __name__ == "__main__":
    main()

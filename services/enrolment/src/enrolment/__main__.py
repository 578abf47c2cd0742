"""`python -m enrolment`: the HTTP API, the outbox relay and the consumer of enrolment.events in one process."""

from __future__ import annotations

import asyncio
import logging
import sys

from reliability.logs import configure_logging

from enrolment.bootstrap import SERVICE, build
from enrolment.config import EnrolmentSettings


def main() -> None:
    settings = EnrolmentSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app, runtime = build(settings)
    try:
        asyncio.run(runtime.serve(app, settings.http_port))
    except KeyboardInterrupt:
        # Ctrl-C before the runtime owns the signals (still waiting for the broker): nothing runs yet to stop.
        logging.getLogger(__name__).info("interrupted while starting")
        sys.exit(130)


if __name__ == "__main__":
    main()

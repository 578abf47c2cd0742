"""Structured JSON logs. Event and enrolment ids go in; student names and e-mail addresses never do."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
"""What `scrub_emails` replaces (its reference in the tests)."""
_LOCAL_PART_REVERSED = re.compile(r"[\w.+-]*")
_DOMAIN = re.compile(r"[\w-]+(\.[\w-]+)+")


def scrub_emails(text: str) -> str:
    """`_EMAIL.sub("<email>", text)`, in time linear in the text.

    The regular expression tries every position of a run of word characters as the start of an address, so a
    log line of ids cost it about as much as the rest of logging together (docs/benchmark.md). An address needs
    an "@": each one is checked once, its local part read backwards from it, its domain forwards.
    """
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    at = text.find("@")
    while at != -1:
        # "@" is not a local-part character, so the run backwards ends at the previous "@" (or at `done`).
        since = max(done, text.rfind("@", done, at) + 1)
        reversed_local = _LOCAL_PART_REVERSED.match(text[since:at][::-1])
        local = reversed_local.end() if reversed_local else 0
        domain = _DOMAIN.match(text, at + 1) if local else None
        if domain is None:
            at = text.find("@", at + 1)
            continue
        pieces += [text[done : at - local], "<email>"]
        done = domain.end()
        at = text.find("@", done)
    return "".join(pieces) + text[done:] if pieces else text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Last line of defence: a handler that logs a payload by mistake still leaks no e-mail address.
        return scrub_emails(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(service: str, level: str = "INFO", log_format: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    """An exception that ends the process (a failing start-up) is logged like everything else: one JSON line."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("uncaught").critical("the process stops: %s", kind.__name__, exc_info=(kind, error, traceback))

"""Pages of list endpoints: `limit` (default 50, at most 200) and an opaque `cursor` the previous page returned.

The cursor encodes an offset into the endpoint's fixed order (oldest first, then id); rows added while a client
pages may shift a page by a row, which is acceptable for these lists (nothing is paid or signed from them)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Query, Request, Response

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int

    def fetch_limit(self) -> int:
        """Rows to ask the store for: one more than the page, to know whether there is a next page."""
        return self.limit + 1


def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page; absent: the first page.")
    ] = None,
) -> PageRequest:
    """A FastAPI dependency: the page a request asks for (422 for a cursor we did not make)."""
    return PageRequest(limit=limit, offset=0 if cursor is None else _offset_of(cursor))


def _offset_of(cursor: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = decoded["o"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise HTTPException(422, "invalid request: cursor: not a cursor this endpoint returned")
    return offset


def cursor_after(page: PageRequest, fetched: int) -> str | None:
    """The cursor of the page after this one, or None when `fetched` (rows the store returned for
    `page.fetch_limit()`) shows this is the last."""
    if fetched <= page.limit:
        return None
    raw = json.dumps({"o": page.offset + page.limit}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def link_next(request: Request, response: Response, cursor: str | None) -> None:
    """For list endpoints whose body is a bare JSON array: the next page as a `Link: <...>; rel="next"` header
    (RFC 8288) and `X-Next-Cursor`."""
    if cursor is None:
        return
    url = request.url.include_query_params(cursor=cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    response.headers["X-Next-Cursor"] = cursor

"""Offline JSON-LD document loading.

pyld's default loader fetches over HTTP. A signature must never depend on what a
remote server answers at verification time (and this service has no network
egress), so every context is shipped as package data and anything else a caller
wants resolvable (controller documents, status lists) is registered explicitly.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from pyld.context_resolver import ContextResolver

from certification.domain.vocabulary import (
    DEFAULT_CONTEXT_BASE_URL,
    MULTIKEY_V1_CONTEXT_URL,
    OB_V3P0_CONTEXT_URL,
    SECURITY_V2_CONTEXT_URL,
    VC_V2_CONTEXT_URL,
    microcredential_context_url,
    microcredential_vocab,
)

JsonObject = dict[str, Any]

_VENDORED = {
    VC_V2_CONTEXT_URL: "credentials-v2.jsonld",
    OB_V3P0_CONTEXT_URL: "ob-v3p0-context-3.0.3.json",
    MULTIKEY_V1_CONTEXT_URL: "multikey-v1.jsonld",
    SECURITY_V2_CONTEXT_URL: "security-v2.jsonld",
}
_OWN_CONTEXT_FILE = "microcredential-v1.jsonld"


class DocumentNotFoundError(LookupError):
    """A JSON-LD processor asked for a URL that is not preloaded."""


@cache
def _read_packaged(name: str) -> str:
    return resources.files("certification.adapters").joinpath("contexts").joinpath(name).read_text("utf-8")


def vendored_context(url: str) -> JsonObject:
    """The shipped copy of a standard context (deep copy: callers may mutate)."""
    try:
        name = _VENDORED[url]
    except KeyError:
        raise DocumentNotFoundError(f"no vendored context for {url}") from None
    result: JsonObject = json.loads(_read_packaged(name))
    return result


def microcredential_context(base_url: str = DEFAULT_CONTEXT_BASE_URL) -> JsonObject:
    """Our context document with its term IRIs rebased onto ``base_url``.

    This is the document to serve at :func:`microcredential_context_url`.
    """
    text = _read_packaged(_OWN_CONTEXT_FILE)
    text = text.replace(microcredential_vocab(DEFAULT_CONTEXT_BASE_URL), microcredential_vocab(base_url))
    result: JsonObject = json.loads(text)
    return result


def standard_documents(base_url: str = DEFAULT_CONTEXT_BASE_URL) -> dict[str, JsonObject]:
    """Every context our credentials and controller documents use, keyed by URL."""
    documents = {url: vendored_context(url) for url in _VENDORED}
    documents[microcredential_context_url(base_url)] = microcredential_context(base_url)
    return documents


class _BoundedCache(OrderedDict[str, Any]):
    """Just the ``get``/``[]=`` that pyld's ContextResolver needs, bounded so that
    documents with ever-new inline contexts cannot grow it without limit."""

    def __init__(self, maxsize: int = 128) -> None:
        super().__init__()
        self.maxsize = maxsize
        # One loader is shared by request threads (e.g. a sync web handler pool).
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return super().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)
            self.move_to_end(key)
            while len(self) > self.maxsize:
                self.popitem(last=False)


class DocumentLoader:
    """A pyld document loader that only serves preloaded documents.

    Each instance owns its own resolved-context cache: pyld's module-level cache
    is keyed by URL, so two loaders serving different documents under the same
    URL (e.g. a test with a broken context) would otherwise poison each other.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_CONTEXT_BASE_URL,
        extra_documents: Mapping[str, JsonObject] | None = None,
    ) -> None:
        self.base_url = base_url
        self._documents: dict[str, JsonObject] = standard_documents(base_url)
        for url, document in (extra_documents or {}).items():
            self._documents[url] = copy.deepcopy(document)
        self._resolved: _BoundedCache = _BoundedCache()

    def add(self, url: str, document: JsonObject) -> None:
        self._documents[url] = copy.deepcopy(document)
        # A replaced document must not be served from a stale resolution.
        self._resolved = _BoundedCache()

    @property
    def documents(self) -> Mapping[str, JsonObject]:
        return self._documents

    def get(self, url: str) -> JsonObject:
        try:
            return copy.deepcopy(self._documents[url])
        except KeyError:
            raise DocumentNotFoundError(
                f"document {url!r} is not preloaded; JSON-LD processing here is offline by design"
            ) from None

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> JsonObject:
        # pyld's RemoteDocument shape.
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": self.get(url),
        }

    def pyld_options(self) -> dict[str, Any]:
        """Options for one pyld operation: a fresh resolver (its per-operation
        cache must not outlive the operation) over this loader's shared cache."""
        return {"documentLoader": self, "contextResolver": ContextResolver(self._resolved, self)}

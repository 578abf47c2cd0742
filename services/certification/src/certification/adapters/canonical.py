"""RDF Dataset Canonicalization (RDFC-1.0) via pyld, with a guard against
silently dropped data.

JSON-LD expansion *drops* any key that no context defines, any ``null`` value,
and toRDF drops relative IRIs (e.g. an undefined ``type`` value). A signature
over the canonical form then covers less than the JSON the holder sees: the
dropped field can be changed at will without breaking the proof. Digital
Bazaar's verifier refuses such documents ("safe mode"); pyld has no safe mode,
so :func:`assert_fully_defined` implements the same refusal before we sign or
verify.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pyld import jsonld
from pyld.canon import URDNA2015

from certification.adapters.contexts import DocumentLoader, DocumentNotFoundError

# RDFC-1.0 is the W3C Recommendation of URDNA2015; pyld still uses the old name (pyld.canon.URDNA2015).
NQUADS = "application/n-quads"

# Namespaces that the "undefined terms" contexts (VC 2.0 family) map unknown
# terms to. A term landing there is as undefined as a dropped one.
_UNDEFINED_TERM_NAMESPACES = (
    "https://www.w3.org/ns/credentials/issuer-dependent#",
    "https://www.w3.org/ns/credentials/undefined-term#",
)


@dataclass(frozen=True)
class CanonicalLimits:
    """How much RDFC-1.0 work one document may ask for.

    RDFC-1.0 tells look-alike blank nodes apart by trying permutations (Hash N-Degree Quads), exponential in the
    number of blank nodes that share a first-degree hash; the specification asks implementations to bound it.
    """

    max_blank_nodes: int = 256
    """Blank nodes in the document's RDF dataset, counted before canonicalising."""
    work_factor: int = 1
    """Hash N-Degree Quads calls allowed per operation: (look-alike blank nodes) ** work_factor. 1 is
    rdf-canonize's default (Digital Bazaar's verifiers), so what we refuse they refuse too."""


DEFAULT_LIMITS = CanonicalLimits()


class CanonicalLimitExceeded(ValueError):
    """The document asks for more canonicalisation work than the limits allow; it is refused, not judged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CanonicalisationFailed(ValueError):
    """The document cannot be canonicalised (computed elsewhere, e.g. in a worker process); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CanonicalisationUnavailable(RuntimeError):
    """No canonicalisation capacity now (every worker busy, or none could start): a service answers 503."""


class UndefinedTermError(ValueError):
    """The document contains data JSON-LD would not carry into the signed form."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "refusing to process a document with data that JSON-LD silently drops "
            "(it would not be covered by the signature): " + "; ".join(problems)
        )


def _is_absolute_iri(value: str) -> bool:
    if value.startswith("_:"):
        return True
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)


def _paths_of_key(node: Any, key: str, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else k
            if k == key:
                found.append(here)
            if k != "@context":
                found.extend(_paths_of_key(v, key, here))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found.extend(_paths_of_key(item, key, f"{path}[{i}]"))
    return found


def _null_paths(node: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else k
            if v is None:
                found.append(here)
            elif k != "@context":
                found.extend(_null_paths(v, here))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            here = f"{path}[{i}]"
            if item is None:
                found.append(here)
            else:
                found.extend(_null_paths(item, here))
    return found


def _check_expanded(node: Any, problems: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check_expanded(item, problems)
        return
    if not isinstance(node, dict):
        return
    if "@value" in node:
        datatype = node.get("@type")
        if isinstance(datatype, str) and datatype != "@json" and not _is_absolute_iri(datatype):
            problems.append(f"value {node['@value']!r} has an undefined datatype {datatype!r}")
        return
    for key, value in node.items():
        if key == "@type":
            for type_iri in value if isinstance(value, list) else [value]:
                if not _is_absolute_iri(type_iri):
                    problems.append(f"type {type_iri!r} is not defined by any context")
        elif key == "@id":
            if isinstance(value, str) and not _is_absolute_iri(value):
                problems.append(f"identifier {value!r} is not an absolute IRI")
        elif not key.startswith("@"):
            if key.startswith(_UNDEFINED_TERM_NAMESPACES):
                problems.append(f"term {key.rsplit('#', 1)[-1]!r} is only defined by an @vocab fallback")
            _check_expanded(value, problems)
        else:
            _check_expanded(value, problems)


def _missing_document(exc: BaseException) -> DocumentNotFoundError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DocumentNotFoundError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _expand(document: dict[str, Any], loader: DocumentLoader, dropped: list[str | None]) -> Any:
    try:
        return jsonld.expand(
            copy.deepcopy(document),
            {**loader.pyld_options(), "base": None},
            on_property_dropped=dropped.append,
        )
    except jsonld.JsonLdError as exc:
        # pyld wraps our loader's error in a generic "dereferencing failed";
        # surface the real reason (a context that is not preloaded).
        missing = _missing_document(exc)
        if missing is not None:
            raise missing from exc
        raise


def assert_fully_defined(document: dict[str, Any], loader: DocumentLoader) -> None:
    """Raise :class:`UndefinedTermError` naming every term or value JSON-LD would drop.

    Raises :class:`DocumentNotFoundError` for a context that is not preloaded.
    """
    problems: list[str] = [f"null value at {p}" for p in _null_paths(document)]
    dropped: list[str | None] = []
    expanded = _expand(document, loader, dropped)
    for term in dict.fromkeys(dropped):
        if term is None:
            problems.append("a property that expands to nothing was dropped")
            continue
        paths = _paths_of_key(document, term)
        where = f" (at {', '.join(paths)})" if paths else ""
        problems.append(f"term {term!r} is not defined by any context{where}")
    _check_expanded(expanded, problems)
    if problems:
        raise UndefinedTermError(problems)


def _js_number_semantics(node: Any) -> Any:
    """Integral floats become ints, as they are in JavaScript.

    JSON has one number type; pyld turns a Python float 6.0 into "6.0E0" while
    jsonld.js sees the same JSON text as integer 6 and writes "6". Normalising
    here makes our canonical form match every JS verifier's.
    """
    if isinstance(node, dict):
        return {k: _js_number_semantics(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_js_number_semantics(v) for v in node]
    if isinstance(node, float) and node.is_integer() and abs(node) < 1e21:
        return int(node)
    return node


def failure_reason(error: Exception) -> str:
    """Why a document could not be canonicalised, as a verifier reports it."""
    if isinstance(error, CanonicalisationFailed):
        return error.reason
    if isinstance(error, UndefinedTermError):
        return str(error)
    if isinstance(error, DocumentNotFoundError):
        return f"unknown JSON-LD context: {error}"
    if isinstance(error, RecursionError):
        return "cannot canonicalise the credential: it is nested too deeply"
    return f"cannot canonicalise the credential: {error}"  # pyld raises JsonLdError for malformed JSON-LD


class _BoundedRDFC(URDNA2015):  # type: ignore[misc]
    """pyld's RDFC-1.0 with the work limit of RDFC-1.0 section 4.4 (as rdf-canonize counts it): one budget of
    Hash N-Degree Quads calls per operation, sized by the blank nodes that need them."""

    def __init__(self, work_factor: int) -> None:
        super().__init__()
        self._work_factor = work_factor
        self._remaining: int | None = None
        self._allowed = 0

    def hash_n_degree_quads(self, id_: str, issuer: Any) -> Any:
        if self._remaining is None:
            # First call: what is left in the map are the groups of look-alike blank nodes (RDFC-1.0 step 5).
            look_alike = sum(len(ids) for ids in self.hash_to_blank_nodes.values())
            self._remaining = self._allowed = look_alike**self._work_factor
        if self._remaining <= 0:
            raise CanonicalLimitExceeded(
                f"canonicalising the document needs more than {self._allowed} rounds of telling look-alike blank "
                "nodes apart (RDFC-1.0 work limit); refused"
            )
        self._remaining -= 1
        return super().hash_n_degree_quads(id_, issuer)


def _blank_node_count(dataset: dict[str, list[dict[str, Any]]]) -> int:
    nodes: set[str] = set()
    for graph, triples in dataset.items():
        if graph.startswith("_:"):
            nodes.add(graph)
        for triple in triples:
            nodes.update(
                triple[part]["value"] for part in ("subject", "object") if triple[part]["type"] == "blank node"
            )
    return len(nodes)


def canonicalize(document: dict[str, Any], loader: DocumentLoader, limits: CanonicalLimits = DEFAULT_LIMITS) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (after the safety check), within `limits`.

    Raises :class:`CanonicalLimitExceeded` for a document over the limits.
    """
    normalised = _js_number_semantics(document)
    assert_fully_defined(normalised, loader)
    # What jsonld.normalize does, with the blank nodes counted between its two steps and a bounded RDFC-1.0.
    dataset = jsonld.to_rdf(normalised, {**loader.pyld_options(), "base": None, "produceGeneralizedRdf": False})
    count = _blank_node_count(dataset)
    if count > limits.max_blank_nodes:
        raise CanonicalLimitExceeded(
            f"the document has {count} blank nodes; at most {limits.max_blank_nodes} are canonicalised"
        )
    result = _BoundedRDFC(limits.work_factor).main(dataset, {"format": NQUADS})
    if not isinstance(result, str):  # pragma: no cover - pyld contract
        raise TypeError("pyld did not return N-Quads text")
    return result

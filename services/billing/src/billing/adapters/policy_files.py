"""Reads cancellation-policy YAML: the files shipped in the package and those of POLICY_DIR.

All YAML handling lives here; the mapping a file holds is validated by the pure
billing.domain.policy_document. Every error is a :class:`PolicyError` naming the file and the field path, so a
broken policy is refused at load time instead of mis-refunding later.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from billing.domain import CancellationPolicy, PolicyError, PolicyRegistry, PolicyVersion
from billing.domain.policy_document import parse_policy_document

BUILTIN_POLICY_PACKAGE = "billing"
BUILTIN_POLICY_DIRECTORY = "policies"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML loading silently overwrites."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy(path: str | os.PathLike[str]) -> CancellationPolicy:
    """Load and validate one policy file; raises :class:`PolicyError` naming the file and the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError("(file)", f"cannot be read: {error.strerror or error}", str(file)) from error
    return parse_policy_text(text, str(file))


def parse_policy_text(text: str, source: str) -> CancellationPolicy:
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as error:
        raise PolicyError("(yaml)", f"not valid YAML: {error}", source) from error
    try:
        return parse_policy_document(document)
    except PolicyError as error:
        raise error.in_source(source) from None


@cache
def _builtin_policies() -> tuple[CancellationPolicy, ...]:
    directory = resources.files(BUILTIN_POLICY_PACKAGE).joinpath(BUILTIN_POLICY_DIRECTORY)
    files = sorted((entry for entry in directory.iterdir() if entry.name.endswith(".yaml")), key=lambda e: e.name)
    return tuple(
        parse_policy_text(
            entry.read_text(encoding="utf-8"), f"{BUILTIN_POLICY_PACKAGE}/{BUILTIN_POLICY_DIRECTORY}/{entry.name}"
        )
        for entry in files
    )


def builtin_registry() -> PolicyRegistry:
    """A fresh registry holding every policy version shipped with the billing package."""
    return PolicyRegistry(_builtin_policies())


def load_builtin_policy(policy_id: str, version: PolicyVersion | None = None) -> CancellationPolicy:
    return PolicyRegistry(_builtin_policies()).get(policy_id, version)


def policy_registry(policy_dir: Path | None) -> PolicyRegistry:
    """The shipped policies plus those in `policy_dir`.

    A file in `policy_dir` that repeats a shipped (id, version) is refused at start-up: a version names one
    fixed set of rules, so a second, different definition of it must not be able to shadow the first.
    """
    registry = builtin_registry()
    if policy_dir is not None:
        if not policy_dir.is_dir():
            raise ValueError(f"POLICY_DIR {str(policy_dir)!r} is not a directory")
        files = sorted([*policy_dir.glob("*.yaml"), *policy_dir.glob("*.yml")])
        for file in files:
            registry.register(load_policy(file))
    return registry

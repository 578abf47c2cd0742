"""Policies by id and version, so a past reimbursement can be recomputed with the version it used.

The shipped policies and those of POLICY_DIR are read by billing.adapters.policy_files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from billing.domain.policy import CancellationPolicy, PolicyVersion


class UnknownPolicyError(KeyError):
    """No policy with that id (or that version of it) is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown policy"


class PolicyRegistry:
    def __init__(self, policies: Iterable[CancellationPolicy] = ()) -> None:
        self._policies: dict[str, dict[PolicyVersion, CancellationPolicy]] = {}
        for policy in policies:
            self.register(policy)

    def register(self, policy: CancellationPolicy) -> None:
        versions = self._policies.setdefault(policy.id, {})
        if policy.version in versions:
            raise ValueError(f"policy {policy.id} version {policy.version} is already registered")
        # Versions of one policy must share a kind so that "latest" has a meaning.
        if any(type(existing) is not type(policy.version) for existing in versions):
            raise ValueError(
                f"policy {policy.id}: versions must all be integers or all be ISO dates, got {policy.version!r}"
            )
        versions[policy.version] = policy

    def policy_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._policies))

    def versions(self, policy_id: str) -> tuple[PolicyVersion, ...]:
        versions = self._policies.get(policy_id)
        if not versions:
            raise UnknownPolicyError(f"unknown cancellation policy {policy_id!r}")
        return tuple(sorted(versions, key=lambda version: (str(type(version)), version)))

    def get(self, policy_id: str, version: PolicyVersion | None = None) -> CancellationPolicy:
        """The given version, or the latest one when ``version`` is None."""
        known = self.versions(policy_id)
        chosen = known[-1] if version is None else version
        if chosen not in known:
            raise UnknownPolicyError(
                f"cancellation policy {policy_id!r} has no version {version!r} (known: {list(known)})"
            )
        return self._policies[policy_id][chosen]

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self._policies

    def __iter__(self) -> Iterator[CancellationPolicy]:
        for policy_id in self.policy_ids():
            for version in self.versions(policy_id):
                yield self._policies[policy_id][version]

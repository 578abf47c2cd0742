"""`mc-ops acls apply FILE`: the ACLs of deploy/kafka-acls.yaml on any cluster, idempotently.

aiokafka has no ACL API; confluent-kafka's AdminClient (librdkafka) has ``describe_acls`` / ``create_acls``. The
command runs as a principal allowed to alter ACLs (a super user), from the same KAFKA_* security variables as
every other command. It only adds: an ACL in the cluster that the file does not name is reported, never deleted
(removing a grant is a deliberate act, `kafka-acls --remove`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from pydantic import SecretStr
from reliability.kafka_security import KafkaSecuritySettings, librdkafka_config

from opscli.kafka import CommandError
from opscli.output import table

# What each list of the file grants on its resources (see the file's header).
_GRANTS: dict[str, tuple[ResourceType, tuple[AclOperation, ...]]] = {
    "write": (ResourceType.TOPIC, (AclOperation.WRITE, AclOperation.DESCRIBE)),
    "read": (ResourceType.TOPIC, (AclOperation.READ, AclOperation.DESCRIBE)),
    "describe": (ResourceType.TOPIC, (AclOperation.DESCRIBE,)),
    "groups": (ResourceType.GROUP, (AclOperation.READ,)),
    "describe_groups": (ResourceType.GROUP, (AclOperation.DESCRIBE,)),
}
_KEYS = {*_GRANTS, "description"}
TIMEOUT_S = 30.0


@dataclass(frozen=True, order=True)
class Acl:
    principal: str
    resource: str
    name: str
    operation: str

    def binding(self) -> AclBinding:
        return AclBinding(
            ResourceType[self.resource],
            self.name,
            ResourcePatternType.LITERAL,
            f"User:{self.principal}",
            "*",
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )


def load(path: Path) -> dict[str, dict[str, list[str]]]:
    """The principals of an ACL file, checked: unknown keys are an error, not a silently ignored grant."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CommandError(f"cannot read {path}: {error}") from error
    if (
        not isinstance(document, dict)
        or document.get("version") != 1
        or not isinstance(document.get("principals"), dict)
    ):
        raise CommandError(f"{path}: expected `version: 1` and a `principals` mapping")
    principals: dict[str, dict[str, list[str]]] = {}
    for name, spec in document["principals"].items():
        if not isinstance(spec, dict) or set(spec) - _KEYS:
            raise CommandError(f"{path}: principal {name!r}: unknown keys {sorted(set(spec or {}) - _KEYS)}")
        principals[str(name)] = {key: [str(v) for v in spec.get(key) or []] for key in _GRANTS}
    return principals


def expand(principals: Mapping[str, Mapping[str, Iterable[str]]], prefix: str = "") -> list[Acl]:
    """Every ACL the file grants; topic and group names take the prefix (TOPIC_PREFIX names both)."""
    acls = {
        Acl(principal, resource.name, prefix + name, operation.name)
        for principal, spec in principals.items()
        for key, (resource, operations) in _GRANTS.items()
        for name in spec.get(key, ())
        for operation in operations
    }
    return sorted(acls)


def _admin(bootstrap: str, settings: KafkaSecuritySettings) -> AdminClient:
    config: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "client.id": "opscli-acls"}
    config.update({"log_level": 3, **librdkafka_config(settings)})
    return AdminClient(config)


def _existing(admin: AdminClient, principals: Iterable[str]) -> set[Acl]:
    found: set[Acl] = set()
    for principal in principals:
        query = AclBindingFilter(  # None: any resource name, any host
            ResourceType.ANY,
            None,  # type: ignore[arg-type]
            ResourcePatternType.ANY,
            f"User:{principal}",
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        for binding in admin.describe_acls(query, request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S):
            if (
                binding.permission_type == AclPermissionType.ALLOW
                and binding.resource_pattern_type == ResourcePatternType.LITERAL
                and binding.host == "*"
            ):
                found.add(Acl(principal, binding.restype.name, binding.name, binding.operation.name))
    return found


def apply_acls(bootstrap: str, settings: KafkaSecuritySettings, acls: list[Acl], dry_run: bool = False) -> list[Acl]:
    """Create the ACLs the cluster lacks; returns them (the ones created, or that would be with `dry_run`)."""
    admin = _admin(bootstrap, settings)
    try:
        missing = [acl for acl in acls if acl not in _existing(admin, {acl.principal for acl in acls})]
        if missing and not dry_run:
            futures = admin.create_acls([acl.binding() for acl in missing], request_timeout=TIMEOUT_S)
            for future in futures.values():
                future.result(timeout=TIMEOUT_S)
    except KafkaException as error:
        cause = error.args[0] if error.args else None
        detail = f"{cause.name()}: {cause.str()[:200]}" if cause is not None and hasattr(cause, "name") else str(error)
        raise CommandError(f"applying ACLs: {detail}") from error
    return missing


def password_variable(principal: str) -> str:
    """Where `--set-passwords` reads a principal's password: `student-administration` ->
    STUDENT_ADMINISTRATION_KAFKA_PASSWORD."""
    return principal.upper().replace("-", "_").replace(".", "_") + "_KAFKA_PASSWORD"


SCRAM_ITERATIONS = 8192
MIN_PASSWORD_LENGTH = 16


def scram_upserts(principals: Iterable[str], environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(principals with a password in `environ`, those without); a password too short to be generated is an error
    naming its variable (never the value)."""
    found, missing = [], []
    for principal in principals:
        password = environ.get(password_variable(principal), "")
        if not password:
            missing.append(principal)
            continue
        if len(password) < MIN_PASSWORD_LENGTH:
            raise CommandError(
                f"{password_variable(principal)}: at least {MIN_PASSWORD_LENGTH} characters "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(24))")'
            )
        found.append(principal)
    return found, missing


def set_passwords(
    bootstrap: str, settings: KafkaSecuritySettings, principals: list[str], environ: Mapping[str, str]
) -> None:
    """Create or replace each principal's SCRAM-SHA-512 credential (a new salt each time; sessions already
    authenticated stay up, new logins need the new password)."""
    if not principals:
        return
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [
        UserScramCredentialUpsertion(name, info, environ[password_variable(name)].encode()) for name in principals
    ]
    admin = _admin(bootstrap, settings)
    try:
        futures = admin.alter_user_scram_credentials(upserts, request_timeout=TIMEOUT_S)  # type: ignore[arg-type]
        for future in futures.values():
            future.result(timeout=TIMEOUT_S)
    except KafkaException as error:
        cause = error.args[0] if error.args else None
        detail = f"{cause.name()}: {cause.str()[:200]}" if cause is not None and hasattr(cause, "name") else str(error)
        raise CommandError(f"setting SCRAM credentials: {detail}") from error
    for name in principals:
        _wait_until_it_logs_in(bootstrap, settings, name, environ[password_variable(name)])


def _wait_until_it_logs_in(bootstrap: str, settings: KafkaSecuritySettings, name: str, password: str) -> None:
    """The controller has committed the credential; the broker applies it from the metadata log a moment later.
    Done means the principal can log in with it (a service started next must not find the old one)."""
    own = settings.model_copy(update={"kafka_sasl_username": name, "kafka_sasl_password": SecretStr(password)})
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            _admin(bootstrap, own).list_topics(timeout=5)
            return
        except KafkaException as error:
            if time.monotonic() > deadline:
                raise CommandError(f"{name} still cannot log in with its new password: {error}") from error
        time.sleep(0.5)


async def apply_command(
    bootstrap: str,
    prefix: str,
    path: Path,
    settings: KafkaSecuritySettings,
    dry_run: bool,
    out: TextIO,
    passwords_from: Mapping[str, str] | None = None,
) -> int:
    """`passwords_from` (--set-passwords: the environment): first set the SCRAM password of every principal of
    the file that has one there."""
    principals = load(path)
    if passwords_from is not None:
        found, missing = scram_upserts(principals, passwords_from)
        if not dry_run:
            await asyncio.to_thread(set_passwords, bootstrap, settings, found, passwords_from)
        for name in found:
            verb = "would set" if dry_run else "set"
            print(f"{verb} the SCRAM-SHA-512 password of {name} (from {password_variable(name)})", file=out)
        for name in missing:
            print(f"left the SCRAM credential of {name} as it is: no {password_variable(name)}", file=out)
    acls = expand(principals, prefix)
    created = await asyncio.to_thread(apply_acls, bootstrap, settings, acls, dry_run)
    verb = "would create" if dry_run else "created"
    if created:
        table(
            ["PRINCIPAL", "RESOURCE", "NAME", "OPERATION"],
            [[a.principal, a.resource, a.name, a.operation] for a in created],
            out,
        )
    print(f"{verb} {len(created)} ACL(s); {len(acls) - len(created)} already present", file=out)
    return 0


def principals_of(path: Path) -> list[str]:
    """The principal names of an ACL file (the SCRAM users a cluster needs)."""
    return list(load(path))

"""The SD-JWT VC edition of a micro-credential (IETF SD-JWT VC, format ``dc+sd-jwt``).

Issue 13 is building this module; until it lands the two functions below are the interface the OpenID4VCI
credential endpoint calls, and they refuse to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from certification.adapters.issuer import Issuer

SD_JWT_VC_CONFIGURATION_ID = "microcredential_dc_sd_jwt"
"""The key of this edition in the issuer metadata's ``credential_configurations_supported``."""


def credential_configuration(issuer: Issuer) -> dict[str, Any]:
    """This edition's entry in ``credential_configurations_supported`` (OpenID4VCI 1.0, appendix A.3)."""
    raise NotImplementedError("issue 13: the SD-JWT VC edition is being built")


def issue_sd_jwt_vc(
    issuer: Issuer,
    document: Mapping[str, Any],
    *,
    status_list_id: str,
    status_index: int,
    holder_jwk: Mapping[str, Any],
    issued_at: datetime,
) -> str:
    """The issuer-signed SD-JWT VC (``<jwt>~<disclosure>~...~``) of the stored W3C credential ``document``, bound
    to ``holder_jwk`` (``cnf.jwk``), its status at ``status_index`` of list ``status_list_id``."""
    raise NotImplementedError("issue 13: the SD-JWT VC edition is being built")

"""What a wallet shows of the SD-JWT VC edition: the type metadata ``vct`` names, and the OpenID4VCI configuration.

* ``type_metadata(issuer)``: the SD-JWT VC Type Metadata document served at ``vct`` (``<base>/types/
  microcredential/v1``): name, description, display (en, nl) and every claim with its labels and ``sd`` policy
  (``always`` for the learner's personal claims, ``never`` for the achievement's public facts).
* ``credential_configuration(issuer)``: the ``dc+sd-jwt`` entry of ``credential_configurations_supported``
  (OpenID4VCI 1.0, section 12.2.4 and appendix A.3): format, vct, scope, holder binding by ``jwk``, ES256, key
  proofs of type ``jwt`` (ES256, EdDSA), and ``credential_metadata`` (display and claims) for wallets that do not
  read type metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from certification.adapters.issuer import Issuer

JsonObject = dict[str, Any]
Path = tuple[str | None, ...]

SCOPE = "microcredential"
BACKGROUND_COLOR = "#1F2A44"
TEXT_COLOR = "#FFFFFF"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img" aria-label="Micro-credential">'
    '<rect width="64" height="64" rx="12" fill="#1F2A44"/>'
    '<path d="M32 12 6 24l26 12 26-12z" fill="#C9A227"/>'
    '<path d="M16 30v12c0 5 7 9 16 9s16-4 16-9V30l-16 8z" fill="#FFFFFF"/></svg>'
)


@dataclass(frozen=True)
class ClaimLabel:
    path: Path
    en: str
    nl: str
    sd: Literal["always", "never"] | None
    mandatory: bool = False


CS, ACH = "credentialSubject", "achievement"
CLAIMS: tuple[ClaimLabel, ...] = (
    ClaimLabel((CS, "name"), "Learner", "Lerende", "always", mandatory=True),
    ClaimLabel((CS, "studentId"), "Student number", "Studentennummer", "always", mandatory=True),
    ClaimLabel((CS, ACH, "name"), "Title", "Titel", "never", mandatory=True),
    ClaimLabel((CS, ACH, "description"), "Description", "Beschrijving", "never", mandatory=True),
    ClaimLabel((CS, ACH, "learningOutcomes"), "Learning outcomes", "Leerresultaten", "never", mandatory=True),
    ClaimLabel((CS, ACH, "creditsAvailable"), "Workload (ECTS credits)", "Studiebelasting (ECTS)", "never", True),
    ClaimLabel((CS, ACH, "alignment", None, "targetName"), "Level", "Niveau", "never", mandatory=True),
    ClaimLabel((CS, ACH, "assessmentType"), "Type of assessment", "Soort beoordeling", "never", mandatory=True),
    ClaimLabel((CS, ACH, "participationForm"), "Form of participation", "Vorm van deelname", "never", True),
    ClaimLabel((CS, ACH, "qualityAssurance"), "Quality assurance", "Kwaliteitszorg", "never", mandatory=True),
    ClaimLabel((CS, ACH, "prerequisites"), "Prerequisites", "Toelatingsvoorwaarden", "never"),
    ClaimLabel((CS, ACH, "stackability"), "Integration and stackability", "Stapelbaarheid", "never"),
    ClaimLabel((CS, ACH, "resultDescription", None, "name"), "Courses", "Opleidingsonderdelen", "never", True),
    ClaimLabel((CS, "creditsEarned"), "Credits earned", "Verworven studiepunten", "never", mandatory=True),
    ClaimLabel((CS, "term"), "Academic year", "Academiejaar", "never", mandatory=True),
    ClaimLabel((CS, "result"), "Results", "Resultaten", "always", mandatory=True),
    ClaimLabel((CS, "result", None, "value"), "Grade", "Score", None),
    ClaimLabel((CS, "result", None, "gradingScale"), "Grading scale", "Beoordelingsschaal", None),
    ClaimLabel((CS, "result", None, "assessmentDate"), "Date of assessment", "Datum van beoordeling", None),
    ClaimLabel((CS, "result", None, "supervisedAssessment"), "Supervised assessment", "Toezicht", None),
    ClaimLabel((CS, "result", None, "identityVerified"), "Identity verified", "Identiteit gecontroleerd", None),
    ClaimLabel(("issuer", "name"), "Awarding body", "Uitreikende instelling", "never", mandatory=True),
    ClaimLabel(("issuer", "address", "addressCountryCode"), "Country", "Land", "never", mandatory=True),
    ClaimLabel(("issuer", "address", "addressRegion"), "Region", "Regio", "never"),
    ClaimLabel(("validFrom",), "Date of issuing", "Datum van uitreiking", "never", mandatory=True),
)

_NAME = {"en": "Micro-credential", "nl": "Microcredential"}
_DESCRIPTION = {
    "en": "A micro-credential with the elements of the EU Council Recommendation of 16 June 2022",
    "nl": "Een microcredential met de elementen van de Aanbeveling van de Raad van de EU van 16 juni 2022",
}
_LOGO_ALT = {"en": "Mortarboard: a micro-credential", "nl": "Baret: een microcredential"}


def logo_url(issuer: Issuer) -> str:
    return f"{issuer.base_url}/static/microcredential-logo.svg"


def type_metadata(issuer: Issuer) -> JsonObject:
    """The SD-JWT VC Type Metadata document (draft-ietf-oauth-sd-jwt-vc, section 6) served at ``vct``."""
    return {
        "vct": issuer.vct,
        "name": "University micro-credential",
        "description": _DESCRIPTION["en"],
        "display": [
            {
                "locale": locale,
                "name": _NAME[locale],
                "description": _DESCRIPTION[locale],
                "rendering": {
                    "simple": {
                        "logo": {"uri": logo_url(issuer), "alt_text": _LOGO_ALT[locale]},
                        "background_color": BACKGROUND_COLOR,
                        "text_color": TEXT_COLOR,
                    }
                },
            }
            for locale in ("en", "nl")
        ],
        "claims": [
            {
                "path": list(claim.path),
                "display": [
                    {"locale": "en", "label": claim.en},
                    {"locale": "nl", "label": claim.nl},
                ],
                **({"sd": claim.sd} if claim.sd else {}),
            }
            for claim in CLAIMS
        ],
    }


def credential_configuration(issuer: Issuer) -> JsonObject:
    """This edition's entry in ``credential_configurations_supported`` (OpenID4VCI 1.0, appendix A.3)."""
    return {
        "format": "dc+sd-jwt",
        "vct": issuer.vct,
        "scope": SCOPE,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}},
        "credential_metadata": {
            "display": [
                {
                    "name": _NAME[locale],
                    "locale": locale,
                    "description": _DESCRIPTION[locale],
                    "logo": {"uri": logo_url(issuer), "alt_text": _LOGO_ALT[locale]},
                    "background_color": BACKGROUND_COLOR,
                    "text_color": TEXT_COLOR,
                }
                for locale in ("en", "nl")
            ],
            "claims": [
                {
                    "path": list(claim.path),
                    **({"mandatory": True} if claim.mandatory else {}),
                    "display": [{"name": claim.en, "locale": "en"}, {"name": claim.nl, "locale": "nl"}],
                }
                for claim in CLAIMS
            ],
        },
    }

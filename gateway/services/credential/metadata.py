"""What the credit code publishes about itself: OpenID4VCI credential issuer metadata and the
SD-JWT VC Type Metadata served at the ``vct`` URL (with a JSON Schema for the claims).

The claim list here is the single source for the type metadata, the issuer metadata and the set
of claim paths a presentation request may name.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC
from gateway.services.context import Gateway

__all__ = [
    "CONFIGURATION_ID",
    "LEVELS",
    "VCT_PATH",
    "claim_labels",
    "claim_paths",
    "issuer_metadata",
    "type_metadata",
    "vct",
]

CONFIGURATION_ID: Final = "sx-credit-code"
VCT_PATH: Final = "/credentials/credit-code/v1"
SCHEMA_NAME: Final = "credit-code.schema.json"
# yrd-common/1 levels, best first; "unrated" is not a level one can be "at least".
LEVELS: Final = ("outstanding", "good", "fair", "basic", "low")

_CLAIMS: Final[tuple[tuple[str, str, str], ...]] = (
    ("tier", "绍兴个人诚信分等级", "Shaoxing integrity tier"),
    ("regional_tier", "长三角通用等级", "Yangtze River Delta common level"),
    *((f"level_at_least.{lvl}", f"通用等级不低于 {lvl}", f"Common level at least {lvl}") for lvl in LEVELS),
    ("jurisdiction", "发证地", "Issuing jurisdiction"),
    ("name_masked", "姓名（脱敏）", "Masked name"),
    ("score", "诚信分（仅本人选择时）", "Score (only when the resident chose it)"),
)


def vct(gw: Gateway) -> str:
    return gw.settings.issuer + VCT_PATH


def claim_paths() -> tuple[str, ...]:
    return tuple(path for path, _, _ in _CLAIMS)


def claim_labels(lang: str) -> dict[str, str]:
    """Each claim path's name for a person reading a request (the pages: ``zh`` or ``en``)."""
    return {path: en if lang == "en" else zh for path, zh, en in _CLAIMS}


def _display(zh: str, en: str) -> list[dict[str, str]]:
    return [{"locale": "zh-CN", "name": zh}, {"locale": "en", "name": en}]


def type_metadata(gw: Gateway) -> dict[str, Any]:
    """SD-JWT VC Type Metadata: every claim selectively disclosable (``sd: always``)."""
    return {
        "vct": vct(gw),
        "name": "Shaoxing credit code (信用码)",
        "description": "A resident-held proof of the Shaoxing integrity tier and the common regional level.",
        "display": [
            {"locale": "zh-CN", "name": "绍兴信用码", "description": "绍兴个人诚信分等级凭证"},
            {"locale": "en", "name": "Shaoxing credit code", "description": "Shaoxing integrity tier credential"},
        ],
        "claims": [{"path": path.split("."), "display": _display(zh, en), "sd": "always"} for path, zh, en in _CLAIMS],
        "schema_uri": f"{gw.settings.issuer}/schemas/{SCHEMA_NAME}",
    }


def issuer_metadata(gw: Gateway) -> dict[str, Any]:
    """``/.well-known/openid-credential-issuer`` (OpenID4VCI 1.0 §12.2). The access token is the
    resident's ID token from the real-name identity provider, so no authorization server is named."""
    base = gw.settings.issuer
    return {
        "credential_issuer": base,
        "credential_endpoint": f"{base}/v1/credentials",
        "nonce_endpoint": f"{base}/v1/credential-nonces",
        "display": [{"locale": "zh-CN", "name": "绍兴市公共信用"}, {"locale": "en", "name": "Shaoxing public credit"}],
        "credential_configurations_supported": {
            CONFIGURATION_ID: {
                "format": TYP_SD_JWT_VC,
                "vct": vct(gw),
                "scope": CONFIGURATION_ID,
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": [gw.settings.signing_alg],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}},
                "credential_metadata": {
                    "display": [{"locale": "zh-CN", "name": "绍兴信用码"}, {"locale": "en", "name": "Credit code"}],
                    "claims": [{"path": path.split("."), "display": _display(zh, en)} for path, zh, en in _CLAIMS],
                },
            }
        },
    }

"""The closed list of purposes an assertion, a consent or a programme may serve (measure 三(三)).

三(三) names the sectors where a good integrity level may earn a benefit: loans and credit lines,
deposit waivers, public transport, tourism and culture, hotels and catering, rental housing,
elderly care and medical pay-later. Each becomes a purpose code with a bilingual label, plus
``cross_city_recognition`` for the recognition of a resident by another city. The list is closed:
the JSON Schemas (assertion, partner, programme) enumerate exactly these codes, a test keeps them
equal, and anything else is refused with the stable code ``unknown_purpose``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from gateway.errors import ValidationFailed

__all__ = ["PURPOSE_CODES", "PURPOSE_LABELS", "PurposeNotListed", "check_purpose", "purpose_list"]


class PurposeNotListed(ValidationFailed):
    code = "purpose_not_listed"
    title = "The purpose is not in the gateway's closed list of purposes"


# Order is the order the public documents list them in; existing codes keep their meaning.
PURPOSE_LABELS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "cross_city_recognition": {"zh": "跨城市信用互认", "en": "Cross-city recognition"},
        "loan_discount": {"zh": "信用贷款优惠", "en": "Loans on better terms"},
        "credit_line": {"zh": "信用授信额度", "en": "Credit lines"},
        "deposit_waiver": {"zh": "信用免押金", "en": "Deposit waivers"},
        "public_transport": {"zh": "公共交通优惠", "en": "Public transport"},
        "tourism": {"zh": "旅游景区优惠", "en": "Tourism"},
        "culture": {"zh": "文化场馆优惠", "en": "Culture (libraries, museums, venues)"},
        "hotel_catering": {"zh": "酒店餐饮优惠", "en": "Hotels and catering"},
        "rental": {"zh": "住房租赁优惠", "en": "Rental housing"},
        "elderly_care": {"zh": "养老服务优惠", "en": "Elderly care"},
        "medical_pay_later": {"zh": "信用就医先诊疗后付费", "en": "Medical care, pay later"},
    }
)
PURPOSE_CODES: Final = tuple(PURPOSE_LABELS)


def purpose_list() -> list[dict[str, object]]:
    """The purposes with their labels, as published."""
    return [{"code": code, "label": dict(label)} for code, label in PURPOSE_LABELS.items()]


def check_purpose(purpose: object) -> str:
    """:raises PurposeNotListed: ``purpose`` is not a code of the closed list."""
    if not isinstance(purpose, str) or purpose not in PURPOSE_LABELS:
        raise PurposeNotListed("The purpose is not one of the listed codes.", known_purposes=list(PURPOSE_CODES))
    return purpose

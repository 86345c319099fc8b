"""Text the gateway accepts into its database: checked before anything reaches the driver.

A lone surrogate (``"张\\ud800"``) cannot be encoded as UTF-8, so the driver failed the whole
ingestion batch with a 500 on both databases; PostgreSQL also refuses NUL in text. Such text is
refused here, per field, with a stable reason: ``lone_surrogate``, ``control_character`` (C0
and C1 controls and DEL; tab, line feed and carriage return are allowed in free text), and for a
person's name also ``bidi_control`` (the override and isolate characters that make a name display
as something else) and ``blank`` (nothing but white space).
"""

from __future__ import annotations

import re
from typing import Any, Final

from gateway.errors import InvalidText

__all__ = ["check_name", "check_text", "describe", "name_fault", "text_fault", "tree_fault"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NAME_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# ALM, LRM, RLM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI.
_BIDI: Final = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_REASONS: Final = {
    "lone_surrogate": "holds a lone surrogate (not valid Unicode text)",
    "control_character": "holds a control character",
    "bidi_control": "holds a bidirectional control character",
    "blank": "is blank",
}


def text_fault(value: str) -> str | None:
    """Why free text may not be stored, or ``None``."""
    if _SURROGATE.search(value):
        return "lone_surrogate"
    if _CONTROL.search(value):
        return "control_character"
    return None


def name_fault(value: str) -> str | None:
    """Why a person's name may not be stored, or ``None``."""
    if _SURROGATE.search(value):
        return "lone_surrogate"
    if _NAME_CONTROL.search(value):
        return "control_character"
    if _BIDI.search(value):
        return "bidi_control"
    if not value.strip() or not value.strip("\u200b\u200c\u200d\ufeff\u3000 "):
        return "blank"
    return None


def tree_fault(value: Any) -> str | None:
    """The first fault of any string (member names included) in a parsed JSON value."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            fault = text_fault(node)
            if fault:
                return fault
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def describe(fault: str, what: str = "A text field") -> str:
    return f"{what} {_REASONS.get(fault, 'is not allowed')}."


def check_text(value: str, what: str = "A text field") -> str:
    fault = text_fault(value)
    if fault:
        raise InvalidText(describe(fault, what), reason=fault)
    return value


def check_name(value: str, what: str = "The name") -> str:
    fault = name_fault(value)
    if fault:
        raise InvalidText(describe(fault, what), reason=fault)
    return value

"""The one bounded JSON parser: every JSON document a caller sends goes through ``loads``.

``json.loads`` recurses once per nesting level, so a body of 1,500 ``[`` raised ``RecursionError``
deep inside a route (a 500 with a traceback). Here the nesting is measured first, without
recursion and without building anything, and a document deeper than ``max_depth`` or longer than
``max_bytes`` is refused with :class:`JsonTooDeep` / :class:`JsonTooLarge` before the real parser
runs; the parser's own ``RecursionError`` is caught as a last line. Everything it refuses is a
:class:`~gateway.errors.MalformedBody` (400) with a stable code, and no message ever quotes input.

Duplicate member names are refused (RFC 8259 leaves them undefined; RFC 7515/7519 ask JOSE
parsers to reject them), and so are the non-standard ``NaN``/``Infinity`` constants.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from gateway.errors import MalformedBody

__all__ = ["DEFAULT_MAX_DEPTH", "JsonTooDeep", "JsonTooLarge", "depth_exceeds", "loads"]

# The deepest document the gateway accepts anywhere: a consent or a crosswalk is 4–6 deep, a JWT
# header or claims set 2–3; 32 leaves room without letting a parser recurse far.
DEFAULT_MAX_DEPTH: Final = 32
DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024

# A JSON string (escapes included); removed before counting brackets so "[" inside text is ignored.
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_PAIRS: Final = re.compile(rb"\[\]|\{\}")


class JsonTooDeep(MalformedBody):
    code = "json_too_deep"
    title = "The JSON document is nested too deeply"


class JsonTooLarge(MalformedBody):
    code = "json_too_large"
    title = "The JSON document is larger than allowed"
    status = 413


def depth_exceeds(data: bytes, max_depth: int) -> bool:
    """Whether the brackets of ``data`` (outside strings) nest deeper than ``max_depth``.

    Linear passes in C over the bracket skeleton: each pass removes the innermost ``[]``/``{}``
    pairs, so a skeleton still non-empty after ``max_depth`` passes is deeper (or unbalanced, which
    the parser would refuse anyway). No recursion, and a flat document costs one pass.
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not skeleton:
            return False
        # One scan removes only the innermost pairs of both kinds (two ``replace`` calls in a row
        # would take ``{[]}`` apart in one pass).
        shorter = _PAIRS.sub(b"", skeleton)
        if len(shorter) == len(skeleton):
            return True  # unbalanced or interleaved: not JSON; refuse it here
        skeleton = shorter
    return bool(skeleton)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member name")
        result[name] = value
    return result


def _no_constants(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def loads(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
    what: str = "The body",
) -> Any:
    """Parse ``data`` as JSON within the bounds.

    :raises JsonTooLarge: more than ``max_bytes`` bytes.
    :raises JsonTooDeep: nested deeper than ``max_depth``.
    :raises MalformedBody: not UTF-8, not JSON, duplicate member names, NaN/Infinity.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JsonTooLarge(f"{what} holds at most {max_bytes} bytes.", max_bytes=max_bytes)
    if depth_exceeds(raw, max_depth):
        raise JsonTooDeep(f"{what} nests deeper than {max_depth} levels.", max_depth=max_depth)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise JsonTooDeep(f"{what} nests too deeply.", max_depth=max_depth) from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody(f"{what} is not valid JSON.") from None

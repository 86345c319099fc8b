"""``gateway mappings …``: the operator's side of tier crosswalks, on the database directly.

The same services as ``/v1/admin/crosswalks``: list, show, draft FILE, validate FILE, preview ID
FILE, publish ID VERSION, rollback ID, and crosswalk-propose (equipercentile linking from two
score distribution files). Changes are audited under ``--actor`` (default: ``cli:`` and the
login name) and need ``--reason``; ``--if-match`` pins the ETag the operator last saw (default:
the current one, read just before the change).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_mappings_parser", "run_mappings"]


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        from gateway.errors import ValidationFailed

        raise ValidationFailed(f"{path} is not a readable JSON file.") from None


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli-operator"


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _current_etag(gw: Any, crosswalk_id: str) -> tuple[str | None, str | None]:
    """(If-Match, If-None-Match) for a change the operator did not pin: the head as it is now."""
    from gateway.services.admin.mapping_admin import CrosswalkNotFound, show_crosswalk

    try:
        return show_crosswalk(gw, crosswalk_id)["etag"], None
    except CrosswalkNotFound:
        return None, "*"


def _propose(args: argparse.Namespace) -> int:
    from datetime import date

    from gateway.config import Settings
    from gateway.exchange.tiers import load_mappings
    from gateway.services.admin.crosswalk_analysis import propose

    result = propose(
        load_mappings(Settings.from_env().mappings_dir).schemes,
        _read_json(args.local),
        _read_json(args.common),
        crosswalk_id=args.id,
        local_scheme=args.local_scheme,
        effective_from=date.fromisoformat(args.effective_from) if args.effective_from else None,
    )
    text = json.dumps(result["document"], ensure_ascii=False, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for level in result["levels"]:
        band = level["band"]
        shown = f"{band['min_score']}–{band['max_score']}" if band else "(no band)"
        print(
            f"  {level['level']:<12} {shown:<12} reference ≥ {level['reference_share']:.2%}, "
            f"local ≥ {level['local_share']:.2%}",
            file=sys.stderr,
        )
    for note in result["notes"]:
        print(f"  note: {note}", file=sys.stderr)
    print("  the draft validates" if result["valid"] else f"  not valid yet: {result['problem']}", file=sys.stderr)
    return 0


def run_mappings(args: argparse.Namespace, build: Callable[[], Any]) -> int:
    """Run one ``gateway mappings`` action; ``build`` makes the gateway context when one is needed."""
    from gateway.exchange.tiers import InvalidMapping
    from gateway.services.admin import mapping_admin as ma
    from gateway.services.admin.crosswalk_analysis import preview_impact

    if args.action in ("crosswalk-propose", "propose"):
        return _propose(args)
    if args.action == "validate":
        from gateway.config import Settings
        from gateway.exchange.tiers import load_mappings
        from gateway.services.recognition.crosswalks import check_document

        cw = check_document(_read_json(args.file), load_mappings(Settings.from_env().mappings_dir).schemes)
        print(f"valid: {cw.id} v{cw.version} {cw.digest}")
        return 0
    gw = build()
    if args.action == "list":
        for c in ma.list_crosswalks(gw):
            drafts = ",".join(map(str, c["drafts"])) or "-"
            print(
                f"{c['id']:<32} {c['local_scheme']:<24} v{c['published_version'] or '-':<4} "
                f"{(c['published_digest'] or '')[:19]:<20} drafts {drafts:<8} etag {c['etag']}"
            )
    elif args.action == "show":
        _print(ma.show_crosswalk(gw, args.id))
    elif args.action == "preview":
        impact = preview_impact(gw, args.id, document=_read_json(args.file))
        print(f"{impact['changed']} of {impact['population']} scored residents would change common level")
        for level in impact["levels"]:
            print(
                f"  {level['level']:<12} {level['current']:>8} → {level['proposed']:>8}  "
                f"(-{level['leaving']} +{level['joining']})"
            )
    else:
        doc = _read_json(args.file) if args.action == "draft" else None
        if doc is not None and not isinstance(doc, dict):
            raise InvalidMapping("A crosswalk document is a JSON object.")
        crosswalk_id = str(doc.get("id", "")) if doc is not None else args.id
        match, none_match = (args.if_match, None) if args.if_match else _current_etag(gw, crosswalk_id)
        if doc is not None:
            view = ma.create_draft(
                gw, _actor(args), crosswalk_id, doc, reason=args.reason, if_match=match, if_none_match=none_match
            )
            print(f"stored {crosswalk_id} v{view['version']} as a draft ({view['digest']}); etag {view['etag']}")
            return 0
        if args.action == "publish":
            view = ma.publish(gw, _actor(args), crosswalk_id, args.version, reason=args.reason, if_match=match)
        else:
            view = ma.rollback(gw, _actor(args), crosswalk_id, reason=args.reason, if_match=match)
        print(f"{crosswalk_id}: v{view['published_version']} is in force ({view['published_digest']})")
    return 0


def add_mappings_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    s = sub.add_parser("mappings", help="tier crosswalks: list, show, draft, validate, preview, publish, rollback")
    msub = s.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="every crosswalk with the version in force")
    m = msub.add_parser("show", help="a crosswalk's published document and history (JSON)")
    m.add_argument("id")
    m = msub.add_parser("validate", help="check a crosswalk document against the published schemes")
    m.add_argument("file")
    m = msub.add_parser("preview", help="how many residents a document would move, per common level")
    m.add_argument("id")
    m.add_argument("file")
    changes = {
        "draft": "store a crosswalk document (its id names the crosswalk) as the next version, a draft",
        "publish": "put a draft version in force",
        "rollback": "publish the previously published content again, as a new version",
    }
    for name, text in changes.items():
        m = msub.add_parser(name, help=text)
        m.add_argument("file" if name == "draft" else "id")
        if name == "publish":
            m.add_argument("version", type=int)
        m.add_argument("--reason", required=True, help="kept in the audit log")
        m.add_argument("--actor", help="who, for the audit log (default: cli:<login name>)")
        m.add_argument("--if-match", help="the ETag last read (default: the current one)")
    m = msub.add_parser(
        "crosswalk-propose",
        aliases=["propose"],
        help="propose score bands by equipercentile linking (see gateway/exchange/equipercentile.py)",
    )
    m.add_argument("--local", required=True, help="the local scale's score distribution (JSON)")
    m.add_argument("--common", required=True, help="the reference distribution with the common levels' anchors")
    m.add_argument("--id", help="the crosswalk id (default: <local scheme>-<common scheme>)")
    m.add_argument("--local-scheme", help="the local scheme (default: the local distribution's scale)")
    m.add_argument("--effective-from", help="YYYY-MM-DD (default: today in Shaoxing)")
    m.add_argument("--out", help="write the draft here instead of standard output")
    s.set_defaults(func=func)

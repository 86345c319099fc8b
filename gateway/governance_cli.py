"""``gateway model …`` and ``gateway catalogue …``: the office's side of the scoring model and the
information catalogue (measure 三(一), 二(三)), on the database directly.

The same services as ``/v1/admin/model`` and ``/v1/admin/catalogue``: show, validate FILE, draft
FILE, preview FILE|VERSION (model only), publish VERSION [--effective-from], rollback. Changes are
audited under ``--actor`` (default ``cli:`` and the login name) and need ``--reason``;
``--if-match`` pins the ETag last seen (default: the current one, read just before the change).
Publishing a model rescores everyone and supersedes the assertions whose tier or score changed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from typing import Any

from gateway.mappings_cli import _actor, _print, _read_json

__all__ = ["add_governance_parsers", "run_governance"]


def _preview(gw: Any, target: str) -> None:
    from gateway.services.publication import model_admin as ma

    result = (
        ma.preview_model(gw, version=int(target))
        if target.isdigit()
        else ma.preview_model(gw, document=_read_json(target))
    )
    sample = f" (a sample of every {result['sample_every']}th resident)" if result["sampled"] else ""
    print(
        f"{result['scored']} of {result['population']} residents scored{sample}: "
        f"model {result['live_version']} → {result['draft_version']}, {result['changed']} change tier"
    )
    for row in result["tiers"]:
        print(f"  {row['tier']:<12} {row['live']:>8} → {row['draft']:>8}")


def run_governance(args: argparse.Namespace, build: Callable[[], Any]) -> int:
    from gateway.errors import ValidationFailed
    from gateway.services.publication import model_admin as ma

    name = args.command
    gw = build()
    if args.action == "show":
        _print(ma.show(gw, name))
        return 0
    if args.action == "validate":
        result = ma.validate(gw, name, _read_json(args.file))
        print(f"valid: {name} {result['version']} {result['digest']}")
        return 0
    if args.action == "preview":
        _preview(gw, args.target)
        return 0
    match = args.if_match or ma.show(gw, name)["etag"]
    if args.action == "draft":
        doc = _read_json(args.file)
        if not isinstance(doc, dict):
            raise ValidationFailed("A document is a JSON object.")
        view = ma.create_draft(gw, name, _actor(args), doc, reason=args.reason, if_match=match)
        print(f"stored {name} v{view['version']} as a draft ({view['digest']}); etag {view['etag']}")
        return 0
    if args.action == "publish":
        effective = date.fromisoformat(args.effective_from) if args.effective_from else None
        view = ma.publish(
            gw, name, _actor(args), args.version, reason=args.reason, if_match=match, effective_from=effective
        )
    else:
        view = ma.rollback(gw, name, _actor(args), reason=args.reason, if_match=match)
    print(f"{name}: v{view['published_version']} is in force ({view['published_digest']})")
    if "recompute" in view:
        r = view["recompute"]
        print(f"  rescored {r['people']} residents ({r['eligible']} eligible) with model {r['model_version']}")
    return 0


def add_governance_parsers(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    for name, what in (("model", "the scoring model"), ("catalogue", "the information catalogue")):
        s = sub.add_parser(name, help=f"{what}: show, validate, draft, publish, rollback (governed like crosswalks)")
        msub = s.add_subparsers(dest="action", required=True)
        msub.add_parser("show", help="the version in force and every version's history (JSON)")
        m = msub.add_parser("validate", help="check a document (schema and semantic checks) without storing it")
        m.add_argument("file")
        if name == "model":
            m = msub.add_parser("preview", help="the population by tier under a draft (FILE or stored VERSION)")
            m.add_argument("target")
        changes = {
            "draft": "store a document as the next version, a draft",
            "publish": "put a draft version in force" + (" (rescores everyone)" if name == "model" else ""),
            "rollback": "publish the previously published content again, as a new version",
        }
        for action, text in changes.items():
            m = msub.add_parser(action, help=text)
            if action == "draft":
                m.add_argument("file")
            if action == "publish":
                m.add_argument("version", type=int)
                m.add_argument("--effective-from", help="YYYY-MM-DD, not after today (recorded with the version)")
            m.add_argument("--reason", required=True, help="kept in the audit log")
            m.add_argument("--actor", help="who, for the audit log (default: cli:<login name>)")
            m.add_argument("--if-match", help="the ETag last read (default: the current one)")
        s.set_defaults(func=func)

"""The ``gateway`` command: serve, migrate, ingest, recompute, score, synth, credentials, demo.

The CLI is the operator's tool on the gateway's own machine: it works on the database directly
through the same services the HTTP routes use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.errors import ConfigurationError, GatewayError
from gateway.governance_cli import add_governance_parsers, run_governance
from gateway.mappings_cli import add_mappings_parser, run_mappings

__all__ = ["main"]


def _gateway(args: argparse.Namespace) -> Any:
    from gateway.services.context import Gateway

    return Gateway.build(background_refresh=False)  # one-shot commands: nothing to keep fresh


def _cmd_serve(args: argparse.Namespace) -> int:
    from gateway.config import Settings

    settings = Settings.from_env()
    if args.workers > 1:
        _prepare_multiprocess_metrics(settings.data_dir)  # before prometheus_client is first imported
    from gateway.services.context import Gateway
    from gateway.serving import resolve_implementation, run_server

    try:
        resolve_implementation(args.loop, args.http)
    except ValueError as exc:
        print(f"gateway serve: {exc}", file=sys.stderr)
        return 2
    # Build once here so configuration errors and migrations happen before workers fork.
    # Migrations run on both backends (an empty PostgreSQL database included; concurrent starts
    # serialise on an advisory lock in store.engine.migrate).
    Gateway.build(settings, run_migrations=True, background_refresh=False).close()
    if settings.otel:
        from gateway.api.tracing import configure_tracing

        configure_tracing()  # in the supervisor, so a missing extra is one line before anything starts
    if settings.metrics_bind is not None:
        from prometheus_client import start_http_server

        from gateway.services.operations.metrics import collecting_registry

        # A separate listener (e.g. on an internal interface) that serves every worker's metrics.
        host, port = settings.metrics_bind
        start_http_server(port, addr=host, registry=collecting_registry())
    if settings.webhook_worker:
        import threading

        from gateway.services.operations.webhooks import run_worker

        # In the supervising process: one delivery loop (several serve hosts share the queue safely).
        gw = Gateway.build(settings, background_refresh=False)
        threading.Thread(target=run_worker, args=(gw, 5.0), name="webhooks", daemon=True).start()
    if settings.audit_anchor_interval:
        from gateway.services.operations.audit_chain import start_anchoring

        # In the supervising process only: one anchor writer however many workers serve.
        start_anchoring(Gateway.build(settings, background_refresh=False), settings.audit_anchor_interval)
    # The socket, loop and parser settings live in gateway.serving, shared with the bench's references.
    run_server(
        "gateway.api.app:create_app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=args.http,
    )
    return 0


def _prepare_multiprocess_metrics(data_dir: Path) -> None:
    """prometheus-client's multiprocess mode: each worker writes its samples to files in a directory
    that must be empty when the server starts (stale files would be summed in)."""
    import os
    import shutil

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator chose one
    directory = data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from gateway.config import Settings
    from gateway.store.engine import make_engine, migrate

    engine = make_engine(Settings.from_env().effective_database_url)
    migrate(engine)
    print("database schema is up to date")
    return 0


def _batches(path: Path, size: int) -> Iterator[list[Any]]:
    from gateway.services.scores.ingestion import parse_batch

    lines: list[bytes] = []
    with path.open("rb") as fh:
        for line in fh:
            lines.append(line)
            if len(lines) == size:
                yield parse_batch(b"".join(lines), "application/x-ndjson", max_records=size)
                lines = []
    if lines:
        yield parse_batch(b"".join(lines), "application/x-ndjson", max_records=size)


def _cmd_ingest(args: argparse.Namespace) -> int:
    from gateway.services.scores.ingestion import ingest_batch

    gw = _gateway(args)
    path = Path(args.path)
    if path.is_dir():
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        jobs = [(f["unit"], path / f["path"]) for f in manifest["files"]]
    else:
        if not args.unit:
            print("ingesting a single file needs --unit", file=sys.stderr)
            return 2
        jobs = [(args.unit, path)]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    for unit_id, file in jobs:
        unit = gw.partners.enabled(unit_id)
        if unit is None or unit.kind != "collaborating_unit":
            print(f"{unit_id}: not an enabled collaborating unit", file=sys.stderr)
            return 2
        counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
        for batch in _batches(file, args.batch):
            res = ingest_batch(gw, unit, batch, recompute=not args.no_recompute)
            counts["accepted"] += len(res.accepted)
            counts["duplicates"] += len(res.duplicates)
            counts["rejected"] += len(res.rejected)
            for r in res.rejected[:3]:
                print(f"  {unit_id}: record rejected ({r.code}): {r.reason}", file=sys.stderr)
        print(
            f"{unit_id}: {counts['accepted']} accepted, {counts['duplicates']} duplicates, "
            f"{counts['rejected']} rejected"
        )
        for k in totals:
            totals[k] += counts[k]
    print(f"total: {totals['accepted']} accepted, {totals['duplicates']} duplicates, {totals['rejected']} rejected")
    return 0


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    print(
        f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _cmd_recompute(args: argparse.Namespace) -> int:
    from gateway.services.residents.retention import run_retention
    from gateway.services.scores.scoring import recompute_all

    gw = _gateway(args)
    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    # Deletions first (issue 9): nobody whose records are due for deletion is scored again tonight.
    retention = run_retention(gw, actor="recompute")
    if not args.quiet:
        print(f"retention: {_retention_line(retention.as_dict())}", file=sys.stderr)
    report = recompute_all(gw, as_of=as_of, chunk=args.chunk, progress=None if args.quiet else _progress)
    # The nightly recompute is also when status-list slots of long-expired assertions are freed.
    freed = gw.status_lists.purge_expired()
    if not args.quiet:
        print(file=sys.stderr)
        print(f"freed {freed:,} status-list slots of expired assertions", file=sys.stderr)
    print(
        f"recomputed {report.people:,} people ({report.eligible:,} eligible) with model "
        f"{report.model_version} as of {report.as_of} in {report.seconds:.1f} s"
    )
    return 0


def _retention_line(report: dict[str, Any]) -> str:
    return (
        f"deleted {report['withdrawn_people_deleted']:,} people after a withdrawal, "
        f"{report['unauthorised_records_deleted']:,} quarantined records and "
        f"{report['unauthorised_people_deleted']:,} never-authorised people"
    )


def _cmd_retention(args: argparse.Namespace) -> int:
    from gateway.services.residents.retention import run_retention

    gw = _gateway(args)
    report = run_retention(gw, actor="cli-operator").as_dict()
    print(json.dumps(report, indent=2) if args.json else _retention_line(report))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from gateway.services.scores.officer import score_view

    gw = _gateway(args)
    # "-" reads the number from standard input, keeping it out of the shell history.
    id_number = sys.stdin.readline().strip() if args.id_number == "-" else args.id_number
    view = score_view(gw, "cli-operator", id_number, purpose=args.purpose, case_ref=args.case)
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    print(render_score(view))
    return 0


def render_score(view: dict[str, Any]) -> str:
    lines = [f"person {view['person']['name_masked']} (ref {view['person']['ref']})"]
    if not view["eligible"]:
        lines.append(f"  no score: {view['reason']}")
        return "\n".join(lines)
    tier = view["tier"] or {}
    label = tier.get("label", {})
    lines.append(
        f"  score {view['score']} / {view['max_score']}  tier {tier.get('code')} "
        f"{label.get('zh', '')} ({label.get('en', '')})  model {view['model_version']} as of {view['as_of']}"
    )
    for entry in view["breakdown"]:
        refs = ", ".join(f"{r.get('item', '?')}@{r.get('unit', '?')}" for r in entry["records"][:4])
        more = f" +{len(entry['records']) - 4} more" if len(entry["records"]) > 4 else ""
        capped = " (capped)" if entry["capped"] else ""
        lines.append(f"  {entry['family']:<10} {entry['indicator']:<28} {entry['points']:>8.2f}{capped}  {refs}{more}")
    return "\n".join(lines)


def _cmd_synth(args: argparse.Namespace) -> int:
    from gateway.synth import generate

    as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    manifest = generate(args.residents, args.seed, Path(args.out), as_of)
    print(f"wrote {args.residents:,} synthetic residents to {args.out} ({_records_in(manifest):,} records)")
    return 0


def _records_in(manifest: Any) -> int:
    return int(getattr(manifest, "records", 0) or 0)


def _cmd_credentials(args: argparse.Namespace) -> int:
    from gateway.services.admin.credentials import create_api_key, revoke_api_key

    gw = _gateway(args)
    with gw.engine.begin() as conn:
        if args.action == "create":
            print(create_api_key(conn, gw, args.principal_type, args.principal_id))
        elif not revoke_api_key(conn, args.principal_type):
            print("no such active key", file=sys.stderr)
            return 1
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from gateway.verify_cli import run_verify

    text = sys.stdin.read() if args.token == "-" else args.token  # noqa: S105 - "-" means stdin
    if args.presentation:  # issue 10: a credit code shown offline
        from gateway.verify_presentation_cli import run_verify_presentation

        return run_verify_presentation(
            text,
            verifier_kind=args.verifier_kind,
            jwks_file=args.jwks,
            status_file=args.status_list,
            issuer=args.issuer,
        )
    return run_verify(text, jwks_file=args.jwks, issuer=args.issuer, audience=args.audience)


def _cmd_keys(args: argparse.Namespace) -> int:
    gw = _gateway(args)
    if args.action == "rotate":
        active, nxt = gw.keyring.rotate()
        print(f"active: {active.kid} ({active.alg})")
        shown = nxt.kid if nxt else "none — add a PEM file to the keys directory"
        print(f"next (pre-published, not signing): {shown}")
        return 0
    for row in gw.keyring.rows():
        until = f" published until {row.publish_until:%Y-%m-%d %H:%M}" if row.publish_until else ""
        print(f"{row.kid}  {row.alg:<6} {row.state:<8} created {row.created_at:%Y-%m-%d %H:%M}{until}")
    return 0


def _cmd_admin(args: argparse.Namespace) -> int:
    gw = _gateway(args)
    print(gw.admins.issue(args.name, args.role, lifetime=args.lifetime))
    return 0


def _cmd_dev_idp(args: argparse.Namespace) -> int:
    from gateway.config import Settings
    from gateway.services.residents.dev_idp import dev_idp_token_command

    text = sys.stdin.readline().strip() if args.id_number == "-" else args.id_number
    print(dev_idp_token_command(Settings.from_env(), text, args.name))
    return 0


def _cmd_wallet(args: argparse.Namespace) -> int:
    from gateway.wallet import run_wallet

    return run_wallet(args)


def _cmd_mappings(args: argparse.Namespace) -> int:
    return run_mappings(args, lambda: _gateway(args))


def _cmd_governance(args: argparse.Namespace) -> int:
    return run_governance(args, lambda: _gateway(args))


def _cmd_openapi(args: argparse.Namespace) -> int:
    from gateway.api.openapi import write_openapi

    path = write_openapi(Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(residents=args.residents, seed=args.seed, serve=args.serve, port=args.port)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.services.operations.doctor import Check, run_doctor

    def show(check: Check) -> None:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")

    checks = run_doctor(report=show)
    return 0 if all(c.ok for c in checks) else 2


def _cmd_audit(args: argparse.Namespace) -> int:
    from gateway.services.operations.audit_chain import anchor_file, verify_chain, write_anchor

    gw = _gateway(args)
    if args.action == "anchor":
        claims = write_anchor(gw)
        print(f"anchored sequence {claims['seq']} ({claims['head_hash'][:16]}…) in {anchor_file(gw)}")
        return 0
    report = verify_chain(gw)
    summary = f"{report.rows} rows ({report.legacy_rows} before the chain), {report.anchors} anchors"
    if report.ok:
        print(f"audit chain intact: {summary}")
        return 0
    where = f"row {report.broken_row}" if report.broken_row is not None else "the chain"
    print(f"audit chain BROKEN at {where}: {report.problem} ({summary})")
    return 1


def _cmd_worker(args: argparse.Namespace) -> int:
    from gateway.services.context import Gateway
    from gateway.services.operations.webhooks import deliver_due, enqueue_expired_consents, run_worker

    gw = Gateway.build(background_refresh=True)  # partner files may change while it runs
    if args.once:
        enqueue_expired_consents(gw)
        print(f"delivered {deliver_due(gw)} webhook events")
        return 0
    print(f"delivering webhook events every {args.interval:g} s (Ctrl-C stops)", file=sys.stderr)
    try:
        run_worker(gw, args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        gw.close()
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from gateway.config import Settings
    from gateway.services.operations.backup import backup

    result = backup(Settings.from_env(), Path(args.path))
    extra = f" and {', '.join(result.copied)}" if result.copied else ""
    print(f"backed up the database ({result.database_bytes:,} bytes){extra} to {result.directory}")
    print("restore: copy the directory's contents into an empty GATEWAY_DATA_DIR")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="Shaoxing integrity-score exchange gateway")
    p.add_argument("--version", action="version", version=f"gateway {__version__}")
    p.add_argument("--debug", action="store_true", help="show a traceback when a command fails")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("doctor", help="check configuration, database, migrations, keys and partner files").set_defaults(
        func=_cmd_doctor
    )

    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument(
        "--loop", choices=["auto", "asyncio", "uvloop"], default="auto", help="auto: uvloop when [speed] is installed"
    )
    s.add_argument(
        "--http", choices=["auto", "h11", "httptools"], default="auto", help="auto: httptools when [speed] is installed"
    )
    s.set_defaults(func=_cmd_serve)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=_cmd_migrate)

    s = sub.add_parser("ingest", help="ingest an NDJSON file, or a synth directory with manifest.json")
    s.add_argument("path")
    s.add_argument("--unit", help="the collaborating unit the file comes from (single file)")
    s.add_argument("--batch", type=int, default=1000)
    s.add_argument("--no-recompute", action="store_true", help="skip per-batch rescoring (run recompute after)")
    s.set_defaults(func=_cmd_ingest)

    s = sub.add_parser("recompute", help="recompute everyone's score")
    s.add_argument("--as-of", help="YYYY-MM-DD (default: today in Shaoxing)")
    s.add_argument("--chunk", type=int)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_recompute)

    s = sub.add_parser("score", help="officer view of a person's score ('-' reads the ID number from stdin)")
    s.add_argument("id_number")
    s.add_argument("--purpose", required=True, help="why the person is looked up (audited, shown to the person)")
    s.add_argument("--case", required=True, help="the case reference (audited, shown to the person)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_score)

    s = sub.add_parser("retention", help="delete what may no longer be kept (after withdrawals; quarantined records)")
    rsub = s.add_subparsers(dest="action", required=True)
    r = rsub.add_parser("run", help="run the deletions once and print the counts")
    r.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_retention)

    s = sub.add_parser("synth", help="write a synthetic population as ingestible files")
    s.add_argument("--residents", type=int, required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("credentials", help="API keys for credit officers (partners use private_key_jwt)")
    csub = s.add_subparsers(dest="action", required=True)
    c = csub.add_parser("create")
    c.add_argument("principal_type", choices=["officer"])
    c.add_argument("principal_id")
    c = csub.add_parser("revoke")
    c.add_argument("principal_type", metavar="KEY_ID")
    s.set_defaults(func=_cmd_credentials)

    s = sub.add_parser("verify", help="verify a score assertion with public keys only ('-' reads stdin)")
    s.add_argument("token")
    s.add_argument("--jwks", help="a JWKS file (otherwise the keys are discovered from --issuer)")
    s.add_argument("--issuer", help="the expected iss (default: this gateway's); its keys are discovered unless --jwks")
    s.add_argument("--audience", help="your partner id: the assertion must be addressed to it")
    # issue 10
    s.add_argument("--presentation", action="store_true", help="TOKEN is a credit code's offline QR text")
    s.add_argument("--verifier-kind", help="with --presentation: your kind, e.g. incentive_provider")
    s.add_argument("--status-list", help="with --presentation and --jwks: a cached statuslist+jwt file")
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("keys", help="the gateway's signing keys")
    ksub = s.add_subparsers(dest="action", required=True)
    ksub.add_parser("list")
    ksub.add_parser("rotate", help="promote the pre-published next key, retire the active one")
    s.set_defaults(func=_cmd_keys)

    s = sub.add_parser("admin", help="administrator tokens (development mode)")
    asub = s.add_subparsers(dest="action", required=True)
    a = asub.add_parser("token", help="print a role-based admin token")
    a.add_argument("--name", required=True)
    a.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["mapping_admin", "partner_admin", "credit_officer", "auditor"],
    )
    a.add_argument("--lifetime", type=int, default=3600)
    s.set_defaults(func=_cmd_admin)

    s = sub.add_parser("dev-idp", help="the development identity provider (development mode)")
    dsub = s.add_subparsers(dest="action", required=True)
    d = dsub.add_parser("token", help="print a resident's ID token ('-' reads the ID number from stdin)")
    d.add_argument("id_number")
    d.add_argument("name")
    s.set_defaults(func=_cmd_dev_idp)

    # issue 10: the reference holder of the credit code
    s = sub.add_parser("wallet", help="a reference holder of the credit code (development mode)")
    s.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway (default: gateway serve's address)")
    s.add_argument("--dir", help="where the holder key and credential live (default: <data dir>/wallet)")
    wsub = s.add_subparsers(dest="action", required=True)
    wsub.add_parser("init", help="create the holder key")
    w = wsub.add_parser("obtain", help="obtain a credential (ID token from the development IdP)")
    w.add_argument("id_number")
    w.add_argument("name")
    w.add_argument("--include-score", action="store_true", help="also make the score disclosable")
    w = wsub.add_parser("answer", help="answer a presentation request (its request_uri, from the QR code)")
    w.add_argument("request_uri")
    w = wsub.add_parser("show", help="print the offline QR code in the terminal")
    w.add_argument("--verifier-kind", default="incentive_provider")
    w.add_argument(
        "--claim", action="append", help="a claim path to disclose (repeatable; default level_at_least.good)"
    )
    s.set_defaults(func=_cmd_wallet)

    add_mappings_parser(sub, _cmd_mappings)
    add_governance_parsers(sub, _cmd_governance)

    s = sub.add_parser("worker", help="deliver signed webhook events from the outbox")
    s.add_argument("--once", action="store_true", help="deliver what is due now and exit")
    s.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    s.set_defaults(func=_cmd_worker)

    s = sub.add_parser("backup", help="a consistent copy of the embedded SQLite database while serving")
    s.add_argument("path", help="a new directory for the backup")
    s.set_defaults(func=_cmd_backup)

    s = sub.add_parser("audit", help="the tamper-evident audit log")
    ausub = s.add_subparsers(dest="action", required=True)
    ausub.add_parser("verify", help="walk the hash chain and the signed anchors; name the first broken row")
    ausub.add_parser("anchor", help="sign the chain head and append it to the anchor file")
    s.set_defaults(func=_cmd_audit)

    s = sub.add_parser("openapi", help="write the OpenAPI document (default openapi/openapi.json)")
    s.add_argument("--out")
    s.set_defaults(func=_cmd_openapi)

    s = sub.add_parser("demo", help="a synthetic population ingested over HTTP and a first score lookup")
    s.add_argument("--residents", type=int, default=2000)
    s.add_argument("--seed", type=int, default=20260201)
    s.add_argument("--port", type=int, default=0, help="0 picks a free port")
    s.add_argument("--serve", action="store_true", help="keep serving after the demo")
    s.set_defaults(func=_cmd_demo)
    return p


def _startup_problem(exc: BaseException) -> str | None:
    """One line for a problem of configuration or environment (exit status 2), else ``None``.
    Never the database URL itself (it may hold a password) nor a library's message."""
    from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

    if isinstance(exc, ConfigurationError):
        return f"configuration: {exc.detail}"
    if isinstance(exc, OperationalError | InterfaceError):
        return "the database cannot be reached: check GATEWAY_DATABASE_URL and that the server is running"
    if isinstance(exc, ArgumentError):
        return "GATEWAY_DATABASE_URL is not a valid database URL"
    if isinstance(exc, PermissionError):
        return f"permission denied on {exc.filename}: check the GATEWAY_*_DIR settings and file modes"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename} does not exist: check the GATEWAY_*_DIR / GATEWAY_*_FILE settings"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from gateway.services.operations.logs import configure_logging

    # One handler on the root logger, the gateway's own (create_app re-installs it, never a second one).
    configure_logging("text", "WARNING")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:
        if args.debug:
            raise
        problem = _startup_problem(exc)
        if problem is not None:
            print(f"gateway: {problem} (--debug shows the traceback)", file=sys.stderr)
            return 2
        if isinstance(exc, GatewayError):
            print(f"error [{exc.code}]: {exc.detail}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())

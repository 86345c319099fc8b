"""The audit log's hash chain and signed anchors catch deletion, edits, reordering and a rewritten
tail (issue 13, tamper-evident audit log). Tampering is done the way a database administrator
would: with the append-only triggers switched off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import Connection, delete, select, text, update

from gateway.cli import main
from gateway.services.context import Gateway
from gateway.services.operations.audit_chain import anchor_file, verify_chain, write_anchor
from gateway.store.audit import AUDIT_CHAIN, append_audit, row_hash
from gateway.store.tables import audit_log
from gateway.store.tables_operations import audit_chain_heads


def _append(gw: Gateway, n: int, start: int = 0) -> list[int]:
    with gw.engine.begin() as conn:
        for i in range(start, start + n):
            append_audit(
                conn,
                actor_type="admin",
                actor_id=f"admin-{i % 3}",
                action="test.action",
                target_type="thing",
                target_ref=f"t{i}",
                details={"n": i, "label": "试验", "nested": {"b": [1, 2.5], "a": None}},
            )
    with gw.engine.connect() as conn:
        return [r.id for r in conn.execute(select(audit_log.c.id).order_by(audit_log.c.id))]


@contextmanager
def _triggers_off(gw: Gateway) -> Iterator[Connection]:
    with gw.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            yield conn


def test_an_untouched_chain_verifies(gw: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    _append(gw, 5)
    write_anchor(gw)
    _append(gw, 3, start=5)
    report = verify_chain(gw)
    assert report.ok and report.rows == 8 and report.anchors == 1


def test_deleting_a_row_is_detected_at_the_next_row(gw: Gateway) -> None:
    ids = _append(gw, 6)
    with _triggers_off(gw) as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == ids[2]))
    report = verify_chain(gw)
    assert not report.ok and report.broken_row == ids[3]
    assert "missing" in (report.problem or "")


def test_editing_a_row_is_detected_at_that_row(gw: Gateway) -> None:
    ids = _append(gw, 6)
    with _triggers_off(gw) as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == ids[4]).values(actor_id="someone-else"))
    report = verify_chain(gw)
    assert report.broken_row == ids[4] and "edited" in (report.problem or "")


def test_editing_details_is_detected(gw: Gateway) -> None:
    ids = _append(gw, 4)
    with _triggers_off(gw) as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == ids[0]).values(details={"n": 99}))
    assert verify_chain(gw).broken_row == ids[0]


def test_reordering_rows_is_detected(gw: Gateway) -> None:
    ids = _append(gw, 5)
    with _triggers_off(gw) as conn:
        # Swap the ids of two rows: their content and hashes move with them.
        conn.execute(update(audit_log).where(audit_log.c.id == ids[1]).values(id=-1))
        conn.execute(update(audit_log).where(audit_log.c.id == ids[3]).values(id=ids[1]))
        conn.execute(update(audit_log).where(audit_log.c.id == -1).values(id=ids[3]))
    report = verify_chain(gw)
    assert report.broken_row == ids[1] and not report.ok


def test_deleting_the_tail_is_caught_by_the_head(gw: Gateway) -> None:
    ids = _append(gw, 5)
    with _triggers_off(gw) as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id >= ids[3]))
    report = verify_chain(gw)
    assert report.broken_row == ids[2] and "removed" in (report.problem or "")


def test_a_recomputed_tail_is_caught_by_the_signed_anchor(gw: Gateway) -> None:
    ids = _append(gw, 5)
    write_anchor(gw)
    # The rewriter edits row 4, recomputes its hash and every later one, and moves the head.
    with _triggers_off(gw) as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.id >= ids[3]).order_by(audit_log.c.id)).all()
        prev = rows[0].prev_hash
        for row in rows:
            fields = dict(row._mapping)
            if row.id == ids[3]:
                fields["target_ref"] = "forged"
            digest = row_hash(
                chain=AUDIT_CHAIN,
                seq=row.seq,
                prev_hash=prev,
                **{k: fields[k] for k in ("at", "actor_type", "actor_id", "action", "target_type", "target_ref")},
                details=row.details,
            )
            conn.execute(
                update(audit_log)
                .where(audit_log.c.id == row.id)
                .values(target_ref=fields["target_ref"], prev_hash=prev, row_hash=digest)
            )
            prev = digest
        conn.execute(update(audit_chain_heads).values(head_hash=prev))
    report = verify_chain(gw)
    assert not report.ok and "anchor" in (report.problem or "")


def test_a_forged_anchor_line_is_refused(gw: Gateway) -> None:
    _append(gw, 2)
    write_anchor(gw)
    path = anchor_file(gw)
    path.write_text(path.read_text().replace(".", ".x", 1))
    assert "anchor line 1" in (verify_chain(gw).problem or "")


def test_concurrent_appends_keep_one_chain(gw: Gateway) -> None:
    def work(start: int) -> None:
        for i in range(5):
            _append(gw, 1, start=start + i)

    threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify_chain(gw)
    assert report.ok and report.rows == 20


def test_cli_names_the_broken_row(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _append(gw, 3)
    monkeypatch.setattr("gateway.cli._gateway", lambda args: gw)
    assert main(["audit", "anchor"]) == 0
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    with _triggers_off(gw) as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == ids[1]).values(action="other"))
    assert main(["audit", "verify"]) == 1
    assert f"BROKEN at row {ids[1]}" in capsys.readouterr().out


def test_anchor_file_setting(gw: Gateway, tmp_path: object) -> None:
    target = gw.settings.data_dir.parent / "elsewhere" / "anchors.jwsl"
    object.__setattr__(gw, "settings", replace(gw.settings, audit_anchor_file=target))
    write_anchor(gw)
    assert target.read_text().count("\n") == 1

"""Evidence files live in the shared database (issue 12), and files of the former on-disk store are
copied in with their uploaders when the gateway starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.services.context import Gateway
from gateway.services.rights.evidence import (
    EvidenceNotFound,
    EvidenceUnknown,
    describe_evidence,
    import_evidence_files,
    read_evidence,
    store_evidence,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PDF = b"%PDF-1.7\n% a receipt\n" + b"1" * 50
ME, STRANGER = "a" * 64, "b" * 64


def _old_store(data_dir: Path, body: bytes, *owners: str, name: str | None = None) -> str:
    """A file as the on-disk store of before issue 12 kept it: content plus one marker per uploader."""
    digest = hashlib.sha256(body).hexdigest()
    folder = data_dir / "evidence" / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name or digest)).write_bytes(body)
    for owner in owners:
        tag = hashlib.sha256(f"{owner}:{digest}".encode()).hexdigest()[:32]
        (folder / f"{digest}.by-{tag}").touch()
    return digest


def test_files_of_the_old_disk_store_are_imported_with_their_uploaders(gw: Gateway) -> None:
    data_dir = gw.settings.data_dir
    png = _old_store(data_dir, PNG, ME)
    pdf = _old_store(data_dir, PDF, ME, STRANGER)
    _old_store(data_dir, PNG + b"x", ME, name=hashlib.sha256(b"other").hexdigest())  # bytes that do not match the name
    orphan = _old_store(data_dir, b"%PDF-1.4 nobody")

    assert import_evidence_files(gw.engine, data_dir) == 2
    assert not (data_dir / "evidence").exists() and len(list(data_dir.glob("evidence.imported-*"))) == 1
    assert import_evidence_files(gw.engine, data_dir) == 0  # the next start has nothing to do

    assert describe_evidence(gw, png, owner=ME).as_dict() == {"sha256": png, "media_type": "image/png", "size": 48}
    assert read_evidence(gw, pdf) == (PDF, "application/pdf")
    assert describe_evidence(gw, pdf, owner=STRANGER).media_type == "application/pdf"
    with pytest.raises(EvidenceUnknown):
        describe_evidence(gw, png, owner=STRANGER)  # only its uploader may cite it
    with pytest.raises(EvidenceNotFound):
        read_evidence(gw, hashlib.sha256(b"other").hexdigest())  # bytes that do not match the name
    with pytest.raises(EvidenceNotFound):
        read_evidence(gw, orphan)  # nobody could cite it: not carried over


def test_the_same_bytes_are_kept_once_and_each_uploader_may_cite_them(gw: Gateway) -> None:
    first = store_evidence(gw, PDF, "application/pdf; charset=binary", owner=ME)
    assert store_evidence(gw, PDF, "application/pdf", owner=STRANGER) == first
    assert describe_evidence(gw, first.sha256, owner=ME) == describe_evidence(gw, first.sha256, owner=STRANGER)
    with pytest.raises(EvidenceUnknown):
        describe_evidence(gw, first.sha256, owner="c" * 64)
    with pytest.raises(EvidenceUnknown):
        describe_evidence(gw, "NOT-A-HASH", owner=ME)
    with pytest.raises(EvidenceNotFound):
        read_evidence(gw, "../../etc/passwd")

"""``gateway backup PATH``: a consistent copy of an embedded (SQLite) gateway while it serves.

SQLite's online backup API copies page by page under the database's own locks, so writers keep
going and the copy is a snapshot of one moment (WAL included). Key material that lives in the data
directory (development: the generated signing keys and ID pepper) is copied too, with the same
0600/0700 modes, because without the pepper the restored gateway could not find anyone's score.
PostgreSQL deployments use ``pg_dump`` (README); their keys and pepper are the operator's.

Restoring is copying the backup directory's contents into a new data directory.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.config import Settings
from gateway.errors import ConfigurationError

__all__ = ["BackupResult", "backup"]

DATABASE_FILE = "gateway.sqlite3"


@dataclass(frozen=True, slots=True)
class BackupResult:
    directory: Path
    database_bytes: int
    copied: tuple[str, ...]  # key-material folders copied along


def backup(settings: Settings, target: Path) -> BackupResult:
    """Write the backup into ``target`` (a new or empty directory).

    :raises ConfigurationError: not SQLite, or ``target`` holds files already.
    """
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigurationError(
            "gateway backup handles the embedded SQLite database; for PostgreSQL use pg_dump (see README)."
        )
    if target.exists() and any(target.iterdir()):
        raise ConfigurationError(f"The backup directory {target} is not empty: choose a new one.")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    destination = target / DATABASE_FILE
    source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(destination)
        try:
            source.backup(copy, pages=1024)  # in steps: writers are not held up for the whole copy
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(destination, 0o600)
    copied = []
    for folder in (settings.secrets_dir, settings.keys_dir, settings.data_dir / "dev-idp"):
        if folder.is_dir() and folder.resolve().is_relative_to(settings.data_dir.resolve()):
            shutil.copytree(folder, target / folder.relative_to(settings.data_dir), copy_function=shutil.copy2)
            copied.append(folder.name)
    anchors = settings.audit_anchor_file or settings.data_dir / "audit-anchors.jwsl"
    if anchors.is_file() and anchors.resolve().is_relative_to(settings.data_dir.resolve()):
        shutil.copy2(anchors, target / anchors.relative_to(settings.data_dir))
        copied.append(anchors.name)
    return BackupResult(target, destination.stat().st_size, tuple(copied))

"""Operations: packaging checks, observability, the audit chain, idempotency, backups (issue 13)."""

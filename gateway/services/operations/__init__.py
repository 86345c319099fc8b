"""Operations (issue 13): packaging checks, observability, the audit chain, idempotency, rate
limits, webhooks, backups, and the background refresh that brings every process within a bound of a
change another process made to shared state (refresh)."""

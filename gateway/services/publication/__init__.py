"""Publication and governance (issue 16): signed public documents at stable URLs, the closed
purpose list, the incentive catalogue, and the governance of programmes, the scoring model and the
information catalogue (draft, validate, preview, publish with a reason, roll back, audited)."""

"""Disclosure to partners (measure 一(一), 三(二): nothing about a person is disclosed without
their consent, and every disclosure is signed and logged): partners authenticate with signed client
assertions at the token endpoint (oauth), score assertions are issued only under a live consent
(issuance), each holds a slot of the issuer's Token Status List so that a superseded or revoked
assertion is known to be (status_lists), and everything is signed with the gateway's own rotating
keys (keyring)."""

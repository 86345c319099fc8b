"""Mutual recognition and incentives (measure 三(三)): score assertions of partner cities verified
against their trust anchors and status lists (partner_keys, recognition), tiers translated through the
common scheme by the published crosswalks (crosswalks), and eligibility decisions for the incentive
programmes partners run (programmes, eligibility)."""

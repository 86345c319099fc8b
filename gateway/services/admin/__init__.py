"""Administering the credit office (measure 一(二) the institution's roles, 四(三) least privilege and
an audit trail of who did what): role-based administrator tokens and officers' API keys (admins,
credentials), the discipline every administered change follows, an ETag in If-Match and a reason
(preconditions), crosswalk administration and its read-only analysis (mapping_admin,
crosswalk_analysis), partner administration (partner_admin), and reading the audit log (admin_audit)."""

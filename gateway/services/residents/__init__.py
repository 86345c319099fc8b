"""Residents acting for themselves (measure 一(一), 三(二), 四(三); PIPL Art. 17, 23, 45, 47;
issue 9): real-name identity from the identity provider's ID tokens (resident_identity; dev_idp, the
development stand-in), the scoring authorisation they give and withdraw and the notices shown when
they do, the retention schedule that follows a withdrawal, their consents to disclosure (consents) and
partners' consent requests they answer, and what they see about themselves: their score and every
disclosure (me), the credit report."""

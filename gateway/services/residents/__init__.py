"""Residents acting for themselves (issue 9; measure 一(一), 三(二), 四(三); PIPL Art. 17, 23, 45, 47).

The scoring authorisation the resident gives and withdraws, the notices shown when they do, the
retention schedule that follows a withdrawal, partners' consent requests the resident answers, and
the credit report that shows everything held and every look-up.
"""

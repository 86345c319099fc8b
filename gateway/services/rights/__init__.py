"""Residents' rights to the national standard (measure 四, issue 14): dispute marks and suspension,
checks by the supplying unit (协查), the working-day calendar, and repair applications."""

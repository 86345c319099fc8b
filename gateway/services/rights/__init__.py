"""Residents' rights (measure 四(一), 四(二); issue 14): objections with their evidence and states
(objections, evidence), credit repair and record corrections (repair), and what the national standard
adds: working-day limits (calendar, deadlines), dispute marks and suspension (disputes), checks by the
supplying unit (协查, verification) and repair applications."""

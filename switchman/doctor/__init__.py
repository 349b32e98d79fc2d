"""`doctor`: the checks of SPEC §8 (the CHECKS table is in checks.py)."""

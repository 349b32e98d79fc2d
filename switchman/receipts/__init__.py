"""Signed per-commit receipts (SPEC §11): the envelope, the notes ref they travel in, CI's verdict."""

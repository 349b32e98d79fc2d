"""The shared SQLite store: one connection helper, one transaction helper, one schema."""

from .connection import DB_FILE, Store, Tx

__all__ = ["DB_FILE", "Store", "Tx"]

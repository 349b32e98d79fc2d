"""The only place with SQL: one module per table family (see base.py), backend sqlite.py."""

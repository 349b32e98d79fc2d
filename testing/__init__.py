"""Importable test helpers (git repos, CLI runners, env isolation, store inspection, gate and stress
harnesses). Fixtures live in tests/conftest.py and use these; tests import from here, never from a
conftest. Not a runtime package: `pip install .` does not install it."""

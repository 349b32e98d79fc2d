"""One module per benchmark case family; benchmarks/run.py holds the catalogue."""

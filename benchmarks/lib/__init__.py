"""Building blocks of benchmarks/run.py: repositories, measuring, reporting."""

"""The gates (SPEC §7), one module each; callers import the submodule they need.

`commit`, `merge`, `push`, `ci`: judge what enters history; `history`: post-commit, post-merge,
post-rewrite provenance and the re-baseline; `common`: result records and shared steps.
"""

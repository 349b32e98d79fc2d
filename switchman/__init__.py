"""switchman-hook: keep parallel agents in linked git worktrees from trampling each other's work."""

__version__ = "0.2.0"

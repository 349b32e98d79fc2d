"""The warm helper: one per user and repository, so a hook pays a fork, not a Python start-up.

The installed hook scripts run `client.py` with `python -E -S` (no site, only C modules: a few
milliseconds). It finds the git common dir from the worktree's files, connects to SOCKET there,
and hands over its cwd, argv, environment and stdin/stdout/stderr (SCM_RIGHTS). The server
(`server.py`), which has the gate modules and the Ed25519 signer imported, checks the peer's uid,
forks, and the child runs the very same `hookrun` code the in-process path runs, so audit rows
and output are identical. The child dies with its client (it watches the connection) and sends
the exit code back.

Never required: no socket, a refused identity (other version, interpreter or package), a
helper that dies mid-hook, or SWITCHMAN_NO_HELPER=1, and the client runs the hook in-process as
before. The first client that finds no helper starts one (detached, logging to LOG); it exits
after IDLE_SECONDS without a client, or when its code on disk changed.
"""

from ..helperstate import DISABLE_ENV, LOCK, LOG, SOCKET

IDLE_SECONDS = 600.0  # SWITCHMAN_HELPER_IDLE overrides (seconds)
MAGIC = b"SWH1"

__all__ = ["DISABLE_ENV", "IDLE_SECONDS", "LOCK", "LOG", "MAGIC", "SOCKET"]

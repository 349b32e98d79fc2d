"""The repo context a command runs in, click-free: the click CLI and the fast entry (`cli.fast`)
open the repository and the store the same way, so they fail the same way too."""

from __future__ import annotations

import os
from typing import Any


class Ctx:
    """Lazily located repo and opened store for the directory given by `-C` (or the cwd)."""

    def __init__(self, directory: str | None) -> None:
        self.cwd = os.path.abspath(directory) if directory else os.getcwd()
        self._paths: Any = None
        self._store: Any = None
        self.json = False

    @property
    def paths(self) -> Any:
        if self._paths is None:
            from ..repo import locate

            if not os.path.isdir(self.cwd):
                from ..errors import BadInput

                raise BadInput(f"-C {self.cwd}: no such directory", "pass an existing directory")
            self._paths = locate(self.cwd)
        return self._paths

    @property
    def store(self) -> Any:
        if self._store is None:
            from ..state import open_store

            self._store = open_store(self.paths, check_signer=True)
            if self.drain:
                from ..gates.spooled import drain_pending

                drain_pending(self.paths, self._store)
        return self._store

    drain = True  # record spooled commits first (switchman.spool); off for read-only questions

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

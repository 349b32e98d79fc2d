"""Path normalisation: the one spelling of a path that claims, scopes and policy compare.

A path is stored and compared as a repo-relative POSIX string with no ``.``, ``..`` or empty
components (``./a//b/`` -> ``a/b``, ``a/x/../b`` -> ``a/b``; ``..`` is resolved lexically).
SPEC §4 says absolute paths are refused; we accept an absolute path *only when it lies inside
the worktree root* (git and shells hand them to us) and make it relative, refusing all others.
Refused as ``path_outside_repo``: ``..`` escaping the root, absolute paths outside it, and a
path whose existing parent directories resolve (symlinks followed) outside the worktree. The
last component is never resolved, because git tracks symlinks as files. Refused as
``invalid_path``: empty, the root itself, NUL bytes, a ``.git`` component anywhere (git
refuses to track those) and a first component ``.switchman`` (our state, not claimable).
Names are arbitrary ``str``: newlines and lone surrogates (``os.fsdecode`` of non-UTF-8 bytes)
pass through unchanged.

What a glob means (and whether a path is covered by one) is `switchman.globs`.
"""

from __future__ import annotations

import os

from .errors import BadInput

_FIX_PATH = "give a path inside the worktree, relative to the repository root"


def _outside(path: str, why: str) -> BadInput:
    return BadInput(f"path {path!r} {why}", _FIX_PATH, code="path_outside_repo")


def _invalid(path: str, why: str) -> BadInput:
    return BadInput(f"path {path!r} {why}", _FIX_PATH, code="invalid_path")


def _lexical_abs(path: str) -> list[str]:
    """Components of an absolute path with '.', '..' and empty parts resolved lexically."""
    parts: list[str] = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
        else:
            parts.append(c)
    return parts


def _abs_parts(path: str) -> list[str]:
    return _lexical_abs(path if path.startswith("/") else os.path.abspath(path))


def _realpath(parts: list[str]) -> list[str] | None:
    """Symlink-resolved components; None when the name cannot exist on disk (unencodable)."""
    try:
        return _lexical_abs(os.path.realpath("/" + "/".join(parts)))
    except (UnicodeEncodeError, ValueError, OSError):
        return None


def _relative_to(parts: list[str], root: list[str], original: str) -> list[str]:
    if parts[: len(root)] == root:
        return parts[len(root) :]
    # The root may be spelled through a symlink (/tmp vs /private/tmp): compare real parents.
    real_root = _realpath(root)
    if real_root is not None and parts:
        real_parent = _realpath(parts[:-1])
        if real_parent is not None and real_parent[: len(real_root)] == real_root:
            return real_parent[len(real_root) :] + parts[-1:]
        if _realpath(parts) == real_root:
            return []
    raise _outside(original, "is outside the worktree")


def _check_parents(root: list[str], rel: list[str], original: str) -> None:
    """Refuse a path whose existing parent directories resolve outside the worktree."""
    parents: list[str] = []
    for c in rel[:-1]:
        try:
            os.fsencode(c)
        except UnicodeEncodeError:
            break  # cannot exist on disk, so nothing from here on is a symlink
        parents.append(c)
    if not parents:
        return
    real_root = _realpath(root)
    real_parent = _realpath(root + parents)
    if real_root is None or real_parent is None or real_parent[: len(real_root)] != real_root:
        where = "/" + "/".join(real_parent) if real_parent is not None else "?"
        raise _outside(
            original, f"goes through a symlinked directory that leaves the worktree ({where!r})"
        )


def normalize(path: str, *, worktree_root: str | None = None, cwd: str | None = None) -> str:
    """Return *path* as a normalised repo-relative POSIX path, or raise ``BadInput``.

    Relative paths are taken from *cwd* when both *cwd* and *worktree_root* are given, else from
    the root. With *worktree_root* the parent directories are checked on disk for symlinks that
    leave the worktree.
    """
    if not isinstance(path, str):
        raise BadInput(f"path {path!r} is not a string", _FIX_PATH, code="invalid_path")
    if path == "":
        raise _invalid(path, "is empty")
    if "\0" in path:
        raise _invalid(path, "contains a NUL byte")
    root = _abs_parts(os.fspath(worktree_root)) if worktree_root is not None else None
    if path.startswith("/"):
        if root is None:
            raise _outside(path, "is absolute and no worktree root is known")
        rel = _relative_to(_lexical_abs(path), root, path)
    elif cwd is not None and root is not None:
        rel = _relative_to(_lexical_abs("/".join([*_abs_parts(os.fspath(cwd)), path])), root, path)
    else:
        rel = []
        for c in path.split("/"):
            if c in ("", "."):
                continue
            if c == "..":
                if not rel:
                    raise _outside(path, "climbs out of the repository with '..'")
                rel.pop()
            else:
                rel.append(c)
    if not rel:
        raise _invalid(path, "names the repository root, not a file")
    if any(c.lower() == ".git" for c in rel):
        raise _invalid(path, "is inside git's own directory (.git), which cannot be claimed")
    if rel[0].lower() == ".switchman":
        raise _invalid(path, "is switchman's state directory, which cannot be claimed")
    if root is not None:
        _check_parents(root, rel, path)
    return "/".join(rel)


__all__ = ["normalize"]

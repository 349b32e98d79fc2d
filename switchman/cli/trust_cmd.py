"""`trust add|list` (the committed `.switchman-keys`) and `push` (branch + receipts, atomically)."""

from __future__ import annotations

import os

import click

from .common import echo, emit_json, get_ctx, json_option

KEYS_FILE = ".switchman-keys"
HEADER = (
    "# switchman-hook: verifier keys whose receipts CI trusts (SPEC §11).\n"
    "# One `switchman-hook audit pubkey` line per key; keep old keys after a rotation.\n"
)


def _keys_path() -> str:
    paths = get_ctx().paths
    return os.path.join(paths.toplevel or paths.root, KEYS_FILE)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        from ..errors import BadInput

        raise BadInput(f"cannot read {path}: {exc}", f"fix or remove {KEYS_FILE}") from None


@click.group("trust")
def trust_group() -> None:
    """The verifier keys CI trusts (.switchman-keys at the repo root, committed)."""


@trust_group.command("add")
@json_option
def trust_add(as_json: bool) -> None:
    """Append this machine's checkpoint verifier key to .switchman-keys (idempotent); then commit it."""
    from ..checkpoint.keys import own_key
    from ..errors import EnvironmentProblem
    from ..receipts.verify import parse_trusted_keys

    ctx = get_ctx()
    key = own_key(ctx.store)
    if key is None:
        raise EnvironmentProblem("this repo has no checkpoint key on this machine", "run `switchman-hook init`", code="checkpoint_key_missing")
    path = _keys_path()
    text = _read(path)
    known = parse_trusted_keys(text)  # a bad line is an error here too, never silently kept
    added = key not in known
    if added:
        body = text or HEADER
        if not body.endswith("\n"):
            body += "\n"
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body + key.text + "\n")
        os.replace(tmp, path)
    if as_json:
        emit_json({"ok": True, "added": added, "verifier_key": key.text, "name": key.name, "file": path})
    else:
        echo(f"{'added' if added else 'already trusted'}: {key.text}")
        if added:
            echo(f"commit it: git add {KEYS_FILE} && git commit -m 'Trust switchman receipts of {key.name}'")


@trust_group.command("list")
@json_option
def trust_list(as_json: bool) -> None:
    """The keys in .switchman-keys (the working tree's copy; CI reads the base revision's)."""
    from ..receipts.verify import parse_trusted_keys

    path = _keys_path()
    keys = parse_trusted_keys(_read(path))
    if as_json:
        emit_json({"file": path, "keys": [{"name": k.name, "verifier_key": k.text} for k in keys]})
        return
    if not keys:
        echo(f"no trusted keys in {path}: run `switchman-hook trust add` and commit {KEYS_FILE}")
    for k in keys:
        echo(k.text)


@click.command("push")
@click.argument("remote", required=False)
@click.argument("refspecs", nargs=-1)
def push_cmd(remote: str | None, refspecs: tuple[str, ...]) -> None:
    """git push REMOTE REFSPEC... with the receipts (refs/notes/switchman) in one --atomic push."""
    from ..receipts.push import atomic_push
    from ..repo import run_git

    paths = get_ctx().paths
    cwd = paths.toplevel or paths.root
    if remote is None:
        remote = "origin"
    if not refspecs:
        branch = run_git(["symbolic-ref", "-q", "--short", "HEAD"], cwd, check=False).stdout.decode().strip()
        if not branch:
            from ..errors import BadInput

            raise BadInput("HEAD is detached: nothing to push by default", "name it: switchman-hook push REMOTE BRANCH")
        refspecs = (branch,)
    code = atomic_push(cwd, remote, list(refspecs))
    if code:
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(trust_group)
    cli.add_command(push_cmd)

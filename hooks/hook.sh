#!/bin/sh
# switchman-hook managed hook: written by `switchman-hook hooks install` from hooks/hook.sh.
# `switchman-hook hooks uninstall` removes it and restores the hook it replaced, which is kept
# beside it as <name>.switchman-orig and runs first with the same arguments and stdin.
hook=@HOOK_NAME@
py=@PYTHON@

case $0 in */*) orig=${0%/*}/$hook.switchman-orig ;; *) orig=./$hook.switchman-orig ;; esac
# Run the chained hook as git would have: a shell script is sourced by its own shell with $0 set
# to this hook's path, so dispatchers that find their work by `basename "$0"` (husky's
# .husky/_/h) still do; anything else is executed directly.
chained() {
	first=
	IFS= read -r first <"$orig" || :
	case $first in
	'#!'*) sh_cmd=${first#??} ;;
	*) sh_cmd=/bin/sh ;; # git runs a hook without #! with /bin/sh
	esac
	case " ${sh_cmd##*/} " in
	" sh "* | " bash "* | " dash "* | " ksh "* | " zsh "* | " ash "* | " env sh"* | " env bash"* | " env dash"* | " env zsh"* | " env ksh"*)
		SWITCHMAN_CHAINED=$orig $sh_cmd -c '__switchman_hook=$SWITCHMAN_CHAINED; unset SWITCHMAN_CHAINED; . "$__switchman_hook"' "$0" "$@"
		;;
	*) "$orig" "$@" ;;
	esac
}
# __switchman_hook is set (unexported) only while a chained hook is being sourced: a copy of this
# script kept as the chained hook must not chain itself again.
if [ -z "${__switchman_hook-}" ] && [ -f "$orig" ] && [ -x "$orig" ] && [ "$orig" != "$0" ]; then
	case $hook in
	pre-push | post-rewrite)
		# Both hooks read stdin: buffer it once, then give each its own descriptor on the copy.
		tmp=$(mktemp "${TMPDIR:-/tmp}/switchman-$hook.XXXXXX") || exit 1
		cat >"$tmp" || { rm -f "$tmp"; exit 1; }
		exec 3<"$tmp" 4<"$tmp"
		rm -f "$tmp"
		chained "$@" <&3 3<&- 4<&- || exit
		exec 3<&- <&4 4<&-
		;;
	*) chained "$@" || exit ;;
	esac
fi

if [ -x "$py" ]; then
	# Not `python -m`: that puts the worktree first on sys.path, so a worktree holding its own
	# switchman/ package could replace the gate. Drop that entry (and, with -E, PYTHONPATH), then
	# import the installed one.
	exec "$py" -E -c 'import sys; sys.path[:1] = [] if sys.path[:1] == [""] else sys.path[:1]; from switchman.hookrun import main; sys.exit(main())' "$hook" "$@"
fi
if command -v switchman-hook >/dev/null 2>&1; then
	exec switchman-hook hook "$hook" "$@"
fi
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || exit 0
if [ "${common##*/}" != .git ] || [ "$(git rev-parse --is-bare-repository 2>/dev/null)" = true ]; then
	state=$common/switchman
else
	state=${common%/*}/.switchman
fi
if [ -d "$state" ]; then
	case $hook in
	pre-*)
		echo "error: switchman $hook hook: neither $py nor switchman-hook on PATH exists — run \`pip install switchman-hook\`, then \`switchman-hook hooks install\`" >&2
		exit 1
		;;
	esac
	# Recording hooks never fail git (a checkout or worktree add must not break); say so.
	echo "warning: switchman $hook hook could not run (no $py, no switchman-hook on PATH): not recorded — reinstall switchman-hook, then \`switchman-hook doctor\`" >&2
fi
exit 0

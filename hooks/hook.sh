#!/bin/sh
# switchman-hook managed hook: written by `switchman-hook hooks install` from hooks/hook.sh.
# `switchman-hook hooks uninstall` removes it and restores the hook it replaced, which is kept
# beside it as <name>.switchman-orig and runs first with the same arguments and stdin.
hook=@HOOK_NAME@
py=@PYTHON@
client=@CLIENT@

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

# post-commit only spools the new commit (switchman/spool.py: one file in the git common dir,
# recorded by the next hook or command) and exits: no interpreter start per commit. Python
# records in-process when spooling is off (SWITCHMAN_NO_SPOOL=1), under the pre-commit
# framework, or when anything here looks unusual.
spool_commit() {
	nl='
'
	tab='	'
	facts=$(git rev-parse --path-format=absolute --git-dir --git-common-dir HEAD 2>/dev/null) || return 1
	gd=${facts%%"$nl"*}
	rest=${facts#*"$nl"}
	common=${rest%%"$nl"*}
	head=${rest#*"$nl"}
	case $head in '' | *[!0-9a-f]*) return 1 ;; esac
	[ ${#head} -eq 40 ] || [ ${#head} -eq 64 ] || return 1
	case $common in */.git) state=${common%/*}/.switchman ;; *) state=$common/switchman ;; esac
	[ -d "$state" ] || return 0 # not managed by switchman: nothing to record
	[ -d "$common/switchman-spool" ] || return 1
	if [ "$gd" = "$common" ]; then
		wt=.
	else
		case $gd in "$common/worktrees/"*) wt=${gd#"$common/worktrees/"} ;; *) return 1 ;; esac
		case $wt in '' | */* | *"$tab"*) return 1 ;; esac
	fi
	line=
	[ -f "$gd/logs/HEAD" ] && line=$(tail -n 1 "$gd/logs/HEAD" 2>/dev/null)
	ids=${line%%"$tab"*}
	msg=${line#*"$tab"}
	[ "$ids" = "$line" ] && msg=
	action=${msg%%:*}
	case $action in *"$tab"*) action= ;; esac
	[ ${#action} -le 200 ] || action=
	old=${ids%% *}
	ids=${ids#* }
	new=${ids%% *}
	case $old$new in *[!0-9a-f]*) old= new= ;; esac
	ea=${GIT_REFLOG_ACTION-}
	ea=${ea%% *}
	case $ea in *"$tab"* | *"$nl"*) ea= ;; esac
	cph=
	flags=
	[ -d "$gd/rebase-merge" ] && flags=${flags}m
	[ -d "$gd/rebase-apply" ] && flags=${flags}a
	[ -f "$gd/REVERT_HEAD" ] && flags=${flags}r
	if [ -f "$gd/CHERRY_PICK_HEAD" ]; then
		flags=${flags}c
		IFS= read -r cph <"$gd/CHERRY_PICK_HEAD" || :
		case $cph in *[!0-9a-f]*) cph= ;; esac
	fi
	picked=
	if [ -f "$gd/rebase-merge/done" ]; then
		picked=$(tail -n 1 "$gd/rebase-merge/done" 2>/dev/null)
		picked=${picked#* }
		picked=${picked%% *}
		case $picked in *[!0-9a-f]*) picked= ;; esac
	fi
	printf '1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$head" "$wt" "$old" "$new" "$action" "$ea" "$cph" "$picked" "$flags" \
		>"$common/switchman-spool/$head-$$" 2>/dev/null || return 1
}
if [ "$hook" = post-commit ] && [ "${SWITCHMAN_NO_SPOOL-}" != 1 ] && [ "${PRE_COMMIT-}" != 1 ]; then
	spool_commit && exit 0
fi

if [ -x "$py" ] && [ -n "$client" ] && [ -f "$client" ] && [ "${SWITCHMAN_NO_HELPER:-0}" = 0 ]; then
	# The warm helper's client (switchman/helper/): `-S` skips site, so it starts in a few ms; it
	# runs the hook in-process itself whenever the helper cannot (same command line as below).
	exec "$py" -E -S "$client" "$hook" "$@"
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

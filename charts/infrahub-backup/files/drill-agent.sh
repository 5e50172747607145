#!/usr/bin/env bash
# The drill agent: runs in a database container of the drill pod (Neo4j's or PostgreSQL's image) and runs
# the commands infrahub-backup's `drill --drill-exchange-dir` hands over as files in the pod's shared
# emptyDir, so the CLI container needs neither the database tools nor any exec right.
#
#   drill-agent.sh <exchange-dir> <name>
#
# <dir>/<name>.req/<id>/  written by the CLI: argv and env (NUL-separated), optional cwd, path (prepended
#                         to PATH) and stdin; <id>.ready says it is complete; <id>.kill holds a signal name
# <dir>/<name>.out/<id>/  written here: stdout, stderr, then exit (the status; 128+n for a signal)
# <dir>/<name>.out/alive  touched on every round: the CLI gives up on an agent that stopped
# <dir>/heartbeat         touched by the CLI; older than DRILL_AGENT_STALE_SECONDS (default 300): stop;
#                         none yet after DRILL_AGENT_FIRST_SECONDS (default 900, the CLI's image pull): stop
# <dir>/done              written by the CLI at its end: stop every command and exit 0
set -u -m
x=${1:?exchange directory}
name=${2:?agent name}
stale=${DRILL_AGENT_STALE_SECONDS:-300}
first=${DRILL_AGENT_FIRST_SECONDS:-900}
req="$x/$name.req"
out="$x/$name.out"
umask 022
mkdir -p "$out" "$x/$name" || exit 1
declare -A pids=() killed=()
# A user without a passwd entry (the pod's runAsUser in an image that does not know it): initdb and
# postgres need a name for it; the images' own nss_wrapper gives one, as their entrypoints do.
if ! id -un >/dev/null 2>&1; then
  for lib in /opt/bitnami/common/lib/libnss_wrapper.so /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
    [ -e "$lib" ] || continue
    printf 'drill:x:%s:%s:drill:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$x/$name" >"$x/$name.passwd"
    printf 'drill:x:%s:\n' "$(id -g)" >"$x/$name.group"
    export LD_PRELOAD=$lib NSS_WRAPPER_PASSWD="$x/$name.passwd" NSS_WRAPPER_GROUP="$x/$name.group"
    break
  done
fi

say() { printf '%s drill-agent %s: %s\n' "$(date -u +%FT%TZ)" "$name" "$*" >&2; }
stop_all() {
  for id in "${!pids[@]}"; do kill -KILL -- "-${pids[$id]}" 2>/dev/null; done
}
trap 'stop_all; exit 143' TERM INT

start() {
  local id=$1 d="$req/$1" o="$out/$1"
  local -a argv=() envs=()
  mkdir "$o" || return
  mapfile -d '' -t argv <"$d/argv"
  [ -e "$d/env" ] && mapfile -d '' -t envs <"$d/env"
  local in=/dev/null cwd="$x/$name" path=$PATH
  [ -e "$d/stdin" ] && in="$d/stdin"
  [ -s "$d/cwd" ] && cwd=$(cat "$d/cwd")
  [ -s "$d/path" ] && path="$(cat "$d/path"):$PATH"
  # Its own process group (set -m): a kill reaches the command and everything it started.
  (cd "$cwd" && exec env PATH="$path" "${envs[@]}" "${argv[@]}" <"$in" >"$o/stdout" 2>"$o/stderr") &
  pids[$id]=$!
}

started=$(date +%s)
say "waiting for work in $req"
while :; do
  touch "$out/alive"
  if [ -e "$x/done" ]; then
    stop_all
    say "the drill is done"
    exit 0
  fi
  if beat=$(stat -c %Y "$x/heartbeat" 2>/dev/null); then
    limit=$stale
  else
    beat=$started limit=$first
  fi
  if (($(date +%s) - beat > limit)); then
    say "no heartbeat from infrahub-backup for ${limit} s: stopping"
    stop_all
    exit 1
  fi
  for ready in "$req"/*.ready; do
    [ -e "$ready" ] || continue
    id=${ready##*/}
    id=${id%.ready}
    [ -e "$out/$id" ] || start "$id"
  done
  for id in "${!pids[@]}"; do
    pid=${pids[$id]}
    if [ -s "$req/$id.kill" ]; then
      sig=$(cat "$req/$id.kill")
      if [ "${killed[$id]:-}" != "$sig" ]; then
        killed[$id]=$sig
        kill -"$sig" -- "-$pid" 2>/dev/null
      fi
    fi
    # bash reaps finished jobs while it waits for `sleep`; `wait` then gives the saved status.
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      echo $? >"$out/$id/exit.tmp"
      mv "$out/$id/exit.tmp" "$out/$id/exit"
      unset "pids[$id]" "killed[$id]"
    fi
  done
  sleep 0.2
done

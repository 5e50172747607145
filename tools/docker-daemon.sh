#!/usr/bin/env bash
# The Docker daemon for the project's container tests (issue 19).
#   tools/docker-daemon.sh start    start dockerd unless a daemon already answers (idempotent)
#   tools/docker-daemon.sh stop     stop the dockerd this script started (none other)
#   tools/docker-daemon.sh status   say which daemon answers
# The dockerd it starts listens on the default socket (/var/run/docker.sock, so every docker client and
# library finds it), keeps its images under $IHB_CACHE/docker (they survive between runs: warm CI rebuilds
# nothing), runs containers with ihb-runc (tools/go/ihb-runc) as its default runtime, and is started with an
# empty environment: it carries no IHB_TEST_RUN / IHB_TESTKIT_PROCESS, so tools/check-leftovers.sh never
# counts it (or its containers) as a leftover test process.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pidfile="$IHB_DOCKER_DIR/dockerd.pid"
log="$IHB_DOCKER_DIR/dockerd.log"
config="$IHB_DOCKER_DIR/daemon.json"
socket=/var/run/docker.sock

our_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && printf '%s' "$pid"
}

server_version() { docker version --format '{{.Server.Version}}' 2>/dev/null; }

start() {
  if docker_answers; then
    say "docker daemon: $(server_version) answers${DOCKER_HOST:+ at $DOCKER_HOST}$(our_pid >/dev/null && echo " (started by this script, pid $(our_pid))")"
    return 0
  fi
  command -v dockerd >/dev/null || die "dockerd not found: run tools/install/docker-engine.sh (tools/bootstrap.sh does)"
  [ "$(id -u)" = 0 ] || die "starting dockerd needs root; start a Docker daemon yourself and re-run"
  [ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to use the daemon this script starts on $socket"
  local runtime
  runtime="$(ihb_runc_dir)/ihb-runc"
  [ -x "$runtime" ] || die "$runtime missing: run tools/install/docker-engine.sh"
  mkdir -p "$IHB_DOCKER_DIR/data"
  cat > "$config" <<JSON
{
  "data-root": "$IHB_DOCKER_DIR/data",
  "pidfile": "$pidfile",
  "hosts": ["unix://$socket"],
  "runtimes": { "ihb-runc": { "path": "$runtime" } },
  "default-runtime": "ihb-runc",
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "2" },
  "features": { "buildkit": true }
}
JSON
  local started
  started=$(date +%s%N)
  # setsid + an empty environment: the daemon outlives this shell and inherits nothing of the test run.
  setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" \
    dockerd --config-file "$config" >>"$log" 2>&1 </dev/null &
  local tries
  for tries in $(seq 1 120); do
    if docker_answers; then
      say "docker daemon: $(server_version) started in $(( ($(date +%s%N) - started) / 1000000 )) ms (pid $(our_pid || echo '?'), data $IHB_DOCKER_DIR/data, log $log)"
      return 0
    fi
    sleep 0.5
  done
  tail -20 "$log" >&2 || true
  die "dockerd did not answer within 60 s (log: $log)"
}

stop() {
  local pid tries
  if ! pid=$(our_pid); then
    say "docker daemon: none started by this script is running"
    return 0
  fi
  kill -TERM "$pid"
  for tries in $(seq 1 120); do
    [ -d "/proc/$pid" ] || { say "docker daemon: stopped (pid $pid)"; return 0; }
    sleep 0.5
  done
  die "dockerd (pid $pid) did not stop within 60 s"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if docker_answers; then say "docker daemon: $(server_version) answers$(our_pid >/dev/null && echo " (pid $(our_pid), started by this script)")"
    else say "docker daemon: none answers"; exit 1; fi ;;
  *) die "usage: tools/docker-daemon.sh start|stop|status" ;;
esac

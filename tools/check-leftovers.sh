#!/usr/bin/env bash
# Fails when a process started by the testkit (it carries IHB_TESTKIT_PROCESS in its environment)
# is still alive after the tests: no service may outlive the run. With IHB_TEST_RUN set (tools/run-tests.sh
# sets it), only processes of that run count: other runs and other work on the machine are not ours.
set -uo pipefail
run=${IHB_TEST_RUN:-}
leftovers=""
for environ in /proc/[0-9]*/environ; do
  pid=${environ#/proc/}; pid=${pid%/environ}
  [ "$pid" = "$$" ] && continue
  vars=$( { tr '\0' '\n' < "$environ"; } 2>/dev/null)
  name=$(printf '%s\n' "$vars" | sed -n 's/^IHB_TESTKIT_PROCESS=//p' | head -n1)
  [ -n "$name" ] || continue
  if [ -n "$run" ] && ! printf '%s\n' "$vars" | grep -qxF "IHB_TEST_RUN=$run"; then continue; fi
  leftovers+="  pid $pid ($name): $( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-120)"$'\n'
done
# A kind cluster of this run (e2e/kind) outlived its test: deleted now, and reported.
if [ -n "$run" ] && docker info >/dev/null 2>&1; then
  clusters=$("$(dirname "$0")/kind-cluster.sh" prune "ihb-$run-" 2>/dev/null | tr '\n' ' ')
  [ -z "$clusters" ] || leftovers+="  kind cluster(s), deleted now: $clusters"$'\n'
fi
if [ -n "$leftovers" ]; then
  printf 'leftover test processes (not stopped by their tests):\n%s' "$leftovers" >&2
  exit 1
fi
echo "leftovers: none (no testkit process or kind cluster${run:+ of run $run} outlived the tests)"

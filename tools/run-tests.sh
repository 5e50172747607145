#!/usr/bin/env bash
# The project's test command: installs the pinned toolchain if missing, then build, typecheck, lint and
# every test tier that this machine can run. Exit code 0 only when all of it passed.
#   tools/run-tests.sh [FILTER...]   FILTERs (vitest file filters, e.g. e2e/kind) run only those test files,
#                                    after the same bootstrap, build and images: what the e2e-kind workflow runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh --with-kind
. tools/env.sh
pnpm install --frozen-lockfile --reporter=append-only
pnpm exec turbo run build typecheck lint --output-logs=errors-only
if [ "${IHB_SKIP_DOCKER:-}" != 1 ]; then
  # The engine and the product image before the tests, so a build failure reads as one and the image test
  # finds every layer cached.
  tools/docker-daemon.sh start
  packages/image/build-local.sh >/dev/null
  # The test images (Neo4j, PostgreSQL, MinIO, the Infrahub test doubles) beside kind's images: both mostly wait
  # on package downloads and the daemon, so on a cold machine they overlap instead of the first tests that
  # need the images building them. Warm, both only compare input hashes.
  # In a process group of its own, so a failure of kind's build below stops it with its docker builds.
  setsid test-images/build.sh >/dev/null &
  test_images=$!
  # kind and its node image (e2e/kind): built here, before any test, when their inputs changed.
  if ! tools/install/kind.sh >/dev/null; then
    kill -- "-$test_images" 2>/dev/null || true # already ended: nothing left to stop
    wait "$test_images" 2>/dev/null || true # its status no longer matters: the run fails on kind's
    echo "tools/install/kind.sh failed (its output is above)" >&2
    exit 1
  fi
  wait "$test_images" || { echo "test-images/build.sh failed (its output is above)" >&2; exit 1; }
fi
results="$(mktemp -d)/vitest.json"
# One CLI bundle for every test file that runs the CLI (packages/cli/test/cli-process.ts) instead of an
# esbuild run in each of them; in packages/cli/dist/ like theirs (the freeze-helper lookup is relative to it).
IHB_TEST_CLI_BUNDLE="$PWD/packages/cli/dist/test-bundle-run/infrahub-backup.mjs"
node packages/cli/scripts/bundle.mjs "$IHB_TEST_CLI_BUNDLE" >/dev/null
export IHB_TEST_CLI_BUNDLE
# One id per run, in the environment of every process the testkit starts (tools/check-leftovers.sh).
IHB_TEST_RUN="run-$(date +%s)-$$"
export IHB_TEST_RUN
# A kind cluster of this run never outlives it, even when the run is interrupted.
trap 'tools/kind-cluster.sh prune "ihb-$IHB_TEST_RUN-" >/dev/null 2>&1 || true' EXIT
status=0
# Vitest's run-mode default is one worker fewer than the cores (one, on the 2-core CI machine), and a
# root-config maxWorkers does not reach the projects: the flag does. The heavy files mostly wait on JVM
# starts and I/O, so two run side by side.
# IHB_TEST_WORKERS overrides it (a count or a percentage of the cores) for a run that measures another split.
pnpm exec vitest run "$@" --maxWorkers="${IHB_TEST_WORKERS:-100%}" --reporter=default \
  --reporter=./tools/vitest/file-wall-reporter.ts --reporter=json --outputFile.json="$results" || status=$?
node tools/test-summary.mjs "$results" || status=1
tools/check-leftovers.sh || status=1
rm -rf "$(dirname "$IHB_TEST_CLI_BUNDLE")"
exit "$status"

#!/usr/bin/env bash
# The demo: installs the pinned toolchain if missing, builds the CLI, then starts a real local Infrahub
# data plane (Neo4j, PostgreSQL, MinIO) and runs the infrahub-backup commands a user types: a backup to
# S3, verify, list, a restore of the latest backup after the data was changed; it proves the data equals
# the original. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
. tools/env.sh
pnpm install --frozen-lockfile --reporter=silent
# The demo runs the CLI as users do: the npm package's bin, which runs the compiled dist/.
pnpm exec turbo run build --filter=infrahub-backup... --output-logs=errors-only
pnpm --filter @infrahub-backup/e2e run --silent demo

#!/usr/bin/env bash
# The demo: installs the pinned toolchain if missing, then starts a real local Infrahub data plane
# (Neo4j, PostgreSQL, MinIO), backs it up to S3, changes the data, restores the latest backup and
# proves the data equals the original. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
. tools/env.sh
pnpm install --frozen-lockfile --reporter=silent
pnpm --filter @infrahub-backup/e2e run --silent demo

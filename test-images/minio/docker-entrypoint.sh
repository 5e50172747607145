#!/bin/sh
# `minio` in front of arguments that do not start with it (as the official image does), then exec.
set -eu
if [ "${1:-}" != minio ] && [ -n "${1:-}" ] && ! command -v "$1" >/dev/null 2>&1; then
  set -- minio "$@"
fi
exec "$@"

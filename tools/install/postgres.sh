#!/usr/bin/env bash
# PostgreSQL server + client from Debian's packages (postgresql-$POSTGRES_MAJOR).
# The package manager installs system-wide; we stop it from creating and starting a default cluster,
# since tests run their own throwaway clusters on random loopback ports.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

bin="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
if [ -x "$bin/pg_ctl" ] && [ -x "$bin/pg_dump" ] && [ -x "$bin/pg_restore" ] && [ -x "$bin/psql" ]; then
  say "postgresql $POSTGRES_MAJOR: present ($("$bin/postgres" --version))"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "Debian packages: postgresql-$POSTGRES_MAJOR is missing and installing it needs root (apt-get install postgresql-$POSTGRES_MAJOR)"
say "postgresql $POSTGRES_MAJOR: installing from Debian packages"
mkdir -p /etc/postgresql-common
if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || die "Debian packages: apt-get update failed"
apt-get install -y -qq --no-install-recommends "postgresql-$POSTGRES_MAJOR" "postgresql-client-$POSTGRES_MAJOR" >&2 \
  || die "Debian packages: could not install postgresql-$POSTGRES_MAJOR"
[ -x "$bin/pg_ctl" ] || die "Debian packages: postgresql-$POSTGRES_MAJOR installed but $bin/pg_ctl is missing"
say "postgresql $POSTGRES_MAJOR: installed ($("$bin/postgres" --version))"

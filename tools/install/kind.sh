#!/usr/bin/env bash
# kind for the e2e-kind tier (issue 27). tools/run-tests.sh runs it before the tests (it builds only what changed);
# its binaries come earlier, from `tools/bootstrap.sh --with-kind` (a lane beside the other Go builds).
# Builds, with nothing pulled from an image registry (none is reachable here):
#   1. the kind CLI from the Go module proxy (KIND_VERSION);
#   2. the node's binaries with the pinned Go toolchain: kubelet/kubeadm/kube-proxy (wrapper tools/go/kind-node),
#      containerd + shim + ctr, crictl, CNI plugins, CoreDNS (wrapper tools/go/kind-coredns, kubeadm's plugins
#      only), pause (tools/go/kind-pause);
#   3. the kind base image (test-images/kind-base: kind's images/base recipe on the local Debian root fs);
#   4. the node image with `kind build node-image --type file` from a kubernetes-server tarball assembled here:
#      its kube-apiserver.tar also carries every other image the node needs (pause, etcd, CoreDNS, the kindnetd
#      stand-in, the local-path provisioner stand-in + helper), so kind's builder finds them all "built" and fetches
#      nothing.
# Everything is cached: binaries under $IHB_TOOLS, images by a hash of their inputs in their tags.
# Every build runs under `nice -n 19` (and ionice -c3): the machine's CI runs beside it. Figures: docs/kind-node-image.md.
#   tools/install/kind.sh            build what is missing; prints KIND=<binary> NODE_IMAGE=<ref>
#   tools/install/kind.sh --binaries only steps 1 and 2 (no Docker needed)
# Timings (wall and CPU seconds per step) are appended to $IHB_CACHE/kind/timings.log.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
use_go

KIND_DIR="$IHB_CACHE/kind"
LABEL=io.infrahub-backup.inputs
STEP_TIMEOUT=${KIND_STEP_TIMEOUT:-2400}
mkdir -p "$KIND_DIR"
timings="$KIND_DIR/timings.log"

# step NAME COMMAND...: runs COMMAND niced and time-boxed; its wall/CPU seconds go to $timings.
step() {
  local name=$1; shift
  say "kind: $name"
  /usr/bin/time -a -o "$timings" -f "$(date -u +%FT%TZ) $name: %e s wall, %U s user, %S s sys" \
    timeout "$STEP_TIMEOUT" nice -n 19 ionice -c3 "$@"
}

# go_bins NAME VERSION WRAPPER LDFLAGS TAGS PACKAGE[@VERSION]...: `go install` the packages into
# $IHB_TOOLS/NAME-VERSION/bin (from tools/go/WRAPPER when WRAPPER is not empty) unless installed already.
go_bins() {
  local name=$1 version=$2 wrapper=$3 ldflags=$4 tags=$5 dir stage
  shift 5
  dir="$IHB_TOOLS/$name-$version"
  if installed "$dir"; then say "kind: $name $version cached"; return; fi
  stage=$(fresh_dir "$dir")
  if [ -n "$wrapper" ]; then
    (cd "$IHB_ROOT/tools/go/$wrapper" && GOBIN="$stage/bin" step "go build $name $version" \
      go install -tags "$tags" -ldflags "-s -w $ldflags" "$@") || die "kind: could not build $name $version"
  else
    GOBIN="$stage/bin" step "go build $name $version" go install -tags "$tags" -ldflags "-s -w $ldflags" "$@" \
      || die "kind: could not build $name $version"
  fi
  promote_dir "$dir"
}

# wrapper_requires WRAPPER MODULE VERSION: the wrapper module resolves MODULE at exactly VERSION.
wrapper_requires() {
  local got
  got=$(cd "$IHB_ROOT/tools/go/$1" && go list -m -f '{{.Version}}' "$2") || die "tools/go/$1: cannot resolve $2"
  [ "$got" = "$3" ] || die "tools/go/$1/go.mod resolves $2 $got, tools/versions.env says $3"
}

# --- 1 + 2: binaries ---
go_bins kind "$KIND_VERSION" "" "" "" "sigs.k8s.io/kind@$KIND_VERSION"
wrapper_requires kind-node k8s.io/kubernetes "$KUBERNETES_VERSION"
go_bins kind-node "$KUBERNETES_VERSION" kind-node "$(kube_ldflags "$KUBERNETES_VERSION")" "" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy
go_bins containerd "$KIND_CONTAINERD_VERSION" "" \
  "-X github.com/containerd/containerd/v2/version.Version=$KIND_CONTAINERD_VERSION" "no_aufs no_zfs no_btrfs no_devmapper" \
  "github.com/containerd/containerd/v2/cmd/containerd@$KIND_CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$KIND_CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/ctr@$KIND_CONTAINERD_VERSION"
go_bins cni-plugins "$KIND_CNI_PLUGINS_VERSION" "" "" "" \
  "github.com/containernetworking/plugins/plugins/ipam/host-local@$KIND_CNI_PLUGINS_VERSION" \
  "github.com/containernetworking/plugins/plugins/main/loopback@$KIND_CNI_PLUGINS_VERSION" \
  "github.com/containernetworking/plugins/plugins/main/ptp@$KIND_CNI_PLUGINS_VERSION" \
  "github.com/containernetworking/plugins/plugins/meta/portmap@$KIND_CNI_PLUGINS_VERSION"
go_bins crictl "$KIND_CRICTL_VERSION" "" "-X sigs.k8s.io/cri-tools/pkg/version.Version=$KIND_CRICTL_VERSION" "" \
  "sigs.k8s.io/cri-tools/cmd/crictl@$KIND_CRICTL_VERSION"
wrapper_requires kind-coredns github.com/coredns/coredns "$KIND_COREDNS_VERSION"
go_bins kind-coredns "$KIND_COREDNS_VERSION" kind-coredns \
  "-X github.com/coredns/coredns/coremain.GitCommit=$KIND_COREDNS_VERSION" "" infrahub-backup.local/tools/kind-coredns
mv -f "$IHB_TOOLS/kind-coredns-$KIND_COREDNS_VERSION/bin/kind-coredns" "$IHB_TOOLS/kind-coredns-$KIND_COREDNS_VERSION/bin/coredns" 2>/dev/null || true
pause_version=$(cat "$IHB_ROOT"/tools/go/kind-pause/* | sha256sum | cut -c1-16)
go_bins kind-pause "$pause_version" kind-pause "" "" infrahub-backup.local/tools/kind-pause
mv -f "$IHB_TOOLS/kind-pause-$pause_version/bin/kind-pause" "$IHB_TOOLS/kind-pause-$pause_version/bin/pause" 2>/dev/null || true
if [ "${1:-}" = --binaries ]; then say "kind: binaries ready"; exit 0; fi

KIND="$IHB_TOOLS/kind-$KIND_VERSION/bin/kind"
NODE_BIN="$IHB_TOOLS/kind-node-$KUBERNETES_VERSION/bin"
KUBE_BIN="$IHB_TOOLS/kubernetes-$KUBERNETES_VERSION/bin"
KUBECTL="$IHB_TOOLS/kubectl-$KUBERNETES_VERSION/bin/kubectl"
ETCD="$IHB_TOOLS/etcd-$ETCD_VERSION/bin/etcd"
for f in "$KUBE_BIN/kube-apiserver" "$KUBECTL" "$ETCD"; do
  [ -x "$f" ] || die "$f missing: run tools/install/kube.sh (a tools/bootstrap.sh step)"
done

# --- 3: the base image ---
docker_answers || die "no Docker daemon answers: run tools/docker-daemon.sh start"
kind_src=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$kind_src/images/base/files" ] || die "sigs.k8s.io/kind@$KIND_VERSION: no images/base/files"
debian_ref=$("$IHB_ROOT/test-images/build.sh" base | sed -n 's/^base=//p')
labels() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

base_bins=("$IHB_TOOLS/containerd-$KIND_CONTAINERD_VERSION"/bin/* "$IHB_TOOLS/crictl-$KIND_CRICTL_VERSION/bin/crictl"
  "$IHB_TOOLS/cni-plugins-$KIND_CNI_PLUGINS_VERSION"/bin/*)
base_hash=$( { (cd "$IHB_ROOT/test-images/kind-base" && sha256sum Dockerfile); (cd "$kind_src/images/base" && find files -type f -print0 | sort -z | xargs -0 sha256sum);
  sha256sum "${base_bins[@]}" | cut -d' ' -f1; docker image inspect --format '{{.Id}}' "$debian_ref"; } | sha256sum | cut -c1-32)
BASE_REF="ihb-kind-base:$KIND_VERSION-${base_hash:0:12}"
if [ "$(labels "$BASE_REF")" != "$base_hash" ]; then
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/ihb-kind-base.XXXXXX")
  cp -a "$IHB_ROOT/test-images/kind-base/." "$ctx/"
  cp -a "$kind_src/images/base/files" "$ctx/files" && chmod -R u+w "$ctx/files"
  mkdir -p "$ctx/bin" && cp "${base_bins[@]}" "$ctx/bin/"
  step "docker build $BASE_REF" docker build --pull=false --label "$LABEL=$base_hash" --build-arg "BASE_IMAGE=$debian_ref" \
    --tag "$BASE_REF" "$ctx" > "$KIND_DIR/build-base.log" 2>&1 || { tail -30 "$KIND_DIR/build-base.log" >&2; rm -rf "$ctx"; die "kind base image: build failed"; }
  rm -rf "$ctx"
fi
say "kind: base image $BASE_REF ($(docker image inspect --format '{{.Size}}' "$BASE_REF") bytes)"

# --- 4: the node image ---
# The image names kubeadm and kind's manifests ask for (kubeadm config images list; kind's defaults).
kubeadm_images=$("$NODE_BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION")
image_named() { grep -m1 "/$1:" <<<"$kubeadm_images" || die "kubeadm lists no $1 image"; }
kind_const() { sed -n "s/^const $1 = \"\(.*\)\"$/\1/p" "$kind_src/pkg/build/nodeimage/$2"; }
sandbox_image=$(sed -n 's/^[[:space:]]*sandbox_image = "\(.*\)"$/\1/p' "$kind_src/images/base/files/etc/containerd/config.toml")
KINDNETD_IMAGE=$(kind_const kindnetdImage const_cni.go)
PROVISIONER_IMAGE=$(kind_const storageProvisionerImage const_storage.go)
HELPER_IMAGE=$(kind_const storageHelperImage const_storage.go)
[ -n "$sandbox_image" ] && [ -n "$KINDNETD_IMAGE" ] && [ -n "$PROVISIONER_IMAGE" ] && [ -n "$HELPER_IMAGE" ] \
  || die "sigs.k8s.io/kind@$KIND_VERSION: could not read its image names"

node_hash=$( { echo "$base_hash" "$kubeadm_images" "$sandbox_image" "$KINDNETD_IMAGE" "$PROVISIONER_IMAGE" "$HELPER_IMAGE";
  sha256sum "$NODE_BIN"/* "$KUBE_BIN"/* "$KUBECTL" "$ETCD" "$IHB_TOOLS/kind-coredns-$KIND_COREDNS_VERSION/bin/coredns" \
    "$IHB_TOOLS/kind-pause-$pause_version/bin/pause" \
    "$IHB_ROOT/tools/install/kind.sh" "$IHB_ROOT"/test-images/kind-base/kindnetd/* | cut -d' ' -f1;
  docker image inspect --format '{{.Id}}' "$debian_ref"; } | sha256sum | cut -c1-32)
NODE_REF="ihb-kind-node:$KUBERNETES_VERSION-${node_hash:0:12}"
if docker image inspect "$NODE_REF" >/dev/null 2>&1; then
  say "kind: node image $NODE_REF up to date"
  printf 'KIND=%s\nNODE_IMAGE=%s\n' "$KIND" "$NODE_REF"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ihb-kind-node.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
bindir="$work/kubernetes/server/bin"
mkdir -p "$bindir" "$work/images"
printf '%s\n' "$KUBERNETES_VERSION" > "$work/kubernetes/version"
cp "$NODE_BIN/kubelet" "$NODE_BIN/kubeadm" "$KUBECTL" "$bindir/"

# scratch_image REF BINARY [ENTRYPOINT]: an image holding only BINARY at /usr/local/bin (static Go builds).
scratch_image() {
  local ref=$1 binary=$2 entry=${3:-} root
  root="$work/root-${binary##*/}"
  mkdir -p "$root/usr/local/bin" "$root/tmp" && chmod 1777 "$root/tmp"
  cp "$binary" "$root/usr/local/bin/"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    ${entry:+--change "ENTRYPOINT [\"/usr/local/bin/$entry\"]"} - "$ref" >/dev/null
}
# debian_image REF DOCKERFILE_BODY [FILES...]: a small image on the local Debian root fs.
debian_image() {
  local ref=$1 body=$2 ctx
  shift 2
  ctx=$(mktemp -d "$work/ctx.XXXXXX")
  [ "$#" -eq 0 ] || cp "$@" "$ctx/"
  printf 'FROM %s\n%s\n' "$debian_ref" "$body" > "$ctx/Dockerfile"
  docker build --pull=false --tag "$ref" "$ctx" >> "$KIND_DIR/build-node.log" 2>&1 \
    || { tail -30 "$KIND_DIR/build-node.log" >&2; die "kind: image $ref failed to build"; }
}

build_images() {
  local v=$KUBERNETES_VERSION c
  : > "$KIND_DIR/build-node.log"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do scratch_image "registry.k8s.io/$c:$v" "$KUBE_BIN/$c"; done
  scratch_image "$(image_named etcd)" "$ETCD"
  scratch_image "$(image_named coredns)" "$IHB_TOOLS/kind-coredns-$KIND_COREDNS_VERSION/bin/coredns" coredns
  scratch_image "$sandbox_image" "$IHB_TOOLS/kind-pause-$pause_version/bin/pause" pause
  docker tag "$sandbox_image" "$(image_named pause)"
  # kind's builder insists on its local-path provisioner image, and kind deploys it as the default StorageClass
  # `standard`. No test provisions a volume on this tier, so a STAND-IN (TEST DOUBLE) takes its name: the pause
  # binary, which ignores the provisioner's arguments and runs until stopped. A PVC of `standard` stays Pending.
  # Building the real one (github.com/rancher/local-path-provisioner) cost ~90 s of a cold CI run.
  cp "$IHB_TOOLS/kind-pause-$pause_version/bin/pause" "$work/local-path-provisioner"
  scratch_image "$PROVISIONER_IMAGE" "$work/local-path-provisioner" local-path-provisioner
  # kube-proxy needs iptables/nft and conntrack. The provisioner's helper image (named by kind's manifest, never run
  # by the stand-in) is the local Debian image.
  debian_image "registry.k8s.io/kube-proxy:$v" \
    'RUN DEBIAN_FRONTEND=noninteractive apt-get update && apt-get install -y --no-install-recommends iptables nftables conntrack kmod && rm -rf /var/lib/apt/lists/*
COPY --chmod=0755 kube-proxy /usr/local/bin/kube-proxy' "$NODE_BIN/kube-proxy"
  docker tag "$debian_ref" "$HELPER_IMAGE"
  debian_image "$KINDNETD_IMAGE" 'COPY --chmod=0755 kindnetd /bin/kindnetd
ENTRYPOINT ["/bin/kindnetd"]' "$IHB_ROOT/test-images/kind-base/kindnetd/kindnetd"
  # One archive with every image (kind reads all its tags as "built" and imports all of it); the other three
  # archives kind expects are the control-plane images alone (already in the first: imported twice, cheap).
  # kind reads an archive's tags from whichever of manifest.json (first image only) and repositories (every image)
  # comes first in the tar; docker save writes manifest.json first, so the archive is re-packed repositories first.
  mkdir -p "$work/all"
  docker save "registry.k8s.io/kube-apiserver:$v" "registry.k8s.io/kube-proxy:$v" \
    "$(image_named etcd)" "$(image_named coredns)" "$sandbox_image" "$(image_named pause)" \
    "$KINDNETD_IMAGE" "$PROVISIONER_IMAGE" "$HELPER_IMAGE" | tar -C "$work/all" -x
  # docker writes Docker Hub names short (kindest/kindnetd); kind asks for docker.io/kindest/kindnetd.
  jq 'with_entries(if (.key | split("/")[0] | test("[.:]")) then . else .key = "docker.io/" + .key end)' \
    "$work/all/repositories" > "$work/repositories" && mv "$work/repositories" "$work/all/repositories"
  (cd "$work/all" && tar -cf "$bindir/kube-apiserver.tar" repositories manifest.json $(ls | grep -vx 'repositories\|manifest.json'))
  rm -rf "$work/all"
  for c in kube-controller-manager kube-scheduler kube-proxy; do docker save -o "$bindir/$c.tar" "registry.k8s.io/$c:$v"; done
  # gzip -1: kind only needs a gzip stream; -6 spends ~20 more CPU seconds on 800 MB of images that are unpacked at once.
  tar -C "$work" -c kubernetes | gzip -1 > "$work/kubernetes-server-linux-amd64.tar.gz"
  # The archives hold the images now: the engine keeps none of these upstream names (only ihb-kind-* images).
  docker rmi "registry.k8s.io/kube-apiserver:$v" "registry.k8s.io/kube-controller-manager:$v" \
    "registry.k8s.io/kube-scheduler:$v" "registry.k8s.io/kube-proxy:$v" "$(image_named etcd)" "$(image_named coredns)" \
    "$sandbox_image" "$(image_named pause)" "$KINDNETD_IMAGE" "$PROVISIONER_IMAGE" "$HELPER_IMAGE" >/dev/null
}
export -f say die scratch_image debian_image image_named build_images
export IHB_ROOT IHB_TOOLS KUBERNETES_VERSION KIND_COREDNS_VERSION work bindir KIND_DIR KUBE_BIN KUBECTL ETCD pause_version sandbox_image PROVISIONER_IMAGE HELPER_IMAGE KINDNETD_IMAGE NODE_BIN \
  debian_ref kubeadm_images
step "images + kubernetes-server tarball" bash -euo pipefail -c build_images

# kind's builder runs `docker pull` on the base image first (ignoring failure, but retrying 4 times against a
# registry that cannot be reached): a docker shim answers that pull for images present locally.
shim="$work/shim"
mkdir -p "$shim"
real_docker=$(command -v docker)
cat > "$shim/docker" <<SHIM
#!/bin/sh
if [ "\$1" = pull ]; then for last; do :; done; exec "$real_docker" image inspect "\$last" >/dev/null; fi
exec "$real_docker" "\$@"
SHIM
chmod +x "$shim/docker"
PATH="$shim:$PATH" step "kind build node-image $NODE_REF" "$KIND" build node-image --type file \
  --base-image "$BASE_REF" --image "$NODE_REF" "$work/kubernetes-server-linux-amd64.tar.gz" \
  > "$KIND_DIR/build-node-image.log" 2>&1 || { tail -30 "$KIND_DIR/build-node-image.log" >&2; die "kind build node-image failed"; }
say "kind: node image $NODE_REF ($(docker image inspect --format '{{.Size}}' "$NODE_REF") bytes)"
# Earlier builds (other input hashes) are of no further use; one a cluster still runs on stays (rmi refuses it).
docker images --format '{{.Repository}}:{{.Tag}}' ihb-kind-node | grep -vxF "$NODE_REF" | xargs -r docker rmi >/dev/null 2>&1 || true
docker images --format '{{.Repository}}:{{.Tag}}' ihb-kind-base | grep -vxF "$BASE_REF" | xargs -r docker rmi >/dev/null 2>&1 || true
printf 'KIND=%s\nNODE_IMAGE=%s\n' "$KIND" "$NODE_REF"

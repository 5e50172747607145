#!/usr/bin/env bash
# Smoke test of the local Kubernetes control plane built by tools/install/kube.sh (issue 6):
# etcd -> kube-apiserver -> kube-controller-manager + kube-scheduler -> kwok, all on 127.0.0.1 with
# random free ports and a temporary directory; proves a fake Node becomes Ready and a Deployment's Pod
# is created (controller-manager), bound (scheduler) and Running (kwok). Needs openssl, curl, jq, python3.
# Everything it starts is stopped on exit (trap), and the temporary directory is removed
# (KEEP=1 keeps it, with the logs, for a post-mortem).
set -euo pipefail
. "$(dirname "$0")/../../lib.sh"

ETCD_BIN="$IHB_TOOLS/etcd-$ETCD_VERSION/bin/etcd"
KUBE_BIN="$IHB_TOOLS/kubernetes-$KUBERNETES_VERSION/bin"
KWOK_DIR="$IHB_TOOLS/kwok-$KWOK_VERSION"
for f in "$ETCD_BIN" "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kube-controller-manager" \
  "$KUBE_BIN/kube-scheduler" "$KWOK_DIR/bin/kwok" "$KWOK_DIR/etc/stages.yaml"; do
  [ -e "$f" ] || die "$f missing: run tools/install/kube.sh"
done
for c in openssl curl jq python3; do command -v "$c" >/dev/null || die "$c not found"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/ihb-kube-smoke.XXXXXX")
pids=()
cleanup() {
  local rc=$? pid
  # Stop in reverse start order: clients first, etcd last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] || continue
      printf '\n===== %s (last 25 lines) =====\n' "$(basename "$log")" >&2
      tail -n 25 "$log" >&2
    done
  fi
  if [ "${KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: run CMD in the background, output to $work/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  say "started $name (pid $!)"
}

# wait_for WHAT SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
  local what=$1 seconds=$2 t0
  shift 2
  t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "a process exited while waiting for $what"; done
    (($(date +%s) - t0 < seconds)) || die "timed out after ${seconds}s waiting for $what"
    sleep 0.5
  done
  say "$what after $(($(date +%s) - t0))s"
}

# Free loopback ports (bound then released, so another process could take one in between: rare).
read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()')

# --- certificates and credentials ---
pki="$work/pki"
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ihb-smoke-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
# Serving certificate: 127.0.0.1 for us, 10.0.0.1 (first address of the service range) for in-cluster.
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 1 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
# Service-account token signing key pair.
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# Static bearer tokens (token,user,uid,"group,..."): admin and kwok are cluster admins; the
# controller-manager and scheduler get their own identities, which the bootstrap RBAC policy covers.
token() { openssl rand -hex 16; }
ADMIN_TOKEN=$(token) KCM_TOKEN=$(token) SCHED_TOKEN=$(token) KWOK_TOKEN=$(token)
cat >"$pki/tokens.csv" <<EOF
$ADMIN_TOKEN,admin,admin,"system:masters"
$KCM_TOKEN,system:kube-controller-manager,system:kube-controller-manager,""
$SCHED_TOKEN,system:kube-scheduler,system:kube-scheduler,""
$KWOK_TOKEN,kwok,kwok,"system:masters"
EOF

API="https://127.0.0.1:$API_PORT"
kubeconfig() { # kubeconfig NAME TOKEN
  cat >"$work/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $API
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    token: $2
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
EOF
}
kubeconfig admin "$ADMIN_TOKEN"
kubeconfig controller-manager "$KCM_TOKEN"
kubeconfig scheduler "$SCHED_TOKEN"
kubeconfig kwok "$KWOK_TOKEN"

# api METHOD PATH [JSON]: the admin's request to the apiserver (no kubectl).
api() {
  local args=(-sS --fail-with-body --cacert "$pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" -X "$1")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$API$2"
}

# --- etcd ---
t_all=$(date +%s)
start etcd "$ETCD_BIN" --name smoke --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "smoke=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
  --log-level warn
wait_for "etcd /health" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

# --- kube-apiserver ---
start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --cert-dir "$work/apiserver" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --token-auth-file "$pki/tokens.csv" \
  --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --endpoint-reconciler-type none \
  --allow-privileged=true
wait_for "kube-apiserver /readyz" 120 api GET /readyz
api GET /version | jq -c '{gitVersion, goVersion}' >&2

# --- kube-controller-manager and kube-scheduler ---
start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig "$work/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$work/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$work/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$work/controller-manager" \
  --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --service-cluster-ip-range 10.0.0.0/24
start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig "$work/scheduler.kubeconfig" \
  --authentication-kubeconfig "$work/scheduler.kubeconfig" \
  --authorization-kubeconfig "$work/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$work/scheduler" \
  --leader-elect=false
wait_for "kube-controller-manager /healthz" 60 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
wait_for "kube-scheduler /healthz" 60 curl -skf "https://127.0.0.1:$SCHED_PORT/healthz"

# --- kwok ---
start kwok "$KWOK_DIR/bin/kwok" \
  --kubeconfig "$work/kwok.kubeconfig" \
  --config "$KWOK_DIR/etc/stages.yaml" \
  --manage-all-nodes=true \
  --node-ip 127.0.0.1 --node-port "$KWOK_PORT" --server-address "127.0.0.1:$KWOK_PORT" \
  --node-lease-duration-seconds 40 --cidr 10.244.0.1/24

# A fake node, as the kwok docs create it (kwok manages all nodes here; the annotation is for selectors).
api POST /api/v1/nodes '{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-0",
  "annotations":{"node.alpha.kubernetes.io/ttl":"0","kwok.x-k8s.io/node":"fake"},
  "labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-0","kubernetes.io/os":"linux"}},
  "spec":{}}' >/dev/null
node_ready() {
  [ "$(api GET /api/v1/nodes/kwok-node-0 | jq -r '.status.conditions[]? | select(.type=="Ready") | .status')" = True ]
}
wait_for "Node kwok-node-0 Ready" 60 node_ready

# The default ServiceAccount comes from the controller-manager; the Pod needs it to be admitted.
wait_for "ServiceAccount default/default" 60 api GET /api/v1/namespaces/default/serviceaccounts/default
api POST /apis/apps/v1/namespaces/default/deployments '{"apiVersion":"apps/v1","kind":"Deployment",
  "metadata":{"name":"smoke"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"smoke"}},
  "template":{"metadata":{"labels":{"app":"smoke"}},"spec":{"containers":[{"name":"c","image":"fake"}]}}}}' >/dev/null
pod_running() {
  api GET '/api/v1/namespaces/default/pods?labelSelector=app%3Dsmoke' \
    | jq -e '.items[] | select(.spec.nodeName=="kwok-node-0" and .status.phase=="Running")' >/dev/null
}
wait_for "Deployment Pod scheduled on kwok-node-0 and Running" 90 pod_running
api GET '/api/v1/namespaces/default/pods?labelSelector=app%3Dsmoke' \
  | jq -c '.items[] | {name: .metadata.name, node: .spec.nodeName, phase: .status.phase, podIP: .status.podIP}' >&2

say "smoke OK in $(($(date +%s) - t_all))s (etcd $ETCD_VERSION, kubernetes $KUBERNETES_VERSION, kwok $KWOK_VERSION)"

#!/usr/bin/env bash
# up.sh starts a local Kubernetes control plane on 127.0.0.1: etcd,
# kube-apiserver (RBAC, token and client-certificate auth, service account
# keys), kube-controller-manager, kube-scheduler and kwok, with NODES
# simulated nodes (default 100). State (PKI, kubeconfigs, pid files, logs,
# etcd data) lives in ${CLUSTER_DIR:-<repo>/.cache/local-cluster}.
#
# It is idempotent: a running healthy stack is reused (only the node count is
# topped up), a stale one left by a killed run is stopped first.
#
# Environment: NODES, CLUSTER_DIR, KUBEPATROL_CACHE, ETCD_PORT,
# ETCD_PEER_PORT, ETCD_METRICS_PORT, APISERVER_PORT, KCM_PORT,
# SCHEDULER_PORT, KWOK_PORT, KCM_QPS (200), KCM_BURST (400), SCHEDULER_QPS
# (50, the default), SCHEDULER_BURST (100), KWOK_PARALLELISM (8 workers
# per kind of work), KWOK_LOG_LEVEL (INFO; WARN at scale),
# NODE_MONITOR_GRACE_PERIOD (50s, the default).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

NODES=${NODES:-100}
KCM_QPS=${KCM_QPS:-200}
KCM_BURST=${KCM_BURST:-400}
SCHEDULER_QPS=${SCHEDULER_QPS:-50}
SCHEDULER_BURST=${SCHEDULER_BURST:-100}
KWOK_PARALLELISM=${KWOK_PARALLELISM:-8}
NODE_MONITOR_GRACE_PERIOD=${NODE_MONITOR_GRACE_PERIOD:-50s}
KWOK_LOG_LEVEL=${KWOK_LOG_LEVEL:-INFO}
[[ $NODES =~ ^[0-9]+$ ]] || die "NODES must be a number, got '$NODES'"

PKI=$CLUSTER_DIR/pki
RUN=$CLUSTER_DIR/run
LOGS=$CLUSTER_DIR/logs
DATA=$CLUSTER_DIR/data
API=https://127.0.0.1:$APISERVER_PORT

DEPS_MINIMAL=${DEPS_MINIMAL:-1} "$here/deps.sh"
"$here/build.sh"

declare -A BIN=(
	[etcd]=$ETCD_BIN [kube-apiserver]=$APISERVER_BIN [kube-controller-manager]=$KCM_BIN
	[kube-scheduler]=$SCHEDULER_BIN [kwok]=$KWOK_BIN
)

# api METHOD PATH [curl args...] calls the API server as admin.
api() {
	local method=$1 path=$2
	shift 2
	curl -fsS --max-time 30 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-X "$method" "$@" "$API$path"
}

# running NAME succeeds if NAME's pid file names a live process of ours.
running() {
	pid_alive "$RUN/$1.pid" && grep -qa -- "${BIN[$1]}" "/proc/$(<"$RUN/$1.pid")/cmdline" 2>/dev/null
}

healthy_stack() {
	local c
	for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done
	[[ -f $KUBECONFIG_FILE ]] && api GET /readyz >/dev/null 2>&1
}

gen_pki() {
	local start
	start=$(now_us)
	mkdir -p "$PKI"
	(
		cd "$PKI"
		umask 077
		key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
		key ca.key
		openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj "/CN=kubepatrol-local-ca" 2>/dev/null
		# serving certificate of the API server
		key apiserver.key
		openssl req -new -key apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
		printf '%s\n' \
			"subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
			"extendedKeyUsage=serverAuth" >server.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
			-days 3650 -extfile server.ext 2>/dev/null
		# client certificates: CN is the user, O the group
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		client() { # NAME CN [O]
			key "$1.key"
			openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2${3:+/O=$3}" 2>/dev/null
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" \
				-days 3650 -extfile client.ext 2>/dev/null
		}
		client admin kubepatrol-admin system:masters
		client kube-controller-manager system:kube-controller-manager
		client kube-scheduler system:kube-scheduler
		client kwok kwok system:masters
		# front proxy (aggregation layer): its own CA, as kubeadm does; it also
		# gives the controllers the requestheader CA bundle they look for.
		key front-proxy-ca.key
		openssl req -x509 -new -key front-proxy-ca.key -out front-proxy-ca.crt -days 3650 -subj "/CN=kubepatrol-front-proxy-ca" 2>/dev/null
		key front-proxy-client.key
		openssl req -new -key front-proxy-client.key -out front-proxy-client.csr -subj "/CN=front-proxy-client" 2>/dev/null
		openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
			-out front-proxy-client.crt -days 3650 -extfile client.ext 2>/dev/null
		# service account token signing key
		key sa.key
		openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
		# static tokens: token,user,uid[,"group1,group2"]
		printf '%s\n' "$ADMIN_TOKEN,kubepatrol-admin,uid-admin,system:masters" \
			"$INSPECTOR_TOKEN,kubepatrol-inspector,uid-inspector,system:masters" \
			"$RESTRICTED_TOKEN,kubepatrol-restricted,uid-restricted" >tokens.csv
		rm -f ./*.csr ./*.ext ./*.srl
	)
	log "PKI generated in $(since "$start")s ($PKI)"
}

# kubeconfig FILE USER (token TOKEN | cert NAME)
kubeconfig() {
	local file=$1 user=$2 kind=$3 arg=$4 cred
	if [[ $kind == token ]]; then
		cred="    token: $arg"
	else
		cred="    client-certificate: $PKI/$arg.crt
    client-key: $PKI/$arg.key"
	fi
	cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubepatrol-local
  cluster:
    server: $API
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
$cred
contexts:
- name: kubepatrol-local
  context: {cluster: kubepatrol-local, user: $user}
current-context: kubepatrol-local
EOF
	chmod 600 "$file"
}

# start NAME ARGS... starts a component detached, logging to LOGS/NAME.log.
start() {
	local name=$1
	shift
	# setsid: the stack outlives the shell that started it (make demo), and a
	# Ctrl-C in that shell does not kill it halfway.
	setsid "${BIN[$name]}" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

# await NAME TIMEOUT CMD... waits for CMD to succeed while NAME is alive.
await() {
	local name=$1 timeout=$2 start
	shift 2
	start=$(now_us)
	until "$@" >/dev/null 2>&1; do
		# Only liveness here: /proc/PID/cmdline can read empty for an instant
		# while a process execs, which made a live component look dead.
		if ! pid_alive "$RUN/$name.pid"; then
			echo "---- last lines of $LOGS/$name.log ----" >&2
			tail -n 25 "$LOGS/$name.log" >&2 || true
			die "$name exited during startup (log: $LOGS/$name.log)"
		fi
		if (($(now_us) - start > timeout * 1000000)); then
			tail -n 25 "$LOGS/$name.log" >&2 || true
			die "$name not healthy after ${timeout}s (log: $LOGS/$name.log)"
		fi
		sleep 0.1
	done
	log "$name healthy (+$(since "$start")s)"
}

check_ports() {
	local spec name port holder
	for spec in ETCD_PORT:$ETCD_PORT ETCD_PEER_PORT:$ETCD_PEER_PORT ETCD_METRICS_PORT:$ETCD_METRICS_PORT \
		APISERVER_PORT:$APISERVER_PORT KCM_PORT:$KCM_PORT SCHEDULER_PORT:$SCHEDULER_PORT KWOK_PORT:$KWOK_PORT; do
		name=${spec%%:*} port=${spec#*:}
		if port_busy "$port"; then
			holder=$(port_holder "$port")
			die "port $port ($name) is already in use${holder:+ by $holder}; stop that process or choose another port, e.g. $name=$((port + 10000)) $0"
		fi
	done
}

start_etcd() {
	mkdir -p "$DATA"
	start etcd --name kubepatrol --data-dir "$DATA/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "kubepatrol=http://127.0.0.1:$ETCD_PEER_PORT" \
		--listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
		--quota-backend-bytes=$((4 * 1024 * 1024 * 1024))
	await etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_kube_apiserver() {
	# Audit only the "inspector" user (the kubeconfig that the e2e suite and
	# scale.sh give to bin/patrol), so that its API requests can be counted
	# exactly and checked to be read-only. Nobody else is logged.
	printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' 'rules:' \
		'- level: Metadata' '  users: [kubepatrol-inspector]' '- level: None' >"$PKI/audit-policy.yaml"
	start kube-apiserver \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --advertise-address=127.0.0.1 \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
		--token-auth-file="$PKI/tokens.csv" \
		--authorization-mode=Node,RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 \
		--allow-privileged=true \
		--endpoint-reconciler-type=none \
		--audit-policy-file="$PKI/audit-policy.yaml" \
		--audit-log-path="$LOGS/audit.log" --audit-log-format=json \
		--audit-log-maxsize=500 --audit-log-maxbackup=1 --audit-log-mode=blocking
	await kube-apiserver 60 api GET /readyz
}

start_kube_controller_manager() {
	start kube-controller-manager \
		--kubeconfig="$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--leader-elect=false \
		--use-service-account-credentials=true \
		--service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/ca.crt" \
		--kube-api-qps="$KCM_QPS" --kube-api-burst="$KCM_BURST" \
		--node-monitor-grace-period="$NODE_MONITOR_GRACE_PERIOD" \
		--service-cluster-ip-range=10.96.0.0/16
}

start_kube_scheduler() {
	start kube-scheduler \
		--kubeconfig="$CLUSTER_DIR/kube-scheduler.kubeconfig" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
		--kube-api-qps="$SCHEDULER_QPS" --kube-api-burst="$SCHEDULER_BURST" \
		--leader-elect=false
}

start_kwok() {
	# kwok simulates kubelets, only for nodes annotated kwok.x-k8s.io/node=fake,
	# and it leaves alone the status of pods annotated
	# kwok.x-k8s.io/status=custom (the fault scenarios patch those).
	# Workers per kind of work (kwok's default is 4, which makes 30,000 pods
	# take many minutes to turn Running); an explicit --config also keeps a
	# user's ~/.kwok/kwok.yaml out of the stack.
	printf '%s\n' 'apiVersion: config.kwok.x-k8s.io/v1alpha1' 'kind: KwokConfiguration' 'options:' \
		"  podPlayStageParallelism: $KWOK_PARALLELISM" "  nodePlayStageParallelism: $KWOK_PARALLELISM" \
		"  nodeLeaseParallelism: $KWOK_PARALLELISM" >"$PKI/kwok.yaml"
	start kwok --config="$PKI/kwok.yaml" --v="$KWOK_LOG_LEVEL" --kubeconfig="$CLUSTER_DIR/kwok.kubeconfig" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--manage-nodes-with-label-selector= \
		--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
		--cidr=10.244.0.0/16 --node-ip=10.1.0.1 \
		--node-lease-duration-seconds=40 \
		--server-address="127.0.0.1:$KWOK_PORT"
}

# await_rest waits for the named components started after the API server.
await_rest() {
	local c
	for c in "$@"; do
		case $c in
		kube-controller-manager) await "$c" 60 curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz" ;;
		kube-scheduler) await "$c" 60 curl -fsSk "https://127.0.0.1:$SCHEDULER_PORT/healthz" ;;
		kwok) await "$c" 60 curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz" ;;
		esac
	done
}

start_stack() {
	local t0
	t0=$(now_us)
	check_ports
	mkdir -p "$RUN" "$LOGS"
	rm -f "$LOGS"/*.log "$LOGS"/audit*.log
	gen_pki
	kubeconfig "$KUBECONFIG_FILE" kubepatrol-admin token "$ADMIN_TOKEN"
	kubeconfig "$CLUSTER_DIR/admin-cert.kubeconfig" kubepatrol-admin cert admin
	kubeconfig "$CLUSTER_DIR/inspector.kubeconfig" kubepatrol-inspector token "$INSPECTOR_TOKEN"
	kubeconfig "$CLUSTER_DIR/restricted.kubeconfig" kubepatrol-restricted token "$RESTRICTED_TOKEN"
	kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" system:kube-controller-manager cert kube-controller-manager
	kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" system:kube-scheduler cert kube-scheduler
	kubeconfig "$CLUSTER_DIR/kwok.kubeconfig" kwok cert kwok

	start_etcd
	start_kube_apiserver
	start_kube_controller_manager
	start_kube_scheduler
	start_kwok
	await_rest kube-controller-manager kube-scheduler kwok
	# The ServiceAccount admission plugin refuses pods until the namespace's
	# default ServiceAccount exists.
	wait_for "default ServiceAccount present" 60 api GET /api/v1/namespaces/default/serviceaccounts/default ||
		die "no default ServiceAccount after 60s (log: $LOGS/kube-controller-manager.log)"
	log "control plane up in $(since "$t0")s"
}

# repair_stack restarts the components that are not running, in order,
# keeping etcd and its data: e.g. after the e2e suite stopped the API server.
repair_stack() {
	local c missing=()
	for c in "${COMPONENTS[@]}"; do running "$c" || missing+=("$c"); done
	log "restarting ${missing[*]} (etcd and its data are kept)"
	for c in "${missing[@]}"; do
		rm -f "$RUN/$c.pid"
		"start_${c//-/_}"
	done
	await_rest "${missing[@]}"
}

node_json() { # INDEX
	local name
	name=$(printf 'kwok-node-%03d' "$1")
	cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"$name","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64",
  "node-role.kubernetes.io/agent":"","topology.kubernetes.io/zone":"zone-$(($1 % 3))"}},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","pods":"110"},
  "nodeInfo":{"kubeletVersion":"$K8S_VERSION","kubeProxyVersion":"$K8S_VERSION","containerRuntimeVersion":"containerd://1.7.24","operatingSystem":"linux","architecture":"amd64"}}}
EOF
}
export -f node_json
export K8S_VERSION

ready_nodes() {
	api GET "/api/v1/nodes?labelSelector=type%3Dkwok" |
		jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'
}

create_nodes() {
	local start have missing=() i name
	start=$(now_us)
	mapfile -t have < <(api GET "/api/v1/nodes?labelSelector=type%3Dkwok" | jq -r '.items[].metadata.name')
	declare -A exists=()
	for name in "${have[@]}"; do exists[$name]=1; done
	for ((i = 0; i < NODES; i++)); do
		name=$(printf 'kwok-node-%03d' "$i")
		[[ -n ${exists[$name]:-} ]] || missing+=("$i")
	done
	if ((${#missing[@]} > 0)); then
		log "creating ${#missing[@]} kwok nodes (${#have[@]} exist) ..."
		printf '%s\n' "${missing[@]}" | xargs -P 8 -I{} bash -c \
			'node_json {} | curl -fsS -o /dev/null --max-time 30 --cacert "$0" -H "Authorization: Bearer $1" -H "Content-Type: application/json" -X POST --data-binary @- "$2/api/v1/nodes"' \
			"$PKI/ca.crt" "$ADMIN_TOKEN" "$API"
		log "created ${#missing[@]} nodes in $(since "$start")s"
	fi
	local want=$NODES got=0 deadline=$(($(now_us) + (60 + NODES / 10) * 1000000))
	((${#have[@]} > want)) && want=${#have[@]}
	while :; do
		got=$(ready_nodes)
		((got >= want)) && break
		(($(now_us) > deadline)) && die "only $got of $want kwok nodes Ready (kwok log: $LOGS/kwok.log)"
		sleep 0.5
	done
	log "$got kwok nodes Ready (+$(since "$start")s)"
}

T0=$(now_us)
if healthy_stack; then
	log "stack already running in $CLUSTER_DIR, reusing it"
else
	if running etcd && [[ -f $PKI/ca.crt && -f $KUBECONFIG_FILE ]]; then
		repair_stack
	else
		if compgen -G "$RUN/*.pid" >/dev/null; then
			log "stale stack found (pid files in $RUN), stopping it first"
		fi
		"$here/down.sh" --quiet
		log "starting the local control plane in $CLUSTER_DIR"
		start_stack
	fi
fi
((NODES > 0)) && create_nodes

cat <<EOF
$(log "ready in $(since "$T0")s")

  export KUBECONFIG=$KUBECONFIG_FILE
  kubectl get nodes                 # if kubectl is installed
  bin/patrol inspect                # build it first: go build -o bin/patrol ./cmd/patrol

  restricted user (no RBAC bindings): $CLUSTER_DIR/restricted.kubeconfig
  logs: $LOGS/    stop: e2e/cluster/down.sh
EOF

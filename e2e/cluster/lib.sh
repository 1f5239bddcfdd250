# shellcheck shell=bash
# Common settings and helpers for the local control plane scripts.
# Sourced by build.sh, deps.sh, up.sh and down.sh; not meant to be run.

# Repository root, found from this file's location so the scripts work from
# any working directory.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR=$REPO_ROOT/e2e
TOOLS_DIR=$E2E_DIR/tools

# Pinned versions. They must match the wrapper modules in e2e/tools/*/go.mod
# (build.sh checks that they do).
ETCD_VERSION=v3.5.16
K8S_VERSION=v1.32.2
KWOK_VERSION=v0.7.0

# Built binaries are cached by component and version, outside the repository,
# so that a second run (or a second clone) starts in seconds.
KUBEPATROL_CACHE=${KUBEPATROL_CACHE:-$HOME/.cache/kubepatrol}
BIN_ROOT=$KUBEPATROL_CACHE/bin
ETCD_BIN=$BIN_ROOT/etcd-$ETCD_VERSION/etcd
APISERVER_BIN=$BIN_ROOT/kube-apiserver-$K8S_VERSION/kube-apiserver
KCM_BIN=$BIN_ROOT/kube-controller-manager-$K8S_VERSION/kube-controller-manager
SCHEDULER_BIN=$BIN_ROOT/kube-scheduler-$K8S_VERSION/kube-scheduler
KWOK_BIN=$BIN_ROOT/kwok-$KWOK_VERSION/kwok
# kubectl of the same release, for tests on machines without one (Debian
# has no kubectl package); $BIN_ROOT/kubectl links to it.
KUBECTL_BIN=$BIN_ROOT/kubectl-$K8S_VERSION/kubectl

# State of a running stack: PKI, kubeconfig, pid files, logs, etcd data.
CLUSTER_DIR=${CLUSTER_DIR:-$REPO_ROOT/.cache/local-cluster}
KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig

# Loopback ports, each overridable from the environment.
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
ETCD_METRICS_PORT=${ETCD_METRICS_PORT:-2381}
APISERVER_PORT=${APISERVER_PORT:-6443}
KCM_PORT=${KCM_PORT:-10257}
SCHEDULER_PORT=${SCHEDULER_PORT:-10259}
KWOK_PORT=${KWOK_PORT:-10247}

# Static bearer tokens (token auth file). The admin token is in the
# kubeconfig. The inspector is an admin too, but the only user the API
# server audits, so the requests bin/patrol makes can be counted. The
# restricted user is for the e2e RBAC tests and has no bindings until a test
# creates them.
ADMIN_TOKEN=${ADMIN_TOKEN:-kubepatrol-admin-token}
INSPECTOR_TOKEN=${INSPECTOR_TOKEN:-kubepatrol-inspector-token}
RESTRICTED_TOKEN=${RESTRICTED_TOKEN:-kubepatrol-restricted-token}

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

_T0=${EPOCHREALTIME/./}

# log prints a message prefixed with the seconds elapsed since the script
# started.
log() {
	local now=${EPOCHREALTIME/./}
	printf '[%7.1fs] %s\n' "$(((now - _T0) / 100000))e-1" "$*"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# since START prints the seconds elapsed since START (an EPOCHREALTIME
# value with the dot removed), with one decimal.
since() {
	local now=${EPOCHREALTIME/./}
	printf '%.1f' "$(((now - $1) / 100000))e-1"
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# pid_alive PIDFILE succeeds if the pid file names a live process.
pid_alive() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# port_holder PORT prints the process listening on 127.0.0.1:PORT, if any
# can be found.
port_holder() {
	local port=$1 out=""
	if command -v ss >/dev/null; then
		out=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1)
	fi
	if [[ -z $out ]] && command -v lsof >/dev/null; then
		out=$(lsof -nP -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | awk 'NR==2 {print $1" pid="$2}')
	fi
	printf '%s' "$out"
}

# port_busy PORT succeeds if something listens on PORT.
port_busy() {
	if command -v ss >/dev/null; then
		[[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# wait_for DESC TIMEOUT_SECONDS CMD... polls CMD every 0.2 s.
wait_for() {
	local desc=$1 timeout=$2 start
	shift 2
	start=$(now_us)
	while ! "$@" >/dev/null 2>&1; do
		if (($(now_us) - start > timeout * 1000000)); then
			return 1
		fi
		sleep 0.2
	done
	log "$desc after $(since "$start")s"
}

# kube-state-metrics, for the alerting e2e tests (e2e/alerting_test.go): not a
# control-plane component, so not in COMPONENTS; the tests start it. Built by
# build.sh from the wrapper module e2e/tools/ksm, whose go.mod must require
# this version.
KSM_VERSION=v2.15.0
KSM_BIN=$BIN_ROOT/kube-state-metrics-$KSM_VERSION/kube-state-metrics

#!/usr/bin/env bash
# down.sh stops the local control plane started by up.sh, by pid file, in
# the order kwok, kube-scheduler, kube-controller-manager, kube-apiserver,
# etcd (the API server before etcd: killed together, the API server keeps
# retrying etcd for ~25 s), waits for each to exit, and removes the state
# (etcd data, PKI, kubeconfigs). Logs are kept in $CLUSTER_DIR/logs.
# Running it when nothing runs is fine. --quiet prints nothing when there
# was nothing to stop.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
[[ ${1:-} == --quiet ]] && quiet=1
RUN=$CLUSTER_DIR/run

# stop NAME: TERM, wait up to 20 s, then KILL.
stop() {
	local name=$1 pidfile=$RUN/$1.pid pid start
	[[ -f $pidfile ]] || return 0
	pid=$(<"$pidfile")
	# Only signal a process that is still the one we started (pid reuse after
	# a reboot): its command line names the component.
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -qa -- "/$name" "/proc/$pid/cmdline" 2>/dev/null; then
		start=$(now_us)
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name (pid $pid) did not exit after 20s, killing it"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
		fi
		log "$name stopped (pid $pid, $(since "$start")s)"
	elif ((!quiet)); then
		log "$name was not running (stale pid file)"
	fi
	rm -f "$pidfile"
}

if [[ ! -d $RUN ]] || ! compgen -G "$RUN/*.pid" >/dev/null; then
	((quiet)) || log "no local control plane running in $CLUSTER_DIR"
else
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		stop "${COMPONENTS[i]}"
	done
fi
# Remove the state but keep the logs for a post-mortem.
if [[ -d $CLUSTER_DIR ]]; then
	rm -rf "${CLUSTER_DIR:?}/data" "${CLUSTER_DIR:?}/pki" "${CLUSTER_DIR:?}/run" "${CLUSTER_DIR:?}"/*kubeconfig
	((quiet)) || log "removed the cluster state in $CLUSTER_DIR (logs kept in $CLUSTER_DIR/logs)"
fi

#!/usr/bin/env bash
# demo.sh (make demo): builds kubepatrol and a real local control plane,
# starts a 50-node demo fleet of a few hundred pods with a dozen injected
# faults, and inspects it: the report as a table, and as HTML in
# .cache/demo/report.html. The first run builds etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok from the Go module proxy
# (several minutes on two cores); later runs reuse them.
# Stop it with e2e/demo-down.sh (make demo-down).
#
# Environment: DEMO_NODES (50), and those of e2e/cluster/up.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/cluster/lib.sh"

DEMO_DIR=$REPO_ROOT/.cache/demo
mkdir -p "$DEMO_DIR" "$REPO_ROOT/bin"
cd "$REPO_ROOT"

log "1/5 building kubepatrol (bin/patrol)"
start=$(now_us)
go build -o bin/patrol ./cmd/patrol
go build -o "$DEMO_DIR/demofleet" ./e2e/cmd/demofleet
log "    built in $(since "$start")s"

log "2/5 building the control plane (first run: several minutes; cached in $BIN_ROOT)"
"$here/cluster/build.sh"

log "3/5 starting the control plane with ${DEMO_NODES:-50} kwok nodes"
NODES=${DEMO_NODES:-50} "$here/cluster/up.sh" | grep --line-buffered -v '^  ' || true
healthy() { curl -fsS --max-time 5 --cacert "$CLUSTER_DIR/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
	"https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1; }
healthy || die "the control plane is not ready (logs: $CLUSTER_DIR/logs)"

log "4/5 creating the demo fleet and injecting faults (about two minutes: the checks' thresholds must pass)"
pidfile=$DEMO_DIR/demofleet.pid
ready=$DEMO_DIR/ready
if pid_alive "$pidfile" && [[ -f $ready ]]; then
	log "    demofleet already running (pid $(<"$pidfile")), reusing it"
else
	if pid_alive "$pidfile"; then kill "$(<"$pidfile")" 2>/dev/null || true; fi
	rm -f "$ready"
	# demofleet stays in the background, renewing the fault nodes' leases as
	# their kubelets would, until make demo-down.
	setsid "$DEMO_DIR/demofleet" -kubeconfig "$KUBECONFIG_FILE" -ready-file "$ready" \
		>"$DEMO_DIR/demofleet.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	start=$(now_us)
	shown=0
	until [[ -f $ready ]]; do
		if ! pid_alive "$pidfile"; then
			tail -n 20 "$DEMO_DIR/demofleet.log" >&2
			die "demofleet failed (log: $DEMO_DIR/demofleet.log)"
		fi
		if (($(now_us) - start > 600 * 1000000)); then
			die "demo fleet not ready after 10 minutes (log: $DEMO_DIR/demofleet.log)"
		fi
		# Relay demofleet's progress.
		total=$(wc -l <"$DEMO_DIR/demofleet.log")
		if ((total > shown)); then
			sed -n "$((shown + 1)),${total}p" "$DEMO_DIR/demofleet.log" |
				sed -E 's/^time=[^ ]+ level=[A-Z]+ msg=/    /'
			shown=$total
		fi
		sleep 1
	done
	log "    fleet ready in $(since "$start")s"
fi

log "5/5 bin/patrol inspect"
echo
bin/patrol inspect --kubeconfig "$KUBECONFIG_FILE" -o table || true
bin/patrol inspect --kubeconfig "$KUBECONFIG_FILE" -o html >"$DEMO_DIR/report.html"
cat <<EOF

HTML report: $DEMO_DIR/report.html

Explore:   export KUBECONFIG=$KUBECONFIG_FILE
           bin/patrol inspect --evidence          # each finding's evidence
           bin/patrol inspect -n fault-pod-crash-looping -o json
Stop:      make demo-down   (or e2e/demo-down.sh)
EOF

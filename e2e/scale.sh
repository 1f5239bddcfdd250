#!/usr/bin/env bash
# scale.sh measures `bin/patrol inspect -o json` against a big simulated
# cluster: SCALE_NODES kwok nodes (1,000) and SCALE_PODS pods (30,000, in
# Deployments of 300 replicas). It prints, for each of SCALE_RUNS runs (3):
# wall time, peak RSS (GNU time -v), and the API requests patrol made
# (exact, from the API server's audit log of the "inspector" user that
# patrol runs as; cross-checked with apiserver_request_total LIST deltas and
# patrol's own count from -v).
# Not part of the default test run: it needs ~15 minutes and ~4 GB of RAM.
# The cluster (its own, in .cache/scale/cluster, on ports 32379-32381,
# 36443, 40247, 40257 and 40259) is stopped at the end unless SCALE_KEEP=1.
# SCALE_MEASURE_ONLY=1 measures the cluster that is running (e.g. kept by
# SCALE_KEEP=1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Its own state folder and ports (all overridable), so that the benchmark
# neither collides with nor tears down a dev, demo or e2e cluster.
export CLUSTER_DIR=${CLUSTER_DIR:-$(cd "$here/.." && pwd)/.cache/scale/cluster}
export ETCD_PORT=${ETCD_PORT:-32379} ETCD_PEER_PORT=${ETCD_PEER_PORT:-32380} ETCD_METRICS_PORT=${ETCD_METRICS_PORT:-32381}
export APISERVER_PORT=${APISERVER_PORT:-36443} KCM_PORT=${KCM_PORT:-40257} SCHEDULER_PORT=${SCHEDULER_PORT:-40259}
export KWOK_PORT=${KWOK_PORT:-40247}
source "$here/cluster/lib.sh"

SCALE_NODES=${SCALE_NODES:-1000}
SCALE_PODS=${SCALE_PODS:-30000}
SCALE_RUNS=${SCALE_RUNS:-3}
OUT=$REPO_ROOT/.cache/scale
mkdir -p "$OUT" "$REPO_ROOT/bin"
cd "$REPO_ROOT"
[[ -x /usr/bin/time ]] || "$here/cluster/deps.sh"
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is needed: apt-get install time"

log "building bin/patrol and demofleet"
go build -o bin/patrol ./cmd/patrol
go build -o "$OUT/demofleet" ./e2e/cmd/demofleet

if [[ ${SCALE_MEASURE_ONLY:-0} == 1 ]]; then
	log "SCALE_MEASURE_ONLY=1: measuring the running cluster in $CLUSTER_DIR"
else
	log "starting the control plane with $SCALE_NODES nodes"
	t=$(now_us)
	# The scheduler's default client QPS (50) would take 10 minutes to bind
	# 30,000 pods, and kwok's default 4 workers (logging every patch) as long
	# to mark them Running. On a loaded machine kwok may renew some of 1,000
	# leases late: a 5-minute node-monitor grace period keeps the node
	# lifecycle controller from marking those nodes Unknown and their pods
	# NotReady (kwok never marks such a pod Ready again).
	SCHEDULER_QPS=${SCHEDULER_QPS:-500} SCHEDULER_BURST=${SCHEDULER_BURST:-1000} \
		KWOK_PARALLELISM=${KWOK_PARALLELISM:-32} KWOK_LOG_LEVEL=${KWOK_LOG_LEVEL:-WARN} \
		NODE_MONITOR_GRACE_PERIOD=${NODE_MONITOR_GRACE_PERIOD:-5m} \
		NODES=$SCALE_NODES "$here/cluster/up.sh" | grep --line-buffered -v '^  ' || true
	log "control plane and $SCALE_NODES nodes ready in $(since "$t")s"

	log "creating $SCALE_PODS pods in Deployments of 300 and waiting until all are available"
	t=$(now_us)
	if "$OUT/demofleet" -kubeconfig "$KUBECONFIG_FILE" -fleet scale -pods "$SCALE_PODS" -per-deployment 300 \
		-faults none -exit -settle-timeout "${SCALE_SETTLE_TIMEOUT:-45m}" 2>&1 | sed -E 's/^time=[^ ]+ level=[A-Z]+ msg=/    /'; then
		log "$SCALE_PODS pods available in $(since "$t")s"
	else
		log "WARNING: the fleet did not settle in time (see above); measuring anyway"
	fi
fi

api() {
	curl -fsS --max-time 60 --cacert "$CLUSTER_DIR/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
		"https://127.0.0.1:$APISERVER_PORT$1"
}
# list_count prints the total of apiserver_request_total for verb LIST.
list_count() {
	api /metrics | awk '/^apiserver_request_total\{/ && /verb="LIST"/ {s += $NF} END {printf "%d\n", s}'
}
audit_count() {
	[[ -f $CLUSTER_DIR/logs/audit.log ]] || { echo 0; return; }
	grep -c '"stage":"ResponseComplete"' "$CLUSTER_DIR/logs/audit.log" || true
}

counts=$(api "/api/v1/pods?limit=1" | jq -r '.metadata.remainingItemCount + 1')
log "cluster: $(api "/api/v1/nodes?limit=1" | jq -r '.metadata.remainingItemCount + 1') nodes, $counts pods"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-4s %10s %12s %10s %12s %10s %9s\n' run wall_s peak_rss_MB requests lists_delta patrol_req findings
for ((i = 1; i <= SCALE_RUNS; i++)); do
	a0=$(audit_count)
	l0=$(list_count)
	/usr/bin/time -v -o "$OUT/time-$i.txt" bin/patrol inspect --kubeconfig "$CLUSTER_DIR/inspector.kubeconfig" \
		-A -o json -v >"$OUT/report-$i.json" 2>"$OUT/patrol-$i.log" || true
	sleep 1 # let the audit backend flush
	a1=$(audit_count)
	l1=$(list_count)
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (j = 1; j <= n; j++) s = s * 60 + p[j]; print s}' "$OUT/time-$i.txt")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$OUT/time-$i.txt")
	preq=$(grep -o 'api_requests=[0-9]*' "$OUT/patrol-$i.log" | tail -1 | cut -d= -f2)
	findings=$(jq '.findings | length' "$OUT/report-$i.json" 2>/dev/null || echo "?")
	printf '%-4s %10s %12s %10s %12s %10s %9s\n' "$i" "$wall" "$rss" "$((a1 - a0))" "$((l1 - l0))" "${preq:-?}" "$findings"
done
echo
log "requests of the last run by verb and resource (audit log):"
tail -n "$((a1 - a0))" "$CLUSTER_DIR/logs/audit.log" | jq -r 'select(.stage == "ResponseComplete") | "\(.verb) \(.objectRef.resource // .requestURI)"' |
	sort | uniq -c | sort -rn | head -30 | sed 's/^/    /'
log "apiserver RSS: $(ps -o rss= -p "$(<"$CLUSTER_DIR/run/kube-apiserver.pid")" | awk '{printf "%.0f MB", $1 / 1024}'), etcd RSS: $(ps -o rss= -p "$(<"$CLUSTER_DIR/run/etcd.pid")" | awk '{printf "%.0f MB", $1 / 1024}')"
log "outputs in $OUT (reports, GNU time, patrol -v logs)"

if [[ ${SCALE_KEEP:-0} != 1 ]]; then
	"$here/cluster/down.sh"
else
	log "SCALE_KEEP=1: the cluster stays up (KUBECONFIG=$KUBECONFIG_FILE)"
fi

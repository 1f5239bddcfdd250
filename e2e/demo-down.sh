#!/usr/bin/env bash
# demo-down.sh (make demo-down): stops demofleet and the local control plane
# started by demo.sh, and removes their state. Running it twice is fine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/cluster/lib.sh"

DEMO_DIR=$REPO_ROOT/.cache/demo
pidfile=$DEMO_DIR/demofleet.pid
if pid_alive "$pidfile" && grep -qa demofleet "/proc/$(<"$pidfile")/cmdline" 2>/dev/null; then
	pid=$(<"$pidfile")
	kill -TERM "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	log "demofleet stopped (pid $pid)"
fi
rm -f "$pidfile" "$DEMO_DIR/ready"
"$here/cluster/down.sh"
log "demo stopped; the last report stays in $DEMO_DIR/report.html"

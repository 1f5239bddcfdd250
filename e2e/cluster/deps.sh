#!/usr/bin/env bash
# deps.sh installs the Debian packages the tests and e2e scripts use, only
# those that are missing: curl, jq and openssl (PKI, API calls from up.sh),
# iproute2 (ss, to name the holder of a busy port), GNU time (scale.sh),
# prometheus (+ promtool), prometheus-alertmanager (+ amtool) and
# prometheus-node-exporter (Prometheus e2e tests), chromium (the HTML
# report test) and postgresql (the ledger tests). It runs `apt-get update`
# at most once, and returns in milliseconds when everything is present. DEPS_MINIMAL=1 installs only what
# the local cluster needs (up.sh uses that).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# command -> Debian package
declare -A want=(
	[curl]=curl
	[jq]=jq
	[openssl]=openssl
	[ss]=iproute2
	[flock]=util-linux
)
if [[ ${DEPS_MINIMAL:-0} != 1 ]]; then
	want[/usr/bin/time]=time
	want[prometheus]=prometheus
	want[promtool]=prometheus
	want[prometheus-alertmanager]=prometheus-alertmanager
	want[amtool]=prometheus-alertmanager
	want[prometheus-node-exporter]=prometheus-node-exporter
	want[chromium]=chromium
fi

missing=()
for cmd in "${!want[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
# PostgreSQL for the ledger tests (remediation/ledger/pgtest starts a
# throwaway server): Debian keeps initdb out of the PATH.
if [[ ${DEPS_MINIMAL:-0} != 1 ]] && ! command -v initdb >/dev/null 2>&1 &&
	! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	missing+=(postgresql)
fi
if ((${#missing[@]} == 0)); then
	log "deps: all present"
	exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root, no sudo"
	sudo=(sudo -n)
fi
command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"

export DEBIAN_FRONTEND=noninteractive
log "deps: installing ${missing[*]}"
start=$(now_us)
"${sudo[@]}" apt-get update -qq
# The postinst scripts would start prometheus and alertmanager as system
# services on their default ports; the tests start their own instances. If
# the machine has no policy-rc.d, install a temporary one that refuses
# service starts (the standard Debian mechanism), and remove it afterwards.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod +x "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "deps: installed in $(since "$start")s"

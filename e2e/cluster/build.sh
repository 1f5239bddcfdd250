#!/usr/bin/env bash
# build.sh builds the local control plane from the Go module proxy:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
# (plus kubectl of the same release, for tests on machines without one, and
# kube-state-metrics for the alerting tests), each from its wrapper module in
# e2e/tools/, into
# ${KUBEPATROL_CACHE:-~/.cache/kubepatrol}/bin/<component>-<version>/, and
# links ${KUBEPATROL_CACHE:-~/.cache/kubepatrol}/bin/kubectl to that kubectl.
# Binaries that already exist are reused. The first run takes about
# 5-7 minutes on two cores (kube-apiserver alone ~3.5 min); later runs
# take well under a second.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN_ROOT"

# Serialise concurrent builds (e.g. make demo and make e2e at once).
exec 9>"$BIN_ROOT/.build.lock"
if ! flock -n 9; then
	log "another build.sh holds $BIN_ROOT/.build.lock, waiting"
	flock 9
fi

# The wrapper modules must pin the versions lib.sh expects.
require_version() { # DIR MODULE VERSION
	grep -qE "^(require )?[[:space:]]*$2 $3\$" "$TOOLS_DIR/$1/go.mod" ||
		die "e2e/tools/$1/go.mod does not require $2 $3 (lib.sh and the wrapper module disagree)"
}
require_version etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
require_version k8s k8s.io/kubernetes "$K8S_VERSION"
require_version kwok sigs.k8s.io/kwok "$KWOK_VERSION"
# kube-state-metrics is a `tool` of its wrapper module, which go mod tidy
# marks "// indirect".
grep -qE "^[[:space:]]*k8s.io/kube-state-metrics/v2 $KSM_VERSION( // indirect)?\$" "$TOOLS_DIR/ksm/go.mod" ||
	die "e2e/tools/ksm/go.mod does not require k8s.io/kube-state-metrics/v2 $KSM_VERSION (lib.sh and the wrapper module disagree)"

# Wrapper builds must not see a go.work or a GOFLAGS=-mod=vendor from the
# caller, and must not try to stamp VCS data (the repo may be dirty or have
# no git at all).
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

k8s_minor=${K8S_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
K8S_LDFLAGS="-s -w \
-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$k8s_minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
-X k8s.io/client-go/pkg/version.gitMajor=1 \
-X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"

built=0
# build NAME OUT WRAPPER_DIR PACKAGE LDFLAGS
build() {
	local name=$1 out=$2 dir=$3 pkg=$4 ldflags=$5 start tmp
	if [[ -x $out ]]; then
		((missing == 0)) || log "$name: cached at $out"
		return
	fi
	start=$(now_us)
	log "$name: building $pkg (wrapper module e2e/tools/$dir) ..."
	mkdir -p "$(dirname "$out")"
	tmp="$out.tmp.$$"
	(cd "$TOOLS_DIR/$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg") ||
		{ rm -f "$tmp"; die "$name: go build failed"; }
	mv -f "$tmp" "$out"
	built=$((built + 1))
	log "$name: built in $(since "$start")s ($(du -h "$out" | cut -f1))"
}

missing=0
all=("$ETCD_BIN" "$KWOK_BIN" "$APISERVER_BIN" "$KCM_BIN" "$SCHEDULER_BIN" "$KUBECTL_BIN" "$KSM_BIN")
for b in "${all[@]}"; do [[ -x $b ]] || missing=$((missing + 1)); done
if ((missing > 0)); then
	log "building $missing control-plane binaries into $BIN_ROOT: the first build takes several minutes (kube-apiserver alone 3-8 min on 2 cores)"
fi
build etcd "$ETCD_BIN" etcd . "-s -w"
build kwok "$KWOK_BIN" kwok sigs.k8s.io/kwok/cmd/kwok "-s -w"
build kube-apiserver "$APISERVER_BIN" k8s k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS"
build kube-controller-manager "$KCM_BIN" k8s k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LDFLAGS"
build kube-scheduler "$SCHEDULER_BIN" k8s k8s.io/kubernetes/cmd/kube-scheduler "$K8S_LDFLAGS"
build kubectl "$KUBECTL_BIN" k8s k8s.io/kubernetes/cmd/kubectl "$K8S_LDFLAGS"
ln -sfn "${KUBECTL_BIN#"$BIN_ROOT"/}" "$BIN_ROOT/kubectl"
# kube-state-metrics (~1-2 min on 2 cores), version stamped as its Makefile
# does.
build kube-state-metrics "$KSM_BIN" ksm k8s.io/kube-state-metrics/v2 \
	"-s -w -X github.com/prometheus/common/version.Version=$KSM_VERSION"
if ((built > 0)); then
	log "control-plane binaries: $built built, $((${#all[@]} - built)) reused"
else
	log "control-plane binaries: all ${#all[@]} cached in $BIN_ROOT"
fi

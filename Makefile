# kubepatrol — inspect Kubernetes fleets, diagnose faults, remediate with evidence.
# `make` lists the targets.

SHELL      := /usr/bin/env bash
GO         ?= go
BIN        ?= bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/kubepatrol/patrol/cmd/internal/cli.Version=$(VERSION)
NODES      ?= 100
PREFIX     ?= /usr/local
# kubectl for the deploy tests: the one on the PATH, else the one
# e2e/cluster/build.sh builds (Debian has no kubectl package).
KUBECTL    ?= $(shell command -v kubectl 2>/dev/null || echo $(HOME)/.cache/kubepatrol/bin/kubectl)
export KUBECTL

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/patrol, bin/kubectl-patrol and bin/patrold
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/patrol ./cmd/patrol
	ln -sf patrol $(BIN)/kubectl-patrol
	$(GO) build -ldflags "-X github.com/kubepatrol/patrol/cmd/internal/daemon.Version=$(VERSION)" -o $(BIN)/patrold ./cmd/patrold

.PHONY: install
install: build ## install patrol, kubectl-patrol and patrold into $(PREFIX)/bin
	install -m 0755 $(BIN)/patrol $(PREFIX)/bin/patrol
	ln -sf patrol $(PREFIX)/bin/kubectl-patrol
	install -m 0755 $(BIN)/patrold $(PREFIX)/bin/patrold

.PHONY: deps
deps: ## install the test dependencies (Debian packages, pinned cluster binaries); idempotent
	bash e2e/cluster/deps.sh
	bash e2e/cluster/build.sh

.PHONY: test
test: deps lint test-unit e2e ## everything CI runs: lint, unit tests, e2e against a real local control plane

.PHONY: test-unit
test-unit: ## unit and golden tests (go test ./...)
	KUBEPATROL_REQUIRE_CHROMIUM=1 KUBEPATROL_REQUIRE_PROMTOOL=1 KUBEPATROL_REQUIRE_KUBECTL=1 KUBEPATROL_REQUIRE_POSTGRES=1 $(GO) test -count=1 ./...

.PHONY: e2e
e2e: ## end-to-end suite against a real local control plane (builds it on first use)
	bash e2e/cluster/build.sh
	$(GO) test -count=1 -tags e2e -timeout 40m ./e2e/...

.PHONY: bench
bench: build ## engine figures on a generated 5,000-node / 150,000-pod fleet, plus the Go benchmarks
	$(GO) run ./e2e/benchreport -patrol $(BIN)/patrol
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./checks/... ./collectors/file ./collectors/prom ./collectors/snapshot
	$(GO) test -run '^$$' -bench InformerMemory -benchtime 1x ./collectors/kube
	$(GO) test -run '^$$' -bench 'WebhookDecision|CreateUpdate|ObserveAlert' -benchtime 3000x ./remediation ./remediation/ledger
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2000000x ./analysis/detect

.PHONY: eval
eval: ## NAB scores of every detector on ../shared/nab: three profiles, leave-one-category-out
	$(GO) run ./analysis/detect/nab/cmd/nabeval -data ../shared/nab

.PHONY: lint
lint: ## go vet, gofmt and go mod tidy must be clean
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@cp go.mod /tmp/kubepatrol.go.mod.bak; cp go.sum /tmp/kubepatrol.go.sum.bak; \
	 $(GO) mod tidy; \
	 if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changed go.mod/go.sum:"; git --no-pager diff -- go.mod go.sum; \
	   cp /tmp/kubepatrol.go.mod.bak go.mod; cp /tmp/kubepatrol.go.sum.bak go.sum; exit 1; fi

.PHONY: rules
rules: ## check and unit-test the Prometheus rules, the dashboards' PromQL and the deploy manifests
	promtool check rules rules/prometheus/patrol.rules.yaml
	promtool test rules rules/prometheus/*_test.yaml
	KUBEPATROL_REQUIRE_PROMTOOL=1 KUBEPATROL_REQUIRE_KUBECTL=1 $(GO) test -count=1 ./rules ./dashboards ./deploy

.PHONY: bench-cluster
bench-cluster: build ## patrol inspect against a live 1,000-node / 30,000-pod local cluster: wall time, peak RSS, API requests
	bash e2e/scale.sh

.PHONY: cluster-up
cluster-up: ## start the local control plane with NODES kwok nodes (default 100)
	bash e2e/cluster/build.sh
	NODES=$(NODES) bash e2e/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## stop the local control plane and remove its data
	bash e2e/cluster/down.sh

.PHONY: demo
demo: ## README's first command: build everything, start a demo fleet with faults, inspect it
	bash e2e/demo.sh

.PHONY: demo-down
demo-down: ## stop the demo fleet
	bash e2e/demo-down.sh

.PHONY: docs
docs: build ## regenerate docs/checks.md from the catalogue
	$(BIN)/patrol checks list -o markdown > docs/checks.md

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN)

# raftkube's build. Every tool is pinned in a Go module under hack/ and built into
# the ignored bin/ on first use, so a fresh machine needs only Go.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO      ?= go
BIN     := $(CURDIR)/bin
PKGS    := ./...
# The Raft library is a module of its own (see its go.mod): ./... stops at its
# root, so every target that covers PKGS covers it too, from its directory.
RAFT_MOD := raftnode/raft
# Simulated steps: `make test` runs the CI budget, `make sim` a long run.
SIM_STEPS      ?= 5000000
FUZZTIME       ?= 10s

BUF            := $(BIN)/buf
PROTOC_GEN_GO  := $(BIN)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(BIN)/protoc-gen-go-grpc
BENCHSTAT      := $(BIN)/benchstat
GOLANGCI_LINT  := $(BIN)/golangci-lint
CONTROLLER_GEN := $(BIN)/controller-gen
CERT_MANAGER_CONTROLLER := $(BIN)/cert-manager-controller
VERSITYGW      := $(BIN)/versitygw

# envtest finds etcd, kube-apiserver and kubectl here (make k8s-tools).
export KUBEBUILDER_ASSETS := $(BIN)

TOOLS_MOD := hack/tools/go.mod hack/tools/go.sum
LINT_MOD  := hack/lint/go.mod hack/lint/go.sum
CONTROLLER_GEN_MOD := hack/controllergen/go.mod hack/controllergen/go.sum

# controller-gen's inputs and outputs: the API types (one folder per version),
# their deepcopy code beside them, the CRDs in config/crd/bases.
API_VERSIONS := $(patsubst %/,%,$(wildcard api/*/))
CRD_DIR      := config/crd/bases
RBAC_DIR     := config/rbac
# The Helm chart ships copies of both: crds/ of the CRDs, files/manager-role.yaml
# of the generated ClusterRole, whose rules its templates read.
CHART_DIR    := charts/raftkube

# Container images (hack/images.sh): their tag, by default the chart's
# appVersion so the chart's defaults name them; the commit stamped into the
# binaries and labels; the repository prefix (make push REGISTRY=HOST:PORT/PATH).
VERSION  ?= $(shell sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$$/\1/p' $(CHART_DIR)/Chart.yaml)
COMMIT   ?= $(shell git rev-parse HEAD)
REGISTRY ?= ghcr.io/raftkube
IMAGETOOL := $(BIN)/imagetool
IMAGES_ENV = GO='$(GO)' VERSION='$(VERSION)' COMMIT='$(COMMIT)' REGISTRY='$(REGISTRY)' IMAGETOOL='$(IMAGETOOL)' HELM='$(BIN)/helm'

.PHONY: build test test-tools checks unit unit-e2e unit-packages fuzz-short lint vet fmt fmt-check gen check-gen proto-check bench sim explore fuzz tools clean help
.PHONY: demo test-e2e e2e-fuzz e2e-gaps run-local bench-cluster linearizability k8s-tools host-packages localkube-up localkube-down
.PHONY: images test-images node-images node-tools push images-reproducible

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## compile every package and binary
	$(GO) build $(PKGS)
	cd $(RAFT_MOD) && $(GO) build ./...

# The end-to-end tests, mostly waiting for pods, take one slot from the start;
# the static checks, the other packages' tests and the short fuzz runs take
# the other one after another (see unit).
test: test-tools ## everything CI checks: generated code, format, vet, lint, tests, short fuzz runs
	$(MAKE) --no-print-directory -j2 --output-sync=target unit-e2e checks unit-packages fuzz-short

checks: check-gen proto-check fmt-check vet lint ## the static checks: generated code, protos, format, vet, lint

# Packages whose code, or whose tests, start goroutines run under the race
# detector; the rest (the pure Raft core and its simulation, codecs, storage,
# chart rendering, envtest) run without it, where it would only slow them.
# So do the long runs of raftnode/server's single-threaded member core
# (TestCore*), which skip themselves under the race detector.
RACE_PKGS   := ./cmd/... ./controllers/... ./examples/kvstore/... ./internal/backupstore/... ./raftnode/client/... ./raftnode/server/... ./raftnode/transport/... \
	./test/harness/... ./test/cluster/... ./test/linearizability/... ./test/e2e/... ./test/certmanager/... ./test/testproc/... ./test/s3server/...
RACE_LIST    = $(shell $(GO) list $(RACE_PKGS))
NORACE_LIST  = $(filter-out $(RACE_LIST),$(shell $(GO) list $(PKGS)))

# The end-to-end tests (test/e2e) run on the real node and build the images
# for this machine themselves; they take a few minutes, mostly waiting for pods,
# so they run beside the other tests (output kept per target), not after them.
# localkube's and the process kubelet's own tests check the host's state before
# and after a node: they run after the end-to-end tests, never beside them.
# What the tests run: the Kubernetes binaries, the node's packages and tools,
# the real cert-manager controller and S3 server.
test-tools: k8s-tools host-packages node-tools $(CERT_MANAGER_CONTROLLER) $(VERSITYGW)

unit: test-tools ## run the tests (includes the simulator's CI budget, the scenario scripts and the end-to-end tests on the real node); -race where goroutines run
	$(MAKE) --no-print-directory -j2 --output-sync=target unit-e2e unit-packages

unit-e2e:
	$(GO) test -race -count=1 -timeout 30m ./test/e2e/
	cd hack/localkube && $(GO) vet ./... && LOCALKUBE_BIN=$(BIN) $(GO) test -race -count=1 ./...
	cd hack/localkubelet && $(GO) vet ./... && LOCALKUBE_BIN=$(BIN) $(GO) test -race -count=1 ./...

unit-packages:
	$(GO) test -count=1 -timeout 30m $(NORACE_LIST)
	cd $(RAFT_MOD) && $(GO) test -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -timeout 30m $(filter-out ./test/e2e/...,$(RACE_PKGS))
	$(GO) test -count=1 -run '^TestCore' ./raftnode/server/
	$(GO) test -race -count=1 -tags failpoints ./cmd/manager/
	cd hack/etcdbench && $(GO) vet ./...
	cd hack/etcdcluster && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	cd hack/certmanager && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd hack/k8stools && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd hack/helmtool && $(GO) vet ./...
	cd hack/cniplugins && $(GO) vet ./...
	cd hack/coredns && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd hack/imagetool && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	cd hack/clientcompat && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# fuzz_retry runs a fuzz target once more if the first run fails without a
# crasher: Go's fuzzing coordinator can time out stopping its workers on a loaded
# 2-core machine ("context deadline exceeded"). A real crash is saved under
# testdata/fuzz and fails the second run too.
fuzz_retry = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(FUZZTIME) $(2) || $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(FUZZTIME) $(2)

fuzz-short: ## a few seconds of each fuzz target, to catch regressions in the decoders
	cd $(RAFT_MOD) && $(call fuzz_retry,FuzzMessageUnmarshal,./raftpb/)
	cd $(RAFT_MOD) && $(call fuzz_retry,FuzzConfChangeV2Unmarshal,./raftpb/)
	$(call fuzz_retry,FuzzRestore,./raftnode/kv/)
	$(call fuzz_retry,FuzzDecodeRecord,./raftnode/wal/)
	$(call fuzz_retry,FuzzRecover,./raftnode/wal/)
	$(call fuzz_retry,FuzzVerify,./raftnode/snapfile/)

fuzz: ## long fuzz runs (FUZZTIME=10m by default here)
	$(MAKE) fuzz-short FUZZTIME=10m

# Checked histories: `make test` runs 3 short ones; this runs many long ones.
LIN_HISTORIES ?= 50
LIN_DURATION  ?= 20s

linearizability: ## many long porcupine-checked histories on real clusters under faults (LIN_HISTORIES, LIN_DURATION; ~20 min)
	$(GO) test -count=1 -timeout 3h -run '^TestLinearizability$$' -v ./test/linearizability/ -lin.histories=$(LIN_HISTORIES) -lin.duration=$(LIN_DURATION) -lin.out=$${TMPDIR:-/tmp}/raftkube-linearizability

EXPLORE_TIME ?= 10m

explore: ## a long exhaustive search of the Raft core's joint consensus (EXPLORE_TIME, default 10m; make test runs the short bounds)
	cd $(RAFT_MOD) && $(GO) test -count=1 -run '^TestSearchLong$$' -timeout 0 -v ./explore/ -explore.long=$(EXPLORE_TIME)

sim: ## a long randomized simulation run (SIM_STEPS steps, default 5,000,000)
	cd $(RAFT_MOD) && $(GO) test -count=1 -run '^TestSimulation$$' -timeout 2h . -sim.steps=$(SIM_STEPS) -v

# The manager's failpoints exist only with -tags failpoints (test builds):
# vet, lint and test both sets of files.
vet: ## go vet
	$(GO) vet $(PKGS)
	cd $(RAFT_MOD) && $(GO) vet ./...
	$(GO) vet -tags failpoints ./cmd/manager/

lint: $(GOLANGCI_LINT) ## golangci-lint (pinned in hack/lint)
	$(GOLANGCI_LINT) run $(PKGS)
	cd $(RAFT_MOD) && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	$(GOLANGCI_LINT) run --build-tags failpoints ./cmd/manager/...
	cd hack/localkube && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	cd hack/localkubelet && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	cd hack/coredns && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	cd hack/imagetool && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	cd hack/certmanager && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...
	cd hack/clientcompat && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

fmt-check: ## fail if gofmt would change anything
	@out=$$(gofmt -l $$(git ls-files '*.go') hack); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

gen: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(CONTROLLER_GEN) ## regenerate generated code (protobuf, the API's deepcopy, the CRDs)
	PATH="$(BIN):$$PATH" $(BUF) generate
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=$(CRD_DIR)
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=$(RBAC_DIR)
	rm -f $(CHART_DIR)/crds/*.yaml
	cp $(CRD_DIR)/*.yaml $(CHART_DIR)/crds/
	cp $(RBAC_DIR)/role.yaml $(CHART_DIR)/files/manager-role.yaml

check-gen: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(CONTROLLER_GEN) ## fail if generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for v in $(API_VERSIONS); do \
		$(CONTROLLER_GEN) object paths=./$$v output:object:dir="$$tmp/$$v"; \
		if ! diff "$$tmp/$$v/zz_generated.deepcopy.go" "$$v/zz_generated.deepcopy.go"; then \
			echo "generated code is stale: run 'make gen' and commit the result"; exit 1; fi; \
	done; \
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir="$$tmp/crd"; \
	if ! diff -r "$$tmp/crd" $(CRD_DIR); then \
		echo "generated CRDs are stale: run 'make gen' and commit the result"; exit 1; fi; \
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:dir="$$tmp/rbac"; \
	if ! diff "$$tmp/rbac/role.yaml" $(RBAC_DIR)/role.yaml; then \
		echo "generated RBAC is stale: run 'make gen' and commit the result"; exit 1; fi; \
	if ! diff -r $(CRD_DIR) $(CHART_DIR)/crds; then \
		echo "the chart's CRDs differ from $(CRD_DIR): run 'make gen' and commit the result"; exit 1; fi; \
	if ! diff $(RBAC_DIR)/role.yaml $(CHART_DIR)/files/manager-role.yaml; then \
		echo "the chart's manager rules differ from $(RBAC_DIR)/role.yaml: run 'make gen' and commit the result"; exit 1; fi; \
	PATH="$(BIN):$$PATH" $(BUF) generate -o "$$tmp"; \
	if ! diff -r "$$tmp/raftnode/raft/raftpb/wirepb" raftnode/raft/raftpb/wirepb; then \
		echo "generated code is stale: run 'make gen' and commit the result"; exit 1; fi; \
	if ! diff -r "$$tmp/raftnode/transport/transportpb" raftnode/transport/transportpb; then \
		echo "generated code is stale: run 'make gen' and commit the result"; exit 1; fi; \
	if ! diff -r "$$tmp/raftnode/kv/kvpb" raftnode/kv/kvpb; then \
		echo "generated code is stale: run 'make gen' and commit the result"; exit 1; fi; \
	if ! diff -r "$$tmp/raftnode/server/serverpb" raftnode/server/serverpb --exclude=errors.go; then \
		echo "generated code is stale: run 'make gen' and commit the result"; exit 1; fi

# The protos' wire contract (proto/, buf.yaml): buf lint, and buf breaking
# (WIRE_JSON and deleted services and rpcs) against PROTO_BASELINE, the commit
# whose protos members and clients must stay able to talk to; move it forward
# only on purpose. The baseline is built into an image first because it predates the
# single buf module (it had one per directory), and an image compares as one
# set of files whatever the layout; moving a file is not a wire change.
PROTO_BASELINE ?= b48af2f71086e808a1cd26e3382999b15dd8a427

proto-check: $(BUF) ## buf lint, and buf breaking (wire and gRPC names) against PROTO_BASELINE
	$(BUF) lint
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) build '.git#ref=$(PROTO_BASELINE)' -o "$$tmp/baseline.binpb"; \
	$(BUF) breaking --against "$$tmp/baseline.binpb"

HELM := $(BIN)/helm

.PHONY: chart-lint
# chart-lint renders the chart with the value sets users reach for; test/chart
# (part of `make unit`) checks the rendered objects in depth.
chart-lint: ## helm lint --strict the chart with several value sets; a bad combination must fail to render
	@test -x $(HELM) || { echo "$(HELM) is missing: run 'make k8s-tools'"; exit 1; }
	$(HELM) lint --strict $(CHART_DIR)
	$(HELM) lint --strict $(CHART_DIR) --set 'watchNamespaces={team-a,team-b}'
	$(HELM) lint --strict $(CHART_DIR) --set leaderElection.enabled=false
	$(HELM) lint --strict $(CHART_DIR) --set metrics.enabled=false --set listenOnPodIP=false
	$(HELM) lint --strict $(CHART_DIR) --set replicaCount=2 --set metrics.serviceMonitor.enabled=true --set 'failpoints={a,b}'
	$(HELM) lint --strict $(CHART_DIR) --set metrics.serviceMonitor.enabled=true --set metrics.certSecret=raftkube-metrics-cert
	$(HELM) lint --strict $(CHART_DIR) --set metrics.serviceMonitor.enabled=true --set metrics.secure=false
	@if out=$$($(HELM) template chart-lint $(CHART_DIR) --set replicaCount=2 --set leaderElection.enabled=false 2>&1); then \
		echo "replicaCount=2 without leader election rendered; it must fail"; exit 1; \
	elif ! grep -q 'leaderElection.enabled is false' <<<"$$out"; then \
		echo "replicaCount=2 without leader election failed for another reason:"; echo "$$out"; exit 1; fi
	@if ! diff -r $(CRD_DIR) $(CHART_DIR)/crds || ! diff $(RBAC_DIR)/role.yaml $(CHART_DIR)/files/manager-role.yaml; then \
		echo "the chart's copies of generated files are stale: run 'make gen'"; exit 1; fi

bench: $(BENCHSTAT) ## benchmarks side by side with etcd raft v3.6.0 and v3.7.0
	BENCHSTAT=$(BENCHSTAT) hack/bench.sh

# On a terminal the demo runs as a job of its own (bash -m), which the terminal
# gives Ctrl-C to, not make: make would otherwise die of the signal and exit
# 130 although the demo stopped as asked.
demo: k8s-tools host-packages node-tools ## the operator on a local cluster with a real node (containerd, kubelet, CoreDNS): helm install, a 3-member RaftCluster scaled to 5 and back; runs until Ctrl-C
	@if [ -t 0 ]; then bash -m -c 'hack/demo.sh; status=$$?; exit $$status'; else hack/demo.sh; fi

test-e2e: k8s-tools host-packages node-tools ## every end-to-end scenario on the real node (incl. spec changed mid-change, manager killed mid-change, rolling restart, manager failover)
	$(GO) test -count=1 -timeout 40m -v -run '^(TestStatefulSet|TestOperator)$$' ./test/e2e/ -e2e.all

# The spec fuzzer: random spec changes, reverts, pod, claim and manager
# deletions under a checked writer, with convergence checks (not in `make test`).
E2E_FUZZ_DURATION ?= 30m
E2E_FUZZ_SEED     ?= 0

e2e-fuzz: k8s-tools host-packages node-tools ## randomized spec fuzzer on the real node (E2E_FUZZ_DURATION=30m, E2E_FUZZ_SEED=0: from the clock, printed to replay)
	$(GO) test -count=1 -timeout 3h -v -run '^TestSpecFuzz$$' ./test/e2e/ -e2e.fuzz=$(E2E_FUZZ_DURATION) -e2e.fuzz.seed=$(E2E_FUZZ_SEED)

# Write availability per operator step: a benchmark that prints a table.
E2E_GAPS_ROUNDS ?= 3

e2e-gaps: k8s-tools host-packages node-tools ## longest gap between acknowledged writes per operator step, Go client and raftctl (E2E_GAPS_ROUNDS=3), printed as a table
	$(GO) test -count=1 -timeout 40m -v -run '^TestWriteGaps$$' ./test/e2e/ -e2e.gaps -e2e.gaps.rounds=$(E2E_GAPS_ROUNDS)

run-local: ## a 3-member raftkube cluster on loopback until Ctrl-C (KEEP_DATA=1 keeps its data)
	hack/run-local.sh

bench-cluster: ## raftctl bench on 3 raftkube members, then on 3 etcd v3.6.16 members, side by side (a few minutes)
	hack/bench-cluster.sh

k8s-tools: ## build the pinned kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy (v1.37.2), etcd, helm, the CNI plugins (bin/cni/) and CoreDNS into bin/ (first time: several minutes)
	hack/build-k8s-tools.sh

host-packages: ## apt-get install what the local Kubernetes environment needs and the machine lacks (iptables, util-linux)
	hack/host-packages.sh

LOCALKUBE_STATE ?= $${TMPDIR:-/tmp}/raftkube-localkube

localkube-up: k8s-tools $(if $(NODE),node-tools) ## a Kubernetes control plane on loopback, detached; prints its kubeconfig (LOCALKUBE_STATE); NODE=1 adds a real node (root: containerd, kubelet, kube-proxy, CoreDNS; bin/images/*.tar)
	cd hack/localkube && $(GO) build -o $(BIN)/localkube ./cmd/localkube
	$(BIN)/localkube up --detach --bin $(BIN) --state $(LOCALKUBE_STATE)$(if $(NODE), --node)

localkube-down: ## stop the node (undoing its host changes) and the control plane of localkube-up, and remove their state
	$(BIN)/localkube down --state $(LOCALKUBE_STATE)

images: $(IMAGETOOL) ## OCI images of manager and raftnode (+raftctl), linux/amd64+arm64, into bin/images/*.tar; offline, reproducible
	$(IMAGES_ENV) hack/images.sh images

test-images: $(IMAGETOOL) ## TEST ONLY: the manager with failpoints (-tags failpoints) as manager:VERSION-failpoints into bin/images/manager-failpoints.tar (this platform; the e2e tests build it themselves)
	$(IMAGES_ENV) PLATFORMS=linux/$$($(GO) env GOARCH) hack/images.sh test-images

node-images: $(IMAGETOOL) ## the local node's pause and coredns images (this platform) into bin/images/ (needs bin/coredns)
	$(IMAGES_ENV) hack/images.sh node-images

# The real node's pieces built from this repository (the pinned ones come from
# k8s-tools): the host-path volume provisioner and the pause and CoreDNS images.
node-tools: k8s-tools $(IMAGETOOL) ## build bin/hostpath-provisioner and the node images (pause, CoreDNS) the real node needs
	cd hack/localkubelet && $(GO) build -o $(BIN)/hostpath-provisioner ./cmd/hostpath-provisioner
	$(IMAGES_ENV) hack/images.sh node-images

push: images ## push both images and the chart (Helm OCI) to REGISTRY, e.g. make push REGISTRY=127.0.0.1:5000/raftkube
	$(IMAGES_ENV) hack/images.sh push

images-reproducible: $(IMAGETOOL) ## build the images twice into two folders and fail unless byte-identical
	$(IMAGES_ENV) hack/images.sh reproducible

$(IMAGETOOL): $(shell find hack/imagetool -name '*.go' -not -name '*_test.go') hack/imagetool/go.mod hack/imagetool/go.sum
	cd hack/imagetool && $(GO) build -trimpath -o $(IMAGETOOL) ./cmd/imagetool

# The real cert-manager controller for test/certmanager: cert-manager's
# controller packages wired by a main of our own (the proxy does not serve
# cert-manager's cmd/controller module). Rebuilt only when hack/certmanager
# changes; the first build takes a few minutes.
$(CERT_MANAGER_CONTROLLER): $(shell find hack/certmanager -name '*.go' -not -name '*_test.go') hack/certmanager/go.mod hack/certmanager/go.sum
	cd hack/certmanager && $(GO) build -trimpath -o $(CERT_MANAGER_CONTROLLER) ./cmd/cert-manager-controller
	@touch $(CERT_MANAGER_CONTROLLER)

# make bin/cert-manager-controller, as the tests name it.
bin/cert-manager-controller: $(CERT_MANAGER_CONTROLLER)

# The S3-compatible server for test/s3server: versitygw's gateway (POSIX
# backend) at the version hack/s3server pins. Rebuilt only when that pin
# changes; the first build takes about a minute.
$(VERSITYGW): hack/s3server/go.mod hack/s3server/go.sum
	cd hack/s3server && $(GO) build -trimpath -o $(VERSITYGW) github.com/versity/versitygw/cmd/versitygw
	@touch $(VERSITYGW)

# make bin/versitygw, as the tests name it.
bin/versitygw: $(VERSITYGW)

tools: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(BENCHSTAT) $(GOLANGCI_LINT) $(CONTROLLER_GEN) ## build every pinned tool into bin/

$(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(BENCHSTAT): $(TOOLS_MOD)
	@echo "building pinned tools from hack/tools (the first build takes a few minutes)"
	cd hack/tools && $(GO) build -o $(BIN)/ github.com/bufbuild/buf/cmd/buf google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc golang.org/x/perf/cmd/benchstat
	@touch $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(BENCHSTAT)

$(GOLANGCI_LINT): $(LINT_MOD)
	@echo "building golangci-lint from hack/lint (the first build takes a few minutes)"
	cd hack/lint && $(GO) build -o $(BIN)/ github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	@touch $(GOLANGCI_LINT)

$(CONTROLLER_GEN): $(CONTROLLER_GEN_MOD)
	@echo "building controller-gen from hack/controllergen (the first build takes a minute)"
	cd hack/controllergen && $(GO) build -o $(BIN)/ sigs.k8s.io/controller-tools/cmd/controller-gen
	@touch $(CONTROLLER_GEN)

clean: ## remove built tools and benchmark output
	rm -rf $(BIN)

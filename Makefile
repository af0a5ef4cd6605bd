# LXC Template Manager
#
#   make demo    the local stack: control plane, pvesim (lxc backend), the manager, the console, a sample container
#   make test    every test, against a real kube-apiserver, pvesim, real LXC containers and PostgreSQL
#   make chaos   the fault scenarios at full size (docs/reliability.md)
#
# Both install what a fresh Debian machine lacks and build their tools into bin/ (cached under
# ~/.cache/lxc-template-manager, so a fresh clone links them instead of rebuilding).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
KUSTOMIZE := $(BIN)/kustomize
HELM := $(BIN)/helm
KUBECTL := $(BIN)/kubectl
ENVTEST_TOOLS := kube-apiserver etcd kubectl
export KUBEBUILDER_ASSETS := $(BIN)

# Debian packages the tests and the lxc backend need: each program and file that pvesim's
# lxc backend and the local stack use comes from one of these or from what they depend on
# (never from what they merely recommend); internal/pvesim/lxc TestHostPackagesCoverWhatPvesimUses checks it.
# postgresql: the status mirror's tests (the server, and initdb for servers of their own).
# redis-server: the live progress feed's tests (a redis-server of their own).
# zstd: OS templates, and pvesim's vzdump compresses backups with it (compress=zstd).
# chromium: the console's browser tests drive it headless over the DevTools protocol (test/e2e).
DEB_PACKAGES := lxc debootstrap uidmap zstd dnsmasq-base dpkg-dev openssh-client openssh-server iproute2 nftables curl openssl postgresql redis-server chromium

# -parallel 4: every end-to-end test runs in parallel, each on a stack of its own (test/e2e/doc.go),
# and much of their time is waiting (for a back-off to show, a schedule to fire, a guest to boot).
GO_TEST_FLAGS ?= -count=1 -parallel 4
FUZZTIME ?= 15s
# The end-to-end package took about 17 minutes of a 24-minute whole run on two cores (-parallel 4),
# its tests about 53 minutes added up; the timeout leaves room for a slower machine.
TEST_TIMEOUT ?= 45m
# The fleet benchmarks provision thousands of containers.
BENCH_TIMEOUT ?= 3h

.PHONY: all
all: manager pvesim console

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/...;./internal/controller/...;./internal/backup/...;./internal/mirror/...;./internal/progressfeed/..." output:crd:artifacts:config=config/crd/bases
	cp config/crd/bases/*.yaml charts/lxc-template-manager/crds/
	cp config/rbac/role.yaml charts/lxc-template-manager/files/manager-role.yaml
	cp config/admission/policy.yaml charts/lxc-template-manager/files/admission-policy.yaml
	cp config/admission/binding.yaml charts/lxc-template-manager/files/admission-binding.yaml

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet the tree.
	go vet ./...

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail when the tree changes.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "Generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi
	go vet ./...
	@echo "verify: generated files are up to date"

##@ Build

.PHONY: manager
manager: ## Build bin/manager.
	go build -o $(BIN)/manager ./cmd/manager

.PHONY: pvesim
pvesim: ## Build bin/pvesim.
	go build -o $(BIN)/pvesim ./cmd/pvesim

.PHONY: console
console: ## Build bin/console, the web console.
	go build -o $(BIN)/console ./cmd/console

.PHONY: ostemplate
ostemplate: deps ## Build the Debian 12 OS template pvesim's lxc backend boots.
	hack/build-ostemplate.sh

##@ Tools and dependencies

.PHONY: deps
deps: ## Install the Debian packages the tests need (only those missing).
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing $$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
		case " $$missing " in *" openssh-server "*) \
			$$SUDO systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || $$SUDO service ssh stop >/dev/null 2>&1 || true;; \
		esac; \
	fi

.PHONY: doctor
doctor: pvesim ## Check the host for pvesim's lxc backend and the local stack; names what is missing.
	$(BIN)/pvesim doctor --local-stack

.PHONY: tools
tools: ## Build every tool from the Go module proxy (cached, skipped when built).
	hack/tools.sh controller-gen kustomize helm $(ENVTEST_TOOLS)

$(BIN)/%:
	hack/tools.sh $*

.PHONY: envtest-tools
envtest-tools:
	hack/tools.sh $(ENVTEST_TOOLS)

##@ Test

.PHONY: test
test: deps doctor tools ostemplate manager pvesim console ## Run every test.
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

# -short means the same in every package (internal/testkit): no root, no LXC container, no control
# plane, no PostgreSQL, no tool from bin/; only pure unit tests and in-process fakes.
.PHONY: test-unit
test-unit: ## Run the tests that need neither root nor a control plane.
	go test -short $(GO_TEST_FLAGS) ./api/... ./cmd/... ./internal/...

.PHONY: fuzz
fuzz: ## Run every Fuzz target for FUZZTIME each (default 15s); plain go test runs only their seeds.
	@for pkg in $$(grep -l --include='*_test.go' -r '^func Fuzz' api internal cmd | xargs -n1 dirname | sort -u); do \
		for target in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$target"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
		done; \
	done

BENCH ?= .

.PHONY: bench
bench: envtest-tools pvesim ## Run the benchmarks (BENCH=regex picks some; LXCTM_BENCH_* sizes, see internal/controller/fleet_bench_test.go).
	go test -run '^$$' -bench '$(BENCH)' -benchmem -timeout $(BENCH_TIMEOUT) ./...

# The chaos scenarios at full size take about 40 minutes (the outage alone ten).
CHAOS_TIMEOUT ?= 3h

.PHONY: chaos
chaos: envtest-tools pvesim ## Run the fault scenarios at full size (docs/reliability.md): one `chaos NAME:` line each; the log is bin/chaos.log.
	LXCTM_CHAOS=full go test -count=1 -run '^TestChaos' -timeout $(CHAOS_TIMEOUT) -v ./internal/controller 2>&1 \
		| tee $(BIN)/chaos.log | grep -E '^(chaos [a-z-]+:|--- FAIL|FAIL|ok )'

##@ Packaging

IMG ?= lxc-template-manager:dev

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart.
	$(HELM) lint --strict charts/lxc-template-manager

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Render config/default with IMG into dist/install.yaml.
	@mkdir -p dist; tmp=$$(mktemp -d); cp -r config "$$tmp/"; \
	(cd "$$tmp/config/manager" && $(KUSTOMIZE) edit set image controller=$(IMG)); \
	$(KUSTOMIZE) build "$$tmp/config/default" > dist/install.yaml; rm -rf "$$tmp"
	@echo "dist/install.yaml"

.PHONY: deploy
deploy: build-installer ## Install the controller into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f dist/install.yaml

.PHONY: undeploy
undeploy: ## Remove what deploy installed.
	$(KUBECTL) delete --ignore-not-found -f dist/install.yaml

##@ Local stack

.PHONY: local-up
local-up: envtest-tools ## Start etcd and kube-apiserver on loopback (kubeconfig in .local/kubeconfig).
	hack/local-up.sh

.PHONY: local-down
local-down: ## Stop what local-up started.
	hack/local-down.sh

.PHONY: install
install: manifests local-up ## Install the CRDs into the local control plane.
	$(KUBECTL) --kubeconfig .local/kubeconfig apply --server-side -f config/crd/bases

.PHONY: demo
demo: deps doctor envtest-tools $(KUSTOMIZE) ostemplate manager pvesim console ## Run the main job on the local stack.
	hack/demo.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

# Flotilla's build. Tools are built once into $(FLOTILLA_CACHE)/bin, keyed by version.
SHELL := /usr/bin/env bash
FLOTILLA_CACHE ?= $(HOME)/.cache/flotilla
export FLOTILLA_CACHE
include hack/versions.env
CONTROLLER_GEN := $(FLOTILLA_CACHE)/bin/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(FLOTILLA_CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)
BIN := bin/flotilla

.PHONY: all build docs tools generate verify-generated verify-tidy vet lint test test-unit fuzz faults bench demo demo-down clean

all: build

build:
	go build -o $(BIN) ./cmd/flotilla

docs:
	go run ./hack/clidocs docs/cli.md

tools:
	hack/tools.sh

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

$(GOLANGCI_LINT):
	hack/tools.sh golangci-lint

generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	go run ./hack/crdversions config/crd/bases
	rm -f charts/flotilla-hub/crds/*.yaml && cp config/crd/bases/*.yaml charts/flotilla-hub/crds/
	cp config/admission/exec-policy.yaml charts/flotilla-hub/templates/exec-policy.yaml

# Fails when the checked-in CRDs, deepcopy code or CLI reference differ from
# what the sources generate.
verify-generated: generate docs
	@git diff --exit-code -- config/crd api docs/cli.md || { echo "generated files are stale: run 'make generate docs' and commit"; exit 1; }

# Fails when `go mod tidy` would change go.mod or go.sum, of the main module
# or of a tool module under hack/; changes nothing.
verify-tidy:
	@for mod in $$(git ls-files '*go.mod'); do \
	  dir=$$(dirname $$mod); \
	  (cd $$dir && go mod tidy -diff) || { echo "$$dir: go.mod/go.sum are not tidy: run 'go mod tidy' in $$dir and commit"; exit 1; }; \
	done

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }
	go vet ./...

# golangci-lint with .golangci.yml: the dependency rules (depguard) and the
# other linters.
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

test: tools verify-generated verify-tidy vet lint
	go test -count=1 -timeout 30m ./...

test-unit:
	go test -count=1 -short ./...

# Every fuzz target (func FuzzX in a _test.go file), each for FUZZTIME
# (hack/fuzz.sh). The checked-in corpora (testdata/fuzz/FuzzX) run first, as
# plain `go test` runs them too; what a run finds new stays in GOCACHE, and a
# failure writes its input to testdata/fuzz/FuzzX, to commit with the fix
# (docs/testing.md).
FUZZTIME ?= 7s
fuzz:
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh
test: fuzz

# The fault-injection suite in full (docs: README "Fault injection"): every
# injection point, a 2-minute hub outage, 20 hub controller kills. Prints
# the results table, also kept in bin/faults.md. `make test` runs its short
# form with the other packages.
faults: tools
	@mkdir -p bin
	@rm -f bin/faults.md
	go test -count=1 -timeout 60m ./test/faults -faults.full -faults.table=$(CURDIR)/bin/faults.md; status=$$?; cat bin/faults.md 2>/dev/null; exit $$status

bench: tools build
	go run ./hack/bench

demo: tools build
	hack/demo.sh

demo-down: build
	$(BIN) local down --name demo

clean:
	rm -rf bin

# --- Container image and Helm charts (docs/deploy.md) ---
.PHONY: image test-image helm verify-chart-crds
IMAGE_PLATFORMS ?= amd64,arm64
IMAGE_REPOSITORY ?= ghcr.io/flotilla-dev/flotilla
HELM := $(FLOTILLA_CACHE)/bin/helm-$(HELM_VERSION)

# bin/image: an OCI layout (linux/amd64 and linux/arm64 in one index), and
# bin/image-linux-ARCH.tar, built with no container engine and no base image.
image:
	cd hack/image && go run . -root $(CURDIR) -out $(CURDIR)/bin -platforms $(IMAGE_PLATFORMS) -repository $(IMAGE_REPOSITORY)

# The image builder is its own module (go-containerregistry stays out of the
# main go.mod); its test builds the image and reads it back.
test-image:
	cd hack/image && go test -count=1 ./...
test: test-image

helm: $(HELM)
$(HELM):
	hack/tools.sh helm

# charts/flotilla-hub/crds are copies of config/crd/bases, and
# templates/exec-policy.yaml of config/admission, that `make generate` refreshes.
verify-chart-crds: generate
	@git diff --exit-code -- charts/flotilla-hub/crds charts/flotilla-hub/templates/exec-policy.yaml && [ -z "$$(git status --porcelain -- charts/flotilla-hub/crds charts/flotilla-hub/templates/exec-policy.yaml)" ] || { echo "charts/flotilla-hub/crds or templates/exec-policy.yaml differ from config/: run 'make generate' and commit"; exit 1; }
verify-generated: verify-chart-crds

# Flotilla's build. Tools are built once into $(FLOTILLA_CACHE)/bin, keyed by version.
SHELL := /usr/bin/env bash
FLOTILLA_CACHE ?= $(HOME)/.cache/flotilla
export FLOTILLA_CACHE
include hack/versions.env
CONTROLLER_GEN := $(FLOTILLA_CACHE)/bin/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(FLOTILLA_CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)
BIN := bin/flotilla

.PHONY: all build docs tools generate verify-generated verify-tidy vet lint test test-unit bench demo demo-down clean

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

bench: tools build
	go run ./hack/bench

demo: tools build
	hack/demo.sh

demo-down: build
	$(BIN) local down --name demo

clean:
	rm -rf bin

# Herald — see README.md. `make help` lists the targets.
GO        ?= go
BIN       := bin/herald
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...

.PHONY: help build tools run test test-go e2e check cluster test-cluster chaos chaos-short fuzz bench bench-load bench-go clean

# chaos and load-run knobs: make chaos DURATION=30m SEED=7 NODES=5
DURATION  ?= 10m
SEED      ?= 1
NODES     ?= 3

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/herald
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/herald

tools: ## build bin/herald-chaos and bin/herald-bench
	$(GO) build -trimpath -o bin/herald-chaos ./cmd/herald-chaos
	$(GO) build -trimpath -o bin/herald-bench ./cmd/herald-bench

run: build ## run one node on 127.0.0.1:8888 with data in ./herald-data
	./$(BIN) serve

test: build tools ## the whole default suite: Go tests, a 90 s chaos run of real nodes, and real nodes driven by python3-zaqarclient
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	bin/herald-chaos -bin $(BIN) -duration 90s -seed 1
	scripts/e2e/run.sh

test-go: ## Go tests only
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

e2e: build ## 3 real bin/herald processes driven by python3-zaqarclient
	scripts/e2e/run.sh

check: ## gofmt, go vet, import-direction and FSM purity checks
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	scripts/check.sh

cluster: build ## run a 3-node cluster in the foreground (ports 8888/8898/8908); Ctrl-C stops it
	scripts/cluster.sh

test-cluster: ## the long in-process cluster suite (more iterations, race detector)
	HERALD_LONG=1 $(GO) test -race -count=1 -timeout 40m ./testcluster/...

chaos: build tools ## chaos run of real nodes with the history checker (DURATION, SEED, NODES)
	bin/herald-chaos -bin $(BIN) -nodes $(NODES) -duration $(DURATION) -seed $(SEED)

chaos-short: build tools ## the 90 s chaos run with seed 1
	bin/herald-chaos -bin $(BIN) -duration 90s -seed 1

fuzz: ## run each fuzz target for 30 s
	@for t in $$($(GO) test -list 'Fuzz.*' ./httpapi/ | grep ^Fuzz); do $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s ./httpapi/ || exit 1; done

bench: build tools ## 3 real nodes driven by herald-bench, medians of 3 runs, then RSS with 1M messages (docs/PERFORMANCE.md)
	BENCH_RSS=$${BENCH_RSS:-1} scripts/bench.sh

bench-load: build tools ## like bench without the 1M-message RSS phase
	BENCH_RSS=0 scripts/bench.sh

bench-go: ## go test benchmarks: FSM apply, codec and memory, HTTP handlers, group commit, end-to-end notifications
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/ ./httpapi/ ./cluster/
	$(GO) test -run '^$$' -bench NotifyEndToEnd -benchtime 2000x -count 3 ./testcluster/

clean: ## remove build output
	rm -rf bin

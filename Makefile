# HeliosProxy. `make demo` runs the demo, `make test` runs every test.
GO ?= go
BIN := bin/heliosproxy

.PHONY: all build demo test deps vet fuzz bench bench-compare bench-go soak abuse clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/heliosproxy

# Installs what the tests and the demo need when it is missing
# (PostgreSQL server binaries via apt-get when root).
deps:
	./scripts/ensure-deps.sh

demo: deps
	$(GO) run ./cmd/heliosproxy demo

vet:
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...

# Fuzzing, FUZZTIME per target (default 60s; longer runs: FUZZTIME=30m).
# The front end (startup, authentication, framing), a status-database
# session (simple and extended protocol answered by the proxy), and the
# SQL path (the parser guard, Prepare, evaluation). `make test` runs every
# target's seed corpus.
FUZZTIME ?= 60s
FUZZ_TARGETS := proxy:FuzzFrontend proxy:FuzzStatusSession proxy/wire:FuzzScanner statusdb:FuzzStatement statusdb:FuzzQuery statusdb:FuzzDepthEstimate
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
	done

# pgbench straight to PostgreSQL, through HeliosProxy and through PgBouncer
# (installed when missing), written into docs/benchmarks.md: about 15
# minutes, QUICK=1 for about 3.
bench:
	GO=$(GO) ./scripts/bench.sh

# heliosproxy built at REF against the working tree, in the same pgbench
# runs as `make bench` (scripts/bench-compare.sh), tables on stdout:
# REF=main make bench-compare; about 18 minutes, QUICK=1 for about 5.
bench-compare:
	@GO=$(GO) ./scripts/bench-compare.sh "$(REF)"

# The Go micro-benchmarks; compare runs with benchstat.
bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem ./breaker ./proxy

# 30 minutes of mixed load while the backends are SIGKILLed in turn;
# fails on a protocol error or on RSS or goroutines growing. SOAK_FLAGS:
# e.g. "-mode transaction" (pooled) or "-duration 5m".
SOAK_FLAGS ?=
soak: deps
	$(GO) run ./bench/soak $(SOAK_FLAGS)

# The attack suite against a running proxy (`make demo` in another
# terminal): one PASS/FAIL line per attack, exit status 1 on a FAIL.
# ABUSE_FLAGS defaults to the demo's password and admin token; add
# -pid PID for memory and descriptors, -log FILE for log-flood.
ABUSE_FLAGS ?= -password helios-demo -token helios-demo-token
abuse:
	$(GO) run ./bench/abuse $(ABUSE_FLAGS)

clean:
	rm -rf bin

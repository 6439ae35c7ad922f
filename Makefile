# kuaifan — `make run` starts the hub with a simulated fleet; `make test` runs every test.
GO      ?= go
MODULES := protocol testkit hub agent dashboard simulator
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
HTTP    ?= 127.0.0.1:8080
MQTT    ?= 127.0.0.1:1883
DATA    ?= data
UNITS   ?= 300
INCIDENTS ?= 120

.PHONY: all build wasm run test test-deps vet lint modules bench bench-load bench-dashboard agent-cross clean

all: build

build: wasm
	@mkdir -p bin
	cd hub && $(GO) build -o ../bin/hub ./cmd/hub
	cd agent && $(GO) build -o ../bin/agent ./cmd/agent
	cd simulator && $(GO) build -o ../bin/simulator ./cmd/simulator

# The dashboard's WebAssembly build, embedded by the hub (same Go as the hub:
# wasm_exec.js comes from the hub's toolchain).
WEBUI := hub/internal/webui/dist/web
# The officer's page, embedded by the agent (only gzipped: see agent/internal/officerweb).
OFFICERUI := agent/internal/officerweb/dist/web
wasm:
	@mkdir -p $(WEBUI)
	cd dashboard && GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o ../$(WEBUI)/app.wasm ./cmd/wasm
	cp dashboard/web/* $(WEBUI)/
	gzip -9 -k -f $(WEBUI)/app.wasm
	@echo "app.wasm: $$(wc -c < $(WEBUI)/app.wasm) bytes, $$(wc -c < $(WEBUI)/app.wasm.gz) gzipped"
	@mkdir -p $(OFFICERUI)
	cd agent && GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o ../$(OFFICERUI)/app.wasm ./cmd/officer-wasm
	cp agent/web/* dashboard/web/icon.svg dashboard/web/icon-192.png dashboard/web/icon-512.png $(OFFICERUI)/
	@echo "officer app.wasm: $$(wc -c < $(OFFICERUI)/app.wasm) bytes, $$(gzip -9 -c $(OFFICERUI)/app.wasm | wc -c) gzipped"
	gzip -9 -f $(OFFICERUI)/app.wasm

# The hub with its embedded broker, and a simulated fleet of $(UNITS) units on it
# with $(INCIDENTS) incidents an hour. The hub prints the dashboard's URL and, on
# its first start, the first admin's one-time password (kept in
# $(DATA)/admin.password until changed). The simulator acts with an API token of
# its own, made once into $(DATA)/simulator.token, so the timeline and the audit
# log name it. Ctrl-C stops the simulator, which prints its report, then the hub
# (in a session of its own, so that the terminal's Ctrl-C does not stop it under
# the simulator's feet).
run: build
	@mkdir -p $(DATA); \
	test -s $(DATA)/simulator.token || bin/hub token add simulator -role admin -data $(DATA) | grep '^kft_' > $(DATA)/simulator.token || rm -f $(DATA)/simulator.token; \
	token=$(DATA)/simulator.token; test -s $$token || token=$(DATA)/admin.token; \
	GODEBUG=gcshrinkstackoff=1 setsid bin/hub -http $(HTTP) -mqtt $(MQTT) -data $(DATA) -cameras protocol/cameras/changsha/cameras.geojson -log-level warn & hub=$$!; \
	trap 'kill $$hub 2>/dev/null; wait $$hub' EXIT INT TERM; \
	bin/simulator -hub http://$(HTTP) -broker tcp://$(MQTT) -token-file $$token -units $(UNITS) -incidents-per-hour $(INCIDENTS)

# Tests' artifacts (the dashboard's browser screenshots) are kept in test-output/.
test: test-deps wasm vet modules lint
	@for m in $(MODULES); do \
		echo "== go test -race ./... in $$m"; \
		mkdir -p test-output/$$m; \
		(cd $$m && $(GO) test -race -count=1 -artifacts -outputdir $(CURDIR)/test-output/$$m ./...) || exit 1; \
	done

test-deps:
	@scripts/test-deps.sh

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	@unformatted=$$(gofmt -l $(MODULES)); [ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }

lint:
	@for m in $(MODULES); do (cd $$m && $(STATICCHECK) ./...) || exit 1; done

# go.work hides a module's missing require/replace lines: build each one alone too.
modules:
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...) || exit 1; done

# Every benchmark; each prints its figures (msgs/s, p50/p99, MB, speedup, frame
# times). The load benchmarks run a hub in a process of their own with 10,000
# MQTT units; the whole run takes about 35 minutes.
bench: build bench-load bench-dashboard
	cd hub && $(GO) test -run '^$$' -bench 'BenchmarkIngest' -benchtime 200000x .
	cd hub && $(GO) test -run '^$$' -bench 'BenchmarkHistoryRestart' -benchtime 1x -timeout 40m .
	cd hub && $(GO) test -run '^$$' -bench 'BenchmarkDispatchLatency' -benchtime 2000x -timeout 30m .
	cd hub && $(GO) test -run '^$$' -bench 'BenchmarkSignInsUnderDispatch' -benchtime 1000x -timeout 30m .
	cd hub && $(GO) test -run '^$$' -bench 'BenchmarkStreamLatency|BenchmarkLiveUnits' -benchtime 1x -timeout 30m .
	cd hub && $(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...
	cd hub && $(GO) test -run 'TestAckModel' -v -timeout 30m ./internal/fleet -args -ack.model.n 200000 | grep -E 'reports from|^(ok|FAIL|---)'
	cd agent && $(GO) test -run '^$$' -bench . -benchtime 1x ./...
	cd dashboard && $(GO) test -run '^$$' -bench . -benchmem ./ui

# The simulator: 10,000 units at 1 Hz against a hub in another process, then
# robbery-chase at its default scale.
bench-load: build
	scripts/bench-load.sh

# The dashboard in headless Chromium on a hub with 5,000 units reporting at 1 Hz,
# watched for 5 minutes: first render, frame gaps, memory.
bench-dashboard: wasm
	cd dashboard && $(GO) test -run '^$$' -bench BenchmarkDashboardLive -benchtime 1x -timeout 30m ./e2e -args -dashboard.window 5m

# The agent for patrol devices: static binaries for linux/arm64, arm (v7) and amd64.
agent-cross:
	@mkdir -p bin
	cd agent && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags="-s -w" -o ../bin/agent-linux-arm64 ./cmd/agent
	cd agent && CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags="-s -w" -o ../bin/agent-linux-armv7 ./cmd/agent
	cd agent && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags="-s -w" -o ../bin/agent-linux-amd64 ./cmd/agent
	@ls -l bin/agent-linux-*

clean:
	rm -rf bin test-output $(WEBUI) $(OFFICERUI)

# kuaifan — `make run` starts the hub with a simulated fleet; `make test` runs every test.
GO      ?= go
MODULES := protocol hub agent dashboard simulator
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
HTTP    ?= 127.0.0.1:8080
MQTT    ?= 127.0.0.1:1883
DATA    ?= data
UNITS   ?= 300

.PHONY: all build run test test-deps vet lint modules bench clean

all: build

build:
	@mkdir -p bin
	cd hub && $(GO) build -o ../bin/hub ./cmd/hub
	cd simulator && $(GO) build -o ../bin/simulator ./cmd/simulator

# The hub with its embedded broker, and a simulated fleet of $(UNITS) units on it.
run: build
	@bin/hub -http $(HTTP) -mqtt $(MQTT) -data $(DATA) & hub=$$!; \
	trap 'kill $$hub 2>/dev/null; wait $$hub' EXIT INT TERM; \
	bin/simulator -hub http://$(HTTP) -broker tcp://$(MQTT) -token-file $(DATA)/admin.token -units $(UNITS)

test: test-deps vet modules lint
	@for m in $(MODULES); do \
		echo "== go test -race ./... in $$m"; \
		(cd $$m && $(GO) test -race -count=1 ./...) || exit 1; \
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

bench:
	cd hub && $(GO) test -run '^$$' -bench . -benchtime 2s ./...

clean:
	rm -rf bin

# Vigil — the two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
DEMO_DIR ?= demo-out
DB ?= vigil-data
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps release asan build test demo bench clean format

all: release

deps:
	@bash deploy/install-deps.sh

release: deps
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)

asan: deps
	cmake --preset asan >/dev/null
	cmake --build build/asan -j$(JOBS)

build: release

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, through ctest.
test: asan
	ctest --preset asan -j$(JOBS)

# Generate a realistic audit log with a handful of attacks, replay it, print the findings,
# then serve them over HTTP from the embedded RocksDB.
demo: release
	@mkdir -p $(DEMO_DIR)
	python3 bench/vigil-gen --events 20000 --rate 1 --clusters 1 --nodes 5 --attacks 1 --stages both \
	  --seed 42 --out $(DEMO_DIR)/audit.log.gz --labels $(DEMO_DIR)/labels.jsonl
	@rm -rf $(DB)
	./build/release/app/vigil replay $(DEMO_DIR)/audit.log.gz --db $(DB) --cluster demo-cluster --format table
	@echo
	@echo "Serving findings on http://$(LISTEN) (Ctrl-C to stop). In another terminal:"
	@echo "  curl -s 'http://$(LISTEN)/v1/findings?limit=10' | jq ."
	@echo
	./build/release/app/vigil serve --db $(DB) --listen $(LISTEN)

bench: release
	bash bench/run.sh

format:
	find core ingest detect store api app tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build $(DEMO_DIR) $(DB)

# Build and test entry points. Test binaries and toolchains are cached in
# $(GOSYM_CACHE) (default ~/.cache/gosym); see testbins/README.md.

PYTHON ?= python3
JOBS ?= 2
export GOSYM_CACHE ?= $(HOME)/.cache/gosym

# Debian packages the test-binary infrastructure needs (gdb: gcore for the
# goroutines tests).
DEB_PKGS := golang-1.19-go qemu-user-static libc6-arm64-cross binfmt-support gcc gdb
# Optional: the headless browser the stackmem HTML page is tested in (the
# test skips without it).
OPTIONAL_DEB_PKGS := chromium
# Toolchain used for `make sample`.
SAMPLE_GO ?= 1.27.3

.PHONY: all deps toolchains testbins realbins sample venv test check bench bench-deps big demo

# gosym itself is installed (editable, with the test extras) into this virtualenv.
VENV ?= .venv
VPY := $(VENV)/bin/python

all: testbins realbins

# Install missing Debian packages (apt-get update only when something is missing).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "deps: all present"; fi
	@for p in $(OPTIONAL_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' && continue; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$p \
	    || echo "deps: optional $$p not installed: the tests that need it will skip"; \
	done

toolchains: deps
	$(PYTHON) testbins/toolchains.py install

testbins: toolchains
	$(PYTHON) testbins/build.py -j $(JOBS)

realbins: toolchains
	$(PYTHON) testbins/realbins.py

# Rebuild the shipped sample binary testbins/sample/hello (linux/amd64).
sample: toolchains
	cd testbins/hello && env GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
	  GOOS=linux GOARCH=amd64 GOCACHE=$(GOSYM_CACHE)/gocache/$(SAMPLE_GO) \
	  $(GOSYM_CACHE)/go/$(SAMPLE_GO)/go/bin/go build -trimpath -ldflags=-w -o ../sample/hello .
	@echo "sample: testbins/sample/hello"

STAMP := $(VENV)/.gosym-installed

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Everything: Debian packages, Go toolchains, the test-binary matrix, the real
# binaries, then the whole test suite.
test: venv testbins realbins
	$(VPY) -m pytest -q -n $(JOBS) tests

# The suite alone, against whatever is already built.
check: venv
	$(VPY) -m pytest -q -n $(JOBS) tests

# The main job on the shipped sample binary (testbins/sample/hello).
demo: venv
	$(VENV)/bin/gosym frames testbins/sample/hello --top 15

# The ~320 MB, ~410k-function AWS SDK binary the benchmarks run on (tens of
# minutes on 2 cores the first time; BIG_JOBS bounds the compiler parallelism).
BIG_JOBS ?= 1
big: toolchains
	$(PYTHON) benchmarks/build_big.py -j $(BIG_JOBS)

# Every benchmark on every binary size, then the README's speed tables from
# the results. BENCH_ARGS is passed to each, e.g. '--sizes small,hugo' or
# '--gosym before=/other/.venv/bin/gosym' to measure another installation too.
BENCH_ARGS ?=
# GNU time measures the peak RSS of each command apart from the benchmark's own.
bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PKGS=time

bench: venv bench-deps big
	$(VPY) benchmarks/bins.py
	$(VPY) benchmarks/bench_tables.py $(BENCH_ARGS)
	$(VPY) benchmarks/bench_symbolize.py $(BENCH_ARGS)
	$(VPY) benchmarks/bench_library.py $(BENCH_ARGS)
	$(VPY) benchmarks/readme_table.py

# clustermim: the two commands of the README, and the steps behind them.
#   make demo   install what is missing, build, run the end-to-end demo on Fashion-MNIST
#   make test   install what is missing, build, run the test suite
#   make bench  install the Python references too, build, run the benchmarks
# Each target installs and builds what it needs, so each works on a fresh Debian 12 machine.

BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all setup setup-bench build demo test bench clean

all: build

setup:
	bash scripts/setup.sh

setup-bench:
	bash scripts/setup.sh --bench

build: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/clustermim

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

bench: setup-bench build
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# clustermim: the two commands of the README, and the steps behind them.
#   make demo   install what is missing, build the library and the program (no tests, benchmarks
#               or Python module), run the end-to-end demo on Fashion-MNIST
#   make build  install what is missing, build everything: program, tests, benchmarks, and the
#               Python module in build/python
#   make test   install what is missing, build, run the test suite: unit tests, the fault drills,
#               the torch-free code under ASan + UBSan, and every parser's fuzzer for a minute
#   make bench  install the Python references too, build, run the benchmarks
# Each target installs and builds what it needs, so each works on a fresh Debian 12 machine.

BUILD ?= build
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all setup setup-bench configure build demo test unit faults sanitize fuzz bench clean

all: build

setup:
	bash scripts/setup.sh

setup-bench:
	bash scripts/setup.sh --bench

configure: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)

demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target clustermim
	bash scripts/demo.sh $(BUILD)/clustermim

test: unit faults sanitize fuzz

unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

faults: build
	bash tests/faults/run.sh $(BUILD)

# The torch-free library and its tests built by clang with ASan + UBSan (and libFuzzer hooks).
sanitize: setup
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DCLUSTERMIM_WITH_TORCH=OFF -DCLUSTERMIM_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

fuzz: sanitize
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: setup-bench build
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

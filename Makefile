# Entry points for users and CI. Everything goes through CMake in build/.
#   make demo     set up, build, run the main job on generated data
#   make test     set up, build, run every test (ctest)
#   make test-sanitize   the fast tests again under ASan+UBSan (CI runs it)
#   make check-fresh-machine  set-up, build and every program in a bare
#                        Debian 12 root (root only; CI runs it)
JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_SANITIZE ?= build-sanitize
CMAKE_FLAGS ?=

.PHONY: all setup build test test-sanitize check-fresh-machine demo bench clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(BUILD_SANITIZE)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD_SANITIZE) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSEGC_SANITIZE=ON -DSEGC_CUDA=OFF $(CMAKE_FLAGS)

test-sanitize: setup $(BUILD_SANITIZE)/CMakeCache.txt
	cmake --build $(BUILD_SANITIZE) -j $(JOBS)
	cd $(BUILD_SANITIZE) && ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -L sanitize -j $(JOBS)

check-fresh-machine:
	bash scripts/check_fresh_machine.sh

demo: build
	bash scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SANITIZE)

# toonreid: make demo | make test | make deps | make build | make bench
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
DEMO_DIR ?= demo_out
CMAKE_ARGS ?=

.PHONY: all deps build test demo bench clean

all: build

deps:
	./scripts/install_deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job on the embedded default: generate the synthetic toon faces, check them,
# and draw a contact sheet. Later stages (train, eval) extend this target.
demo: build
	rm -rf $(DEMO_DIR)
	./$(BUILD_DIR)/toonreid synth --out $(DEMO_DIR)/synth --identities 60 --photos 8 --cartoons 8 --size 128 --seed 7
	./$(BUILD_DIR)/toonreid data stats $(DEMO_DIR)/synth --verify
	./$(BUILD_DIR)/toonreid data preview $(DEMO_DIR)/synth --out $(DEMO_DIR)/synth_preview.png --identities 8
	./$(BUILD_DIR)/toonreid config show configs/synth_demo.yaml
	@echo "demo: data in $(DEMO_DIR)/synth, picture in $(DEMO_DIR)/synth_preview.png"

bench: build
	./$(BUILD_DIR)/bench/bench_loader --benchmark_min_time=2

clean:
	rm -rf $(BUILD_DIR) $(DEMO_DIR)

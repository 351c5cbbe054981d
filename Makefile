# toonreid: make demo | make test | make deps | make build | make bench
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
DEMO_DIR ?= demo_out
CMAKE_ARGS ?=

.PHONY: all deps build test demo bench clean install-python

all: build

deps:
	./scripts/install_deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job on the embedded default: generate the synthetic toon faces, check and
# preview them, evaluate dlib's pretrained embedder zero-shot (whole images, then aligned
# faces), run the whole recipe
# (toonreid pipeline: baseline, MDL, identity mining vs k-means, re-ranking, ensemble)
# and write the HTML reports.
demo: build
	rm -rf $(DEMO_DIR)
	./$(BUILD_DIR)/toonreid synth --out $(DEMO_DIR)/synth --identities 60 --photos 8 --cartoons 8 --size 128 --seed 7
	./$(BUILD_DIR)/toonreid data stats $(DEMO_DIR)/synth --verify
	./$(BUILD_DIR)/toonreid data preview $(DEMO_DIR)/synth --out $(DEMO_DIR)/synth_preview.png --identities 8
	@echo "== zero-shot (pretrained dlib_resnet, no training)"
	./$(BUILD_DIR)/toonreid eval --config configs/synth_demo.yaml --json $(DEMO_DIR)/eval_zero_shot.json
	@echo "== zero-shot on aligned faces (detection, 68 landmarks, dlib's chip geometry; chips cached in $(DEMO_DIR)/faces)"
	./$(BUILD_DIR)/toonreid eval --config configs/synth_demo.yaml --json $(DEMO_DIR)/eval_zero_shot_aligned.json \
		input.align=true face.cache_dir=$(DEMO_DIR)/faces
	@echo "== the recipe: baseline, MDL, identity mining (vs k-means), re-ranking, ensemble"
	./$(BUILD_DIR)/toonreid pipeline --config configs/pipeline_demo.yaml
	./$(BUILD_DIR)/toonreid eval --config configs/synth_demo.yaml --weights $(DEMO_DIR)/pipeline/baseline/model_final.pt \
		--json $(DEMO_DIR)/eval_trained.json --markdown $(DEMO_DIR)/eval_trained.md --html $(DEMO_DIR)/report.html
	@echo "demo: data in $(DEMO_DIR)/synth (preview $(DEMO_DIR)/synth_preview.png); stages in $(DEMO_DIR)/pipeline,"
	@echo "      comparison $(DEMO_DIR)/pipeline/comparison.html; report of the baseline model $(DEMO_DIR)/report.html"

bench: build
	./$(BUILD_DIR)/bench/bench_loader --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
	./bench/compare_pytorch.sh $(BUILD_DIR)
	./bench/compare_numpy.sh $(BUILD_DIR)

# The Python module into a site folder (default: the user's site-packages of the system
# Python; PYTHON_SITE=DIR for a venv's or any other).
PYTHON_SITE ?= $(shell /usr/bin/python3 -c 'import site; print(site.getusersitepackages())')
install-python: build
	mkdir -p $(PYTHON_SITE)
	rm -rf $(PYTHON_SITE)/toonreid && cp -r $(BUILD_DIR)/python/toonreid $(PYTHON_SITE)/toonreid
	@echo "installed: $(PYTHON_SITE)/toonreid"

clean:
	rm -rf $(BUILD_DIR) $(DEMO_DIR)

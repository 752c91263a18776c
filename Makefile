# The two quick-start commands:
#   make train   install what is missing (Vulkan driver, Fashion-MNIST), build, train on the default data
#   make test    run the whole test suite (GPU tests on lavapipe when no GPU is present)
# Extra flags for training: make train ARGS="--epochs 10 --hidden 256,128"

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := mesa-vulkan-drivers dataset-fashion-mnist
ARGS ?=

BENCH_VENV ?= /tmp/bench-venv

.PHONY: deps build install train train-cpu test test-wasm test-python web site bench-venv bench-peers device-kit lint clean

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build:
	$(CARGO) build --release

# gpu-mlp on PATH (~/.cargo/bin), as the README's examples call it.
install:
	$(CARGO) install --path .

train: deps build
	./target/release/gpu-mlp train $(ARGS)

train-cpu: deps build
	./target/release/gpu-mlp train --cpu $(ARGS)

# The tests, then the examples as a user runs them (on a data subset).
test: deps site
	$(CARGO) test --release
	$(CARGO) test --release -p gpu-mlp-web
	$(CARGO) run --release --example custom_data
	$(CARGO) run --release --example train_mnist -- --gpu --limit 2000 --epochs 1
	$(CARGO) run --release --example train_mnist -- --cpu --limit 2000 --epochs 1 --save target/example-model.safetensors
	$(CARGO) run --release --example predict -- target/example-model.safetensors --data /usr/share/datasets/fashion-mnist
	$(MAKE) test-wasm
	$(MAKE) test-python

# The page: web/www with the WebAssembly module in web/www/pkg and, where the Debian
# package is installed, Fashion-MNIST in web/www/data (the "sample set"). Serve the
# folder with any static server, e.g. `python3 -m http.server -d web/www`.
FASHION := /usr/share/datasets/fashion-mnist
web:
	$(CARGO) build -p gpu-mlp-web --release --target wasm32-unknown-unknown
	wasm-bindgen --target web --out-dir web/www/pkg target/wasm32-unknown-unknown/release/gpu_mlp_web.wasm
	mkdir -p web/www/data
	if [ -d $(FASHION) ]; then cp $(FASHION)/*-ubyte.gz web/www/data/; fi

# For `make test`: the site and the browser driver where the tools exist (CI
# installs them: a missing one fails there, elsewhere tests/browser.rs skips).
site:
	@if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
		&& wasm-bindgen --version 2>/dev/null | grep -q " $(WASM_BINDGEN)"; then \
		$(MAKE) web; \
	elif [ -n "$$CI" ]; then \
		echo "CI is set but the site cannot be built: rustup target add wasm32-unknown-unknown; cargo install wasm-bindgen-cli --version $(WASM_BINDGEN)" >&2; exit 1; \
	else \
		echo "SKIPPED: building the site (rustup target add wasm32-unknown-unknown; cargo install wasm-bindgen-cli --version $(WASM_BINDGEN))"; \
	fi
	@if [ ! -d web/test/node_modules/puppeteer-core ] && command -v npm >/dev/null; then \
		npm install --prefix web/test --silent --no-audit --no-fund || [ -z "$$CI" ]; \
	fi

# The wasm-bindgen the lockfile pins: its test runner must be the same version.
WASM_BINDGEN := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/version = "\(.*\)"/\1/p;q}' Cargo.lock)

# The library as WebAssembly, run under Node. Needs the wasm32 target, node and
# wasm-bindgen-cli $(WASM_BINDGEN); CI installs them (a missing one fails there),
# elsewhere it is a printed skip.
test-wasm:
	@if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
		&& command -v node >/dev/null \
		&& wasm-bindgen-test-runner --version 2>/dev/null | grep -q " $(WASM_BINDGEN)"; then \
		CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
			$(CARGO) test --release --target wasm32-unknown-unknown --test wasm; \
	elif [ -n "$$CI" ]; then \
		echo "CI is set but the wasm test cannot run: it needs rustup target add wasm32-unknown-unknown, node and cargo install wasm-bindgen-cli --version $(WASM_BINDGEN)" >&2; exit 1; \
	else \
		echo "SKIPPED: the WebAssembly test (rustup target add wasm32-unknown-unknown; cargo install wasm-bindgen-cli --version $(WASM_BINDGEN); node)"; \
	fi

# The Python package (python/): `pip install ./python` into $(PYTHON)'s environment,
# then its tests (scikit-learn's checks, pipelines, Dask, the binary reading what
# Python saved). $(PYTHON) needs scikit-learn, pytest, pandas and dask[distributed];
# CI installs them (a missing one fails there), elsewhere it is a printed skip.
PYTHON ?= $(or $(GPU_MLP_PYTHON),python3)
PYTHON_TEST_MODULES := sklearn, pytest, pandas, dask.distributed
test-python:
	@if $(PYTHON) -c "import $(PYTHON_TEST_MODULES)" 2>/dev/null; then \
		$(PYTHON) -m pip install -q ./python \
		&& cd python/tests && GPU_MLP_BIN=$(CURDIR)/target/release/gpu-mlp $(PYTHON) -m pytest -q -p no:cacheprovider; \
	elif [ -n "$$CI" ]; then \
		echo "CI is set but $(PYTHON) cannot import $(PYTHON_TEST_MODULES): pip install scikit-learn pytest pandas 'dask[distributed]'" >&2; exit 1; \
	else \
		echo "SKIPPED: the Python package's tests ($(PYTHON) needs scikit-learn pytest pandas 'dask[distributed]'; set PYTHON= or GPU_MLP_PYTHON=)"; \
	fi

# The Python the peer benchmarks run: numpy and torch from PyPI (torch is large).
bench-venv:
	[ -x $(BENCH_VENV)/bin/python ] || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q numpy torch scikit-learn

# Side-by-side epoch times against PyTorch and numpy (see benches/README.md).
bench-peers: deps build
	PYTHON=$(BENCH_VENV)/bin/python benches/peers.sh $(ARGS)

# What benches/device.sh needs on a GPU machine with no Rust and no network: the
# stripped binary and GPU test binaries, Fashion-MNIST, the PyTorch CUDA peer and the
# Vulkan loader packages (see benches/README.md).
KIT := .device-kit
device-kit: deps
	$(CARGO) build --release
	rm -rf $(KIT) && mkdir -p $(KIT)/tests $(KIT)/data $(KIT)/gl
	cp target/release/gpu-mlp $(KIT)/ && strip $(KIT)/gpu-mlp
	$(CARGO) test --release --no-run --test gpu_kernels --test gpu_training --message-format=json \
		| grep -o '"executable":"[^"]*/deps/[^"]*"' | cut -d'"' -f4 \
		| while read -r t; do n=$$(basename $$t); cp $$t $(KIT)/tests/$${n%-*} && strip $(KIT)/tests/$${n%-*}; done
	cp /usr/share/datasets/fashion-mnist/*.gz $(KIT)/data/
	cp benches/torch_cuda_mlp.py $(KIT)/
	cd $(KIT)/gl && apt-get download libvulkan1
	du -sh $(KIT)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --all-targets -p gpu-mlp-python -- -D warnings
	$(CARGO) clippy --release --all-targets -p gpu-mlp-web -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

clean:
	$(CARGO) clean

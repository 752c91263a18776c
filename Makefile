# The two quick-start commands:
#   make train   install what is missing (Vulkan driver, Fashion-MNIST), build, train on the default data
#   make test    run the whole test suite (GPU tests on lavapipe when no GPU is present)
# Extra flags for training: make train ARGS="--epochs 10 --hidden 256,128"

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := mesa-vulkan-drivers dataset-fashion-mnist
ARGS ?=

.PHONY: deps build train train-cpu test bench-peers lint clean

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build:
	$(CARGO) build --release

train: deps build
	./target/release/gpu-mlp train $(ARGS)

train-cpu: deps build
	./target/release/gpu-mlp train --cpu $(ARGS)

test: deps
	$(CARGO) test --release

# Side-by-side epoch times against PyTorch and numpy (see benches/README.md).
bench-peers: deps build
	benches/peers.sh $(ARGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

clean:
	$(CARGO) clean

# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
# Both provision libtorch first (scripts/provision-libtorch.sh: torch==2.11.0 from PyPI into
# .venv, idempotent; a user's own LIBTORCH or active PyTorch environment is respected).
CARGO ?= cargo
DEMO_ARGS ?=

.PHONY: setup demo test lint doc gpu-check clean-venv

setup:
	@bash scripts/provision-libtorch.sh

demo: setup
	$(CARGO) run -p irlhf-cli --bin irlhf -- demo $(DEMO_ARGS)

test: setup
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

doc: setup
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

gpu-check: setup
	bash scripts/gpu-check.sh

clean-venv:
	rm -rf .venv .venv.lock

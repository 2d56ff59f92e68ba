# vpc-router: build, test, static binary, benchmarks, demo.
CARGO ?= cargo
MUSL_TARGET := x86_64-unknown-linux-musl

.PHONY: build test static bench demo clean

build:
	$(CARGO) build --release

# What CI runs (.ci/run): formatting, lints, then every test. Offline.
test:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

# A fully static binary for router instances. ring compiles C for the musl
# target: musl-gcc if installed (Debian: musl-tools), else the host gcc.
static:
	rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	CC_x86_64_unknown_linux_musl=$$(command -v musl-gcc || command -v gcc) \
	  $(CARGO) build --release --target $(MUSL_TARGET)
	@bin=$${CARGO_TARGET_DIR:-target}/$(MUSL_TARGET)/release/vpc-router; \
	  file $$bin 2>/dev/null || true; \
	  if readelf -d $$bin | grep -q NEEDED; then echo "error: $$bin needs shared libraries"; exit 1; fi; \
	  size=$$(stat -c %s $$bin); \
	  echo "static binary: $$bin, $$size bytes ($$(( size / 1024 )) KiB; target: under 3 MB)"; \
	  test $$size -lt 3145728 || { echo "error: over the 3 MB target"; exit 1; }

bench:
	$(CARGO) bench --bench cli --bench daemon --bench reconcile --bench failover

demo:
	bash demo/run.sh

clean:
	$(CARGO) clean
	rm -rf .demo

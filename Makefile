# vpc-router: build, test, static binary, benchmarks, demo.
CARGO ?= cargo
MUSL_TARGET := x86_64-unknown-linux-musl

.PHONY: build test test-deps static bench demo clean

# --version names the commit a release was built from (src/lib.rs reads it
# with option_env!, so no build script is needed).
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
build static: export VPC_ROUTER_COMMIT := $(COMMIT)

build:
	$(CARGO) build --release

# What CI runs (.ci/run): formatting, lints, then every test. Offline once
# test-deps has what it needs.
test: test-deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

# What the tests run besides Rust, as command:Debian package: real etcd
# servers (tests/common/etcd.rs), openssl for their throw-away TLS
# certificates, BIRD 2 for the BGP tests. Installed when missing (apt-get
# update once, then only the missing packages), as root on Debian;
# otherwise this says what to install and fails, rather than letting those
# tests fail one by one. BIRD is in /usr/sbin, often not on a user's PATH.
TEST_DEPS := etcd:etcd-server openssl:openssl bird:bird2

test-deps:
	@PATH="$$PATH:/usr/sbin:/sbin"; missing=""; \
	for dep in $(TEST_DEPS); do \
	  command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "error: the tests need these Debian packages:$$missing" >&2; \
	  echo "  install them (as root: apt-get install$$missing), then run make test again" >&2; \
	  exit 1; \
	fi; \
	echo "installing the tests' packages:$$missing"; \
	apt-get update || exit 1; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || exit 1; \
	for dep in $(TEST_DEPS); do \
	  command -v $${dep%%:*} >/dev/null 2>&1 || \
	    { echo "error: $${dep%%:*} still missing after installing $${dep#*:}" >&2; exit 1; }; \
	done

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
	$(CARGO) bench --bench cli --bench daemon --bench reconcile --bench failover --bench etcd --bench bgp

demo:
	bash demo/run.sh

clean:
	$(CARGO) clean
	rm -rf .demo

# Everyday commands. `make run` is the demo on the embedded store; `make test` is what CI runs.
CARGO ?= cargo
OUT ?= out
DB ?= compliance.db
TEST_LOGS ?= $(CURDIR)/target/test-logs
DOCKER ?= docker
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
IMAGE ?= cis-compliance:$(VERSION)
BENCHMARKER_IMAGE ?= cis-compliance-benchmarker:$(VERSION)

.PHONY: build run serve test fuzz-smoke bench bench-elastic bench-benchmarker bench-controller bench-server bench-findings fmt lint clean crds image image-check \
	image-benchmarker image-check-benchmarker

build:
	$(CARGO) build --release --bins

# Imports the bundled real kube-bench outputs into ./$(DB), runs the daily-cis-results
# report for yesterday, writes the downloads to ./$(OUT) and prints a summary.
run: build
	DB=$(DB) OUT=$(OUT) scripts/demo.sh

# After `make run`: the reports of ./$(DB) at http://127.0.0.1:8080/ (compliancectl serve:
# plain HTTP, no authentication, loopback only) until Ctrl-C. LISTEN=127.0.0.1:9090 moves it.
LISTEN ?= 127.0.0.1:8080
serve:
	$(CARGO) run --release --quiet --bin compliancectl -- --datastore sqlite:$(DB) serve --listen $(LISTEN)

# Every crate's tests. The API-server tests (whatever uses compliance_testkit::apiserver)
# need a kube-apiserver, and some a kube-controller-manager, built from Debian's sources:
# several minutes the first time, then cached outside the repository. When they cannot be
# built here, the tests that need them say SKIPPED and pass. The browser tests (whatever uses
# compliance_testkit::browser) need Debian's chromium and chromium-driver, installed here when
# missing; without them those tests say SKIPPED and pass too. The export tests validate
# junit.xml and the OSCAL export with Python validators from PyPI, installed here into a venv
# under ~/.cache/cis-compliance (scripts/validators.sh); without them those say SKIPPED too.
# Every program's output is kept under $(TEST_LOGS) and scanned, after the tests, for the
# passwords, API keys and tokens the tests handed out (scripts/secret-scan.sh).
# The metrics and rules tests need Debian's prometheus (the server and promtool), installed
# here when missing (scripts/prometheus.sh); without it they say SKIPPED too.
test:
	@scripts/kube-apiserver.sh build || \
	  echo "warning: kube-apiserver or kube-controller-manager could not be built; the tests that need them will be skipped" >&2
	@scripts/chromium.sh ensure || \
	  echo "warning: chromium and chromium-driver could not be installed; the browser tests will be skipped" >&2
	@scripts/validators.sh ensure || \
	  echo "warning: the export validators (compliance-trestle, xmlschema) could not be installed; the export validation tests will be skipped" >&2
	@scripts/prometheus.sh ensure || \
	  echo "warning: prometheus and promtool could not be installed; the metrics and rules tests will be skipped" >&2
	@rm -rf "$(TEST_LOGS)" && mkdir -p "$(TEST_LOGS)"
	@scripts/secret-scan.sh --self-test
	COMPLIANCE_TEST_LOGS="$(TEST_LOGS)" bash -o pipefail -c '$(CARGO) test --workspace 2>&1 | tee "$(TEST_LOGS)/cargo-test.txt"'
	scripts/secret-scan.sh "$(TEST_LOGS)" "$(TEST_LOGS)/cargo-test.txt"
	$(MAKE) fuzz-smoke

# Every fuzz target (fuzz/, docs/fuzzing.md) built and run for FUZZ_SECONDS each from its
# seed corpus; a crash fails the run. Without a nightly toolchain it says SKIPPED.
# The smoke run builds without a sanitizer and unoptimised: a clean clone then compiles the
# targets' ~390 crates in minutes (AddressSanitizer and optimisation took 58 min here);
# campaigns (scripts/fuzz.sh campaign) keep both.
FUZZ_SECONDS ?= 15
FUZZ_SMOKE_SANITIZER ?= none
FUZZ_SMOKE_PROFILE ?= dev
fuzz-smoke:
	FUZZ_SANITIZER=$(FUZZ_SMOKE_SANITIZER) FUZZ_PROFILE=$(FUZZ_SMOKE_PROFILE) scripts/fuzz.sh smoke $(FUZZ_SECONDS)

bench: bench-elastic bench-benchmarker bench-controller bench-server bench-findings
	$(CARGO) bench -p compliance-core --bench report
	scripts/bench-cluster.sh 1000 10000

# The benchmarker daemon for 120 runs with its store down: CPU per run, and memory that
# must level off once the queue is full (scripts/bench-benchmarker.sh).
bench-benchmarker:
	scripts/bench-benchmarker.sh

# compliance-controller over 1,000 GlobalReports owning 10,000 Jobs on the test kit's real
# kube-apiserver: pass times, API requests per pass, peak memory.
bench-controller:
	scripts/bench-controller.sh 1000 10

# compliance-server over one 10,000-node report and 1,000 small ones, on SQLite and on the
# fake Elasticsearch: page and API latency (curl), list requests per second (wrk, installed
# with apt-get when missing) and memory while 20 clients download the large report's CSV.
bench-server:
	scripts/bench-server.sh sqlite fake-es

# The reporter against a fake Elasticsearch serving 1,000 and 10,000 nodes.
# Findings over time: the diff of two 10,000-node reports and the lifecycle over 30 daily
# ones, on SQLite, with results redrawn every day (scripts/bench-findings.sh).
bench-findings:
	scripts/bench-findings.sh 10000 30 churn

bench-elastic:
	scripts/bench-elastic.sh 1000 10000

# The container image (see Dockerfile). Its cache mounts need BuildKit, which DOCKER_BUILDKIT=1
# turns on where it is not the default (Docker 20.10).
image:
	DOCKER_BUILDKIT=1 $(DOCKER) build -t $(IMAGE) \
		--build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) .

# Where no base image can be pulled: the runtime stage on a local debootstrap stand-in for the
# distroless base, with host-built binaries, run read-only as UID 65532 (scripts/image-check.sh).
image-check:
	DOCKER=$(DOCKER) CARGO=$(CARGO) scripts/image-check.sh

# The benchmarker image: compliance-benchmarker with kube-bench on Debian slim, the Dockerfile's
# benchmarker target (manifests/compliance-benchmarker.yaml runs it on every node).
image-benchmarker:
	DOCKER_BUILDKIT=1 $(DOCKER) build --target benchmarker -t $(BENCHMARKER_IMAGE) \
		--build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) .

# The benchmarker target where nothing can be pulled: local stand-ins for Debian slim and the
# kube-bench image, host-built binaries, run the way the DaemonSet runs it
# (scripts/image-check-benchmarker.sh).
image-check-benchmarker:
	DOCKER=$(DOCKER) CARGO=$(CARGO) scripts/image-check-benchmarker.sh

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(OUT) $(DB) $(DB)-wal $(DB)-shm

# Rewrites manifests/crds/ from the Rust types (crates/kube/src/crd.rs); `make test` fails when
# they drift.
crds:
	$(CARGO) run --quiet --bin compliancectl -- crds --output-dir manifests/crds

# Two images from one file.
#
# The reporter image (the last stage, so a plain build gives it): every binary of src/bin
# in /usr/local/bin, compliance-reporter as the entrypoint, running as UID 65532 on a
# read-only root filesystem. The controller's Deployment (manifests/compliance-controller.yaml)
# runs /usr/local/bin/compliance-controller from it, and the server's
# (manifests/compliance-server.yaml) /usr/local/bin/compliance-server.
#
#   make image                       # docker build -t cis-compliance:$(VERSION) .
#   docker run --rm cis-compliance:0.1.0            # the reporter, configured by env
#   docker run --rm --entrypoint compliancectl cis-compliance:0.1.0 --help
#
# The benchmarker image (target `benchmarker`): compliance-benchmarker with kube-bench, the
# node DaemonSet of manifests/compliance-benchmarker.yaml.
#
#   make image-benchmarker           # docker build --target benchmarker \
#                                    #   -t cis-compliance-benchmarker:$(VERSION) .
#
# Needs BuildKit (the default builder of current Docker; DOCKER_BUILDKIT=1 on 20.10), which
# also builds only the stages the chosen target needs: the reporter build never pulls the
# kube-bench or Debian images.
#
# Stages:
#   builder      compiles all binaries with the locked dependencies (the default)
#   prebuilt     takes binaries built outside instead: a build context with the binaries in
#                bin/ and --build-arg BINARIES=prebuilt (see scripts/image-check.sh)
#   kube-bench   Aqua Security's kube-bench image, only copied from
#   benchmarker  the benchmarker image
#   runtime      the reporter image (the last stage, built by default)
#
# The base images are arguments so that mirrors or pinned digests can be used.
#
# kube-bench (KUBE_BENCH_IMAGE) is pinned to v0.16.0, its latest release when this was
# written (release PR aquasecurity/kube-bench#2128; Aqua's own deployments moved to it).
# Its benchmarks are YAML files in its image's /opt/kube-bench/cfg; the benchmarker
# passes the platform's benchmark when that cfg has it, and otherwise `--version
# MAJOR.MINOR`, which kube-bench maps through its version_mapping, so a newer kube-bench
# brings newer benchmarks without a change to this project: raise the tag and rebuild. The benchmarker stage takes from that image, at the paths its Dockerfile puts
# them: the kube-bench binary (/usr/local/bin), its checks (/opt/kube-bench/cfg) and its
# helper script for file ownership checks (/go/bin, copied when present). kube-bench is a
# Go program built on the Debian-based golang image, so it runs on the Debian base below.
# Its image's kubectl is deliberately left out: the benchmarker takes the Kubernetes
# version from the node's own kubelet or kubectl (the host's /usr/bin, mounted by the
# DaemonSet), and a kubectl of the image would report the image's version as the node's
# whenever the API server cannot be reached. The policies checks (section 5) use the
# node's kubectl through PATH when there is one.
#
# The benchmarker cannot be distroless: kube-bench runs every audit as a script for
# /bin/sh (ps, stat, grep, awk, find, xargs, jq, openssl). Its own image is Alpine
# with procps, findutils, openssl, jq and bash added; BENCHMARKER_BASE_IMAGE is Debian slim
# (the family of the reporter's distroless base) with the same tools. Alpine's /bin/sh
# accepts bash's [[ ]], which some checks use, and Debian's (dash) does not, so /bin/sh is
# bash here.
#
# kube-bench's default --config-dir is the relative ./cfg/: the image's KUBE_BENCH_ARGS
# names /opt/kube-bench/cfg explicitly, and the working directory is /opt/kube-bench, so
# KUBE_BENCH_ARGS set without --config-dir still finds the checks.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARIES=builder
ARG KUBE_BENCH_IMAGE=docker.io/aquasec/kube-bench:v0.16.0
# kubectl for kube-bench's policies checks, whose audits call it (the cluster-scope
# Deployment runs them): the upstream static binary.
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.33.4
ARG BENCHMARKER_BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /build
# Only what `cargo build --bins` reads (the workspace's manifests and sources; the tests are
# left out by .dockerignore): a change to the tests or the docs keeps this layer.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
# Without line tables (Cargo.toml's release profile keeps them for profiling), cargo also
# strips debug information, which makes each binary about 13 MB instead of 80 MB; function
# names stay, so panic backtraces are still readable. --build-arg RELEASE_DEBUG=1 keeps them.
ARG RELEASE_DEBUG=0
ENV CARGO_PROFILE_RELEASE_DEBUG=${RELEASE_DEBUG}
# The registry and the target directory are cache mounts, so a rebuild after a source change
# recompiles the workspace's crates only, not the ~400 dependencies. The target directory does not
# survive the RUN, so the binaries are copied out of it; every src/bin/*.rs is one binary.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    set -eu; \
    cargo build --release --locked --bins; \
    mkdir -p /out/bin; \
    for source in src/bin/*.rs; do \
        cp "target/release/$(basename "$source" .rs)" /out/bin/; \
    done; \
    ls -l /out/bin

FROM scratch AS prebuilt
COPY bin/ /out/bin/

# The stage the runtime copies from, chosen by BINARIES.
FROM ${BINARIES} AS binaries

FROM ${KUBE_BENCH_IMAGE} AS kube-bench
FROM ${KUBECTL_IMAGE} AS kubectl

FROM ${BENCHMARKER_BASE_IMAGE} AS benchmarker
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="cis-compliance-benchmarker" \
      org.opencontainers.image.description="Runs the CIS Kubernetes benchmark (kube-bench) on its node every hour and stores the results for the compliance reporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# The tools kube-bench's audits call (bash, coreutils, grep, sed, mawk and findutils are
# already in Debian slim). Installed only when missing, so a base that has them already
# builds without a network. Then /bin/sh becomes bash (see the header).
ARG BENCHMARKER_PACKAGES="procps jq openssl ca-certificates bash findutils"
RUN set -eu; \
    missing=""; \
    for p in ${BENCHMARKER_PACKAGES}; do \
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    ln -sf bash /bin/sh; \
    /bin/sh -c '[[ -x /bin/sh ]]'
COPY --from=kube-bench /usr/local/bin/kube-bench /usr/local/bin/
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=kube-bench /opt/kube-bench/cfg/ /opt/kube-bench/cfg/
# The globs let a kube-bench image without the script (or without /go/bin) still build:
# BuildKit accepts a pattern that matches nothing, but not a missing directory before it.
COPY --from=kube-bench /g[o]/bin/check_files_owner_in_dir.s[h] /usr/local/bin/
COPY --from=binaries /out/bin/compliance-benchmarker /usr/local/bin/
# The node's /usr/bin, mounted here by the DaemonSet, last: commands the image lacks are
# found there (as in kube-bench's own image), the image's own come first.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/mount-from-host/bin
ENV KUBE_BENCH_ARGS="--json --config-dir /opt/kube-bench/cfg"
WORKDIR /opt/kube-bench
# Root: capabilities (the DaemonSet adds DAC_READ_SEARCH only) are effective for UID 0
# only, and kube-bench reads root-only files. Nothing is written outside /tmp.
USER 0:0
# The health endpoints (HEALTH_PORT): /liveness and /readiness.
EXPOSE 9099
ENTRYPOINT ["/usr/local/bin/compliance-benchmarker"]

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="cis-compliance" \
      org.opencontainers.image.description="CIS Kubernetes benchmark compliance reports: per-node HIGH/MED/LOW ratings, top failed tests and CSV downloads" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# Owned by root and not writable by the user the binaries run as.
COPY --from=binaries /out/bin/ /usr/local/bin/
# A numeric user, so that runAsNonRoot can check it without an /etc/passwd lookup.
USER 65532:65532
# The only place anything is written by default: the embedded SQLite store
# (sqlite:compliance.db, relative to here) and its -wal/-shm files. With a read-only root
# filesystem, mount a writable volume (an emptyDir in Kubernetes) here to use SQLite; with
# Elasticsearch (ELASTIC_URL or ELASTIC_HOST) nothing is written to disk. COMPLIANCE_OUTPUT_DIR,
# when set, must also point at a writable volume.
WORKDIR /data
# The health endpoints (HEALTH_ENABLED, HEALTH_PORT): the reporter's /liveness, and the
# controller's and the server's /liveness and /readiness.
EXPOSE 9099
# compliance-server's HTTPS (LISTEN_ADDR).
EXPOSE 5443
ENTRYPOINT ["/usr/local/bin/compliance-reporter"]

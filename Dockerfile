# The container image: every binary of src/bin in /usr/local/bin, compliance-reporter as
# the entrypoint, running as UID 65532 on a read-only root filesystem.
#
#   make image                       # docker build -t cis-compliance:$(VERSION) .
#   docker run --rm cis-compliance:0.1.0            # the reporter, configured by env
#   docker run --rm --entrypoint compliancectl cis-compliance:0.1.0 --help
#
# Needs BuildKit (the default builder of current Docker; DOCKER_BUILDKIT=1 on 20.10).
#
# Stages:
#   builder   compiles all binaries with the locked dependencies (the default)
#   prebuilt  takes binaries built outside instead: a build context with the binaries in
#             bin/ and --build-arg BINARIES=prebuilt (see scripts/image-check.sh)
#   runtime   the image itself (the last stage, built by default)
#
# The base images are arguments so that mirrors or pinned digests can be used.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARIES=builder

FROM ${RUST_IMAGE} AS builder
WORKDIR /build
# Only what `cargo build --bins` reads: a change to the tests or the docs keeps this layer.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Without line tables (Cargo.toml's release profile keeps them for profiling), cargo also
# strips debug information, which makes each binary about 13 MB instead of 80 MB; function
# names stay, so panic backtraces are still readable. --build-arg RELEASE_DEBUG=1 keeps them.
ARG RELEASE_DEBUG=0
ENV CARGO_PROFILE_RELEASE_DEBUG=${RELEASE_DEBUG}
# The registry and the target directory are cache mounts, so a rebuild after a source change
# recompiles this crate only, not the ~400 dependencies. The target directory does not
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
# The liveness endpoint (HEALTH_ENABLED, HEALTH_PORT).
EXPOSE 9099
ENTRYPOINT ["/usr/local/bin/compliance-reporter"]

# Not built in this project's CI (there is no container runtime there): its
# instructions are checked against the repository by tests/tests/container_files.rs.
#
#   docker build -t calplanebot .
#   docker run -d --env-file .env -p 8765:8765 -v calplanebot-data:/data calplanebot

# The toolchain rust-toolchain.toml pins, on the Debian release the runtime
# stage uses, so the binary runs with the glibc it was linked against.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY rust-toolchain.toml ./
# rustup does not add rust-toolchain.toml's targets to a toolchain that is
# already installed; the host's build script compiles the guest for this one.
RUN rustup target add wasm32-wasip2
# Cargo reads every workspace member's manifest, even to build one package.
COPY Cargo.toml Cargo.lock ./
COPY wit/ wit/
COPY guest/ guest/
COPY host/ host/
COPY tests/ tests/
RUN cargo build --release --locked -p calplanebot

# debian:bookworm-slim rather than distroless: the binary has no probe
# subcommand, so the HEALTHCHECK needs curl (and distroless has no shell).
# ca-certificates: rediss:// verifies Redis against the system trust store
# (the guest's outbound HTTPS carries its own roots).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric UID: a runtime can verify it is not root, and a volume's
# ownership stays right across rebuilds.
RUN groupadd --system --gid 10001 calplanebot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin calplanebot \
 && install -d -m 700 -o 10001 -g 10001 /data
COPY --from=build /src/target/release/calplanebot /usr/local/bin/calplanebot
USER 10001:10001
# The store and its compiled-code cache; with --store redis://… the cache is
# data/cache under the working directory, so it stays in the volume too.
WORKDIR /data
# A new named volume takes this folder's owner (a bind mount does not).
VOLUME /data
# The host's default is 127.0.0.1, unreachable from outside the container.
ENV HOST=0.0.0.0 PORT=8765 CALPLANEBOT_STORE=/data/calplanebot.redb
EXPOSE 8765
# The host drains for --shutdown-grace (8 s), inside the 10 s most runtimes
# wait before SIGKILL.
STOPSIGNAL SIGTERM
# The first start compiles the guest (cached in the volume afterwards).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["calplanebot"]
CMD ["serve"]

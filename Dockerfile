# Boxoffice in a container: a multi-stage build (the Rust toolchain only in
# the build stage) and a small Debian slim runtime running `boxoffice serve`.
#
#   docker build -t boxoffice .
#   docker run -p 8080:8080 -v boxoffice-data:/data boxoffice            # no accounts yet:
#   docker run -p 8080:8080 -v boxoffice-data:/data \
#     -e BOXOFFICE_ADMIN_EMAIL=you@example.com -e BOXOFFICE_ADMIN_PASSWORD='at least 12 chars' boxoffice
#   docker run -p 8080:8080 boxoffice serve --demo                       # demo data, throwaway
#
# The data dir (/data) is a volume: the store, its write-ahead log and the key
# files (/data/keys) live there and must outlive the container. Every flag is
# also a BOXOFFICE_* variable (README.md, "Configuration").
# Not built in this repository's CI: its machine has no container engine.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin boxoffice \
 && cp target/release/boxoffice /usr/local/bin/boxoffice

FROM debian:bookworm-slim
# curl is for HEALTHCHECK only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data boxoffice \
 && mkdir /data && chown boxoffice /data && chmod 0700 /data
COPY --from=build /usr/local/bin/boxoffice /usr/local/bin/boxoffice
USER boxoffice
ENV BOXOFFICE_BIND=0.0.0.0:8080 \
    BOXOFFICE_DATA_DIR=/data \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8080
# Ready once recovery is done and the store can commit (503 otherwise).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
# SIGTERM drains in-flight requests, flushes and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["boxoffice"]
CMD ["serve"]

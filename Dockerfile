# syntax=docker/dockerfile:1
# The guestbook container image: one binary on Debian slim, as a non-root user, with
# its SQLite database and secret key on the /data volume. docs/deploying.md ("The container
# image") says how to run it; compose.yaml runs it behind nginx on PostgreSQL and Redis.
#
#   docker build -t guestbook .
#   docker run -p 8000:8000 -v guestbook-data:/data guestbook

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# --- build ------------------------------------------------------------------------------------
# The full rust image has what the bundled C libraries need to build from source: gcc for
# SQLite and libpq, make and perl for OpenSSL. `dist` is the whole-program-optimised profile
# (docs/deploying.md, "Building for production"); `bundled` links libpq and OpenSSL in, so
# the runtime image needs neither.
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crates.io downloads and the compiled dependencies between builds,
# so a change to the application recompiles only the application. The binary is copied out
# of the mounted target/ in the same step, since the mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --profile dist --features bundled --locked --bin guestbook \
    && cp target/dist/guestbook /usr/local/bin/guestbook

# --- run --------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# Trust roots for TLS to Redis (rediss://) and PostgreSQL (sslrootcert=system). OpenSSL is
# built into the binary and knows no system paths of its own, hence SSL_CERT_FILE.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_DIR=/etc/ssl/certs
# A fixed uid/gid, so a bind-mounted /data can be prepared with `chown 10001:10001`.
RUN groupadd --system --gid 10001 guestbook \
    && useradd --system --uid 10001 --gid guestbook --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin guestbook \
    && install -d -m 0700 -o guestbook -g guestbook /data
# Static assets, templates and migrations are inside the binary: nothing else is copied.
COPY --from=build /usr/local/bin/guestbook /usr/local/bin/guestbook
COPY --chmod=0755 deploy/healthcheck.sh /usr/local/bin/guestbook-healthcheck

# SQLite by default, in the volume; without SECRET_KEY the key is generated once and kept
# beside the database (/data/db.sqlite3.secret-key, mode 600). Set ALLOWED_HOSTS to the names
# the site is reached by.
ENV DATABASE_URL=/data/db.sqlite3 \
    BIND_ADDR=0.0.0.0:8000 \
    ALLOWED_HOSTS=localhost,127.0.0.1,[::1] \
    RUST_LOG=info
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

# Ready means the database and Redis (when configured) answer: GET /readyz, with bash alone.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["guestbook-healthcheck"]

ENTRYPOINT ["guestbook"]
CMD ["serve"]

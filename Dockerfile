# syntax=docker/dockerfile:1
# One image for every Slipstream program: `docker build -t slipstream:local .` builds the
# workspace once, and each service of compose.yaml runs this image with its own command
# (`api`, `producer`, `consumer`, `consumer redrive`, `slipstream-keys`, `api-import`, …).
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# BuildKit keeps the crate registry and the target directory between builds, so a change to
# one crate rebuilds that crate and what depends on it, not librdkafka and every dependency.
# The target directory is a cache, not a layer: the binaries are copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        --bin api --bin api-import --bin api-export \
        --bin producer --bin consumer --bin slipstream-keys \
    && mkdir /out \
    && cd target/release \
    && cp api api-import api-export producer consumer slipstream-keys /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home slipstream
COPY --from=build /out/ /usr/local/bin/
USER slipstream
WORKDIR /data
ENV LOG_FORMAT=json
# No entrypoint: compose (or `docker run slipstream:local api`) names the program to run.
CMD ["api"]

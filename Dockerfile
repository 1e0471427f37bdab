# One image per service: `docker build --build-arg BIN=api .` (api, producer, consumer).
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
COPY . .
ARG BIN
# Every image carries `slipstream-keys` too, to manage keys where the services run.
RUN cargo build --release --locked --bin "$BIN" --bin slipstream-keys \
    && cp "target/release/$BIN" /service && cp target/release/slipstream-keys /slipstream-keys

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home slipstream
COPY --from=build /service /usr/local/bin/service
COPY --from=build /slipstream-keys /usr/local/bin/slipstream-keys
USER slipstream
WORKDIR /data
ENV LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/service"]

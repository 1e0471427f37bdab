//! The monitoring of `monitoring/`, checked with the real tools: promtool on the Prometheus
//! config and alert rules, the Grafana dashboards against their provisioning, and a real
//! Prometheus (Debian's `prometheus` package) scraping the whole pipeline while records flow.
//! `prometheus` and `promtool` must be on the PATH: without them these tests fail, they do
//! not skip (`apt-get install prometheus`).

// A failing live test prints the logs of Prometheus and the pipeline: stderr is for that.
#![allow(clippy::print_stderr)]

mod files;
mod grafana;
mod live;
mod prometheus;
mod promtool;

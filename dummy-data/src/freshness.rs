//! How fresh recommendations are: the time from an event upload until a fan of its sport is
//! recommended that event (SPEC §6 wants at most a second at data set M).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct FreshnessArgs {
    /// Base URL of the api.
    #[arg(long, default_value = "http://127.0.0.1:8098")]
    pub api: String,
    /// Event uploads to measure.
    #[arg(long, default_value_t = 100)]
    pub uploads: usize,
    /// An api key with the `write` and `recommend` scopes (the admin key holds both).
    #[arg(long, env = "SLIPSTREAM_ADMIN_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Longest wait for one upload to show before the run fails.
const DEADLINE: Duration = Duration::from_secs(10);

pub fn run(args: &FreshnessArgs, out: &mut impl Write) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Failed to start an async runtime")?;
    let mut latencies = runtime.block_on(measure(args))?;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    writeln!(
        out,
        "freshness: {} uploads, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    )
    .context("Failed to write the summary")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure(args: &FreshnessArgs) -> Result<Vec<Duration>> {
    if args.uploads == 0 {
        bail!("--uploads must be at least 1");
    }
    let api = Api {
        http: crate::upload::client(args.key.as_deref())?,
        base: args.api.trim_end_matches('/').to_owned(),
    };
    let run = Utc::now().timestamp_micros();
    let mut latencies = Vec::with_capacity(args.uploads);
    for round in 0..args.uploads {
        // A sport of its own makes the fan's answer predictable: the new event must lead it.
        let sport = format!("freshness {run} {round}");
        let watched = api.create("/events", &event(&sport, 1)).await?;
        let fan = api
            .create(
                "/users",
                &json!({"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "X"}),
            )
            .await?;
        let coupon =
            json!({"user_id": fan, "stake": 1, "selections": [{"event_id": watched, "odds": 2}]});
        api.create("/coupons", &coupon).await?;

        let started = Instant::now();
        let new = api.create("/events", &event(&sport, 2)).await?;
        while api.first_recommended(fan).await? != Some(new) {
            if started.elapsed() > DEADLINE {
                bail!("event {new} did not reach user {fan} within {DEADLINE:?}");
            }
        }
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

fn event(sport: &str, hours_ahead: i64) -> Value {
    let begin = Utc::now() + chrono::Duration::hours(hours_ahead);
    json!({
        "begin_timestamp": begin.to_rfc3339(),
        "end_timestamp": (begin + chrono::Duration::hours(2)).to_rfc3339(),
        "country": "GB", "league": "Freshness League", "sport": sport,
        "participants": ["Home", "Away"],
    })
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn create(&self, path: &str, body: &Value) -> Result<i64> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .context("The api is unreachable")?;
        let status = response.status();
        let answer: Value = response.json().await.context("The api answered no JSON")?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {answer}");
        }
        answer["id"].as_i64().context("The api answered no id")
    }

    async fn first_recommended(&self, user: i64) -> Result<Option<i64>> {
        let url = format!("{}/recommendation/{user}?limit=1", self.base);
        let answer: Value = self
            .http
            .get(url)
            .send()
            .await
            .context("The api is unreachable")?
            .json()
            .await?;
        Ok(answer["events"][0]["id"].as_i64())
    }
}

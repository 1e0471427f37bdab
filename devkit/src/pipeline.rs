//! The services of one pipeline and the settings that wire them together, made in one place
//! for `slipstream-dev up` and the end-to-end tests, from the names in
//! `slipstream_model::contract` (which compose's static test holds `compose.yaml` to).

use std::process::Command;

use slipstream_model::contract::{settings, Service};
use slipstream_runtime::auth::Scope;

use crate::keys::DevKeys;

/// Where the parts of a pipeline are: each service's port, Kafka, the database and the keys.
#[derive(Debug, Clone)]
pub struct Wiring<'a> {
    pub kafka: String,
    /// Prefix of the pipeline's topic names (empty for the documented names).
    pub topic_prefix: String,
    pub database_url: String,
    pub keys: &'a DevKeys,
    /// One per api replica; the consumers forward to all of them.
    pub api_ports: Vec<u16>,
    pub producer_port: u16,
    /// The consumers' health ports, in [`Service::CONSUMERS`]' order.
    pub consumer_ports: [u16; 3],
}

/// One service to run: its name, binary, port and environment.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub binary: &'static str,
    pub port: u16,
    pub env: Vec<(&'static str, String)>,
}

impl ServiceSpec {
    /// The command running `program` (this spec's binary, wherever it was found) with the
    /// spec's port and environment.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new(program);
        command
            .env(settings::PORT, self.port.to_string())
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `/ready`: the api has built its recommendations, the producer reaches Kafka, a
    /// consumer has its partitions. Only then does a posted record flow straight through.
    pub fn ready_url(&self) -> String {
        format!("{}/ready", self.url())
    }
}

/// The name of api replica `n` (from 0): `api`, then `api-2`, `api-3`, … as in compose.
pub fn api_name(n: usize) -> String {
    match n {
        0 => Service::API.name.to_owned(),
        _ => format!("{}-{}", Service::API.name, n + 1),
    }
}

impl Wiring<'_> {
    /// Every service in start order: the api replicas, the producer, the consumers. Each
    /// reads the key file; the consumers send the write key.
    pub fn services(&self) -> Vec<ServiceSpec> {
        let keys_file = (
            settings::AUTH_KEYS_FILE,
            self.keys.file.display().to_string(),
        );
        let mut kafka = vec![(settings::KAFKA_BOOTSTRAP_SERVERS, self.kafka.clone())];
        if !self.topic_prefix.is_empty() {
            kafka.push((settings::TOPIC_PREFIX, self.topic_prefix.clone()));
        }
        let api_url = (self.api_ports.iter())
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut specs: Vec<ServiceSpec> = (self.api_ports.iter().enumerate())
            .map(|(n, &port)| ServiceSpec {
                name: api_name(n),
                binary: Service::API.binary,
                port,
                env: vec![
                    (settings::DATABASE_URL, self.database_url.clone()),
                    (settings::DATABASE_APPLICATION_NAME, api_name(n)),
                    keys_file.clone(),
                ],
            })
            .collect();
        let mut producer_env = kafka.clone();
        producer_env.push(keys_file.clone());
        specs.push(ServiceSpec {
            name: Service::PRODUCER.name.to_owned(),
            binary: Service::PRODUCER.binary,
            port: self.producer_port,
            env: producer_env,
        });
        for (consumer, port) in Service::CONSUMERS.iter().zip(self.consumer_ports) {
            let mut env = kafka.clone();
            let topic = consumer.topic.map(|kind| kind.as_str()).unwrap_or_default();
            env.extend([
                (settings::TOPIC, topic.to_owned()),
                (settings::API_URL, api_url.clone()),
                (settings::API_KEY, self.keys.key(Scope::Write).to_owned()),
                keys_file.clone(),
            ]);
            specs.push(ServiceSpec {
                name: consumer.name.to_owned(),
                binary: consumer.binary,
                port,
                env,
            });
        }
        specs
    }
}

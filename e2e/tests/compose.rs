//! `compose.yaml` cannot be run here (no Docker engine), so it is checked against what the
//! binaries accept: every variable a service sets is one its binary reads and parses, every
//! published port and health check is the port it listens on, and the services point at each
//! other by the names and ports compose gives them. The README's settings table is checked
//! against the binaries the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{Command, CommandFactory, Parser};
use serde_norway::Value;
use slipstream_devkit::pipeline::api_name;
use slipstream_model::contract::{settings, Service};
use slipstream_model::Kind;

/// Variables the services read outside their flags (tracing's filter).
const ALSO_READ: &[&str] = &["RUST_LOG"];

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
}

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(name)).expect("file readable");
    let mut value: Value = serde_norway::from_str(&text).expect("valid YAML");
    value.apply_merge().expect("merge keys resolve");
    value
}

/// The image the Dockerfile builds, which every Slipstream service of compose runs.
const IMAGE: &str = "slipstream:local";

/// A compose service running our image, with what its binary makes of it.
struct Built {
    name: String,
    bin: String,
    /// The command's words after the binary's name.
    args: Vec<String>,
    env: BTreeMap<String, String>,
    service: Value,
}

fn built_services(compose: &Value) -> Vec<Built> {
    let services = compose["services"].as_mapping().expect("services");
    services
        .iter()
        .filter(|(_, service)| service["image"].as_str() == Some(IMAGE))
        .map(|(name, service)| {
            let name = scalar(name);
            let mut command = service["command"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name}: a command naming its program"))
                .iter()
                .map(scalar);
            let bin = command
                .next()
                .unwrap_or_else(|| panic!("{name}: an empty command"));
            let env = service["environment"]
                .as_mapping()
                .into_iter()
                .flatten()
                .map(|(k, v)| (scalar(k), scalar(v)))
                .collect();
            Built {
                name,
                bin,
                args: command.collect(),
                env,
                service: service.clone(),
            }
        })
        .collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn command_of(bin: &str) -> Command {
    match bin {
        "api" => api::Config::command(),
        "producer" => producer::Config::command(),
        "consumer" => consumer::Config::command(),
        other => panic!("compose builds `{other}`, which is not a service binary"),
    }
}

/// Parses the service's settings as its binary would, through the flags the variables stand
/// for, so a value the binary would refuse fails here.
fn parse(built: &Built) -> Result<(), clap::Error> {
    let command = command_of(&built.bin);
    let mut args = vec![built.bin.clone()];
    args.extend(built.args.iter().cloned());
    for (key, value) in &built.env {
        // A value compose takes from the environment (`${VAR:?…}`) is the operator's to give.
        if value.starts_with("${") {
            continue;
        }
        if let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == key.as_str()))
        {
            args.push(format!("--{}={value}", arg.get_long().expect("long flag")));
        }
    }
    match built.bin.as_str() {
        "api" => api::Config::try_parse_from(args).map(drop),
        "producer" => producer::Config::try_parse_from(args).map(drop),
        _ => consumer::Config::try_parse_from(args).map(drop),
    }
}

/// The port the service listens on: its `PORT`, or the binary's default.
fn port(built: &Built) -> String {
    built.env.get("PORT").cloned().unwrap_or_else(|| {
        let command = command_of(&built.bin);
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == "PORT"))
            .expect("a PORT setting");
        arg.get_default_values()[0].to_string_lossy().into_owned()
    })
}

#[test]
fn every_variable_a_service_sets_is_read_and_accepted_by_its_binary() {
    let compose = yaml("compose.yaml");
    let services = built_services(&compose);
    assert!(services.len() >= 5, "api, producer and three consumers");
    for built in &services {
        let command = command_of(&built.bin);
        let known: BTreeSet<String> = command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .chain(ALSO_READ.iter().map(|s| s.to_string()))
            .collect();
        for key in built.env.keys() {
            assert!(
                known.contains(key),
                "{}: {} does not read {key}",
                built.name,
                built.bin
            );
        }
        if let Err(e) = parse(built) {
            panic!("{}: {} refuses its settings: {e}", built.name, built.bin);
        }
    }
}

/// Every service that builds builds the one image, the same way, so `up --build` builds it
/// once; every service running it names its program, and that program takes its command.
fn assert_one_image(compose: &Value) {
    let services = compose["services"].as_mapping().expect("services");
    let mut builds = BTreeSet::new();
    for (name, service) in services {
        if service["build"].is_null() {
            continue;
        }
        assert_eq!(
            service["image"].as_str(),
            Some(IMAGE),
            "{name:?} builds an image of its own"
        );
        builds.insert(format!("{:?}", service["build"]));
    }
    assert_eq!(builds.len(), 1, "one build for every service: {builds:?}");
    let built = built_services(compose);
    for service in &built {
        assert!(
            !service.service["build"].is_null(),
            "{}: `up --build` would not build the image it runs",
            service.name
        );
        parse(service).unwrap_or_else(|e| panic!("{}: {e}", service.name));
    }
    let programs: BTreeSet<&str> = built.iter().map(|s| s.bin.as_str()).collect();
    let binaries = Service::ALL.iter().map(|s| s.binary).collect();
    assert_eq!(programs, binaries, "the services");
}

#[test]
fn the_services_are_the_contracts_by_name_program_topic_and_port() {
    let compose = yaml("compose.yaml");
    let built = built_services(&compose);
    let names: BTreeSet<&str> = built.iter().map(|b| b.name.as_str()).collect();
    let expected: BTreeSet<&str> = Service::ALL.iter().map(|s| s.name).collect();
    assert_eq!(names, expected);
    for service in Service::ALL {
        let built = built
            .iter()
            .find(|b| b.name == service.name)
            .expect("listed");
        assert_eq!(built.bin, service.binary, "{}", service.name);
        let topic = built.env.get(settings::TOPIC).map(String::as_str);
        assert_eq!(topic, service.topic.map(|k| k.as_str()), "{}", service.name);
        if service.topic.is_none() {
            let published = format!("{0}:{0}", service.port);
            assert_eq!(port(built), service.port.to_string(), "{}", service.name);
            assert_eq!(
                built.service["ports"][0].as_str(),
                Some(published.as_str()),
                "{}",
                service.name
            );
        }
    }
    // The PostgreSQL override adds replicas named as `slipstream-dev up` names them.
    let replicas: Vec<String> = built_services(&with_postgres())
        .into_iter()
        .filter(|b| b.bin == Service::API.binary)
        .map(|b| b.name)
        .collect();
    let named: Vec<String> = (0..replicas.len()).map(api_name).collect();
    assert_eq!(replicas, named);
}

#[test]
fn every_service_runs_the_one_image_with_a_command_its_program_accepts() {
    assert_one_image(&yaml("compose.yaml"));
    assert_one_image(&with_postgres());
}

#[test]
fn published_ports_and_health_checks_use_the_port_each_service_listens_on() {
    let compose = yaml("compose.yaml");
    for built in built_services(&compose) {
        let port = port(&built);
        for mapping in built.service["ports"].as_sequence().into_iter().flatten() {
            let mapping = scalar(mapping);
            let container = mapping.rsplit(':').next().expect("a port");
            assert_eq!(container, port, "{}: publishes {mapping}", built.name);
        }
        let check = built.service["healthcheck"]["test"]
            .as_sequence()
            .expect("a health check");
        let url = check
            .iter()
            .map(scalar)
            .find(|a| a.starts_with("http"))
            .expect("a URL");
        assert_eq!(
            url,
            format!("http://localhost:{port}/health"),
            "{}",
            built.name
        );
    }
}

#[test]
fn services_reach_each_other_by_their_compose_names_and_ports() {
    let compose = yaml("compose.yaml");
    let services = built_services(&compose);
    let api = services.iter().find(|s| s.bin == "api").expect("an api");
    let api_url = format!("http://{}:{}", api.name, port(api));
    let kafka = &compose["services"]["kafka"];
    let listeners = scalar(&kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]);
    let mut topics = Vec::new();
    for built in &services {
        if built.bin == "consumer" {
            topics.push(built.env["TOPIC"].clone());
            assert_eq!(built.env["API_URL"], api_url, "{}", built.name);
        }
        if let Some(bootstrap) = built.env.get("KAFKA_BOOTSTRAP_SERVERS") {
            assert!(
                listeners.contains(&format!("//{bootstrap}")),
                "{}: {bootstrap}",
                built.name
            );
        }
    }
    topics.sort();
    let mut every: Vec<String> = Kind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    every.sort();
    assert_eq!(topics, every, "one consumer per topic");

    let all = compose["services"].as_mapping().expect("services");
    for (name, service) in all {
        for (dependency, condition) in service["depends_on"].as_mapping().into_iter().flatten() {
            let target = &compose["services"][dependency];
            assert!(
                !target.is_null(),
                "{}: depends on unknown {dependency:?}",
                scalar(name)
            );
            if condition["condition"].as_str() == Some("service_healthy") {
                assert!(
                    !target["healthcheck"].is_null(),
                    "{dependency:?} has no health check"
                );
            }
        }
    }
}

/// The topics the `topics` service creates: its command's words after `for topic in`.
fn created_topics(command: &str) -> BTreeSet<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let start = words
        .windows(3)
        .position(|w| w == ["for", "topic", "in"])
        .expect("a loop over the topics")
        + 3;
    words[start..]
        .iter()
        .map(|w| w.trim_end_matches(';'))
        .take_while(|w| *w != "do")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_topics_service_creates_what_the_services_use_before_they_start() {
    let compose = yaml("compose.yaml");
    let setup = &compose["services"]["topics"];
    let command = scalar(&setup["command"][0]);
    let created = created_topics(&command);
    let mut used = BTreeSet::new();
    for built in built_services(&compose).iter().filter(|b| b.bin != "api") {
        let condition = &built.service["depends_on"]["topics"]["condition"];
        assert_eq!(
            condition.as_str(),
            Some("service_completed_successfully"),
            "{} starts before the topics exist",
            built.name
        );
        if built.bin == "consumer" {
            let mut args = vec!["consumer".to_owned()];
            args.extend(built.env.get("TOPIC").map(|t| format!("--topic={t}")));
            let config = consumer::Config::try_parse_from(args).expect("a consumer's settings");
            let kafka = &config.kafka;
            used.extend([
                kafka.topic(config.topic),
                kafka.dead_letter_topic(config.topic),
            ]);
            let partitions = format!("--partitions {}", kafka.topic_partitions);
            let replication = format!("--replication-factor {}", kafka.topic_replication);
            assert!(command.contains(&partitions), "{command}");
            assert!(command.contains(&replication), "{command}");
        }
    }
    assert_eq!(created, used, "topics created and topics used");
    assert!(
        command.contains("--if-not-exists"),
        "a restart must not fail"
    );
}

#[test]
fn prometheus_scrapes_each_service_where_compose_serves_it() {
    let compose = yaml("compose.yaml");
    let served: BTreeSet<String> = built_services(&compose)
        .iter()
        .map(|b| format!("{}:{}", b.name, port(b)))
        .collect();
    let prometheus = yaml("monitoring/prometheus/prometheus.yml");
    let scraped: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape configs")
        .iter()
        .flat_map(|job| {
            job["static_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|config| config["targets"].as_sequence().cloned().unwrap_or_default())
        .map(|target| scalar(&target))
        .collect();
    assert_eq!(scraped, served);
}

#[test]
fn no_secret_is_written_into_the_file() {
    let compose = yaml("compose.yaml");
    for (name, service) in compose["services"].as_mapping().expect("services") {
        for (key, value) in service["environment"].as_mapping().into_iter().flatten() {
            let (key, value) = (scalar(key), scalar(value));
            // A `…_FILE` setting names where a secret is mounted, not the secret.
            let secret = ["PASSWORD", "SECRET", "TOKEN", "KEY"]
                .iter()
                .any(|w| key.contains(w))
                && !key.ends_with("_FILE");
            assert!(
                !secret || value.starts_with("${"),
                "{}: {key} must come from the environment",
                scalar(name)
            );
        }
    }
}

#[test]
fn every_service_checks_keys_from_a_mounted_secret_and_consumers_send_theirs() {
    let compose = yaml("compose.yaml");
    let secrets = compose["secrets"].as_mapping().expect("top-level secrets");
    assert!(
        secrets.contains_key("slipstream-keys"),
        "no key file secret"
    );
    for built in built_services(&compose) {
        let mounted: Vec<String> = built.service["secrets"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(scalar)
            .collect();
        assert!(
            mounted.contains(&"slipstream-keys".to_owned()),
            "{}: {mounted:?}",
            built.name
        );
        assert_eq!(
            built.env.get("AUTH_KEYS_FILE").map(String::as_str),
            Some("/run/secrets/slipstream-keys"),
            "{}",
            built.name
        );
        assert!(!built.env.contains_key("AUTH_DISABLED"), "{}", built.name);
        if built.bin == "consumer" {
            let key = built.env.get("API_KEY").cloned().unwrap_or_default();
            assert!(
                key.starts_with("${SLIPSTREAM_WRITE_KEY:?"),
                "{}: API_KEY {key}",
                built.name
            );
        }
    }
}

#[test]
fn monitoring_is_published_on_this_machine_only_and_grafana_needs_a_password() {
    let compose = yaml("compose.yaml");
    for name in ["prometheus", "grafana"] {
        let service = &compose["services"][name];
        for mapping in service["ports"].as_sequence().expect("ports") {
            assert!(
                scalar(mapping).starts_with("127.0.0.1:"),
                "{name} publishes {mapping:?}"
            );
        }
    }
    let grafana = &compose["services"]["grafana"]["environment"];
    let password = scalar(&grafana["GF_SECURITY_ADMIN_PASSWORD"]);
    assert!(
        password.starts_with("${GRAFANA_ADMIN_PASSWORD:?"),
        "{password}"
    );
    assert_eq!(scalar(&grafana["GF_AUTH_ANONYMOUS_ENABLED"]), "false");
    let prometheus = &compose["services"]["prometheus"];
    let mounted: Vec<String> = prometheus["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(scalar)
        .collect();
    assert_eq!(mounted, ["slipstream-metrics-key"]);
    let config = std::fs::read_to_string(repo_file("monitoring/prometheus/prometheus.yml"))
        .expect("prometheus.yml");
    let jobs = config.matches("job_name:").count();
    let with_key = config
        .matches("credentials_file: /run/secrets/slipstream-metrics-key")
        .count();
    assert_eq!(
        with_key, jobs,
        "every job scrapes with the mounted metrics key"
    );
}

#[test]
fn the_image_is_built_once_in_stages_with_a_cache_and_runs_as_a_user_without_privileges() {
    let dockerfile = std::fs::read_to_string(repo_file("Dockerfile")).expect("a Dockerfile");
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert_eq!(stages.len(), 2, "a build stage and a small runtime stage");
    let (build, runtime) = (stages[0], stages[1]);
    assert_eq!(
        build.matches("cargo build").count(),
        1,
        "the workspace is built once"
    );
    for cache in ["/usr/local/cargo/registry", "/src/target"] {
        assert!(
            build.contains(&format!("--mount=type=cache,target={cache}")),
            "{cache} is cached between builds"
        );
    }
    for program in [
        "api",
        "producer",
        "consumer",
        "slipstream-keys",
        "api-import",
    ] {
        assert!(
            build.contains(&format!("--bin {program} ")),
            "{program} is built"
        );
    }
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(!["root", "0"].contains(&user.trim()), "runs as {user}");
    assert!(
        !runtime.contains("ENTRYPOINT"),
        "each service names its program as its command"
    );
    let ignored = std::fs::read_to_string(repo_file(".dockerignore")).expect("a .dockerignore");
    let ignored: BTreeSet<&str> = ignored.lines().map(str::trim).collect();
    for path in ["target", "secrets", ".env"] {
        assert!(ignored.contains(path), "{path} is sent to the build");
    }
}

#[test]
fn the_readme_documents_every_setting_of_every_binary() {
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("a README");
    let (_, settings) = readme
        .split_once("## Ports and settings")
        .expect("a settings section");
    let (settings, _) = settings.split_once("\n## ").expect("a section after it");
    for bin in ["api", "producer", "consumer"] {
        for arg in command_of(bin).get_arguments() {
            if let Some(env) = arg.get_env() {
                let name = format!("`{}`", env.to_string_lossy());
                assert!(settings.contains(&name), "README lacks {bin}'s {name}");
            }
        }
    }
}

/// `compose.yaml` with `compose.postgres.yaml` on top, merged as compose merges files:
/// mappings key by key, anything else replaced.
fn with_postgres() -> Value {
    fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Mapping(base), Value::Mapping(over)) => {
                for (key, value) in over {
                    match base.get_mut(key) {
                        Some(existing) => merge(existing, value),
                        None => {
                            base.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            (base, over) => *base = over.clone(),
        }
    }
    let mut compose = yaml("compose.yaml");
    merge(&mut compose, &yaml("compose.postgres.yaml"));
    compose
}

#[test]
fn the_postgres_override_runs_two_api_replicas_the_consumers_spread_over() {
    let compose = with_postgres();
    let services = built_services(&compose);
    for built in &services {
        parse(built).unwrap_or_else(|e| panic!("{}: {e}", built.name));
    }
    let apis: Vec<&Built> = services.iter().filter(|s| s.bin == "api").collect();
    assert_eq!(apis.len(), 2, "two replicas");
    let postgres = &compose["services"]["postgres"];
    assert!(
        !postgres["healthcheck"].is_null(),
        "PostgreSQL has a health check"
    );
    let user = scalar(&postgres["environment"]["POSTGRES_USER"]);
    let database = scalar(&postgres["environment"]["POSTGRES_DB"]);
    let mut names = BTreeSet::new();
    for api in &apis {
        let url = &api.env["DATABASE_URL"];
        assert!(
            url.starts_with(&format!("postgres://{user}:${{"))
                && url.ends_with(&format!("@postgres:5432/{database}")),
            "{}: {url}",
            api.name
        );
        assert_eq!(
            api.service["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy"),
            "{}",
            api.name
        );
        assert!(names.insert(api.env["DATABASE_APPLICATION_NAME"].clone()));
        assert!(!api.service["healthcheck"].is_null(), "{}", api.name);
    }
    let all_apis: Vec<String> = apis
        .iter()
        .map(|api| format!("http://{}:{}", api.name, port(api)))
        .collect();
    for consumer in services.iter().filter(|s| s.bin == "consumer") {
        let urls: Vec<&str> = consumer.env["API_URL"].split(',').collect();
        assert_eq!(urls, all_apis, "{}", consumer.name);
        for api in &apis {
            assert!(
                !consumer.service["depends_on"][api.name.as_str()].is_null(),
                "{} waits for {}",
                consumer.name,
                api.name
            );
        }
    }
    let published: BTreeSet<String> = apis
        .iter()
        .flat_map(|api| api.service["ports"].as_sequence().into_iter().flatten())
        .map(scalar)
        .collect();
    assert_eq!(published.len(), 2, "each replica on a port of its own");
    assert!(
        compose["volumes"].get("postgres-data").is_some(),
        "the database outlives its container"
    );
}

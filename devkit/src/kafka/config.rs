//! The broker's settings: one node that is both broker and KRaft controller, on loopback.

use std::fmt::Write as _;
use std::path::Path;

use super::secured::SecuredListener;

/// The ports and storage of one broker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeConfig<'a> {
    pub port: u16,
    pub controller_port: u16,
    pub log_dir: &'a Path,
    /// A SASL_SSL listener besides the plain one.
    pub secured: Option<&'a SecuredListener>,
}

impl NodeConfig<'_> {
    /// Renders `server.properties`.
    ///
    /// Replication factors and in-sync minimums are 1 because there is one node; topics are
    /// never auto-created, as in production, so a misspelt topic fails instead of silently
    /// appearing; internal topics get few partitions, because creating the default 50 makes
    /// the first consumer group on a fresh broker wait. After a crash the node cannot register
    /// again until its previous registration's session expires, so the session is short
    /// (4 s instead of 9 s), which is what a crash-and-restart test waits for.
    pub fn server_properties(&self) -> String {
        let Self {
            port,
            controller_port,
            log_dir,
            secured,
        } = *self;
        let (mut listeners, mut advertised) = (
            format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
            format!("PLAINTEXT://127.0.0.1:{port}"),
        );
        let mut protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned();
        if let Some(secured) = secured {
            listeners += &format!(",SASL_SSL://127.0.0.1:{}", secured.port);
            advertised += &format!(",SASL_SSL://127.0.0.1:{}", secured.port);
            protocols += ",SASL_SSL:SASL_SSL";
        }
        let mut text = String::from("# Written by slipstream-devkit for each start.\n");
        let settings = [
            ("process.roles", "broker,controller".to_owned()),
            ("node.id", "1".to_owned()),
            (
                "controller.quorum.voters",
                format!("1@127.0.0.1:{controller_port}"),
            ),
            ("listeners", listeners),
            ("advertised.listeners", advertised),
            ("listener.security.protocol.map", protocols),
            ("controller.listener.names", "CONTROLLER".to_owned()),
            ("inter.broker.listener.name", "PLAINTEXT".to_owned()),
            ("log.dirs", log_dir.display().to_string()),
            ("num.partitions", "6".to_owned()),
            ("auto.create.topics.enable", "false".to_owned()),
            ("offsets.topic.replication.factor", "1".to_owned()),
            ("offsets.topic.num.partitions", "5".to_owned()),
            ("transaction.state.log.replication.factor", "1".to_owned()),
            ("transaction.state.log.min.isr", "1".to_owned()),
            ("transaction.state.log.num.partitions", "5".to_owned()),
            (
                "share.coordinator.state.topic.replication.factor",
                "1".to_owned(),
            ),
            ("share.coordinator.state.topic.min.isr", "1".to_owned()),
            ("group.initial.rebalance.delay.ms", "0".to_owned()),
            ("broker.heartbeat.interval.ms", "1000".to_owned()),
            ("broker.session.timeout.ms", "4000".to_owned()),
            ("log.segment.bytes", (64 * 1024 * 1024).to_string()),
        ];
        for (key, value) in settings {
            let _ = writeln!(text, "{key}={value}");
        }
        for (key, value) in secured
            .map(SecuredListener::server_properties)
            .unwrap_or_default()
        {
            let _ = writeln!(text, "{key}={value}");
        }
        text
    }
}

/// A new random cluster id in Kafka's format: a UUID as 22 characters of unpadded URL-safe
/// base64. Like Kafka's own generator, it never starts with `-`, which the format tool's
/// argument parser would take for an option.
pub(crate) fn new_cluster_id() -> String {
    loop {
        let id = base64_url(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(group >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_22_url_safe_characters() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{id}"
        );
        assert!(!id.starts_with('-'));
    }

    #[test]
    fn base64_url_matches_the_standard_encoding() {
        assert_eq!(base64_url(b"Man"), "TWFu");
        assert_eq!(base64_url(b"Ma"), "TWE");
        assert_eq!(base64_url(b"M"), "TQ");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn properties_name_both_listeners_on_loopback() {
        let config = NodeConfig {
            port: 1234,
            controller_port: 1235,
            log_dir: Path::new("/data"),
            secured: None,
        };
        let text = config.server_properties();
        let listeners = "listeners=PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235\n";
        assert!(text.contains(listeners));
        assert!(text.contains("controller.quorum.voters=1@127.0.0.1:1235\n"));
        assert!(text.contains("log.dirs=/data\n"));
    }
}

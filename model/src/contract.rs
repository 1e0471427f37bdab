//! The wire contract between the services, written once: what the api answers and the
//! consumer branches on, the headers that travel between them, the topic names, and the list
//! of services with the settings that wire them together.
//!
//! A string one service writes and another reads lives here and nowhere else, so that
//! changing it is a compile error at every reader rather than a silent mismatch at run time.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Kind;

/// Declares the problem types once: the enum, each one's slug, and the list of all.
macro_rules! problem_types {
    ($($(#[doc = $doc:literal])* $variant:ident = $slug:literal,)+) => {
        /// The `type` of a problem+json answer (RFC 9457): a short slug clients branch on.
        // Written as its variant's name in kebab case, which is also its slug (a test holds
        // the two together): the OpenAPI derive reads `rename_all`, not a rename made here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum ProblemType {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ProblemType {
            /// Every problem type, in the order declared.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $slug,)+
                }
            }
        }
    };
}

problem_types! {
    /// 422: fields failed validation; `errors` names each.
    Validation = "validation",
    /// 400: the body is not JSON.
    MalformedJson = "malformed-json",
    /// 400: JSON, but not the shape the route takes (a number where an object goes, …).
    MalformedBody = "malformed-body",
    /// 413: the body is over the route's limit.
    PayloadTooLarge = "payload-too-large",
    /// 415: the body is not `application/json`.
    UnsupportedMediaType = "unsupported-media-type",
    /// 400: a path parameter is not what the route takes.
    InvalidPath = "invalid-path",
    /// 400 or 422: a query parameter is not what the route takes.
    InvalidQuery = "invalid-query",
    /// 409: a record with this id is stored already, with other values.
    IdConflict = "id-conflict",
    /// 409: no id is left to assign.
    IdsExhausted = "ids-exhausted",
    /// 409: a coupon names a user or event not stored (yet); `missing` lists them.
    MissingReference = "missing-reference",
    /// 409: a regeneration is running already.
    GenerateRunning = "generate-running",
    /// 404.
    NotFound = "not-found",
    /// 405.
    MethodNotAllowed = "method-not-allowed",
    /// 401: no key, or not a valid one.
    Unauthenticated = "unauthenticated",
    /// 403: the key lacks the route's scope.
    Forbidden = "forbidden",
    /// 429: the key made too many requests.
    RateLimited = "rate-limited",
    /// 408: the request took longer than the service's limit.
    Timeout = "timeout",
    /// 503: a part the service needs is not there; try again after `Retry-After`.
    Unavailable = "unavailable",
    /// 503: too many open connections.
    Overloaded = "overloaded",
    /// 500: logged on the service, nothing said to the client.
    Internal = "internal",
}

impl ProblemType {
    /// Whether the api refuses the record itself, so that sending it again cannot help: only
    /// these may send a message to a dead-letter topic. Any other refusal (a 404 from a
    /// gateway, an unknown route, a key refused) says the way to the api is wrong, not the
    /// record.
    pub const fn is_record_verdict(self) -> bool {
        matches!(
            self,
            Self::Validation
                | Self::MalformedJson
                | Self::MalformedBody
                | Self::PayloadTooLarge
                | Self::IdConflict
                | Self::IdsExhausted
                | Self::MissingReference
        )
    }

    /// The `type` of a problem+json body; `None` for anything else, or a type not ours.
    pub fn of_body(body: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Typed {
            #[serde(rename = "type")]
            kind: ProblemType,
        }
        serde_json::from_str::<Typed>(body).ok().map(|t| t.kind)
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message went to a dead-letter topic: its `dlq-reason` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// The message is not JSON; the api never saw it.
    NotJson,
    /// The api refused the record with one of its verdicts (`dlq-problem` says which).
    Rejected,
    /// A coupon's user or event did not arrive within the consumer's timeout.
    MissingReference,
}

impl DeadLetterReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not-json",
            Self::Rejected => "rejected",
            Self::MissingReference => "missing-reference",
        }
    }
}

/// One record of a batch's answer (a POST of a JSON array answers 200 with one per record, in
/// order): what a POST of the record alone would have answered, 201 (stored) or 200 (stored
/// before, the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem<R> {
    pub status: u16,
    pub record: R,
}

/// HTTP headers the services read from each other and from clients.
pub mod http_headers {
    /// A request's id: kept when well formed, made otherwise, and on every log line.
    pub const REQUEST_ID: &str = "x-request-id";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
}

/// Kafka message headers (SPEC §4), and those a dead letter carries besides.
pub mod kafka_headers {
    pub const CONTENT_TYPE: &str = "content-type";
    pub const SCHEMA_VERSION: &str = "schema-version";
    /// The HTTP request's `x-request-id`, for the consumer to pass on.
    pub const REQUEST_ID: &str = "request-id";
    pub const TRACEPARENT: &str = "traceparent";
    /// What every dead-letter header starts with, so a redrive can take them off again.
    pub const DEAD_LETTER_PREFIX: &str = "dlq-";
    pub const DEAD_LETTER_REASON: &str = "dlq-reason";
    pub const DEAD_LETTER_STATUS: &str = "dlq-status";
    pub const DEAD_LETTER_PROBLEM: &str = "dlq-problem";
    pub const DEAD_LETTER_TOPIC: &str = "dlq-original-topic";
    pub const DEAD_LETTER_PARTITION: &str = "dlq-original-partition";
    pub const DEAD_LETTER_OFFSET: &str = "dlq-original-offset";
    pub const DEAD_LETTER_TIME: &str = "dlq-time";
    /// How many times `consumer redrive` moved the message back to its topic: not a
    /// dead-letter header, so it stays on through the next round.
    pub const REDRIVE_COUNT: &str = "redrive-count";
}

/// The version of the record JSON a message carries.
pub const SCHEMA_VERSION: &str = "1";

/// The topic of `kind`'s records: `<prefix><kind>`, e.g. `coupons`.
pub fn topic(prefix: &str, kind: Kind) -> String {
    format!("{prefix}{}", kind.as_str())
}

/// Where `kind`'s consumer puts the messages the api refused for good: `<topic>.dlq`.
pub fn dead_letter_topic(prefix: &str, kind: Kind) -> String {
    format!("{}.dlq", topic(prefix, kind))
}

/// The settings that wire the services together, by their environment variable: every
/// service, `slipstream-dev up`, the tests and compose name them the same way.
pub mod settings {
    pub const HOST: &str = "HOST";
    pub const PORT: &str = "PORT";
    pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
    pub const TOPIC_PREFIX: &str = "TOPIC_PREFIX";
    /// The consumer's topic.
    pub const TOPIC: &str = "TOPIC";
    /// Where the consumer forwards: the api's base URLs, comma separated.
    pub const API_URL: &str = "API_URL";
    /// The consumer's key for the api (`write` scope).
    pub const API_KEY: &str = "API_KEY";
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The name an api replica's database connections carry.
    pub const DATABASE_APPLICATION_NAME: &str = "DATABASE_APPLICATION_NAME";
    /// The file of key hashes every service verifies keys against.
    pub const AUTH_KEYS_FILE: &str = "AUTH_KEYS_FILE";
}

/// A Slipstream service as it is deployed: its name (in compose, in `slipstream-dev up`, in
/// the tests), the binary it runs, and its port where all run on one host (`slipstream-dev
/// up`), which is also the binary's default for the api and the producer (a consumer listens
/// on 8100 by default, each in its own container in compose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub binary: &'static str,
    pub port: u16,
    /// The topic a consumer consumes.
    pub topic: Option<Kind>,
}

impl Service {
    pub const API: Self = Self::new("api", "api", 8098, None);
    pub const PRODUCER: Self = Self::new("producer", "producer", 8099, None);
    /// One per topic, in [`Kind::ALL`]'s order, on consecutive ports.
    pub const CONSUMERS: [Self; 3] = [
        Self::new("consumer-users", "consumer", 8101, Some(Kind::Users)),
        Self::new("consumer-events", "consumer", 8102, Some(Kind::Events)),
        Self::new("consumer-coupons", "consumer", 8103, Some(Kind::Coupons)),
    ];
    /// Every service, in the order they start: each after those it sends to.
    pub const ALL: [Self; 5] = [
        Self::API,
        Self::PRODUCER,
        Self::CONSUMERS[0],
        Self::CONSUMERS[1],
        Self::CONSUMERS[2],
    ];

    const fn new(name: &'static str, binary: &'static str, port: u16, topic: Option<Kind>) -> Self {
        Self {
            name,
            binary,
            port,
            topic,
        }
    }

    /// The consumer of `kind`'s topic.
    pub const fn consumer(kind: Kind) -> Self {
        match kind {
            Kind::Users => Self::CONSUMERS[0],
            Kind::Events => Self::CONSUMERS[1],
            Kind::Coupons => Self::CONSUMERS[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_type_is_written_and_read_as_its_slug() {
        let written = serde_json::to_string(&ProblemType::MissingReference).expect("JSON");
        assert_eq!(written, r#""missing-reference""#);
        assert_eq!(ProblemType::MissingReference.as_str(), "missing-reference");
        assert_eq!(
            ProblemType::of_body(r#"{"type":"missing-reference","status":409}"#),
            Some(ProblemType::MissingReference)
        );
        assert_eq!(ProblemType::of_body(r#"{"type":"teapot"}"#), None);
        assert_eq!(ProblemType::of_body("not json"), None);
    }

    #[test]
    fn as_str_is_the_serialised_slug_of_every_type() {
        for &kind in ProblemType::ALL {
            let written = serde_json::to_string(&kind).expect("JSON");
            assert_eq!(written, format!("\"{kind}\""));
            let body = format!(r#"{{"type":{written}}}"#);
            assert_eq!(ProblemType::of_body(&body), Some(kind));
        }
    }

    #[test]
    fn each_consumer_is_found_by_its_topic() {
        for kind in Kind::ALL {
            assert_eq!(Service::consumer(kind).topic, Some(kind));
        }
    }
}

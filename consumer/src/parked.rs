//! Messages a lane set aside because the records they name are not stored yet, by Kafka key:
//! the lane goes on with other keys while these wait, and a key's later messages wait behind
//! its first, so each key keeps its order (a user's coupons are keyed by the user).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use tokio::time::Instant;

/// A Kafka key, or none.
type Key = Option<Vec<u8>>;

/// The waiting messages of one lane.
#[derive(Default)]
pub struct Parked {
    keys: HashMap<Key, Waiting>,
}

/// One key's messages, in offset order, each with when it began to wait (its
/// missing-reference timeout counts from then, not from its turn); the first is the one tried
/// again.
struct Waiting {
    messages: VecDeque<(OwnedMessage, Instant)>,
    /// Tries of the first so far, for its backoff.
    attempt: u32,
    due: Instant,
}

/// The first waiting message of a key that is due, and what its next try needs to know.
pub struct Due<'a> {
    pub key: Key,
    pub message: &'a OwnedMessage,
    pub since: Instant,
    pub attempt: u32,
}

impl Parked {
    /// Whether messages of this message's key wait: then it must wait behind them.
    pub fn holds(&self, message: &OwnedMessage) -> bool {
        !self.keys.is_empty() && self.keys.contains_key(&key(message))
    }

    /// Sets aside a message whose references are missing, to be tried again after `wait`, or
    /// queues it behind the messages of its key that already wait.
    pub fn park(&mut self, message: OwnedMessage, wait: Duration) {
        let now = Instant::now();
        self.keys
            .entry(key(&message))
            .or_insert_with(|| Waiting {
                messages: VecDeque::new(),
                attempt: 0,
                due: now + wait,
            })
            .messages
            .push_back((message, now));
    }

    /// When the next try is due; `None` when nothing waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.keys.values().map(|waiting| waiting.due).min()
    }

    /// A key whose first message is due now.
    pub fn due(&self) -> Option<Due<'_>> {
        let now = Instant::now();
        let (key, waiting) = self.keys.iter().find(|(_, w)| w.due <= now)?;
        let (message, since) = waiting.messages.front()?;
        Some(Due {
            key: key.clone(),
            message,
            since: *since,
            attempt: waiting.attempt,
        })
    }

    /// Takes the key's first message, done with; the next of the key, if any, is tried at
    /// once.
    pub fn finish_first(&mut self, key: &Key) -> Option<OwnedMessage> {
        let waiting = self.keys.get_mut(key)?;
        let first = waiting.messages.pop_front();
        if waiting.messages.is_empty() {
            self.keys.remove(key);
        } else {
            (waiting.attempt, waiting.due) = (0, Instant::now());
        }
        first.map(|(message, _)| message)
    }

    /// The key's first message is tried again after `wait`.
    pub fn postpone(&mut self, key: &Key, wait: Duration) {
        if let Some(waiting) = self.keys.get_mut(key) {
            waiting.attempt += 1;
            waiting.due = Instant::now() + wait;
        }
    }
}

fn key(message: &OwnedMessage) -> Key {
    message.key().map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(key: &str, offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(key.as_bytes().to_vec()),
            "coupons".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[test]
    fn a_keys_later_messages_wait_behind_its_first_and_follow_in_order() {
        let mut parked = Parked::default();
        parked.park(message("7", 1), Duration::ZERO);
        assert!(parked.holds(&message("7", 9)));
        assert!(!parked.holds(&message("8", 9)));
        parked.park(message("7", 3), Duration::ZERO);
        let due = parked.due().expect("due at once");
        assert_eq!(due.message.offset(), 1);
        let key = due.key;
        assert_eq!(parked.finish_first(&key).map(|m| m.offset()), Some(1));
        assert_eq!(parked.due().map(|d| d.message.offset()), Some(3));
        assert_eq!(parked.finish_first(&key).map(|m| m.offset()), Some(3));
        assert!(!parked.holds(&message("7", 9)));
        assert_eq!(parked.next_due(), None);
    }

    #[tokio::test]
    async fn a_postponed_key_is_not_due_until_its_wait_is_over() {
        let mut parked = Parked::default();
        parked.park(message("7", 1), Duration::from_secs(60));
        assert!(parked.due().is_none());
        parked.park(message("8", 2), Duration::ZERO);
        let due = parked.due().expect("8 is due");
        assert_eq!((due.message.offset(), due.attempt), (2, 0));
        let key = due.key;
        parked.postpone(&key, Duration::from_secs(60));
        assert!(parked.due().is_none());
        assert!(parked.next_due().is_some_and(|at| at > Instant::now()));
    }
}

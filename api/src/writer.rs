//! The writer task: the one owner of the write connection and of the recommender's write side.
//!
//! Handlers, `POST /recommendation/generate` and the periodic pass send it typed requests and
//! await its reply. It commits what is queued together (group commit: one transaction, one
//! fsync, for several requests), each request in a savepoint of its own so that a refused
//! batch leaves the others of its group stored; then it applies the group's changes to the
//! recommendations and answers each request. So the recommendations see writes in commit
//! order by construction, and a client that hangs up can only lose its answer: the group goes
//! on without it.
//!
//! A rebuild reads a snapshot in a task of its own while the writer goes on committing; the
//! writer keeps what it committed since the snapshot and applies it to the new index before
//! putting it in place.
//!
//! The counts a rebuild starts from (each user's tally, each event's popularity) are kept in
//! the index as coupons are committed, and written to the database once every
//! `flush_every` coupons, at the start of a group, with the users and events they changed:
//! each coupon's own transaction only lists it as not counted yet.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use slipstream_model::{Coupon, Event, User};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::FeedSettings;
use crate::error::{cause_chain, Error, Result};
use crate::metrics::{self, Trigger};
use crate::recommendations::{self, Change, Counts, Index, Recommender, Uncounted};
use crate::store::{self, Conn, Saved, Store, Table, Tx};

/// Requests waiting for the writer beyond this make their senders wait: the queue bounds
/// memory, not throughput.
const QUEUE: usize = 1_024;

/// A group stops growing at this many records: the transaction stays short enough that the
/// first request of a group is not kept waiting long for the last.
const GROUP_RECORDS: usize = 10_000;

/// A group with fewer records than this may wait [`LINGER`] for more.
const GROUP_TARGET: usize = 2_000;

/// How long a small group waits for more requests, when the writer is busy: a fraction of
/// what a commit of a few hundred coupons takes.
const LINGER: Duration = Duration::from_millis(2);

/// How often each replica prunes the feed, at most: its rows are kept for
/// [`FeedSettings::retention`], not to the minute.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Only a batch of at least this many records waits for others.
const LINGER_MIN_RECORDS: usize = 100;

/// A request arriving this soon after the last commit means the writer is busy.
const BUSY_WITHIN: Duration = Duration::from_millis(5);

/// What a rebuild answers: what the new index covers and how long the rebuild took.
pub type Rebuilt = (Counts, Duration);

/// The handle every sender holds; the writer stops when the last one is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    requests: mpsc::Sender<Request>,
}

/// A kind of record the writer stores, and what storing one changes in the recommendations.
pub trait Write: Table + Send + Sync + 'static {
    /// `listed` is the upload's `gen_recommendations` (only events use it).
    fn change(&self, listed: bool) -> Change;
}

impl Write for User {
    fn change(&self, _listed: bool) -> Change {
        Change::User(self.id.unwrap_or_default())
    }
}

impl Write for Event {
    fn change(&self, listed: bool) -> Change {
        Change::Event {
            event: self.clone(),
            listed,
        }
    }
}

impl Write for Coupon {
    fn change(&self, _listed: bool) -> Change {
        Change::coupon(self)
    }
}

enum Request {
    Save(Box<dyn Job>),
    Rebuild {
        trigger: Trigger,
        reply: oneshot::Sender<Result<Rebuilt>>,
    },
    Refresh,
    WriteCounts {
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Writer {
    /// Starts the writer task, which writes the counts once `flush_every` new coupons wait,
    /// and on a shared database follows the feed as `feed` says. The task runs until every
    /// `Writer` is dropped; its handle is for the caller to watch it.
    pub fn spawn(
        store: Store,
        recommender: Arc<Recommender>,
        flush_every: usize,
        feed: FeedSettings,
    ) -> (Self, JoinHandle<()>) {
        let (requests, queue) = mpsc::channel(QUEUE);
        let task = Task {
            store: store.clone(),
            recommender,
            queue,
            deferred: VecDeque::new(),
            build: None,
            next_build: Vec::new(),
            last_commit: None,
            uncounted: Uncounted::default(),
            flush_every,
            applied: 0,
            resync: false,
            tail: store.is_shared().then(|| {
                let first = tokio::time::Instant::now() + feed.poll;
                let mut tail = tokio::time::interval_at(first, feed.poll);
                tail.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tail
            }),
            feed,
            last_prune: Instant::now(),
        };
        (Self { requests }, tokio::spawn(task.run()))
    }

    /// Stores records (or recognises them as stored) in one unit: all of them or, when one is
    /// refused, none. Answers once they are on disk and in the recommendations.
    pub async fn save<R: Write>(&self, records: Vec<R>, listed: bool) -> Result<Vec<Saved<R>>> {
        let (reply, answer) = oneshot::channel();
        let batch = Batch {
            records,
            now: Utc::now(),
            listed,
            reply,
            span: tracing::Span::current(),
        };
        self.send(Request::Save(Box::new(batch))).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Rebuilds the recommendations from the stored data; writes go on meanwhile.
    pub async fn rebuild(&self, trigger: Trigger) -> Result<Rebuilt> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Rebuild { trigger, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes the counts of every coupon stored so far, so that a restart has none to
    /// recount; nothing to do before the first build.
    pub async fn write_counts(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::WriteCounts { reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Asks for the periodic pass: ended events leave the rankings, held-back ones join.
    pub async fn refresh(&self) {
        let _ = self.send(Request::Refresh).await;
    }

    async fn send(&self, request: Request) -> Result<()> {
        self.requests.send(request).await.map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::Internal(anyhow!("the writer task has stopped"))
}

/// One request to store records, as the writer runs it and answers it.
trait Job: Send {
    fn records(&self) -> usize;

    /// Saves the records inside the group's transaction, appending what they change.
    fn run<'a>(
        self: Box<Self>,
        tx: &'a mut Tx<'static>,
        changes: &'a mut Vec<Change>,
    ) -> BoxFuture<'a, Box<dyn Answer>>;

    /// The group could not even begin.
    fn fail(self: Box<Self>, error: Error);
}

/// A request's verdict, held until its group's commit decides whether it stands.
trait Answer: Send {
    fn send(self: Box<Self>, committed: Result<(), &Error>);
}

struct Batch<R> {
    records: Vec<R>,
    now: DateTime<Utc>,
    listed: bool,
    reply: oneshot::Sender<Result<Vec<Saved<R>>>>,
    /// The request's span, so the writer's log lines carry its request id.
    span: tracing::Span,
}

struct Verdict<R> {
    saved: Result<Vec<Saved<R>>>,
    reply: oneshot::Sender<Result<Vec<Saved<R>>>>,
}

impl<R: Write> Job for Batch<R> {
    fn records(&self) -> usize {
        self.records.len()
    }

    fn run<'a>(
        self: Box<Self>,
        tx: &'a mut Tx<'static>,
        changes: &'a mut Vec<Change>,
    ) -> BoxFuture<'a, Box<dyn Answer>> {
        let Self {
            records,
            now,
            listed,
            reply,
            span,
        } = *self;
        Box::pin(
            async move {
                let saved = store::save(&mut tx.conn(), records, now).await;
                if let Ok(saved) = &saved {
                    changes.extend(saved.iter().filter_map(|one| match one {
                        Saved::Created(record) => Some(record.change(listed)),
                        Saved::Replayed(_) => None,
                    }));
                }
                Box::new(Verdict { saved, reply }) as Box<dyn Answer>
            }
            .instrument(span),
        )
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

impl<R: Write> Answer for Verdict<R> {
    fn send(self: Box<Self>, committed: Result<(), &Error>) {
        let answer = match committed {
            Ok(()) => self.saved,
            Err(error) => Err(error.again()),
        };
        // The client may have hung up; what was committed stays committed.
        let _ = self.reply.send(answer);
    }
}

/// A rebuild reading its snapshot, and what the writer applied since: each change with its
/// feed number (0 on SQLite), so that on a shared database those the snapshot already holds
/// are not applied twice.
struct Build {
    trigger: Trigger,
    started: Instant,
    /// The feed number the snapshot reached; `None` on SQLite, whose snapshot holds nothing
    /// the writer applied after taking it.
    position: Option<u64>,
    since: Vec<(u64, Change)>,
    waiting: Vec<oneshot::Sender<Result<Rebuilt>>>,
    index: oneshot::Receiver<Result<(Index, Uncounted)>>,
}

struct Task {
    store: Store,
    recommender: Arc<Recommender>,
    queue: mpsc::Receiver<Request>,
    /// Requests taken off the queue while a group was gathered, to run after it in order.
    deferred: VecDeque<Request>,
    build: Option<Build>,
    /// Rebuilds asked for while one ran: they need a snapshot taken after their request.
    next_build: Vec<(Trigger, oneshot::Sender<Result<Rebuilt>>)>,
    /// When the last group was answered.
    last_commit: Option<Instant>,
    /// What the index counts that the stored counts do not.
    uncounted: Uncounted,
    flush_every: usize,
    /// The last feed number whose changes the index holds (shared databases only).
    applied: u64,
    /// Feed rows after `applied` were pruned before this replica read them: only a rebuild
    /// brings the index up to date, and nothing is applied until one starts.
    resync: bool,
    /// When to read the feed next; `None` when the database is not shared.
    tail: Option<tokio::time::Interval>,
    feed: FeedSettings,
    last_prune: Instant,
}

impl Task {
    async fn run(mut self) {
        loop {
            let request = match self.deferred.pop_front() {
                Some(request) => request,
                None => tokio::select! {
                    built = built(&mut self.build) => {
                        self.finish_build(built).await;
                        continue;
                    }
                    () = tick(&mut self.tail) => {
                        self.catch_up(u64::MAX).await;
                        self.prune().await;
                        continue;
                    }
                    request = self.queue.recv() => match request {
                        Some(request) => request,
                        None => break,
                    },
                },
            };
            match request {
                Request::Save(job) => {
                    let group = self.gather(job).await;
                    self.commit(group).await;
                    self.last_commit = Some(Instant::now());
                }
                Request::Rebuild { trigger, reply } => self.start_build(trigger, vec![reply]).await,
                Request::Refresh => self.refresh(),
                Request::WriteCounts { reply } => {
                    let _ = reply.send(self.write_counts_alone().await);
                }
            }
        }
        tracing::debug!("The writer stopped: nothing can send it requests any more.");
    }

    /// The first job and the saves queued behind it, up to the group's bound. Under
    /// sustained load a small group of batches waits [`LINGER`] for more: the consumers a
    /// commit just answered come back within a few milliseconds, and would otherwise each
    /// start a group of their own, paying a commit each.
    async fn gather(&mut self, first: Box<dyn Job>) -> Vec<Box<dyn Job>> {
        let mut records = first.records();
        let mut group = vec![first];
        // Batches (a consumer's backlog) arriving back to back: a lone record never waits.
        let busy = records >= LINGER_MIN_RECORDS
            && self
                .last_commit
                .is_some_and(|at| at.elapsed() < BUSY_WITHIN);
        let linger_until = busy.then(|| tokio::time::Instant::now() + LINGER);
        while records < GROUP_RECORDS {
            let next = match (self.queue.try_recv(), linger_until) {
                (Ok(request), _) => Some(request),
                (Err(TryRecvError::Empty), Some(until)) if records < GROUP_TARGET => {
                    tokio::time::timeout_at(until, self.queue.recv())
                        .await
                        .ok()
                        .flatten()
                }
                (Err(_), _) => None,
            };
            match next {
                Some(Request::Save(job)) => {
                    records += job.records();
                    group.push(job);
                }
                Some(other) => {
                    self.deferred.push_back(other);
                    break;
                }
                None => break,
            }
        }
        group
    }

    /// Runs a group in one transaction and answers each of its requests after the commit.
    #[tracing::instrument(skip_all, fields(requests = group.len()))]
    async fn commit(&mut self, group: Vec<Box<dyn Job>>) {
        let mut tx = match self.store.begin_write().await {
            Ok(tx) => tx,
            Err(error) => {
                for job in group {
                    job.fail(error.again());
                }
                return;
            }
        };
        let counted = if self.uncounted.coupons >= self.flush_every {
            match write_counts(&self.recommender, &self.uncounted, &mut tx.conn()).await {
                Ok(counted) => counted,
                Err(error) => {
                    for job in group {
                        job.fail(error.again());
                    }
                    return;
                }
            }
        } else {
            false
        };
        let mut changes = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        for job in group {
            answers.push(job.run(&mut tx, &mut changes).await);
        }
        let committed = match store::finish_group(&mut tx.conn(), &changes).await {
            Ok(seq) => tx.commit().await.map(|()| seq),
            Err(error) => Err(error),
        };
        match committed {
            Ok(seq) => {
                metrics::group_committed(answers.len());
                if counted {
                    self.uncounted = Uncounted::default();
                }
                match seq {
                    Some(seq) => self.apply_own(seq, changes).await,
                    None => self.apply(0, changes),
                }
                for answer in answers {
                    answer.send(Ok(()));
                }
            }
            Err(error) => {
                for answer in answers {
                    answer.send(Err(&error));
                }
            }
        }
    }

    fn apply(&mut self, seq: u64, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        self.recommender.apply(&changes);
        if !self.store.is_shared() {
            for change in &changes {
                self.uncounted.note(change);
            }
        }
        if let Some(build) = &mut self.build {
            build
                .since
                .extend(changes.into_iter().map(|change| (seq, change)));
        }
    }

    /// Applies a group this writer committed as feed number `seq`, after the groups other
    /// replicas committed before it. When those cannot be read now, the group waits for the
    /// feed too: its coupons may bet on an event one of them stored.
    async fn apply_own(&mut self, seq: u64, changes: Vec<Change>) {
        self.catch_up(seq - 1).await;
        if self.applied == seq - 1 {
            self.apply(seq, changes);
            self.applied = seq;
        }
    }

    /// Applies what other replicas committed, up to feed number `upto`, in feed order. A
    /// read that fails (the connection dropped) is tried again at the next tick, from the
    /// same number: nothing is skipped. Rows missing after `applied` were pruned (numbers
    /// have no gaps, and pruning keeps the newest row): the index is rebuilt instead.
    async fn catch_up(&mut self, upto: u64) {
        while !self.resync && self.applied < upto {
            let rows = match self.store.feed_since(self.applied, upto).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(error = %cause_chain(&error), "Failed to read the feed; trying again shortly.");
                    return;
                }
            };
            match rows.first() {
                // Nothing committed after `applied`; below `u64::MAX`, `upto` was committed.
                None if upto == u64::MAX => return,
                Some(&(first, _)) if first == self.applied + 1 => {}
                _ => {
                    tracing::warn!(
                        applied = self.applied,
                        "Feed rows this replica had not read were pruned; rebuilding the recommendations."
                    );
                    self.resync = true;
                    break;
                }
            }
            for (seq, changes) in rows {
                self.apply(seq, changes);
                self.applied = seq;
            }
        }
        if self.resync && self.build.is_none() {
            self.start_build(Trigger::Resync, Vec::new()).await;
        }
    }

    /// Deletes the feed's rows older than its retention, every [`PRUNE_EVERY`] at most; a
    /// failure waits for the next time.
    async fn prune(&mut self) {
        if self.last_prune.elapsed() < self.feed.retention.min(PRUNE_EVERY) {
            return;
        }
        self.last_prune = Instant::now();
        match self.store.prune_feed(self.feed.retention).await {
            Ok(rows) => tracing::debug!(rows, "Pruned the feed."),
            Err(error) => {
                tracing::warn!(error = %cause_chain(&error), "Failed to prune the feed; trying again later.");
            }
        }
    }

    /// [`write_counts`] in a transaction of its own.
    async fn write_counts_alone(&mut self) -> Result<()> {
        if self.uncounted.coupons == 0 {
            return Ok(());
        }
        let mut tx = self.store.begin_write().await?;
        if write_counts(&self.recommender, &self.uncounted, &mut tx.conn()).await? {
            tx.commit().await?;
            self.uncounted = Uncounted::default();
        }
        Ok(())
    }

    fn refresh(&mut self) {
        let started = Instant::now();
        let now = Utc::now().timestamp_micros();
        if let Some(build) = &mut self.build {
            // Whatever the snapshot holds, the pass is applied again on the new index.
            build.since.push((u64::MAX, Change::Refresh { now }));
        }
        if let Some((ended, listed)) = self.recommender.refresh(now) {
            metrics::regenerated(Trigger::Periodic, started.elapsed());
            tracing::info!(ended, listed, "Refreshed the recommendations.");
        }
    }

    /// Takes a snapshot between two groups and reads it in a task of its own.
    async fn start_build(
        &mut self,
        trigger: Trigger,
        waiting: Vec<oneshot::Sender<Result<Rebuilt>>>,
    ) {
        if self.build.is_some() {
            self.next_build
                .extend(waiting.into_iter().map(|reply| (trigger, reply)));
            return;
        }
        let started = Instant::now();
        let mut snapshot = match self.store.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                for reply in waiting {
                    let _ = reply.send(Err(error.again()));
                }
                return;
            }
        };
        let position = match Store::feed_head(&mut snapshot.conn()).await {
            Ok(position) => position,
            Err(error) => {
                for reply in waiting {
                    let _ = reply.send(Err(error.again()));
                }
                return;
            }
        };
        if let Some(position) = position.filter(|_| !self.recommender.is_ready() || self.resync) {
            // The first build, or one replacing an index that missed pruned rows: the feed
            // up to its snapshot is in it; nothing to read again.
            self.applied = self.applied.max(position);
            self.resync = false;
        }
        let (done, index) = oneshot::channel();
        let now = Utc::now().timestamp_micros();
        tokio::spawn(async move {
            let _ = done.send(recommendations::load(&mut snapshot.conn(), now).await);
        });
        self.build = Some(Build {
            trigger,
            started,
            position,
            since: Vec::new(),
            waiting,
            index,
        });
    }

    async fn finish_build(&mut self, built: Result<(Index, Uncounted)>) {
        let Some(build) = self.build.take() else {
            return;
        };
        let answer = built.map(|(index, recounted)| {
            // The coupons it recounted may predate this process: they are counted in memory
            // only, like the ones this writer stored.
            self.uncounted.absorb(recounted);
            let counts = index.counts();
            let since: Vec<Change> = (build.since.into_iter())
                .filter(|(seq, _)| build.position.is_none_or(|position| *seq > position))
                .map(|(_, change)| change)
                .collect();
            self.recommender.replace(index, &since);
            let took = build.started.elapsed();
            metrics::regenerated(build.trigger, took);
            tracing::info!(
                users = counts.users,
                events = counts.events,
                applied_since = since.len(),
                took_ms = took.as_millis() as u64,
                "Rebuilt the recommendations."
            );
            (counts, took)
        });
        // Whoever waits for the answer reports a failure (as a 500, or as the api's fatal
        // error at startup); a rebuild no one waits for is reported here.
        if let (Err(error), true) = (&answer, build.waiting.is_empty()) {
            tracing::error!(error = %cause_chain(error), "Failed to rebuild the recommendations.");
        }
        for reply in build.waiting {
            let _ = reply.send(match &answer {
                Ok(rebuilt) => Ok(*rebuilt),
                Err(error) => Err(error.again()),
            });
        }
        let next = std::mem::take(&mut self.next_build);
        if let Some(&(trigger, _)) = next.first() {
            let waiting = next.into_iter().map(|(_, reply)| reply).collect();
            self.start_build(trigger, waiting).await;
        }
    }
}

/// Writes what the index counts for the users and events whose counts changed, in the
/// group's transaction, before its requests run: their coupons are not in the index yet, and
/// stay listed as uncounted. `false` when there is no index to count from yet.
async fn write_counts(
    recommender: &Recommender,
    uncounted: &Uncounted,
    tx: &mut Conn<'_>,
) -> Result<bool> {
    let started = Instant::now();
    let Some(counted) = recommender.counts_of(uncounted) else {
        return Ok(false);
    };
    store::write_counts(tx, &counted.tallies, &counted.popularity).await?;
    tracing::debug!(
        coupons = uncounted.coupons,
        users = counted.tallies.len(),
        events = counted.popularity.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "Wrote the counts."
    );
    Ok(true)
}

/// The next tick of the feed's reader; never, on a database no one else writes.
async fn tick(tail: &mut Option<tokio::time::Interval>) {
    match tail {
        Some(tail) => {
            tail.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The running build's index once it is read; never, when none runs.
async fn built(build: &mut Option<Build>) -> Result<(Index, Uncounted)> {
    match build {
        Some(build) => (&mut build.index)
            .await
            .unwrap_or_else(|_| Err(anyhow!("the rebuild task failed").into())),
        None => std::future::pending().await,
    }
}

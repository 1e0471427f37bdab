//! The HTTP server every service runs: axum's router on hyper, with what `axum::serve` does
//! not bound. A client must send a request's headers within the header timeout of its first
//! byte, an idle keep-alive connection is closed after the idle timeout, and past the
//! connection bound a new connection is answered 503 and closed, so slow or idle clients
//! cannot hold a service's connections (SPEC §9).

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use slipstream_model::contract::ProblemType;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::problem::{Problem, CONTENT_TYPE as PROBLEM};

/// The bounds on the connections of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Seconds a client has, from the first byte of a request, to send all its headers.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay idle between requests before it is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub http_idle_timeout_secs: u64,
    /// Open connections at most; a connection past them is answered 503 and closed.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub http_max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_max_connections: 1024,
        }
    }
}

impl Limits {
    fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs.max(1))
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.http_idle_timeout_secs.max(1))
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets every open connection
/// finish its request in flight and returns once they are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.http_max_connections.max(1)));
    let shutdown = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken.
                    tracing::warn!(error = %e, "Failed to accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let connection = Connection {
                    router: router.clone(),
                    limits,
                    // A child each: a token's state sits behind a mutex that every poll of a
                    // waiting connection takes, and one shared token had both cores
                    // contend for it on every request.
                    shutdown: shutdown.child_token(),
                    _permit: permit,
                };
                connections.spawn(connection.serve(stream));
            }
            Err(_) => {
                connections.spawn(shed(stream));
            }
        }
    }
    shutdown.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Answers a connection over the bound with a 503 problem and closes it, having read what
/// the client sent so far so it sees the answer rather than a reset.
async fn shed(mut stream: TcpStream) {
    metrics::counter!("http_connections_shed_total").increment(1);
    let body = overloaded();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM}\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buffer = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The problem a shed connection is answered, written as hyper is not there to do it.
fn overloaded() -> String {
    let problem = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemType::Overloaded,
        "Too many open connections; try again shortly.",
    );
    serde_json::to_string(&problem).unwrap_or_default()
}

/// One accepted connection, holding its place under the bound until it closes.
struct Connection {
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let service = {
            let (router, activity) = (self.router.clone(), activity.clone());
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut router = router.clone();
                let activity = activity.clone();
                activity.request_started();
                async move {
                    let response = router.call(request).await;
                    activity.request_finished();
                    response
                }
            })
        };
        let builder = auto::Builder::new(TokioExecutor::new());
        let connection = builder.serve_connection(io, service);
        let mut connection = pin!(connection);
        let mut draining = false;
        loop {
            let deadline = activity.deadline(&self.limits);
            tokio::select! {
                biased;
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "Connection ended with an error.");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
                () = tokio::time::sleep_until(deadline) => {
                    if let Some(reason) = activity.expired(&self.limits) {
                        metrics::counter!("http_connections_closed_total", "reason" => reason).increment(1);
                        tracing::debug!(reason, "Connection closed.");
                        return;
                    }
                }
            }
        }
    }
}

/// What a connection is doing, as the watchdog in [`Connection::serve`] needs to know:
/// times are milliseconds since it opened.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the first byte of the next request arrived (+1; 0 while none has).
    receiving_since: AtomicU64,
    /// When the connection last became idle.
    idle_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            receiving_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.receiving_since.load(Ordering::Relaxed) == 0
        {
            self.receiving_since
                .store(self.now() + 1, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.receiving_since.store(0, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// The next time to look: when the header or idle timeout would run out.
    fn deadline(&self, limits: &Limits) -> Instant {
        let at =
            |since_ms: u64, limit: Duration| self.opened + Duration::from_millis(since_ms) + limit;
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Instant::now() + limits.header_timeout().min(limits.idle_timeout());
        }
        match self.receiving_since.load(Ordering::Relaxed) {
            0 => at(
                self.idle_since.load(Ordering::Relaxed),
                limits.idle_timeout(),
            ),
            since => at(since - 1, limits.header_timeout()),
        }
    }

    /// Why the connection must close now, if it must.
    fn expired(&self, limits: &Limits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let elapsed = |since_ms: u64| Duration::from_millis(self.now().saturating_sub(since_ms));
        match self.receiving_since.load(Ordering::Relaxed) {
            0 => (elapsed(self.idle_since.load(Ordering::Relaxed)) >= limits.idle_timeout())
                .then_some("idle"),
            since => (elapsed(since - 1) >= limits.header_timeout()).then_some("header_timeout"),
        }
    }
}

/// The socket, noting when bytes of a new request arrive.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

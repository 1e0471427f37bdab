//! The two checks: [`admit`] at the edge, [`scoped`] on each router.

use std::convert::Infallible;
use std::task::{Context, Poll};

use anyhow::bail;
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::{ready, Either, MapOk, Ready};
use futures::TryFutureExt;
use governor::clock::{Clock, DefaultClock};
use slipstream_model::contract::ProblemType;
use tower::{Layer, Service};

use super::store::{KeyStore, Principal};
use super::{AuthArgs, Scope, Scopes};
use crate::problem::Problem;

/// Routes open to anyone (SPEC §9): they hold no data. `/docs/…` are the docs page's assets.
const PUBLIC: [&str; 7] = [
    "/",
    "/health",
    "/ready",
    "/docs",
    "/docs/",
    "/docs/{*rest}",
    "/openapi.json",
];

/// How this service checks its callers.
#[derive(Debug, Clone)]
pub enum Auth {
    Keys(KeyStore),
    /// Every endpoint open: only ever by an explicit setting.
    Disabled,
}

impl Auth {
    /// Opens the key file and starts watching it; refuses to guess when neither a key file
    /// nor an explicit opt-out is given.
    pub fn from_args(args: &AuthArgs) -> anyhow::Result<Self> {
        match (&args.auth_keys_file, args.auth_disabled) {
            (_, true) => {
                tracing::warn!(
                    "Authentication is disabled (AUTH_DISABLED): every endpoint is open to anyone who reaches it."
                );
                Ok(Self::Disabled)
            }
            (Some(path), false) => {
                let store = KeyStore::open(path)?;
                store.watch();
                tracing::info!(file = %path.display(), active = store.active(), "Keys loaded.");
                Ok(Self::Keys(store))
            }
            (None, false) => bail!(
                "No key file: set AUTH_KEYS_FILE to a file written by `slipstream-keys create`, \
                 or AUTH_DISABLED=true to serve without authentication"
            ),
        }
    }
}

/// Marks a response as having passed a scope check, so [`Admission::finish`] can tell a
/// route that states no scope, and refuse it rather than serve it to any key.
#[derive(Debug, Clone, Copy)]
struct ScopeChecked;

/// What the edge learnt of a request's caller before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A public route, a request no route matched (answered 404/405 as usual), or
    /// authentication disabled: nothing to check afterwards.
    Open,
    /// A key was verified: the route must have checked its scope.
    Keyed,
}

impl Admission {
    /// Refuses the answer of a keyed request to a route that states no scope.
    pub fn finish(self, response: Response) -> Response {
        let routed = response.status() != StatusCode::METHOD_NOT_ALLOWED;
        if self == Self::Keyed && routed && response.extensions().get::<ScopeChecked>().is_none() {
            tracing::error!(
                "This route states no scope; refused. Wrap its router in `auth::scoped`."
            );
            return forbidden(None);
        }
        response
    }
}

/// Why a request was refused before its handler ran; answered as its problem.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// No key, or one that is malformed, unknown, revoked or wrong (`token_sent` tells the
    /// first from the others, for the challenge).
    Unauthenticated { token_sent: bool },
    /// The key's rate is spent for now.
    RateLimited { per_sec: u32, retry_after_secs: u64 },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated { token_sent } => unauthenticated(token_sent),
            Self::RateLimited {
                per_sec,
                retry_after_secs,
            } => rate_limited(per_sec, retry_after_secs),
        }
    }
}

/// Turns the bearer key of a request to `route` into its key's [`Scopes`] in the request's
/// extensions (every route but the public ones), and applies the key's rate limit.
pub fn admit(
    auth: &Auth,
    route: Option<&str>,
    request: &mut Request,
) -> Result<Admission, Refusal> {
    let Some(route) = route else {
        return Ok(Admission::Open);
    };
    let Auth::Keys(store) = auth else {
        return Ok(Admission::Open);
    };
    if PUBLIC.contains(&route) {
        return Ok(Admission::Open);
    }
    let Some(token) = bearer(request.headers()) else {
        return Err(Refusal::Unauthenticated { token_sent: false });
    };
    let admitted = store.verified(token, |principal| {
        tracing::Span::current().record("key_id", principal.key_id.as_str());
        within_rate(principal)
    });
    let scopes = admitted.map_err(|_| Refusal::Unauthenticated { token_sent: true })??;
    // The scopes, not the principal: a copy, where an `Arc` would be counted by both cores.
    request.extensions_mut().insert(scopes);
    Ok(Admission::Keyed)
}

/// The key's scopes, if its rate allows one more request now.
fn within_rate(principal: &Principal) -> Result<Scopes, Refusal> {
    principal
        .limiter
        .check()
        .map(|()| principal.scopes)
        .map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Refusal::RateLimited {
                per_sec: principal.rate_per_sec,
                retry_after_secs: wait.as_secs() + 1,
            }
        })
}

/// Requires `scope` for every route of `router` (those added so far), as its `route_layer`.
pub fn scoped<S: Clone + Send + Sync + 'static>(scope: Scope, router: Router<S>) -> Router<S> {
    router.route_layer(ScopeLayer(scope))
}

/// The scope check as a plain tower layer: it runs on every request of a route, so it
/// neither boxes a future nor clones the route as `from_fn` does.
#[derive(Debug, Clone, Copy)]
struct ScopeLayer(Scope);

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeCheck {
            inner,
            scope: self.0,
        }
    }
}

#[derive(Debug, Clone)]
struct ScopeCheck<S> {
    inner: S,
    scope: Scope,
}

type Checked<F> = Either<MapOk<F, fn(Response) -> Response>, Ready<Result<Response, Infallible>>>;

impl<S> Service<Request> for ScopeCheck<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Checked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let granted = match request.extensions().get::<Scopes>() {
            Some(scopes) => scopes.grants(self.scope),
            // Authentication disabled: nobody to check.
            None => true,
        };
        if granted {
            Either::Left(self.inner.call(request).map_ok(mark_checked as fn(_) -> _))
        } else {
            Either::Right(ready(Ok(forbidden(Some(self.scope)))))
        }
    }
}

fn mark_checked(mut response: Response) -> Response {
    response.extensions_mut().insert(ScopeChecked);
    response
}

/// The token of the one `Authorization: Bearer <token>` header; `None` for no header, two
/// headers, another scheme, or a value that is not visible ASCII.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401, the same for a missing, malformed, unknown or revoked key, and for a wrong secret.
fn unauthenticated(token_sent: bool) -> Response {
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        ProblemType::Unauthenticated,
        "Send a valid key as `Authorization: Bearer slp_…`.",
    )
    .into_response();
    let challenge = if token_sent {
        r#"Bearer realm="slipstream", error="invalid_token""#
    } else {
        r#"Bearer realm="slipstream""#
    };
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

fn forbidden(missing: Option<Scope>) -> Response {
    let problem = match missing {
        Some(scope) => Problem::new(
            StatusCode::FORBIDDEN,
            ProblemType::Forbidden,
            format!("This key lacks the `{scope}` scope."),
        )
        .with("scope", scope.as_str()),
        None => Problem::new(
            StatusCode::FORBIDDEN,
            ProblemType::Forbidden,
            "This route is not open to any key.",
        ),
    };
    mark_checked(problem.into_response())
}

fn rate_limited(per_sec: u32, retry_after_secs: u64) -> Response {
    let mut problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        ProblemType::RateLimited,
        format!(
            "This key may make {} requests a second; try again later.",
            per_sec
        ),
    );
    problem.retry_after_secs = Some(retry_after_secs);
    problem.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn a_service_without_a_key_file_starts_only_when_told_to_serve_openly() {
        let error = Auth::from_args(&AuthArgs::default()).expect_err("refused");
        assert!(error.to_string().contains("AUTH_KEYS_FILE"), "{error}");
        let missing = AuthArgs::keys("/nonexistent/slipstream-keys");
        assert!(
            Auth::from_args(&missing).is_err(),
            "started on a missing key file"
        );
        let open = AuthArgs {
            auth_disabled: true,
            ..AuthArgs::default()
        };
        assert!(matches!(Auth::from_args(&open), Ok(Auth::Disabled)));
    }

    #[test]
    fn only_one_bearer_header_yields_a_token() {
        assert_eq!(bearer(&headers(&[b"Bearer abc"])), Some("abc"));
        assert_eq!(bearer(&headers(&[b"bearer abc"])), Some("abc"));
        for bad in [
            &[][..],
            &[&b"Bearer"[..]],
            &[b"Bearer "],
            &[b"Basic dXNlcjpwYXNz"],
            &[b"Bearer abc", b"Bearer abc"],
            &[b"Bearer caf\xc3\xa9"],
        ] {
            assert_eq!(bearer(&headers(bad)), None, "{bad:?}");
        }
    }
}

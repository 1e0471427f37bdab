//! The two middlewares: [`authenticate`] at the edge, [`scoped`] on each router.

use std::sync::Arc;

use anyhow::bail;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, DefaultClock};

use super::store::{KeyStore, Principal};
use super::{AuthArgs, Scope};
use crate::problem::Problem;

/// Routes open to anyone (SPEC §9): they hold no data.
const PUBLIC: [&str; 5] = ["/", "/health", "/ready", "/docs", "/openapi.json"];

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

/// Marks a response as having passed a scope check, so [`authenticate`] can tell a route
/// that states no scope, and refuse it rather than serve it to any key.
#[derive(Debug, Clone, Copy)]
struct ScopeChecked;

/// Turns the bearer key into a [`Principal`] for every route but the public ones and
/// requests no route matched (answered 404/405 as usual), and applies the key's rate limit.
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>() else {
        return next.run(request).await;
    };
    if PUBLIC.contains(&route.as_str()) {
        return next.run(request).await;
    }
    let Auth::Keys(store) = auth else {
        return next.run(request).await;
    };
    let principal = match bearer(request.headers()).map(|token| store.verify(token)) {
        Some(Ok(principal)) => principal,
        Some(Err(_)) => return unauthenticated(true),
        None => return unauthenticated(false),
    };
    tracing::Span::current().record("key_id", principal.key_id.as_str());
    if let Err(not_until) = principal.limiter.check() {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return rate_limited(&principal, wait.as_secs() + 1);
    }
    request.extensions_mut().insert(principal);
    let response = next.run(request).await;
    let routed = response.status() != StatusCode::METHOD_NOT_ALLOWED;
    if routed && response.extensions().get::<ScopeChecked>().is_none() {
        tracing::error!("This route states no scope; refused. Wrap its router in `auth::scoped`.");
        return forbidden(None);
    }
    response
}

/// Requires `scope` for every route of `router` (those added so far), as its `route_layer`.
pub fn scoped<S: Clone + Send + Sync + 'static>(scope: Scope, router: Router<S>) -> Router<S> {
    router.route_layer(from_fn_with_state(scope, check_scope))
}

async fn check_scope(State(scope): State<Scope>, request: Request, next: Next) -> Response {
    let granted = match request.extensions().get::<Arc<Principal>>() {
        Some(principal) => principal.scopes.grants(scope),
        // Authentication disabled: nobody to check.
        None => true,
    };
    let mut response = if granted {
        next.run(request).await
    } else {
        forbidden(Some(scope))
    };
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
        "unauthenticated",
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
            "forbidden",
            format!("This key lacks the `{scope}` scope."),
        )
        .with("scope", scope.as_str()),
        None => Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This route is not open to any key.",
        ),
    };
    let mut response = problem.into_response();
    response.extensions_mut().insert(ScopeChecked);
    response
}

fn rate_limited(principal: &Principal, retry_after_secs: u64) -> Response {
    let mut problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!(
            "This key may make {} requests a second; try again later.",
            principal.rate_per_sec
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

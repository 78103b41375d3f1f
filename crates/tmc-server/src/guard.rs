//! The one gate every request passes: find the route's row, authenticate, check CSRF on page
//! writes, authorise, then render errors as HTML or JSON. Also the security headers.

use std::net::SocketAddr;

use axum::RequestExt;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tmc_store::{ApiToken, ProductRow, Role, Session, User};

use crate::error::AppError;
use crate::routes::{self, Access, RouteSpec};
use crate::{AppState, views};

/// Who is calling and what they may do here; put in the request extensions by the guard.
#[derive(Debug, Clone)]
pub struct Authz {
    pub user: Option<User>,
    /// The browser session (pages only).
    pub session: Option<Session>,
    /// The API token (API only).
    pub token: Option<ApiToken>,
    /// The product of a `{pid}` route and the caller's effective role on it.
    pub product: Option<(ProductRow, Role)>,
    /// Client address, for the sign-in rate limit and the audit.
    pub ip: String,
    pub route: &'static RouteSpec,
}

impl Authz {
    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    pub fn username(&self) -> String {
        self.user
            .as_ref()
            .map(|u| u.username.clone())
            .unwrap_or_default()
    }

    pub fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.clone())
            .unwrap_or_default()
    }

    /// The product of this route; the guard guarantees it for `Access::Product` routes.
    pub fn product(&self) -> Result<(&ProductRow, Role), AppError> {
        self.product
            .as_ref()
            .map(|(p, r)| (p, *r))
            .ok_or_else(|| AppError::internal("product route without a product"))
    }
}

/// The role a user has on a product: the single authorisation decision.
///
/// Site admins are admins everywhere; a user who is not a member gets `None` (the caller answers
/// 404, so product ids do not reveal which products exist); an API token never acts above the
/// role it was created with.
pub fn effective_role(
    user: &User,
    membership: Option<Role>,
    token_cap: Option<Role>,
) -> Option<Role> {
    let role = if user.site_admin {
        Some(Role::Admin)
    } else {
        membership
    }?;
    Some(match token_cap {
        Some(cap) => role.min(cap),
        None => role,
    })
}

/// Whether a caller with `role` may use a route that needs `min`.
pub fn allows(role: Role, min: Role) -> bool {
    role >= min
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Finds the `csrf` field in a urlencoded or multipart body.
async fn csrf_field(content_type: &str, body: &Bytes) -> Result<Option<String>, AppError> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded_field(body, "csrf"));
    }
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|e| AppError::bad_request(format!("malformed multipart form: {e}")))?;
        let chunk = body.clone();
        let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(chunk) });
        let mut mp = multer::Multipart::new(stream, boundary);
        loop {
            match mp.next_field().await {
                Ok(Some(field)) => {
                    if field.name() == Some("csrf") {
                        let text = field.text().await.map_err(|e| {
                            AppError::bad_request(format!("malformed multipart form: {e}"))
                        })?;
                        return Ok(Some(text));
                    }
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(AppError::bad_request(format!(
                        "malformed multipart form: {e}"
                    )));
                }
            }
        }
    }
    Ok(None)
}

pub(crate) fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let Some(spec) = routes::find(req.method().as_str(), &matched) else {
        // Registered but not declared: refuse rather than guess.
        return render(
            AppError::internal(format!(
                "route {} {matched} has no access rule",
                req.method()
            )),
            matched.starts_with("/api/"),
            None,
        );
    };
    let session = match authorise(&state, spec, &mut req).await {
        Ok(a) => {
            let s = a.session.clone();
            req.extensions_mut().insert(a);
            s
        }
        Err(Refusal::SignIn) => return Redirect::to("/signin").into_response(),
        Err(Refusal::Error(e)) => return render(e, spec.api, None),
    };
    let resp = next.run(req).await;
    match resp.extensions().get::<AppError>().cloned() {
        Some(e) => render(e, spec.api, session.as_ref()),
        None => resp,
    }
}

enum Refusal {
    SignIn,
    Error(AppError),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        Refusal::Error(e)
    }
}

async fn authorise(
    state: &AppState,
    spec: &'static RouteSpec,
    req: &mut Request,
) -> Result<Authz, Refusal> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let headers = req.headers().clone();

    // Authenticate: the API takes only bearer tokens (so it needs no CSRF defence: browsers
    // never attach them on their own); pages take only the session cookie.
    let (user, session, token) = if spec.api {
        match bearer(&headers) {
            Some(secret) => match state.db(move |s| s.api_token(&secret)).await? {
                Some(t) => (Some(t.user.clone()), None, Some(t)),
                None => {
                    return Err(AppError::new(
                        StatusCode::UNAUTHORIZED,
                        "bad-token",
                        "the API token is unknown, expired or revoked",
                    )
                    .into());
                }
            },
            None => (None, None, None),
        }
    } else {
        match cookie(&headers, state.cfg.session_cookie()) {
            Some(secret) => match state.db(move |s| s.session(&secret)).await? {
                Some(sess) => (Some(sess.user.clone()), Some(sess), None),
                None => (None, None, None),
            },
            None => (None, None, None),
        }
    };

    // Sign-in comes first, so an anonymous visitor is sent to the sign-in page rather than
    // told about tokens.
    if spec.access != Access::Public && user.is_none() {
        return Err(if spec.api {
            AppError::unauthenticated().into()
        } else {
            Refusal::SignIn
        });
    }

    // CSRF: every page write carries the session's token (or, before sign-in, the value of the
    // pre-session cookie) in a `csrf` form field. The body is read here, within the size limit,
    // and handed on unchanged.
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !spec.api && unsafe_method {
        let limit = state.cfg.max_upload_bytes + 64 * 1024;
        let body = std::mem::replace(req.body_mut(), Body::empty());
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| AppError::too_large(state.cfg.max_upload_bytes))?;
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let sent = csrf_field(&ctype, &bytes).await?;
        let expected = match &session {
            Some(s) => Some(s.csrf_token.clone()),
            None => cookie(&headers, state.cfg.presession_cookie()),
        };
        let ok =
            matches!((&sent, &expected), (Some(a), Some(b)) if !b.is_empty() && same_secret(a, b));
        if !ok {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "the form's anti-forgery token is missing or wrong; reload the page and try again",
            )
            .into());
        }
        *req.body_mut() = Body::from(bytes);
    }

    let mut authz = Authz {
        user,
        session,
        token,
        product: None,
        ip,
        route: spec,
    };
    match spec.access {
        Access::Public => {}
        Access::SignedIn => {}
        Access::Product(min) => {
            let Some(user) = authz.user.clone() else {
                return Err(AppError::unauthenticated().into());
            };
            let params = req
                .extract_parts::<RawPathParams>()
                .await
                .map_err(|_| AppError::not_found("product"))?;
            let pid: i64 = params
                .iter()
                .find(|(k, _)| *k == "pid")
                .and_then(|(_, v)| v.parse().ok())
                .ok_or_else(|| AppError::not_found("product"))?;
            let uid = user.id;
            let (product, membership) = state
                .db(move |s| Ok((s.product(pid)?, s.membership(uid, pid)?)))
                .await?;
            let product = product.ok_or_else(|| AppError::not_found("product"))?;
            let cap = authz.token.as_ref().map(|t| t.max_role);
            let role = effective_role(&user, membership, cap)
                .ok_or_else(|| AppError::not_found("product"))?;
            if !allows(role, min) {
                return Err(AppError::forbidden(format!(
                    "this needs the {min} role on this product; you have {role}"
                ))
                .into());
            }
            authz.product = Some((product, role));
        }
    }
    Ok(authz)
}

/// The body of an error: JSON for the API, an HTML page otherwise.
fn render(e: AppError, api: bool, session: Option<&Session>) -> Response {
    if api {
        let mut body = serde_json::json!({"error": {"code": e.code, "message": e.message}});
        if let Some(d) = e.details {
            body["error"]["details"] = d;
        }
        return (e.status, axum::Json(body)).into_response();
    }
    views::error_page(e.status, &e.message, session)
}

/// Security headers on every response: a CSP with no inline script, no framing, no sniffing,
/// no referrer, no caching of pages (they show review data).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A handler may set a stricter policy of its own (the SVG diagram: `default-src 'none'`);
    // everything else gets the page policy.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

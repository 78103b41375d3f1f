//! Server-rendered pages. Writes are plain HTML forms (POST, then a 303 redirect), so every
//! page works without JavaScript; the guard has already checked sign-in, role and CSRF.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::Form;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tmc_model::{DecisionMatch, MitigationStatus, Severity, Stride, ThreatStatus};
use tmc_store::{Role, random_token};

use crate::guard::Authz;
use crate::review::{self, ApplyContext, Edit};
use crate::service::{self, UploadFailure};
use crate::upload::{self, Problem};
use crate::views::{self, *};
use crate::{AppError, AppState, ServerConfig};

const CSS: &str = include_str!("../static/app.css");

fn cookie(cfg: &ServerConfig, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if cfg.cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// Notices are fixed texts chosen by a key, so a link cannot make the page say anything.
fn notice(key: Option<&str>) -> String {
    match key {
        Some("created") => "Product created.",
        Some("uploaded") => "New model version stored.",
        Some("drafted") => "Draft ready.",
        Some("saved") => "Decision saved.",
        Some("member") => "Member saved.",
        Some("bulk") => "Decisions saved.",
        Some("manual") => "Manual threat added.",
        Some("mitigation") => "Mitigation added.",
        _ => "",
    }
    .to_string()
}

fn layout(title: impl Into<String>, a: &Authz, note: Option<&str>) -> Layout {
    let mut l = Layout::new(title, a.session.as_ref());
    l.notice = notice(note);
    l
}

pub async fn home(Extension(a): Extension<Authz>) -> Response {
    if a.user.is_some() {
        see_other("/products")
    } else {
        see_other("/signin")
    }
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn signin_page(state: &AppState, error: &str, username: &str, status: StatusCode) -> Response {
    let pre = match random_token() {
        Ok(t) => t,
        Err(e) => return AppError::internal(e.to_string()).into_response(),
    };
    let page = SigninPage {
        l: Layout::new("Sign in", None),
        pre: pre.clone(),
        error: error.into(),
        username: username.into(),
    };
    let mut resp = views::html(status, &page);
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie(&state.cfg, state.cfg.presession_cookie(), &pre, 3600),
    );
    resp
}

pub async fn signin_form(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Response {
    if a.user.is_some() {
        return see_other("/products");
    }
    signin_page(&state, "", "", StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SigninForm {
    username: String,
    password: String,
}

pub async fn signin(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Form(f): Form<SigninForm>,
) -> Result<Response, AppError> {
    let account = f.username.trim().to_string();
    let ip = a.ip.clone();
    let since = now_secs() - state.cfg.login_window_seconds;
    let (acc, ipc) = (account.clone(), ip.clone());
    let failures = state
        .db(move |s| s.recent_login_failures(&acc, &ipc, since))
        .await?;
    if failures >= state.cfg.login_max_failures {
        let (acc, ipc) = (account.clone(), ip.clone());
        state
            .db(move |s| {
                s.audit(
                    None,
                    None,
                    "signin.limited",
                    &format!("account `{acc}` from {ipc}"),
                )
            })
            .await?;
        return Ok(signin_page(
            &state,
            "Too many failed sign-ins for this account from your address; wait 15 minutes.",
            &account,
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let (acc, pw) = (account.clone(), f.password);
    let user = state.db(move |s| s.check_password(&acc, &pw)).await?;
    let (acc, ipc, ok) = (account.clone(), ip.clone(), user.is_some());
    state
        .db(move |s| {
            s.record_login_attempt(&acc, &ipc, ok)?;
            let uid = s.user_by_name(&acc)?.map(|u| u.id);
            s.audit(
                uid,
                None,
                if ok { "signin" } else { "signin.failed" },
                &format!("account `{acc}` from {ipc}"),
            )
        })
        .await?;
    let Some(user) = user else {
        return Ok(signin_page(
            &state,
            "Wrong username or password.",
            &account,
            StatusCode::UNAUTHORIZED,
        ));
    };
    let ttl = state.cfg.session_ttl_seconds;
    let secret = state.db(move |s| s.create_session(user.id, ttl)).await?;
    let mut resp = see_other("/products");
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie(&state.cfg, state.cfg.session_cookie(), &secret, ttl),
    );
    h.append(
        header::SET_COOKIE,
        cookie(&state.cfg, state.cfg.presession_cookie(), "", 0),
    );
    Ok(resp)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub async fn signout(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    if let Some(secret) = crate::guard::cookie(&headers, state.cfg.session_cookie()) {
        let uid = a.user_id();
        state
            .db(move |s| {
                s.delete_session(&secret)?;
                s.audit(uid, None, "signout", "")
            })
            .await?;
    }
    let mut resp = see_other("/signin");
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie(&state.cfg, state.cfg.session_cookie(), "", 0),
    );
    Ok(resp)
}

pub async fn products(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let user = a.user.clone().ok_or_else(AppError::unauthenticated)?;
    let list = state.db(move |s| s.products_for(&user)).await?;
    let mut rows = Vec::new();
    for p in list {
        let cur = service::current(&state, p.product.id).await?;
        let t = cur.reviewed.as_ref().map(tmc_review::tally);
        rows.push(ProductListRow {
            id: p.product.id,
            name: p.product.name,
            role: p.role.as_str().into(),
            version: p
                .latest_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none".into()),
            percent: t.as_ref().map(review::percent_reviewed).unwrap_or(0),
            progress: t
                .as_ref()
                .map(|t| format!("{} of {} reviewed", t.reviewed, t.total))
                .unwrap_or_else(|| "not drafted".into()),
            unresolved: t
                .as_ref()
                .map(|t| t.unresolved.to_string())
                .unwrap_or_default(),
        });
    }
    Ok(views::html(
        StatusCode::OK,
        &ProductsPage {
            l: layout("Products", &a, None),
            rows,
        },
    ))
}

pub async fn new_product(Extension(a): Extension<Authz>) -> Response {
    views::html(
        StatusCode::OK,
        &NewProductPage {
            l: layout("New product", &a, None),
            problems: Vec::new(),
            name: String::new(),
            description: String::new(),
        },
    )
}

/// The fields of a page's multipart form.
#[derive(Default)]
struct UploadForm {
    name: String,
    description: String,
    file: Option<(String, Vec<u8>)>,
}

async fn read_form(mut mp: Multipart, limit: usize) -> Result<UploadForm, AppError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request(format!("malformed multipart form: {e}"))
    };
    let mut form = UploadForm::default();
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "name" => form.name = field.text().await.map_err(bad)?,
            "description" => form.description = field.text().await.map_err(bad)?,
            "model" => {
                let fname = field.file_name().unwrap_or("upload.yaml").to_string();
                let bytes = field.bytes().await.map_err(bad)?;
                if bytes.len() > limit {
                    return Err(AppError::too_large(limit));
                }
                form.file = Some((fname, bytes.to_vec()));
            }
            _ => {}
        }
    }
    Ok(form)
}

pub async fn create_product(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    mp: Multipart,
) -> Result<Response, AppError> {
    let form = read_form(mp, state.cfg.max_upload_bytes).await?;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let again = |problems: Vec<Problem>, form: &UploadForm| {
        views::html(
            StatusCode::BAD_REQUEST,
            &NewProductPage {
                l: layout("New product", &a, None),
                problems: problem_rows(&problems),
                name: form.name.clone(),
                description: form.description.clone(),
            },
        )
    };
    if let Err(e) = crate::api::check_product_fields(&form.name, &form.description) {
        return Ok(again(vec![field_problem("name", &e.message)], &form));
    }
    let Some((fname, bytes)) = form.file.clone().filter(|(_, b)| !b.is_empty()) else {
        return Ok(again(
            vec![field_problem("model", "choose a model file to upload")],
            &form,
        ));
    };
    // Validate before creating anything, so a bad model leaves no empty product behind.
    let (b, n) = (bytes.clone(), fname.clone());
    let checked = tokio::task::spawn_blocking(move || upload::load(&b, &n).map(|_| ()))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    if let Err(problems) = checked {
        return Ok(again(problems, &form));
    }
    let (name, desc) = (form.name.trim().to_string(), form.description.clone());
    let pid = state
        .db(move |s| {
            let id = s.create_product(&name, &desc, uid)?;
            s.audit(Some(uid), Some(id), "product.create", &name)?;
            Ok(id)
        })
        .await?;
    match service::add_version(&state, pid, uid, bytes, fname).await {
        Ok(_) => Ok(see_other(&format!("/p/{pid}?notice=created"))),
        Err(UploadFailure::Problems(p)) => Ok(again(p, &form)),
        Err(UploadFailure::Error(e)) => Err(e),
    }
}

fn field_problem(field: &str, message: &str) -> Problem {
    Problem {
        line: 0,
        column: 0,
        element: Some(field.into()),
        code: "form".into(),
        message: message.into(),
        help: None,
    }
}

/// Whether Graphviz is installed (checked once).
fn has_dot() -> bool {
    static DOT: OnceLock<bool> = OnceLock::new();
    *DOT.get_or_init(|| {
        std::process::Command::new("dot")
            .arg("-V")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

async fn product_page(
    state: &AppState,
    a: &Authz,
    problems: Vec<Problem>,
    note: Option<&str>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let cur = service::current(state, p.id).await?;
    let mut page = ProductPage {
        l: layout(p.name.clone(), a, note),
        p: ProductHead::new(p, role),
        problems: problem_rows(&problems),
        version: cur
            .version
            .as_ref()
            .map(|v| v.number.to_string())
            .unwrap_or_default(),
        draft_state: match &cur.drafted {
            Some(d) => format!("Drafted: {} threats.", d.threats.len()),
            None => "Not drafted yet.".into(),
        },
        has_svg: false,
        mermaid: String::new(),
        components: Vec::new(),
        flows: Vec::new(),
        boundaries: Vec::new(),
    };
    if let Some(parsed) = &cur.parsed {
        let m = &parsed.model;
        page.has_svg = has_dot();
        if !page.has_svg {
            page.mermaid = tmc_export::diagram::to_mermaid(m);
        }
        let name = |id: &str| {
            m.component(id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        page.components = m
            .components
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.name.clone(),
                    json_word(&c.kind),
                    json_word(&c.technology),
                    c.trust_zone.as_ref().map(json_word).unwrap_or_default(),
                )
            })
            .collect();
        page.flows = m
            .flows
            .iter()
            .map(|f| {
                (
                    f.id.clone(),
                    f.name.clone().unwrap_or_default(),
                    name(&f.from),
                    name(&f.to),
                    f.protocol.as_ref().map(json_word).unwrap_or_default(),
                )
            })
            .collect();
        page.boundaries = m
            .trust_boundaries
            .iter()
            .map(|b| {
                (
                    b.id.clone(),
                    b.name.clone(),
                    json_word(&b.kind),
                    b.members.join(", "),
                )
            })
            .collect();
    }
    let status = if page.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(views::html(status, &page))
}

/// The serde name of an enum value (`data-store`, `postgresql`), for display.
fn json_word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub async fn product(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    product_page(&state, &a, Vec::new(), q.notice.as_deref()).await
}

pub async fn diagram_svg(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let cur = service::current(&state, pid).await?;
    let parsed = cur
        .parsed
        .ok_or_else(|| AppError::not_found("model version"))?;
    if !has_dot() {
        return Err(AppError::not_found("diagram (Graphviz is not installed)"));
    }
    let dot = tmc_export::diagram::to_dot(&parsed.model);
    let svg = tokio::task::spawn_blocking(move || render_svg(&dot))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        svg,
    )
        .into_response())
}

fn render_svg(dot: &str) -> Result<Vec<u8>, AppError> {
    use std::io::Write;
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| AppError::internal(format!("running dot: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| AppError::internal(format!("writing to dot: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| AppError::internal(format!("running dot: {e}")))?;
    if !out.status.success() {
        return Err(AppError::internal("dot failed"));
    }
    Ok(out.stdout)
}

pub async fn upload_version(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    mp: Multipart,
) -> Result<Response, AppError> {
    let form = read_form(mp, state.cfg.max_upload_bytes).await?;
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let Some((fname, bytes)) = form.file.filter(|(_, b)| !b.is_empty()) else {
        return product_page(
            &state,
            &a,
            vec![field_problem("model", "choose a model file to upload")],
            None,
        )
        .await;
    };
    match service::add_version(&state, pid, uid, bytes, fname).await {
        Ok(_) => Ok(see_other(&format!("/p/{pid}?notice=uploaded"))),
        Err(UploadFailure::Problems(p)) => product_page(&state, &a, p, None).await,
        Err(UploadFailure::Error(e)) => Err(e),
    }
}

pub async fn run_draft(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    service::run_draft(&state, pid, uid).await?;
    Ok(see_other(&format!("/p/{pid}/review?notice=drafted")))
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    severity: Option<String>,
    stride: Option<String>,
    status: Option<String>,
    element: Option<String>,
    origin: Option<String>,
    notice: Option<String>,
}

fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn opts(values: Vec<(String, String)>, selected: &str) -> Vec<Opt> {
    let mut out = vec![Opt {
        value: String::new(),
        label: "any".into(),
        selected: selected.is_empty(),
    }];
    out.extend(values.into_iter().map(|(value, label)| Opt {
        selected: value == selected,
        value,
        label,
    }));
    out
}

pub async fn review(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let cur = service::current(&state, p.id).await?;
    let pid = p.id;
    let mut comments: std::collections::BTreeMap<String, Vec<(String, String, String)>> =
        Default::default();
    for c in state.db(move |s| s.comments(pid)).await? {
        comments.entry(c.threat_key).or_default().push((
            c.author.unwrap_or_else(|| "(deleted user)".into()),
            review::rfc3339(c.at),
            c.body,
        ));
    }
    let sel = |v: &Option<String>| v.clone().unwrap_or_default();
    let (f_sev, f_stride, f_status, f_elem, f_origin) = (
        sel(&q.severity),
        sel(&q.stride),
        sel(&q.status),
        sel(&q.element),
        sel(&q.origin),
    );
    let query = serde_urlencoded_query(&[
        ("severity", &f_sev),
        ("stride", &f_stride),
        ("status", &f_status),
        ("element", &f_elem),
        ("origin", &f_origin),
    ]);
    let mut page = ReviewPage {
        l: layout(format!("Review · {}", p.name), &a, q.notice.as_deref()),
        p: ProductHead::new(p, role),
        has_draft: cur.reviewed.is_some(),
        tally: String::new(),
        filters: Vec::new(),
        rows: Vec::new(),
        orphans: Vec::new(),
        query,
        severity_options: std::iter::once(Opt {
            value: String::new(),
            label: "(keep)".into(),
            selected: true,
        })
        .chain(
            [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Info,
            ]
            .iter()
            .map(|s| Opt {
                value: s.as_str().into(),
                label: s.as_str().into(),
                selected: false,
            }),
        )
        .collect(),
        mitigation_options: std::iter::once(Opt {
            value: String::new(),
            label: "(keep)".into(),
            selected: true,
        })
        .chain(MitigationStatus::ALL.iter().map(|s| Opt {
            value: s.as_str().into(),
            label: s.as_str().into(),
            selected: false,
        }))
        .collect(),
        model_elements: cur
            .parsed
            .as_ref()
            .map(|parsed| {
                ApplyContext::from_model(&parsed.model, None)
                    .elements
                    .into_iter()
                    .map(|(id, (kind, name))| {
                        let label = format!("{}: {name} ({id})", json_word(&kind));
                        (id, label)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        status_names: ThreatStatus::ALL.iter().map(|s| s.as_str()).collect(),
        stride_names: Stride::ALL.iter().map(|s| (s.letter(), s.name())).collect(),
    };
    if let Some(draft) = &cur.reviewed {
        let t = tmc_review::tally(draft);
        page.tally = format!(
            "{} threats: {} reviewed ({}%), {} unresolved.",
            t.total,
            t.reviewed,
            review::percent_reviewed(&t),
            t.unresolved
        );
        if t.needs_confirmation > 0 {
            page.tally.push_str(&format!(
                " {} carried decision(s) need confirmation.",
                t.needs_confirmation
            ));
        }
        page.orphans = draft
            .review
            .iter()
            .flat_map(|r| r.orphaned.iter())
            .map(|o| {
                (
                    o.key.clone(),
                    o.status.as_str().to_string(),
                    o.reason.clone(),
                )
            })
            .collect();
        let elements: BTreeSet<(String, String)> = draft
            .threats
            .iter()
            .flat_map(|t| t.targets.iter().map(|g| (g.id.clone(), g.name.clone())))
            .collect();
        let origins: BTreeSet<&str> = draft
            .threats
            .iter()
            .map(|t| t.provenance.origin())
            .collect();
        page.filters = vec![
            Filter {
                name: "severity",
                label: "Severity",
                options: opts(
                    [
                        Severity::Critical,
                        Severity::High,
                        Severity::Medium,
                        Severity::Low,
                        Severity::Info,
                    ]
                    .iter()
                    .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
                    .collect(),
                    &f_sev,
                ),
            },
            Filter {
                name: "stride",
                label: "STRIDE",
                options: opts(
                    Stride::ALL
                        .iter()
                        .map(|s| (s.letter().to_string(), s.name().to_string()))
                        .collect(),
                    &f_stride,
                ),
            },
            Filter {
                name: "status",
                label: "Status",
                options: opts(
                    std::iter::once(("unresolved".to_string(), "unresolved".to_string()))
                        .chain(
                            ThreatStatus::ALL
                                .iter()
                                .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
                        )
                        .collect(),
                    &f_status,
                ),
            },
            Filter {
                name: "element",
                label: "Element",
                options: opts(elements.into_iter().collect(), &f_elem),
            },
            Filter {
                name: "origin",
                label: "Origin",
                options: opts(
                    origins
                        .iter()
                        .map(|o| (o.to_string(), o.to_string()))
                        .collect(),
                    &f_origin,
                ),
            },
        ];
        for t in &draft.threats {
            if !f_sev.is_empty() && t.severity.level.as_str() != f_sev {
                continue;
            }
            if !f_stride.is_empty() && !t.stride.iter().any(|s| s.letter().to_string() == f_stride)
            {
                continue;
            }
            let status_ok = f_status.is_empty()
                || t.status.as_str() == f_status
                || (f_status == "unresolved" && t.status.is_unresolved());
            if !status_ok {
                continue;
            }
            if !f_elem.is_empty() && !t.targets.iter().any(|g| g.id == f_elem) {
                continue;
            }
            if !f_origin.is_empty() && t.provenance.origin() != f_origin {
                continue;
            }
            let rv = t.review.as_ref();
            page.rows.push(ThreatRow {
                id: t.id.clone(),
                anchor: anchor(&t.id),
                title: t.title.clone(),
                stride: t.stride.iter().map(|s| s.letter()).collect(),
                targets: t
                    .targets
                    .iter()
                    .map(|g| g.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                severity: t.severity.level.as_str().into(),
                drafted: rv
                    .and_then(|r| r.severity_override.as_ref())
                    .map(|o| o.drafted.as_str().to_string())
                    .unwrap_or_default(),
                severity_reason: rv
                    .and_then(|r| r.severity_override.as_ref())
                    .map(|o| o.reason.clone())
                    .unwrap_or_default(),
                status: t.status.as_str().into(),
                origin: t.provenance.origin().into(),
                justification: rv.and_then(|r| r.justification.clone()).unwrap_or_default(),
                carried: rv.map(carried_note).unwrap_or_default(),
                status_options: ThreatStatus::ALL
                    .iter()
                    .map(|s| Opt {
                        value: s.as_str().into(),
                        label: s.as_str().into(),
                        selected: *s == t.status,
                    })
                    .collect(),
                mitigations: t
                    .mitigations
                    .iter()
                    .map(|m| (m.id.clone(), m.text.clone(), m.status.as_str().to_string()))
                    .collect(),
                comments: comments.remove(&t.id).unwrap_or_default(),
            });
        }
    }
    Ok(views::html(StatusCode::OK, &page))
}

/// Says how a decision reached a threat when it was not by the threat's own id.
fn carried_note(r: &tmc_model::ThreatReview) -> String {
    match r.matched_by {
        DecisionMatch::Id => String::new(),
        DecisionMatch::Wildcard => format!("Decided by the pattern {}.", r.key),
        DecisionMatch::Fingerprint => format!(
            "Decision carried from {} (same threat, new id); saving a decision confirms it.",
            r.key
        ),
        DecisionMatch::Similar => format!(
            "Decision carried from {} by similarity: needs confirmation (save a decision to confirm).",
            r.key
        ),
    }
}

fn serde_urlencoded_query(pairs: &[(&str, &String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

#[derive(Deserialize)]
pub struct DecideForm {
    threat: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    severity_reason: String,
    #[serde(default)]
    mitigation: String,
    #[serde(default)]
    mitigation_status: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    back: String,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub async fn decide(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Form(f): Form<DecideForm>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let cur = service::current(&state, pid).await?;
    let existing = cur
        .reviewed
        .as_ref()
        .and_then(|d| d.threats.iter().find(|t| t.id == f.threat));
    let mut edits = Vec::new();
    if let Some(status_text) = opt(&f.status) {
        let status = ThreatStatus::parse(&status_text).ok_or_else(|| {
            AppError::bad_request(format!("status: `{status_text}` is not a threat status"))
        })?;
        let old_just = existing
            .and_then(|t| t.review.as_ref())
            .and_then(|r| r.justification.clone());
        // Saving a decision carried from an older id confirms it, even unchanged.
        let carried = existing.and_then(|t| t.review.as_ref()).is_some_and(|r| {
            matches!(
                r.matched_by,
                DecisionMatch::Fingerprint | DecisionMatch::Similar
            )
        });
        let changed = existing.is_none_or(|t| t.status != status)
            || old_just != opt(&f.justification)
            || carried;
        if changed {
            edits.push(Edit::Decide {
                threat: f.threat.clone(),
                status,
                justification: opt(&f.justification),
                expires: None,
            });
        }
    }
    if let Some(level_text) = opt(&f.severity) {
        let level = Severity::parse(&level_text).ok_or_else(|| {
            AppError::bad_request(format!("severity: `{level_text}` is not a severity"))
        })?;
        edits.push(Edit::SetSeverity {
            threat: f.threat.clone(),
            level,
            reason: f.severity_reason.clone(),
        });
    }
    if let Some(mitigation) = opt(&f.mitigation) {
        let status = match opt(&f.mitigation_status) {
            Some(s) => Some(MitigationStatus::parse(&s).ok_or_else(|| {
                AppError::bad_request(format!("mitigation status: `{s}` is not a status"))
            })?),
            None => None,
        };
        edits.push(Edit::Mitigation {
            threat: f.threat.clone(),
            mitigation,
            status,
            owner: opt(&f.owner),
            ticket: opt(&f.ticket),
        });
    }
    if edits.is_empty() {
        return Err(AppError::bad_request(
            "nothing changed: pick a new status, a severity or a mitigation",
        ));
    }
    service::record_edits(&state, pid, uid, a.username(), edits, None).await?;
    // `back` is our own filter query; keep only its safe characters.
    let back: String = f
        .back
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=&-_%.+".contains(*c))
        .collect();
    let sep = if back.is_empty() { "" } else { "&" };
    Ok(see_other(&format!(
        "/p/{pid}/review?{back}{sep}notice=saved#row-{}",
        anchor(&f.threat)
    )))
}

#[derive(Deserialize)]
pub struct CommentForm {
    threat: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    back: String,
}

pub async fn comment(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Form(f): Form<CommentForm>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let anchor_id = anchor(&f.threat);
    service::add_comment(&state, pid, uid, f.threat, f.body).await?;
    let back: String = f
        .back
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=&-_%.+".contains(*c))
        .collect();
    let sep = if back.is_empty() { "" } else { "&" };
    Ok(see_other(&format!(
        "/p/{pid}/review?{back}{sep}notice=comment+added#row-{anchor_id}"
    )))
}

pub async fn export(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Path((_pid, format)): Path<(i64, String)>,
) -> Result<Response, AppError> {
    let (p, _) = a.product()?;
    let cur = service::current(&state, p.id).await?;
    let (Some(draft), Some(parsed), Some(version)) = (cur.reviewed, cur.parsed, cur.version) else {
        return Err(AppError::not_found("draft (run one first)"));
    };
    let slug: String = p
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let base = format!("{}-v{}", slug.trim_matches('-'), version.number);
    let (bytes, ctype, ext) = match format.as_str() {
        "sarif" => {
            let opts = tmc_export::ExportOptions {
                model_uri: version.original_name.clone(),
                positions: upload::positions(&parsed),
                ..Default::default()
            };
            let b = tmc_export::export(tmc_export::Format::Sarif, &parsed.model, &draft, &opts)
                .map_err(|e| AppError::internal(e.to_string()))?;
            (b, "application/sarif+json", "sarif")
        }
        "csv" => {
            let b = tmc_export::export(
                tmc_export::Format::Csv,
                &parsed.model,
                &draft,
                &Default::default(),
            )
            .map_err(|e| AppError::internal(e.to_string()))?;
            (b, "text/csv; charset=utf-8", "csv")
        }
        "markdown" => (
            tmc_report::markdown::render(&draft).into_bytes(),
            "text/markdown; charset=utf-8",
            "md",
        ),
        "json" => (
            tmc_report::to_json(&draft)
                .map_err(|e| AppError::internal(e.to_string()))?
                .into_bytes(),
            "application/json",
            "json",
        ),
        // The other tmc-export formats, with default options (no source positions to add).
        "xlsx" | "otm" | "threat-dragon" | "threagile" => {
            let (f, ctype, ext) = match format.as_str() {
                "xlsx" => (
                    tmc_export::Format::Xlsx,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "xlsx",
                ),
                "otm" => (tmc_export::Format::Otm, "application/json", "otm.json"),
                "threat-dragon" => (
                    tmc_export::Format::ThreatDragon,
                    "application/json",
                    "threat-dragon.json",
                ),
                _ => (
                    tmc_export::Format::Threagile,
                    "application/yaml; charset=utf-8",
                    "threagile.yaml",
                ),
            };
            let b = tmc_export::export(f, &parsed.model, &draft, &Default::default())
                .map_err(|e| AppError::internal(e.to_string()))?;
            (b, ctype, ext)
        }
        other => {
            return Err(AppError::not_found(format!(
                "export format `{other}` (sarif, markdown, csv, json, xlsx, otm, threat-dragon, threagile)"
            )));
        }
    };
    let uid = a.user_id();
    let (pid, fmt) = (p.id, format.clone());
    state
        .db(move |s| s.audit(uid, Some(pid), "export", &fmt))
        .await?;
    let disposition = format!("attachment; filename=\"{base}.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ctype)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn versions(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let pid = p.id;
    let vs = state.db(move |s| s.versions(pid)).await?;
    let rows = vs
        .iter()
        .map(|v| {
            (
                v.number,
                review::rfc3339(v.uploaded_at),
                v.uploaded_by.clone().unwrap_or_default(),
                v.original_name.clone(),
                v.sha256.chars().take(16).collect(),
                if v.has_draft { "yes" } else { "no" }.to_string(),
            )
        })
        .collect();
    Ok(views::html(
        StatusCode::OK,
        &VersionsPage {
            l: layout(format!("Versions · {}", p.name), &a, None),
            p: ProductHead::new(p, role),
            rows,
        },
    ))
}

pub async fn audit(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let pid = p.id;
    let events = state.db(move |s| s.audit_events(Some(pid), 500)).await?;
    let rows = events
        .into_iter()
        .map(|e| {
            (
                review::rfc3339(e.at),
                e.actor.unwrap_or_default(),
                e.action,
                e.detail,
            )
        })
        .collect();
    Ok(views::html(
        StatusCode::OK,
        &AuditPage {
            l: layout(format!("Audit · {}", p.name), &a, None),
            p: ProductHead::new(p, role),
            rows,
        },
    ))
}

pub async fn members(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let pid = p.id;
    let ms = state.db(move |s| s.members(pid)).await?;
    let rows = ms
        .into_iter()
        .map(|m| (m.user.username, m.role.as_str().to_string()))
        .collect();
    Ok(views::html(
        StatusCode::OK,
        &MembersPage {
            l: layout(format!("Members · {}", p.name), &a, q.notice.as_deref()),
            p: ProductHead::new(p, role),
            rows,
        },
    ))
}

#[derive(Deserialize)]
pub struct MemberForm {
    username: String,
    role: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Form(f): Form<MemberForm>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let role = Role::parse(&f.role)
        .ok_or_else(|| AppError::bad_request(format!("role: `{}` is not a role", f.role)))?;
    let uid = a.user_id();
    let name = f.username.trim().to_string();
    state
        .db(move |s| {
            let user = s
                .user_by_name(&name)?
                .ok_or_else(|| tmc_store::StoreError::NotFound(format!("user `{name}`")))?;
            s.set_membership(user.id, pid, role)?;
            s.audit(uid, Some(pid), "member.set", &format!("{name} as {role}"))
        })
        .await?;
    Ok(see_other(&format!("/p/{pid}/members?notice=member")))
}

/// A display string for a diff value: strings as they are, `—` for absent, JSON otherwise.
fn diff_value(v: &Option<serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "—".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn threat_changes(changes: &[tmc_diff::ThreatChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c.path,
                diff_value(&c.old),
                diff_value(&c.new)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What changed between two versions, as tables rendered from `tmc_diff` (the JSON is at
/// `GET /api/v1/products/{pid}/diff`).
pub async fn diff_page(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<crate::api::DiffQuery>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let pid = p.id;
    let (from, to, diff) = service::version_diff(&state, pid, q.from, q.to).await?;
    let numbers = state.db(move |s| s.versions(pid)).await?;
    let mut model_rows = Vec::new();
    let sets = [
        ("component", &diff.model.components),
        ("flow", &diff.model.flows),
        ("boundary", &diff.model.trust_boundaries),
        ("data", &diff.model.data),
    ];
    for f in &diff.model.system {
        model_rows.push(ModelChangeRow {
            kind: "system".into(),
            change: "changed".into(),
            id: String::new(),
            name: String::new(),
            path: f.path.clone(),
            control: f.class == tmc_diff::ChangeClass::Control,
            old: diff_value(&f.old),
            new: diff_value(&f.new),
        });
    }
    for (kind, set) in sets {
        let whole = |change: &str, e: &tmc_diff::ElementRef| ModelChangeRow {
            kind: kind.into(),
            change: change.into(),
            id: e.id.clone(),
            name: e.name.clone(),
            path: String::new(),
            control: false,
            old: String::new(),
            new: String::new(),
        };
        model_rows.extend(set.added.iter().map(|e| whole("added", e)));
        model_rows.extend(set.removed.iter().map(|e| whole("removed", e)));
        for c in &set.changed {
            for f in &c.fields {
                model_rows.push(ModelChangeRow {
                    kind: kind.into(),
                    change: "changed".into(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                    path: f.path.clone(),
                    control: f.class == tmc_diff::ChangeClass::Control,
                    old: diff_value(&f.old),
                    new: diff_value(&f.new),
                });
            }
        }
    }
    let t = &diff.threats;
    let threat_ref = |change: &str, r: &tmc_diff::ThreatRef| ThreatChangeRow {
        change: change.into(),
        id: r.id.clone(),
        title: r.title.clone(),
        severity: r.severity.as_str().into(),
        detail: {
            let mut d = format!(
                "{} · {} · {}",
                r.stride.iter().map(|s| s.letter()).collect::<String>(),
                r.targets.join(", "),
                r.status.as_str()
            );
            if let Some(by) = &r.suppressed_by {
                d.push_str(&format!(" · suppressed by {by}"));
            }
            d
        },
    };
    let mut threat_rows: Vec<ThreatChangeRow> =
        t.new.iter().map(|r| threat_ref("new", r)).collect();
    threat_rows.extend(t.gone.iter().map(|r| threat_ref("gone", r)));
    threat_rows.extend(t.changed.iter().map(|c| ThreatChangeRow {
        change: "changed".into(),
        id: c.id.clone(),
        title: c.title.clone(),
        severity: String::new(),
        detail: threat_changes(&c.changes),
    }));
    threat_rows.extend(t.reidentified.iter().map(|r| ThreatChangeRow {
        change: "re-identified".into(),
        id: r.new_id.clone(),
        title: r.title.clone(),
        severity: String::new(),
        detail: {
            let mut d = format!("was {} (fingerprint {})", r.old_id, r.fingerprint);
            if !r.changes.is_empty() {
                d.push_str("; ");
                d.push_str(&threat_changes(&r.changes));
            }
            d
        },
    }));
    let page = DiffPage {
        l: layout(format!("Changes · {}", p.name), &a, None),
        p: ProductHead::new(p, role),
        from,
        to,
        versions: numbers
            .iter()
            .map(|v| (v.number, v.number == from, v.number == to))
            .collect(),
        empty: diff.is_empty(),
        ruleset: t
            .ruleset
            .as_ref()
            .map(|r| {
                format!(
                    "The rules changed ({} → {}): some threat changes come from the rules, not the model.",
                    r.old_digest, r.new_digest
                )
            })
            .unwrap_or_default(),
        model_rows,
        threat_rows,
        carried: t
            .review
            .carried
            .iter()
            .map(|c| {
                (
                    c.threat_id.clone(),
                    c.key.clone(),
                    json_word(&c.matched_by),
                    c.needs_confirmation,
                    c.status.as_str().to_string(),
                )
            })
            .collect(),
        orphaned: t
            .review
            .orphaned
            .iter()
            .map(|o| (o.key.clone(), o.status.as_str().to_string(), o.reason.clone()))
            .collect(),
        new_unreviewed: t.review.new_unreviewed.clone(),
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// Counts of the reviewed draft, every number from `tmc_review::tally`.
pub async fn insights(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let (p, role) = a.product()?;
    let cur = service::current(&state, p.id).await?;
    let Some(t) = cur.reviewed.as_ref().map(tmc_review::tally) else {
        let page = EmptyInsights {
            l: layout(format!("Insights · {}", p.name), &a, None),
            p: ProductHead::new(p, role),
        };
        return Ok(views::html(StatusCode::OK, &page));
    };
    let page = InsightsPage {
        l: layout(format!("Insights · {}", p.name), &a, None),
        p: ProductHead::new(p, role),
        total: t.total,
        reviewed: t.reviewed,
        percent: review::percent_reviewed(&t),
        unresolved: t.unresolved,
        needs_confirmation: t.needs_confirmation,
        orphaned: t.orphaned,
        suppressed: t.suppressed,
        by_status: t
            .by_status
            .iter()
            .map(|(s, n)| (s.as_str().to_string(), s.as_str().replace('-', " "), *n))
            .collect(),
        unresolved_by_severity: t
            .unresolved_by_severity
            .iter()
            .map(|(s, n)| (s.as_str().to_string(), *n))
            .collect(),
        by_severity: t
            .by_severity
            .iter()
            .map(|(s, n)| (s.as_str().to_string(), *n))
            .collect(),
        by_stride: t
            .by_stride
            .iter()
            .map(|(s, n)| (s.letter(), s.name().to_string(), *n))
            .collect(),
        mitigations_by_status: t
            .mitigations_by_status
            .iter()
            .map(|(s, n)| (s.as_str().to_string(), *n))
            .collect(),
        mitigations: t.mitigations,
        threats_with_done_mitigation: t.threats_with_done_mitigation,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// The fields of a urlencoded form body in order, repeated names kept (checkbox lists).
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// `back` is our own filter query; keep only its safe characters.
fn back_query(back: &str) -> String {
    let back: String = back
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=&-_%.+".contains(*c))
        .collect();
    if back.is_empty() {
        back
    } else {
        format!("{back}&")
    }
}

/// One status and justification for every selected threat (`threat` repeated), recorded as one
/// write: if any edit is invalid nothing is saved.
pub async fn decide_bulk(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let pairs = form_pairs(&body);
    let threats: BTreeSet<String> = pairs
        .iter()
        .filter(|(k, v)| k == "threat" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .collect();
    if threats.is_empty() {
        return Err(AppError::bad_request(
            "threat: select at least one threat with its checkbox",
        ));
    }
    let status_text = field(&pairs, "status").trim();
    let status = ThreatStatus::parse(status_text).ok_or_else(|| {
        AppError::bad_request(format!("status: `{status_text}` is not a threat status"))
    })?;
    let justification = opt(field(&pairs, "justification"));
    let edits = threats
        .iter()
        .map(|t| Edit::Decide {
            threat: t.clone(),
            status,
            justification: justification.clone(),
            expires: None,
        })
        .collect();
    service::record_edits(&state, pid, uid, a.username(), edits, None).await?;
    let back = back_query(field(&pairs, "back"));
    Ok(see_other(&format!("/p/{pid}/review?{back}notice=bulk")))
}

/// Adds a manual threat (title, description, element, STRIDE letters repeated, severity).
pub async fn manual_threat(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let pairs = form_pairs(&body);
    let mut stride = Vec::new();
    for (_, v) in pairs.iter().filter(|(k, _)| k == "stride") {
        let s = Stride::parse(v).ok_or_else(|| {
            AppError::bad_request(format!("stride: `{v}` is not a STRIDE letter"))
        })?;
        if !stride.contains(&s) {
            stride.push(s);
        }
    }
    let sev_text = field(&pairs, "severity").trim();
    let severity = Severity::parse(sev_text).ok_or_else(|| {
        AppError::bad_request(format!("severity: `{sev_text}` is not a severity"))
    })?;
    let edit = Edit::AddManualThreat {
        id: None,
        title: field(&pairs, "title").to_string(),
        description: field(&pairs, "description").to_string(),
        element: field(&pairs, "element").to_string(),
        stride,
        severity,
    };
    service::record_edits(&state, pid, uid, a.username(), vec![edit], None).await?;
    Ok(see_other(&format!("/p/{pid}/review?notice=manual")))
}

#[derive(Deserialize)]
pub struct MitigationForm {
    threat: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    back: String,
}

/// Adds a new mitigation to a threat (text, status, owner, ticket, due date).
pub async fn add_mitigation(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Form(f): Form<MitigationForm>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let status = match opt(&f.status) {
        Some(s) => Some(MitigationStatus::parse(&s).ok_or_else(|| {
            AppError::bad_request(format!("status: `{s}` is not a mitigation status"))
        })?),
        None => None,
    };
    let anchor_id = anchor(&f.threat);
    let edit = Edit::AddMitigation {
        threat: f.threat,
        text: f.text,
        status,
        owner: opt(&f.owner),
        ticket: opt(&f.ticket),
        due: opt(&f.due),
    };
    service::record_edits(&state, pid, uid, a.username(), vec![edit], None).await?;
    let back = back_query(&f.back);
    Ok(see_other(&format!(
        "/p/{pid}/review?{back}notice=mitigation#row-{anchor_id}"
    )))
}

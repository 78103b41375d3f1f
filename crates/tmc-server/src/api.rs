//! The JSON API under `/api/v1` (bearer tokens; see `openapi.json`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tmc_model::Severity;
use tmc_store::ModelVersion;

use crate::guard::Authz;
use crate::review::{self, Decisions, Edit};
use crate::service::{self, UploadFailure};
use crate::{AppError, AppState};
use tmc_review::tally;

/// The OpenAPI 3.1 description of this API (a data file, kept beside the code).
pub const OPENAPI: &str = include_str!("../api/openapi.json");

pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

fn version_json(v: &ModelVersion) -> Value {
    json!({
        "number": v.number,
        "sha256": v.sha256,
        "original_name": v.original_name,
        "uploaded_by": v.uploaded_by,
        "uploaded_at": review::rfc3339(v.uploaded_at),
        "has_draft": v.has_draft,
    })
}

pub async fn list_products(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Json<Value>, AppError> {
    let user = a.user.clone().ok_or_else(AppError::unauthenticated)?;
    let list = state.db(move |s| s.products_for(&user)).await?;
    Ok(Json(json!({
        "products": list.iter().map(|p| json!({
            "id": p.product.id,
            "name": p.product.name,
            "description": p.product.description,
            "role": p.role.as_str(),
            "latest_version": p.latest_version,
        })).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    name: String,
    #[serde(default)]
    description: String,
}

pub fn check_product_fields(name: &str, description: &str) -> Result<(), AppError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "name: required, at most 200 characters",
        ));
    }
    if description.len() > 4000 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "description: at most 4000 characters",
        ));
    }
    Ok(())
}

pub async fn create_product(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    body: Bytes,
) -> Result<Response, AppError> {
    let p: NewProduct = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("request body: {e}")))?;
    check_product_fields(&p.name, &p.description)?;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let (name, desc) = (p.name.trim().to_string(), p.description);
    let id = state
        .db(move |s| {
            let id = s.create_product(&name, &desc, uid)?;
            s.audit(Some(uid), Some(id), "product.create", &name)?;
            Ok(id)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

pub async fn product(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Json<Value>, AppError> {
    let (p, role) = a.product()?;
    let cur = service::current(&state, p.id).await?;
    Ok(Json(json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "role": role.as_str(),
        "latest_version": cur.version.as_ref().map(version_json),
        "decisions_version": cur.decisions_version,
        "tally": cur.reviewed.as_ref().map(tally),
    })))
}

pub async fn versions(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Json<Value>, AppError> {
    let pid = a.product()?.0.id;
    let vs = state.db(move |s| s.versions(pid)).await?;
    Ok(Json(
        json!({"versions": vs.iter().map(version_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    file_name: Option<String>,
}

pub async fn upload_version(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let name = q.file_name.unwrap_or_else(|| "threatmodel.yaml".into());
    match service::add_version(&state, pid, uid, body.to_vec(), name).await {
        Ok(v) => Ok((StatusCode::CREATED, Json(version_json(&v))).into_response()),
        Err(UploadFailure::Problems(p)) => Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "validation",
            format!("the model has {} problem(s); nothing was stored", p.len()),
        )
        .with_details(json!({"problems": p}))),
        Err(UploadFailure::Error(e)) => Err(e),
    }
}

pub async fn run_draft(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let (v, draft) = service::run_draft(&state, pid, uid).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"version": v.number, "threats": draft.threats.len()})),
    )
        .into_response())
}

pub async fn get_draft(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let cur = service::current(&state, pid).await?;
    let draft = cur
        .reviewed
        .ok_or_else(|| AppError::not_found("draft (run one first)"))?;
    Ok(Json(draft).into_response())
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` names: `"3"`, `3` or `W/"3"`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| AppError::bad_request("If-Match: not ASCII"))?;
    let t = text.trim().trim_start_matches("W/").trim_matches('"');
    t.parse().map(Some).map_err(|_| {
        AppError::bad_request(format!(
            "If-Match: `{text}` is not a decisions version (send the ETag of GET .../decisions)"
        ))
    })
}

pub async fn get_decisions(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    // Only the decisions row: no model parse or draft apply, since clients poll this for the
    // ETag before every write.
    let view = state.db(move |s| s.decisions(pid)).await?;
    let decisions: Decisions = match &view.json {
        Some(j) => serde_json::from_str(j)
            .map_err(|e| AppError::internal(format!("stored decisions: {e}")))?,
        None => Decisions::default(),
    };
    Ok((
        [(header::ETAG, etag(view.version))],
        Json(json!({"version": view.version, "decisions": decisions})),
    )
        .into_response())
}

pub async fn put_decisions(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let expected = if_match(&headers)?.ok_or_else(|| {
        AppError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "replacing the decisions needs If-Match with the version you read",
        )
    })?;
    // The decisions-file parser itself: the same rules (justifications, dates, patterns) as
    // `tmc review`, each error with line:column and the threat key. JSON is YAML.
    let decisions: Decisions = tmc_review::parse(&body, "decisions file")
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    if decisions.review_version != 1 {
        return Err(AppError::bad_request(
            "decisions file: review_version must be 1",
        ));
    }
    let v = service::replace_decisions(&state, pid, uid, decisions, expected).await?;
    Ok(([(header::ETAG, etag(v))], Json(json!({"version": v}))).into_response())
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum EditBody {
    Many { edits: Vec<Edit> },
    One(Edit),
}

pub async fn post_decision(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let expected = if_match(&headers)?;
    let edits = match serde_json::from_slice::<EditBody>(&body) {
        Ok(EditBody::Many { edits }) => edits,
        Ok(EditBody::One(e)) => vec![e],
        Err(_) => {
            // Say what is wrong with the single-edit form, the common case.
            let e = serde_json::from_slice::<Edit>(&body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(AppError::bad_request(format!("edit: {e}")));
        }
    };
    let v = service::record_edits(&state, pid, uid, a.username(), edits, expected).await?;
    Ok((
        StatusCode::OK,
        [(header::ETAG, etag(v))],
        Json(json!({"version": v})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CheckQuery {
    fail_on: Option<String>,
}

pub async fn check(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<CheckQuery>,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let threshold = match q.fail_on.as_deref() {
        None => Severity::High,
        Some(t) => Severity::parse(t)
            .ok_or_else(|| AppError::bad_request(format!("fail_on: `{t}` is not a severity")))?,
    };
    let cur = service::current(&state, pid).await?;
    let draft = cur
        .reviewed
        .ok_or_else(|| AppError::not_found("draft (run one first)"))?;
    let verdict = review::check(&draft, threshold, &review::now_rfc3339());
    Ok(Json(verdict).into_response())
}

#[derive(Deserialize)]
pub struct CommentsQuery {
    threat: Option<String>,
}

pub async fn list_comments(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<CommentsQuery>,
) -> Result<Json<Value>, AppError> {
    let pid = a.product()?.0.id;
    let all = state.db(move |s| s.comments(pid)).await?;
    Ok(Json(json!({
        "comments": all
            .iter()
            .filter(|c| q.threat.as_ref().is_none_or(|t| *t == c.threat_key))
            .map(|c| json!({
                "id": c.id,
                "threat": c.threat_key,
                "author": c.author,
                "at": review::rfc3339(c.at),
                "body": c.body,
            }))
            .collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    threat: String,
    body: String,
}

pub async fn post_comment(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    body: Bytes,
) -> Result<Response, AppError> {
    let pid = a.product()?.0.id;
    let uid = a.user_id().ok_or_else(AppError::unauthenticated)?;
    let c: NewComment = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("comment: {e}")))?;
    let id = service::add_comment(&state, pid, uid, c.threat, c.body).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

/// `?from=N&to=M` of the diff routes; both optional (the latest version and the one before).
#[derive(Deserialize)]
pub struct DiffQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// What changed between two versions: the `tmc diff` JSON (`diff_version` 1) plus the numbers
/// compared.
pub async fn diff(
    State(state): State<AppState>,
    Extension(a): Extension<Authz>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Value>, AppError> {
    let pid = a.product()?.0.id;
    let (from, to, diff) = service::version_diff(&state, pid, q.from, q.to).await?;
    let mut v = serde_json::to_value(&diff).map_err(|e| AppError::internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("from".into(), json!(from));
        o.insert("to".into(), json!(to));
    }
    Ok(Json(v))
}

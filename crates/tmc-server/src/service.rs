//! What pages and the API share: uploading versions, drafting, the reviewed draft, recording
//! review edits with optimistic concurrency.

use axum::http::StatusCode;
use tmc_dsl::ParsedModel;
use tmc_model::Draft;
use tmc_store::{ModelVersion, NewVersion, ProductId, UserId};

use crate::review::{self, ApplyContext, Decisions, Edit};
use crate::upload::{self, Problem};
use crate::{AppError, AppState, drafting};

/// Why an upload was not stored.
#[derive(Debug)]
pub enum UploadFailure {
    /// The model did not load or validate; nothing was stored.
    Problems(Vec<Problem>),
    Error(AppError),
}

impl From<AppError> for UploadFailure {
    fn from(e: AppError) -> Self {
        UploadFailure::Error(e)
    }
}

/// Validates and stores a new model version.
pub async fn add_version(
    state: &AppState,
    product: ProductId,
    user: UserId,
    bytes: Vec<u8>,
    file_name: String,
) -> Result<ModelVersion, UploadFailure> {
    if bytes.len() > state.cfg.max_upload_bytes {
        return Err(AppError::too_large(state.cfg.max_upload_bytes).into());
    }
    let file_name = sanitize_name(&file_name);
    let name = file_name.clone();
    let (loaded, bytes) = tokio::task::spawn_blocking(move || {
        let r = upload::load(&bytes, &name);
        (r, bytes)
    })
    .await
    .map_err(|e| AppError::internal(format!("upload task: {e}")))?;
    let loaded = loaded.map_err(UploadFailure::Problems)?;
    let v = state
        .db(move |s| {
            let original = loaded.imported_from.map(|_| bytes.as_slice());
            let v = s.add_version(
                product,
                user,
                &NewVersion {
                    dsl_text: &loaded.dsl_text,
                    original_name: &file_name,
                    original_bytes: original,
                    artifact_key: None,
                },
            )?;
            s.audit(
                Some(user),
                Some(product),
                "version.upload",
                &format!(
                    "version {} from `{}`{} sha256 {}",
                    v.number,
                    file_name,
                    loaded
                        .imported_from
                        .map(|f| format!(" (imported {f})"))
                        .unwrap_or_default(),
                    v.sha256
                ),
            )?;
            Ok(v)
        })
        .await?;
    Ok(v)
}

/// File names are shown and used in downloads: keep them short and printable.
fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() {
        "upload.yaml".into()
    } else {
        cleaned
    }
}

/// Drafts the latest version and stores the draft.
pub async fn run_draft(
    state: &AppState,
    product: ProductId,
    user: UserId,
) -> Result<(ModelVersion, Draft), AppError> {
    let version = state
        .db(move |s| s.latest_version(product))
        .await?
        .ok_or_else(|| AppError::bad_request("upload a model version before drafting"))?;
    let v = version.clone();
    let (draft, json) = tokio::task::spawn_blocking(move || {
        let parsed = upload::reload(&v.dsl_text, &v.original_name).map_err(|p| {
            AppError::internal(format!("stored version no longer validates: {p:?}"))
        })?;
        let draft = drafting::draft(&parsed.model, &v.original_name)
            .map_err(|e| AppError::internal(e.to_string()))?;
        let json = tmc_report::to_json(&draft).map_err(|e| AppError::internal(e.to_string()))?;
        Ok::<_, AppError>((draft, json))
    })
    .await
    .map_err(|e| AppError::internal(format!("draft task: {e}")))??;
    let (vid, number, n) = (version.id, version.number, draft.threats.len());
    state
        .db(move |s| {
            s.save_draft(vid, user, &json)?;
            s.audit(
                Some(user),
                Some(product),
                "draft.run",
                &format!("version {number}: {n} threats"),
            )
        })
        .await?;
    Ok((version, draft))
}

/// The decisions-file `model_hash` of a stored version (`sha256:` + the hash of its DSL text,
/// what `tmc_review::model_hash` gives for the same file).
pub fn model_hash(v: &ModelVersion) -> String {
    format!("sha256:{}", v.sha256)
}

/// A product's latest version, its model, its draft with the decisions applied.
pub struct Current {
    pub version: Option<ModelVersion>,
    pub parsed: Option<ParsedModel>,
    /// The stored draft as drafted (no decisions).
    pub drafted: Option<Draft>,
    /// The draft with the decisions applied.
    pub reviewed: Option<Draft>,
    pub decisions: Decisions,
    pub decisions_version: i64,
}

pub async fn current(state: &AppState, product: ProductId) -> Result<Current, AppError> {
    let (version, draft_json, view) = state
        .db(move |s| {
            let v = s.latest_version(product)?;
            let d = match &v {
                Some(v) => s.draft(v.id)?,
                None => None,
            };
            Ok((v, d, s.decisions(product)?))
        })
        .await?;
    let decisions: Decisions = match &view.json {
        Some(j) => serde_json::from_str(j)
            .map_err(|e| AppError::internal(format!("stored decisions: {e}")))?,
        None => Decisions::default(),
    };
    let parsed = match &version {
        Some(v) => Some(upload::reload(&v.dsl_text, &v.original_name).map_err(|p| {
            AppError::internal(format!("stored version no longer validates: {p:?}"))
        })?),
        None => None,
    };
    let drafted: Option<Draft> = match draft_json {
        Some(j) => Some(
            serde_json::from_str(&j)
                .map_err(|e| AppError::internal(format!("stored draft: {e}")))?,
        ),
        None => None,
    };
    let reviewed = match (drafted.clone(), &parsed, &version) {
        (Some(mut d), Some(parsed), Some(v)) => {
            let ctx = ApplyContext::from_model(&parsed.model, Some(model_hash(v)));
            review::apply(&mut d, &decisions, &ctx);
            Some(d)
        }
        _ => None,
    };
    Ok(Current {
        version,
        parsed,
        drafted,
        reviewed,
        decisions,
        decisions_version: view.version,
    })
}

/// What a 409 says: the edits made since the version the client had.
pub async fn conflict(state: &AppState, product: ProductId, yours: i64, current: i64) -> AppError {
    let changes = state
        .db(move |s| s.decision_events_since(product, yours))
        .await
        .unwrap_or_default();
    let changes: Vec<serde_json::Value> = changes
        .iter()
        .map(|e| {
            serde_json::json!({
                "version": e.version_after,
                "actor": e.actor,
                "at": review::rfc3339(e.at),
                "threat": e.threat_key,
                "edit": serde_json::from_str::<serde_json::Value>(&e.payload)
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    AppError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!(
            "the decisions changed since version {yours} (now {current}); review the changes and retry with If-Match: \"{current}\""
        ),
    )
    .with_details(serde_json::json!({
        "your_version": yours,
        "current_version": current,
        "changes": changes,
    }))
}

/// Records edits against the current draft. With `expected` (If-Match) a stale version is a
/// 409; without it, the edits are re-applied on a concurrent change (each edit touches one
/// threat and is checked again against the newer view).
pub async fn record_edits(
    state: &AppState,
    product: ProductId,
    user: UserId,
    reviewer: String,
    edits: Vec<Edit>,
    expected: Option<i64>,
) -> Result<i64, AppError> {
    if edits.is_empty() {
        return Err(AppError::bad_request("nothing to change"));
    }
    for _ in 0..5 {
        let cur = current(state, product).await?;
        if let Some(exp) = expected
            && exp != cur.decisions_version
        {
            return Err(conflict(state, product, exp, cur.decisions_version).await);
        }
        let (Some(drafted), Some(reviewed)) = (cur.drafted, cur.reviewed) else {
            return Err(AppError::bad_request("run a draft before deciding threats"));
        };
        let mut decisions = cur.decisions;
        // As `tmc review` does: an edit records the model version it was made on, which the
        // gate compares with the model it checks.
        if let Some(v) = &cur.version {
            decisions.model_hash = Some(model_hash(v));
        }
        let now = review::now_rfc3339();
        let ctx = match (&cur.parsed, &cur.version) {
            (Some(p), Some(v)) => ApplyContext::from_model(&p.model, Some(model_hash(v))),
            _ => ApplyContext::default(),
        };
        let mut events = Vec::new();
        for e in &edits {
            let key = review::edit(
                &mut decisions,
                e,
                &drafted,
                &reviewed,
                &ctx,
                &reviewer,
                &now,
            )
            .map_err(|err| {
                AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-edit",
                    err.to_string(),
                )
                .with_details(serde_json::json!({"threat": err.threat, "field": err.field}))
            })?;
            let payload =
                serde_json::to_string(e).map_err(|x| AppError::internal(x.to_string()))?;
            events.push((key, payload));
        }
        let json =
            serde_json::to_string(&decisions).map_err(|x| AppError::internal(x.to_string()))?;
        let base = cur.decisions_version;
        let summary = edits
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("; ");
        let result = state
            .db(move |s| {
                let v = s.record_decision(product, user, base, &events, &json)?;
                s.audit(Some(user), Some(product), "decision", &summary)?;
                Ok(v)
            })
            .await;
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.code == "conflict" => {
                if let Some(exp) = expected {
                    let now_v = state
                        .db(move |s| s.decisions(product))
                        .await
                        .map(|v| v.version)
                        .unwrap_or(exp);
                    return Err(conflict(state, product, exp, now_v).await);
                }
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the decisions kept changing; try again",
    ))
}

/// Replaces the whole decisions file (the decisions-file import), If-Match required.
pub async fn replace_decisions(
    state: &AppState,
    product: ProductId,
    user: UserId,
    decisions: Decisions,
    expected: i64,
) -> Result<i64, AppError> {
    let json = serde_json::to_string(&decisions).map_err(|x| AppError::internal(x.to_string()))?;
    let payload = serde_json::json!({"op": "replace", "decisions": decisions}).to_string();
    let r = state
        .db(move |s| {
            let v = s.record_decision(product, user, expected, &[("*".into(), payload)], &json)?;
            s.audit(
                Some(user),
                Some(product),
                "decisions.replace",
                &format!("version {v}"),
            )?;
            Ok(v)
        })
        .await;
    match r {
        Err(e) if e.code == "conflict" => {
            let now_v = state
                .db(move |s| s.decisions(product))
                .await
                .map(|v| v.version)
                .unwrap_or(expected);
            Err(conflict(state, product, expected, now_v).await)
        }
        other => other,
    }
}

/// Adds a comment on a threat of the current draft (manual threats included); the text is
/// stored as written and escaped wherever it is shown.
pub async fn add_comment(
    state: &AppState,
    product: ProductId,
    user: UserId,
    threat: String,
    body: String,
) -> Result<i64, AppError> {
    let body = body.trim().to_string();
    let invalid = |field: &str, message: String| {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-comment", message)
            .with_details(serde_json::json!({"threat": threat, "field": field}))
    };
    if body.is_empty() {
        return Err(invalid("body", format!("{threat}: body: write something")));
    }
    if body.len() > review::MAX_TEXT {
        return Err(invalid(
            "body",
            format!(
                "{threat}: body: longer than {} characters",
                review::MAX_TEXT
            ),
        ));
    }
    let cur = current(state, product).await?;
    let known = cur
        .reviewed
        .as_ref()
        .is_some_and(|d| d.threats.iter().any(|t| t.id == threat));
    if !known {
        return Err(invalid(
            "threat",
            format!("{threat}: threat: no threat with this id in the current draft"),
        ));
    }
    state
        .db(move |s| {
            let id = s.add_comment(product, user, &threat, &body)?;
            s.audit(
                Some(user),
                Some(product),
                "comment",
                &format!("{threat}: {} characters", body.len()),
            )?;
            Ok(id)
        })
        .await
}

/// One stored version with its model and its draft, the product's current decisions applied
/// (so a diff shows statuses and which decisions carry over to the newer draft).
async fn reviewed_version(
    state: &AppState,
    product: ProductId,
    number: i64,
    decisions: &Decisions,
) -> Result<(ParsedModel, Draft), AppError> {
    let (version, draft_json) = state
        .db(move |s| {
            let v = s.version(product, number)?;
            let d = match &v {
                Some(v) => s.draft(v.id)?,
                None => None,
            };
            Ok((v, d))
        })
        .await?;
    let version = version.ok_or_else(|| AppError::not_found(format!("version {number}")))?;
    let json = draft_json.ok_or_else(|| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-drafted",
            format!("version {number} has no draft: draft it before comparing"),
        )
    })?;
    let parsed = upload::reload(&version.dsl_text, &version.original_name).map_err(|p| {
        AppError::internal(format!(
            "stored version {number} no longer validates: {p:?}"
        ))
    })?;
    let mut draft: Draft = serde_json::from_str(&json)
        .map_err(|e| AppError::internal(format!("stored draft of version {number}: {e}")))?;
    let ctx = ApplyContext::from_model(&parsed.model, Some(model_hash(&version)));
    review::apply(&mut draft, decisions, &ctx);
    Ok((parsed, draft))
}

/// What changed from version `from` to version `to` (defaults: the latest version and the one
/// before it): `tmc_diff` over both models and both reviewed drafts. Returns the two numbers
/// compared and the diff.
pub async fn version_diff(
    state: &AppState,
    product: ProductId,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(i64, i64, tmc_diff::Diff), AppError> {
    let latest = state
        .db(move |s| s.latest_version(product))
        .await?
        .map(|v| v.number)
        .ok_or_else(|| AppError::not_found("model version (upload one first)"))?;
    let to = to.unwrap_or(latest);
    let from = from.unwrap_or((to - 1).max(1));
    let decisions = current(state, product).await?.decisions;
    let (old_model, old_draft) = reviewed_version(state, product, from, &decisions).await?;
    let (new_model, new_draft) = reviewed_version(state, product, to, &decisions).await?;
    let diff = tmc_diff::diff(&old_model.model, &new_model.model, &old_draft, &new_draft);
    Ok((from, to, diff))
}

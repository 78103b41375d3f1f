//! Template data (askama, `templates/`). Every value is escaped by askama when rendered; the
//! structs hold display strings prepared by the handlers so templates stay free of logic.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tmc_store::{ProductRow, Role, Session};

use crate::upload::Problem;

/// What the page frame needs.
pub struct Layout {
    pub title: String,
    pub user: String,
    pub csrf: String,
    pub notice: String,
}

impl Layout {
    pub fn new(title: impl Into<String>, session: Option<&Session>) -> Layout {
        Layout {
            title: title.into(),
            user: session.map(|s| s.user.username.clone()).unwrap_or_default(),
            csrf: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
            notice: String::new(),
        }
    }
}

/// The product heading and tabs.
pub struct ProductHead {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub role: String,
    pub is_admin: bool,
    pub can_develop: bool,
    pub can_review: bool,
}

impl ProductHead {
    pub fn new(p: &ProductRow, role: Role) -> ProductHead {
        ProductHead {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            role: role.as_str().into(),
            is_admin: role >= Role::Admin,
            can_develop: role >= Role::Developer,
            can_review: role >= Role::Reviewer,
        }
    }
}

pub struct ProblemRow {
    pub line: String,
    pub column: String,
    pub element: String,
    pub code: String,
    pub message: String,
    pub help: String,
}

pub fn problem_rows(problems: &[Problem]) -> Vec<ProblemRow> {
    let n = |x: u64| {
        if x == 0 {
            "?".to_string()
        } else {
            x.to_string()
        }
    };
    problems
        .iter()
        .map(|p| ProblemRow {
            line: n(p.line),
            column: n(p.column),
            element: p.element.clone().unwrap_or_default(),
            code: p.code.clone(),
            message: p.message.clone(),
            help: p.help.clone().unwrap_or_default(),
        })
        .collect()
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct Filter {
    pub name: &'static str,
    pub label: &'static str,
    pub options: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub l: Layout,
    pub status: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SigninPage {
    pub l: Layout,
    pub pre: String,
    pub error: String,
    pub username: String,
}

pub struct ProductListRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub version: String,
    pub percent: usize,
    pub progress: String,
    pub unresolved: String,
}

#[derive(Template)]
#[template(path = "products.html")]
pub struct ProductsPage {
    pub l: Layout,
    pub rows: Vec<ProductListRow>,
}

#[derive(Template)]
#[template(path = "product_new.html")]
pub struct NewProductPage {
    pub l: Layout,
    pub problems: Vec<ProblemRow>,
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct ProductPage {
    pub l: Layout,
    pub p: ProductHead,
    pub problems: Vec<ProblemRow>,
    pub version: String,
    pub draft_state: String,
    pub has_svg: bool,
    pub mermaid: String,
    pub components: Vec<(String, String, String, String, String)>,
    pub flows: Vec<(String, String, String, String, String)>,
    pub boundaries: Vec<(String, String, String, String)>,
}

pub struct ThreatRow {
    pub id: String,
    pub anchor: String,
    pub title: String,
    pub stride: String,
    pub targets: String,
    pub severity: String,
    pub drafted: String,
    pub severity_reason: String,
    pub status: String,
    pub origin: String,
    pub justification: String,
    /// How the decision reached this threat when not by its own id (a decision carried from
    /// an older id, or a pattern); empty otherwise.
    pub carried: String,
    pub status_options: Vec<Opt>,
    /// (id, text, status)
    pub mitigations: Vec<(String, String, String)>,
    /// (author, when, text), oldest first.
    pub comments: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "review.html")]
pub struct ReviewPage {
    pub l: Layout,
    pub p: ProductHead,
    pub has_draft: bool,
    pub tally: String,
    pub filters: Vec<Filter>,
    pub rows: Vec<ThreatRow>,
    /// Decisions that attached to no threat of this draft: (key, status, reason).
    pub orphans: Vec<(String, String, String)>,
    pub query: String,
    pub severity_options: Vec<Opt>,
    pub mitigation_options: Vec<Opt>,
    /// Elements of the current model a manual threat can target: (id, label).
    pub model_elements: Vec<(String, String)>,
    /// Threat statuses for the bulk form.
    pub status_names: Vec<&'static str>,
    /// (letter, name) for the manual threat form.
    pub stride_names: Vec<(char, &'static str)>,
}

#[derive(Template)]
#[template(path = "versions.html")]
pub struct VersionsPage {
    pub l: Layout,
    pub p: ProductHead,
    pub rows: Vec<(i64, String, String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub l: Layout,
    pub p: ProductHead,
    pub rows: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub l: Layout,
    pub p: ProductHead,
    pub rows: Vec<(String, String)>,
}

/// Renders a template as an HTML response (a render failure is a 500 with a plain body).
pub fn html<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            eprintln!("tmc-server: template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

pub fn error_page(status: StatusCode, message: &str, session: Option<&Session>) -> Response {
    let page = ErrorPage {
        l: Layout::new(status.to_string(), session),
        status: status.to_string(),
        message: message.to_string(),
    };
    html(status, &page)
}

/// One line of the model part of a diff: an added or removed element (empty `path`), or one
/// changed field of an element.
pub struct ModelChangeRow {
    pub kind: String,
    pub change: String,
    pub id: String,
    pub name: String,
    pub path: String,
    /// `control` for a declared control or security attribute, else empty.
    pub control: bool,
    pub old: String,
    pub new: String,
}

/// One line of the threat part of a diff.
pub struct ThreatChangeRow {
    /// new, gone, changed, re-identified
    pub change: String,
    pub id: String,
    pub title: String,
    pub severity: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "diff.html")]
pub struct DiffPage {
    pub l: Layout,
    pub p: ProductHead,
    pub from: i64,
    pub to: i64,
    /// Version numbers for the from/to pickers: (number, selected as from, selected as to).
    pub versions: Vec<(i64, bool, bool)>,
    pub empty: bool,
    pub ruleset: String,
    pub model_rows: Vec<ModelChangeRow>,
    pub threat_rows: Vec<ThreatChangeRow>,
    /// (threat id, decision key, matched by, needs confirmation, status)
    pub carried: Vec<(String, String, String, bool, String)>,
    /// (key, status, reason)
    pub orphaned: Vec<(String, String, String)>,
    pub new_unreviewed: Vec<String>,
}

#[derive(Template)]
#[template(path = "insights.html")]
pub struct InsightsPage {
    pub l: Layout,
    pub p: ProductHead,
    pub total: usize,
    pub reviewed: usize,
    pub percent: usize,
    pub unresolved: usize,
    pub needs_confirmation: usize,
    pub orphaned: usize,
    pub suppressed: usize,
    /// (css/id key, label, count)
    pub by_status: Vec<(String, String, usize)>,
    pub unresolved_by_severity: Vec<(String, usize)>,
    pub by_severity: Vec<(String, usize)>,
    /// (letter, name, count)
    pub by_stride: Vec<(char, String, usize)>,
    pub mitigations_by_status: Vec<(String, usize)>,
    pub mitigations: usize,
    pub threats_with_done_mitigation: usize,
}

/// The Insights tab before the first draft.
#[derive(Template)]
#[template(path = "insights_empty.html")]
pub struct EmptyInsights {
    pub l: Layout,
    pub p: ProductHead,
}

//! The route table: every route once, with the least access it needs. The guard looks each
//! request up here; a handler registered without a row is refused, so forgetting a row fails
//! closed. The authorisation-matrix test walks this same table.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tmc_store::Role;

use crate::{AppState, api, guard, pages};

/// The least a caller needs for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in page, stylesheet, OpenAPI document).
    Public,
    /// Any signed-in user (their product list, creating a product).
    SignedIn,
    /// A member of the product named by the `{pid}` path segment with at least this role
    /// (site admins count as admin everywhere; API tokens are capped by their own role).
    Product(Role),
}

/// One route: method, axum path pattern, access, and whether it is part of the JSON API
/// (bearer tokens, no cookies, no CSRF) or a page (session cookie, CSRF on writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub api: bool,
}

const fn page(method: &'static str, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        api: false,
    }
}

const fn api(method: &'static str, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        api: true,
    }
}

use Access::{Product, Public, SignedIn};
use Role::{Admin, Developer, Reviewer, Viewer};

pub const ROUTES: &[RouteSpec] = &[
    page("GET", "/", Public),
    page("GET", "/static/app.css", Public),
    page("GET", "/signin", Public),
    page("POST", "/signin", Public),
    page("POST", "/signout", SignedIn),
    page("GET", "/products", SignedIn),
    page("GET", "/products/new", SignedIn),
    page("POST", "/products", SignedIn),
    page("GET", "/p/{pid}", Product(Viewer)),
    page("GET", "/p/{pid}/diagram.svg", Product(Viewer)),
    page("POST", "/p/{pid}/versions", Product(Developer)),
    page("GET", "/p/{pid}/versions", Product(Viewer)),
    page("POST", "/p/{pid}/draft", Product(Developer)),
    page("GET", "/p/{pid}/review", Product(Viewer)),
    page("POST", "/p/{pid}/decide", Product(Reviewer)),
    page("POST", "/p/{pid}/decide-bulk", Product(Reviewer)),
    page("POST", "/p/{pid}/manual-threat", Product(Reviewer)),
    page("POST", "/p/{pid}/mitigation", Product(Reviewer)),
    page("GET", "/p/{pid}/diff", Product(Viewer)),
    page("GET", "/p/{pid}/insights", Product(Viewer)),
    page("POST", "/p/{pid}/comment", Product(Reviewer)),
    page("GET", "/p/{pid}/export/{format}", Product(Viewer)),
    page("GET", "/p/{pid}/audit", Product(Admin)),
    page("GET", "/p/{pid}/members", Product(Admin)),
    page("POST", "/p/{pid}/members", Product(Admin)),
    api("GET", "/api/openapi.json", Public),
    api("GET", "/api/v1/products", SignedIn),
    api("POST", "/api/v1/products", SignedIn),
    api("GET", "/api/v1/products/{pid}", Product(Viewer)),
    api("GET", "/api/v1/products/{pid}/versions", Product(Viewer)),
    api(
        "POST",
        "/api/v1/products/{pid}/versions",
        Product(Developer),
    ),
    api("POST", "/api/v1/products/{pid}/draft", Product(Developer)),
    api("GET", "/api/v1/products/{pid}/draft", Product(Viewer)),
    api("GET", "/api/v1/products/{pid}/decisions", Product(Viewer)),
    api("PUT", "/api/v1/products/{pid}/decisions", Product(Reviewer)),
    api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        Product(Reviewer),
    ),
    api("GET", "/api/v1/products/{pid}/check", Product(Viewer)),
    api("GET", "/api/v1/products/{pid}/diff", Product(Viewer)),
    api("GET", "/api/v1/products/{pid}/comments", Product(Viewer)),
    api("POST", "/api/v1/products/{pid}/comments", Product(Reviewer)),
];

/// The row for a method and a matched path pattern.
pub fn find(method: &str, path: &str) -> Option<&'static RouteSpec> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

pub(crate) fn build(state: AppState) -> Router {
    // Room for the multipart framing and the other form fields around the largest upload.
    let body_limit = state.cfg.max_upload_bytes + 64 * 1024;
    Router::new()
        .route("/", get(pages::home))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/signin", get(pages::signin_form).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route(
            "/products",
            get(pages::products).post(pages::create_product),
        )
        .route("/products/new", get(pages::new_product))
        .route("/p/{pid}", get(pages::product))
        .route("/p/{pid}/diagram.svg", get(pages::diagram_svg))
        .route(
            "/p/{pid}/versions",
            get(pages::versions).post(pages::upload_version),
        )
        .route("/p/{pid}/draft", post(pages::run_draft))
        .route("/p/{pid}/review", get(pages::review))
        .route("/p/{pid}/decide", post(pages::decide))
        .route("/p/{pid}/decide-bulk", post(pages::decide_bulk))
        .route("/p/{pid}/manual-threat", post(pages::manual_threat))
        .route("/p/{pid}/mitigation", post(pages::add_mitigation))
        .route("/p/{pid}/diff", get(pages::diff_page))
        .route("/p/{pid}/insights", get(pages::insights))
        .route("/p/{pid}/comment", post(pages::comment))
        .route("/p/{pid}/export/{format}", get(pages::export))
        .route("/p/{pid}/audit", get(pages::audit))
        .route(
            "/p/{pid}/members",
            get(pages::members).post(pages::add_member),
        )
        .route("/api/openapi.json", get(api::openapi))
        .route(
            "/api/v1/products",
            get(api::list_products).post(api::create_product),
        )
        .route("/api/v1/products/{pid}", get(api::product))
        .route(
            "/api/v1/products/{pid}/versions",
            get(api::versions).post(api::upload_version),
        )
        .route(
            "/api/v1/products/{pid}/draft",
            get(api::get_draft).post(api::run_draft),
        )
        .route(
            "/api/v1/products/{pid}/decisions",
            get(api::get_decisions)
                .put(api::put_decisions)
                .post(api::post_decision),
        )
        .route("/api/v1/products/{pid}/check", get(api::check))
        .route("/api/v1/products/{pid}/diff", get(api::diff))
        .route(
            "/api/v1/products/{pid}/comments",
            get(api::list_comments).post(api::post_comment),
        )
        .route_layer(from_fn_with_state(state.clone(), guard::guard))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(guard::security_headers))
        .with_state(state)
}

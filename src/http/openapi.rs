//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the JSON API, generated from the
//! code. Each route of the API scope is registered through `utoipa_actix_web`, whose
//! `service` takes only handlers that carry a `#[utoipa::path]` description: registering a
//! route is documenting it, and a route without one does not compile. Its parameters come from
//! the extractors it takes, its bodies from the `ToSchema` derives of the types it reads and
//! answers, so the document cannot drift from what the routes do.
//!
//! The document also holds the event catalog's payloads as JSON Schema
//! ([`crate::activity::catalog::schema`]), for the business app's developers.
//!
//! It is served without authentication: it holds no data, and tools fetch it before they
//! have credentials.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, RefOr, schema::Schema};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig;

use super::problem::Problem;
use super::session::COOKIE_NAME;
use crate::activity::catalog;

/// The document, serialized once when the scope is built.
pub struct Document {
    json: Bytes,
}

impl Document {
    /// The document of every route registered on `scope`.
    pub fn of<T>(scope: &utoipa_actix_web::scope::Scope<T>) -> Document {
        let document = assemble(scope);
        let json = serde_json::to_vec(&document).unwrap_or_else(|err| {
            // Only a non-string map key could fail, and the document has none.
            tracing::error!(error = %err, "cannot serialize the OpenAPI document");
            b"{}".to_vec()
        });
        Document { json: json.into() }
    }

    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hooktrail",
        description = include_str!("openapi.md"),
        license(name = "Proprietary"),
    ),
    tags(
        (name = "timelines", description = "Entries of a job or sales document, and the unmatched ones."),
        (name = "live", description = "Server-sent events as timelines change."),
        (name = "search", description = "Search across all activity."),
        (name = "operations", description = "Integrity, export and backups of the live store; the sources' status."),
        (name = "evidence", description = "Signed tree heads and proofs that anyone can check against them (see docs/verifying.md)."),
        (name = "documentation", description = "This document."),
    ),
    components(schemas(Problem)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = [])),
)]
struct Base;

/// The two ways to call the API: a bearer token from `[[auth.api_tokens]]`, or a staff
/// session (the pages' own scripts).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `[[auth.api_tokens]]` (the config keeps its SHA-256). \
                         Its role decides what it may read: `operator` routes answer 403 to \
                         `staff`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE_NAME,
                "A signed-in staff member's session, as the pages' scripts send it. Used only \
                 when no Authorization header is sent.",
            ))),
        );
    }
}

/// The base document with the paths and schemas of `scope`'s routes, and the catalog.
fn assemble<T>(scope: &utoipa_actix_web::scope::Scope<T>) -> Value {
    let mut openapi = Base::openapi();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
    openapi.paths = scope.paths();
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    scope.schemas(&mut schemas);
    super::live::event_schemas(&mut schemas);
    openapi
        .components
        .get_or_insert_with(Components::new)
        .schemas
        .extend(schemas);
    let mut document = serde_json::to_value(&openapi).unwrap_or(Value::Null);
    if let Some(components) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in catalog::schema::schemas() {
            components.entry(name).or_insert(schema);
        }
    }
    document
}

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json);
}

/// This document. Served without authentication: it holds no data, and tools fetch it first.
#[utoipa::path(
    tag = "documentation",
    operation_id = "openapi",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the JSON API.",
            content_type = "application/json", body = Object),
        Starting,
    ),
)]
#[get("/openapi.json")]
async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(document.json.clone())
}

// ---------------------------------------------------------------------------------------------
// The error responses several routes share. Each route lists those it can give; the ones that
// only it gives are written out on the route. These types only describe: the answers
// themselves are `ApiError`'s, so none is ever built (hence `dead_code`).

/// Answered when no valid credentials came: no `Authorization` header and no staff session, or
/// a bearer token that matches none.
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
#[allow(dead_code)]
pub struct Unauthenticated(Problem);

/// Answered to a token or session without the `operator` role, on the operators' routes.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The token or session is not an operator's.",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct OperatorsOnly(Problem);

/// Answered to an unexpected failure (a damaged store); the detail never says more.
#[derive(IntoResponses)]
#[response(status = 500, content_type = "application/problem+json")]
#[allow(dead_code)]
pub struct Internal(Problem);

/// Answered while the storage cannot serve the request, or while the gateway is starting (its
/// store replaying its journal): retry after `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))
)]
#[allow(dead_code)]
pub struct Unavailable(Problem);

/// Answered only while the gateway is starting (its store replaying its journal): retry after
/// `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))
)]
#[allow(dead_code)]
pub struct Starting(Problem);

#[cfg(test)]
mod tests;

//! `/api/v1/clients`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_store::page::Page;
use fsa_store::repo::clients::{Client, ClientFields, ClientFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{ClientBody, ClientQuery, nullable_text, opt_text, required_text};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

fn fields(b: ClientBody, creating: bool) -> Result<ClientFields, ApiError> {
    Ok(ClientFields {
        name: if creating {
            Some(required_text("name", b.name, 200)?)
        } else {
            opt_text("name", b.name, 200)?
        },
        contact_name: nullable_text("contact_name", b.contact_name, 200)?,
        email: nullable_text("email", b.email, 254)?,
        phone: nullable_text("phone", b.phone, 50)?,
        address: nullable_text("address", b.address, 500)?,
        is_active: b.is_active,
    })
}

/// Lists clients; `q` searches names.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ClientQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<Client>))))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ClientQuery>,
) -> Result<Json<Page<Client>>, ApiError> {
    let filter = ClientFilter {
        is_active: q.is_active,
        q: q.q.filter(|s| !s.trim().is_empty()),
        after: super::id_cursor(q.cursor.as_deref())?,
        limit: super::limit(q.limit)?,
    };
    Ok(Json(app.app.data(&caller).clients(filter).await?))
}

#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = ClientBody, security(("bearer" = [])),
    responses((status = 201, body = Client)))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<(StatusCode, Json<Client>), ApiError> {
    let f = fields(body, true)?;
    let c = app.app.data(&caller).create_client(f).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Client), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(app.app.data(&caller).client(id).await?))
}

#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = Uuid, Path)), request_body = ClientBody,
    security(("bearer" = [])), responses((status = 200, body = Client), (status = 404)))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Json<Client>, ApiError> {
    let f = fields(body, false)?;
    Ok(Json(app.app.data(&caller).update_client(id, f).await?))
}

/// Deletes a client no work order refers to (409 `in_use` otherwise).
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404), (status = 409, description = "`in_use`: a work order refers to the client")))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_client(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

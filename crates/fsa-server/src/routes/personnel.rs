//! `/api/v1/personnel`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_store::page::Page;
use fsa_store::repo::personnel::{Personnel, PersonnelFields};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{PersonnelBody, PersonnelQuery, nullable_text, opt_text, required_text};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

fn fields(b: PersonnelBody, creating: bool) -> Result<PersonnelFields, ApiError> {
    let skills = match b.skills {
        Some(list) => {
            if list.len() > 50 {
                return Err(ApiError::validation("skills", "at most 50 skills"));
            }
            Some(
                list.into_iter()
                    .map(|s| crate::dto::text("skills", s, 100))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        None => None,
    };
    Ok(PersonnelFields {
        name: if creating {
            Some(required_text("name", b.name, 200)?)
        } else {
            opt_text("name", b.name, 200)?
        },
        email: nullable_text("email", b.email, 254)?,
        phone: nullable_text("phone", b.phone, 50)?,
        skills,
        is_active: b.is_active,
        user_id: b.user_id,
    })
}

#[utoipa::path(get, path = "/api/v1/personnel", tag = "personnel", params(PersonnelQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<Personnel>))))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PersonnelQuery>,
) -> Result<Json<Page<Personnel>>, ApiError> {
    let after = super::id_cursor(q.cursor.as_deref())?;
    let limit = super::limit(q.limit)?;
    let data = app.app.data(&caller);
    Ok(Json(data.personnel(q.is_active, after, limit).await?))
}

#[utoipa::path(post, path = "/api/v1/personnel", tag = "personnel", request_body = PersonnelBody, security(("bearer" = [])),
    responses((status = 201, body = Personnel)))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PersonnelBody>,
) -> Result<(StatusCode, Json<Personnel>), ApiError> {
    let f = fields(body, true)?;
    let p = app.app.data(&caller).create_personnel(f).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(get, path = "/api/v1/personnel/{id}", tag = "personnel", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Personnel), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Personnel>, ApiError> {
    Ok(Json(app.app.data(&caller).person(id).await?))
}

#[utoipa::path(patch, path = "/api/v1/personnel/{id}", tag = "personnel", params(("id" = Uuid, Path)), request_body = PersonnelBody,
    security(("bearer" = [])), responses((status = 200, body = Personnel), (status = 404)))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PersonnelBody>,
) -> Result<Json<Personnel>, ApiError> {
    let f = fields(body, false)?;
    Ok(Json(app.app.data(&caller).update_personnel(id, f).await?))
}

#[utoipa::path(delete, path = "/api/v1/personnel/{id}", tag = "personnel", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404), (status = 409, description = "`in_use`: a work order or task is assigned to them")))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_personnel(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

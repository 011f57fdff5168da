use super::auth::CurrentUser;
use super::station_edits::parse_id;
use super::AppState;
use crate::error::{Error, Result};
use crate::store::Store;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The history route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(station_history))
}

/// Every audited change of a station, oldest first: who, when, which fields, before and after
/// (manager of the station, or admin; retired stations keep their history).
#[utoipa::path(
    get, path = "/api/v1/stations/{id}/history", tag = "stations",
    params(("id" = i64, Path, description = "Station id")),
    responses(
        (status = 200, description = "`{\"items\":[{id, station_id, actor, action, at, fields, before, after}]}`", body = Object),
        (status = 400, description = "Id not a 64-bit integer"),
        (status = 401, description = "Not logged in"), (status = 403, description = "Not a manager of this station"),
        (status = 404, description = "No such station"),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn station_history(
    State(store): State<Arc<dyn Store>>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id = parse_id(&id)?;
    user.require_manager_of(id)?;
    if !store.station_exists(id).await? {
        return Err(Error::NotFound(format!("no station with id {id}")));
    }
    let items = store.station_history(id).await?;
    Ok(Json(json!({ "items": items })))
}

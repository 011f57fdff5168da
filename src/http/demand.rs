//! `PUT /api/v1/demand` (import weighted demand points as CSV, aggregated to H3 cells; raw
//! points are not kept) and `GET /api/v1/demand` (what is held). Demand is not public: both need
//! a planner or admin session.

use super::auth::CurrentUser;
use super::extract::ApiQuery;
use super::AppState;
use crate::coverage::service::CoverageService;
use crate::domain::demand::{aggregate, QUERY_DEMAND_MIN_COUNT};
use crate::domain::{Account, Role};
use crate::error::{Error, Result};
use crate::io::import::ImportError;
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Largest demand file accepted over HTTP (about 300,000 points); the CLI takes any size.
pub const MAX_DEMAND_BYTES: usize = 16 * 1024 * 1024;

/// The demand routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_demand, get_demand))
        .layer(DefaultBodyLimit::max(MAX_DEMAND_BYTES))
}

fn require_planner(user: &Account) -> Result<()> {
    if matches!(user.role, Role::Admin | Role::Planner) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "{} is a {}; demand data needs a planner or admin",
            user.login, user.role
        )))
    }
}

/// Query of `PUT /api/v1/demand`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutDemandParams {
    /// `true` adds to the stored demand; default `false` replaces it.
    #[param(value_type = Option<bool>)]
    append: Option<String>,
}

/// What an import stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemandImported {
    /// Points read.
    pub points: usize,
    /// Cells (per label) stored by this import.
    pub cells: usize,
    /// Whether earlier demand was replaced.
    pub replaced: bool,
}

/// Imports demand points (CSV `lat,lon,weight[,label]`, WGS-84), all-or-nothing: one bad row
/// rejects the file with its row number and the store is unchanged.
#[utoipa::path(
    put, path = "/api/v1/demand", tag = "coverage",
    params(PutDemandParams),
    request_body(content = String, content_type = "text/csv", description = "lat,lon,weight[,label]"),
    responses(
        (status = 200, description = "Imported", body = DemandImported),
        (status = 400, description = "A bad row or header, an empty file (nothing stored), or an unknown parameter"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not a planner or admin"),
        (status = 413, description = "Larger than 16 MiB: use `yizhan demand import`"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn put_demand(
    State(store): State<Arc<dyn Store>>,
    State(service): State<Arc<CoverageService>>,
    CurrentUser(user): CurrentUser,
    ApiQuery(p): ApiQuery<PutDemandParams>,
    body: Bytes,
) -> Result<Json<DemandImported>> {
    require_planner(&user)?;
    let append = match p.append.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(o) => {
            return Err(Error::bad_request(
                "invalid_query",
                format!("append must be true or false, got {o:?}"),
            ))
        }
    };
    let points = crate::io::demand::parse_demand_csv(&body).map_err(|e| match e {
        ImportError::Store(s) => Error::from(s),
        other => Error::bad_request("invalid_demand_file", other.to_string()),
    })?;
    let cells = tokio::task::spawn_blocking(move || (points.len(), aggregate(&points)))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("aggregating demand: {e}")))?;
    let (n, cells) = cells;
    let stored = store.store_demand(&cells, !append).await?;
    service.set_imported_demand(&store.load_demand().await?);
    tracing::info!(login = %user.login, points = n, cells = stored, append, "demand imported");
    Ok(Json(DemandImported {
        points: n,
        cells: stored,
        replaced: !append,
    }))
}

/// Demand held: imported cells and weight, and counted query origins.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemandSummary {
    /// Imported demand cells (labels summed).
    pub imported_cells: usize,
    /// Their total weight.
    pub imported_weight: f64,
    /// Query-origin cells published (with at least `min_queries`).
    pub query_cells: usize,
    /// Queries in published cells.
    pub queries: u64,
    /// A query-origin cell is published from this many queries on.
    pub min_queries: u64,
}

/// What demand data the service holds.
#[utoipa::path(
    get, path = "/api/v1/demand", tag = "coverage",
    responses(
        (status = 200, description = "Summary", body = DemandSummary),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not a planner or admin"),
    )
)]
pub async fn get_demand(
    State(service): State<Arc<CoverageService>>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<DemandSummary>> {
    require_planner(&user)?;
    let d = service.demand();
    let published: Vec<_> = d.published_queries().collect();
    Ok(Json(DemandSummary {
        imported_cells: d.imported.len(),
        imported_weight: d.imported.iter().map(|&(_, w)| w).sum(),
        query_cells: published.len(),
        queries: published.iter().map(|&(_, n)| n).sum(),
        min_queries: QUERY_DEMAND_MIN_COUNT,
    }))
}

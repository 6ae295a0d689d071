//! The cluster's nodes, leader and load (issue 14, CLUSTER-02).

use axum::extract::State;
use mesher_store::{Role, Scope};

use super::auth::Caller;
use crate::cluster::{ClusterView, cluster_view};
use crate::error::ApiError;
use crate::state::AppState;

/// The nodes of the cluster: up or down, rate, queue depth, services, the leader.
///
/// For operators: an admin-scoped credential of a user who is an admin or owner of an
/// organization (Mesher has no instance-wide role; whoever administers an organization on a
/// self-hosted node may see the nodes it runs on).
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = ClusterView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ClusterView>, ApiError> {
    if caller.scope < Scope::Admin {
        return Err(ApiError::Forbidden(
            "the cluster view needs an admin token".into(),
        ));
    }
    if !caller
        .memberships
        .iter()
        .any(|(_, role)| *role >= Role::Admin)
    {
        return Err(ApiError::Forbidden(
            "the cluster view is for organization admins and owners".into(),
        ));
    }
    let view = cluster_view(
        state.store(),
        &state.cluster().identity().name,
        mesher_store::now(),
    )
    .await?;
    Ok(axum::Json(view))
}

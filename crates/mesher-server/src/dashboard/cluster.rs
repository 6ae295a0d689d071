//! The Cluster page (issue 14): every node, up or down, its rate, queue depth, services and
//! hand-offs, and which node runs the cluster's jobs. For organization admins and owners, as
//! `GET /api/v1/cluster`.

use askama::Template;
use axum::extract::State;
use mesher_store::Role;

use super::context::chrome;
use super::extract::SignedIn;
use super::format::When;
use super::layout::Layout;
use super::{HtmlError, impl_page};
use crate::cluster::{ClusterView, NodeState, cluster_view};
use crate::error::ApiError;
use crate::state::AppState;

/// The Cluster page.
#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    layout: Layout,
    view: ClusterView,
    rows: Vec<NodeRow>,
    single: bool,
}
impl_page!(ClusterPage);

/// One node's row.
pub struct NodeRow {
    name: String,
    address: String,
    version: String,
    up: bool,
    leader: bool,
    this_node: bool,
    rate: String,
    queue_depth: i64,
    handed_off: i64,
    taken_over: i64,
    heartbeat: When,
    started: When,
    services: Vec<(String, String)>,
}

/// `GET /cluster`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
) -> Result<ClusterPage, HtmlError> {
    if !user
        .caller
        .memberships
        .iter()
        .any(|(_, role)| *role >= Role::Admin)
    {
        return Err(ApiError::Forbidden(
            "the Cluster page is for organization admins and owners".into(),
        )
        .into());
    }
    let now = mesher_store::now();
    let zone = &user.zone;
    let view = cluster_view(state.store(), &state.cluster().identity().name, now).await?;
    let chrome = chrome(&state, &user, None).await?;
    let rows = view
        .nodes
        .iter()
        .map(|n| NodeRow {
            name: n.name.clone(),
            address: n.address.clone(),
            version: n.version.clone(),
            up: n.state == NodeState::Up,
            leader: n.leader,
            this_node: n.this_node,
            rate: format!("{:.1}", n.events_per_second),
            queue_depth: n.queue_depth,
            handed_off: n.handed_off,
            taken_over: n.taken_over,
            heartbeat: zone.when(n.last_heartbeat, now),
            started: zone.when(n.started_at, now),
            services: n
                .services
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|s| {
                            let field = |k: &str| s[k].as_str().unwrap_or("?").to_owned();
                            (field("name"), field("state"))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok(ClusterPage {
        single: view.backend == "sqlite",
        layout: layout.titled("Cluster").with_user(chrome),
        view,
        rows,
    })
}

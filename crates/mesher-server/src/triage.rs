//! Issue status changes made by people (the API, the dashboard's issue page and its bulk
//! actions): stored, then announced on the cluster bus so that every node (live streams,
//! alerts) learns of them.

use mesher_store::{Issue, StatusChange, StoreResult};

use crate::cluster::IssueEvent;
use crate::state::AppState;

/// Changes issue `issue_id`'s status as `user` and announces the new status.
pub async fn set_issue_status(
    state: &AppState,
    issue_id: i64,
    change: StatusChange,
    user: Option<i64>,
) -> StoreResult<Issue> {
    let issue = state
        .store()
        .set_issue_status(issue_id, change, user, mesher_store::now())
        .await?;
    state.bus().announce_issues(
        &state.cluster().identity().name,
        vec![IssueEvent {
            project_id: issue.project_id,
            issue_id: issue.id,
            change: issue.status.as_str().into(),
        }],
    );
    Ok(issue)
}

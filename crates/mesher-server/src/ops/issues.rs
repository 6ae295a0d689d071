//! Triage: issue status changes, assignment and deletion by people (the API, the dashboard's
//! issue page and its bulk actions). Status changes are stored, then announced on the cluster
//! bus so that every node (live streams, alerts) learns of them.

use mesher_store::{ArchiveUntil, Issue, Role, Scope, StatusChange};

use super::{Actor, Ops, OpsError, hidden};
use crate::cluster::IssueEvent;

/// The one reading of an issue status as people name it: the verb or its past participle
/// (`resolve`/`resolved`, `resolve_in_next_release`/`resolved_in_next_release`,
/// `unresolve`/`unresolved`, `archive`/`archived`/`ignored` as Sentry calls it,
/// `discard`/`discarded`). `until` is the archive condition, only for archiving; archiving
/// without one lasts until the issue escalates.
pub fn parse_change(status: &str, until: Option<ArchiveUntil>) -> Result<StatusChange, OpsError> {
    let change = match status {
        "resolve" | "resolved" => StatusChange::Resolve,
        "resolve_in_next_release" | "resolved_in_next_release" => {
            StatusChange::ResolveInNextRelease
        }
        "unresolve" | "unresolved" => StatusChange::Unresolve,
        "archive" | "archived" | "ignored" => {
            StatusChange::Archive(until.unwrap_or(ArchiveUntil::Escalating))
        }
        "discard" | "discarded" => StatusChange::Discard,
        other => {
            return Err(OpsError::Invalid(format!(
                "status: {other:?} is not one of resolved, resolved_in_next_release, unresolved, archived, discarded"
            )));
        }
    };
    if until.is_some() && !matches!(change, StatusChange::Archive(_)) {
        return Err(OpsError::Invalid(format!(
            "until, duration_minutes, count, window_minutes, user_count and user_window_minutes \
             only apply to status archived, not {status:?}"
        )));
    }
    Ok(change)
}

/// The issue, when the actor may act on it with `scope` and `role`; with `project_id`, it must
/// belong to that project. Non-members are told it does not exist.
pub async fn issue(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: Option<i64>,
    id: i64,
    scope: Scope,
    role: Role,
) -> Result<Issue, OpsError> {
    let issue = ops
        .store()
        .issue(id)
        .await?
        .filter(|i| project_id.is_none_or(|p| p == i.project_id))
        .ok_or(OpsError::NotFound("issue"))?;
    let project = ops
        .store()
        .project(issue.project_id)
        .await?
        .ok_or(OpsError::NotFound("issue"))?;
    actor
        .require(project.org_id, scope, role)
        .map_err(hidden("issue"))?;
    Ok(issue)
}

/// Changes an issue's status (triage: the member role and write scope) and announces it.
pub async fn set_status(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: Option<i64>,
    id: i64,
    change: StatusChange,
) -> Result<Issue, OpsError> {
    issue(ops, actor, project_id, id, Scope::Write, Role::Member).await?;
    let issue = ops
        .store()
        .set_issue_status(id, change, actor.user_id(), mesher_store::now())
        .await?;
    ops.announce(vec![IssueEvent {
        project_id: issue.project_id,
        issue_id: issue.id,
        change: issue.status.as_str().into(),
    }]);
    Ok(issue)
}

/// Assigns an issue to a member of its organization, or to nobody (triage).
pub async fn assign(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: Option<i64>,
    id: i64,
    assignee: Option<i64>,
) -> Result<Issue, OpsError> {
    issue(ops, actor, project_id, id, Scope::Write, Role::Member).await?;
    Ok(ops
        .store()
        .assign_issue(id, assignee, actor.user_id())
        .await?)
}

/// Deletes an issue and its events (admins); its fingerprint may open a new issue later.
pub async fn delete(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: Option<i64>,
    id: i64,
) -> Result<(), OpsError> {
    issue(ops, actor, project_id, id, Scope::Admin, Role::Admin).await?;
    ops.store().delete_issue(id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_in_both_forms() {
        for (words, change) in [
            (["resolve", "resolved"], StatusChange::Resolve),
            (["unresolve", "unresolved"], StatusChange::Unresolve),
            (["discard", "discarded"], StatusChange::Discard),
            (
                ["archive", "ignored"],
                StatusChange::Archive(ArchiveUntil::Escalating),
            ),
        ] {
            for word in words {
                assert_eq!(parse_change(word, None).unwrap(), change, "{word}");
            }
        }
        assert_eq!(
            parse_change("archived", Some(ArchiveUntil::Forever)).unwrap(),
            StatusChange::Archive(ArchiveUntil::Forever)
        );
        assert!(parse_change("explode", None).is_err());
        assert!(parse_change("resolved", Some(ArchiveUntil::Forever)).is_err());
    }
}

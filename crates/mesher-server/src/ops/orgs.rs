//! Organizations: finding one the actor may act on, and creating one with its owner.

use mesher_store::{Organization, Role, Scope};

use super::{Actor, Ops, OpsError, hidden};
use crate::accounts;

/// The organization with this slug, when the actor may act on it with `scope` and `role`, with
/// the actor's role there. Non-members are told it does not exist.
pub async fn org(
    ops: Ops<'_>,
    actor: Actor<'_>,
    slug: &str,
    scope: Scope,
    role: Role,
) -> Result<(Organization, Role), OpsError> {
    let org = ops
        .store()
        .org_by_slug(slug)
        .await?
        .ok_or(OpsError::NotFound("organization"))?;
    let have = actor
        .require(org.id, scope, role)
        .map_err(hidden("organization"))?;
    Ok((org, have))
}

/// Creates an organization. A person needs an admin-scoped credential and becomes its owner,
/// in the same transaction; the operator creates it without members.
pub async fn create_org(
    ops: Ops<'_>,
    actor: Actor<'_>,
    name: &str,
    slug: Option<&str>,
) -> Result<Organization, OpsError> {
    let slug = accounts::checked_slug(name, slug)?;
    let store = ops.store();
    match actor {
        Actor::User(caller) => {
            if caller.scope < Scope::Admin {
                return Err(super::Denied::Scope(Scope::Admin).into());
            }
            Ok(store
                .create_org_with_owner(name.trim(), &slug, caller.user_id)
                .await?)
        }
        Actor::Operator => Ok(store.create_org(name.trim(), &slug).await?),
    }
}

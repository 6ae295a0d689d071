//! An organization's members: changing a role and removing a member. Only owners give or take
//! the owner role; the store keeps the last owner (a 409 otherwise).

use mesher_store::{Member, Organization, Role, Scope};

use super::{Actor, Denied, Ops, OpsError, hidden};

/// Checks that someone whose role is `have` may give `role`, or take it away.
pub fn may_grant(have: Role, role: Role) -> Result<(), Denied> {
    if role == Role::Owner && have != Role::Owner {
        return Err(Denied::OwnerRole);
    }
    Ok(())
}

/// `user_id`'s membership of `org`.
async fn member(ops: Ops<'_>, org: &Organization, user_id: i64) -> Result<Member, OpsError> {
    ops.store()
        .list_members(org.id)
        .await?
        .into_iter()
        .find(|m| m.user.id == user_id)
        .ok_or(OpsError::NotFound("member"))
}

/// Gives member `user_id` of `org` the role `role` (admins; owners for the owner role).
pub async fn set_role(
    ops: Ops<'_>,
    actor: Actor<'_>,
    org: &Organization,
    user_id: i64,
    role: Role,
) -> Result<Member, OpsError> {
    let have = actor
        .require(org.id, Scope::Admin, Role::Admin)
        .map_err(hidden("organization"))?;
    let current = member(ops, org, user_id).await?;
    may_grant(have, role)?;
    may_grant(have, current.role)?;
    ops.store().set_member_role(org.id, user_id, role).await?;
    member(ops, org, user_id).await
}

/// Removes member `user_id` from `org` (admins; owners for an owner). Members may remove
/// themselves, whatever their role.
pub async fn remove(
    ops: Ops<'_>,
    actor: Actor<'_>,
    org: &Organization,
    user_id: i64,
) -> Result<(), OpsError> {
    let leaving = actor.user_id() == Some(user_id);
    let needed = if leaving { Role::Member } else { Role::Admin };
    let have = actor
        .require(org.id, Scope::Admin, needed)
        .map_err(hidden("organization"))?;
    let current = member(ops, org, user_id).await?;
    if !leaving {
        may_grant(have, current.role)?;
    }
    ops.store().remove_member(org.id, user_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_hand_out_the_owner_role() {
        assert_eq!(may_grant(Role::Admin, Role::Owner), Err(Denied::OwnerRole));
        assert_eq!(may_grant(Role::Admin, Role::Admin), Ok(()));
        assert_eq!(may_grant(Role::Owner, Role::Owner), Ok(()));
    }
}

//! Who acts, and the one permission rule every front-end applies.
//!
//! Every resource belongs to an organization. A person who is not a member is told the resource
//! does not exist (its existence is not revealed); a member whose role or credential scope is too
//! low is refused. The operator at the command line stands outside the organizations and may do
//! everything, as the one who runs the server could through the database anyway.

use mesher_store::{Role, Scope};
use thiserror::Error;

use crate::api::auth::Caller;

/// Who performs an operation.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A person: an API caller (token or session) or a dashboard user (whose session caller
    /// this is).
    User(&'a Caller),
    /// The operator running `mesher` commands against the database: every permission, on
    /// behalf of no user.
    Operator,
}

impl<'a> From<&'a Caller> for Actor<'a> {
    fn from(caller: &'a Caller) -> Self {
        Actor::User(caller)
    }
}

impl Actor<'_> {
    /// The acting user, recorded as the author of what changes; `None` for the operator.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(caller) => Some(caller.user_id),
            Actor::Operator => None,
        }
    }

    /// Checks that the actor may act on `org_id` with `scope` and at least `role`, and gives
    /// the actor's role there (the operator counts as an owner).
    pub fn require(&self, org_id: i64, scope: Scope, role: Role) -> Result<Role, Denied> {
        match self {
            Actor::User(caller) => check(&caller.memberships, caller.scope, org_id, scope, role),
            Actor::Operator => Ok(Role::Owner),
        }
    }
}

/// Why an actor may not do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Denied {
    /// Not a member of the organization: answered as "not found".
    #[error("not found")]
    NotMember,
    /// The credential's scope is below the one needed.
    #[error("this token's scope does not allow {0} access")]
    Scope(Scope),
    /// The member's role is below the one needed.
    #[error("this needs the {0} role")]
    Role(Role),
    /// A read-scoped credential may not create or revoke tokens (the action).
    #[error("a read token cannot {0} tokens")]
    ReadToken(&'static str),
    /// A credential may not create a token of a scope above its own.
    #[error("a {have} credential cannot create a {want} token")]
    ScopeAbove {
        /// The credential's scope.
        have: Scope,
        /// The scope asked for.
        want: Scope,
    },
    /// Only owners give or take the owner role.
    #[error("only owners can make owners")]
    OwnerRole,
}

/// The permission rule: a member of `org_id` (per `memberships`) whose credential has at least
/// `scope` and whose role is at least `role`. Gives the member's role.
pub fn check(
    memberships: &[(i64, Role)],
    have_scope: Scope,
    org_id: i64,
    scope: Scope,
    role: Role,
) -> Result<Role, Denied> {
    let have = memberships
        .iter()
        .find(|(o, _)| *o == org_id)
        .map(|(_, r)| *r)
        .ok_or(Denied::NotMember)?;
    if have_scope < scope {
        return Err(Denied::Scope(scope));
    }
    if have < role {
        return Err(Denied::Role(role));
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_need_the_scope_and_the_role() {
        let ms = [(1, Role::Member), (2, Role::Admin)];
        assert_eq!(
            check(&ms, Scope::Admin, 3, Scope::Read, Role::Member),
            Err(Denied::NotMember)
        );
        assert_eq!(
            check(&ms, Scope::Admin, 1, Scope::Admin, Role::Admin),
            Err(Denied::Role(Role::Admin))
        );
        assert_eq!(
            check(&ms, Scope::Admin, 2, Scope::Admin, Role::Admin),
            Ok(Role::Admin)
        );
        // A read token may not triage, whatever the role.
        assert_eq!(
            check(&ms, Scope::Read, 2, Scope::Write, Role::Member),
            Err(Denied::Scope(Scope::Write))
        );
    }

    #[test]
    fn the_operator_may_do_everything() {
        assert_eq!(
            Actor::Operator.require(9, Scope::Admin, Role::Owner),
            Ok(Role::Owner)
        );
        assert_eq!(Actor::Operator.user_id(), None);
    }
}

//! API tokens: a person creates and revokes their own, the operator those of any user.
//!
//! A token may create tokens of at most its own scope, and a read token none at all: creating a
//! credential is a write, and a leaked read token that could mint another would outlive its own
//! revocation. A signed-in session holds every scope, so it may create any.

use mesher_store::{ApiToken, Scope};

use super::{Actor, Denied, Ops, OpsError};
use crate::accounts;

/// Checks that the actor may manage `user_id`'s tokens, with a credential of at least the write
/// scope (only tokens can have less: a session holds every scope); `doing` names the action in
/// the refusal.
fn may_manage(actor: Actor<'_>, user_id: i64, doing: &'static str) -> Result<(), OpsError> {
    let Actor::User(caller) = actor else {
        return Ok(());
    };
    if caller.user_id != user_id {
        return Err(OpsError::NotFound("token"));
    }
    if caller.scope < Scope::Write {
        return Err(Denied::ReadToken(doing).into());
    }
    Ok(())
}

/// Creates a token of `scope` for `user_id`; the secret is in this answer only.
pub async fn create(
    ops: Ops<'_>,
    actor: Actor<'_>,
    user_id: i64,
    label: &str,
    scope: Scope,
) -> Result<(String, ApiToken), OpsError> {
    may_manage(actor, user_id, "create")?;
    if let Actor::User(caller) = actor
        && scope > caller.scope
    {
        return Err(Denied::ScopeAbove {
            have: caller.scope,
            want: scope,
        }
        .into());
    }
    Ok(accounts::create_token(ops.store(), user_id, label, scope).await?)
}

/// Revokes token `id` of `user_id`: it stops working at once.
pub async fn revoke(
    ops: Ops<'_>,
    actor: Actor<'_>,
    user_id: i64,
    id: i64,
) -> Result<ApiToken, OpsError> {
    may_manage(actor, user_id, "revoke")?;
    Ok(ops.store().revoke_token(user_id, id).await?)
}

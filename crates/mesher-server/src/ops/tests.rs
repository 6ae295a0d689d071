//! The layer's own permission checks, on the bare store: the same answers whichever front-end
//! calls.

use mesher_store::testing::TestDb;
use mesher_store::{ProjectUpdate, Role, Scope};

use super::projects::{self, KeyRef};
use super::{Actor, Denied, Ops, OpsError, members, orgs, tokens};
use crate::accounts;
use crate::api::auth::{Caller, Credential};

fn caller(user_id: i64, scope: Scope, memberships: Vec<(i64, Role)>) -> Caller {
    Caller {
        user_id,
        scope,
        memberships,
        credential: Credential::Token,
    }
}

fn rate(per_minute: i64) -> ProjectUpdate {
    ProjectUpdate {
        rate_limit_per_minute: Some(per_minute),
        ..ProjectUpdate::default()
    }
}

#[tokio::test]
async fn project_settings_are_changed_by_admins_only() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let ops = Ops::Offline(store.as_ref());
    let org = accounts::create_org(store.as_ref(), "Acme", None)
        .await
        .unwrap();
    let (project, _) = accounts::create_project(store.as_ref(), org.id, "Web", None, None)
        .await
        .unwrap();
    let p = project.id;

    let member = caller(1, Scope::Admin, vec![(org.id, Role::Member)]);
    let err = projects::update_project(ops, (&member).into(), p, &rate(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::Role(Role::Admin))),
        "{err}"
    );
    let read_admin = caller(2, Scope::Read, vec![(org.id, Role::Admin)]);
    let err = projects::update_project(ops, (&read_admin).into(), p, &rate(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::Scope(Scope::Admin))),
        "{err}"
    );
    // Someone of another organization learns nothing, not even that the project exists.
    let outsider = caller(3, Scope::Admin, vec![(org.id + 1, Role::Owner)]);
    let err = projects::create_key(ops, (&outsider).into(), p, None)
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::NotFound("project")), "{err}");
    assert_eq!(store.list_keys(p).await.unwrap().len(), 1);
    assert_eq!(
        store
            .project(p)
            .await
            .unwrap()
            .unwrap()
            .rate_limit_per_minute,
        project.rate_limit_per_minute
    );

    let admin = caller(4, Scope::Admin, vec![(org.id, Role::Admin)]);
    let changed = projects::update_project(ops, (&admin).into(), p, &rate(5))
        .await
        .unwrap();
    assert_eq!(changed.rate_limit_per_minute, 5);
    let changed = projects::update_project(ops, Actor::Operator, p, &rate(7))
        .await
        .unwrap();
    assert_eq!(changed.rate_limit_per_minute, 7);
}

#[tokio::test]
async fn keys_are_revoked_only_in_their_project() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let ops = Ops::Offline(store.as_ref());
    let org = accounts::create_org(store.as_ref(), "Acme", None)
        .await
        .unwrap();
    let (web, web_key) = accounts::create_project(store.as_ref(), org.id, "Web", None, None)
        .await
        .unwrap();
    let (api, _) = accounts::create_project(store.as_ref(), org.id, "Api", None, None)
        .await
        .unwrap();
    let wrong = KeyRef::Public {
        project_id: api.id,
        public_key: &web_key.public_key,
    };
    let err = projects::revoke_key(ops, Actor::Operator, wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::NotFound("key")), "{err}");
    // The CLI names a key alone, in any case.
    let upper = web_key.public_key.to_ascii_uppercase();
    let revoked = projects::revoke_key(ops, Actor::Operator, KeyRef::Anywhere(&upper))
        .await
        .unwrap();
    assert_eq!((revoked.project_id, revoked.id), (web.id, web_key.id));
    assert!(revoked.revoked_at.is_some());
}

#[tokio::test]
async fn a_person_creating_an_organization_owns_it_and_needs_an_admin_token() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let ops = Ops::Offline(store.as_ref());
    let user = accounts::create_user(store.as_ref(), "ada@example.com", None, "long enough", None)
        .await
        .unwrap();
    let writer = caller(user.id, Scope::Write, vec![]);
    let err = orgs::create_org(ops, (&writer).into(), "Acme", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::Scope(Scope::Admin))),
        "{err}"
    );
    let admin = caller(user.id, Scope::Admin, vec![]);
    let org = orgs::create_org(ops, (&admin).into(), "Acme", None)
        .await
        .unwrap();
    let members = store.list_members(org.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user.id, m.role))
            .collect::<Vec<_>>(),
        [(user.id, Role::Owner)]
    );
    // The operator's organizations start without members.
    let org = orgs::create_org(ops, Actor::Operator, "Ops", Some("ops"))
        .await
        .unwrap();
    assert!(store.list_members(org.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn members_leave_but_only_owners_remove_owners() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let ops = Ops::Offline(store.as_ref());
    let user = |email: &'static str| {
        let store = store.clone();
        async move {
            accounts::create_user(store.as_ref(), email, None, "long enough", None)
                .await
                .unwrap()
        }
    };
    let (owner, admin, member) = (
        user("o@example.com").await,
        user("a@example.com").await,
        user("m@example.com").await,
    );
    let org = store
        .create_org_with_owner("Acme", "acme", owner.id)
        .await
        .unwrap();
    store
        .add_member(org.id, admin.id, Role::Admin)
        .await
        .unwrap();
    store
        .add_member(org.id, member.id, Role::Member)
        .await
        .unwrap();
    let as_admin = caller(admin.id, Scope::Admin, vec![(org.id, Role::Admin)]);
    let err = members::remove(ops, (&as_admin).into(), &org, owner.id)
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Denied(Denied::OwnerRole)), "{err}");
    let err = members::set_role(ops, (&as_admin).into(), &org, member.id, Role::Owner)
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Denied(Denied::OwnerRole)), "{err}");
    let as_member = caller(member.id, Scope::Admin, vec![(org.id, Role::Member)]);
    let err = members::remove(ops, (&as_member).into(), &org, admin.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::Role(Role::Admin))),
        "{err}"
    );
    members::remove(ops, (&as_member).into(), &org, member.id)
        .await
        .unwrap();
    let demoted = members::set_role(ops, (&as_admin).into(), &org, admin.id, Role::Member)
        .await
        .unwrap();
    assert_eq!(demoted.role, Role::Member);
    assert_eq!(store.list_members(org.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn tokens_are_made_within_the_credentials_scope() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let ops = Ops::Offline(store.as_ref());
    let ada = accounts::create_user(store.as_ref(), "ada@example.com", None, "long enough", None)
        .await
        .unwrap();
    let read = caller(ada.id, Scope::Read, vec![]);
    let err = tokens::create(ops, (&read).into(), ada.id, "r", Scope::Read)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::ReadToken("create"))),
        "{err}"
    );
    let write = caller(ada.id, Scope::Write, vec![]);
    let err = tokens::create(ops, (&write).into(), ada.id, "a", Scope::Admin)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Denied(Denied::ScopeAbove { .. })),
        "{err}"
    );
    let (_, token) = tokens::create(ops, (&write).into(), ada.id, "w", Scope::Write)
        .await
        .unwrap();
    // Nobody else's tokens are visible, let alone revocable.
    let other = caller(ada.id + 1, Scope::Admin, vec![]);
    let err = tokens::revoke(ops, (&other).into(), ada.id, token.id)
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::NotFound("token")), "{err}");
    let revoked = tokens::revoke(ops, Actor::Operator, ada.id, token.id)
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
}

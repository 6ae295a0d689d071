//! The conformance suite: every test runs against SQLite and PostgreSQL, and both must agree.
//! This suite is the proof that the two backends behave the same (ORG-01, ORG-02, ORG-03,
//! ORG-04, ORG-05).

mod common;

use std::sync::Arc;

use mesher_store::*;

conformance!(
    migrations_are_idempotent,
    organizations_have_unique_slugs,
    projects_get_default_settings_and_unique_slugs_per_org,
    issue_11_projects_keep_their_scrubbing_settings,
    project_keys_are_listed_looked_up_and_revoked,
    users_have_unique_case_insensitive_emails,
    memberships_carry_roles,
    organizations_are_created_with_their_owner_or_not_at_all,
    invitations_become_memberships_only_when_accepted,
    api_tokens_are_found_by_digest_touched_and_revoked,
    bootstrap_runs_once,
    bootstrap_is_skipped_when_organizations_exist,
    concurrent_bootstraps_create_one_organization,
    instance_values_are_kept_and_replaced,
);

async fn instance_values_are_kept_and_replaced(store: Arc<dyn Store>) {
    assert_eq!(store.meta("public_url").await.unwrap(), None);
    store
        .set_meta("public_url", "http://a.example:8000/")
        .await
        .unwrap();
    store
        .set_meta("public_url", "https://errors.example.com/mesher")
        .await
        .unwrap();
    assert_eq!(
        store.meta("public_url").await.unwrap().as_deref(),
        Some("https://errors.example.com/mesher")
    );
    // The instance's own bookkeeping is untouched.
    assert!(store.config_epoch().await.unwrap() >= 0);
}

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    store.migrate().await.expect("second migration is a no-op");
    store.ping().await.unwrap();
}

async fn organizations_have_unique_slugs(store: Arc<dyn Store>) {
    let acme = store.create_org("Acme", "acme").await.unwrap();
    assert!(acme.id > 0);
    assert_eq!(acme.name, "Acme");
    let err = store.create_org("Acme again", "acme").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("acme")),
        "{err}"
    );

    let other = store.create_org("Other", "other").await.unwrap();
    assert_eq!(store.org(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.org_by_slug("other").await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(store.org_by_slug("nope").await.unwrap(), None);
    assert_eq!(store.org(9999).await.unwrap(), None);
    assert_eq!(store.list_orgs().await.unwrap(), vec![acme, other]);
}

async fn projects_get_default_settings_and_unique_slugs_per_org(store: Arc<dyn Store>) {
    let a = store.create_org("A", "a").await.unwrap();
    let b = store.create_org("B", "b").await.unwrap();
    let new = |org_id, slug| NewProject {
        org_id,
        name: "Backend",
        slug,
        platform: Some("python"),
    };
    let p = store.create_project(&new(a.id, "backend")).await.unwrap();
    assert!(p.id > 0);
    assert_eq!(p.org_id, a.id);
    assert_eq!(p.platform.as_deref(), Some("python"));
    assert_eq!(p.retention_days, DEFAULT_RETENTION_DAYS);
    assert_eq!(p.sample_rate, 1.0);
    assert_eq!(p.rate_limit_per_minute, DEFAULT_RATE_LIMIT_PER_MINUTE);

    // The same slug is fine in another organization, not twice in one.
    let q = store.create_project(&new(b.id, "backend")).await.unwrap();
    let err = store
        .create_project(&new(a.id, "backend"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store.create_project(&new(4242, "x")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("organization")), "{err}");

    let no_platform = store
        .create_project(&NewProject {
            org_id: a.id,
            name: "Web",
            slug: "web",
            platform: None,
        })
        .await
        .unwrap();
    assert_eq!(no_platform.platform, None);

    assert_eq!(store.project(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.project(12345).await.unwrap(), None);
    assert_eq!(
        store.list_projects(Some(a.id)).await.unwrap(),
        vec![p.clone(), no_platform.clone()]
    );
    assert_eq!(
        store.list_projects(None).await.unwrap(),
        vec![p, q, no_platform]
    );
}

async fn issue_11_projects_keep_their_scrubbing_settings(store: Arc<dyn Store>) {
    let org = store.create_org("A", "a").await.unwrap();
    let p = store
        .create_project(&NewProject {
            org_id: org.id,
            name: "Shop",
            slug: "shop",
            platform: None,
        })
        .await
        .unwrap();
    // Sentry's defaults: scrubbing on, IP addresses kept, no extra or safe fields.
    assert!(p.scrub_data);
    assert!(!p.scrub_ip_addresses);
    assert!(p.sensitive_fields.is_empty());
    assert!(p.safe_fields.is_empty());

    let epoch = store.config_epoch().await.unwrap();
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let updated = store
        .update_project(
            p.id,
            &ProjectUpdate {
                scrub_data: Some(false),
                scrub_ip_addresses: Some(true),
                sensitive_fields: Some(strings(&[" ssn ", "iban", "SSN", "carte_bancaire"])),
                safe_fields: Some(strings(&["password_hint", "Password_Hint"])),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(!updated.scrub_data);
    assert!(updated.scrub_ip_addresses);
    // Stored trimmed, without duplicates that differ only in case, in the order given.
    assert_eq!(updated.sensitive_fields, ["ssn", "iban", "carte_bancaire"]);
    assert_eq!(updated.safe_fields, ["password_hint"]);
    assert_eq!(store.project(p.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(
        store.list_projects(Some(org.id)).await.unwrap(),
        vec![updated.clone()]
    );
    // Ingest caches project settings: a change must move the config epoch.
    assert_ne!(store.config_epoch().await.unwrap(), epoch);

    // Fields not given stay; an empty list clears.
    let cleared = store
        .update_project(
            p.id,
            &ProjectUpdate {
                scrub_data: Some(true),
                safe_fields: Some(Vec::new()),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(cleared.scrub_data);
    assert!(cleared.scrub_ip_addresses);
    assert_eq!(cleared.sensitive_fields, updated.sensitive_fields);
    assert!(cleared.safe_fields.is_empty());

    for (update, field) in [
        (
            ProjectUpdate {
                sensitive_fields: Some(strings(&["ok", "  "])),
                ..ProjectUpdate::default()
            },
            "sensitive_fields",
        ),
        (
            ProjectUpdate {
                safe_fields: Some(strings(&["a,b"])),
                ..ProjectUpdate::default()
            },
            "safe_fields",
        ),
        (
            ProjectUpdate {
                safe_fields: Some(vec!["x".repeat(101)]),
                ..ProjectUpdate::default()
            },
            "safe_fields",
        ),
        (
            ProjectUpdate {
                sensitive_fields: Some((0..=MAX_SCRUB_FIELDS).map(|i| format!("f{i}")).collect()),
                ..ProjectUpdate::default()
            },
            "sensitive_fields",
        ),
    ] {
        let err = store.update_project(p.id, &update).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid { field: f, .. } if *f == field),
            "{err}"
        );
    }
    assert_eq!(store.project(p.id).await.unwrap(), Some(cleared));
}

async fn project_keys_are_listed_looked_up_and_revoked(store: Arc<dyn Store>) {
    let org = store.create_org("A", "a").await.unwrap();
    let project = store
        .create_project(&NewProject {
            org_id: org.id,
            name: "P",
            slug: "p",
            platform: None,
        })
        .await
        .unwrap();
    let epoch0 = store.config_epoch().await.unwrap();
    let k1 = "0123456789abcdef0123456789abcdef";
    let k2 = "fedcba9876543210fedcba9876543210";
    let first = store.create_key(project.id, k1, "Default").await.unwrap();
    let second = store.create_key(project.id, k2, "frontend").await.unwrap();
    assert_eq!(first.public_key, k1);
    assert_eq!(second.label, "frontend");
    assert_eq!(first.revoked_at, None);

    let epoch1 = store.config_epoch().await.unwrap();
    assert!(
        epoch1 > epoch0,
        "creating keys must change the config epoch"
    );
    let err = store.create_key(project.id, k1, "dup").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store
        .create_key(999, "aa".repeat(16).as_str(), "x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("project")), "{err}");

    assert_eq!(
        store.list_keys(project.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.lookup_key(k1).await.unwrap(),
        Some(KeyLookup {
            project_id: project.id,
            revoked: false
        })
    );
    assert_eq!(store.lookup_key(&"0".repeat(32)).await.unwrap(), None);

    let revoked = store.revoke_key(k1).await.unwrap();
    assert!(
        store.config_epoch().await.unwrap() > epoch1,
        "revoking must change the epoch"
    );
    let when = revoked.revoked_at.expect("revocation time");
    assert!(store.lookup_key(k1).await.unwrap().unwrap().revoked);
    assert!(!store.lookup_key(k2).await.unwrap().unwrap().revoked);
    // Revoking again keeps the first time.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.revoke_key(k1).await.unwrap().revoked_at, Some(when));
    let err = store.revoke_key(&"1".repeat(32)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("key")), "{err}");
    // Revoked keys stay listed.
    assert_eq!(store.list_keys(project.id).await.unwrap().len(), 2);
}

async fn users_have_unique_case_insensitive_emails(store: Arc<dyn Store>) {
    let user = store
        .create_user(&NewUser {
            email: " Ada@Example.COM ",
            name: "Ada",
            password_hash: "$argon2id$fake",
        })
        .await
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.password_hash, "$argon2id$fake");
    let err = store
        .create_user(&NewUser {
            email: "ADA@example.com",
            name: "Other",
            password_hash: "x",
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store.user_by_email("ada@EXAMPLE.com").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(store.user(user.id + 100).await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap(), vec![user.clone()]);

    // The dashboard's time zone (issue 19): none (the browser's) until set, and clearable.
    assert_eq!(user.time_zone, None);
    let set = store
        .set_user_time_zone(user.id, Some("Asia/Kolkata"))
        .await
        .unwrap();
    assert_eq!(set.time_zone.as_deref(), Some("Asia/Kolkata"));
    assert_eq!(store.user(user.id).await.unwrap(), Some(set));
    let cleared = store.set_user_time_zone(user.id, None).await.unwrap();
    assert_eq!(cleared, user);
    let err = store
        .set_user_time_zone(user.id + 100, Some("UTC"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("user")), "{err}");
}

async fn memberships_carry_roles(store: Arc<dyn Store>) {
    let a = store.create_org("A", "a").await.unwrap();
    let b = store.create_org("B", "b").await.unwrap();
    let u = store
        .create_user(&NewUser {
            email: "u@example.com",
            name: "U",
            password_hash: "x",
        })
        .await
        .unwrap();
    let m = store.add_member(b.id, u.id, Role::Admin).await.unwrap();
    assert_eq!((m.org_id, m.user_id, m.role), (b.id, u.id, Role::Admin));
    store.add_member(a.id, u.id, Role::Member).await.unwrap();
    let err = store.add_member(a.id, u.id, Role::Owner).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store.add_member(777, u.id, Role::Owner).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    let ms = store.memberships(u.id).await.unwrap();
    assert_eq!(
        ms.iter().map(|m| (m.org_id, m.role)).collect::<Vec<_>>(),
        vec![(a.id, Role::Member), (b.id, Role::Admin)]
    );
    assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
    assert!("superuser".parse::<Role>().is_err());
}

async fn organizations_are_created_with_their_owner_or_not_at_all(store: Arc<dyn Store>) {
    let u = store
        .create_user(&NewUser {
            email: "owner@example.com",
            name: "Owner",
            password_hash: "x",
        })
        .await
        .unwrap();
    let org = store
        .create_org_with_owner("Mine", "mine", u.id)
        .await
        .unwrap();
    store
        .set_user_time_zone(u.id, Some("Europe/Oslo"))
        .await
        .unwrap();
    let members = store.list_members(org.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user.id, m.role, m.user.time_zone.as_deref()))
            .collect::<Vec<_>>(),
        vec![(u.id, Role::Owner, Some("Europe/Oslo"))]
    );
    // An owner who does not exist: neither the membership nor the organization is kept.
    let err = store
        .create_org_with_owner("Orphan", "orphan", 9999)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(store.org_by_slug("orphan").await.unwrap(), None);
}

async fn invitations_become_memberships_only_when_accepted(store: Arc<dyn Store>) {
    let org = store.create_org("A", "a").await.unwrap();
    let user = |email: &'static str| NewUser {
        email,
        name: "U",
        password_hash: "x",
    };
    let admin = store.create_user(&user("admin@example.com")).await.unwrap();
    let bob = store.create_user(&user("bob@example.com")).await.unwrap();
    let eve = store.create_user(&user("eve@example.com")).await.unwrap();
    let now = mesher_store::now();
    let week = now + time::Duration::days(7);
    let invite = |email, role, expires_at| NewInvitation {
        org_id: org.id,
        email,
        role,
        invited_by: admin.id,
        expires_at,
    };

    let first = store
        .create_invitation(&invite(" Bob@Example.com", Role::Member, week))
        .await
        .unwrap();
    assert_eq!(
        (
            first.org_id,
            first.email.as_str(),
            first.role,
            first.invited_by
        ),
        (org.id, "bob@example.com", Role::Member, Some(admin.id))
    );
    // Inviting again updates the pending invitation instead of adding another.
    let again = store
        .create_invitation(&invite("bob@example.com", Role::Admin, week))
        .await
        .unwrap();
    assert_eq!((again.id, again.role), (first.id, Role::Admin));
    // An email without an account can be invited too (nobody is told which is which).
    let nobody = store
        .create_invitation(&invite("nobody@example.com", Role::Member, week))
        .await
        .unwrap();
    let expired = store
        .create_invitation(&invite("eve@example.com", Role::Member, now))
        .await
        .unwrap();
    assert_eq!(
        store.invitation(expired.id).await.unwrap().map(|i| i.id),
        Some(expired.id),
        "kept, but no longer listed or accepted"
    );
    let listed = store.org_invitations(org.id, now).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        [first.id, nobody.id]
    );
    assert_eq!(
        store
            .email_invitations("BOB@example.com", now)
            .await
            .unwrap(),
        vec![again.clone()]
    );
    assert!(store.memberships(bob.id).await.unwrap().is_empty());

    // Nobody accepts another's invitation, nor an expired one.
    let err = store
        .accept_invitation(first.id, eve.id, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let err = store
        .accept_invitation(expired.id, eve.id, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    let member = store
        .accept_invitation(first.id, bob.id, now)
        .await
        .unwrap();
    assert_eq!(
        (member.org_id, member.user_id, member.role),
        (org.id, bob.id, Role::Admin)
    );
    assert_eq!(store.invitation(first.id).await.unwrap(), None, "consumed");
    let err = store
        .accept_invitation(first.id, bob.id, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    // Accepting while a member already consumes the invitation and keeps the membership.
    let dup = store
        .create_invitation(&invite("bob@example.com", Role::Member, week))
        .await
        .unwrap();
    let kept = store.accept_invitation(dup.id, bob.id, now).await.unwrap();
    assert_eq!(kept.role, Role::Admin);
    assert_eq!(store.invitation(dup.id).await.unwrap(), None);

    store.delete_invitation(nobody.id).await.unwrap();
    let err = store.delete_invitation(nobody.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let err = store
        .create_invitation(&NewInvitation {
            org_id: 999,
            ..invite("x@example.com", Role::Member, week)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

async fn api_tokens_are_found_by_digest_touched_and_revoked(store: Arc<dyn Store>) {
    let u = store
        .create_user(&NewUser {
            email: "u@example.com",
            name: "U",
            password_hash: "x",
        })
        .await
        .unwrap();
    let other = store
        .create_user(&NewUser {
            email: "o@example.com",
            name: "O",
            password_hash: "x",
        })
        .await
        .unwrap();
    let new = |hash, scope| NewApiToken {
        user_id: u.id,
        label: "ci",
        scope,
        token_hash: hash,
        prefix: "mshr_abc",
    };
    let t1 = store.create_token(&new("h1", Scope::Read)).await.unwrap();
    let t2 = store.create_token(&new("h2", Scope::Admin)).await.unwrap();
    assert_eq!(t1.scope, Scope::Read);
    assert_eq!(t1.last_used_at, None);
    let err = store
        .create_token(&NewApiToken {
            user_id: 4040,
            ..new("h3", Scope::Read)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("user")), "{err}");

    assert_eq!(store.token_by_hash("h2").await.unwrap(), Some(t2.clone()));
    assert_eq!(store.token_by_hash("nope").await.unwrap(), None);

    let at = now();
    store.touch_token(t1.id, at).await.unwrap();
    let touched = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(at));

    let listed = store.list_tokens(u.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id, t1.id]
    );

    let err = store.revoke_token(other.id, t1.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("token")), "{err}");
    let revoked = store.revoke_token(u.id, t1.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(
        store
            .token_by_hash("h1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

fn plan<'a>(key: &'a str) -> BootstrapPlan<'a> {
    BootstrapPlan {
        org: ("Default", "default"),
        project: ("Default", "default"),
        public_key: key,
        admin: NewUser {
            email: "admin@example.com",
            name: "Admin",
            password_hash: "$argon2id$fake",
        },
    }
}

async fn bootstrap_runs_once(store: Arc<dyn Store>) {
    let key = "ab".repeat(16);
    let done = store
        .bootstrap(&plan(&key))
        .await
        .unwrap()
        .expect("first start bootstraps");
    assert_eq!(done.org.slug, "default");
    assert_eq!(done.project.org_id, done.org.id);
    assert_eq!(done.key.project_id, done.project.id);
    assert_eq!(done.admin.email, "admin@example.com");
    let ms = store.memberships(done.admin.id).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].role, Role::Owner);

    let again = store.bootstrap(&plan(&"cd".repeat(16))).await.unwrap();
    assert!(again.is_none(), "the second start must not bootstrap");
    assert_eq!(store.list_orgs().await.unwrap().len(), 1);
}

async fn bootstrap_is_skipped_when_organizations_exist(store: Arc<dyn Store>) {
    store.create_org("Mine", "mine").await.unwrap();
    assert!(
        store
            .bootstrap(&plan(&"ab".repeat(16)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_users().await.unwrap().is_empty());
}

async fn concurrent_bootstraps_create_one_organization(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("{i:0>32}");
                store.bootstrap(&plan(&key)).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.list_orgs().await.unwrap().len(), 1);
}

//! Project settings: admins change them, members read them; keys with their DSNs; deleting.

use axum::http::StatusCode;

use crate::dashboard::{Page, TestApp, message, see_other};

#[tokio::test]
async fn admins_see_the_form_keys_and_snippets() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let page = ada
        .page(&app, &format!("/projects/{p}/settings"), StatusCode::OK)
        .await;

    assert_eq!(page.text("title"), "Settings · Web · Mesher");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Settings"
    );
    assert_eq!(page.count("#project fieldset[disabled]"), 0);
    assert_eq!(page.attr("input#name", "value"), "Web");
    assert_eq!(page.attr("#platform option[selected]", "value"), "python");
    assert_eq!(page.attr("input#retention_days", "value"), "90");
    assert_eq!(page.attr("input#sample_rate", "value"), "1");
    assert_eq!(page.attr("input#rate_limit_per_minute", "value"), "6000");
    for id in [
        "name",
        "platform",
        "retention_days",
        "sample_rate",
        "rate_limit_per_minute",
    ] {
        page.one(&format!("label[for={id}]"));
    }
    assert_eq!(page.text("#project button[type=submit]"), "Save settings");

    let dsn = format!("http://{}@127.0.0.1:8000/{p}", world.key.public_key);
    let key = page.one("#keys li.key input[readonly]");
    assert_eq!(key.attr("value"), Some(dsn.as_str()));
    let id = key.attr("id").unwrap();
    assert_eq!(
        page.count(&format!("#keys button[data-copy={id}][hidden]")),
        1
    );
    assert_eq!(page.text("#keys details.confirm-menu > summary"), "Revoke…");
    assert_eq!(page.count("#keys form input#key-label"), 1);
    assert_eq!(
        page.texts("details.snippet-choice > summary"),
        ["Python", "JavaScript", "Rust"]
    );
    assert_eq!(page.texts(".settings dl.kv dd"), ["0", "0", "0 B"]);
    assert_eq!(
        page.count("section.danger input#confirm-delete[required]"),
        1
    );
    assert_eq!(
        page.text(r#".page-header a[href="/orgs/acme/members"]"#),
        "Members of Acme"
    );
}

#[tokio::test]
async fn members_read_the_settings_and_cannot_change_them() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let max = app.session(&world.member).await;
    let p = world.project.id;
    let page = max
        .page(&app, &format!("/projects/{p}/settings"), StatusCode::OK)
        .await;
    assert!(
        page.text("[role=note]")
            .contains("only admins of Acme can change them")
    );
    assert_eq!(page.count("#project fieldset[disabled]"), 1);
    assert_eq!(page.count("#project button"), 0);
    assert_eq!(page.count("#keys details.confirm-menu"), 0);
    assert_eq!(page.count("#keys form"), 0);
    assert_eq!(page.count("section.danger"), 0);
    // The DSN is still there to copy.
    assert_eq!(page.count("#keys input[readonly]"), 1);

    for (path, fields) in [
        (
            format!("/projects/{p}/settings"),
            vec![
                ("name", "Hacked"),
                ("retention_days", "1"),
                ("sample_rate", "0"),
                ("rate_limit_per_minute", "1"),
            ],
        ),
        (format!("/projects/{p}/keys"), vec![("label", "mine")]),
        (
            format!("/projects/{p}/keys/{}/revoke", world.key.id),
            vec![],
        ),
        (format!("/projects/{p}/delete"), vec![("confirm", "web")]),
    ] {
        let response = max.post(&app, &path, &fields).await;
        let page = Page::from_response(response, StatusCode::FORBIDDEN).await;
        assert_eq!(
            page.text(".error-message"),
            "this needs the admin role",
            "{path}"
        );
    }
    let project = app.store.project(p).await.unwrap().unwrap();
    assert_eq!(project.name, "Web");
    assert_eq!(app.store.list_keys(p).await.unwrap().len(), 1);
}

#[tokio::test]
async fn saving_checks_the_values_and_keeps_what_was_typed() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let path = format!("/projects/{p}/settings");
    let response = ada
        .post(
            &app,
            &path,
            &[
                ("name", "Storefront"),
                ("platform", "node"),
                ("retention_days", "0"),
                ("sample_rate", "0.25"),
                ("rate_limit_per_minute", "100"),
            ],
        )
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(page.text("[role=alert]"), "Correct the field marked below.");
    assert_eq!(
        page.text("#retention_days-error"),
        "Retention must be between 1 and 3650."
    );
    assert_eq!(page.attr("input#retention_days", "aria-invalid"), "true");
    assert_eq!(
        page.attr("input#retention_days", "aria-describedby"),
        "retention_days-error retention-help"
    );
    assert_eq!(page.count(".field-error"), 1);
    assert_eq!(page.count("input#sample_rate[aria-invalid]"), 0);
    assert_eq!(page.attr("input#name", "value"), "Storefront");
    assert_eq!(page.attr("input#retention_days", "value"), "0");
    assert_eq!(page.attr("#platform option[selected]", "value"), "node");
    assert_eq!(app.store.project(p).await.unwrap().unwrap().name, "Web");

    // Every refused field at once, each beside its input, in words and with the form's labels.
    let response = ada
        .post(
            &app,
            &path,
            &[
                ("name", " "),
                ("platform", "cobol"),
                ("retention_days", "ninety"),
                ("sample_rate", "2"),
                ("rate_limit_per_minute", "-1"),
            ],
        )
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        page.text("[role=alert]"),
        "Correct the 5 fields marked below."
    );
    for (field, message) in [
        ("name", "Name must not be empty."),
        ("platform", "Choose a platform from the list."),
        (
            "retention_days",
            "Retention must be a whole number of days.",
        ),
        ("sample_rate", "Sample rate must be between 0 and 1."),
        (
            "rate_limit_per_minute",
            "Rate limit must be between 0 (unlimited) and 100000000.",
        ),
    ] {
        assert_eq!(page.text(&format!("#{field}-error")), message);
        assert_eq!(page.attr(&format!("#{field}"), "aria-invalid"), "true");
        assert!(
            page.attr(&format!("#{field}"), "aria-describedby")
                .starts_with(&format!("{field}-error"))
        );
    }
    assert_eq!(page.attr("input#retention_days", "value"), "ninety");
    assert_eq!(page.attr("input#sample_rate", "value"), "2");
    assert_eq!(page.attr("input#rate_limit_per_minute", "value"), "-1");

    let response = ada
        .post(
            &app,
            &path,
            &[
                ("name", "Storefront"),
                ("platform", "node"),
                ("retention_days", "30"),
                ("sample_rate", "0.25"),
                ("rate_limit_per_minute", "100"),
            ],
        )
        .await;
    let target = see_other(&response);
    assert_eq!(target, format!("{path}?done=saved"));
    let page = ada.page(&app, &target, StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Settings saved.");
    assert_eq!(page.attr("input#name", "value"), "Storefront");
    assert_eq!(page.attr("input#sample_rate", "value"), "0.25");
    assert_eq!(page.text("details.switcher > summary"), "Acme / Storefront");
    // The node project's snippets lead with JavaScript.
    assert_eq!(
        page.text("details.snippet-choice[open] > summary"),
        "JavaScript"
    );
}

#[tokio::test]
async fn issue_11_scrubbing_settings_are_saved_from_the_form() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let path = format!("/projects/{p}/settings");
    let page = ada.page(&app, &path, StatusCode::OK).await;
    // Sentry's defaults: scrubbing on, IP addresses kept.
    assert_eq!(page.count("input#scrub_data[type=checkbox][checked]"), 1);
    assert_eq!(page.count("input#scrub_ip_addresses[checked]"), 0);
    assert_eq!(page.text("textarea#sensitive_fields"), "");
    assert_eq!(page.count("input[type=hidden][name=scrubbing]"), 1);
    for id in ["sensitive_fields", "safe_fields"] {
        page.one(&format!("label[for={id}]"));
    }
    let base = [
        ("name", "Web"),
        ("platform", "python"),
        ("retention_days", "90"),
        ("sample_rate", "1"),
        ("rate_limit_per_minute", "6000"),
    ];

    // Unchecked boxes send nothing; the marker says the section was on the form.
    let long = "x".repeat(101);
    let mut form = base.to_vec();
    form.extend([
        ("scrubbing", "1"),
        ("scrub_ip_addresses", "on"),
        ("sensitive_fields", long.as_str()),
    ]);
    let response = ada.post(&app, &path, &form).await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(page.text("[role=alert]"), "Correct the field marked below.");
    assert!(
        page.text("#sensitive_fields-error")
            .starts_with("Additional sensitive fields: entry \"xxxx"),
        "{}",
        page.text("#sensitive_fields-error")
    );
    assert_eq!(page.text("textarea#sensitive_fields"), long);
    assert_eq!(page.count("input#scrub_data[checked]"), 0);
    assert_eq!(page.count("input#scrub_ip_addresses[checked]"), 1);
    assert!(app.store.project(p).await.unwrap().unwrap().scrub_data);

    let mut form = base.to_vec();
    form.extend([
        ("scrubbing", "1"),
        ("scrub_ip_addresses", "on"),
        ("sensitive_fields", "ssn\r\niban, carte"),
        ("safe_fields", "password_hint"),
    ]);
    let response = ada.post(&app, &path, &form).await;
    let target = see_other(&response);
    let project = app.store.project(p).await.unwrap().unwrap();
    assert!(!project.scrub_data);
    assert!(project.scrub_ip_addresses);
    assert_eq!(project.sensitive_fields, ["ssn", "iban", "carte"]);
    assert_eq!(project.safe_fields, ["password_hint"]);
    let page = ada.page(&app, &target, StatusCode::OK).await;
    assert_eq!(page.count("input#scrub_data[checked]"), 0);
    assert_eq!(page.count("input#scrub_ip_addresses[checked]"), 1);
    // One entry per line (the helper collapses the whitespace).
    assert_eq!(page.text("textarea#sensitive_fields"), "ssn iban carte");
    assert_eq!(page.text("textarea#safe_fields"), "password_hint");

    // A form without the section (an older page) leaves the scrubbing settings alone.
    let response = ada.post(&app, &path, &base).await;
    see_other(&response);
    let after = app.store.project(p).await.unwrap().unwrap();
    assert_eq!(
        (
            after.scrub_data,
            after.scrub_ip_addresses,
            after.sensitive_fields
        ),
        (false, true, project.sensitive_fields)
    );
}

/// Ingestion reads keys and settings through this node's cache: a change made in the dashboard
/// applies to the very next event, not only after the cache's next epoch check (issue 16: the
/// dashboard's key changes did not drop the cache as the API's did).
#[tokio::test]
async fn dashboard_changes_reach_ingestion_at_once() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    // The first event puts the key and the project's settings in the cache.
    app.send_event(&world, message("cached", "error")).await;
    let retention = world.project.retention_days.to_string();
    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/settings"),
            &[
                ("name", "Web"),
                ("platform", ""),
                ("retention_days", &retention),
                ("sample_rate", "0"),
                ("rate_limit_per_minute", "0"),
            ],
        )
        .await;
    assert_eq!(
        see_other(&response),
        format!("/projects/{p}/settings?done=saved")
    );
    // Sampled out: answered as accepted and never stored.
    app.send_event(&world, message("sampled out", "error"))
        .await;
    assert_eq!(app.store.count_events(p).await.unwrap(), 1);

    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/keys/{}/revoke", world.key.id),
            &[],
        )
        .await;
    see_other(&response);
    let response = app.ingest(&world, &message("refused", "error")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn keys_are_added_and_revoked() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/keys"),
            &[("label", "frontend")],
        )
        .await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Key created.");
    assert_eq!(
        page.texts("#keys .key-head strong"),
        ["Default", "frontend"]
    );

    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/keys/{}/revoke", world.key.id),
            &[],
        )
        .await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.count("#keys li.key-revoked"), 1);
    assert!(
        page.text("#keys li.key-revoked .badge")
            .starts_with("revoked")
    );
    assert_eq!(
        page.count("#keys details.confirm-menu"),
        1,
        "only the live key can be revoked"
    );
    let response = ada
        .post(&app, &format!("/projects/{p}/keys/999999/revoke"), &[])
        .await;
    Page::from_response(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn deleting_a_project_needs_its_slug() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/delete"),
            &[("confirm", "Web")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        page.text("[role=alert]"),
        "Type the project's slug, web, to confirm the deletion."
    );
    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/delete"),
            &[("confirm", "web")],
        )
        .await;
    assert_eq!(see_other(&response), "/");
    assert!(app.store.project(p).await.unwrap().is_none());
    // With no project left, the owner is sent to create one.
    assert_eq!(
        see_other(&ada.get(&app, "/").await),
        "/orgs/acme/projects/new"
    );
}

use super::*;

fn part(frame: Frame, platform: &str) -> FramePart {
    frame_part(&frame, platform)
}

fn child(part: &FramePart, id: ComponentId) -> &Component {
    part.component
        .children
        .iter()
        .find(|c| c.id == id)
        .expect("component present")
}

fn function(name: &str) -> Frame {
    Frame {
        function: Some(name.into()),
        ..Frame::default()
    }
}

fn cleaned_function(name: &str, platform: &str) -> (String, bool, Option<Hint>) {
    let p = part(function(name), platform);
    let f = child(&p, ComponentId::Function);
    (f.value.clone().unwrap_or_default(), f.contributes, f.hint)
}

#[test]
fn module_takes_precedence_over_filename_group_01() {
    let p = part(
        Frame {
            module: Some("shop.models".into()),
            filename: Some("shop/models.py".into()),
            abs_path: Some("/srv/app/shop/models.py".into()),
            function: Some("load_user".into()),
            context_line: Some("    return   data['user_id']".into()),
            lineno: Some(12),
            colno: Some(4),
            in_app: Some(true),
            ..Frame::default()
        },
        "python",
    );
    assert_eq!(
        p.component.contributing_values(),
        ["shop.models", "load_user", "return data['user_id']"]
    );
    assert_eq!(
        child(&p, ComponentId::Filename).hint,
        Some(Hint::ModuleTakesPrecedence)
    );
    assert!(p.in_app);
}

#[test]
fn filenames_are_base_names_without_queries_or_urls_group_01() {
    let file = |filename: &str, abs_path: Option<&str>, platform: &str| {
        let p = part(
            Frame {
                filename: Some(filename.into()),
                abs_path: abs_path.map(Into::into),
                function: Some("f".into()),
                ..Frame::default()
            },
            platform,
        );
        let c = child(&p, ComponentId::Filename).clone();
        (c.value.unwrap_or_default(), c.contributes, c.hint)
    };
    assert_eq!(file("src/Main.rs", None, "native").0, "main.rs");
    assert_eq!(file("C:\\app\\Program.cs", None, "csharp").0, "program.cs");
    assert_eq!(
        file("/static/app.js?v=123", Some("/static/app.js?v=123"), "node"),
        ("app.js".to_owned(), true, Some(Hint::HashRemoved))
    );
    let (_, contributes, hint) = file(
        "7f7aaadf-a006-4217",
        Some("blob:https://example.com/7f7aaadf-a006-4217"),
        "javascript",
    );
    assert_eq!((contributes, hint), (false, Some(Hint::UrlOrigin)));
    // URLs that give a module (the usual case) leave the file name to it.
    let (_, contributes, hint) = file(
        "/assets/app.js",
        Some("https://cdn.example.com/assets/app.js"),
        "javascript",
    );
    assert_eq!(
        (contributes, hint),
        (false, Some(Hint::ModuleTakesPrecedence))
    );
    assert_eq!(
        file("<anonymous>", None, "node").2,
        Some(Hint::AnonymousFilename)
    );
    assert_eq!(
        file("[native code]", None, "javascript").2,
        Some(Hint::NativeCode)
    );
    assert_eq!(
        file("/app/dist/main.3f2a1b9c.js", None, "node").0,
        "main.js",
        "bundle hashes change every deploy"
    );
}

#[test]
fn javascript_functions_group_01() {
    assert_eq!(
        cleaned_function("Object.readUser", "node"),
        (
            "readUser".into(),
            true,
            Some(Hint::JavascriptFunctionTrimmed)
        )
    );
    assert_eq!(cleaned_function("obj.method", "javascript").0, "method");
    assert_eq!(
        cleaned_function("Object.<anonymous>", "node"),
        ("<anonymous>".into(), false, Some(Hint::UnknownFunction))
    );
    assert!(!cleaned_function("?", "javascript").1);
    assert!(!cleaned_function("foo/<", "javascript").1);
    assert!(cleaned_function("readUser", "node").1);
}

#[test]
fn platform_function_rules_group_01() {
    assert_eq!(cleaned_function("lambda$main$0", "java").0, "lambda$main");
    assert_eq!(
        cleaned_function("lambda$0", "java").2,
        Some(Hint::JavaLambda)
    );
    assert_eq!(
        cleaned_function("block (2 levels) in process", "ruby").0,
        "block in process"
    );
    assert_eq!(
        cleaned_function("_app_views_show_html_erb__1234567_7000", "ruby").0,
        "_app_views_show_html_erb"
    );
    assert_eq!(
        cleaned_function("[Anonymous function]", "php").2,
        Some(Hint::PhpAnonymous)
    );
    assert_eq!(
        cleaned_function("class@anonymous/in/x.php:3$0::handle", "php").0,
        "handle"
    );
    assert_eq!(cleaned_function("<lambda>", "python").0, "<lambda>");
    assert!(!cleaned_function("<unknown>", "native").1);
    assert_eq!(
        cleaned_function("myapp::run::h0123456789abcdef", "native").0,
        "myapp::run"
    );
    let p = part(
        Frame {
            function: Some("Run".into()),
            raw_function: Some("Program.Run (System.String[] args)".into()),
            ..Frame::default()
        },
        "csharp",
    );
    assert_eq!(
        child(&p, ComponentId::Function).value.as_deref(),
        Some("Program.Run")
    );
}

#[test]
fn java_generated_classes_group_01() {
    let p = part(
        Frame {
            module: Some("com.example.Svc$$EnhancerBySpringCGLIB$$a1b2c3d4".into()),
            function: Some("handle".into()),
            ..Frame::default()
        },
        "java",
    );
    let m = child(&p, ComponentId::Module);
    assert_eq!(
        m.value.as_deref(),
        Some("com.example.Svc$$EnhancerBySpringCGLIB$$<auto>")
    );
    assert_eq!(m.hint, Some(Hint::CodegenMarkerRemoved));
}

#[test]
fn javascript_url_frames_get_a_module_without_hashes_group_01() {
    let p = part(
        Frame {
            abs_path: Some("https://cdn.example.com/static/js/main.3f2a1b9c.js".into()),
            filename: Some("/static/js/main.3f2a1b9c.js".into()),
            function: Some("n.render".into()),
            ..Frame::default()
        },
        "javascript",
    );
    let m = child(&p, ComponentId::Module);
    assert_eq!(
        (m.value.as_deref(), m.hint),
        (Some("main"), Some(Hint::ModuleFromUrl))
    );
    assert_eq!(p.component.contributing_values(), ["main", "render"]);

    let bad = part(
        Frame {
            abs_path: Some("/app/lib/util.js".into()),
            module: Some("lib/util.js".into()),
            function: Some("f".into()),
            ..Frame::default()
        },
        "javascript",
    );
    assert_eq!(
        child(&bad, ComponentId::Module).hint,
        Some(Hint::BadJavascriptModule)
    );
}

#[test]
fn context_lines_group_01() {
    let line = |text: &str, platform: &str| {
        let p = part(
            Frame {
                function: Some("f".into()),
                context_line: Some(text.into()),
                ..Frame::default()
            },
            platform,
        );
        p.component
            .children
            .iter()
            .find(|c| c.id == ComponentId::ContextLine)
            .cloned()
    };
    assert_eq!(
        line("\tx  =\t1 ", "python")
            .expect("python")
            .value
            .as_deref(),
        Some("x = 1")
    );
    assert!(
        line("x = 1", "java").is_none(),
        "not a context-line platform"
    );
    let long = line(&"x".repeat(121), "ruby").expect("ruby");
    assert_eq!(
        (long.contributes, long.hint),
        (false, Some(Hint::LineTooLong))
    );
    assert!(line(&"x".repeat(120), "php").expect("php").contributes);

    let from_url = part(
        Frame {
            abs_path: Some("https://example.com/a.js".into()),
            context_line: Some("doSomething()".into()),
            ..Frame::default()
        },
        "javascript",
    );
    assert_eq!(
        child(&from_url, ComponentId::ContextLine).hint,
        Some(Hint::UrlOriginWithoutFunction)
    );
}

#[test]
fn low_quality_sdk_and_runtime_frames() {
    let js = |function: &str, abs_path: &str| {
        part(
            Frame {
                function: Some(function.into()),
                abs_path: Some(abs_path.into()),
                filename: Some(abs_path.into()),
                ..Frame::default()
            },
            "node",
        )
        .component
        .hint
    };
    assert_eq!(js("eval", "/app/x.js"), Some(Hint::LowQualityFrame));
    assert_eq!(js("forEach", "[native code]"), Some(Hint::LowQualityFrame));
    assert_eq!(
        js(
            "processTicksAndRejections",
            "node:internal/process/task_queues"
        ),
        Some(Hint::RuntimeInternals)
    );
    assert_eq!(
        js(
            "captureException",
            "/app/node_modules/@sentry/core/build/cjs/exports.js"
        ),
        Some(Hint::SdkFrame)
    );
    assert_eq!(js("handler", "/app/server.js"), None);

    for function in [
        "sentry_panic::panic_handler",
        "sentry_core::hub::Hub::capture_event",
        "sentry::capture_error",
        "<sentry_core::Hub as Clone>::clone",
    ] {
        let p = part(function_in_app(function), "native");
        assert_eq!(p.component.hint, Some(Hint::SdkFrame), "{function}");
    }
    assert_eq!(
        part(function_in_app("sentryish::run"), "native")
            .component
            .hint,
        None
    );
    let python = part(
        Frame {
            module: Some("sentry_sdk.integrations.logging".into()),
            function: Some("emit".into()),
            ..Frame::default()
        },
        "python",
    );
    assert_eq!(python.component.hint, Some(Hint::SdkFrame));

    let std = part(
        function_in_app("std::panicking::begin_panic_handler"),
        "native",
    );
    assert!(!std.in_app, "Rust runtime frames are never in-app");
}

fn function_in_app(name: &str) -> Frame {
    Frame {
        function: Some(name.into()),
        in_app: Some(true),
        ..Frame::default()
    }
}

#[test]
fn frame_platform_overrides_event_platform() {
    let p = part(
        Frame {
            function: Some("Object.foo".into()),
            platform: Some("javascript".into()),
            ..Frame::default()
        },
        "python",
    );
    assert_eq!(
        child(&p, ComponentId::Function).value.as_deref(),
        Some("foo")
    );
}

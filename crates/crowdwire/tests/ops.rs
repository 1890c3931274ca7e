//! Operations and assets: health, metrics, the OpenAPI document and offline docs page, the
//! embedded map and art, and the real binary's start-up and graceful shutdown. (Where metrics
//! may be read, and the listener's bounds, are tested in `listener.rs`.)

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use common::{Backend, TestServer};

db_tests!(
    health_reports_backends,
    metrics_count_requests_by_route_template,
    openapi_document_covers_every_endpoint,
    docs_page_is_served_offline,
    default_map_and_art_are_served,
    web_client_is_served_at_the_root,
    a_fresh_install_has_no_account_with_a_known_password,
);

async fn a_fresh_install_has_no_account_with_a_known_password(b: Backend) {
    let s = TestServer::start_with(b, |c| c.admin = None).await;
    for (email, password) in [
        ("user@example.com", "string"),
        ("user1@example.com", "string"),
        ("speaker@example.com", "string"),
    ] {
        assert_eq!(
            s.login_raw(email, password).await.0,
            StatusCode::BAD_REQUEST,
            "{email} must not exist"
        );
    }
    let q = crowdwire_store::users::UserQuery {
        email_prefix: None,
        statuses: vec![0, 1, 2, 3],
        descending: true,
        offset: 0,
        limit: 10,
    };
    assert!(
        s.db().search_users(&q).await.unwrap().is_empty(),
        "no seeded users at all"
    );
    assert_eq!(s.db().tags().await.unwrap().len(), 6, "the six tags are seeded");
}

async fn health_reports_backends(b: Backend) {
    let s = TestServer::start(b).await;
    let (st, v) = s.get("/health", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    assert_eq!(
        v["backends"]["database"],
        if b == Backend::Sqlite { "sqlite" } else { "postgres" }
    );
    assert!(v["backends"]["presence"].is_string());
}

async fn metrics_count_requests_by_route_template(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    for id in [1, 2, 3] {
        s.get(&format!("/worlds/{id}"), Some(&admin)).await;
    }
    let text = s.metrics().await;
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/worlds/{world_id}""#),
        "routes are labelled by template: {text}"
    );
    assert!(
        !text.contains(r#"route="/api/v1/worlds/2""#),
        "raw ids never become labels"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("crowdwire_connected_users"));
}

async fn openapi_document_covers_every_endpoint(b: Backend) {
    let s = TestServer::start(b).await;
    let (st, doc) = s.get("/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/register", "post"),
        ("/api/v1/confirm/{token}", "post"),
        ("/api/v1/login", "post"),
        ("/api/v1/join-guest", "post"),
        ("/api/v1/login/test-token", "post"),
        ("/api/v1/reset-token", "post"),
        ("/api/v1/login/google", "post"),
        ("/api/v1/invitation/{world_id}", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/{user_id}", "get"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/{user_id}", "put"),
        ("/api/v1/users/password-update", "put"),
        ("/api/v1/users/{user_id}/reports-sent", "get"),
        ("/api/v1/users/{user_id}/reports-received", "post"),
        ("/api/v1/users/{user_id}/reports-received", "get"),
        ("/api/v1/users/{user_id}/reports-received/{world_id}", "get"),
        ("/api/v1/users/{reporter}/reports-sent/{world_id}/{reported}", "delete"),
        ("/api/v1/users/reports", "get"),
        ("/api/v1/users/{reporter}/reports-sent/{world_id}/{reported}", "put"),
        ("/api/v1/worlds/{world_id}", "get"),
        ("/api/v1/worlds/invite/{invite_token}", "post"),
        ("/api/v1/worlds/{world_id}/users", "post"),
        ("/api/v1/worlds/{world_id}", "put"),
        ("/api/v1/worlds/{world_id}/users/{user_id}", "get"),
        ("/api/v1/worlds/{world_id}/users/{user_id}", "put"),
        ("/api/v1/worlds", "post"),
        ("/api/v1/worlds", "get"),
        ("/api/v1/worlds/{world_id}", "delete"),
        ("/api/v1/worlds/{world_id}/users", "get"),
        ("/api/v1/worlds/reports", "get"),
        ("/api/v1/worlds/{world_id}/roles", "get"),
        ("/api/v1/worlds/{world_id}/roles", "post"),
        ("/api/v1/worlds/{world_id}/roles/{role_id}", "put"),
        ("/api/v1/worlds/{world_id}/roles/{role_id}", "delete"),
        ("/api/v1/worlds/{world_id}/roles/{role_id}/users/{user_id}", "post"),
        ("/api/v1/worlds/{world_id}/reports", "post"),
        ("/api/v1/worlds/{world_id}/reports", "delete"),
        ("/api/v1/worlds/{world_id}/reports", "put"),
        ("/api/v1/worlds/{world_id}/events", "get"),
        ("/api/v1/statistics", "get"),
        ("/api/v1/statistics/worlds/{world_id}", "get"),
        ("/api/v1/statistics/worlds/{world_id}/charts", "get"),
        ("/api/v1/statistics/charts/active-users", "get"),
        ("/api/v1/statistics/charts/new-users", "get"),
        ("/api/v1/tags", "get"),
        ("/api/v1/health", "get"),
    ];
    for (path, method) in expected {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the document"))[method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(op["responses"]["200"].is_object(), "{method} {path} documents its 200");
    }
    // Every list documents its paging: page 1..1000000, limit 1..100 (the shared `Paging`).
    for path in [
        "/api/v1/users",
        "/api/v1/users/{user_id}/reports-sent",
        "/api/v1/users/{user_id}/reports-received",
        "/api/v1/users/{user_id}/reports-received/{world_id}",
        "/api/v1/users/reports",
        "/api/v1/worlds",
        "/api/v1/worlds/reports",
        "/api/v1/worlds/{world_id}/events",
    ] {
        let params = paths[path]["get"]["parameters"].as_array().unwrap();
        for (name, max) in [("page", 1_000_000), ("limit", 100)] {
            let p = params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("GET {path} does not document {name}"));
            assert_eq!(p["in"], "query", "GET {path} {name}");
            assert_eq!(p["schema"]["minimum"], 1, "GET {path} {name}");
            assert_eq!(p["schema"]["maximum"], max, "GET {path} {name}");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["WorldInDB"].is_object());
}

async fn docs_page_is_served_offline(b: Backend) {
    let s = TestServer::start(b).await;
    let page = s.http.get(format!("{}/docs/", s.api)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is served by us: nothing is loaded from the internet.
    for needle in ["src=\"http", "href=\"http", "unpkg", "cdn."] {
        assert!(
            !html.contains(needle),
            "docs page refers to an external resource ({needle})"
        );
    }
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let r = s.http.get(format!("{}/docs/{asset}", s.api)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 100);
    }
    let init = s
        .http
        .get(format!("{}/docs/swagger-initializer.js", s.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api/v1/openapi.json"));
}

async fn default_map_and_art_are_served(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s
        .http
        .get(format!("{}/static/maps/default.json", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let map: Value = r.json().await.unwrap();
    assert_eq!(map["orientation"], "orthogonal");
    assert_eq!(map["tilewidth"], 32);
    assert!(map["width"].as_i64().unwrap() >= 60 && map["height"].as_i64().unwrap() >= 40);
    let names: Vec<&str> = map["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    for layer in ["Ground", "Collision", "Float", "__Conference", "Object"] {
        assert!(names.contains(&layer), "layer {layer} in {names:?}");
    }
    for ts in map["tilesets"].as_array().unwrap() {
        let image = ts["image"].as_str().unwrap();
        let r = s
            .http
            .get(format!("{}/static/maps/{image}", s.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "tileset image {image}");
        assert_eq!(r.headers()["content-type"], "image/png");
    }
    for sheet in 1..=4 {
        let r = s
            .http
            .get(format!("{}/static/characters/avatars_{sheet}.png", s.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for name in crowdwire_access::AVATARS {
        let r = s
            .http
            .get(format!("{}/static/characters/{name}.png", s.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
    }
    let r = s
        .http
        .get(format!("{}/static/../Cargo.toml", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The real binary on a fresh data directory: it creates its database and a 0600 secret,
/// serves, logs JSON when asked, and exits cleanly on SIGTERM.
#[tokio::test]
async fn binary_starts_on_a_fresh_data_dir_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("crowdwire-bin-{}", uuid::Uuid::new_v4().simple()));
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crowdwire"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.to_str().unwrap(),
            "--log-format",
            "json",
            // Free UDP ports: the test must not depend on 40000 being free.
            "--media-bind",
            "127.0.0.1:0",
            // Nor on 9100 (the admin listener's default).
            "--admin-bind",
            "127.0.0.1:0",
        ])
        .env_remove("CROWDWIRE_DATABASE_URL")
        .env_remove("CROWDWIRE_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let health = loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/api/v1/health")).send().await {
            break r.json::<Value>().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["backends"]["database"], "sqlite");
    assert!(dir.join("crowdwire.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("jwt-secret")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Password hashes and e-mails: the database is private too (security review F14).
        let mode = std::fs::metadata(dir.join("crowdwire.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let first = logs.lines().find(|l| !l.trim().is_empty()).expect("some log output");
    let parsed: Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("JSON log line expected, got {first:?}: {e}"));
    assert!(parsed["fields"]["message"].is_string() || parsed["message"].is_string());
    assert!(logs.contains("stopped"), "{logs}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A second server on a machine where the media UDP port is taken stops at once, and says
/// which setting chooses another port.
#[tokio::test]
async fn a_taken_media_port_is_reported_with_the_setting_that_moves_it() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = taken.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("crowdwire-udp-{}", uuid::Uuid::new_v4().simple()));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_crowdwire"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{}", common::free_port()),
                "--data-dir",
                dir.to_str().unwrap(),
                "--media-bind",
                &udp.to_string(),
                "--admin-bind",
                "127.0.0.1:0",
            ])
            .env_remove("CROWDWIRE_DATABASE_URL")
            .env_remove("CROWDWIRE_MEDIA_DISABLED")
            .output(),
    )
    .await
    .expect("the server should stop at once")
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&udp.to_string()) && text.contains("--media-bind"),
        "{text}"
    );
    drop(taken);
    std::fs::remove_dir_all(&dir).ok();
}

/// A server whose admin address is taken stops at once, and says which setting moves it.
#[tokio::test]
async fn a_taken_admin_port_is_reported_with_the_setting_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = taken.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("crowdwire-admin-{}", uuid::Uuid::new_v4().simple()));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_crowdwire"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--data-dir",
                dir.to_str().unwrap(),
                "--media-bind",
                "127.0.0.1:0",
                "--admin-bind",
                &admin.to_string(),
            ])
            .env_remove("CROWDWIRE_DATABASE_URL")
            .output(),
    )
    .await
    .expect("the server should stop at once")
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&admin.to_string()) && text.contains("--admin-bind"),
        "{text}"
    );
    drop(taken);
    std::fs::remove_dir_all(&dir).ok();
}

/// The page at `/`, its script, style sheet and every chunk the script imports, with the
/// right types; a repeat load with the ETag is a 304; unknown chunks are JSON 404s.
async fn web_client_is_served_at_the_root(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s.http.get(format!("{}/", s.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.headers().contains_key("content-security-policy"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"src="/app.js""#) && html.contains(r#"href="/style.css""#),
        "{html}"
    );

    let r = s.http.get(format!("{}/app.js", s.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("javascript"));
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let app = r.text().await.unwrap();
    // The world view is a chunk the entry imports by name; each must be served.
    let chunks: Vec<&str> = app
        .split('"')
        .filter(|p| p.starts_with("./chunks/") && p.ends_with(".js"))
        .collect();
    assert!(!chunks.is_empty(), "the entry imports its chunks");
    let mut code = app.clone();
    for c in chunks {
        let r = s.http.get(format!("{}/{}", s.root, &c[2..])).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{c}");
        assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        code.push_str(&r.text().await.unwrap());
    }
    assert!(code.contains("/api/v1"), "the client talks to the API");

    // Text is sent gzipped to clients that accept it.
    let r = s
        .http
        .get(format!("{}/app.js", s.root))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, app);

    let r = s
        .http
        .get(format!("{}/app.js", s.root))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let r = s.http.get(format!("{}/style.css", s.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/css"));

    let r = s.http.get(format!("{}/chunks/nope.js", s.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].is_string());
}

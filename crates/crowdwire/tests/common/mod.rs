//! Test harness: a real CrowdWire server on a loopback port, over a real database, and a
//! small HTTP client for it.
//!
//! Every test runs on SQLite (a fresh file) and, when `CROWDWIRE_TEST_DATABASE_URL` is set,
//! again on PostgreSQL in a fresh schema of that database. `db_tests!` generates both.

#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crowdwire::config::Config;
use crowdwire::server::{Running, start};

pub mod ws;

/// Superuser created in every test server.
pub const ADMIN_EMAIL: &str = "admin@crowdwire.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh schema in `CROWDWIRE_TEST_DATABASE_URL`.
    Postgres,
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests calling `<name>(Backend)`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
                async fn $name() {
                    $crate::common::require_postgres();
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the test when PostgreSQL tests were compiled to run (the URL was set at build time,
/// or `CI=true`) but no URL is set now: such a test must never pass without running.
pub fn require_postgres() {
    assert!(
        postgres_url().is_some(),
        "CROWDWIRE_TEST_DATABASE_URL is not set, and the PostgreSQL tests must run (CI=true, or the URL was set when they were built)"
    );
}

/// The PostgreSQL URL tests may use.
pub fn postgres_url() -> Option<String> {
    std::env::var("CROWDWIRE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn unique() -> String {
    format!("{}_{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// A fresh database URL for `backend`, and the data directory to use.
pub async fn fresh_database(backend: Backend) -> (String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("crowdwire-test-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = match backend {
        Backend::Sqlite => crowdwire_store::Db::sqlite_url_in(&dir),
        Backend::Postgres => {
            let base = postgres_url().expect("CROWDWIRE_TEST_DATABASE_URL");
            let schema = format!("t_{}", unique());
            let admin = crowdwire_store::Db::connect_raw(&base)
                .await
                .expect("connecting to PostgreSQL");
            admin.execute_raw(&format!("CREATE SCHEMA {schema}")).await.unwrap();
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
    };
    (url, dir)
}

/// A running server and a client for it.
pub struct TestServer {
    /// The server.
    pub running: Option<Running>,
    /// Base URL of the API: `http://127.0.0.1:<port>/api/v1`.
    pub api: String,
    /// Root URL: `http://127.0.0.1:<port>`.
    pub root: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The configuration it was started with.
    pub config: Config,
}

impl TestServer {
    /// Starts a server on `backend` with the test superuser and a generous rate limit.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`start`](Self::start), letting the test adjust the configuration first.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let (url, dir) = fresh_database(backend).await;
        let mut config = Config::for_data_dir(&dir);
        config.database_url = url;
        config.admin = Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into()));
        // Tests log in often; the limits have tests of their own.
        config.auth_rate_per_minute = 100_000;
        config.auth_burst = 100_000;
        config.login_attempts_per_account = 100_000;
        config.world_edits_per_minute = 100_000;
        adjust(&mut config);
        Self::start_config(config).await
    }

    /// Starts a server with exactly this configuration.
    pub async fn start_config(config: Config) -> TestServer {
        let running = start(config.clone()).await.expect("server starts");
        let root = running.url();
        TestServer {
            api: format!("{root}/api/v1"),
            root,
            running: Some(running),
            http: reqwest::Client::new(),
            config,
        }
    }

    /// Root URL of the admin listener (`/metrics`, `/health`): `http://127.0.0.1:<port>`.
    pub fn admin_root(&self) -> String {
        let running = self.running.as_ref().expect("running");
        format!("http://{}", running.admin_addr.expect("the admin listener is on"))
    }

    /// The Prometheus text served on the admin listener.
    pub async fn metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.admin_root()))
            .send()
            .await
            .expect("the admin listener answers");
        assert!(
            r.status().is_success(),
            "/metrics on the admin listener: {}",
            r.status()
        );
        r.text().await.expect("metrics text")
    }

    /// The database behind the server.
    pub fn db(&self) -> &crowdwire_store::Db {
        &self.running.as_ref().expect("running").db
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }

    /// Sends a request and returns the status and the JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.api, path)
        };
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("GET", path, token, None).await
    }
    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, token, Some(body)).await
    }
    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, token, Some(body)).await
    }
    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("DELETE", path, token, None).await
    }

    /// Logs in with the password form; returns the whole token response.
    pub async fn login_raw(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/login", self.api))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Logs in and returns the access token (panics on failure).
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (s, v) = self.login_raw(email, password).await;
        assert_eq!(s, StatusCode::OK, "login of {email} failed: {v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// The superuser's token.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Registers an account (active at once: no SMTP) and logs in; returns (user id, token).
    pub async fn user(&self, name: &str) -> (i64, String) {
        let email = format!(
            "{}-{}@crowdwire.test",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let (s, v) = self
            .post(
                "/register",
                None,
                json!({"name": name, "email": email, "hashed_password": "pw-123456"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "register failed: {v}");
        let token = self.login(&email, "pw-123456").await;
        let (_, me) = self.get("/users/me", Some(&token)).await;
        (me["user_id"].as_i64().unwrap(), token)
    }

    /// A guest token and its UUID.
    pub async fn guest(&self) -> (String, String) {
        let (s, v) = self.post("/join-guest", None, json!({})).await;
        assert_eq!(s, StatusCode::OK);
        (
            v["access_token"].as_str().unwrap().to_owned(),
            v["guest_uuid"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a world owned by `token`'s user with the default map; returns its id.
    pub async fn world(&self, token: &str, name: &str, public: bool, allow_guests: bool) -> i64 {
        let (s, v) = self
            .post(
                "/worlds",
                Some(token),
                json!({"name": name, "public": public, "allow_guests": allow_guests, "tags": [], "world_map": default_map()}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "create world failed: {v}");
        v["world_id"].as_i64().unwrap()
    }
}

impl TestServer {
    /// Creates a world from a whole creation body (see [`world_body`]).
    pub async fn create_world(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/worlds", Some(token), body).await
    }

    /// Enters a world (`POST /worlds/{id}/users`) as `token`, asserting 200; returns the
    /// profile.
    pub async fn join(&self, token: &str, world_id: i64) -> Value {
        let (s, v) = self
            .post(&format!("/worlds/{world_id}/users"), Some(token), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "join of world {world_id} failed: {v}");
        v
    }

    /// Creates a role in a world as `token`, asserting 200; returns its id.
    pub async fn role(&self, token: &str, world_id: i64, body: Value) -> i64 {
        let (s, v) = self.post(&format!("/worlds/{world_id}/roles"), Some(token), body).await;
        assert_eq!(s, StatusCode::OK, "create role failed: {v}");
        v["role_id"].as_i64().unwrap()
    }

    /// The id of the role called `name` in a world (as its creator or a role manager sees it).
    pub async fn role_id(&self, token: &str, world_id: i64, name: &str) -> i64 {
        let (st, roles) = self.get(&format!("/worlds/{world_id}/roles"), Some(token)).await;
        assert_eq!(st, StatusCode::OK, "{roles}");
        roles
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name))
            .and_then(|r| r["role_id"].as_i64())
            .unwrap_or_else(|| panic!("no role {name} in {roles}"))
    }

    /// Gives `user` (an id or a guest UUID) role `role_id` in `world_id`, asserting 200.
    pub async fn assign(&self, token: &str, world_id: i64, role_id: i64, user: &str) {
        let (s, v) = self
            .post(
                &format!("/worlds/{world_id}/roles/{role_id}/users/{user}"),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "assign role failed: {v}");
    }

    /// Sets a member's status in a world (`PUT /worlds/{w}/users/{u}`) as `token`.
    pub async fn set_member_status(&self, token: &str, world_id: i64, user: &str, status: i32) -> (StatusCode, Value) {
        self.put(
            &format!("/worlds/{world_id}/users/{user}"),
            Some(token),
            json!({"status": status}),
        )
        .await
    }

    /// Mints an invite to `world_id` as `token`, asserting 200; returns the invite token.
    pub async fn invite(&self, token: &str, world_id: i64) -> String {
        let (s, v) = self
            .post(&format!("/invitation/{world_id}"), Some(token), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "invite failed: {v}");
        v["access_token"].as_str().unwrap().to_owned()
    }
}

/// A world-creation body with the default map and no tags; adjust fields before posting.
pub fn world_body(name: &str, public: bool, allow_guests: bool) -> Value {
    json!({"name": name, "public": public, "allow_guests": allow_guests, "tags": [], "world_map": default_map()})
}

/// The integer `key` of every element of a JSON array, in order.
#[track_caller]
pub fn ids(list: &Value, key: &str) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {list}"))
        .iter()
        .map(|v| v[key].as_i64().unwrap_or_else(|| panic!("no integer {key} in {v}")))
        .collect()
}

/// Asserts a 422 whose first field error is at `loc` (e.g. `["body", "name"]`).
#[track_caller]
pub fn assert_invalid(got: &(StatusCode, Value), loc: &[&str]) {
    assert_eq!(got.0.as_u16(), 422, "expected 422, body: {}", got.1);
    let first = &got.1["detail"][0];
    assert_eq!(first["loc"], json!(loc), "unexpected error location, body: {}", got.1);
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

/// The default map shipped with the server, as a JSON string.
pub fn default_map() -> String {
    crowdwire_api::assets::default_map()
}

/// Asserts a `{"detail": <message>}` error with `status`.
#[track_caller]
pub fn assert_detail(got: &(StatusCode, Value), status: u16, detail: &str) {
    assert_eq!(got.0.as_u16(), status, "unexpected status, body: {}", got.1);
    assert_eq!(got.1["detail"], detail, "unexpected detail, body: {}", got.1);
}

//! Everything before the bots: checking the target, starting a server, creating worlds,
//! getting guest tokens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

/// The server's base URL, checked to be on 127.0.0.1: `http://127.0.0.1:PORT` (no path).
pub fn loopback_base(url: &str) -> anyhow::Result<String> {
    let u = reqwest::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    ensure!(
        u.scheme() == "http",
        "only plain http://127.0.0.1:PORT is supported (got {url})"
    );
    let host = u.host_str().unwrap_or("");
    ensure!(
        host == "127.0.0.1" || host == "localhost",
        "the load generator only targets 127.0.0.1 (got host {host:?})"
    );
    let port = u.port().context("the URL needs an explicit port")?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// An open Tiled map: `w` × `h` tiles of 32 px, one `Ground` layer of gid 1, no walls.
pub fn open_map(width_px: f64, height_px: f64) -> String {
    let w = (width_px / 32.0).ceil().max(1.0) as usize;
    let h = (height_px / 32.0).ceil().max(1.0) as usize;
    let mut data = String::with_capacity(w * h * 2);
    for i in 0..w * h {
        if i > 0 {
            data.push(',');
        }
        data.push('1');
    }
    format!(
        concat!(
            r#"{{"width":{w},"height":{h},"tilewidth":32,"tileheight":32,"orientation":"orthogonal","#,
            r#""renderorder":"right-down","infinite":false,"type":"map","version":"1.10","#,
            r#""layers":[{{"id":1,"name":"Ground","type":"tilelayer","width":{w},"height":{h},"#,
            r#""x":0,"y":0,"opacity":1,"visible":true,"data":[{data}]}}],"#,
            r#""tilesets":[{{"firstgid":1,"name":"ground","tilewidth":32,"tileheight":32,"tilecount":1,"#,
            r#""columns":1,"image":"ground.png","imagewidth":32,"imageheight":32,"margin":0,"spacing":0}}]}}"#
        ),
        w = w,
        h = h,
        data = data
    )
}

/// Checks a response's status and returns its JSON body.
async fn json_of(what: &str, resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {}", text.chars().take(300).collect::<String>());
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: answer is not JSON"))
}

/// Registers an account (`POST /register`) and logs in (`POST /login`); returns its access
/// token.
async fn register(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let api = format!("{base}/api/v1");
    let r = http
        .post(format!("{api}/register"))
        .json(&json!({"name": name, "email": email, "hashed_password": password}))
        .send()
        .await?;
    json_of("register", r).await?;
    let r = http
        .post(format!("{api}/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await?;
    Ok(json_of("login", r).await?["access_token"]
        .as_str()
        .context("login: no access_token")?
        .to_owned())
}

/// A new account for bot `i` (`--registered`); returns its access token and its user id (as
/// the WebSocket messages carry it).
pub async fn register_bot(http: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<(String, String)> {
    let email = format!("bot-{}-{}-{i}@bench.invalid", std::process::id(), rand::random::<u32>());
    let token = register(http, base, &format!("Bot {i}"), &email, "bots-bot-password").await?;
    let r = http
        .get(format!("{base}/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await?;
    let id = json_of("users/me", r).await?["user_id"]
        .as_i64()
        .context("users/me: no user_id")?;
    Ok((token, id.to_string()))
}

/// Worlds made by [`create_worlds`].
pub struct Created {
    /// Their ids.
    pub ids: Vec<i64>,
    /// Their owner's access token (the owner may read their activity logs).
    pub owner_token: String,
}

/// Registers a world owner, logs in and creates `n` public worlds open to guests, each with an
/// open map of `size` px.
pub async fn create_worlds(http: &reqwest::Client, base: &str, n: u32, size: (f64, f64)) -> anyhow::Result<Created> {
    let api = format!("{base}/api/v1");
    let email = format!(
        "bots-owner-{}-{}@bench.invalid",
        std::process::id(),
        rand::random::<u32>()
    );
    let token = register(http, base, "Bots Owner", &email, "bots-owner-password").await?;
    let map = open_map(size.0, size.1);
    let mut ids = Vec::with_capacity(n as usize);
    for i in 0..n {
        let body = json!({
            "name": format!("Bots {i}"),
            "public": true,
            "allow_guests": true,
            "tags": [],
            "world_map": map,
            "max_users": null,
        });
        let r = http
            .post(format!("{api}/worlds"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let v = json_of("create world", r).await?;
        ids.push(v["world_id"].as_i64().context("create world: no world_id")?);
    }
    Ok(Created {
        ids,
        owner_token: token,
    })
}

/// A guest token and its UUID (`POST /join-guest`).
pub async fn guest(http: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let r = http
        .post(format!("{base}/api/v1/join-guest"))
        .json(&json!({}))
        .send()
        .await?;
    let v = json_of("join-guest", r).await?;
    Ok((
        v["access_token"].as_str().context("no access_token")?.to_owned(),
        v["guest_uuid"].as_str().context("no guest_uuid")?.to_owned(),
    ))
}

/// The REST join of a world (`POST /worlds/{id}/users`).
pub async fn rest_join(http: &reqwest::Client, base: &str, world: i64, token: &str) -> anyhow::Result<()> {
    let r = http
        .post(format!("{base}/api/v1/worlds/{world}/users"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await?;
    let status = r.status();
    // The answer carries the whole map: read it, but skip parsing.
    let body = r.bytes().await?;
    if !status.is_success() {
        bail!(
            "join world {world}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(())
}

/// Waits until `GET /api/v1/health` answers.
pub async fn wait_healthy(http: &reqwest::Client, base: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(r) = http.get(format!("{base}/api/v1/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the server at {base} did not become healthy within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A server the tool started itself; killed and its data removed when dropped.
pub struct SpawnedServer {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl SpawnedServer {
    /// Starts `binary serve` on a free loopback port with a fresh SQLite data directory.
    pub fn start(binary: &Path) -> anyhow::Result<SpawnedServer> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("crowdwire-bots-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(binary)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&dir)
            .env("CROWDWIRE_AUTH_RATE_PER_MINUTE", "100000000")
            .env("CROWDWIRE_AUTH_BURST", "100000000")
            .env("CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT", "100000000")
            // The bots are one address, with thousands of sockets; and 9100 may be taken.
            // (Environment rather than flags: older servers, for A/B runs, ignore them.)
            .env("CROWDWIRE_MAX_CONNECTIONS_PER_IP", "0")
            .env("CROWDWIRE_ADMIN_BIND", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(SpawnedServer {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

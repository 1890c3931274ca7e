//! Sign-up, confirmation over real SMTP, log-in, guests, refresh, Google sign-in against a
//! locally served JWKS, invites across restarts, and rate limiting.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use common::ws::Client;
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer, assert_detail};
use crowdwire_auth::{Principal, Purpose, TokenKeys};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

db_tests!(
    registration_without_smtp_is_active_at_once,
    duplicate_email_is_refused_even_when_racing,
    registration_validates_fields,
    login_rules,
    imported_bcrypt_hash_logs_in_and_is_upgraded,
    confirmation_mail_flow_over_smtp,
    failed_confirmation_mail_leaves_no_account,
    an_unconfirmed_registration_expires_with_its_link,
    confirming_an_address_someone_else_registered_sets_the_owners_password,
    a_password_change_revokes_every_older_token,
    logout_everywhere_revokes_tokens_and_live_sessions,
    changing_ones_email_needs_the_current_password_without_smtp,
    changing_ones_email_is_confirmed_at_the_new_address_with_smtp,
    confirmation_token_is_not_an_access_token,
    test_token_never_leaks_the_password_hash,
    guest_tokens_work_and_refresh,
    refresh_window_and_status_recheck,
    forged_and_foreign_tokens_are_refused,
    google_sign_in_against_local_jwks,
    google_sign_in_disabled_without_client_id,
    invites_survive_a_restart,
    the_admin_address_never_promotes_an_ordinary_account,
    auth_endpoints_are_rate_limited,
    a_venue_behind_one_address_gets_in_with_the_default_limits,
    failed_log_ins_cost_more_than_successes,
    log_ins_to_one_account_are_limited_from_every_address,
    behind_a_trusted_proxy_each_client_has_its_own_limit,
);

async fn registration_without_smtp_is_active_at_once(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s
        .post(
            "/register",
            None,
            json!({"name": "Ana", "email": "ana@example.org", "hashed_password": "s3cret!"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1, json!({"status": "ok"}));
    let (st, tok) = s.login_raw("ana@example.org", "s3cret!").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(tok["token_type"], "bearer");
    assert_eq!(tok["is_superuser"], false);
    let exp = tok["expire_date"].as_str().unwrap();
    let parsed = chrono::NaiveDateTime::parse_from_str(exp, "%Y-%m-%d %H:%M:%S%.f").expect("python str() format");
    assert!(parsed > chrono::Utc::now().naive_utc());
    let me = s.get("/users/me", tok["access_token"].as_str()).await;
    assert_eq!(me.0, StatusCode::OK);
    assert_eq!(me.1["email"], "ana@example.org");
    assert_eq!(me.1["status"], 0);
    assert!(me.1.get("hashed_password").is_none());
}

async fn duplicate_email_is_refused_even_when_racing(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let body = json!({"name": "Dup", "email": "dup@example.org", "hashed_password": "x1"});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, body) = (s.clone(), body.clone());
        tasks.push(tokio::spawn(async move { s.post("/register", None, body).await }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.0 {
            StatusCode::OK => ok += 1,
            _ => assert_detail(&r, 400, "A user with that email already exists."),
        }
    }
    assert_eq!(ok, 1, "exactly one of the racing registrations wins");
    let upper = s
        .post(
            "/register",
            None,
            json!({"name": "Dup", "email": "DUP@Example.org", "hashed_password": "x1"}),
        )
        .await;
    assert_detail(&upper, 400, "A user with that email already exists.");
}

async fn registration_validates_fields(b: Backend) {
    let s = TestServer::start(b).await;
    for body in [
        json!({"name": "x", "email": "not-an-email", "hashed_password": "p"}),
        json!({"name": "x".repeat(51), "email": "a@b.org", "hashed_password": "p"}),
        json!({"name": "x", "email": "a@b.org", "hashed_password": "p".repeat(257)}),
        json!({"name": "x", "email": "a@b.org"}),
        json!({"name": 5, "email": "a@b.org", "hashed_password": "p"}),
        json!({"name": "x", "email": "a@b.org", "hashed_password": "p", "birth": "31/12/1999"}),
    ] {
        let r = s.post("/register", None, body.clone()).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{body} gave {}", r.1);
        assert!(r.1["detail"].is_array(), "FastAPI-shaped 422: {}", r.1);
        assert!(r.1["detail"][0]["loc"][0] == "body");
    }
}

async fn login_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, _) = s.user("Lina").await;
    let email: String = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    assert_detail(&s.login_raw(&email, "wrong").await, 400, "Invalid email or password.");
    assert_detail(
        &s.login_raw("nobody@example.org", "pw-123456").await,
        400,
        "Invalid email or password.",
    );
    // The e-mail is matched case-insensitively.
    s.login(&email.to_uppercase(), "pw-123456").await;
    // Missing form field: 422, like FastAPI's OAuth2 form.
    let resp = s
        .http
        .post(format!("{}/login", s.api))
        .form(&[("email", email.as_str()), ("password", "pw-123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A platform-banned account cannot log in.
    let admin = s.admin().await;
    assert_eq!(
        s.put(&format!("/users/{uid}"), Some(&admin), json!({"status": 1}))
            .await
            .0,
        StatusCode::OK
    );
    assert_detail(
        &s.login_raw(&email, "pw-123456").await,
        400,
        "User is Inactive or the account has been banned.",
    );
}

async fn imported_bcrypt_hash_logs_in_and_is_upgraded(b: Backend) {
    let s = TestServer::start(b).await;
    let hash = bcrypt::hash("string", 4).unwrap();
    let u = s
        .db()
        .insert_user(&crowdwire_store::users::NewUser {
            name: "Legacy",
            email: "legacy@example.org",
            hashed_password: Some(&hash),
            birth: None,
            status: 0,
            is_superuser: false,
            sub: None,
        })
        .await
        .unwrap();
    s.login("legacy@example.org", "string").await;
    let after = s.db().user_by_id(u.user_id).await.unwrap().unwrap();
    assert!(
        after.hashed_password.unwrap().starts_with("$argon2id$"),
        "bcrypt hash replaced by Argon2id"
    );
    s.login("legacy@example.org", "string").await;
}

/// A minimal SMTP server that records every message it accepts (or refuses all mail).
async fn smtp_sink(accept: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut in_data = false;
                let mut body = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            store.lock().unwrap().push(std::mem::take(&mut body));
                            w.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("MAIL") {
                        if accept {
                            b"250 ok\r\n"
                        } else {
                            b"550 no mail today\r\n"
                        }
                    } else if cmd.starts_with("RCPT") {
                        b"250 ok\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go\r\n"
                    } else if cmd.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, mails)
}

fn confirmation_token(mail: &str) -> String {
    // Quoted-printable soft line breaks ("=\n") may split the link.
    let joined = mail.replace("=\n", "").replace("=3D", "=");
    let at = joined.find("/confirm/").expect("mail contains the confirmation link") + "/confirm/".len();
    joined[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

async fn confirmation_mail_flow_over_smtp(b: Backend) {
    let (port, mails) = smtp_sink(true).await;
    let s = TestServer::start_with(b, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.public_url = "https://worlds.example.org".into();
    })
    .await;
    let r = s
        .post(
            "/register",
            None,
            json!({"name": "Mia", "email": "mia@example.org", "hashed_password": "pw"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    // Pending until confirmed.
    assert_detail(
        &s.login_raw("mia@example.org", "pw").await,
        400,
        "User is Inactive or the account has been banned.",
    );
    let mail = mails.lock().unwrap().first().cloned().expect("one mail sent");
    assert!(mail.contains("mia@example.org"));
    assert!(mail.replace("=\n", "").contains("https://worlds.example.org/confirm/"));
    let token = confirmation_token(&mail);
    // The link opens the client's page for it, the token in the fragment.
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/confirm/{token}", s.root))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection());
    assert_eq!(page.headers()["location"], format!("/#/confirm/{token}").as_str());
    // Security review F12: confirming sets the password; a one-click GET no longer confirms.
    assert_detail(
        &s.get(&format!("/confirm/{token}"), None).await,
        400,
        "Choose your password to confirm this address: POST {\"password\": …} to this URL.",
    );
    assert_eq!(
        s.post(&format!("/confirm/{token}"), None, json!({"password": ""}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let c = s
        .post(
            &format!("/confirm/{token}"),
            None,
            json!({"password": "chosen at confirmation"}),
        )
        .await;
    assert_eq!(c.0, StatusCode::OK, "{}", c.1);
    assert_eq!(c.1["token_type"], "bearer");
    assert_eq!(s.get("/users/me", c.1["access_token"].as_str()).await.0, StatusCode::OK);
    s.login("mia@example.org", "chosen at confirmation").await;
    assert_eq!(s.login_raw("mia@example.org", "pw").await.0, StatusCode::BAD_REQUEST);
    // A second use of the link does nothing.
    assert_detail(
        &s.post(&format!("/confirm/{token}"), None, json!({"password": "again"}))
            .await,
        404,
        "User does not exist or is already confirmed",
    );
    assert_detail(
        &s.post("/confirm/garbage", None, json!({"password": "x"})).await,
        404,
        "Invalid Token",
    );
}

/// Security review F12: a pending account used to hold its address for ever. Within its
/// link's lifetime it still blocks the address; after that, a new registration replaces it.
async fn an_unconfirmed_registration_expires_with_its_link(b: Backend) {
    let (port, mails) = smtp_sink(true).await;
    let s = TestServer::start_with(b, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let squatter = json!({"name": "Squat", "email": "vic@example.org", "hashed_password": "attacker-pw"});
    assert_eq!(s.post("/register", None, squatter.clone()).await.0, StatusCode::OK);
    let first = s.db().user_by_email("vic@example.org").await.unwrap().unwrap();
    let owner = json!({"name": "Vic", "email": "vic@example.org", "hashed_password": "victim-pw"});
    assert_detail(
        &s.post("/register", None, owner.clone()).await,
        400,
        "A user with that email already exists.",
    );
    // A day and a minute later (the link lives 24 h), the address is free again.
    let old = chrono::Utc::now().timestamp_micros() - (24 * 3600 + 60) * 1_000_000;
    s.db()
        .execute_raw(&format!(
            "UPDATE users SET register_date = {old} WHERE user_id = {}",
            first.user_id
        ))
        .await
        .unwrap();
    let r = s.post("/register", None, owner).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let now = s.db().user_by_email("vic@example.org").await.unwrap().unwrap();
    assert_eq!(now.name, "Vic");
    assert!(
        s.db()
            .user_by_id(first.user_id)
            .await
            .unwrap()
            .is_none_or(|u| u.name == "Vic")
    );
    // The new link confirms the new account, with the password its owner chose.
    let mail = mails.lock().unwrap().last().cloned().expect("a second mail");
    let token = confirmation_token(&mail);
    let confirmed = s
        .post(&format!("/confirm/{token}"), None, json!({"password": "victim-pw"}))
        .await;
    assert_eq!(confirmed.0, StatusCode::OK, "{}", confirmed.1);
    s.login("vic@example.org", "victim-pw").await;
    assert_eq!(
        s.login_raw("vic@example.org", "attacker-pw").await.0,
        StatusCode::BAD_REQUEST
    );
}

/// Security review F12: someone registers an address they do not own, with their password;
/// its owner opens the mailed link. The account must end up with the owner's password only.
async fn confirming_an_address_someone_else_registered_sets_the_owners_password(b: Backend) {
    let (port, mails) = smtp_sink(true).await;
    let s = TestServer::start_with(b, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let squatter = json!({"name": "Owner", "email": "own@example.org", "hashed_password": "attacker-pw"});
    assert_eq!(s.post("/register", None, squatter).await.0, StatusCode::OK);
    let token = confirmation_token(&mails.lock().unwrap().last().cloned().expect("a mail"));
    let r = s
        .post(
            &format!("/confirm/{token}"),
            None,
            json!({"password": "the owner's own"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_detail(
        &s.login_raw("own@example.org", "attacker-pw").await,
        400,
        "Invalid email or password.",
    );
    s.login("own@example.org", "the owner's own").await;
}

async fn failed_confirmation_mail_leaves_no_account(b: Backend) {
    let (port, _) = smtp_sink(false).await;
    let s = TestServer::start_with(b, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let body = json!({"name": "Ned", "email": "ned@example.org", "hashed_password": "pw"});
    let r = s.post("/register", None, body.clone()).await;
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{}", r.1);
    assert!(
        s.db().user_by_email("ned@example.org").await.unwrap().is_none(),
        "no half-created account"
    );
}

async fn confirmation_token_is_not_an_access_token(b: Backend) {
    let s = TestServer::start_with(b, |c| c.jwt_secret = Some(SECRET.into())).await;
    let (uid, _) = s.user("Otto").await;
    let keys = TokenKeys::new(SECRET.as_bytes()).unwrap();
    let confirm = keys.mint(
        Principal::User(uid),
        Purpose::Confirmation,
        chrono::Duration::days(1000),
    );
    assert_detail(
        &s.get("/users/me", Some(&confirm.token)).await,
        401,
        "Could not validate credentials",
    );
    let invite = keys.mint_invite(uid, 1, chrono::Duration::hours(1));
    assert_detail(
        &s.get("/users/me", Some(&invite.token)).await,
        401,
        "Could not validate credentials",
    );
    let access = keys.mint(Principal::User(uid), Purpose::Access, chrono::Duration::hours(1));
    assert_eq!(s.get("/users/me", Some(&access.token)).await.0, StatusCode::OK);
}

async fn test_token_never_leaks_the_password_hash(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, token) = s.user("Pia").await;
    let r = s.post("/login/test-token", Some(&token), json!({})).await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(r.1["user_id"], uid);
    let text = r.1.to_string();
    assert!(!text.contains("hashed_password") && !text.contains("argon2"), "{text}");
    let (g, gid) = s.guest().await;
    let r = s.post("/login/test-token", Some(&g), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "guests get an answer, not a 500");
    assert_eq!(r.1["user_id"], gid.as_str());
    assert_eq!(r.1["is_guest_user"], true);
}

async fn guest_tokens_work_and_refresh(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s.post("/join-guest", None, json!({})).await;
    assert_eq!(r.0, StatusCode::OK);
    let g = r.1["guest_uuid"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(g).is_ok());
    assert_eq!(r.1["is_superuser"], false);
    let token = r.1["access_token"].as_str().unwrap();
    assert_eq!(s.get("/tags", Some(token)).await.0, StatusCode::OK);
    // Guests get clear refusals, not 500s.
    assert_detail(&s.get("/users/me", Some(token)).await, 403, "Access Forbidden.");
    let refreshed = s.post("/reset-token", Some(token), json!({})).await;
    assert_eq!(refreshed.0, StatusCode::OK, "{}", refreshed.1);
    assert_eq!(refreshed.1["guest_uuid"], g);
}

async fn refresh_window_and_status_recheck(b: Backend) {
    let s = TestServer::start_with(b, |c| c.jwt_secret = Some(SECRET.into())).await;
    let keys = TokenKeys::new(SECRET.as_bytes()).unwrap();
    let (uid, _) = s.user("Quin").await;
    let recent = keys.mint(Principal::User(uid), Purpose::Access, chrono::Duration::minutes(-30));
    assert_detail(
        &s.get("/users/me", Some(&recent.token)).await,
        401,
        "Could not validate credentials",
    );
    let r = s.post("/reset-token", Some(&recent.token), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(s.get("/users/me", r.1["access_token"].as_str()).await.0, StatusCode::OK);
    let old = keys.mint(Principal::User(uid), Purpose::Access, chrono::Duration::minutes(-61));
    assert_detail(
        &s.post("/reset-token", Some(&old.token), json!({})).await,
        401,
        "Session Expired",
    );
    assert_detail(&s.post("/reset-token", None, json!({})).await, 401, "Not authenticated");
    // A banned account cannot refresh its way back in.
    let admin = s.admin().await;
    s.put(&format!("/users/{uid}"), Some(&admin), json!({"status": 1}))
        .await;
    assert_detail(
        &s.post("/reset-token", Some(&recent.token), json!({})).await,
        400,
        "User is Inactive or the account has been banned.",
    );
}

async fn forged_and_foreign_tokens_are_refused(b: Backend) {
    let s = TestServer::start_with(b, |c| c.jwt_secret = Some(SECRET.into())).await;
    let (uid, token) = s.user("Rita").await;
    let other = TokenKeys::new(b"some-other-deployment-secret-0123456789").unwrap();
    let foreign = other.mint(Principal::User(uid), Purpose::Access, chrono::Duration::hours(1));
    assert_detail(
        &s.get("/users/me", Some(&foreign.token)).await,
        401,
        "Could not validate credentials",
    );
    // alg=none with the same claims.
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({"sub": uid.to_string(), "is_guest_user": false, "exp": 4_000_000_000i64, "purpose": "access"})
            .to_string(),
    );
    assert_detail(
        &s.get("/users/me", Some(&format!("{header}.{claims}."))).await,
        401,
        "Could not validate credentials",
    );
    // Tampered signature.
    let mut bad = token.clone();
    bad.pop();
    bad.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_detail(
        &s.get("/users/me", Some(&bad)).await,
        401,
        "Could not validate credentials",
    );
    let resp = s.http.get(format!("{}/users/me", s.api)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    // A token for a user that does not exist.
    let ghost = TokenKeys::new(SECRET.as_bytes()).unwrap().mint(
        Principal::User(999_999),
        Purpose::Access,
        chrono::Duration::hours(1),
    );
    assert_detail(&s.get("/users/me", Some(&ghost.token)).await, 404, "User not found");
}

const TEST_RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEApXeWAyG+eWdaXPMTWm2eAsLTt1gk9n9Zbk3772ZNhHVqlCmd
N97AHDiKixGIzRtIiPDnUUGL3J4E7g3pG3O+XqnRPJq+4xp6dsPegwvDxMMhqt+e
BEdj/+TNHmgupIi7lp3W1iqFVZuj665qWzxDb59LOoP9o7Xq059Ex1nhQBaw2vOD
lG9Xy0xEn6K+tKCqwJn87GPIQNsCjbQJhbO8ysqwzGsrIEekub+fKJ4kQnhTPjNq
K4F4+FIxylaqqTm33uvVl3skooS20pef7AeZnoMD7Qo99m1eIxsqPCGtw8iLAVuz
/ImXNOnuZ1s7AOWn6YvuhE82ALs0ZXQ85oBWcwIDAQABAoIBABKrMOOD5vZ8mN88
Kkv9anf7nPZ70pkgb38jUPrxixUYSEuU0bZa1/L3Ks5w+S3RrQ03nOmiixH7ntPF
rFjFZiOju5s/sazJhn/9g7k7q71N72+qJi0WaZZsAqaHxkdts+MqRhxzaggUH4T4
8JVVnHLXa/NGBBPN88N88z4eCmzNVAv3vpB9Rn8FkxEHd4dseS2Yy98TXmrFIis8
iqKkbCn57A2sL3AkkXAfKGBeEhNb22B9HKeAag5L1UE7pAb3GIZX/Ye3Nf0ZkORy
F675iYNPC95sziMDLdmAd+3jPhaiVjXr2hKzYjH+6npgu552XuHowYeWzSLWeIiN
4CckWHkCgYEA269j228bliXxd4KMJDjfXi2OTrfGMZ1h76YpK2qIuD6fA/nRhJcK
1tjEu24t5IRbSvW3G2HG+yEYIjcS4zQrQAOb+REUYiOHP1sNsJEpASl3LAvMEd//
OlRz3TR5WohRASSvg0l8xVXPASb7BfIPOncrlOJOEqmtaMfkAXK1IqkCgYEAwNHO
LVP/S/2OqWi67a8AS78vA2K00G9cBzfjBPUBxzxV1/DhXDP8luAZgcVCeCNrXKr0
1UjJ1q9LV1afU+Q5H2lRoaqbiKNNAUR14+SNmRphiyodq/JgvvhyzJftPyCEMr0W
6wzGMdvtew1zhUagGAZf1rQ4rlqJE6sk5DXX/bsCgYAvLjTY/LzE+3Mngo8MfHZk
aI5Gk6tqHm3ZJSt0WpXwU+qc1PtNaY73Y2ilBF2w1UgyCiGALPiqGIpxVrikuSCM
x/mofSWOiijSz4BaKmLPEBO7DvGN6TiMU3Tqzgk+C0ayYymanZ7BVtN1YOTKexkQ
KmXevNedpHlMppluQi9quQKBgQCOWNU7BW3NrcyqKFUHr1Aqm2Obvjz6O5vXAF0q
ha3gZhyBpKTaqs5om9x4vyXJB2z1JohFBM1tHlAilCJfjnbVR60qCod0IgpxSxc1
PL+ELcOhN2BcVj0x/rzRab+OAPVXd9z5fZ67pD73vwBvfaom0l3iZX4KyW+1A33i
tBVWjQKBgQCDiUubP6UX9e/inFutSisWg2TuLRJQRm1QFyyBqxlCDNfGFIbZEqAX
BnuodNUFBiWN0x+dCbw5J4anBthTfS8mM8SuNG67PxbpHWXwz3moAOES7w1HagyY
XCQq9QrQ+AwRuDrZprHLB+iJZOL2CftytlA/L3lDwaQMAogGiHq2jg==
-----END RSA PRIVATE KEY-----";

struct Jwks {
    url: String,
    key: jsonwebtoken::EncodingKey,
}

async fn serve_jwks() -> Jwks {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(TEST_RSA_KEY).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test-key",
        "n": b64.encode(private.n().to_bytes_be()), "e": b64.encode(private.e().to_bytes_be()),
    });
    let doc = json!({"keys": [jwk]});
    let app = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || async move { axum::Json(doc.clone()) }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/certs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    Jwks {
        url,
        key: jsonwebtoken::EncodingKey::from_rsa_pem(TEST_RSA_KEY.as_bytes()).unwrap(),
    }
}

fn google_token(jwks: &Jwks, kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &jwks.key).unwrap()
}

async fn google_sign_in_against_local_jwks(b: Backend) {
    let jwks = serve_jwks().await;
    let s = TestServer::start_with(b, |c| {
        c.google_client_id = Some("client-123.apps.example".into());
        c.google_jwks_url = jwks.url.clone();
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64, sub: &str, email: &str| {
        json!({"iss": "https://accounts.google.com", "aud": aud, "exp": exp, "iat": now, "sub": sub,
               "email": email, "email_verified": true, "name": "Gina Google"})
    };
    let good = google_token(
        &jwks,
        "test-key",
        claims("client-123.apps.example", now + 600, "g-1", "gina@example.org"),
    );
    let r = s.post("/login/google", None, json!({"token": good})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let me = s.get("/users/me", r.1["access_token"].as_str()).await;
    assert_eq!(me.1["sub"], "g-1");
    assert_eq!(me.1["name"], "Gina Google");
    // Same Google account again: same user.
    let again = s.post("/login/google", None, json!({"token": good})).await;
    assert_eq!(
        s.get("/users/me", again.1["access_token"].as_str()).await.1["user_id"],
        me.1["user_id"]
    );
    // Errors are errors, not 200s.
    let wrong_aud = google_token(
        &jwks,
        "test-key",
        claims("someone-else", now + 600, "g-2", "x@example.org"),
    );
    assert_detail(
        &s.post("/login/google", None, json!({"token": wrong_aud})).await,
        401,
        "Invalid Authentication",
    );
    let expired = google_token(
        &jwks,
        "test-key",
        claims("client-123.apps.example", now - 600, "g-3", "y@example.org"),
    );
    assert_detail(
        &s.post("/login/google", None, json!({"token": expired})).await,
        401,
        "Invalid Authentication",
    );
    let unknown_kid = google_token(
        &jwks,
        "other-key",
        claims("client-123.apps.example", now + 600, "g-4", "z@example.org"),
    );
    assert_detail(
        &s.post("/login/google", None, json!({"token": unknown_kid})).await,
        401,
        "Invalid Authentication",
    );
    assert_detail(
        &s.post("/login/google", None, json!({"token": "garbage"})).await,
        401,
        "Invalid Authentication",
    );
    // A password account already owns this e-mail: refused, not a 500.
    let (uid, _) = s.user("Hal").await;
    let hal_email = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    let clash = google_token(
        &jwks,
        "test-key",
        claims("client-123.apps.example", now + 600, "g-5", &hal_email),
    );
    assert_detail(
        &s.post("/login/google", None, json!({"token": clash})).await,
        400,
        "There is already an account with this email.",
    );
}

async fn google_sign_in_disabled_without_client_id(b: Backend) {
    let s = TestServer::start(b).await;
    assert_detail(
        &s.post("/login/google", None, json!({"token": "x"})).await,
        404,
        "Google sign-in is not enabled on this server.",
    );
}

/// Security review F1: the bootstrap promoted whatever account held CROWDWIRE_ADMIN_EMAIL at
/// start-up, so a user who took that address (after the admin changed theirs) became a
/// superuser at the next restart, with their existing tokens.
async fn the_admin_address_never_promotes_an_ordinary_account(b: Backend) {
    let mut s = TestServer::start(b).await;
    let admin = s.admin().await;
    let admin_id = s.get("/users/me", Some(&admin)).await.1["user_id"].as_i64().unwrap();
    let (eve_id, eve) = s.user("Eve").await;
    let r = s
        .put(
            &format!("/users/{admin_id}"),
            Some(&admin),
            json!({"email": "moved-admin@crowdwire.test", "current_password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let r = s
        .put(
            &format!("/users/{eve_id}"),
            Some(&eve),
            json!({"email": ADMIN_EMAIL, "current_password": "pw-123456"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let config = s.config.clone();
    s.stop().await;
    let s2 = TestServer::start_config(config).await;
    let me = s2.get("/users/me", Some(&eve)).await;
    assert_eq!(me.0, StatusCode::OK, "{}", me.1);
    assert_eq!(me.1["is_superuser"], false, "{}", me.1);
    assert!(
        !s2.get("/users", Some(&eve)).await.0.is_success(),
        "Eve cannot list accounts"
    );
    // Her password is hers still, and the admin keeps their powers under the new address.
    s2.login(ADMIN_EMAIL, "pw-123456").await;
    let admin = s2.login("moved-admin@crowdwire.test", ADMIN_PASSWORD).await;
    assert_eq!(s2.get("/users", Some(&admin)).await.0, StatusCode::OK);
}

async fn invites_survive_a_restart(b: Backend) {
    let mut s = TestServer::start(b).await;
    let (_, owner) = s.user("Ivy").await;
    let world = s.world(&owner, "Invite World", false, false).await;
    let inv = s.post(&format!("/invitation/{world}"), Some(&owner), json!({})).await;
    assert_eq!(inv.0, StatusCode::OK, "{}", inv.1);
    let invite = inv.1["access_token"].as_str().unwrap().to_owned();
    let (_, friend) = s.user("Jon").await;
    let config = s.config.clone();
    s.stop().await;
    let s2 = TestServer::start_config(config).await;
    // Tokens and invites minted before the restart still work: the secret is kept.
    let r = s2
        .post(&format!("/worlds/invite/{invite}"), Some(&friend), json!({}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["world_id"], world);
    assert_eq!(r.1["role"]["is_default"], true);
    drop(s2);
}

async fn auth_endpoints_are_rate_limited(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.auth_rate_per_minute = 5;
        c.auth_burst = 5;
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(s.post("/join-guest", None, json!({})).await);
    }
    assert!(codes[..5].iter().all(|r| r.0 == StatusCode::OK));
    assert_detail(codes.last().unwrap(), 429, "Too many requests. Try again later.");
    assert_eq!(
        s.login_raw(ADMIN_EMAIL, "whatever").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Without trust in a proxy, a forged X-Forwarded-For does not escape the limit.
    let forged = s
        .http
        .post(format!("{}/join-guest", s.api))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn behind_a_trusted_proxy_each_client_has_its_own_limit(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.auth_rate_per_minute = 2;
        c.auth_burst = 2;
        c.trust_forwarded_for = true;
    })
    .await;
    let guest_from = |ip: &'static str| {
        let req = s
            .http
            .post(format!("{}/join-guest", s.api))
            .header("x-forwarded-for", format!("198.51.100.1, {ip}"));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(guest_from("192.0.2.1").await, StatusCode::OK);
    assert_eq!(guest_from("192.0.2.1").await, StatusCode::OK);
    assert_eq!(guest_from("192.0.2.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        guest_from("192.0.2.2").await,
        StatusCode::OK,
        "another client behind the proxy is not throttled"
    );
}

/// Security review F5: a token minted before a password change kept working, and could be
/// refreshed. Now the change revokes every older token (REST, refresh and WebSocket) and
/// closes the account's live sessions; the new password's tokens work.
async fn a_password_change_revokes_every_older_token(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, old) = s.user("Pat").await;
    let email = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    let w = s.world(&old, "Home", true, true).await;
    s.join(&old, w).await;
    let mut live = Client::connect(&s, w, &old).await;
    live.expect("PLAYERS_SNAPSHOT").await;
    let r = s
        .put(
            "/users/password-update",
            Some(&old),
            json!({"old_password": "pw-123456", "new_password": "a brand new one"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let k = live.expect("KICKED").await;
    assert!(k["d"]["reason"].as_str().unwrap().contains("signed out"), "{k}");
    live.closed_with().await;
    assert_detail(
        &s.get("/users/me", Some(&old)).await,
        401,
        "Could not validate credentials",
    );
    assert_detail(
        &s.post("/reset-token", Some(&old), json!({})).await,
        401,
        "Session Expired",
    );
    let mut again = Client::connect(&s, w, &old).await;
    assert_eq!(again.closed_with().await, 1008);
    let new = s.login(&email, "a brand new one").await;
    assert_eq!(s.get("/users/me", Some(&new)).await.0, StatusCode::OK);
    let refreshed = s.post("/reset-token", Some(&new), json!({})).await;
    assert_eq!(refreshed.0, StatusCode::OK, "{}", refreshed.1);
    let mut back = Client::connect(&s, w, &new).await;
    back.expect("PLAYERS_SNAPSHOT").await;
}

/// Security review F5: "sign out everywhere" ends every token and every live session of the
/// account (and only of that account).
async fn logout_everywhere_revokes_tokens_and_live_sessions(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, laptop) = s.user("Lou").await;
    let (_, other) = s.user("Other").await;
    let email = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    let phone = s.login(&email, "pw-123456").await;
    let w = s.world(&other, "Cafe", true, true).await;
    s.join(&phone, w).await;
    s.join(&other, w).await;
    let mut on_phone = Client::connect(&s, w, &phone).await;
    on_phone.expect("PLAYERS_SNAPSHOT").await;
    let mut bystander = Client::connect(&s, w, &other).await;
    bystander.expect("PLAYERS_SNAPSHOT").await;
    assert_detail(
        &s.post("/users/logout-everywhere", None, json!({})).await,
        401,
        "Not authenticated",
    );
    let r = s.post("/users/logout-everywhere", Some(&laptop), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1, json!({"status": "ok"}));
    on_phone.expect("KICKED").await;
    on_phone.closed_with().await;
    for t in [&laptop, &phone] {
        assert_detail(
            &s.get("/users/me", Some(t)).await,
            401,
            "Could not validate credentials",
        );
        assert_detail(
            &s.post("/reset-token", Some(t), json!({})).await,
            401,
            "Session Expired",
        );
    }
    // Others are untouched.
    assert_eq!(s.get("/users/me", Some(&other)).await.0, StatusCode::OK);
    bystander.send(json!({"topic": "PING"})).await;
    bystander.expect("PONG").await;
    assert!(bystander.closed.is_none());
    // Signing in again works.
    let fresh = s.login(&email, "pw-123456").await;
    assert_eq!(s.get("/users/me", Some(&fresh)).await.0, StatusCode::OK);
}

/// Security review F1: without SMTP anyone holding a session could move the account to
/// another address (for instance the configured superuser's). Changing one's own e-mail now
/// needs the current password; a superuser may still correct someone else's.
async fn changing_ones_email_needs_the_current_password_without_smtp(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, t) = s.user("Eve").await;
    let me = format!("/users/{uid}");
    let before = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    let needs = "Changing your e-mail needs your current password (current_password).";
    assert_detail(
        &s.put(&me, Some(&t), json!({"email": "eve@new.example"})).await,
        400,
        needs,
    );
    assert_detail(
        &s.put(
            &me,
            Some(&t),
            json!({"email": "eve@new.example", "current_password": "wrong"}),
        )
        .await,
        400,
        needs,
    );
    assert_eq!(s.db().user_by_id(uid).await.unwrap().unwrap().email, before);
    // Other fields, and the same address in another case, need nothing.
    let r = s
        .put(&me, Some(&t), json!({"name": "Eve B", "email": before.to_uppercase()}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let r = s
        .put(
            &me,
            Some(&t),
            json!({"email": "eve@new.example", "current_password": "pw-123456"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["email"], "eve@new.example");
    s.login("eve@new.example", "pw-123456").await;
    let admin = s.admin().await;
    let r = s.put(&me, Some(&admin), json!({"email": "eve@fixed.example"})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["email"], "eve@fixed.example");
}

fn email_change_token(mail: &str) -> String {
    let joined = mail.replace("=\n", "").replace("=3D", "=");
    let at = joined.find("/confirm-email/").expect("mail contains the link") + "/confirm-email/".len();
    joined[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

/// Security review F1: with SMTP, the new address confirms the change; until then the account
/// keeps its address. A password change cancels a pending link.
async fn changing_ones_email_is_confirmed_at_the_new_address_with_smtp(b: Backend) {
    let (port, mails) = smtp_sink(true).await;
    let s = TestServer::start_with(b, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let old_email = "max@old.example";
    let r = s
        .post(
            "/register",
            None,
            json!({"name": "Max", "email": old_email, "hashed_password": "pw-123456"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let token = confirmation_token(&mails.lock().unwrap().last().cloned().unwrap());
    let r = s
        .post(&format!("/confirm/{token}"), None, json!({"password": "pw-123456"}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let t = r.1["access_token"].as_str().unwrap().to_owned();
    let uid = s.get("/users/me", Some(&t)).await.1["user_id"].as_i64().unwrap();
    let me = format!("/users/{uid}");
    let r = s.put(&me, Some(&t), json!({"email": "max@new.example"})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["email"], old_email, "unchanged until confirmed");
    let mail = mails
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a mail to the new address");
    assert!(mail.contains("max@new.example"));
    let token = email_change_token(&mail);
    assert_detail(
        &s.post("/confirm-email/garbage", None, json!({})).await,
        404,
        "Invalid Token",
    );
    let c = s.post(&format!("/confirm-email/{token}"), None, json!({})).await;
    assert_eq!(c.0, StatusCode::OK, "{}", c.1);
    assert_eq!(s.db().user_by_id(uid).await.unwrap().unwrap().email, "max@new.example");
    assert_eq!(s.get("/users/me", c.1["access_token"].as_str()).await.0, StatusCode::OK);
    s.login("max@new.example", "pw-123456").await;
    // A second request, then a password change: the second link is dead.
    let t = s.login("max@new.example", "pw-123456").await;
    s.put(&me, Some(&t), json!({"email": "max@third.example"})).await;
    let second = email_change_token(&mails.lock().unwrap().last().cloned().unwrap());
    let r = s
        .put(
            "/users/password-update",
            Some(&t),
            json!({"old_password": "pw-123456", "new_password": "another one"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_detail(
        &s.post(&format!("/confirm-email/{second}"), None, json!({})).await,
        404,
        "Invalid Token",
    );
    assert_eq!(s.db().user_by_id(uid).await.unwrap().unwrap().email, "max@new.example");
}

/// The default limits let a class behind one NAT arrive at once (the old 30 a minute per
/// address refused the 31st guest), and refreshing valid tokens is never refused.
async fn a_venue_behind_one_address_gets_in_with_the_default_limits(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        let defaults = crowdwire::config::Config::for_data_dir(&c.data_dir);
        c.auth_rate_per_minute = defaults.auth_rate_per_minute;
        c.auth_burst = defaults.auth_burst;
        c.login_attempts_per_account = defaults.login_attempts_per_account;
    })
    .await;
    let mut tokens = Vec::new();
    for i in 0..100 {
        let r = s.post("/join-guest", None, json!({})).await;
        assert_eq!(r.0, StatusCode::OK, "guest {i}: {}", r.1);
        tokens.push(r.1["access_token"].as_str().unwrap().to_owned());
    }
    for (i, t) in tokens.iter().enumerate() {
        let r = s.post("/reset-token", Some(t), json!({})).await;
        assert_eq!(r.0, StatusCode::OK, "refresh {i}: {}", r.1);
    }
    // Refreshing again and again costs nothing either.
    for _ in 0..3 {
        for t in &tokens {
            assert_eq!(s.post("/reset-token", Some(t), json!({})).await.0, StatusCode::OK);
        }
    }
}

/// A failed log-in (or a refresh with a bad token) takes five tokens from the address's
/// bucket, a success one.
async fn failed_log_ins_cost_more_than_successes(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.auth_rate_per_minute = 1;
        c.auth_burst = 20;
    })
    .await;
    // Twenty successes fit in a bucket of twenty...
    let mut ok = 0;
    while ok < 20 && s.post("/join-guest", None, json!({})).await.0 == StatusCode::OK {
        ok += 1;
    }
    assert_eq!(ok, 20);
    let s = TestServer::start_with(b, |c| {
        c.auth_rate_per_minute = 1;
        c.auth_burst = 20;
    })
    .await;
    // ...four failures empty it.
    for i in 0..4 {
        assert_detail(
            &s.login_raw(ADMIN_EMAIL, &format!("wrong {i}")).await,
            400,
            "Invalid email or password.",
        );
    }
    assert_detail(
        &s.login_raw(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        429,
        "Too many requests. Try again later.",
    );
    let s = TestServer::start_with(b, |c| {
        c.auth_rate_per_minute = 1;
        c.auth_burst = 10;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            s.post("/reset-token", Some("forged.token.here"), json!({})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        s.post("/reset-token", Some("forged.token.here"), json!({})).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Guessing one account's password from many addresses is limited like from one.
async fn log_ins_to_one_account_are_limited_from_every_address(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.trust_forwarded_for = true;
        c.login_attempts_per_account = 10;
    })
    .await;
    let (uid, _) = s.user("Target").await;
    let email = s.db().user_by_id(uid).await.unwrap().unwrap().email;
    let attempt = |ip: String, user: String, password: &'static str| {
        let req = s
            .http
            .post(format!("{}/login", s.api))
            .header("x-forwarded-for", ip)
            .form(&[("username", user.as_str()), ("password", password)]);
        async move { req.send().await.unwrap().status() }
    };
    // `s.user` logged in once already.
    for i in 0..9 {
        assert_eq!(
            attempt(format!("192.0.2.{i}"), email.clone(), "guess").await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        attempt("198.51.100.7".into(), email.to_uppercase(), "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a fresh address, the same account"
    );
    assert_eq!(
        attempt("198.51.100.8".into(), ADMIN_EMAIL.into(), ADMIN_PASSWORD).await,
        StatusCode::OK,
        "other accounts are not affected"
    );
}

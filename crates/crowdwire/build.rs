//! Tells the integration tests whether PostgreSQL is theirs to use: with
//! `CROWDWIRE_TEST_DATABASE_URL` set, or under `CI=true` (where a missing URL must fail, not
//! skip), the PostgreSQL variants and the cluster tests are compiled to run; otherwise they
//! are marked ignored, so `cargo test` counts them as not run instead of passed.

fn main() {
    println!("cargo::rerun-if-env-changed=CROWDWIRE_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    let url = std::env::var("CROWDWIRE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if url || ci {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}

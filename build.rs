//! Under CI (`CI` set, and not "", "0" or "false"), the tests that need root, a browser or
//! Schemathesis are compiled as ordinary tests, so they run or fail; elsewhere they are
//! `#[ignore]`d, and the summary lists them as ignored with the reason. One test command,
//! `cargo test`, serves both.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(hooktrail_ci)");
    println!("cargo::rerun-if-env-changed=CI");
    let under_ci =
        std::env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"));
    if under_ci {
        println!("cargo::rustc-cfg=hooktrail_ci");
    }
}

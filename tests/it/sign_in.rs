//! Signing in under attack, and signing out for good, over real HTTP: attempts sent at once
//! get no more password checks than attempts sent one after another, checks beyond the slots
//! are refused at once, and a session that was signed out stays signed out — for a copy of
//! its cookie, across restarts, everywhere at once, and after a password change.

use crate::common;
use crate::ops_support;

use common::{Answer, Browser, STAFF_PASSWORD, STAFF_USER, TestGateway, staff_users};

/// A user whose password takes long to check (seconds here), so that checks started together
/// are still running while the test looks at them and sends more.
const SLOW_USER: &str = "lee";
const SLOW_PASSWORD: &str = "a slow one to check";

fn slow_user() -> String {
    use argon2::password_hash::PasswordHasher;
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(8 * 1024, 200, 1, None).expect("params");
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(SLOW_PASSWORD.as_bytes())
        .expect("hash")
        .to_string();
    format!("\n[[auth.users]]\nusername = \"{SLOW_USER}\"\npassword_hash = \"{hash}\"\n")
}

/// The config's `[auth]` table, after the users.
fn auth_table(settings: &str) -> String {
    format!("\n[auth]\n{settings}\n")
}

/// A visitor's session cookie and the CSRF token of its login form.
async fn login_form(base: &str) -> (String, String) {
    let mut visitor = Browser::new(base);
    let form = visitor.get("/login").await;
    (
        visitor.cookie.expect("a visitor session"),
        Browser::csrf_of(&form),
    )
}

/// One sign-in attempt with the visitor session `cookie`, not following the redirect.
async fn attempt(
    base: String,
    (cookie, csrf): (String, String),
    username: &'static str,
    password: &'static str,
) -> Answer {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("request");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap_or_default(),
    }
}

/// Polls until at least `at_least` password checks are running.
async fn until_checks_running(base: &str, at_least: usize) {
    ops_support::until_at_least(base, "hooktrail_password_checks_running", at_least as f64).await;
}

fn is_retry_later(answer: &Answer, message: &str) -> bool {
    answer.status == 429
        && answer
            .headers
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|seconds| seconds.parse::<u64>().is_ok_and(|s| s >= 1))
        && answer.body.contains(message)
        // The login page itself, to try again from.
        && answer.body.contains("<form method=\"post\" action=\"/login\"")
}

#[actix_web::test]
async fn a_burst_of_guesses_at_once_gets_only_the_free_checks() {
    // Room for every check at once: only the throttle may hold the burst back.
    let extra = format!("{}{}", slow_user(), auth_table("max_password_checks = 64"));
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let base = gateway.client.base.clone();
    let form = login_form(&base).await;

    let guesses: Vec<_> = (0..15)
        .map(|_| {
            tokio::spawn(attempt(
                base.clone(),
                form.clone(),
                SLOW_USER,
                "a wrong guess",
            ))
        })
        .collect();
    // The free five have got past the throttle; the right password now, while they run or
    // once they have failed, must wait like any other attempt. (Waiting for five to run at
    // once would hang on a loaded machine, where they may arrive one after another.)
    ops_support::until_at_least(&base, "hooktrail_password_checks_total", 5.0).await;
    let right = attempt(base.clone(), form.clone(), SLOW_USER, SLOW_PASSWORD).await;
    assert!(
        is_retry_later(&right, "Too many failed sign-ins"),
        "the right password in a burst must not sign in: {} {}",
        right.status,
        right
            .headers
            .get("location")
            .map_or("", |l| l.to_str().unwrap_or(""))
    );

    let mut checked = 0;
    for guess in guesses {
        let answer = guess.await.expect("task");
        match answer.status {
            401 => checked += 1,
            _ => assert!(
                is_retry_later(&answer, "Too many failed sign-ins"),
                "{}",
                answer.status
            ),
        }
    }
    assert_eq!(checked, 5, "only the free failures are checked");
    gateway.stop().await;
}

#[actix_web::test]
async fn checks_beyond_the_slots_are_refused_at_once_with_retry_after() {
    let extra = format!(
        "{}{}{}",
        staff_users(),
        slow_user(),
        auth_table("max_password_checks = 1")
    );
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let base = gateway.client.base.clone();
    let form = login_form(&base).await;

    // One slow check takes the only slot.
    let slow = tokio::spawn(attempt(
        base.clone(),
        form.clone(),
        SLOW_USER,
        "a wrong guess",
    ));
    until_checks_running(&base, 1).await;
    // Anyone else, right password or not, is told to come back: no queue.
    for (username, password) in [(STAFF_USER, STAFF_PASSWORD), ("nobody", "guess")] {
        let busy = attempt(base.clone(), form.clone(), username, password).await;
        assert!(
            is_retry_later(&busy, "Many sign-ins are being checked right now"),
            "{} {}",
            busy.status,
            busy.body
        );
        assert_eq!(busy.headers["retry-after"], "1");
    }
    assert!(!slow.is_finished(), "refused while the slot was taken");
    assert_eq!(slow.await.expect("task").status, 401);

    // The slot is free again, and refusals for want of one were not counted as failures.
    let signed_in = attempt(base.clone(), form.clone(), STAFF_USER, STAFF_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Signing out

/// Sessions outlive a restart only with a configured key: with it, a signed-out session
/// failing after a restart fails because it was signed out, not because the key changed.
const SESSION_KEY: &str =
    "\n[auth]\nsession_key = \"sign-in-tests-session-key-0123456789abcdef\"\n";

const OTHER_USER: &str = "kim";
const OTHER_PASSWORD: &str = "kim's own password";

fn other_user(password: &str) -> String {
    let hash = hooktrail::password::hash(password).expect("hash");
    format!("\n[[auth.users]]\nusername = \"{OTHER_USER}\"\npassword_hash = \"{hash}\"\n")
}

/// A browser holding `cookie` (a copy of another browser's session, say).
fn with_cookie(base: &str, cookie: &str) -> Browser {
    let mut browser = Browser::new(base);
    browser.cookie = Some(cookie.to_owned());
    browser
}

/// Whether a browser with this cookie is signed in, asked of a page and of the API.
async fn signed_in(base: &str, cookie: &str) -> bool {
    let mut browser = with_cookie(base, cookie);
    let page = browser.get("/").await;
    let api = browser.get("/api/v1/unmatched").await;
    match (page.status, api.status) {
        (200, 200) => true,
        (303, 401) => {
            assert_eq!(page.location(), Some("/login"));
            false
        }
        other => panic!("page and API disagree: {other:?}"),
    }
}

async fn sign_out(browser: &mut Browser, scope: &str) -> Answer {
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "signed in to sign out");
    let csrf = Browser::csrf_of(&home);
    browser
        .post_form("/logout", &[("csrf", &csrf), ("scope", scope)])
        .await
}

#[actix_web::test]
async fn a_copied_cookie_stops_working_at_sign_out_and_after_a_restart() {
    let extra = format!("{}{SESSION_KEY}", staff_users());
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let base = gateway.client.base.clone();
    let mut browser = Browser::new(&base);
    browser.sign_in().await;
    let copied = browser.cookie.clone().expect("a session cookie");
    let mut kept = Browser::new(&base);
    kept.sign_in().await;
    let kept = kept.cookie.expect("a session cookie");
    assert!(signed_in(&base, &copied).await);

    let out = sign_out(&mut browser, "").await;
    assert_eq!(out.location(), Some("/login?signed_out=1"));
    assert!(browser.cookie.is_none(), "the browser's cookie is removed");
    assert!(!signed_in(&base, &copied).await, "the copy ends with it");
    assert!(signed_in(&base, &kept).await, "another session goes on");
    // Signing out with the copy again is harmless.
    let mut copy = with_cookie(&base, &copied);
    let login = copy.get("/login").await;
    let again = copy
        .post_form("/logout", &[("csrf", &Browser::csrf_of(&login))])
        .await;
    assert_eq!(again.status, 303);

    gateway.restart_with(&extra).await;
    let base = gateway.client.base.clone();
    assert!(
        !signed_in(&base, &copied).await,
        "still ended after a restart"
    );
    assert!(
        signed_in(&base, &kept).await,
        "the same key opens the others"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn signing_out_everywhere_ends_every_session_of_that_user_and_no_one_elses() {
    let extra = format!(
        "{}{}{SESSION_KEY}",
        staff_users(),
        other_user(OTHER_PASSWORD)
    );
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let base = gateway.client.base.clone();
    let mut laptop = Browser::new(&base);
    laptop.sign_in().await;
    let mut phone = Browser::new(&base);
    phone.sign_in().await;
    let phone = phone.cookie.expect("a session cookie");
    let mut colleague = Browser::new(&base);
    colleague.sign_in_as(OTHER_USER, OTHER_PASSWORD).await;
    let colleague = colleague.cookie.expect("a session cookie");
    let laptop_copy = laptop.cookie.clone().expect("a session cookie");

    let out = sign_out(&mut laptop, "everywhere").await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/login?signed_out=everywhere"));
    let notice = laptop.get("/login?signed_out=everywhere").await;
    assert!(notice.body.contains("You have signed out on every device."));
    assert!(!signed_in(&base, &laptop_copy).await);
    assert!(
        !signed_in(&base, &phone).await,
        "the other session ends too"
    );
    assert!(
        signed_in(&base, &colleague).await,
        "another user's does not"
    );
    // Signing in again afterwards works.
    let mut again = Browser::new(&base);
    again.sign_in().await;
    let again = again.cookie.expect("a session cookie");
    assert!(signed_in(&base, &again).await);

    gateway.restart_with(&extra).await;
    let base = gateway.client.base.clone();
    assert!(!signed_in(&base, &phone).await);
    assert!(signed_in(&base, &colleague).await);
    assert!(signed_in(&base, &again).await);
    gateway.stop().await;
}

#[actix_web::test]
async fn changing_a_password_in_the_config_ends_that_users_sessions() {
    let colleague_user = other_user(OTHER_PASSWORD);
    let extra = format!("{}{colleague_user}{SESSION_KEY}", staff_users());
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let base = gateway.client.base.clone();
    let mut dana = Browser::new(&base);
    dana.sign_in().await;
    let dana = dana.cookie.expect("a session cookie");
    let mut colleague = Browser::new(&base);
    colleague.sign_in_as(OTHER_USER, OTHER_PASSWORD).await;
    let colleague = colleague.cookie.expect("a session cookie");

    // The same config but for Dana's new password hash.
    let new_hash = hooktrail::password::hash("a new password").expect("hash");
    let changed = format!(
        "\n[[auth.users]]\nusername = \"{STAFF_USER}\"\npassword_hash = \"{new_hash}\"\n\
         {colleague_user}{SESSION_KEY}"
    );
    gateway.restart_with(&changed).await;
    let base = gateway.client.base.clone();
    assert!(
        !signed_in(&base, &dana).await,
        "the old password's session ended"
    );
    assert!(signed_in(&base, &colleague).await);
    let mut renewed = Browser::new(&base);
    renewed.sign_in_as(STAFF_USER, "a new password").await;
    gateway.stop().await;
}

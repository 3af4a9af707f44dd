//! Signing in under attack, over real HTTP: attempts sent at once get no more password checks
//! than attempts sent one after another, and checks beyond the slots are refused at once.

mod common;

use std::time::{Duration, Instant};

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

/// Password checks running now, from `/metrics`.
async fn checks_running(base: &str) -> usize {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix("hooktrail_password_checks_running "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no password checks gauge in {text}"))
}

/// Polls until at least `at_least` password checks are running.
async fn until_checks_running(base: &str, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while checks_running(base).await < at_least {
        assert!(
            Instant::now() < deadline,
            "never saw {at_least} checks running"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    // The free five are being checked; the right password now, while they run, must wait
    // like any other attempt.
    until_checks_running(&base, 5).await;
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

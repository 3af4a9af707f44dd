//! Alerts over real HTTP: a rule fires and resolves once each at a local receiver that checks
//! every notification's Standard Webhooks signature; a failed notification is retried with the
//! same id; a burst of forged deliveries fires one alert, not one per delivery; the console
//! shows the state and sends a test; and two gateways on one database notify a change once.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::common::{self, Browser, OPERATOR_USER, STAFF_PASSWORD, TestGateway};

/// The secret the receiver verifies with, as configured (`whsec_` + base64).
fn receiver_secret() -> String {
    format!(
        "whsec_{}",
        STANDARD.encode("the alert receiver's own secret")
    )
}

/// What the receiver was sent, signature checked.
#[derive(Debug, Clone)]
struct Notice {
    id: String,
    body: Value,
    /// Whether the receiver answered 2xx (it refuses the first `fail_first` it gets).
    accepted: bool,
}

impl Notice {
    fn state(&self) -> &str {
        self.body["alert"]["state"].as_str().unwrap_or("")
    }
}

#[derive(Default)]
struct Inbox {
    notices: Vec<Notice>,
    fail_first: usize,
    forged: usize,
}

/// A chat webhook stand-in on port 0 that verifies what it gets like a careful receiver.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox {
            fail_first,
            ..Inbox::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let shared = inbox.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/notify", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Receiver {
            url,
            inbox,
            server: handle,
        }
    }

    fn notices(&self) -> Vec<Notice> {
        let inbox = self.inbox.lock().unwrap();
        assert_eq!(inbox.forged, 0, "every notification verifies");
        inbox.notices.clone()
    }

    fn accepted(&self) -> Vec<Notice> {
        self.notices().into_iter().filter(|n| n.accepted).collect()
    }

    /// Waits until `count` notifications were accepted.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Notice> {
        let start = Instant::now();
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(
                start.elapsed() < within,
                "waited {within:?} for {count} notifications; got {:#?}",
                self.notices()
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Checks the Standard Webhooks signature as the specification says, by hand.
async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    inbox: web::Data<Arc<Mutex<Inbox>>>,
) -> HttpResponse {
    use hmac::{KeyInit, Mac};
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let key = STANDARD
        .decode(receiver_secret().trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|at| (chrono::Utc::now().timestamp() - at).abs() < 300);
    let mut inbox = inbox.lock().unwrap();
    if signature != expected || !fresh || id.is_empty() {
        inbox.forged += 1;
        return HttpResponse::Unauthorized().finish();
    }
    let accepted = inbox.fail_first == 0;
    inbox.fail_first = inbox.fail_first.saturating_sub(1);
    inbox.notices.push(Notice {
        id,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        accepted,
    });
    if accepted {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

/// Posts a signed status change of job 1042, as the business app would; it must be stored.
async fn deliver(client: &common::Client, to: &str, at: &str) {
    let sent = client
        .post_signed(&common::status_changed("1042", to, at))
        .await;
    assert_eq!(sent.status(), 200);
}

fn alert(name: &str, when: &str, more: &str, receiver: &Receiver) -> String {
    format!(
        "\n[[alerts]]\nname = \"{name}\"\nwhen = \"{when}\"\n{more}\nnotify_url = \"{}\"\nsecret = \"{}\"\n",
        receiver.url,
        receiver_secret()
    )
}

const EVERY_SECOND: &str = "\n[alerting]\ncheck_interval_secs = 1\n";

#[actix_web::test]
async fn a_silent_source_fires_once_is_retried_with_the_same_id_and_resolves_once() {
    let receiver = Receiver::start(1);
    let rule = alert(
        "hoops-silent",
        "source_silent",
        "source = \"hoops\"\nwindow_secs = 2",
        &receiver,
    );
    let mut gateway = TestGateway::start_with(&format!("{EVERY_SECOND}{rule}"), None).await;
    deliver(&gateway.client, "printing", "2026-03-01T10:00:00Z").await;

    // It fires after two silent seconds. The receiver refuses the first attempt; the retry,
    // ten seconds on, carries the same id. Checks every second in between send nothing more.
    let fired = receiver.wait_for(1, Duration::from_secs(30)).await;
    let all = receiver.notices();
    assert_eq!(all.len(), 2, "one refused attempt, one retry: {all:#?}");
    assert!(!all[0].accepted);
    assert_eq!(all[0].id, all[1].id, "a retry is the same notification");
    assert_eq!(fired[0].state(), "firing");
    let alert = &fired[0].body["alert"];
    assert_eq!(alert["name"], "hoops-silent");
    assert_eq!(alert["when"], "source_silent");
    assert_eq!(alert["source"], "hoops");
    assert!(
        fired[0].body["text"]
            .as_str()
            .unwrap()
            .contains("*hoops-silent* is firing: nothing stored from hoops for"),
        "{}",
        fired[0].body["text"]
    );

    // A delivery resolves it, once.
    deliver(&gateway.client, "shipped", "2026-03-01T11:00:00Z").await;
    let both = receiver.wait_for(2, Duration::from_secs(10)).await;
    gateway.stop().await;
    assert_eq!(both[1].state(), "resolved");
    assert_ne!(both[1].id, both[0].id);
    assert!(
        both[1].body["alert"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("hoops delivers"),
        "{}",
        both[1].body
    );
    assert_eq!(receiver.notices().len(), 3, "nothing else was sent");
}

#[actix_web::test]
async fn forged_deliveries_fire_one_alert_which_the_console_shows_and_can_test() {
    let receiver = Receiver::start(0);
    let rule = alert(
        "forgeries",
        "verification_failures",
        "threshold = 3\nwindow_secs = 600",
        &receiver,
    );
    let extra = format!("{}{EVERY_SECOND}{rule}", common::staff_and_operator());
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let body = common::status_changed("7", "printing", "2026-03-01T10:00:00Z");
    let mut headers = gateway.client.signed_headers("hoops", &body);
    for (name, value) in headers.iter_mut() {
        if name == "webhook-signature" {
            *value = "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==".to_owned();
        }
    }
    for _ in 0..6 {
        let refused = gateway.client.post("hoops", &body, &headers).await;
        assert_eq!(refused.status(), 401);
    }
    let fired = receiver.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(fired[0].state(), "firing");
    let summary = fired[0].body["alert"]["summary"].as_str().unwrap();
    assert!(summary.contains("failed verification"), "{summary}");
    // More checks and more forgeries: still one notification, not one per delivery.
    gateway.client.post("hoops", &body, &headers).await;
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.notices().len(), 1);

    // The console shows it firing, to operators only.
    let mut staff = Browser::new(&gateway.client.base);
    staff.sign_in().await;
    assert_eq!(staff.get("/admin/alerts").await.status, 403);
    let mut operator = Browser::new(&gateway.client.base);
    operator.sign_in_as(OPERATOR_USER, STAFF_PASSWORD).await;
    let page = operator.get("/admin/alerts").await;
    assert_eq!(page.status, 200);
    let html = page.html();
    let card = crate::pages::texts(&html, "#alert-forgeries .alert-state");
    assert_eq!(card, ["Firing"]);
    let shown = crate::pages::texts(&html, "#alert-forgeries .alert-summary").join(" ");
    assert!(shown.contains("bad_signature"), "{shown}");
    assert!(
        !page.body.contains("/notify"),
        "a webhook URL's path is its secret: the page shows the host only"
    );

    // The same, as JSON for monitoring: for operators' sessions and tokens only.
    let api = operator.get("/api/v1/alerts").await;
    assert_eq!(api.status, 200);
    let json: Value = serde_json::from_str(&api.body).unwrap();
    let forgeries = &json["alerts"][0];
    assert_eq!(forgeries["name"], "forgeries");
    assert_eq!(forgeries["state"], "firing");
    assert_eq!(forgeries["notified"], true);
    assert_eq!(forgeries["threshold"], 3);
    assert_eq!(staff.get("/api/v1/alerts").await.status, 403);

    // "Send a test": refused without the form's token, or from staff; delivered otherwise.
    let csrf = Browser::csrf_of(&page);
    let action = "/admin/alerts/forgeries/test";
    assert_eq!(
        operator
            .post_form(action, &[("csrf", "wrong")])
            .await
            .status,
        403
    );
    assert_eq!(
        staff.post_form(action, &[("csrf", &csrf)]).await.status,
        403
    );
    assert_eq!(receiver.notices().len(), 1, "refused tests send nothing");
    let sent = operator.post_form(action, &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.location(), Some("/admin/alerts#alert-forgeries"));
    let tested = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(tested[1].state(), "test");
    assert!(tested[1].id.starts_with("alert_forgeries_test_"));
    let after = operator.get("/admin/alerts").await;
    let result = crate::pages::texts(&after.html(), "#alert-forgeries .test-result").join(" ");
    assert!(
        result.contains("Delivered: the receiver answered 204."),
        "{result}"
    );
    let unknown = operator
        .post_form("/admin/alerts/no-such-rule/test", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, 404);
    gateway.stop().await;
}

#[actix_web::test]
async fn a_gateway_without_rules_says_how_to_add_them() {
    let mut gateway = TestGateway::start_with(&common::staff_and_operator(), None).await;
    let mut operator = Browser::new(&gateway.client.base);
    operator.sign_in_as(OPERATOR_USER, STAFF_PASSWORD).await;
    let page = operator.get("/admin/alerts").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No alert rules yet"));
    gateway.stop().await;
}

/// Two gateways on one database, both with the rule: each change is notified once between
/// them, and neither undoes the other's change for not having heard of a delivery yet.
#[actix_web::test]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs PostgreSQL at 127.0.0.1:5432 (HOOKTRAIL_TEST_DATABASE_URL); runs under CI"
)]
async fn two_gateways_on_one_database_notify_each_change_once() {
    let receiver = Receiver::start(0);
    let rule = alert(
        "hoops-silent",
        "source_silent",
        "source = \"hoops\"\nwindow_secs = 3",
        &receiver,
    );
    let pair = crate::postgres::Pair::with("alerts", &format!("{EVERY_SECOND}{rule}"));
    let (mut a, mut b) = pair.start_two();
    let (on_a, on_b) = (pair.client(&a), pair.client(&b));
    deliver(&on_a, "printing", "2026-03-01T10:00:00Z").await;
    let fired = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(fired[0].state(), "firing");
    // Both gateways check every second meanwhile.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.notices().len(), 1, "{:#?}", receiver.notices());

    // The other gateway takes a delivery: resolved once, and not fired again by the first.
    deliver(&on_b, "shipped", "2026-03-01T11:00:00Z").await;
    let both = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(both[1].state(), "resolved");
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    a.terminate();
    b.terminate();
    let states: Vec<String> = receiver
        .notices()
        .iter()
        .map(|n| n.state().to_owned())
        .collect();
    // Silence resumes after the delivery, so a third notice may be a new firing, 3 s on; never
    // a second "firing" before the "resolved" nor a repeat of either.
    assert_eq!(states[..2], ["firing", "resolved"], "{states:?}");
    let ids: std::collections::HashSet<String> =
        receiver.notices().iter().map(|n| n.id.clone()).collect();
    assert_eq!(ids.len(), receiver.notices().len(), "no notification twice");
    drop(pair);
}

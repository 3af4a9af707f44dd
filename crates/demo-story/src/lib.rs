//! The story `hooktrail demo` tells: a print shop's week with three jobs and two sales
//! documents, as the webhooks the business app, its automation rules, SendGrid and QuickBooks
//! would send. Times are set relative to now, at plausible hours in the given timezone, so the
//! timelines read "Today", "Yesterday", "Monday, …".
//!
//! It is data for the gateway, not part of it: it knows the event catalog's JSON shapes and
//! nothing of the gateway's code. The gateway's tests hold it to the catalog.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

/// Who sends a posting, which decides the source (and so the signature) it goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The business app and its automation rules: the event catalog.
    BusinessApp,
    /// SendGrid's event webhook: a batch of delivery and engagement events.
    SendGrid,
    /// QuickBooks Online's webhook: entity change notifications.
    QuickBooks,
}

impl Sender {
    /// The `kind` of the configured source that takes this sender's postings.
    pub fn source_kind(self) -> &'static str {
        match self {
            Sender::BusinessApp => "standard-webhooks",
            Sender::SendGrid => "sendgrid",
            Sender::QuickBooks => "quickbooks",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Sender::BusinessApp => "business app events",
            Sender::SendGrid => "SendGrid delivery event batches",
            Sender::QuickBooks => "QuickBooks invoice notifications",
        }
    }
}

pub struct Posting {
    pub sender: Sender,
    pub at: DateTime<Utc>,
    pub body: Vec<u8>,
    pub description: String,
}

/// The timelines the story fills, for the closing message.
pub const SUBJECTS: &[(&str, &str)] = &[
    ("Job #1042 (business cards)", "/jobs/1042"),
    ("Job #1043 (team T-shirts)", "/jobs/1043"),
    ("Job #1044 (street-fair banner)", "/jobs/1044"),
    ("Quote #Q-2291", "/salesdocs/Q-2291"),
    ("Quote #Q-2305", "/salesdocs/Q-2305"),
];

/// QuickBooks company (realm) of the sample shop.
const REALM: &str = "9130357766881234";

struct Story {
    now: DateTime<Utc>,
    zone: Tz,
    postings: Vec<Posting>,
}

impl Story {
    /// `days` ago at `hh:mm` local time; never later than a few minutes ago.
    fn day(&self, days: i64, hour: u32, minute: u32) -> DateTime<Utc> {
        let date = self.now.with_timezone(&self.zone).date_naive() - Duration::days(days);
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
        let at = self
            .zone
            .from_local_datetime(&date.and_time(time))
            .earliest()
            .map_or(self.now, |local| local.with_timezone(&Utc));
        at.min(self.now - Duration::minutes(3))
    }

    fn ago(&self, minutes: i64) -> DateTime<Utc> {
        self.now - Duration::minutes(minutes)
    }

    fn app(&mut self, at: DateTime<Utc>, event_type: &str, data: Value) {
        let body = json!({
            "type": event_type,
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "data": data,
        });
        self.push(Sender::BusinessApp, at, event_type.to_owned(), body);
    }

    fn sendgrid(&mut self, at: DateTime<Utc>, message_id: &str, to: &str, events: &[&str]) {
        let batch: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let time = at + Duration::minutes(i as i64 * 7);
                json!({
                    "email": to,
                    "timestamp": time.timestamp(),
                    "event": event,
                    "sg_event_id": format!("demo-{message_id}-{event}"),
                    "sg_message_id": format!("{message_id}.filter0001.1.0"),
                    "smtp-id": format!("<{message_id}@sendgrid.example>"),
                })
            })
            .collect();
        self.push(
            Sender::SendGrid,
            at,
            format!("SendGrid events for {message_id}"),
            Value::Array(batch),
        );
    }

    fn quickbooks(&mut self, at: DateTime<Utc>, entity: &str, id: &str, operation: &str) {
        let body = json!({"eventNotifications": [{
            "realmId": REALM,
            "dataChangeEvent": {"entities": [{
                "name": entity,
                "id": id,
                "operation": operation,
                "lastUpdated": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }]},
        }]});
        self.push(
            Sender::QuickBooks,
            at,
            format!("QuickBooks {entity} {id} {operation}"),
            body,
        );
    }

    fn push(&mut self, sender: Sender, at: DateTime<Utc>, description: String, body: Value) {
        self.postings.push(Posting {
            sender,
            at,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            description,
        });
    }
}

fn job(id: &str) -> Value {
    json!({"kind": "job", "id": id})
}

fn salesdoc(id: &str) -> Value {
    json!({"kind": "salesdoc", "id": id})
}

fn dana() -> Value {
    json!({"kind": "user", "id": "u-7", "name": "Dana Whitfield"})
}

fn sam() -> Value {
    json!({"kind": "user", "id": "u-12", "name": "Sam Okafor"})
}

fn maria() -> Value {
    json!({"kind": "customer", "id": "c-311", "name": "Maria Lopez"})
}

fn coach() -> Value {
    json!({"kind": "customer", "id": "c-402", "name": "Coach Terry Hale"})
}

fn rule(id: &str, name: &str) -> Value {
    json!({"kind": "automation", "id": id, "name": name})
}

/// An email as the business app reports it, with real-looking HTML (including the tracking
/// pixel real emails carry, which the pages decline to load).
#[allow(clippy::too_many_arguments)]
fn email(
    subjects: Value,
    to: &str,
    subject: &str,
    greeting: &str,
    paragraphs: &[&str],
    button: Option<(&str, &str)>,
    provider_message_id: &str,
    sent_at: DateTime<Utc>,
) -> Value {
    let mut html = String::from(
        "<div style=\"font-family:Helvetica,Arial,sans-serif;max-width:560px\">\
         <p style=\"color:#0b5cad;font-weight:bold\">Lakeside Print &amp; Sign</p>",
    );
    html.push_str(&format!("<p>{greeting}</p>"));
    for paragraph in paragraphs {
        html.push_str(&format!("<p>{paragraph}</p>"));
    }
    if let Some((label, href)) = button {
        html.push_str(&format!(
            "<p><a href=\"{href}\" style=\"background:#0b5cad;color:#fff;padding:10px 18px;\
             border-radius:6px;text-decoration:none\">{label}</a></p>"
        ));
    }
    html.push_str(
        "<p>Thanks,<br>Dana Whitfield<br>Front desk · Lakeside Print &amp; Sign · (555) 013-2270</p>\
         <img src=\"https://email-tracking.example.net/open.gif?m=demo\" width=\"1\" height=\"1\" alt=\"\"></div>",
    );
    let text = format!(
        "{greeting}\n\n{}\n\nThanks,\nDana Whitfield",
        paragraphs.join("\n\n")
    )
    .replace("<strong>", "")
    .replace("</strong>", "");
    let mut data = json!({
        "actor": dana(),
        "message": {
            "message_id": format!("<{provider_message_id}@mail.lakeside-print.example>"),
            "provider": "sendgrid",
            "provider_message_id": provider_message_id,
            "from": "Lakeside Print & Sign <orders@lakeside-print.example>",
            "to": [to],
            "cc": [],
            "subject": subject,
            "text": text,
            "html": html,
            "sent_at": sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    });
    if let Some(object) = data.as_object_mut() {
        let key = if subjects.is_array() {
            "subjects"
        } else {
            "subject"
        };
        object.insert(key.to_owned(), subjects);
    }
    data
}

/// Every posting of the story, oldest first.
pub fn lifecycle(now: DateTime<Utc>, zone: Tz) -> Vec<Posting> {
    let mut story = Story {
        now,
        zone,
        postings: Vec::new(),
    };
    business_cards(&mut story);
    team_shirts(&mut story);
    street_fair_banner(&mut story);
    bakery_quote(&mut story);
    let mut postings = story.postings;
    postings.sort_by_key(|posting| posting.at);
    postings
}

/// Quote Q-2291 becomes job 1042: 500 business cards, a rejected proof, a reprint of the
/// artwork, approval, paper ordered, invoiced, synced to QuickBooks, paid, picked up.
fn business_cards(s: &mut Story) {
    let maria_email = "maria@acme-coffee.example";
    let both = json!([job("1042"), salesdoc("Q-2291")]);

    let t = s.day(8, 10, 24);
    s.app(t, "salesdoc.created", json!({"subject": salesdoc("Q-2291"), "actor": dana(),
        "salesdoc": {"id": "Q-2291", "number": "Q-2291", "doc_type": "quote", "customer": "Acme Coffee Roasters"}}));
    let t = s.day(8, 10, 31);
    s.app(t, "email.sent", email(salesdoc("Q-2291"), maria_email,
        "Your quote Q-2291 from Lakeside Print & Sign", "Hi Maria,",
        &["Thanks for thinking of us! Here is your quote for <strong>500 premium business cards</strong> (16 pt matte, full colour both sides): <strong>$1,284.50</strong> including rush setup.",
          "The quote is valid for 30 days. Reply to this email or click below to accept it."],
        Some(("View and accept your quote", "https://shop.lakeside-print.example/quotes/Q-2291")),
        "sg-q2291-quote", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-q2291-quote",
        maria_email,
        &["processed", "delivered", "open"],
    );
    let t = s.day(7, 15, 2);
    s.app(
        t,
        "status.changed",
        json!({"subject": salesdoc("Q-2291"), "actor": maria(), "from": "Sent", "to": "Accepted"}),
    );

    let t = s.day(6, 9, 12);
    s.app(t, "job.created", json!({"subjects": both, "actor": dana(),
        "job": {"id": "1042", "number": "1042", "title": "Business cards, 500 × 2-sided", "customer": "Acme Coffee Roasters"}}));
    let t = s.day(6, 10, 40);
    s.app(t, "artwork.uploaded", json!({"subject": job("1042"), "actor": maria(),
        "file": {"name": "acme-cards-front-back.pdf", "size_bytes": 2_481_152, "content_type": "application/pdf",
                 "url": "https://files.lakeside-print.example/jobs/1042/acme-cards-front-back.pdf"}}));
    let t = s.day(6, 11, 2);
    s.app(
        t,
        "status.changed",
        json!({"subject": job("1042"), "actor": dana(), "from": "New", "to": "Proofing"}),
    );
    let t = s.day(6, 11, 5);
    s.app(t, "email.sent", email(job("1042"), maria_email,
        "Proof ready for job #1042", "Hi Maria,",
        &["Your proof for <strong>job #1042 — business cards</strong> is ready. Please check spelling, phone numbers and colours carefully: we print exactly what you approve."],
        Some(("Review your proof", "https://proofs.lakeside-print.example/1042/v1")),
        "sg-1042-proof-v1", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-1042-proof-v1",
        maria_email,
        &["processed", "delivered", "open", "click"],
    );

    let t = s.day(5, 8, 47);
    s.app(t, "proof.rejected", json!({"subject": job("1042"), "actor": maria(),
        "proof": {"id": "pr-5521", "version": 1, "name": "Business cards"},
        "comment": "The logo looks blurry on the back, and can the phone number be a bit bigger? Otherwise it's great."}));
    let t = s.day(5, 8, 48);
    s.app(t, "automation.triggered", json!({"subject": job("1042"), "actor": rule("r-3", "Proof rejected → back to design"),
        "rule": {"id": "r-3", "name": "Proof rejected → back to design"}, "trigger": "proof.rejected",
        "actions": ["Assign to Sam Okafor (design)", "Set status to Revising", {"name": "Notify #design in Slack"}]}));
    let t = s.day(5, 8, 48);
    s.app(t, "status.changed", json!({"subject": job("1042"), "actor": rule("r-3", "Proof rejected → back to design"), "from": "Proofing", "to": "Revising"}));
    let t = s.day(5, 14, 20);
    s.app(t, "artwork.uploaded", json!({"subject": job("1042"), "actor": sam(),
        "file": {"name": "acme-cards-v2-vector-logo.pdf", "size_bytes": 3_118_204, "content_type": "application/pdf",
                 "url": "https://files.lakeside-print.example/jobs/1042/acme-cards-v2-vector-logo.pdf"}}));
    let t = s.day(5, 14, 31);
    s.app(t, "email.sent", email(job("1042"), maria_email,
        "Revised proof (v2) for job #1042", "Hi Maria,",
        &["We rebuilt the logo from your vector file and made the phone number larger. The revised proof is ready for you."],
        Some(("Review proof v2", "https://proofs.lakeside-print.example/1042/v2")),
        "sg-1042-proof-v2", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-1042-proof-v2",
        maria_email,
        &["processed", "delivered", "open"],
    );

    let t = s.day(4, 9, 5);
    s.app(t, "proof.approved", json!({"subject": job("1042"), "actor": maria(),
        "proof": {"id": "pr-5522", "version": 2, "name": "Business cards"}, "comment": "Perfect, thank you!"}));
    let t = s.day(4, 9, 6);
    s.app(t, "status.changed", json!({"subject": job("1042"), "actor": rule("r-1", "Proof approved → production"), "from": "Revising", "to": "In production"}));
    let t = s.day(4, 10, 0);
    s.app(t, "purchase_order.created", json!({"subject": job("1042"), "actor": dana(),
        "purchase_order": {"id": "po-7781", "number": "PO-7781", "vendor": "Mohawk Paper", "total": "312.40", "currency": "USD"}}));
    let t = s.day(4, 10, 5);
    s.app(t, "purchase_order.sent", json!({"subject": job("1042"), "actor": dana(),
        "purchase_order": {"id": "po-7781", "number": "PO-7781", "vendor": "Mohawk Paper", "total": "312.40", "currency": "USD"}}));

    let t = s.day(3, 11, 15);
    s.app(t, "invoice.created", json!({"subjects": both, "actor": dana(),
        "invoice": {"id": "inv-3307", "number": "INV-3307", "total": "1284.50", "currency": "USD"}}));
    let t = s.day(3, 11, 16);
    s.app(
        t,
        "invoice.sent_to_accounting",
        json!({"subject": job("1042"), "actor": rule("r-8", "Sync invoices to QuickBooks"),
        "invoice": {"id": "inv-3307", "number": "INV-3307", "total": "1284.50", "currency": "USD"},
        "platform": "quickbooks", "account_id": REALM, "external_id": "1187"}),
    );
    let t = s.day(3, 11, 18);
    s.app(t, "email.sent", email(job("1042"), maria_email,
        "Invoice INV-3307 for job #1042", "Hi Maria,",
        &["Your business cards are on the press. Attached is invoice <strong>INV-3307</strong> for <strong>$1,284.50</strong>, due on pickup."],
        Some(("Pay online", "https://pay.lakeside-print.example/INV-3307")),
        "sg-1042-invoice", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-1042-invoice",
        maria_email,
        &["processed", "delivered"],
    );
    s.quickbooks(t + Duration::minutes(3), "Invoice", "1187", "Update");

    let t = s.day(2, 15, 30);
    s.app(t, "purchase_order.received", json!({"subject": job("1042"), "actor": sam(),
        "purchase_order": {"id": "po-7781", "number": "PO-7781", "vendor": "Mohawk Paper", "total": "312.40", "currency": "USD"}}));
    let t = s.day(1, 16, 10);
    s.app(t, "status.changed", json!({"subject": job("1042"), "actor": dana(), "from": "In production", "to": "Ready for pickup"}));
    let t = s.day(1, 16, 11);
    s.app(
        t,
        "notification.sent",
        json!({"subject": job("1042"), "actor": rule("r-5", "Ready for pickup → text the customer"),
        "channel": "sms", "to": "+1 555 013 8841",
        "text": "Lakeside Print & Sign: your order #1042 is ready for pickup (Mon–Fri 8–6)."}),
    );

    let t = s.ago(95);
    s.app(
        t,
        "payment.recorded",
        json!({"subject": job("1042"), "actor": dana(),
        "invoice": {"id": "inv-3307", "number": "INV-3307", "total": "1284.50", "currency": "USD"},
        "amount": "1284.50", "currency": "USD", "method": "card"}),
    );
    s.quickbooks(t + Duration::minutes(1), "Payment", "2215", "Create");
    let t = s.ago(20);
    s.app(t, "user.action", json!({"subject": job("1042"), "actor": dana(),
        "action": "note.added", "description": "Maria picked up both boxes; she'd like the same stock for the reprint in spring."}));
    let t = s.ago(18);
    s.app(t, "status.changed", json!({"subject": job("1042"), "actor": dana(), "from": "Ready for pickup", "to": "Completed"}));
}

/// Job 1043: 120 team T-shirts, still in proofing, with a deposit paid, a shipping label
/// from an integration the catalog does not know yet, and a rejected proof.
fn team_shirts(s: &mut Story) {
    let coach_email = "terry.hale@riverside-youth-soccer.example";
    let t = s.day(2, 13, 40);
    s.app(t, "job.created", json!({"subject": job("1043"), "actor": dana(),
        "job": {"id": "1043", "number": "1043", "title": "Team T-shirts, 120 × screen print, 2 colours", "customer": "Riverside Youth Soccer"}}));
    let t = s.day(2, 13, 52);
    s.app(t, "artwork.uploaded", json!({"subject": job("1043"), "actor": coach(),
        "file": {"name": "riverside-crest-FINAL(2).png", "size_bytes": 845_312, "content_type": "image/png",
                 "url": "https://files.lakeside-print.example/jobs/1043/riverside-crest-final-2.png"}}));
    let t = s.day(2, 14, 5);
    s.app(
        t,
        "invoice.created",
        json!({"subject": job("1043"), "actor": dana(),
        "invoice": {"id": "inv-3310", "number": "INV-3310", "total": "1740", "currency": "USD"}}),
    );
    let t = s.day(2, 14, 30);
    s.app(
        t,
        "payment.recorded",
        json!({"subject": job("1043"), "actor": coach(),
        "invoice": {"id": "inv-3310", "number": "INV-3310", "total": "1740", "currency": "USD"},
        "amount": "500.00", "currency": "USD", "method": "check"}),
    );
    let t = s.day(1, 9, 15);
    s.app(
        t,
        "status.changed",
        json!({"subject": job("1043"), "actor": sam(), "from": "New", "to": "Proofing"}),
    );
    let t = s.day(1, 9, 20);
    s.app(t, "email.sent", email(job("1043"), coach_email,
        "Proof ready for job #1043 (team T-shirts)", "Hi Coach Hale,",
        &["Here is the proof for your team shirts: royal blue crest on the front, numbers on the back in white.",
          "Sizes as ordered: 20 YS, 30 YM, 30 YL, 25 AS, 15 AM."],
        Some(("Review your proof", "https://proofs.lakeside-print.example/1043/v1")),
        "sg-1043-proof-v1", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-1043-proof-v1",
        coach_email,
        &["processed", "deferred", "delivered"],
    );
    let t = s.ago(240);
    s.app(t, "proof.rejected", json!({"subject": job("1043"), "actor": coach(),
        "proof": {"id": "pr-5530", "version": 1, "name": "Front crest"},
        "comment": "Can the crest be 2\" wider? And the shade of blue should match our jerseys (Pantone 2935 C)."}));
    let t = s.ago(180);
    s.app(
        t,
        "shipment.label_created",
        json!({"subject": job("1043"), "actor": {"kind": "system", "name": "ShipStation"},
        "carrier": "UPS", "service": "Ground", "tracking_number": "1Z999AA10123456784",
        "packages": [{"weight_lb": 14.2, "dimensions_in": [18, 14, 8]}]}),
    );
    let t = s.ago(30);
    s.app(t, "system.event", json!({"subject": job("1043"), "action": "due_date.at_risk",
        "description": "Due date Friday is at risk: proof not yet approved 3 days before the due date."}));
}

/// Job 1044: a rush banner created today, with the rush-order automation.
fn street_fair_banner(s: &mut Story) {
    let t = s.ago(150);
    s.app(t, "job.created", json!({"subject": job("1044"), "actor": dana(),
        "job": {"id": "1044", "number": "1044", "title": "Vinyl banner 10 × 3 ft, grommets", "customer": "Harbor Street Fair"}}));
    let t = s.ago(149);
    s.app(t, "automation.triggered", json!({"subject": job("1044"), "rule": {"id": "r-9", "name": "Rush order"},
        "trigger": "job.created with due date within 48 hours",
        "actions": ["Add tag RUSH", "Move to the top of the production queue", "Notify the production manager"]}));
    let t = s.ago(120);
    s.app(t, "artwork.uploaded", json!({"subject": job("1044"), "actor": {"kind": "customer", "id": "c-518", "name": "Priya Natarajan"},
        "file": {"name": "street-fair-banner-10x3.ai", "size_bytes": 18_874_368, "content_type": "application/postscript",
                 "url": "https://files.lakeside-print.example/jobs/1044/street-fair-banner-10x3.ai"}}));
    let t = s.ago(60);
    s.app(t, "purchase_order.created", json!({"subject": job("1044"), "actor": dana(),
        "purchase_order": {"id": "po-7790", "number": "PO-7790", "vendor": "Grimco", "total": "86.15", "currency": "USD"}}));
}

/// Quote Q-2305 for a Canadian bakery, in Canadian dollars, still open.
fn bakery_quote(s: &mut Story) {
    let t = s.day(3, 16, 45);
    s.app(t, "salesdoc.created", json!({"subject": salesdoc("Q-2305"), "actor": dana(),
        "salesdoc": {"id": "Q-2305", "number": "Q-2305", "doc_type": "quote", "customer": "Brightside Bakery (Windsor, ON)"}}));
    let t = s.day(3, 16, 50);
    s.app(t, "email.sent", email(salesdoc("Q-2305"), "orders@brightside-bakery.example",
        "Quote Q-2305: window decals and menu boards", "Hello Brightside team,",
        &["As discussed, here is our quote for 4 window decals and 3 menu boards: <strong>CA$2,310.00</strong> before tax."],
        Some(("View the quote", "https://shop.lakeside-print.example/quotes/Q-2305")),
        "sg-q2305-quote", t));
    s.sendgrid(
        t + Duration::minutes(1),
        "sg-q2305-quote",
        "orders@brightside-bakery.example",
        &["processed", "bounce"],
    );
    let t = s.day(1, 10, 2);
    s.app(t, "invoice.created", json!({"subject": salesdoc("Q-2305"), "actor": dana(),
        "invoice": {"id": "inv-3312", "number": "INV-3312", "total": "1155.00", "currency": "CAD"}}));
    let t = s.day(1, 10, 3);
    s.app(t, "user.action", json!({"subject": salesdoc("Q-2305"), "actor": dana(),
        "action": "deposit.requested", "description": "Requested a 50% deposit before ordering the vinyl."}));
}

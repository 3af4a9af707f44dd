use std::collections::BTreeSet;

use chrono::Utc;
use hooktrail_demo_story::{Sender, lifecycle};
use serde_json::{Value, json};

use crate::activity::catalog::EVENT_TYPES;
use crate::activity::catalog::schema::schema_name;
use crate::http::api::openapi_document;

/// The JSON API as the contract (`docs/architecture.md`, the README's routes) has it. A route
/// is in the document exactly when it is registered (see [`super`]), so this pins both.
const ROUTES: [(&str, &str); 16] = [
    ("get", "/api/v1/subjects/{kind}/{id}/entries"),
    ("get", "/api/v1/entries/{id}"),
    ("get", "/api/v1/deliveries/{seq}"),
    ("get", "/api/v1/unmatched"),
    ("get", "/api/v1/subjects/{kind}/{id}/stream"),
    ("get", "/api/v1/stream"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/integrity"),
    ("get", "/api/v1/export"),
    ("post", "/api/v1/backups"),
    ("get", "/api/v1/sources"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/digests"),
    ("get", "/api/v1/digests/consistency"),
    ("get", "/api/v1/entries/{id}/proof"),
    ("get", "/api/v1/openapi.json"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every (method, path, operation) of the document.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

#[test]
fn the_document_is_openapi_3_1_with_every_route_of_the_api() {
    let document = openapi_document();
    let version = document["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(document["info"]["title"], "Hooktrail");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(documented, expected);
}

#[test]
fn operations_are_named_and_tagged_once_each() {
    let document = openapi_document();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "{id} twice");
        assert!(
            operation["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty()),
            "{method} {path} has no tag"
        );
        assert!(
            operation["summary"].is_string(),
            "{method} {path} has no summary"
        );
        // Every `{name}` of the path is a parameter of it.
        for name in path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
        {
            let declared = operation["parameters"]
                .as_array()
                .is_some_and(|parameters| {
                    parameters
                        .iter()
                        .any(|parameter| parameter["name"] == name && parameter["in"] == "path")
                });
            assert!(declared, "{method} {path}: {{{name}}} is not a parameter");
        }
    }
}

#[test]
fn every_error_is_problem_json_and_every_guarded_route_answers_401() {
    let document = openapi_document();
    for (method, path, operation) in operations(&document) {
        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let code: u16 = status.parse().expect("a numeric status");
            let content = response["content"].as_object();
            if code >= 400 {
                let content = content.expect("an error has a body");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{method} {path} {status} is not described"
            );
        }
        let open = operation["security"] == json!([{}]);
        assert_eq!(
            responses.contains_key("401"),
            !open,
            "{method} {path}: 401 exactly when credentials are needed"
        );
        assert!(responses.contains_key("503"), "{method} {path}: starting");
    }
    // Credentials: a bearer token, or a staff session's cookie; the document itself is open.
    assert_eq!(
        document["security"],
        json!([{"bearer": []}, {"session": []}])
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(
        document["paths"]["/api/v1/openapi.json"]["get"]["security"],
        json!([{}])
    );
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|inner| references(inner, found));
        }
        Value::Array(items) => items.iter().for_each(|inner| references(inner, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let document = openapi_document();
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(document.pointer(pointer).is_some(), "{target} is missing");
    }
}

/// A validator of `schema` (a component's name) that resolves references in the document.
fn validator(document: &Value, schema: &str) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "$ref": format!("#/components/schemas/{schema}"),
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|err| panic!("{schema}: {err}"))
}

#[test]
fn the_catalog_has_a_schema_per_type_and_the_demo_story_fits_them() {
    let document = openapi_document();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for event_type in EVENT_TYPES {
        assert!(
            schemas.contains_key(&schema_name(event_type)),
            "{event_type}"
        );
    }
    let any_event = validator(&document, "CatalogEvent");
    let mut checked = BTreeSet::new();
    for posting in lifecycle(Utc::now(), chrono_tz::America::Chicago) {
        if posting.sender != Sender::BusinessApp {
            continue;
        }
        let event: Value = serde_json::from_slice(&posting.body).expect("JSON");
        assert!(any_event.is_valid(&event), "{event}");
        let event_type = event["type"].as_str().expect("a type").to_owned();
        // The story also shows how an event of a type the catalog does not have reads.
        if !EVENT_TYPES.contains(&event_type.as_str()) {
            continue;
        }
        let errors: Vec<String> = validator(&document, &schema_name(&event_type))
            .iter_errors(&event)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:?}\n{event}",
            posting.description
        );
        checked.insert(event_type);
    }
    assert!(
        checked.len() >= 15,
        "the story covers the catalog: {checked:?}"
    );
}

#[test]
fn the_catalog_schemas_refuse_what_the_normalizer_would_flag() {
    let document = openapi_document();
    let job = json!({"kind": "job", "id": "1042"});
    let valid = json!({"type": "payment.recorded", "timestamp": "2026-03-04T15:16:17Z",
        "data": {"subject": job, "amount": 500, "currency": "USD"}});
    let payment = validator(&document, "event.payment.recorded");
    assert!(payment.is_valid(&valid));
    for invalid in [
        // No subject: kept, but flagged, and on no timeline.
        json!({"type": "payment.recorded", "data": {"amount": "5.00"}}),
        // No amount: the entry would be malformed.
        json!({"type": "payment.recorded", "data": {"subject": job}}),
        json!({"type": "payment.recorded", "data": {"subject": job, "amount": "five"}}),
        json!({"type": "payment.recorded", "data": {"subjects": [], "amount": 1}}),
        json!({"type": "payment.recorded", "data": {"subject": {"kind": "order", "id": "1"}, "amount": 1}}),
        json!({"type": "invoice.created", "data": {"subject": job, "amount": 1}}),
        json!({"type": "payment.recorded", "timestamp": "yesterday", "data": {"subject": job, "amount": 1}}),
    ] {
        assert!(!payment.is_valid(&invalid), "{invalid}");
    }
    let any_event = validator(&document, "CatalogEvent");
    assert!(any_event.is_valid(
        &json!({"type": "shipment.label_created", "data": {"subject": job, "carrier": "UPS"}})
    ));
    assert!(!any_event.is_valid(&json!({"type": "not a type", "data": {"subject": job}})));
}

/// Every text of `value` (descriptions, summaries…), with where it is.
fn texts(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                texts(inner, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                texts(inner, &format!("{at}/{index}"), found);
            }
        }
        Value::String(text) => found.push((at.to_owned(), text.clone())),
        _ => {}
    }
}

#[test]
fn descriptions_come_from_doc_comments_without_rustdoc_links() {
    // Doc comments become the document's prose: a `[`Item`]` link means nothing to its readers.
    let mut found = Vec::new();
    texts(&openapi_document(), "", &mut found);
    for (at, text) in found {
        assert!(!text.contains("[`"), "{at}: {text}");
    }
}

/// The evidence routes' answers, made from a real store, fit the shapes the document gives
/// them (Schemathesis rarely finds an entry id to ask a proof of).
#[test]
fn proofs_and_heads_fit_their_documented_shapes() {
    use crate::http::evidence::{ConsistencyAnswer, ProofAnswer};
    use crate::store::contract::support::single;
    use crate::store::prelude::*;
    use crate::trust::keys::TreeKey;
    use crate::trust::notary::{Due, Notary, Round};
    use crate::trust::proofs::StoredTree;

    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::redb::RedbStore::open(&dir.path().join("shapes.redb")).unwrap();
    let notary = Notary::new(TreeKey::generate().unwrap());
    let mut heads = Vec::new();
    for round in 0..2 {
        let batch: Vec<_> = (0..20)
            .map(|n| single(&format!("{round}-{n}"), "job:1", n))
            .collect();
        store.append(&batch).unwrap();
        let Round::Signed(head) = notary
            .round(&store, &store, Due::IfGrown, Utc::now())
            .unwrap()
        else {
            panic!("grown");
        };
        heads.push(*head);
    }
    let entry = store.recent(1, None).unwrap().entries.remove(0);
    let mut tree = StoredTree::new(&store);
    let answers = [
        (
            "ProofAnswer",
            serde_json::to_value(ProofAnswer {
                entry_id: entry.id,
                proof: tree.inclusion(entry.source.delivery_seq, 40).unwrap(),
                digest: Some(heads[1].clone()),
            })
            .unwrap(),
        ),
        (
            "ProofAnswer",
            serde_json::to_value(ProofAnswer {
                entry_id: entry.id,
                proof: tree.inclusion(3, 20).unwrap(),
                digest: None,
            })
            .unwrap(),
        ),
        (
            "ConsistencyAnswer",
            serde_json::to_value(ConsistencyAnswer {
                from: heads[0].clone(),
                to: heads[1].clone(),
                proof: tree.consistency(20, 40).unwrap(),
            })
            .unwrap(),
        ),
        ("Digest", serde_json::to_value(&heads[0]).unwrap()),
    ];
    let document = openapi_document();
    for (schema, answer) in answers {
        let errors: Vec<String> = validator(&document, schema)
            .iter_errors(&answer)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{schema}: {errors:?}\n{answer}");
    }
    // And what is there is documented: a proof's fields are required at its top level.
    let proof = &document["components"]["schemas"]["InclusionProof"];
    for field in [
        "leaf_index",
        "tree_size",
        "leaf_hash",
        "audit_path",
        "root",
        "delivery",
    ] {
        assert!(
            proof["required"]
                .as_array()
                .is_some_and(|required| required.contains(&json!(field))),
            "{field}: {proof}"
        );
    }
}

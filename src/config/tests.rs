use super::*;

const BASE: &str = r#"
[server]
listen = "127.0.0.1:0"
[storage]
path = "data/x.redb"
[[sources]]
name = "hoops"
kind = "standard-webhooks"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
[[auth.api_tokens]]
name = "app"
token_sha256 = "63da948640261f84a806efd6c9e40c1cb0387673dd28fb95ac67b084c45d4147"
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_toml(text, Path::new("test.toml"), env)
}

fn error_of(text: &str, env: &[(&str, &str)]) -> String {
    load(text, env)
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default()
}

#[test]
fn the_committed_configs_parse() {
    let dev = Config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/hooktrail.toml"
    )))
    .unwrap();
    assert_eq!(dev.sources[0].name, "hoops");
    assert_eq!(dev.display.timezone, chrono_tz::America::Chicago);
    assert_eq!(dev.auth.users[0].username, "dev");
    assert_eq!(dev.sources.len(), 8);
    // Every source's secret, the API token and the development user are recognized as such.
    assert_eq!(
        dev.development_secrets.len(),
        10,
        "{:?}",
        dev.development_secrets
    );
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/production.example.toml"
    ))
    .unwrap();
    // The example's placeholders are not secrets, so it must be completed before it loads.
    let message = error_of(&example, &[]);
    assert!(
        message.contains("auth.api_tokens[0].token_sha256"),
        "{message}"
    );
}

#[test]
fn defaults_fill_optional_keys() {
    let config = load(BASE, &[]).unwrap();
    assert_eq!(config.server.max_body_bytes.get(), 1024 * 1024);
    assert_eq!(config.storage.max_batch.get(), 1024);
    assert_eq!(config.display.timezone, chrono_tz::UTC);
    assert!(config.auth.session_key.is_none());
    assert!(config.development_secrets.len() == 1);
}

#[test]
fn unknown_keys_are_named() {
    let text = BASE.replace("[storage]", "[storage]\npaht = \"x\"");
    assert!(
        error_of(&text, &[]).contains("storage"),
        "{}",
        error_of(&text, &[])
    );
    assert!(error_of(&text, &[]).contains("paht"));
    let text = BASE.replace(
        "kind = \"standard-webhooks\"",
        "kind = \"standard-webhooks\"\ntolerance = 5",
    );
    let message = error_of(&text, &[]);
    assert!(
        message.contains("sources[0] (hoops)") && message.contains("tolerance"),
        "{message}"
    );
}

#[test]
fn missing_and_bad_secrets_are_named() {
    let text = BASE.replace("secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]", "");
    assert!(
        error_of(&text, &[]).contains("sources[0] (hoops)")
            && error_of(&text, &[]).contains("secrets")
    );
    let text = BASE.replace("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_");
    assert!(error_of(&text, &[]).contains("secrets[0]"));
    let text = BASE.replace("[\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]", "[]");
    assert!(error_of(&text, &[]).contains("at least one"));
}

#[test]
fn bad_values_are_named() {
    let text = BASE.replace("127.0.0.1:0", "not an address");
    assert!(error_of(&text, &[]).contains("server.listen"));
    let text = BASE.replace("standard-webhooks", "carrier-pigeon");
    assert!(error_of(&text, &[]).contains("sources[0] (hoops).kind"));
    let text = BASE.replace("63da9486", "zz");
    assert!(error_of(&text, &[]).contains("auth.api_tokens[0].token_sha256"));
    let text = BASE.replace("name = \"hoops\"", "name = \"Hoops App\"");
    assert!(error_of(&text, &[]).contains("sources[0].name"));
}

#[test]
fn environment_overrides_every_kind_of_key() {
    let config = load(
        BASE,
        &[
            ("HOOKTRAIL_SERVER__LISTEN", "0.0.0.0:9999"),
            ("HOOKTRAIL_STORAGE__MAX_BATCH", "1"),
            ("HOOKTRAIL_SOURCES__HOOPS__TOLERANCE_SECS", "0"),
            (
                "HOOKTRAIL_SOURCES__HOOPS__SECRETS",
                "whsec_dGVzdA==,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            (
                "HOOKTRAIL_AUTH__API_TOKENS__APP__TOKEN_SHA256",
                &"ab".repeat(32),
            ),
            ("HOOKTRAIL_CONFIG", "ignored: not a key path"),
        ],
    )
    .unwrap();
    assert_eq!(config.server.listen.port(), 9999);
    assert_eq!(config.storage.max_batch.get(), 1);
    assert_eq!(config.auth.api_tokens[0].token_sha256, [0xab; 32]);
    assert!(config.development_secrets.is_empty());
}

#[test]
fn overrides_that_name_nothing_are_refused() {
    let message = error_of(BASE, &[("HOOKTRAIL_SOURCES__NOPE__SECRETS", "x")]);
    assert!(
        message.contains("HOOKTRAIL_SOURCES__NOPE__SECRETS"),
        "{message}"
    );
    let message = error_of(BASE, &[("HOOKTRAIL_SERVER__LISTN", "x")]);
    assert!(message.contains("listn"), "{message}");
}

#[test]
fn timezones_are_checked_at_load() {
    let text = format!("{BASE}\n[display]\ntimezone = \"Europe/Berlin\"\n");
    assert_eq!(
        load(&text, &[]).unwrap().display.timezone,
        chrono_tz::Europe::Berlin
    );
    let text = format!("{BASE}\n[display]\ntimezone = \"Mars/Olympus_Mons\"\n");
    let message = error_of(&text, &[]);
    assert!(
        message.contains("display.timezone") && message.contains("Mars/Olympus_Mons"),
        "{message}"
    );
}

#[test]
fn session_keys_and_users_are_validated() {
    let key = "k".repeat(MIN_SESSION_KEY_BYTES);
    let text = format!("{BASE}\n[auth]\nsession_key = \"{key}\"\n");
    let config = load(&text, &[]).unwrap();
    assert_eq!(config.auth.session_key.unwrap().expose(), key.as_bytes());
    let short = format!("{BASE}\n[auth]\nsession_key = \"too short\"\n");
    assert!(error_of(&short, &[]).contains("auth.session_key"));
    let from_env = load(BASE, &[("HOOKTRAIL_AUTH__SESSION_KEY", key.as_str())]).unwrap();
    assert!(from_env.auth.session_key.is_some());

    let user = |name: &str, hash: &str| {
        format!("\n[[auth.users]]\nusername = \"{name}\"\npassword_hash = \"{hash}\"\n")
    };
    let hash = crate::password::hash("correct horse").unwrap();
    let text = format!("{BASE}{}", user("dana", &hash));
    let config = load(&text, &[]).unwrap();
    assert!(config.auth.user("dana").is_some());
    assert!(config.development_secrets.len() == 1, "only the API token");

    let bcrypt = format!("{BASE}{}", user("dana", "$2b$12$abc"));
    assert!(error_of(&bcrypt, &[]).contains("auth.users[0].password_hash"));
    let twice = format!("{BASE}{}{}", user("dana", &hash), user("dana", &hash));
    assert!(error_of(&twice, &[]).contains("auth.users[1].username"));
}

#[test]
fn a_missing_file_is_named_with_the_os_error_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    let err = Config::load(&missing).unwrap_err();
    // Printed as the CLI prints errors: the chain, joined.
    let printed = format!("{:#}", anyhow::Error::from(err));
    assert!(
        printed.starts_with(&format!(
            "cannot read the config file {}",
            missing.display()
        )),
        "{printed}"
    );
    assert_eq!(printed.matches("os error 2").count(), 1, "{printed}");
}

#[test]
fn the_postgres_backend_needs_a_url_and_never_shows_its_password() {
    let postgres = BASE.replace("[storage]", "[storage]\nbackend = \"postgres\"");
    assert!(error_of(&postgres, &[]).contains("storage.url"));

    let env = [(
        "HOOKTRAIL_STORAGE__URL",
        "postgres://app:hunter2@db.internal:5432/hooktrail",
    )];
    let config = load(&postgres, &env).unwrap();
    assert_eq!(config.storage.backend, crate::config::Backend::Postgres);
    let url = config.storage.url.as_ref().unwrap();
    assert_eq!(url.connect_config().get_dbname(), Some("hooktrail"));
    for shown in [format!("{config:?}"), url.to_string()] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    let malformed = [("HOOKTRAIL_STORAGE__URL", "postgres://app:hunter2@db:port/x")];
    let err = error_of(&postgres, &malformed);
    assert!(
        err.contains("storage.url") && !err.contains("hunter2"),
        "{err}"
    );
    let in_the_file = postgres.replace(
        "backend = \"postgres\"",
        "backend = \"postgres\"\nurl = \"postgres://app:hunter2@db:port/x\"",
    );
    let err = error_of(&in_the_file, &[]);
    assert!(
        err.contains("storage.url") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn the_backend_is_redb_unless_chosen() {
    let config = load(BASE, &[]).unwrap();
    assert_eq!(config.storage.backend, crate::config::Backend::Redb);
    assert!(
        error_of(
            &BASE.replace("[storage]", "[storage]\nbackend = \"sqlite\""),
            &[]
        )
        .contains("storage.backend")
    );
}

#[test]
fn zeros_where_something_is_needed_cannot_be_configured() {
    for (section, key) in [
        ("[storage]", "max_batch"),
        ("[storage]", "queue_capacity"),
        ("[storage]", "cache_mib"),
        ("[storage]", "checkpoint_deliveries"),
        ("[server]", "max_body_bytes"),
        ("[server]", "read_timeout_secs"),
    ] {
        let text = BASE.replace(section, &format!("{section}\n{key} = 0"));
        let err = error_of(&text, &[]);
        let name = format!("{}.{key}", section.trim_matches(['[', ']']));
        assert!(err.contains(&name) && err.contains("nonzero"), "{err}");
    }
    let text = format!("{BASE}\n[retention]\nraw_bodies_days = 0\n");
    assert!(error_of(&text, &[]).contains("retention.raw_bodies_days"));
    let env = [("HOOKTRAIL_STORAGE__MAX_BATCH", "0")];
    assert!(error_of(BASE, &env).contains("storage.max_batch"));
}

#[test]
fn the_embedded_store_is_opened_with_its_cache_and_checkpoints() {
    let settings = load(BASE, &[]).unwrap().storage.redb_settings();
    assert_eq!(settings, crate::store::redb::RedbSettings::default());
    assert_eq!(settings.cache_bytes, 32 << 20);

    let env = [
        ("HOOKTRAIL_STORAGE__CACHE_MIB", "256"),
        ("HOOKTRAIL_STORAGE__CHECKPOINT_SECS", "30"),
    ];
    let settings = load(BASE, &env).unwrap().storage.redb_settings();
    assert_eq!(settings.cache_bytes, 256 << 20);
    assert_eq!(
        settings.checkpoints.every,
        std::time::Duration::from_secs(30)
    );
}

#[test]
fn trust_settings_are_read_and_bad_ones_named() {
    let trust = "\n[trust]\nsigning_key = \"ed25519:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\"\n\
                 digest_interval_secs = 60\ndigests_dir = \"heads\"\n\
                 digests_url = \"https://audit.example/heads\"\n";
    let config = load(&format!("{BASE}{trust}"), &[]).unwrap();
    let key = config
        .trust
        .signing_key
        .as_ref()
        .map(|key| key.public().key_id());
    assert_eq!(
        key.as_deref(),
        Some("21fe31dfa154a261"),
        "RFC 8032's first key"
    );
    assert_eq!(config.trust.digest_interval_secs.get(), 60);
    assert_eq!(
        config.trust.digests_dir.as_deref(),
        Some(std::path::Path::new("heads"))
    );
    assert_eq!(
        config.trust.digests_url.as_deref(),
        Some("https://audit.example/heads")
    );

    let bad_url = trust.replace("https://audit.example/heads", "ftp://audit.example/heads");
    assert!(error_of(&format!("{BASE}{bad_url}"), &[]).contains("trust.digests_url"));
    let bad_key = trust.replace("ed25519:nWGx", "ed25519:!!");
    assert!(error_of(&format!("{BASE}{bad_key}"), &[]).contains("trust.signing_key"));
    let from_env = load(
        BASE,
        &[(
            "HOOKTRAIL_TRUST__SIGNING_KEY",
            "ed25519:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
        )],
    )
    .unwrap();
    assert!(
        from_env.trust.signing_key.is_some(),
        "without a [trust] in the file"
    );
    let message = error_of(BASE, &[("HOOKTRAIL_TRUTS__SIGNING_KEY", "x")]);
    assert!(
        message.contains("HOOKTRAIL_TRUTS__SIGNING_KEY"),
        "{message}"
    );
    let message = error_of(BASE, &[("HOOKTRAIL_TRUST__SIGNNG_KEY", "x")]);
    assert!(message.contains("signng_key"), "{message}");
    assert!(load(BASE, &[]).unwrap().trust.signing_key.is_none());
}

/// `SECTIONS` (the tables an environment override may create) names every table section of
/// the file, as the file's own parser lists them: a section added later must be added there.
#[test]
fn every_table_section_can_be_given_from_the_environment() {
    let message = error_of(&format!("{BASE}\n[no_such_section]\n"), &[]);
    let expected = message
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("the parser lists the sections: {message}"));
    let mut listed: Vec<&str> = expected
        .split(',')
        .map(|name| name.trim().trim_matches('`'))
        .filter(|name| !matches!(*name, "sources" | "alerts"))
        .collect();
    listed.sort_unstable();
    let mut sections = super::SECTIONS.to_vec();
    sections.sort_unstable();
    assert_eq!(listed, sections);
}

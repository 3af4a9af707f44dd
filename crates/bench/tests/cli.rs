//! The program as its users run it: real servers started by it, measured, reported as JSON.

use std::process::Command;

/// Runs the program with `args` and `--json`; its report.
fn report_of(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_hooktrail-bench"))
        .args(args)
        .arg("--json")
        .env("HOOKTRAIL_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
}

#[test]
fn bench_explains_intake_by_the_gateways_commits_and_the_disk() {
    let report = report_of(&[
        "--targets",
        "gateway,per-request,plain,log-only,gateway-filled",
        "--prefill",
        "3000",
        "--connections",
        "4",
        "--duration",
        "0.5",
        "--warmup",
        "0.2",
        "--repeat",
        "2",
    ]);
    let out = report.to_string();
    let results = report["results"].as_array().unwrap();
    let cell = |target: &str| {
        results
            .iter()
            .find(|cell| cell["target"] == target)
            .unwrap_or_else(|| panic!("no {target} cell in {out}"))
    };
    assert_eq!(
        results.len(),
        5,
        "one row per cell, the median of its runs: {out}"
    );
    for target in [
        "gateway",
        "per-request",
        "plain",
        "log-only",
        "gateway-filled",
    ] {
        assert!(cell(target)["acked"].as_u64().unwrap() > 0, "{out}");
        assert_eq!(cell(target)["errors"], 0, "{out}");
        assert_eq!(
            cell(target)["runs_acked_per_sec"].as_array().unwrap().len(),
            2
        );
    }
    // Read from each gateway's own /metrics: one delivery a commit is what per-request means.
    assert_eq!(cell("per-request")["commits"]["deliveries_per_commit"], 1.0);
    let grouped = &cell("gateway")["commits"];
    assert!(
        grouped["deliveries_per_commit"].as_f64().unwrap() >= 1.0,
        "{out}"
    );
    assert!(grouped["commit_ms"].as_f64().unwrap() > 0.0, "{out}");
    assert!(cell("plain").get("commits").is_none(), "{out}");
    // The ceiling with the views off commits too, and the report sets the gateway against it.
    assert!(
        cell("log-only")["commits"]["commit_ms"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    let ratios = &report["ratios"][0];
    assert!(
        ratios["gateway_over_log_only"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    assert!(
        ratios["log_only_over_plain"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    // The gateway on a pre-filled store, set against the empty one, with its memory.
    assert!(
        ratios["filled_over_gateway"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    for target in ["gateway", "gateway-filled", "plain"] {
        assert!(cell(target)["rss_mib"].as_f64().unwrap() > 1.0, "{out}");
    }
    assert!(
        report["disk"]["scattered_pages_ms"].as_f64().unwrap() > 0.0,
        "{out}"
    );
}

#[test]
fn live_timelines_open_beside_the_load_and_receive_its_entries() {
    let report = report_of(&[
        "--targets",
        "gateway,gateway-streams",
        "--connections",
        "4",
        "--duration",
        "1",
        "--warmup",
        "0.2",
    ]);
    let out = report.to_string();
    let cell = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["target"] == "gateway-streams")
        .unwrap_or_else(|| panic!("no gateway-streams cell in {out}"));
    assert!(cell["acked"].as_u64().unwrap() > 0, "{out}");
    assert_eq!(cell["streams"]["open"], 500, "{out}");
    assert!(cell["streams"]["events"].as_u64().unwrap() > 0, "{out}");
    assert!(
        report["ratios"][0]["streams_over_gateway"]
            .as_f64()
            .is_some(),
        "{out}"
    );
}

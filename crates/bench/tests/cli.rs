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
        "gateway,per-request,plain,plain-durable,log-only,gateway-filled",
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
        6,
        "one row per cell, the median of its runs: {out}"
    );
    for target in [
        "gateway",
        "per-request",
        "plain",
        "plain-durable",
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
    // HTTP with a durable answer and nothing else: what the disk alone leaves of plain.
    for ratio in ["plain_durable_over_plain", "gateway_over_plain_durable"] {
        assert!(ratios[ratio].as_f64().unwrap() > 0.0, "{out}");
    }
    // The gateway on a pre-filled store, set against the empty one, with its memory.
    assert!(
        ratios["filled_over_gateway"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    // Each read from the server's own process: its memory, and its CPU per answer.
    for target in ["gateway", "gateway-filled", "plain", "plain-durable"] {
        let rss = cell(target)["rss_mib"].as_f64().unwrap();
        assert!(rss > 1.0, "{out}");
        assert!(
            cell(target)["peak_rss_mib"].as_f64().unwrap() >= rss,
            "{out}"
        );
        assert!(
            cell(target)["cpu_us_per_ack"].as_f64().unwrap() > 0.0,
            "{out}"
        );
    }
    // That CPU by thread: the HTTP workers and the thread that syncs are found by their names,
    // and the parts add up to the whole.
    for target in ["gateway", "gateway-filled", "plain-durable"] {
        let by_thread = &cell(target)["cpu_us_by_thread"];
        assert!(by_thread["http"].as_f64().unwrap() > 0.0, "{out}");
        assert!(by_thread["writer"].as_f64().unwrap() > 0.0, "{out}");
        let parts: f64 = by_thread
            .as_object()
            .unwrap()
            .values()
            .map(|us| us.as_f64().unwrap())
            .sum();
        let whole = cell(target)["cpu_us_per_ack"].as_f64().unwrap();
        assert!((parts - whole).abs() < 0.01 * whole, "{out}");
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

/// How the bench runs a cell's server apart: `--serve <target>` prints the address, serves
/// until stdin closes, then stops cleanly.
#[test]
fn a_served_target_answers_until_its_stdin_closes() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    for (target, request, answer) in [
        (
            "plain",
            "POST /hooks/bench HTTP/1.1\r\nHost: bench\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            "HTTP/1.1 202",
        ),
        (
            "plain-durable",
            "POST /hooks/bench HTTP/1.1\r\nHost: bench\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            "HTTP/1.1 202",
        ),
        (
            "gateway",
            "GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hooktrail-bench"))
            .args(["--serve", target])
            .env("HOOKTRAIL_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr: std::net::SocketAddr = line
            .trim()
            .parse()
            .unwrap_or_else(|err| panic!("{target} announced {line:?}: {err}"));

        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with(answer), "{target}: {response}");

        // Still serving while stdin is open; closing it stops the server.
        assert!(
            child.try_wait().unwrap().is_none(),
            "{target} stopped early"
        );
        drop(child.stdin.take());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                child.kill().unwrap();
                panic!("{target} did not stop once its stdin closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{target} ended with {status}");
        assert!(
            TcpStream::connect(addr).is_err(),
            "{target} still listens after it stopped"
        );
    }
}

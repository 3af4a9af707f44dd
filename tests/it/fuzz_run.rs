//! `fuzz/run.sh` cannot pass by fuzzing nothing: when the fuzz targets cannot be built, it
//! fails under CI, and elsewhere it says plainly that it skipped.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `fuzz/run.sh config` with a `cargo` that fails every command ahead on `PATH`, so no
/// fuzz target can be built; `ci` is the `CI` variable, if any.
fn run_with_a_failing_build(ci: Option<&str>) -> Output {
    let bin = tempfile::tempdir().unwrap();
    let cargo = bin.path().join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\necho \"cargo $*: cannot build here\" >&2\nexit 101\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/run.sh");
    let mut command = Command::new("bash");
    command
        .arg(script)
        .arg("config")
        .env("PATH", path)
        .env_remove("CI");
    if let Some(ci) = ci {
        command.env("CI", ci);
    }
    command.output().unwrap()
}

#[test]
fn under_ci_a_fuzzing_build_that_fails_fails_the_run() {
    let output = run_with_a_failing_build(Some("true"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FUZZING FAILED"), "{stderr}");
}

#[test]
fn elsewhere_a_fuzzing_build_that_fails_is_skipped_saying_so() {
    for ci in [None, Some("false")] {
        let output = run_with_a_failing_build(ci);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "CI={ci:?}: {stderr}");
        assert!(stderr.contains("SKIPPED FUZZING"), "CI={ci:?}: {stderr}");
        assert!(stderr.contains("Nothing was fuzzed"), "CI={ci:?}: {stderr}");
    }
}

//! Every saved input of every target, replayed through the same harness the fuzzers run: the
//! seeds and any crash once found and kept (as `corpus/<target>/regression-*`). This runs on
//! any toolchain, so the targets' properties are checked even where no fuzzing build can be
//! made.

use std::path::Path;

#[test]
fn every_saved_input_of_every_target_passes_its_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in hooktrail_fuzz::targets() {
        let target = target.as_str();
        let folder = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|err| panic!("{}: {err}", folder.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{target} has no seeds");
        for input in inputs {
            let data = std::fs::read(&input).expect("read input");
            // A panic names the file, to reproduce with `cargo fuzz run {target} FILE`.
            eprintln!("{target}: {}", input.display());
            hooktrail_fuzz::run(target, &data);
        }
    }
}

#[test]
fn every_target_has_its_fuzz_target_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in hooktrail_fuzz::targets() {
        let file = root.join(format!("fuzz_targets/{target}.rs"));
        assert!(file.is_file(), "no {}", file.display());
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {target}"
        );
        assert!(
            root.join("corpus").join(&target).is_dir(),
            "no seeds for {target}"
        );
    }
    let files = std::fs::read_dir(root.join("fuzz_targets"))
        .expect("fuzz_targets")
        .count();
    assert_eq!(
        files,
        hooktrail_fuzz::targets().len(),
        "a fuzz target no table names"
    );
}

#[test]
fn inputs_split_into_headers_and_body() {
    let (headers, body) = hooktrail_fuzz::split(b"webhook-id: msg_1\nX-Other:  two \n\n{\"a\":1}");
    assert_eq!(
        headers,
        [
            ("webhook-id".to_owned(), "msg_1".to_owned()),
            ("X-Other".to_owned(), "two".to_owned())
        ]
    );
    assert_eq!(body, b"{\"a\":1}");
    let (headers, body) = hooktrail_fuzz::split(b"no blank line");
    assert!(headers.is_empty());
    assert_eq!(body, b"no blank line");
}

//! `hooktrail hash-password`: a password on stdin, its argon2id hash on stdout, ready for
//! `password_hash` in `[[auth.users]]`. Reading stdin keeps the password out of the shell's
//! history and the process list.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;

use crate::password;

pub fn run() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the password, then Enter (it will be visible; pipe it in to avoid that):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    // Only the line ending goes: spaces may be part of a password.
    let typed = line.trim_end_matches(['\n', '\r']);
    if typed.is_empty() {
        anyhow::bail!("the password is empty");
    }
    println!("{}", password::hash(typed)?);
    Ok(ExitCode::SUCCESS)
}

//! How the verbs that talk to a gateway (`send`, `demo`, and `verify`, `export`, `backup` while
//! one runs) reach it: its base URL, and an HTTP client that speaks https as well as http.
//!
//! https is verified against the system's certificate store. A gateway behind a certificate
//! of a private CA (or a self-signed one) is trusted by passing that CA with `--ca-cert`, in
//! addition to the system's roots, never by turning verification off.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;

#[derive(clap::Args, Clone, Default)]
pub struct TlsArgs {
    /// A PEM file of CA certificates to trust besides the system's, for a gateway whose https
    /// certificate a private CA signed.
    #[arg(long, env = "HOOKTRAIL_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl TlsArgs {
    /// A blocking client that trusts the system's roots and `--ca-cert`'s; no overall timeout
    /// (an export or a backup may take long), a bounded wait to connect.
    pub fn client(&self) -> anyhow::Result<reqwest::blocking::Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(None)
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{}: not PEM certificates", path.display()))?;
            anyhow::ensure!(
                !certificates.is_empty(),
                "{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
            builder = builder.tls_certs_merge(certificates);
        }
        builder.build().context("cannot set up the HTTP client")
    }
}

/// The gateway's base URL without a trailing slash: `url` when given, else the configured
/// listen address (a wildcard address is reached on loopback).
pub fn base_url(config: &Config, url: Option<&str>) -> String {
    let base = match url {
        Some(url) => url.to_owned(),
        None => {
            let mut listen = config.server.listen;
            if listen.ip().is_unspecified() {
                listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{listen}")
        }
    };
    base.trim_end_matches('/').to_owned()
}

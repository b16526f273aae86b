//! Command-line handling shared by the examples: the account, where to connect, which
//! certificates to trust. Bad usage exits with status 2.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::exit;
use std::time::Duration;

use xmpp_sansio::client::Config;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::{ConnectOptions, Error, Trust};

/// Logs to standard error as `RUST_LOG` says (for example `RUST_LOG=xmpp_sansio=debug`, or
/// `RUST_LOG=xmpp_sansio::wire=trace` for the wire log, secrets redacted). Off by default.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The usage text of an example that takes only the common options.
pub fn usage(example: &str) -> String {
    format!("usage: {example} --jid JID --password PASSWORD [options]\n\noptions:\n{COMMON_USAGE}")
}

/// The options every example takes.
pub const COMMON_USAGE: &str = "\
  --jid JID                 the account (required)
  --password PASSWORD       its password (required)
  --host HOST --port PORT   connect there instead of looking up DNS SRV records
  --direct-tls              TLS from the first byte (XEP-0368) instead of STARTTLS
  --ca-file FILE            trust the certificates in this PEM file (a CA or the server's)
  --insecure-tls-for-testing  accept ANY certificate (tests against throwaway servers only)";

#[derive(Debug, Default)]
pub struct Args {
    pub jid: Option<Jid>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub direct_tls: bool,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub keepalive: Option<u64>,
    pub to: Option<Jid>,
    pub json: bool,
    pub register: bool,
    pub message: Option<String>,
    pub wait: Option<u64>,
}

/// Parses the command line; `allowed` lists the example-specific flags it accepts.
pub fn parse(usage: &str, allowed: &[&str]) -> Args {
    let bad = |msg: String| -> ! {
        eprintln!("error: {msg}\n\n{usage}");
        exit(2)
    };
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let known = [
            "--jid",
            "--password",
            "--host",
            "--port",
            "--direct-tls",
            "--ca-file",
            "--insecure-tls-for-testing",
        ];
        if !known.contains(&flag.as_str()) && !allowed.contains(&flag.as_str()) {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                exit(0);
            }
            bad(format!("unknown option {flag:?}"));
        }
        let mut value = || {
            it.next()
                .unwrap_or_else(|| bad(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--jid" => {
                let v = value();
                args.jid = Some(
                    v.parse()
                        .unwrap_or_else(|e| bad(format!("--jid {v:?}: {e}"))),
                );
            }
            "--password" => args.password = Some(value()),
            "--host" => args.host = Some(value()),
            "--port" => {
                let v = value();
                args.port = Some(
                    v.parse()
                        .unwrap_or_else(|_| bad(format!("--port {v:?} is not a port"))),
                );
            }
            "--direct-tls" => args.direct_tls = true,
            "--ca-file" => args.ca_file = Some(value().into()),
            "--insecure-tls-for-testing" => args.insecure = true,
            "--keepalive" => {
                let v = value();
                let secs = v.parse().ok().filter(|s| *s > 0);
                args.keepalive = Some(secs.unwrap_or_else(|| {
                    bad(format!("--keepalive {v:?} is not a number of seconds"))
                }));
            }
            "--to" => {
                let v = value();
                args.to = Some(
                    v.parse()
                        .unwrap_or_else(|e| bad(format!("--to {v:?}: {e}"))),
                );
            }
            "--json" => args.json = true,
            "--register" => args.register = true,
            "--message" => args.message = Some(value()),
            "--wait" => {
                let v = value();
                args.wait =
                    Some(v.parse().unwrap_or_else(|_| {
                        bad(format!("--wait {v:?} is not a number of seconds"))
                    }));
            }
            _ => unreachable!(),
        }
    }
    if args.jid.is_none() || args.password.is_none() {
        bad("--jid and --password are required".into());
    }
    if args.insecure && args.ca_file.is_some() {
        bad("--ca-file and --insecure-tls-for-testing exclude each other".into());
    }
    args
}

impl Args {
    pub fn jid(&self) -> Jid {
        self.jid.clone().expect("checked by parse")
    }

    /// The client configuration.
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.jid(), self.password.clone().expect("checked by parse"));
        if let Some(secs) = self.keepalive {
            config.timeouts.keepalive = Some(Duration::from_secs(secs));
        }
        config
    }

    /// Where to connect and what to trust.
    pub fn options(&self) -> Result<ConnectOptions, Error> {
        let mut options = ConnectOptions::new();
        if self.host.is_some() || self.port.is_some() {
            let jid = self.jid();
            let host = self.host.clone().unwrap_or_else(|| jid.domain().to_owned());
            let port = self
                .port
                .unwrap_or(if self.direct_tls { 5223 } else { 5222 });
            options = if self.direct_tls {
                options.direct_tls(host, port)
            } else {
                options.host(host, port)
            };
        }
        if let Some(file) = &self.ca_file {
            options = options.trust(Trust::pem_file(file)?);
        }
        if self.insecure {
            eprintln!(
                "WARNING: --insecure-tls-for-testing: the server's certificate is NOT checked; \
                 anyone on the path can read the password and the session."
            );
            options = options.trust(Trust::DangerousAcceptAnyCertificateForTesting);
        }
        Ok(options)
    }
}

//! The command line: the options, their defaults and bounds, and the usage text. Bad usage
//! exits with status 2.

use std::process::exit;
use std::time::Duration;

use crate::servers::{self, Kind};

const USAGE: &str = "usage: load (--server prosody|ejabberd | --host HOST --port PORT) [options]

N concurrent sessions: each registers (XEP-0077), logs in, subscribes to the next K sessions
(which approve), sends M messages spread over them, idles, closes. Progress on stderr once a
second, a summary at the end. Exit status 0 if nothing failed and no message was lost or
duplicated, 1 otherwise, 2 on bad usage.

the server:
  --server prosody|ejabberd  start one on 127.0.0.1 (tests/servers); stopped at the end
  --host HOST --port PORT    or use a running one (STARTTLS)
  --domain DOMAIN            its XMPP domain (default localhost)
  --ca FILE                  trust the certificates in this PEM file (default: Mozilla's roots)
  --server-pid PID           the running server's process, to report its memory and CPU

options:
  --sessions N       sessions online together (default 200)
  --contacts K       each subscribes to the next K sessions (default 3)
  --messages M       messages each session sends, spread over its contacts (default 10)
  --idle SECS        how long all stay online after the messages (default 2)
  --concurrency C    registrations, logins and sessions subscribing at once (default 50)
  --timeout SECS     how long a phase may wait without progress (default 60)
  --prefix NAME      the accounts are NAME0, NAME1... (default load)
  --password PW      their password (default load-test-password)
  --json             the summary as one JSON object on stdout
";

pub struct Options {
    pub server: Option<Kind>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub domain: String,
    pub ca: Option<String>,
    pub server_pid: Option<u32>,
    pub sessions: usize,
    pub contacts: usize,
    pub messages: usize,
    pub idle: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
    pub prefix: String,
    pub password: String,
    pub json: bool,
}

impl Options {
    pub fn parse() -> Options {
        let bad = |msg: String| -> ! {
            eprintln!("error: {msg}\n\n{USAGE}");
            exit(2)
        };
        let mut o = Options {
            server: None,
            host: None,
            port: None,
            domain: servers::DOMAIN.to_owned(),
            ca: None,
            server_pid: None,
            sessions: 200,
            contacts: 3,
            messages: 10,
            idle: Duration::from_secs(2),
            // Enough to keep both servers busy on 2 cores; unbounded, thousands of TLS
            // handshakes at once only queue up in the server and hit connect timeouts.
            concurrency: 50,
            timeout: Duration::from_secs(60),
            prefix: "load".to_owned(),
            password: "load-test-password".to_owned(),
            json: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                print!("{USAGE}");
                exit(0);
            }
            if flag == "--json" {
                o.json = true;
                continue;
            }
            let value = args
                .next()
                .unwrap_or_else(|| bad(format!("{flag} needs a value")));
            let number = |min: u64, max: u64| -> u64 {
                let n = value.parse().ok().filter(|n| (min..=max).contains(n));
                n.unwrap_or_else(|| bad(format!("{flag} {value:?}: a number from {min} to {max}")))
            };
            match flag.as_str() {
                "--server" => {
                    o.server = Some(match value.as_str() {
                        "prosody" => Kind::Prosody,
                        "ejabberd" => Kind::Ejabberd,
                        _ => bad(format!("--server {value:?}: prosody or ejabberd")),
                    })
                }
                "--host" => o.host = Some(value),
                "--port" => o.port = Some(number(1, 65535) as u16),
                "--domain" => o.domain = value,
                "--ca" => o.ca = Some(value),
                "--server-pid" => o.server_pid = Some(number(1, u32::MAX.into()) as u32),
                "--sessions" => o.sessions = number(1, 1_000_000) as usize,
                "--contacts" => o.contacts = number(0, 1_000_000) as usize,
                "--messages" => o.messages = number(0, 1_000_000) as usize,
                "--idle" => o.idle = Duration::from_secs(number(0, 86_400)),
                "--concurrency" => o.concurrency = number(1, 1_000_000) as usize,
                "--timeout" => o.timeout = Duration::from_secs(number(1, 86_400)),
                "--prefix" => o.prefix = value,
                "--password" => o.password = value,
                _ => bad(format!("unknown option {flag:?}")),
            }
        }
        match (&o.server, &o.host, o.port) {
            (Some(_), None, None) if o.ca.is_some() || o.server_pid.is_some() => {
                bad("--ca and --server-pid are for a running server (--host, --port)".into())
            }
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => bad("give either --server, or --host and --port".into()),
        }
        // Each session's contacts are other sessions, each at most once.
        o.contacts = o.contacts.min(o.sessions - 1);
        o
    }
}

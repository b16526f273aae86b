//! A load test over the tokio adapter: N concurrent sessions against one server. Each
//! registers its account in-band (XEP-0077), logs in, subscribes to the presence of the next
//! K sessions (which approve by policy), sends M messages spread over them, stays idle a
//! while, and closes. Every phase is timed on its own; a line on stderr once a second says
//! where the run is. The summary gives logins/s, messages/s, failures by reason, lost and
//! duplicate messages, the client's memory per session (VmRSS) and CPU, and the server's
//! when it runs here, with each phase's CPU (client, server, the rest of the machine): that
//! tells which side limited the run. Exit status: 0 when nothing failed and no message was
//! lost or duplicated, 1 otherwise, 2 on bad usage.
//!
//! ```text
//! # a throwaway server on 127.0.0.1 (tests/servers; needs Prosody or ejabberd installed)
//! cargo run --release --features tokio --example load -- --server prosody --sessions 1000
//! # a running server
//! cargo run --release --features tokio --example load -- --host 127.0.0.1 --port 5222 \
//!     --domain localhost --ca server.pem --server-pid "$(pidof beam.smp)"
//! ```
//!
//! `--json` prints the summary as one JSON object on stdout (`tests/interop/load.rs` reads
//! it); `RUST_LOG=xmpp_sansio=debug` logs the sessions on stderr.

#[path = "../common/mod.rs"]
mod common;
mod options;
mod report;
mod run;
#[path = "../../tests/servers/mod.rs"]
mod servers;
mod session;

use std::collections::BTreeMap;
use std::process::exit;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use servers::Server;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::{ConnectOptions, Trust};

use options::Options;
use report::print_summary;
use run::Run;

fn main() {
    common::init_logging();
    let options = Options::parse();
    // A local server lives until the end of `main`; its PID lets us watch its resources.
    let mut local = None;
    let (host, port, trust, server_pid) = match options.server {
        Some(kind) => {
            if !Server::installed(kind) {
                eprintln!(
                    "error: {kind} is not installed: run scripts/install-servers.sh (as root)"
                );
                exit(1);
            }
            eprintln!("load: starting {kind} on 127.0.0.1...");
            let server = Server::start(kind).unwrap_or_else(|e| {
                eprintln!("error: starting {kind}: {e}");
                exit(1)
            });
            let trust = Trust::pem_file(server.ca_pem_path()).unwrap_or_else(|e| {
                eprintln!("error: the server's certificate: {e}");
                exit(1)
            });
            let port = server.starttls_port();
            let pid = server.pid();
            local = Some(server);
            ("127.0.0.1".to_owned(), port, trust, Some(pid))
        }
        None => {
            let trust = match &options.ca {
                Some(file) => Trust::pem_file(file).unwrap_or_else(|e| {
                    eprintln!("error: --ca {file}: {e}");
                    exit(2)
                }),
                None => Trust::WebPkiRoots,
            };
            let host = options.host.clone().expect("checked by parse");
            let port = options.port.expect("checked by parse");
            (host, port, trust, options.server_pid)
        }
    };
    let connect_options = ConnectOptions::new().host(host, port).trust(trust);
    // One worker thread per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("error: starting the tokio runtime: {e}");
            exit(1)
        });
    let run = Run::new(&options, connect_options, server_pid);
    let summary = runtime.block_on(run.all());
    drop(runtime);
    let ok = summary["failures_total"] == 0
        && summary["messages"]["lost"] == 0
        && summary["messages"]["duplicates"] == 0;
    if options.json {
        println!("{summary}");
    } else {
        print_summary(&summary);
    }
    if let Some(server) = local {
        if !ok {
            eprintln!("--- server log ---\n{}", server.log_tail());
        }
        eprintln!("load: stopping {}", server.kind());
        drop(server);
    }
    exit(if ok { 0 } else { 1 })
}

/// Where the run stands; failures say in which phase they happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Register,
    Login,
    Subscribe,
    Messages,
    Idle,
    Close,
    Done,
}

impl Phase {
    const ALL: [Phase; 7] = [
        Phase::Register,
        Phase::Login,
        Phase::Subscribe,
        Phase::Messages,
        Phase::Idle,
        Phase::Close,
        Phase::Done,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Register => "register",
            Phase::Login => "login",
            Phase::Subscribe => "subscribe",
            Phase::Messages => "messages",
            Phase::Idle => "idle",
            Phase::Close => "close",
            Phase::Done => "done",
        }
    }
}

/// What the tasks count; the phases wait on these and the progress line shows them.
#[derive(Default)]
struct Counts {
    registered: AtomicUsize,
    already_registered: AtomicUsize,
    online: AtomicUsize,
    /// Sessions that have their roster and the server's description: what a client needs
    /// before it does anything else, and the end of the server's work for a login.
    ready: AtomicUsize,
    /// Per (session, contact) pair: the roster says `to` (or `both`)...
    subscribed: AtomicUsize,
    /// ...the contact's presence came...
    presences: AtomicUsize,
    /// ...its capabilities (XEP-0115) are resolved...
    capabilities: AtomicUsize,
    /// ...and all three: the subscription's traffic is over.
    settled: AtomicUsize,
    sent: AtomicUsize,
    received: AtomicUsize,
    duplicates: AtomicUsize,
    closed: AtomicUsize,
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

fn add(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What every task shares.
struct Shared {
    sessions: usize,
    contacts: usize,
    prefix: String,
    domain: String,
    phase: AtomicU8,
    /// What the current phase waits for: for the progress line.
    target: AtomicUsize,
    counts: Counts,
    failures: Mutex<BTreeMap<String, usize>>,
}

impl Shared {
    fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::Relaxed))]
    }

    fn enter(&self, phase: Phase, target: usize) {
        self.target.store(target, Ordering::Relaxed);
        let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        self.phase.store(index as u8, Ordering::Relaxed);
    }

    fn jid(&self, index: usize) -> Jid {
        format!("{}{index}@{}", self.prefix, self.domain)
            .parse()
            .unwrap_or_else(|e| {
                eprintln!("error: --prefix and --domain do not make a JID: {e}");
                exit(2)
            })
    }

    /// Which session an account is (its localpart is the prefix and the index).
    fn index_of(&self, jid: &Jid) -> Option<usize> {
        let index = jid
            .local()?
            .strip_prefix(self.prefix.as_str())?
            .parse()
            .ok()?;
        (index < self.sessions).then_some(index)
    }

    /// The sessions whose presence session `index` subscribes to: the next K.
    fn contacts_of(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        (1..=self.contacts).map(move |d| (index + d) % self.sessions)
    }

    /// Counts a failure. Reasons carry no JIDs or counters, so that alike failures share a
    /// line; long texts are cut.
    fn fail(&self, reason: impl Into<String>) {
        self.fail_n(reason, 1);
    }

    fn fail_n(&self, reason: impl Into<String>, n: usize) {
        let mut reason = reason.into();
        if let Some((cut, _)) = reason.char_indices().nth(200) {
            reason.truncate(cut);
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        *failures.entry(reason).or_default() += n;
    }

    fn failures(&self) -> BTreeMap<String, usize> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

//! The load example (`examples/load/`) at a modest size against each server: 200 sessions
//! register, log in, subscribe to 3 others each, send 10 messages each and close, and the
//! run must count no failure, no lost and no duplicate message. Counts only, never times:
//! the example's own phase deadlines turn a stall into counted failures.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::servers::{Kind, Server};

const SESSIONS: u64 = 200;
const CONTACTS: u64 = 3;
const MESSAGES: u64 = 10;
/// Only against a run that hangs outright; a normal one takes well under a minute.
const KILL_AFTER: Duration = Duration::from_secs(600);

/// One load run at a time: each keeps both cores busy, and two at once beside the other
/// tests starved a server's startup past its deadline.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `target/<profile>/examples/load`, built by `cargo test --all-features` with the other
/// examples.
fn load_example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe.parent().and_then(|deps| deps.parent());
    let path = profile.map(|p| p.join("examples").join("load"));
    match path {
        Some(path) if path.exists() => path,
        _ => panic!(
            "the load example is not built: run `cargo test --all-features` (which builds the \
             examples), or `cargo build --all-features --examples` first"
        ),
    }
}

fn load(kind: Kind) {
    if !Server::installed(kind) {
        panic!(
            "{kind} is not installed, so the interop suite cannot run. Install the servers with \
             `apt-get install prosody ejabberd lua-sec lua-unbound` (Debian 12), or run \
             `scripts/test.sh`, which does that and then runs every test."
        );
    }
    // A run that failed (panicked) holding it leaves nothing to clean up.
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (sessions, contacts, messages) = (
        SESSIONS.to_string(),
        CONTACTS.to_string(),
        MESSAGES.to_string(),
    );
    let mut child = Command::new(load_example())
        .args(["--server", kind.name(), "--sessions", &sessions])
        .args(["--contacts", &contacts, "--messages", &messages, "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the load example");
    // Read both pipes as the run goes, so that neither fills up and stalls it.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + KILL_AFTER;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the load example") {
            break Some(status);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    // The progress lines and the summary, shown when the test fails (or with --nocapture).
    eprintln!("{err}");
    println!("{out}");
    let Some(status) = status else {
        panic!("{kind}: the load example still ran after {KILL_AFTER:?}; killed");
    };
    let summary: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{kind}: no JSON summary ({e}), exit status {status}"));
    let count = |path: &[&str]| -> u64 {
        let value = path.iter().fold(&summary, |v, key| &v[*key]);
        value
            .as_u64()
            .unwrap_or_else(|| panic!("{kind}: {path:?} is not a count in {summary}"))
    };
    assert_eq!(
        count(&["failures_total"]),
        0,
        "{kind}: failures by reason: {}",
        summary["failures"]
    );
    assert_eq!(count(&["registered"]), SESSIONS, "{kind}");
    assert_eq!(count(&["logged_in"]), SESSIONS, "{kind}");
    assert_eq!(count(&["ready"]), SESSIONS, "{kind}");
    assert_eq!(
        count(&["subscriptions", "established"]),
        SESSIONS * CONTACTS,
        "{kind}"
    );
    assert_eq!(count(&["messages", "sent"]), SESSIONS * MESSAGES, "{kind}");
    assert_eq!(
        count(&["messages", "received"]),
        SESSIONS * MESSAGES,
        "{kind}"
    );
    assert_eq!(count(&["messages", "lost"]), 0, "{kind}");
    assert_eq!(count(&["messages", "duplicates"]), 0, "{kind}");
    assert_eq!(count(&["closed_cleanly"]), SESSIONS, "{kind}");
    assert!(status.success(), "{kind}: exit status {status}");
}

interop! {
    prosody_load => load(Kind::Prosody);
    ejabberd_load => load(Kind::Ejabberd);
}

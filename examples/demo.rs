//! The end-to-end demo behind `scripts/demo.sh`: starts a real Prosody on 127.0.0.1 (ports,
//! directory and self-signed certificate of its own) and runs the `chat` example as two new
//! users: each registers its account in-band (XEP-0077) and logs in on the same stream, prints
//! its roster, alice adds bob and bob approves her subscription, alice writes to bob, bob
//! answers, both close cleanly. The server is stopped at the end.
//!
//! Needs Prosody installed (`scripts/install-servers.sh`) and the `chat` example built next
//! to this one (`cargo build --all-features --examples`); `scripts/demo.sh` does both.

#[path = "../tests/servers/mod.rs"]
mod servers;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{exit, Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;
use servers::{Kind, Server};

const PASSWORD: &str = "demo-password-1";
const WAIT: Duration = Duration::from_secs(20);

fn main() {
    let chat = chat_binary();
    if !Server::installed(Kind::Prosody) {
        fail(
            "Prosody is not installed: run scripts/install-servers.sh (as root) first",
            None,
        );
    }
    say("starting Prosody on 127.0.0.1 with a fresh self-signed certificate...");
    let server = Server::start(Kind::Prosody).unwrap_or_else(|e| fail(&e, None));
    say(&format!(
        "Prosody is up: STARTTLS on 127.0.0.1:{}, certificate {}",
        server.starttls_port(),
        server.ca_pem_path().display()
    ));

    let mut bob = Peer::spawn(&chat, &server, "bob", "alice");
    bob.expect(&server, "online", |_| true);
    bob.expect(&server, "registered", |_| true);
    bob.expect(&server, "roster", |_| true);
    let mut alice = Peer::spawn(&chat, &server, "alice", "bob");
    alice.expect(&server, "online", |_| true);
    alice.expect(&server, "registered", |_| true);
    alice.expect(&server, "roster", |_| true);

    // Alice adds bob to her roster and asks to see his presence; bob approves.
    alice.type_line("/add bob@localhost Bob");
    bob.expect(&server, "subscription-request", |e| {
        e["from"] == "alice@localhost"
    });
    bob.type_line("/approve alice@localhost");
    alice.expect(&server, "roster-update", |e| {
        e["item"]["jid"] == "bob@localhost" && e["item"]["subscription"] == "to"
    });

    alice.type_line("hello bob, this is alice");
    bob.expect(&server, "message", |e| {
        e["body"] == "hello bob, this is alice"
    });
    bob.type_line("hi alice, bob here: got it");
    alice.expect(&server, "message", |e| {
        e["body"] == "hi alice, bob here: got it"
    });

    for peer in [alice, bob] {
        peer.finish(&server);
    }
    say("message round trip done; both clients closed cleanly (exit 0). Stopping Prosody.");
    drop(server);
}

/// The `chat` example, built next to this one.
fn chat_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string(), None));
    let chat = me.with_file_name(format!("chat{}", std::env::consts::EXE_SUFFIX));
    if !chat.exists() {
        fail(
            &format!(
                "{} is missing: run scripts/demo.sh (it builds the examples first)",
                chat.display()
            ),
            None,
        );
    }
    chat
}

/// One chat client process, its stdin, and its stdout as parsed JSON lines.
struct Peer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

impl Peer {
    fn spawn(chat: &PathBuf, server: &Server, name: &'static str, to: &str) -> Peer {
        let args = [
            "--jid".to_owned(),
            format!("{name}@localhost/demo"),
            "--password".to_owned(),
            PASSWORD.to_owned(),
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            server.starttls_port().to_string(),
            "--ca-file".to_owned(),
            server.ca_pem_path().display().to_string(),
            "--to".to_owned(),
            format!("{to}@localhost"),
            "--json".to_owned(),
            // The account is created in-band (XEP-0077), then the client logs in.
            "--register".to_owned(),
        ];
        say(&format!("starting: chat {}", args.join(" ")));
        let mut child = Command::new(chat)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("starting chat: {e}"), Some(server)));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("  [{name}] {line}");
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let stdin = child.stdin.take();
        Peer {
            name,
            child,
            stdin,
            lines,
        }
    }

    /// Waits for an event of this kind that satisfies `pred`.
    fn expect(&mut self, server: &Server, event: &str, pred: impl Fn(&Value) -> bool) {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event && pred(&v) => return,
                Ok(v) if v["event"] == "error" || v["event"] == "disconnected" => {
                    fail(&format!("{} stopped: {v}", self.name), Some(server))
                }
                Ok(_) => {}
                Err(_) => fail(
                    &format!("{} never reported {event:?}", self.name),
                    Some(server),
                ),
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        say(&format!("{} types: {line}", self.name));
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap();
    }

    /// Ends stdin (the client then closes the session) and checks it exits with 0.
    fn finish(mut self, server: &Server) {
        drop(self.stdin.take());
        self.expect(server, "disconnected", |v| v["clean"] == true);
        let status = self.child.wait().unwrap();
        if !status.success() {
            fail(&format!("{} exited with {status}", self.name), Some(server));
        }
    }
}

fn say(what: &str) {
    println!("demo: {what}");
}

fn fail(what: &str, server: Option<&Server>) -> ! {
    eprintln!("demo FAILED: {what}");
    if let Some(server) = server {
        eprintln!("--- server log ---\n{}", server.log_tail());
    }
    exit(1)
}

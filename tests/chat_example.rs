//! The examples as a user runs them. `chat`: exit status 2 on bad usage, 1 with the reason on
//! failure, 0 after a clean close; `--json` prints one object per line. `echo_bot`: answers
//! disco#info, accepts subscriptions, sets its vCard, echoes. Against the scripted server
//! over loopback TLS (the chat runs against real servers are in `scripts/demo.sh`).
#![cfg(all(feature = "tokio", feature = "blocking"))]

mod harness;
mod loopback;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use harness::{Script, PASSWORD};
use loopback::{identity, FakeServer, Reaction};

/// `target/<profile>/examples/<name>`, built by `cargo test` along with the examples.
fn example(name: &str) -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let path = deps.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn run_example(name: &str, args: &[&str]) -> Output {
    run_example_with_input(name, args, "")
}

/// Runs an example with `input` on its stdin (then closed).
fn run_example_with_input(name: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let Some(path) = example(name) else {
        panic!("the {name} example is not built: run `cargo test --all-features`");
    };
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn run(args: &[&str]) -> Output {
    run_example("chat", args)
}

/// The server's certificate in a PEM file, removed when dropped.
struct CaFile(PathBuf);

impl CaFile {
    fn new(test: &str) -> CaFile {
        let name = format!("xmpp-sansio-{test}-{}.pem", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, &identity().cert_pem).unwrap();
        CaFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn bad_usage_exits_2_and_says_why() {
    for (args, says) in [
        (
            &["--password", "x"][..],
            "--jid and --password are required",
        ),
        (
            &["--jid", "a@b", "--password", "x", "--port", "many"][..],
            "is not a port",
        ),
        (
            &["--jid", "not a jid@@", "--password", "x"][..],
            "--jid \"not a jid@@\": localpart",
        ),
        (
            &["--jid", "a@b", "--password", "x", "--frobnicate"][..],
            "unknown option",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// The arguments that point the client at `server` as `jid`, trusting `ca` if given.
fn login(jid: &str, password: &str, server: &FakeServer, ca: Option<&CaFile>) -> Vec<String> {
    let mut args: Vec<String> = ["--jid", jid, "--password", password, "--host", "127.0.0.1"]
        .map(String::from)
        .into();
    args.extend(["--port".to_owned(), server.port().to_string()]);
    if let Some(ca) = ca {
        args.extend(["--ca-file".to_owned(), ca.path().to_owned()]);
    }
    args
}

/// The standard output of a run that exited 0 (else fails with both outputs).
fn succeeded(out: &Output) -> std::borrow::Cow<'_, str> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run_owned(args: &[String]) -> Output {
    run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_clean_session_exits_0_with_json_events() {
    let server = FakeServer::start(Script::default(), false, |_, _| Reaction::Continue);
    let ca = CaFile::new("chat-clean");
    let mut args = login("juliet@example.com/balcony", PASSWORD, &server, Some(&ca));
    args.push("--json".to_owned());
    let out = run_owned(&args);
    // The server's side first: a panic there would otherwise show only as a lost connection.
    let log = server.finish();
    let stdout = succeeded(&out);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "online");
    assert_eq!(events[0]["jid"], "juliet@example.com/balcony");
    assert_eq!(events[1]["event"], "roster");
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["clean"].as_bool()),
        (Some("disconnected"), Some(true))
    );
    assert!(log.client_closed);
}

#[test]
fn failures_exit_1_and_say_which() {
    // Wrong password.
    let server = FakeServer::start(Script::default(), false, |_, _| Reaction::Continue);
    let ca = CaFile::new("chat-fail");
    let out = run_owned(&login("juliet@example.com", "wrong", &server, Some(&ca)));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authentication failed"), "{stderr}");
    // The certificate is not trusted without --ca-file.
    let server = FakeServer::start(Script::default(), false, |_, _| Reaction::Continue);
    let out = run_owned(&login("juliet@example.com", PASSWORD, &server, None));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("for example.com failed") && stderr.contains("Trust::pem_file"),
        "{stderr}"
    );
}

#[test]
fn the_echo_bot_answers_disco_accepts_subscriptions_sets_its_vcard_and_echoes() {
    const ROMEO: &str = "romeo@example.net/orchard";
    let mut greeted = false;
    let server = FakeServer::start(Script::default(), false, move |el, server| {
        // Its presence goes out again once its vCard is known (XEP-0153): greet once.
        if el.starts_with("<presence")
            && !el.contains("type=")
            && !std::mem::replace(&mut greeted, true)
        {
            // The bot is up: ask who it is, ask to subscribe, say something.
            server.send(&format!(
                "<iq type='get' id='d1' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\
                 <iq type='get' id='d2' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info' node='x#y'/></iq>\
                 <presence from='romeo@example.net' type='subscribe'/>\
                 <message from='{ROMEO}' type='chat'><body>hello bot</body></message>"
            ));
        }
        if el.starts_with("<message") && el.contains("hello bot") {
            server.send("</stream:stream>");
        }
        Reaction::Continue
    });
    let ca = CaFile::new("echo-bot");
    let args = login("juliet@example.com/bot", PASSWORD, &server, Some(&ca));
    let out = run_example(
        "echo_bot",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let log = server.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let sent = log.received.join("\n");
    for expected in [
        "<vCard xmlns='vcard-temp'><FN>Echo Bot</FN></vCard>",
        "<presence><status>I repeat what you say</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node=",
        "<iq type='result' id='d1' to='romeo@example.net/orchard'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='bot' name='Echo Bot'/>",
        "<iq type='error' id='d2' to='romeo@example.net/orchard'><error type='cancel'><item-not-found",
        "<presence to='romeo@example.net' type='subscribed'/>",
        "to='romeo@example.net/orchard' type='chat'",
        "<body>hello bot</body>",
    ] {
        assert!(sent.contains(expected), "{expected} not in\n{sent}\n{stderr}");
    }
    assert!(
        stderr.contains("echoing as juliet@example.com/bot"),
        "{stderr}"
    );
    assert!(stderr.contains("roster: 0 contacts"), "{stderr}");
}

#[test]
fn chat_commands_edit_the_roster_answer_requests_and_set_the_status() {
    let server = FakeServer::start(Script::default(), false, |el, server| {
        // Once the client announced itself, someone asks to see its presence.
        if el.starts_with("<presence><c xmlns='http://jabber.org/protocol/caps'") {
            server.send("<presence from='benvolio@example.net' type='subscribe'/>");
        }
        Reaction::Continue
    });
    let ca = CaFile::new("chat-commands");
    let mut args = login("juliet@example.com/balcony", PASSWORD, &server, Some(&ca));
    args.push("--json".to_owned());
    let avatar = std::env::temp_dir().join(format!("chat-avatar-{}.png", std::process::id()));
    std::fs::write(&avatar, [0x89, b'P', b'N', b'G', 1, 2, 3]).unwrap();
    let input = format!(
        "/add romeo@example.net Romeo Montague\n/status away at the ball\n\
         /approve benvolio@example.net\n/deny tybalt@example.org\n/remove romeo@example.net\n\
         /avatar {}\n",
        avatar.display()
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_example_with_input("chat", &args, &input);
    let _ = std::fs::remove_file(&avatar);
    let log = server.finish();
    let stdout = succeeded(&out);
    let sent = log.received.join("\n");
    for expected in [
        "<item jid='romeo@example.net' name='Romeo Montague'/>",
        "<presence to='romeo@example.net' type='subscribe'/>",
        "<presence><show>away</show><status>at the ball</status><c xmlns='http://jabber.org/protocol/caps'",
        "<presence to='benvolio@example.net' type='subscribed'/>",
        "<presence to='tybalt@example.org' type='unsubscribed'/>",
        "<item jid='romeo@example.net' subscription='remove'/>",
        // The avatar goes into our vCard, and its hash into our presence (XEP-0153).
        "<PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORwECAw==</BINVAL></PHOTO>",
        "<x xmlns='vcard-temp:x:update'><photo>",
        // And over PEP (XEP-0084): data, then metadata.
        "<publish node='urn:xmpp:avatar:data'>",
        "<publish node='urn:xmpp:avatar:metadata'>",
    ] {
        assert!(
            sent.contains(expected),
            "{expected} not in\n{sent}\n{stdout}"
        );
    }
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for kind in [
        "online",
        "roster",
        "roster-update",
        "subscription-request",
        "done",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let update = events
        .iter()
        .find(|e| e["event"] == "roster-update")
        .unwrap();
    assert_eq!(update["item"]["name"], "Romeo Montague");
}

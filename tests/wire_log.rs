//! The wire log: the session at `trace`, its secrets redacted. In a test binary of its own:
//! `tracing` caches per call site whether anyone listens, and a test capturing the log with a
//! scoped subscriber races with tests on other threads that hit the same call sites first.

mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use harness::{config, Pair, Script, PASSWORD};
use xmpp_sansio::client::sasl::Mechanism;
use xmpp_sansio::client::stanza::IqType;
use xmpp_sansio::ns;
use xmpp_sansio::xml::Builder;

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every `tracing` event at `trace` level written to a string.
fn traced(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// The base64 payloads of the SASL elements in `xml` (both directions).
fn sasl_payloads(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["auth", "response", "challenge", "success"] {
        for part in xml.split(&format!("<{name}")).skip(1) {
            let Some(start) = part.find('>') else {
                continue;
            };
            let Some(end) = part.find('<') else { continue };
            let payload = part[start + 1..end].trim();
            if payload.len() > 4 {
                out.push(payload.to_owned());
            }
        }
    }
    out
}

#[test]
fn the_wire_log_shows_the_session_but_no_secret() {
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let mut config = config();
        config.sasl.allowed = vec![mechanism];
        let script = Script {
            mechanisms: vec![mechanism.name()],
            ..Script::default()
        };
        let mut pair = None;
        let log = traced(|| {
            let mut p = Pair::online(config, script);
            // A registration-like form with a password, sent by the application.
            let form = Builder::new("query", ns::REGISTER)
                .text_child("username", "juliet")
                .text_child("password", "n3w-s3cret")
                .child(
                    Builder::new("x", ns::DATA_FORMS)
                        .attr("type", "submit")
                        .child(
                            Builder::new("field", ns::DATA_FORMS)
                                .attr("var", "password")
                                .attr("type", "text-private")
                                .text_child("value", "f0rm-s3cret"),
                        ),
                );
            p.client.send_iq(p.now, None, IqType::Set, form).unwrap();
            p.drive();
            pair = Some(p);
        });
        let pair = pair.unwrap();
        // The log is there: negotiation decisions and the wire.
        assert!(log.contains("SASL"), "{log}");
        assert!(log.contains("xmpp_sansio::wire"), "{log}");
        assert!(
            log.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'"),
            "{log}"
        );
        assert!(log.contains("<username>juliet</username>"), "{log}");
        assert!(log.contains("[redacted]"), "{log}");
        // No password, no SASL payload either way.
        let everything = format!(
            "{}{}",
            pair.sent(),
            String::from_utf8_lossy(&pair.delivered)
        );
        let payloads = sasl_payloads(&everything);
        // PLAIN: <auth/>; SCRAM: <auth/>, <challenge/>, <response/>, <success/>.
        let expected = if mechanism == Mechanism::Plain { 1 } else { 4 };
        assert_eq!(payloads.len(), expected, "{mechanism:?}: {payloads:?}");
        for secret in
            payloads
                .iter()
                .map(String::as_str)
                .chain([PASSWORD, "n3w-s3cret", "f0rm-s3cret"])
        {
            assert!(!log.contains(secret), "{mechanism:?}: {secret} in\n{log}");
        }
        let plain = BASE64.encode(format!("\0juliet\0{PASSWORD}"));
        assert!(!log.contains(&plain));
    }
}

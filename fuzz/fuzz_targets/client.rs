//! The whole client core driven by arbitrary server bytes, in every phase.
//!
//! Byte 0: bits 0-1 pick the phase the arbitrary bytes start in (a scripted server brings
//! the client there first: 0 = before the stream header, 1 = expecting features before TLS,
//! 2 = after TLS with PLAIN offered, 3 = online); bit 4 asks for in-band registration first
//! (then the phase is at most 2), bit 5 makes it interactive; online, bit 6 leaves a
//! password change and bit 7 an account removal outstanding. Bytes 1..=8 are read sizes
//! (cycled); each read also moves the clock by its size / 16 seconds, so that a seed's
//! answers arrive before the 30 s timeouts unless its sizes say otherwise. Online, the
//! scripted server first answers the roster request (two contacts), the carbons request,
//! our vCard (none) and the server description query, so that the arbitrary bytes reach the
//! services: roster pushes, presence and subscriptions, carbons, registration, disco
//! requests, caps announcements and the answers to the caps queries, avatar hashes and the
//! vCards fetched for them (small caches, rate and flight limits), and stream management
//! (offered, so enabled: acknowledgements, and after a lost connection the reconnection the
//! driver grants at once, with resumption or a fresh session). Checks: no panic, every
//! drain of `poll_action` ends, nothing is sent after `Action::Close` (until a new
//! connection), a closed client stays silent, `Online` comes at most once, the roster and
//! the presence map stay within their (small) limits, and the unacknowledged queue within
//! twice its bound.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use xmpp_sansio::client::register::RegistrationEvent;
use xmpp_sansio::client::{Action, Client, Config, DisconnectReason, Event, TlsInfo};
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='example.com' version='1.0' id='x'>";
/// Features after authentication: binding, stream management, client state indication.
const AFTER_AUTH: &str = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
    <sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/></stream:features>";

struct Driver {
    client: Client,
    now: Instant,
    closed: bool,
    online: usize,
    /// Parses what the client sends, to answer bind with the right id.
    reader: StreamReader,
    last_iq_id: Option<String>,
    /// The ids of the requests the services sent: roster, carbons, server description, our
    /// vCard.
    roster_id: Option<String>,
    carbons_id: Option<String>,
    server_info_id: Option<String>,
    vcard_id: Option<String>,
    /// Reconnections granted so far.
    reconnects: usize,
}

impl Driver {
    fn drain(&mut self) {
        let mut n = 0;
        while let Some(action) = self.client.poll_action() {
            n += 1;
            assert!(n < 100_000, "poll_action does not end");
            match action {
                Action::Send(bytes) => {
                    assert!(!self.closed, "Send after Close");
                    if bytes.starts_with(b"<?xml") {
                        // A stream restart.
                        self.reader = StreamReader::new(Limits::default());
                    }
                    self.reader.feed(&bytes);
                    while let Ok(Some(ev)) = self.reader.next_event() {
                        if let StreamEvent::Element(el) = ev {
                            if el.name() == "iq" {
                                let id = el.attr("id").map(|s| s.into_owned());
                                if el.get_child("query", "jabber:iq:roster").is_some() {
                                    self.roster_id = id.clone();
                                }
                                if el.get_child("enable", "urn:xmpp:carbons:2").is_some() {
                                    self.carbons_id = id.clone();
                                }
                                if el.attr("to").is_none()
                                    && el.get_child("vCard", "vcard-temp").is_some()
                                {
                                    self.vcard_id = id.clone();
                                }
                                let disco = "http://jabber.org/protocol/disco#info";
                                if el.attr("to").as_deref() == Some("example.com")
                                    && el.get_child("query", disco).is_some()
                                {
                                    self.server_info_id = id.clone();
                                }
                                self.last_iq_id = id;
                            }
                        }
                    }
                }
                Action::StartTls { .. } => {
                    self.reader = StreamReader::new(Limits::default());
                    let r = self.client.handle_tls_established(self.now, TlsInfo::new());
                    // Refused only if the client gave up after asking.
                    assert!(r.is_ok() || self.client.is_closed(), "{r:?}");
                }
                Action::Event(Event::Online { .. }) => self.online += 1,
                // An interactive registration: submit what the core prefilled.
                Action::Event(Event::Registration(RegistrationEvent::Form(form))) => {
                    let _ = self.client.submit_registration(self.now, form);
                }
                Action::Event(_) => {}
                Action::Close => self.closed = true,
                // A reconnection: a scripted server brings the new connection to where the
                // session is resumed (or bound afresh); the arbitrary bytes go on from there.
                Action::Connect { .. } => {
                    self.closed = false;
                    self.reconnects += 1;
                    if self.reconnects > 4 {
                        let reason = DisconnectReason::Transport("enough".into());
                        let r = self.client.handle_connect_failed(self.now, reason);
                        assert!(r.is_ok(), "{r:?}");
                        continue;
                    }
                    self.reader = StreamReader::new(Limits::default());
                    let r = self.client.handle_connected(self.now);
                    assert!(r.is_ok(), "{r:?}");
                    for bytes in [
                        HEADER,
                        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
                        "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
                        HEADER,
                        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
                        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
                        HEADER,
                        AFTER_AUTH,
                    ] {
                        self.input(bytes.as_bytes());
                    }
                }
            }
        }
        assert!(self.online <= 1, "Online twice");
        assert!(
            self.client.unacknowledged() <= 32,
            "unacknowledged queue over twice its bound"
        );
        if let Some(roster) = self.client.roster() {
            assert!(roster.len() <= 8, "roster over its limit");
        }
        if let Some(map) = self.client.presences() {
            assert!(map.contacts().count() <= 4, "presence map over its contacts");
            assert!(map.bytes() <= 2048, "presence map over its bytes");
            for contact in map.contacts() {
                assert!(map.resources(contact).len() <= 3, "too many resources");
            }
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        self.client.handle_input(self.now, bytes);
        self.drain();
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 9 {
        return;
    }
    // Bit 4: register first (XEP-0077), automatically or interactively (bit 5); the
    // arbitrary bytes then answer the registration, so the online stage is not scripted.
    let register = input[0] & 0x10 != 0;
    let stage = if register { (input[0] % 4).min(2) } else { input[0] % 4 };
    let sizes = &input[1..9];
    let data = &input[9..];
    let mut config = Config::new("juliet@example.com/balcony".parse().unwrap(), "pw");
    config.sasl.allowed = vec![xmpp_sansio::client::sasl::Mechanism::Plain];
    // Reproducible ids, and small limits that the input can reach.
    config.seed = 0x5eed;
    config.roster.limits.max_items = 8;
    config.presence.limits.max_contacts = 4;
    config.presence.limits.max_resources = 3;
    config.presence.limits.max_bytes = 2048;
    config.caps.limits.max_entries = 4;
    config.caps.limits.max_bytes = 4096;
    config.caps.limits.max_peers = 8;
    config.caps.limits.max_in_flight = 2;
    config.caps.limits.max_deferred = 4;
    config.caps.limits.burst = 3;
    config.avatars.max_photo = 512;
    config.avatars.limits.max_contacts = 8;
    config.avatars.limits.max_cached = 2;
    config.avatars.limits.max_cached_bytes = 1024;
    config.avatars.limits.max_in_flight = 2;
    config.avatars.limits.max_deferred = 4;
    config.avatars.limits.burst = 3;
    config.stream_management.max_unacked = 16;
    config.stream_management.max_unacked_bytes = 4096;
    if register {
        config.register = Some(if input[0] & 0x20 != 0 {
            xmpp_sansio::client::register::Register::Interactive { then_login: true }
        } else {
            xmpp_sansio::client::register::Register::Automatic { then_login: true }
        });
    }
    let now = Instant::now();
    let mut d = Driver {
        client: Client::new(config, now),
        now,
        closed: false,
        online: 0,
        reader: StreamReader::new(Limits::default()),
        last_iq_id: None,
        roster_id: None,
        carbons_id: None,
        server_info_id: None,
        vcard_id: None,
        reconnects: 0,
    };
    d.drain();
    if stage >= 1 {
        d.input(HEADER.as_bytes());
    }
    if stage >= 2 {
        d.input(b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
        d.input(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        d.input(HEADER.as_bytes());
    }
    if stage >= 3 {
        d.input(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        d.input(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        d.input(HEADER.as_bytes());
        d.input(AFTER_AUTH.as_bytes());
        let id = d.last_iq_id.clone().unwrap_or_default();
        let result = format!("<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>");
        d.input(result.as_bytes());
        assert!(d.client.is_online());
        let roster = d.roster_id.clone().unwrap_or_default();
        let carbons = d.carbons_id.clone().unwrap_or_default();
        let server_info = d.server_info_id.clone().unwrap_or_default();
        let vcard = d.vcard_id.clone().unwrap_or_default();
        let services = format!(
            "<iq type='result' id='{roster}'><query xmlns='jabber:iq:roster' ver='1'>\
             <item jid='romeo@example.net' subscription='both'/>\
             <item jid='nurse@example.com' subscription='none' ask='subscribe'/></query></iq>\
             <iq type='result' id='{carbons}'/>\
             <iq type='result' id='{vcard}'><vCard xmlns='vcard-temp'/></iq>\
             <iq type='result' id='{server_info}' from='example.com'>\
             <query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='server' type='im'/><feature var='urn:xmpp:carbons:2'/>\
             </query></iq>"
        );
        d.input(services.as_bytes());
        assert!(d.client.carbons_enabled());
        assert!(d.client.server_info().is_some());
        // Bits 6 and 7: a password change and an account removal are outstanding (XEP-0077
        // §3.2-3.3), so the arbitrary bytes answer them.
        if input[0] & 0x40 != 0 {
            d.client.change_password(d.now, "new-pw").unwrap();
        }
        if input[0] & 0x80 != 0 {
            d.client.remove_account(d.now).unwrap();
        }
        d.drain();
    } else if stage == 2 {
        d.input(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    }
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let size = usize::from(sizes[i % sizes.len()]).max(1);
        i += 1;
        let n = size.min(data.len() - pos);
        let was_closed = d.client.is_closed();
        d.input(&data[pos..pos + n]);
        if was_closed {
            assert!(d.client.poll_action().is_none(), "a closed client acted");
        }
        pos += n;
        // Time moves too: not at all, a little, or (over a few reads) past every timer.
        d.now += Duration::from_secs(u64::from(sizes[i % sizes.len()]) / 16);
        d.client.handle_timeout(d.now);
        d.drain();
    }
    // The application closes (a lost connection alone would be reconnected).
    d.client.close(d.now);
    d.client.handle_eof(d.now);
    d.drain();
    assert!(d.client.is_closed());
});

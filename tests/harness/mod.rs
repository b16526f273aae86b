//! A scripted in-memory XMPP server and a `Pair` that drives a [`Client`] against it on a
//! virtual clock. The server's SASL side is the `sasl` crate's, so SCRAM is really verified;
//! `Script` decides what the server offers and how it misbehaves.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::{ChannelBinding as CrateBinding, Identity};
use sasl::secret;
use sasl::server::mechanisms::Scram as ServerScram;
use sasl::server::{Mechanism as ServerMechanism, Provider, ProviderError, Response};
use xmpp_sansio::client::{Action, Client, Config, DisconnectReason, Event, TlsInfo};
use xmpp_sansio::xml::{Element, Limits, StreamEvent, StreamReader};

pub const USER: &str = "juliet";
pub const DOMAIN: &str = "example.com";
pub const PASSWORD: &str = "r0m30myr0m30";

/// ejabberd 23.01's registration form (tests/fixtures/ejabberd-04-register-form.xml).
pub const EJABBERD_REGISTER_FORM: &str = "<username/><password/><instructions>Choose a username and password to register with this server</instructions>";

/// Prosody 0.12's registration form (tests/fixtures/prosody-04-register-form.xml): legacy
/// fields and a data form.
pub const PROSODY_REGISTER_FORM: &str = "<instructions>Choose a username and password for use with this service.</instructions><username/><password/><x type='form' xmlns='jabber:x:data'><title>Creating a new account</title><instructions>Choose a username and password for use with this service.</instructions><field type='hidden' var='FORM_TYPE'><value>jabber:iq:register</value></field><field type='text-single' label='Username' var='username'><required/></field><field type='text-private' label='Password' var='password'><required/></field></x>";
/// Prosody 0.12's description of itself (tests/fixtures/prosody-16-disco-info-server.xml).
pub const SERVER_INFO: &str = "<query xmlns='http://jabber.org/protocol/disco#info'><identity type='im' category='server' name='Prosody'/><feature var='http://jabber.org/protocol/commands'/><feature var='jabber:iq:private'/><feature var='urn:xmpp:ping'/><feature var='msgoffline'/><feature var='jabber:iq:roster'/><feature var='jabber:iq:last'/><feature var='urn:xmpp:time'/><feature var='jabber:iq:time'/><feature var='vcard-temp'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='urn:xmpp:blocking'/><feature var='jabber:iq:register'/><feature var='urn:xmpp:carbons:rules:0'/><feature var='urn:xmpp:carbons:2'/><feature var='jabber:iq:version'/></query>";
const SALT: &[u8] = b"QSXCR+Q6sek8bf92";

struct Account {
    password: String,
    iterations: u32,
}

/// The server stores derived secrets, as a real one does: PBKDF2 runs once per account and
/// count, so a benchmark of a login measures the client's cost.
fn cached<S: Clone + Send + 'static, E>(
    key: (String, u32),
    derive: impl FnOnce() -> Result<S, E>,
) -> Result<S, E> {
    use std::any::{Any, TypeId};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<HashMap<(String, u32, TypeId), Box<dyn Any + Send>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (key.0, key.1, TypeId::of::<S>());
    if let Some(s) = cache
        .lock()
        .unwrap()
        .get(&key)
        .and_then(|b| b.downcast_ref::<S>())
    {
        return Ok(s.clone());
    }
    let s = derive()?;
    cache.lock().unwrap().insert(key, Box::new(s.clone()));
    Ok(s)
}

impl Provider<secret::Pbkdf2Sha1> for Account {
    fn provide(&self, identity: &Identity) -> Result<secret::Pbkdf2Sha1, ProviderError> {
        if *identity != Identity::Username(USER.to_owned()) {
            return Err(ProviderError::AuthenticationFailed);
        }
        cached((self.password.clone(), self.iterations), || {
            secret::Pbkdf2Sha1::derive(&self.password, SALT, self.iterations)
        })
        .map_err(ProviderError::DeriveError)
    }
}
sasl::impl_validator_using_provider!(Account, secret::Pbkdf2Sha1);

impl Provider<secret::Pbkdf2Sha256> for Account {
    fn provide(&self, identity: &Identity) -> Result<secret::Pbkdf2Sha256, ProviderError> {
        if *identity != Identity::Username(USER.to_owned()) {
            return Err(ProviderError::AuthenticationFailed);
        }
        cached((self.password.clone(), self.iterations), || {
            secret::Pbkdf2Sha256::derive(&self.password, SALT, self.iterations)
        })
        .map_err(ProviderError::DeriveError)
    }
}
sasl::impl_validator_using_provider!(Account, secret::Pbkdf2Sha256);

/// How the server misbehaves during SCRAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// server-first `r=` does not extend the client nonce.
    ServerNonce,
    /// server-first `i=` replaced.
    Iterations(u32),
    /// server-final `v=` altered.
    Signature,
    /// `<success/>` without server-final data.
    MissingSignature,
    /// server-final replaced by `e=...`.
    FinalError(&'static str),
    /// server-final delivered as a second challenge, then an empty success.
    FinalAsChallenge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindReply {
    Ok,
    Error(&'static str),
    OtherJid(&'static str),
}

/// What the server offers and how it behaves.
#[derive(Debug, Clone)]
pub struct Script {
    pub starttls: bool,
    pub mechanisms: Vec<&'static str>,
    /// XEP-0440 channel-binding types to advertise.
    pub cb_types: Option<Vec<&'static str>>,
    /// Channel-binding data the server's TLS layer sees (for -PLUS).
    pub server_binding: Vec<u8>,
    pub password: &'static str,
    pub iterations: u32,
    pub tamper: Tamper,
    /// Offer `<session/>`; `Some(true)` marks it optional.
    pub session: Option<bool>,
    pub bind: BindReply,
    /// Sent right after `<proceed/>`, in the same read.
    pub after_proceed: Option<&'static str>,
    /// Answer the client's `</stream:stream>`.
    pub answer_close: bool,
    /// Answer `<starttls/>` with `<failure/>`.
    pub refuse_tls: bool,
    /// Answer the legacy session request with this stanza error condition.
    pub session_error: Option<&'static str>,
    /// Sent just before the bind result.
    pub before_bind_result: Option<&'static str>,
    /// Offer resource binding after authentication.
    pub offer_bind: bool,
    /// Offer roster versioning (RFC 6121 §2.6).
    pub rosterver: bool,
    /// Offer subscription pre-approval (RFC 6121 §3.4).
    pub pre_approval: bool,
    /// Offer stream management (XEP-0198) and answer `<enable/>` and `<r/>`.
    pub sm: bool,
    /// Answer `<resume/>` with `<resumed/>` (else `<failed/>`).
    pub sm_resume: bool,
    /// Offer client state indication (XEP-0352).
    pub csi: bool,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            starttls: true,
            mechanisms: vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
            cb_types: None,
            server_binding: Vec::new(),
            password: PASSWORD,
            iterations: 4096,
            tamper: Tamper::None,
            session: Some(true),
            bind: BindReply::Ok,
            after_proceed: None,
            answer_close: true,
            refuse_tls: false,
            session_error: None,
            before_bind_result: None,
            offer_bind: true,
            rosterver: true,
            pre_approval: false,
            // Off unless a test is about it, so that other tests see no <r/> traffic.
            sm: false,
            sm_resume: true,
            csi: false,
        }
    }
}

/// The server side of stream management (XEP-0198), kept across connections.
#[derive(Debug, Default, Clone)]
pub struct SmServer {
    /// `<enabled/>` sent on the current connection.
    pub enabled: bool,
    /// The session id handed out (`sm-N`).
    pub id: Option<String>,
    /// Stanzas received from the client since `<enable/>`: the server's `h`.
    pub received: u32,
    /// Answer `<r/>` (turn off to pile up unacknowledged stanzas).
    pub answer_r: bool,
    /// Answer `<enable/>` (turn off to answer with recordings).
    pub answer_enable: bool,
    /// Put the server's `h` in `<failed/>` answering `<resume/>`.
    pub failed_with_h: bool,
    /// Answer `<resume/>` with this previd instead of the one asked for.
    pub resumed_previd: Option<String>,
    /// `<r/>` received.
    pub requests: usize,
    /// The `h` values of the client's `<a/>`.
    pub acks: Vec<u32>,
    /// The `(previd, h)` of each `<resume/>`.
    pub resumes: Vec<(String, u32)>,
    /// Sessions handed out so far.
    pub sessions: u32,
}

pub struct Server {
    pub script: Script,
    reader: StreamReader,
    pub tls: bool,
    pub authenticated: bool,
    pending_tls: bool,
    sasl: Option<Box<dyn ServerMechanism>>,
    plain: bool,
    held_success: Option<Vec<u8>>,
    /// Bytes to deliver to the client.
    pub out: Vec<u8>,
    /// Every element the client sent, serialized standalone, in order.
    pub received: Vec<String>,
    /// The raw bytes the client sent.
    pub raw: Vec<u8>,
    pub client_closed: bool,
    /// XML errors in what the client sent (the server stops reading at the first).
    pub errors: Vec<String>,
    /// Respond to IQ requests sent to the server (ping, disco) automatically.
    pub auto_iq: bool,
    /// What a roster get is answered with, inside the result (`""`: an empty result, as
    /// for an unchanged versioned roster).
    pub roster_reply: String,
    /// What a registration form request is answered with, inside the result.
    pub register_form: String,
    /// The stanza error condition a registration (or password change) is refused with.
    pub register_error: Option<&'static str>,
    /// A password change without `old_password` is refused with this form (XEP-0077 §3.3).
    pub password_form: Option<&'static str>,
    /// The stream error that follows an account removal (`not-authorized` as Prosody,
    /// `conflict` as ejabberd).
    pub removal_stream_error: &'static str,
    /// Registrations taken, as `(username, password)`.
    pub registered: Vec<(String, String)>,
    /// Leave registration requests unanswered (a test answers them with recordings).
    pub register_silent: bool,
    /// Stream management, across connections.
    pub sm: SmServer,
    /// Connections so far (1 at first).
    pub connections: u32,
}

impl Server {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            reader: StreamReader::new(Limits::default()),
            tls: false,
            authenticated: false,
            pending_tls: false,
            sasl: None,
            plain: false,
            held_success: None,
            out: Vec::new(),
            received: Vec::new(),
            raw: Vec::new(),
            client_closed: false,
            errors: Vec::new(),
            auto_iq: true,
            roster_reply: "<query xmlns='jabber:iq:roster' ver='v0'/>".to_owned(),
            register_form: EJABBERD_REGISTER_FORM.to_owned(),
            register_error: None,
            password_form: None,
            removal_stream_error: "not-authorized",
            registered: Vec::new(),
            register_silent: false,
            sm: SmServer {
                answer_r: true,
                answer_enable: true,
                ..SmServer::default()
            },
            connections: 1,
        }
    }

    /// A new connection from the same client: the connection's state starts over, the
    /// server's (accounts, stream-management sessions, what was received) stays.
    pub fn reconnected(&mut self) {
        self.reader = StreamReader::new(Limits::default());
        self.tls = false;
        self.authenticated = false;
        self.pending_tls = false;
        self.sasl = None;
        self.plain = false;
        self.held_success = None;
        self.client_closed = false;
        self.out.clear();
        self.sm.enabled = false;
        self.connections += 1;
    }

    pub fn send(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// `<proceed/>` was sent: the next bytes are a TLS handshake.
    pub fn tls_pending(&self) -> bool {
        self.pending_tls
    }

    /// The client started TLS: both sides now speak through the (virtual) TLS layer.
    pub fn start_tls(&mut self) {
        assert!(self.pending_tls, "StartTls without <proceed/>");
        self.pending_tls = false;
        self.tls = true;
        self.reader = StreamReader::new(Limits::default());
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        self.reader.feed(bytes);
        loop {
            match self.reader.next_event() {
                Ok(Some(StreamEvent::Header(_))) => self.on_header(),
                Ok(Some(StreamEvent::Element(el))) => {
                    if self.sm.enabled
                        && el.ns() == "jabber:client"
                        && matches!(el.name(), "message" | "presence" | "iq")
                    {
                        self.sm.received = self.sm.received.wrapping_add(1);
                    }
                    let text = String::from_utf8(
                        el.to_builder().to_bytes("jabber:client").unwrap().to_vec(),
                    )
                    .unwrap();
                    self.received.push(text);
                    self.on_element(el);
                }
                Ok(Some(StreamEvent::End)) => {
                    self.client_closed = true;
                    if self.script.answer_close {
                        self.send("</stream:stream>");
                    }
                }
                Ok(None) => return,
                Err(_) if self.raw.ends_with(b"</stream:stream>") => {
                    // The client closed where a new stream header was due (it gave up
                    // right after a stream restart): a close, not bad XML.
                    self.client_closed = true;
                    if self.script.answer_close {
                        self.send("</stream:stream>");
                    }
                    return;
                }
                Err(e) => {
                    self.errors.push(e.to_string());
                    return;
                }
            }
        }
    }

    fn on_header(&mut self) {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' from='{DOMAIN}' \
             version='1.0' xmlns:stream='http://etherx.jabber.org/streams' id='s{}'>",
            self.received.len()
        ));
        let mut f = String::from("<stream:features>");
        if !self.tls && self.script.starttls {
            f.push_str("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>");
        } else if !self.authenticated {
            f.push_str("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
            for m in &self.script.mechanisms {
                f.push_str(&format!("<mechanism>{m}</mechanism>"));
            }
            f.push_str("</mechanisms>");
            f.push_str("<register xmlns='http://jabber.org/features/iq-register'/>");
            if let Some(types) = &self.script.cb_types {
                f.push_str("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
                for t in types {
                    f.push_str(&format!("<channel-binding type='{t}'/>"));
                }
                f.push_str("</sasl-channel-binding>");
            }
        } else {
            if self.script.offer_bind {
                f.push_str("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>");
            }
            match self.script.session {
                Some(true) => f.push_str(
                    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>",
                ),
                Some(false) => f.push_str("<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>"),
                None => {}
            }
            if self.script.sm {
                f.push_str("<sm xmlns='urn:xmpp:sm:3'/>");
            }
            if self.script.csi {
                f.push_str("<csi xmlns='urn:xmpp:csi:0'/>");
            }
            if self.script.rosterver {
                f.push_str("<ver xmlns='urn:xmpp:features:rosterver'/>");
            }
            if self.script.pre_approval {
                f.push_str("<sub xmlns='urn:xmpp:features:pre-approval'/>");
            }
        }
        f.push_str("</stream:features>");
        self.send(&f);
    }

    fn on_element(&mut self, el: Element) {
        const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
        match (el.ns(), el.name()) {
            ("urn:ietf:params:xml:ns:xmpp-tls", "starttls") if self.script.refuse_tls => {
                self.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>");
            }
            ("urn:ietf:params:xml:ns:xmpp-tls", "starttls") => {
                self.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
                if let Some(extra) = self.script.after_proceed {
                    self.send(extra);
                }
                self.pending_tls = true;
            }
            (SASL, "auth") => {
                let mech = el.attr("mechanism").unwrap_or_default().into_owned();
                let payload = decode(&el.text());
                if mech == "PLAIN" {
                    self.plain = true;
                    let expected = format!("\0{USER}\0{}", self.script.password);
                    if payload == expected.as_bytes() {
                        self.succeed(Vec::new());
                    } else {
                        self.fail("not-authorized");
                    }
                    return;
                }
                let account = Account {
                    password: self.script.password.to_owned(),
                    iterations: self.script.iterations,
                };
                // gs2 flag `y` ("I could bind, you offered no -PLUS") is fine unless we
                // offered -PLUS (then it is a downgrade). The `sasl` server accepts `y` only
                // when configured without binding, so configure it that way for that case.
                let offers_plus = self.script.mechanisms.iter().any(|m| m.ends_with("-PLUS"));
                let cb = if payload.starts_with(b"y,") && !offers_plus {
                    CrateBinding::None
                } else {
                    CrateBinding::TlsUnique(self.script.server_binding.clone())
                };
                let mut m: Box<dyn ServerMechanism> = if mech.starts_with("SCRAM-SHA-1") {
                    Box::new(ServerScram::<Sha1, _>::new(account, cb))
                } else {
                    Box::new(ServerScram::<Sha256, _>::new(account, cb))
                };
                match m.respond(&payload) {
                    Ok(Response::Proceed(first)) => {
                        let first = self.tamper_first(first);
                        self.challenge(&first);
                        self.sasl = Some(m);
                    }
                    _ => self.fail("malformed-request"),
                }
            }
            (SASL, "response") => {
                if let Some(success) = self.held_success.take() {
                    self.succeed_raw(success);
                    return;
                }
                let payload = decode(&el.text());
                let Some(m) = self.sasl.as_mut() else {
                    return self.fail("malformed-request");
                };
                match m.respond(&payload) {
                    Ok(Response::Success(_, fin)) => self.succeed(fin),
                    Ok(Response::Proceed(_)) => self.fail("malformed-request"),
                    Err(_) => self.fail("not-authorized"),
                }
            }
            (SASL, "abort") => self.fail("aborted"),
            ("urn:xmpp:sm:3", _) if self.script.sm => self.on_sm(&el),
            ("jabber:client", "iq") => self.on_iq(&el),
            _ => {}
        }
    }

    fn on_sm(&mut self, el: &Element) {
        match el.name() {
            "enable" if self.sm.answer_enable => {
                self.sm.sessions += 1;
                let id = format!("sm-{}", self.sm.sessions);
                self.sm.id = Some(id.clone());
                self.sm.enabled = true;
                self.sm.received = 0;
                self.send(&format!(
                    "<enabled xmlns='urn:xmpp:sm:3' id='{id}' resume='true' max='300'/>"
                ));
            }
            "r" => {
                self.sm.requests += 1;
                if self.sm.answer_r {
                    let h = self.sm.received;
                    self.send(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
                }
            }
            "a" => {
                let h = el
                    .attr("h")
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(u32::MAX);
                self.sm.acks.push(h);
            }
            "resume" => {
                let previd = el.attr("previd").unwrap_or_default().into_owned();
                let h = el
                    .attr("h")
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(u32::MAX);
                self.sm.resumes.push((previd.clone(), h));
                let known = self.sm.id.as_deref() == Some(previd.as_str());
                if self.script.sm_resume && known {
                    self.sm.enabled = true;
                    let h = self.sm.received;
                    let previd = self.sm.resumed_previd.clone().unwrap_or(previd);
                    self.send(&format!(
                        "<resumed xmlns='urn:xmpp:sm:3' previd='{previd}' h='{h}'/>"
                    ));
                } else {
                    let h = if self.sm.failed_with_h {
                        format!(" h='{}'", self.sm.received)
                    } else {
                        String::new()
                    };
                    self.sm.id = None;
                    self.send(&format!(
                        "<failed xmlns='urn:xmpp:sm:3'{h}><item-not-found \
                         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
                    ));
                }
            }
            _ => {}
        }
    }

    fn tamper_first(&self, first: Vec<u8>) -> Vec<u8> {
        let text = String::from_utf8(first).unwrap();
        let out = match self.script.tamper {
            Tamper::ServerNonce => text.replacen("r=", "r=X", 1),
            Tamper::Iterations(n) => {
                let i = text.find("i=").unwrap();
                format!("{}i={n}", &text[..i])
            }
            _ => text,
        };
        out.into_bytes()
    }

    fn succeed(&mut self, fin: Vec<u8>) {
        let fin = match self.script.tamper {
            _ if self.plain => fin,
            Tamper::Signature => {
                let mut t = String::from_utf8(fin).unwrap();
                let c = if t.ends_with("AAAA") { "BBBB" } else { "AAAA" };
                t.truncate(t.len() - 4);
                t.push_str(c);
                t.into_bytes()
            }
            Tamper::MissingSignature => Vec::new(),
            Tamper::FinalError(e) => format!("e={e}").into_bytes(),
            Tamper::FinalAsChallenge => {
                self.challenge(&fin);
                self.held_success = Some(Vec::new());
                return;
            }
            _ => fin,
        };
        self.succeed_raw(fin);
    }

    fn succeed_raw(&mut self, data: Vec<u8>) {
        let body = if data.is_empty() {
            String::new()
        } else {
            BASE64.encode(&data)
        };
        self.send(&format!(
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{body}</success>"
        ));
        self.authenticated = true;
        self.reader.reset();
    }

    fn challenge(&mut self, data: &[u8]) {
        self.send(&format!(
            "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
            BASE64.encode(data)
        ));
    }

    fn fail(&mut self, condition: &str) {
        self.send(&format!(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/><text xml:lang='en'>nope</text></failure>"
        ));
    }

    fn on_register(&mut self, id: &str, ty: &str, query: xmpp_sansio::xml::ElementRef<'_>) {
        const REG: &str = "jabber:iq:register";
        if self.register_silent {
            return;
        }
        if ty == "get" {
            let form = self.register_form.clone();
            return self.send(&format!(
                "<iq type='result' id='{id}'><query xmlns='{REG}'>{form}</query></iq>"
            ));
        }
        if let Some(condition) = self.register_error {
            return self.send(&format!(
                "<iq type='error' id='{id}'><error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>refused by the script</text></error></iq>"
            ));
        }
        if query.get_child("remove", REG).is_some() {
            let error = self.removal_stream_error;
            return self.send(&format!(
                "<iq type='result' id='{id}'/><stream:error><{error} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
            ));
        }
        // Legacy fields, or the same names in a submitted data form.
        let value = |name: &str| {
            query
                .get_child(name, REG)
                .map(|v| v.text().into_owned())
                .or_else(|| {
                    let x = query.get_child("x", "jabber:x:data")?;
                    let field = x
                        .children()
                        .find(|f| f.attr("var").as_deref() == Some(name))?;
                    Some(
                        field
                            .get_child("value", "jabber:x:data")?
                            .text()
                            .into_owned(),
                    )
                })
        };
        if self.authenticated {
            if let (Some(form), None) = (self.password_form, value("old_password")) {
                return self.send(&format!(
                    "<iq type='error' id='{id}'><query xmlns='{REG}'>{form}</query><error code='401' type='modify'>\
                     <not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                ));
            }
        }
        self.registered.push((
            value("username").unwrap_or_default(),
            value("password").unwrap_or_default(),
        ));
        if self.authenticated {
            // A password change: the next login needs the new one (leaked: a test's lifetime).
            if let Some(new) = value("password") {
                self.script.password = Box::leak(new.into_boxed_str());
            }
        }
        self.send(&format!("<iq type='result' id='{id}'/>"));
    }

    fn on_iq(&mut self, el: &Element) {
        let id = el.attr("id").unwrap_or_default().into_owned();
        let ty = el.attr("type").unwrap_or_default().into_owned();
        if ty != "get" && ty != "set" {
            return;
        }
        if let Some(query) = el.get_child("query", "jabber:iq:register") {
            return self.on_register(&id, &ty, query);
        }
        if let Some(bind) = el.get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind") {
            let resource = bind
                .get_child("resource", "urn:ietf:params:xml:ns:xmpp-bind")
                .map_or_else(|| "generated".to_owned(), |r| r.text().into_owned());
            if let Some(early) = self.script.before_bind_result {
                self.send(early);
            }
            match &self.script.bind {
                BindReply::Ok => self.send(&format!(
                    "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{USER}@{DOMAIN}/{resource}</jid></bind></iq>"
                )),
                BindReply::OtherJid(jid) => self.send(&format!(
                    "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{jid}</jid></bind></iq>"
                )),
                BindReply::Error(cond) => self.send(&format!(
                    "<iq type='error' id='{id}'><error type='cancel'><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                )),
            }
            return;
        }
        if el
            .get_child("session", "urn:ietf:params:xml:ns:xmpp-session")
            .is_some()
        {
            match self.script.session_error {
                Some(cond) => self.send(&format!(
                    "<iq type='error' id='{id}'><error type='auth'><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                )),
                None => self.send(&format!("<iq type='result' id='{id}'/>")),
            }
            return;
        }
        let to_server = el.attr("to").is_none_or(|t| t == DOMAIN);
        if self.auto_iq && to_server && el.get_child("ping", "urn:xmpp:ping").is_some() {
            self.send(&format!("<iq type='result' id='{id}' from='{DOMAIN}'/>"));
        }
        // The server describes itself (Prosody 0.12's answer, tests/fixtures).
        let disco = el.attr("type").as_deref() == Some("get")
            && el
                .get_child("query", "http://jabber.org/protocol/disco#info")
                .is_some_and(|q| q.attr("node").is_none());
        if self.auto_iq && to_server && disco {
            self.send(&format!(
                "<iq from='{DOMAIN}' type='result' id='{id}'>{SERVER_INFO}</iq>"
            ));
        }
        // Our own vCard: none yet, as on a new account (Prosody and ejabberd answer an
        // empty one).
        let vcard_get = el.attr("type").as_deref() == Some("get")
            && el.get_child("vCard", "vcard-temp").is_some();
        if self.auto_iq && el.attr("to").is_none() && vcard_get {
            self.send(&format!(
                "<iq type='result' id='{id}'><vCard xmlns='vcard-temp'/></iq>"
            ));
        }
        // Our PEP publishes (XEP-0163) are taken.
        let publish = el.attr("type").as_deref() == Some("set")
            && el
                .get_child("pubsub", "http://jabber.org/protocol/pubsub")
                .is_some();
        if self.auto_iq && el.attr("to").is_none() && publish {
            self.send(&format!("<iq type='result' id='{id}'/>"));
        }
        // Our own vCard is stored.
        let vcard_set = el.attr("type").as_deref() == Some("set")
            && el.get_child("vCard", "vcard-temp").is_some();
        if self.auto_iq && el.attr("to").is_none() && vcard_set {
            self.send(&format!("<iq type='result' id='{id}'/>"));
        }
        // Carbons are on.
        let carbons = el.attr("type").as_deref() == Some("set")
            && el.get_child("enable", "urn:xmpp:carbons:2").is_some();
        if self.auto_iq && el.attr("to").is_none() && carbons {
            self.send(&format!("<iq type='result' id='{id}'/>"));
        }
        // A roster set is taken and pushed back (RFC 6121 §2.3.2).
        let roster_set = el.attr("type").as_deref() == Some("set")
            && el.get_child("query", "jabber:iq:roster").is_some();
        if self.auto_iq && el.attr("to").is_none() && roster_set {
            let item = el
                .get_child("query", "jabber:iq:roster")
                .and_then(|q| q.get_child("item", "jabber:iq:roster"))
                .map(|i| {
                    String::from_utf8(
                        i.to_builder()
                            .to_bytes("jabber:iq:roster")
                            .unwrap()
                            .to_vec(),
                    )
                    .unwrap()
                })
                .unwrap_or_default();
            self.send(&format!(
                "<iq type='result' id='{id}'/><iq type='set' id='push-{id}'><query xmlns='jabber:iq:roster'>{item}</query></iq>"
            ));
        }
        // An empty roster, as a server gives a new account.
        let roster_get = el.attr("type").as_deref() == Some("get")
            && el.get_child("query", "jabber:iq:roster").is_some();
        if self.auto_iq && el.attr("to").is_none() && roster_get {
            let reply = self.roster_reply.clone();
            self.send(&format!("<iq type='result' id='{id}'>{reply}</iq>"));
        }
    }
}

fn decode(text: &str) -> Vec<u8> {
    let t = text.trim();
    if t.is_empty() || t == "=" {
        Vec::new()
    } else {
        BASE64.decode(t).unwrap()
    }
}

/// What the driver saw, in order (bytes as text).
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Send(String),
    StartTls(String),
    Event(String),
    Close,
    Connect(Option<String>),
}

/// A client and the scripted server on a virtual clock.
pub struct Pair {
    pub client: Client,
    pub server: Server,
    pub now: Instant,
    pub events: Vec<Event>,
    pub seen: Vec<Seen>,
    pub tls_info: TlsInfo,
    pub transport_closed: bool,
    /// Sizes of the reads the client gets (cycled); empty means whole.
    pub chunks: Vec<usize>,
    chunk_i: usize,
    /// Every byte the server delivered to the client.
    pub delivered: Vec<u8>,
    /// Answer [`Action::Connect`] with a new connection to the same server (else leave it
    /// for the test).
    pub auto_connect: bool,
    /// A connection was asked for and not answered yet.
    pub connect_asked: Option<Option<String>>,
}

pub fn config() -> Config {
    let mut c = Config::new(
        format!("{USER}@{DOMAIN}/balcony").parse().unwrap(),
        PASSWORD,
    );
    c.seed = 42;
    // Off unless a test is about it: most tests look at how a session ends.
    c.reconnect = xmpp_sansio::client::ReconnectConfig::disabled();
    c
}

impl Pair {
    pub fn new(config: Config, script: Script) -> Self {
        let now = Instant::now();
        Self {
            client: Client::new(config, now),
            server: Server::new(script),
            now,
            events: Vec::new(),
            seen: Vec::new(),
            tls_info: TlsInfo::new(),
            transport_closed: false,
            chunks: Vec::new(),
            chunk_i: 0,
            delivered: Vec::new(),
            auto_connect: true,
            connect_asked: None,
        }
    }

    /// The client's transport is gone (the test cut it): end of file.
    pub fn cut(&mut self) {
        self.transport_closed = true;
        self.client.handle_eof(self.now);
        self.drive();
    }

    /// Answers the connection the client asked for: the server sees a new connection.
    pub fn connect(&mut self) {
        assert!(
            self.connect_asked.take().is_some(),
            "no connection asked for"
        );
        self.server.reconnected();
        self.transport_closed = false;
        self.client.handle_connected(self.now).unwrap();
        self.drive();
    }

    /// Runs both sides until neither has anything to do.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(action) = self.client.poll_action() {
                progress = true;
                match action {
                    Action::Send(bytes) => {
                        self.seen
                            .push(Seen::Send(String::from_utf8_lossy(&bytes).into_owned()));
                        if !self.transport_closed {
                            self.server.feed(&bytes);
                        }
                    }
                    Action::StartTls { server_name } => {
                        self.seen.push(Seen::StartTls(server_name));
                        self.server.start_tls();
                        let r = self
                            .client
                            .handle_tls_established(self.now, self.tls_info.clone());
                        // Refused only when the client gave up in the meantime.
                        assert!(r.is_ok() || self.client.is_closed(), "{r:?}");
                    }
                    Action::Event(e) => {
                        self.seen.push(Seen::Event(summarize(&e)));
                        self.events.push(e);
                    }
                    Action::Close => {
                        self.seen.push(Seen::Close);
                        self.transport_closed = true;
                    }
                    Action::Connect { to } => {
                        self.seen.push(Seen::Connect(to.clone()));
                        self.connect_asked = Some(to);
                        if self.auto_connect {
                            self.connect_asked = None;
                            self.server.reconnected();
                            self.transport_closed = false;
                            self.client.handle_connected(self.now).unwrap();
                        }
                    }
                }
            }
            if !self.server.out.is_empty() && !self.transport_closed {
                progress = true;
                let out = std::mem::take(&mut self.server.out);
                self.delivered.extend_from_slice(&out);
                if self.chunks.is_empty() {
                    self.client.handle_input(self.now, &out);
                } else {
                    let mut pos = 0;
                    while pos < out.len() {
                        let n =
                            self.chunks[self.chunk_i % self.chunks.len()].clamp(1, out.len() - pos);
                        self.chunk_i += 1;
                        self.client.handle_input(self.now, &out[pos..pos + n]);
                        pos += n;
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("the pair did not settle");
    }

    /// One exchange by hand: the server's pending output goes to the client, then the
    /// client's queued actions go to the server (a `StartTls` is completed only with
    /// `complete_tls`). Returns whether `StartTls` was asked for and whether `<auth` was sent.
    pub fn step(&mut self, complete_tls: bool) -> (bool, bool) {
        let out = std::mem::take(&mut self.server.out);
        if !out.is_empty() {
            self.client.handle_input(self.now, &out);
        }
        let (mut asked_tls, mut sent_auth) = (false, false);
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::Send(b) => {
                    sent_auth |= b.starts_with(b"<auth");
                    self.server.feed(&b);
                }
                Action::StartTls { .. } => {
                    asked_tls = true;
                    if complete_tls {
                        self.server.start_tls();
                        let r = self.client.handle_tls_established(self.now, TlsInfo::new());
                        assert!(r.is_ok(), "{r:?}");
                    }
                }
                _ => {}
            }
        }
        (asked_tls, sent_auth)
    }

    /// Steps until `until` holds for what a step returned; panics after 20 steps.
    pub fn step_until(&mut self, complete_tls: bool, until: impl Fn((bool, bool)) -> bool) {
        for _ in 0..20 {
            if until(self.step(complete_tls)) {
                return;
            }
        }
        panic!("never reached: {:#?}", self.seen);
    }

    /// Creates the pair and drives it to the end of negotiation.
    pub fn online(config: Config, script: Script) -> Self {
        let mut pair = Self::new(config, script);
        pair.drive();
        assert!(pair.client.is_online(), "not online: {:#?}", pair.seen);
        assert!(pair.server.errors.is_empty(), "{:?}", pair.server.errors);
        pair
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.drive();
    }

    /// The server sends `s` to the client now.
    pub fn server_sends(&mut self, s: &str) {
        self.server.send(s);
        self.drive();
    }

    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.events.iter().find_map(|e| match e {
            Event::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        })
    }

    /// `resumed` of every `Reconnected` event so far.
    pub fn reconnections(&self) -> Vec<bool> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Reconnected { resumed, .. } => Some(*resumed),
                _ => None,
            })
            .collect()
    }

    /// Asks `romeo@example.net/orchard` for its software version (a request nobody answers
    /// unless the test does); returns its id.
    pub fn ask_version(&mut self) -> String {
        let romeo = "romeo@example.net/orchard".parse().unwrap();
        let query = xmpp_sansio::xml::Builder::new("query", "jabber:iq:version");
        let kind = xmpp_sansio::client::stanza::IqType::Get;
        self.client
            .send_iq(self.now, Some(&romeo), kind, query)
            .unwrap()
    }

    /// Everything the client sent, concatenated.
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.server.raw).into_owned()
    }

    /// The id of the last IQ the client sent that contains `needle` (`""`: the last IQ).
    pub fn sent_iq_id(&self, needle: &str) -> String {
        let sent = self.sent();
        let iq = sent
            .split("<iq ")
            .skip(1)
            .filter(|iq| iq.contains(needle))
            .last()
            .unwrap_or_else(|| panic!("no IQ with {needle:?} sent: {sent}"));
        let at = if iq.starts_with("id='") {
            4
        } else {
            iq.find(" id='").expect("an IQ without an id") + 5
        };
        let len = iq[at..].find('\'').expect("an unterminated id");
        iq[at..at + len].to_owned()
    }
}

/// An event as text, with what varies between runs (SCRAM nonces) left out.
pub fn summarize(e: &Event) -> String {
    match e {
        Event::Online { jid, .. } => format!("online {jid}"),
        Event::Message(m) => format!(
            "message from {:?} body {:?}",
            m.from.as_ref().map(|j| j.to_string()),
            m.body()
        ),
        Event::Presence(p) => format!(
            "presence from {:?} {:?}",
            p.from.as_ref().map(|j| j.to_string()),
            p.kind
        ),
        Event::IqRequest(iq) => format!("iq request {} {:?}", iq.id, iq.kind),
        Event::IqResponse { id, result } => match result {
            Ok(iq) => format!("iq response {id} {:?}", iq.kind),
            Err(xmpp_sansio::client::IqError::Timeout) => format!("iq timeout {id}"),
            Err(e) => format!("iq failed {id} {e:?}"),
        },
        Event::Nonza(el) => format!("nonza {}", el.name()),
        Event::Disconnected { reason } => format!("disconnected {reason:?}"),
        other => format!("{other:?}"),
    }
}

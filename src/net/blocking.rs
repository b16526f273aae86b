//! The blocking adapter over `std::net` and rustls: a [`Connection`] that sends, waits for
//! responses and reads events on the caller's threads, with no thread of its own.
//!
//! ```no_run
//! use xmpp_sansio::client::{Config, Event};
//! use xmpp_sansio::client::stanza::MessageType;
//! use xmpp_sansio::net::{blocking::Connection, ConnectOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("juliet@example.com".parse()?, "secret");
//! let conn = Connection::connect(config, &ConnectOptions::new())?;
//! // Another thread may send while this one waits for events: clones share the session.
//! let sender = conn.clone();
//! std::thread::spawn(move || {
//!     let romeo = "romeo@example.net".parse().unwrap();
//!     let _ = sender.send_message(&romeo, MessageType::Chat, "hello from another thread");
//! });
//! while let Some(event) = conn.next_event() {
//!     if let Event::Message(m) = event {
//!         println!("{:?}: {:?}", m.from, m.body());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! `Connection` is `Clone`, `Send` and `Sync`; every method takes `&self`. The client and
//! the TLS state sit behind a lock that is never held while waiting for the network: a
//! thread that needs input (for [`Connection::next_event`] or [`Connection::request`])
//! becomes the reader if nobody else is reading, and otherwise waits for the reader to hand
//! over what arrived. Commands never wait for a read. The session closes when the last
//! clone is dropped.
//!
//! DNS SRV lookups run hickory-resolver on a short-lived single-threaded tokio runtime; the
//! session itself uses only `std::net`. So do not call [`Connection::connect`] from inside a
//! tokio runtime (tokio refuses to block there; use the `tokio` adapter). Host names are
//! resolved by the system's `getaddrinfo`, which has no timeout of its own.

mod transport;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rustls::ClientConnection;

use self::transport::{decrypt, handshake, open_socket, resolve, write_tls_all, Opened};
use super::tls::{self, TlsConfigs};
use super::{
    connect_failure, deliver_read, log_session_end, negotiation_outcome, parse_see_other_host,
    report_transport_failure, write_timed_out, ConnectOptions, Endpoint, Error, Failure,
    Negotiation, Probe,
};
use crate::client::avatar::Avatar;
use crate::client::disco::{self, DiscoError, DiscoInfo, DiscoItem};
use crate::client::forms::DataForm;
use crate::client::pep_avatar::AvatarImage;
use crate::client::presence::ResourcePresence;
use crate::client::register::RegistrationForm;
use crate::client::roster::{Roster, RosterItem};
use crate::client::stanza::{Iq, IqType, MessageType, StanzaError};
use crate::client::vcard::{VCard, VCardError};
use crate::client::{later, Action, Client, CommandError, Config, Event, IqError};
use crate::jid::Jid;
use crate::xml::Builder;

/// Bytes asked of the socket per read: one TLS record's worth (a record carries at most
/// 16 KiB of plaintext), held per session for its whole life. Plaintext is handed to the
/// client where rustls holds it, without a second buffer.
const READ_SIZE: usize = 16 * 1024;
/// Events held for the application before reading stops. `next_event` takes from them
/// before it reads, so the bound matters while a request or a close waits: reading goes on
/// (the awaited response may be behind them) up to here.
const MAX_PENDING_EVENTS: usize = 4096;
/// How long one read may block: another thread (a clone, or a borrower of this
/// `Connection`) may have set an earlier deadline meanwhile.
const READ_SLICE: Duration = Duration::from_secs(1);

/// [`Connection::next_event_timeout`] waited the whole time and nothing arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no event arrived in time")]
pub struct Elapsed;

/// A session over a blocking socket; clones share it.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever the state changed in a way a waiting thread may care about.
    changed: Condvar,
    /// The socket's read side: whoever holds it reads, without holding `state`.
    reader: Mutex<Reader>,
    /// The full JID the server bound, once online.
    bound: OnceLock<Jid>,
    /// The configured JID, until then.
    account: Jid,
    /// Entered by every call, so that what is logged says which session it is.
    span: tracing::Span,
}

struct Reader {
    sock: TcpStream,
    buf: Box<[u8]>,
}

/// Everything but the socket's read side.
struct State {
    client: Client,
    /// The write side (a clone of the reader's socket).
    sock: TcpStream,
    /// The TLS session, once there is one.
    tls: Option<ClientConnection>,
    configs: TlsConfigs,
    endpoint: Endpoint,
    /// Events not yet returned by `next_event`.
    events: VecDeque<Event>,
    /// Requests awaited by [`Connection::request`], by id; filled when their outcome comes.
    waiters: HashMap<String, Option<Result<Iq, IqError>>>,
    /// [`Event::Disconnected`] was returned: the session is over.
    ended: bool,
    /// The transport is gone.
    closed: bool,
    /// A thread is reading from the socket (it holds `Shared::reader`).
    reading: bool,
    /// The first transport failure, kept to report it as such while negotiating.
    failure: Option<Error>,
    /// The first bytes the server sent.
    first_bytes: Probe,
    /// Where and how to connect again when the client asks ([`Action::Connect`]).
    options: ConnectOptions,
    /// Transports opened so far: a read from an earlier one is stale.
    generation: u64,
    /// The read side of a new transport, for the next reading thread to take.
    read_side: Option<TcpStream>,
    /// The client asked for a new transport (to this host, if it named one).
    connect_wanted: Option<Option<String>>,
    /// A thread is opening it (without holding the lock).
    connecting: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("jid", self.jid())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, negotiates (STARTTLS or direct TLS, SASL, bind) and returns once online
    /// (so [`Event::Online`] is not delivered: this is it).
    ///
    /// With [`Config::register`](crate::client::Config::register) set, the account is
    /// registered first (XEP-0077) with the configured JID and password; a registration
    /// that asks for more fails with the fields it asks for (use [`Connection::register`]
    /// to fill them).
    pub fn connect(config: Config, options: &ConnectOptions) -> Result<Connection, Error> {
        let (config, mut negotiation) = Negotiation::online(config);
        let shared = negotiate(&config, options, &mut negotiation)?;
        let jid = shared.lock().client.jid().cloned();
        if let Some(jid) = jid {
            let _ = shared.bound.set(jid);
        }
        Ok(Connection {
            shared: Arc::new(shared),
        })
    }

    /// Registers an account (XEP-0077) with the configured JID's localpart and password,
    /// and closes the stream; returns the account's JID. `fill` sees the server's form,
    /// username and password filled in, and fills what else it asks for; if a required
    /// field stays empty, the error lists it.
    pub fn register(
        config: Config,
        options: &ConnectOptions,
        mut fill: impl FnMut(&mut RegistrationForm) + Send,
    ) -> Result<Jid, Error> {
        let (config, mut negotiation) = Negotiation::register(config, &mut fill);
        drop(negotiate(&config, options, &mut negotiation)?);
        Ok(config.jid.bare())
    }

    /// The full JID the server bound at login. A fresh session after a reconnection may
    /// be bound to another resource if the server picked it: [`Event::Reconnected`] says.
    pub fn jid(&self) -> &Jid {
        self.shared.bound.get().unwrap_or(&self.shared.account)
    }

    /// The next event, waiting as long as it takes; `None` once the session is over and
    /// every event was returned (after [`Event::Disconnected`]). So
    /// `while let Some(event) = conn.next_event() { .. }` ends when the session does.
    pub fn next_event(&self) -> Option<Event> {
        self.shared.wait(take_event)
    }

    /// As [`Self::next_event`], but waits at most `timeout` ([`Elapsed`] then); a zero
    /// timeout still reads once what the socket already holds.
    pub fn next_event_timeout(&self, timeout: Duration) -> Result<Option<Event>, Elapsed> {
        let deadline = later(Instant::now(), timeout);
        self.shared
            .wait_until(Some(deadline), take_event)
            .ok_or(Elapsed)
    }

    /// Runs `f` on the client (any command or getter of [`Client`]) and writes what it
    /// queued.
    pub fn call<R>(&self, f: impl FnOnce(&mut Client, Instant) -> R) -> R {
        let _entered = self.shared.span.enter();
        let mut state = self.shared.lock();
        let result = f(&mut state.client, Instant::now());
        state.flush();
        drop(state);
        self.shared.changed.notify_all();
        result
    }

    /// Sends a chat (or other) message with a body; returns its id.
    pub fn send_message(
        &self,
        to: &Jid,
        kind: MessageType,
        body: &str,
    ) -> Result<String, CommandError> {
        self.call(|c, now| c.send_message(now, to, kind, body))
    }

    /// Sends a presence ([`OutgoingPresence`](crate::client::stanza::OutgoingPresence) or
    /// a `<presence/>` built by hand).
    pub fn send_presence(&self, presence: impl Into<Builder>) -> Result<(), CommandError> {
        self.call(|c, now| c.send_presence(now, presence))
    }

    /// Sends an IQ request without waiting; returns its id. Its outcome arrives as
    /// [`Event::IqResponse`]. To wait for it instead, use [`Self::request`].
    pub fn send_iq(
        &self,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> Result<String, CommandError> {
        self.call(|c, now| c.send_iq(now, to, kind, payload))
    }

    /// Sends an IQ request and waits for its response: the `result`, or why there is none
    /// (the peer's error, a timeout after [`Timeouts::iq`](crate::client::Timeouts::iq),
    /// the session ending). Other events that arrive meanwhile stay queued, in order, for
    /// [`Self::next_event`].
    pub fn request(&self, to: Option<&Jid>, kind: IqType, payload: Builder) -> Result<Iq, IqError> {
        self.await_iq(|c, now| c.send_iq(now, to, kind, payload))
    }

    /// Runs `send` (a command that sends an IQ request and returns its id) and waits for the
    /// request's outcome.
    fn await_iq(
        &self,
        send: impl FnOnce(&mut Client, Instant) -> Result<String, CommandError>,
    ) -> Result<Iq, IqError> {
        let id = {
            let mut state = self.shared.lock();
            let id = send(&mut state.client, Instant::now())?;
            state.waiters.insert(id.clone(), None);
            state.flush();
            id
        };
        self.shared.changed.notify_all();
        let outcome = |state: &mut State| {
            let outcome = match state.waiters.get_mut(&id) {
                Some(slot) => slot.take()?,
                None => Err(IqError::Disconnected),
            };
            state.waiters.remove(&id);
            Some(outcome)
        };
        self.shared.wait(outcome)
    }

    /// Adds or changes a roster item and waits for the server's answer (the change itself
    /// arrives as an [`Event::Roster`] push).
    pub fn roster_set(&self, item: RosterItem) -> Result<(), IqError> {
        self.await_iq(|c, now| c.roster_set(now, item)).map(drop)
    }

    /// Removes a contact from the roster and waits for the server's answer.
    pub fn roster_remove(&self, jid: &Jid) -> Result<(), IqError> {
        self.await_iq(|c, now| c.roster_remove(now, jid)).map(drop)
    }

    /// Asks `jid` for a subscription to its presence.
    pub fn subscribe(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.subscribe(now, jid))
    }

    /// Approves `jid`'s subscription request.
    pub fn approve(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.approve(now, jid))
    }

    /// Denies `jid`'s subscription request.
    pub fn deny(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.deny(now, jid))
    }

    /// Stops receiving `jid`'s presence.
    pub fn unsubscribe(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.unsubscribe(now, jid))
    }

    /// Cancels `jid`'s subscription to our presence.
    pub fn cancel(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.cancel(now, jid))
    }

    /// Approves `jid`'s subscription before it asks, where the server offers pre-approval.
    pub fn preapprove(&self, jid: &Jid) -> Result<(), CommandError> {
        self.call(|c, now| c.preapprove(now, jid))
    }

    /// Changes the account's password (XEP-0077); the outcome is an
    /// [`Event::Registration`].
    pub fn change_password(&self, password: &str) -> Result<(), CommandError> {
        self.call(|c, now| c.change_password(now, password))
    }

    /// Submits the form a refused password change came with, filled in.
    pub fn submit_password_form(&self, form: DataForm) -> Result<(), CommandError> {
        self.call(|c, now| c.submit_password_form(now, form))
    }

    /// Removes the account; the session then ends with
    /// [`DisconnectReason::AccountRemoved`](crate::client::DisconnectReason::AccountRemoved).
    pub fn remove_account(&self) -> Result<(), CommandError> {
        self.call(|c, now| c.remove_account(now))
    }

    /// A copy of the roster; `None` when the roster service is off.
    pub fn roster(&self) -> Option<Roster> {
        self.call(|c, _| c.roster().cloned())
    }

    /// The best available resource of `contact` (its presence); `None` when none is
    /// available or the presence service is off.
    pub fn best_presence(&self, contact: &Jid) -> Option<ResourcePresence> {
        self.call(|c, _| c.presences()?.best(contact).cloned())
    }

    /// Asks `to` for its description (XEP-0030), of `node` if given, and waits for it.
    /// `None` asks our own account (its bare JID); the server is its domain JID.
    pub fn disco_info(
        &self,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<DiscoInfo, DiscoError> {
        let iq = self.await_iq(|c, now| c.disco_info(now, to, node))?;
        DiscoInfo::from_iq(&iq)
    }

    /// Asks `to` (`None`: our own account) for its items (XEP-0030), of `node` if given, and
    /// waits for them; more than [`disco::MAX_ITEMS`] is an error.
    pub fn disco_items(
        &self,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<Vec<DiscoItem>, DiscoError> {
        let iq = self.await_iq(|c, now| c.disco_items(now, to, node))?;
        disco::items_from_iq(&iq, disco::MAX_ITEMS)
    }

    /// Whether `jid` supports `feature`: from its caps when they are known, otherwise by
    /// asking it.
    pub fn supports(&self, jid: &Jid, feature: &str) -> Result<bool, DiscoError> {
        if let Some(known) = self.call(|c, _| c.supports(jid, feature)) {
            return Ok(known);
        }
        Ok(self.disco_info(Some(jid), None)?.has_feature(feature))
    }

    /// The capabilities of `jid` (a full JID), once resolved from its presence.
    pub fn caps_of(&self, jid: &Jid) -> Option<Arc<DiscoInfo>> {
        self.call(|c, _| c.caps_of(jid).cloned())
    }

    /// The server's description, fetched once online.
    pub fn server_info(&self) -> Option<Arc<DiscoInfo>> {
        self.call(|c, _| c.server_info().cloned())
    }

    /// Adds a feature to our description, or removes it; our caps follow and are
    /// broadcast again.
    pub fn set_feature(&self, feature: &str, on: bool) -> Result<(), CommandError> {
        self.call(|c, now| c.set_feature(now, feature, on))
    }

    /// Tells the server whether the application is in the foreground (XEP-0352); kept
    /// across reconnections.
    pub fn set_active(&self, active: bool) -> Result<(), CommandError> {
        self.call(|c, now| c.set_active(now, active))
    }

    /// Stanzas sent on the current connection that the server has not acknowledged yet
    /// (XEP-0198).
    pub fn unacknowledged(&self) -> usize {
        self.call(|c, _| c.unacknowledged())
    }

    /// `jid`'s vCard (XEP-0054; `None`: our own), waited for.
    pub fn vcard(&self, jid: Option<&Jid>) -> Result<VCard, VCardError> {
        let iq = self.await_iq(|c, now| c.vcard_get(now, jid))?;
        let max = self.call(|c, _| c.config().avatars.max_photo);
        VCard::from_iq_within(&iq, max)
    }

    /// Replaces our own vCard and waits for the server's answer.
    pub fn set_vcard(&self, vcard: &VCard) -> Result<(), IqError> {
        self.await_iq(|c, now| c.vcard_set(now, vcard)).map(drop)
    }

    /// Sets our avatar (XEP-0153; `None` removes it) and waits for the server's answer; our
    /// presence then carries its hash.
    pub fn set_avatar(&self, photo: Option<(&str, &[u8])>) -> Result<(), IqError> {
        self.await_iq(|c, now| c.set_avatar(now, photo)).map(drop)
    }

    /// Publishes our avatar over PEP (XEP-0084: data, then metadata; `None` disables it)
    /// and waits until both steps are done.
    pub fn publish_avatar(&self, image: Option<AvatarImage<'_>>) -> Result<(), IqError> {
        self.await_iq(|c, now| c.publish_avatar(now, image))
            .map(drop)
    }

    /// `jid`'s avatar (a bare JID), verified, if it announced one we hold.
    pub fn avatar_of(&self, jid: &Jid) -> Option<Avatar> {
        self.call(|c, _| c.avatar_of(jid).cloned())
    }

    /// Answers an [`Event::IqRequest`]: `Ok` with an optional payload, or a stanza error.
    pub fn reply_iq(
        &self,
        request: &Iq,
        reply: Result<Option<Builder>, StanzaError>,
    ) -> Result<(), CommandError> {
        self.call(|c, now| c.reply_iq(now, request, reply))
    }

    /// Sends any element (a stanza the other helpers do not cover, or a nonza).
    pub fn send_element(&self, element: impl Into<Builder>) -> Result<(), CommandError> {
        self.call(|c, now| c.send_element(now, element))
    }

    /// From now on, IQ requests in `namespace` arrive as [`Event::IqRequest`]. (To claim
    /// one from the first stanza on, use
    /// [`Config::handled_iq_namespaces`](crate::client::Config::handled_iq_namespaces).)
    pub fn handle_iq_namespace(&self, namespace: impl Into<String>) -> Result<(), CommandError> {
        self.call(|c, _| {
            if c.is_closed() {
                return Err(CommandError::Disconnected);
            }
            c.handle_iq_namespace(namespace);
            Ok(())
        })
    }

    /// Closes the stream and waits (up to the configured close timeout) until the session
    /// is over. Events that arrive meanwhile stay queued for [`Self::next_event`], which then
    /// ends with [`Event::Disconnected`].
    pub fn close(&self) -> Result<(), CommandError> {
        self.call(|c, now| {
            if c.is_closed() {
                return Err(CommandError::Disconnected);
            }
            c.close(now);
            Ok(())
        })?;
        let closed = |state: &mut State| state.client.is_closed().then_some(());
        self.shared.wait(closed);
        Ok(())
    }
}

fn take_event(state: &mut State) -> Option<Option<Event>> {
    if let Some(event) = state.events.pop_front() {
        state.ended |= matches!(event, Event::Disconnected { .. });
        return Some(Some(event));
    }
    (state.ended || (state.closed && state.client.is_closed())).then_some(None)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a caller's `call` closure leaves the client usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `take` finds what the caller wants (see [`Shared::wait_until`]).
    fn wait<T>(&self, mut take: impl FnMut(&mut State) -> Option<T>) -> T {
        loop {
            // Without a deadline, `wait_until` returns only what `take` found.
            if let Some(found) = self.wait_until(None, &mut take) {
                return found;
            }
        }
    }

    /// Waits until `take` finds what the caller wants, reading from the socket when nobody
    /// else is and running the client's timers; `None` at `deadline`. A read blocks at most
    /// [`READ_SLICE`]: another thread may set an earlier deadline while this one reads.
    fn wait_until<T>(
        &self,
        deadline: Option<Instant>,
        mut take: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let _entered = self.span.enter();
        let mut waited = false;
        let mut state = self.lock();
        loop {
            let full = state.events.len() >= MAX_PENDING_EVENTS;
            if let Some(found) = take(&mut state) {
                if full && state.events.len() < MAX_PENDING_EVENTS {
                    // Room for more: a thread waiting because reading had stopped may read.
                    self.changed.notify_all();
                }
                return Some(found);
            }
            let now = Instant::now();
            if waited && deadline.is_some_and(|d| now >= d) {
                return None;
            }
            if state.client.poll_timeout().is_some_and(|t| now >= t) {
                state.client.handle_timeout(now);
                state.flush();
                self.changed.notify_all();
                continue;
            }
            if !state.connecting {
                if let Some(to) = state.connect_wanted.take() {
                    // Reconnecting: this thread opens the transport, without the lock, so
                    // that other threads' calls go on meanwhile (their stanzas wait in the
                    // client for the new connection).
                    state.connecting = true;
                    let job = Reconnect::new(&state, to);
                    drop(state);
                    let opened = job.open();
                    state = self.lock();
                    state.connecting = false;
                    state.reconnected(opened);
                    state.flush();
                    self.changed.notify_all();
                    waited = true;
                    continue;
                }
            }
            let mut wake = match (deadline, state.client.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if state.may_read() && !state.reading {
                // This thread reads; the others wait for what it hands over.
                state.reading = true;
                let generation = state.generation;
                let new_socket = state.read_side.take();
                drop(state);
                let slice = now + READ_SLICE;
                wake = Some(wake.map_or(slice, |w| w.min(slice)));
                // Nobody else takes `reader` (only the thread that set `reading`), and
                // `state` is taken after it: no lock is held across the read but this one.
                let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(new_socket) = new_socket {
                    reader.sock = new_socket;
                }
                let Reader { sock, buf } = &mut *reader;
                // A zero timeout means "block forever" to std; wait at least 1 ms.
                let timeout = wake.map(|w| {
                    w.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1))
                });
                let read = sock.set_read_timeout(timeout).and_then(|()| sock.read(buf));
                state = self.lock();
                state.reading = false;
                // A read from a transport replaced meanwhile (a reconnection) is stale.
                if state.generation == generation {
                    state.deliver_read(read, buf);
                }
                drop(reader);
                // Under the lock: a thread deciding to wait saw `reading` set and is now
                // waiting, so it hears this.
                self.changed.notify_all();
            } else {
                // Somebody else reads (or nothing may be read now): wait for news.
                let wait = wake.map_or(Duration::from_secs(3600), |w| {
                    w.saturating_duration_since(now)
                });
                state = self
                    .changed
                    .wait_timeout(state, wait.max(Duration::from_millis(1)))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            waited = true;
        }
    }
}

impl State {
    /// Whether reading may go on: the transport is there and the events held are within
    /// bounds (a flood while a request waits cannot grow memory without end).
    fn may_read(&self) -> bool {
        !self.closed && self.events.len() < MAX_PENDING_EVENTS
    }

    /// Hands the outcome of one socket read into `buf` to the client.
    fn deliver_read(&mut self, read: io::Result<usize>, buf: &[u8]) {
        let now = Instant::now();
        match read {
            // The read timeout: the deadline (ours or the caller's) has come.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.client.handle_timeout(now)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(n) if self.tls.is_some() && n > 0 => self.feed_tls(now, &buf[..n]),
            read => {
                if let Ok(n) = &read {
                    self.first_bytes.record(&buf[..*n]);
                }
                if let Some(e) = deliver_read(&mut self.client, now, buf, read) {
                    self.transport_failed(Error::Io(e));
                }
            }
        }
        self.flush();
    }
}

/// What opening a transport for a reconnection needs, taken out of the state so that it
/// runs without the lock.
struct Reconnect {
    domain: String,
    to: Option<String>,
    options: ConnectOptions,
    configs: TlsConfigs,
    deadline: Instant,
}

impl Reconnect {
    fn new(state: &State, to: Option<String>) -> Self {
        let config = state.client.config();
        Self {
            domain: config.jid.domain().to_owned(),
            to,
            options: state.options.clone(),
            configs: state.configs.clone(),
            deadline: later(Instant::now(), config.timeouts.negotiation),
        }
    }

    /// To `to` if the client named a host, else to the configured endpoints (DNS looked up
    /// again); the read side cloned for the reading thread.
    fn open(self) -> Result<(Opened, TcpStream), Error> {
        tracing::debug!(to = ?self.to, "reconnecting");
        let targets = match self.to.as_deref().and_then(parse_see_other_host) {
            Some(endpoint) => vec![endpoint],
            None => resolve(&self.domain, &self.options)?,
        };
        let opened = open_socket(
            &self.domain,
            &targets,
            &self.options,
            &self.configs,
            self.deadline,
        )?;
        let read_side = opened.sock.try_clone()?;
        Ok((opened, read_side))
    }
}

impl Drop for Shared {
    /// The last clone is gone: close the stream, without waiting for the server.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if !state.client.is_closed() {
            state.client.close(Instant::now());
            state.flush();
            state.shutdown();
        }
    }
}

impl State {
    /// Carries out what the client asked, in order.
    fn flush(&mut self) {
        while let Some(action) = self.client.poll_action() {
            match action {
                // After a failed write the rest is not attempted (each could wait the whole
                // write timeout again).
                Action::Send(_) if self.closed => {}
                Action::Send(bytes) => {
                    let written = match &mut self.tls {
                        Some(tls) => write_tls_all(tls, &mut self.sock, &bytes),
                        None => self.sock.write_all(&bytes),
                    };
                    if let Err(e) = written {
                        // The socket's write timeout reads as WouldBlock on Unix.
                        let e = match e.kind() {
                            io::ErrorKind::WouldBlock => write_timed_out(),
                            _ => e,
                        };
                        self.transport_failed(Error::Io(e));
                    }
                }
                Action::StartTls { server_name } => self.start_tls(&server_name),
                // Connected by the thread driving the client, without the lock.
                Action::Connect { to } => self.connect_wanted = Some(to),
                Action::Event(event) => self.deliver(event),
                Action::Close => self.shutdown(),
            }
        }
    }

    /// An event for the caller awaiting it, or for the application.
    fn deliver(&mut self, event: Event) {
        match event {
            Event::IqResponse { id, result } => match self.waiters.get_mut(&id) {
                Some(slot) => *slot = Some(result),
                None => self.events.push_back(Event::IqResponse { id, result }),
            },
            Event::Disconnected { reason } => {
                log_session_end(&reason);
                self.events.push_back(Event::Disconnected { reason });
            }
            event => self.events.push_back(event),
        }
    }

    fn shutdown(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        // Best effort: the peer may be gone already.
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            let _ = write_tls_all(tls, &mut self.sock, &[]);
        }
        let _ = self.sock.shutdown(Shutdown::Both);
    }

    fn start_tls(&mut self, server_name: &str) {
        if self.tls.is_some() || self.closed {
            let e = io::Error::other("StartTls on a transport that is not plain TCP");
            return self.transport_failed(tls::handshake_error(server_name, &self.endpoint, e));
        }
        let deadline = self
            .client
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        let config = self.configs.starttls.clone();
        match handshake(
            &config,
            server_name,
            &self.endpoint,
            &mut self.sock,
            deadline,
        ) {
            Ok((conn, info)) => {
                self.tls = Some(conn);
                // Refused only if the client is no longer waiting for TLS: nothing to do.
                let _ = self.client.handle_tls_established(Instant::now(), info);
            }
            Err(e) => self.transport_failed(e),
        }
    }

    /// Takes over the new transport opened for the client ([`Action::Connect`]), or tells
    /// it why there is none. A transport nobody waits for any more (the session was closed
    /// meanwhile) is shut.
    fn reconnected(&mut self, opened: Result<(Opened, TcpStream), Error>) {
        let now = Instant::now();
        let (opened, read_side) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                // Refused only if the client no longer waits for it.
                let _ = self.client.handle_connect_failed(now, connect_failure(&e));
                return;
            }
        };
        let (tls, accepted) = match opened.tls {
            Some((conn, info)) => (Some(conn), self.client.handle_connected_over_tls(now, info)),
            None => (None, self.client.handle_connected(now)),
        };
        if accepted.is_err() {
            let _ = opened.sock.shutdown(Shutdown::Both);
            return;
        }
        self.generation += 1;
        self.sock = opened.sock;
        self.tls = tls;
        self.read_side = Some(read_side);
        self.endpoint = opened.endpoint;
        self.closed = false;
        self.first_bytes = Probe::default();
    }

    /// Decrypts what arrived and hands the plaintext to the client.
    fn feed_tls(&mut self, now: Instant, raw: &[u8]) {
        let State {
            tls, sock, client, ..
        } = self;
        let Some(tls) = tls else { return };
        if let Err(e) = decrypt(tls, sock, client, now, raw) {
            self.transport_failed(Error::Io(e));
        }
    }

    /// Ends the session on a transport failure; while negotiating, the failure is what
    /// `connect` reports (unless the session had already ended for a reason of its own).
    /// The transport is dropped without a goodbye: writing one to a peer that stopped
    /// reading could wait the whole write timeout again.
    fn transport_failed(&mut self, error: Error) {
        if !self.closed {
            self.closed = true;
            let _ = self.sock.shutdown(Shutdown::Both);
        }
        if !self.client.is_closed() {
            report_transport_failure(&mut self.client, Instant::now(), &error);
            self.failure.get_or_insert(error);
        }
    }
}

/// Connects to the first endpoint that answers (and, for direct TLS, completes the
/// handshake) and prepares the client for it.
fn open(
    config: &Config,
    targets: &[Endpoint],
    options: &ConnectOptions,
    configs: &TlsConfigs,
) -> Result<Shared, Error> {
    let deadline = later(Instant::now(), config.timeouts.negotiation);
    let Opened {
        sock,
        endpoint,
        tls,
    } = open_socket(config.jid.domain(), targets, options, configs, deadline)?;
    let read_side = sock.try_clone().map_err(|e| Error::Connect {
        endpoint: endpoint.to_string(),
        source: e,
    })?;
    let (tls, client) = match tls {
        Some((conn, info)) => (
            Some(conn),
            Client::new_over_tls(config.clone(), Instant::now(), info),
        ),
        None => (None, Client::new(config.clone(), Instant::now())),
    };
    let state = State {
        client,
        sock,
        tls,
        configs: configs.clone(),
        endpoint,
        events: VecDeque::new(),
        waiters: HashMap::new(),
        ended: false,
        closed: false,
        reading: false,
        failure: None,
        first_bytes: Probe::default(),
        options: options.clone(),
        generation: 0,
        read_side: None,
        connect_wanted: None,
        connecting: false,
    };
    Ok(Shared {
        state: Mutex::new(state),
        changed: Condvar::new(),
        reader: Mutex::new(Reader {
            sock: read_side,
            buf: vec![0; READ_SIZE].into_boxed_slice(),
        }),
        bound: OnceLock::new(),
        account: config.jid.clone(),
        span: tracing::info_span!("xmpp", jid = %config.jid),
    })
}

/// Drives the client until it is online (returning the bound JID) or has failed.
/// Connects and negotiates for `negotiation`'s goal, following redirects.
fn negotiate(
    config: &Config,
    options: &ConnectOptions,
    negotiation: &mut Negotiation<'_>,
) -> Result<Shared, Error> {
    let configs = TlsConfigs::for_session(&options.trust)?;
    let mut targets = resolve(config.jid.domain(), options)?;
    let mut redirects = 0;
    loop {
        let shared = open(config, &targets, options, &configs)?;
        match negotiate_on(&shared, negotiation) {
            Ok(()) => return Ok(shared),
            Err(failure) => targets = failure.next_targets(&mut redirects, options)?,
        }
    }
}

/// Drives one connection's client until negotiation reached its goal or failed.
fn negotiate_on(shared: &Shared, negotiation: &mut Negotiation<'_>) -> Result<(), Failure> {
    let settled = |state: &mut State| {
        state.flush();
        negotiation.on_events(&mut state.client, &mut state.events);
        state.flush();
        let State {
            client,
            failure,
            endpoint,
            first_bytes,
            ..
        } = state;
        negotiation_outcome(client, negotiation, failure, endpoint, first_bytes)
    };
    shared.wait(settled)
}

//! The tokio adapter: [`connect`] negotiates, then a task drives the [`Client`]; the
//! application keeps a [`Handle`] (commands, awaited requests) and [`Events`] (what arrives,
//! also a [`futures_core::Stream`]).
//!
//! ```no_run
//! use xmpp_sansio::client::{Config, Event};
//! use xmpp_sansio::client::stanza::{IqType, MessageType};
//! use xmpp_sansio::net::{tokio::connect, ConnectOptions};
//! use xmpp_sansio::{ns, xml::Builder};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("juliet@example.com".parse()?, "secret");
//! let (handle, mut events) = connect(config, &ConnectOptions::new()).await?;
//! // A request is awaited; its response does not come through `events`. (The roster needs
//! // none: the client fetches it once online, and `handle.roster()` reads it.)
//! let info = handle.request(None, IqType::Get, Builder::new("query", ns::DISCO_INFO)).await?;
//! println!("{} server features", info.payload().map_or(0, |q| q.children().count()));
//! handle.send_message(&"romeo@example.net".parse()?, MessageType::Chat, "hi").await?;
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Message(m) => println!("{:?}: {:?}", m.from, m.body()),
//!         Event::Disconnected { reason } => println!("over: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Both [`Events::next`] and the [`Handle`] methods are cancel-safe: the socket is written
//! only by the driver task, never inside the caller's future, so dropping a future in a
//! `select!` loses nothing (a command already handed over still runs; the response to a
//! dropped [`Handle::request`] is discarded).

mod transport;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::sync::{mpsc, oneshot};
use ::tokio::time::{sleep_until, timeout, timeout_at};
use tracing::Instrument;

use self::transport::{
    handshake, open_transport, opened, reconnect, with_read_bytes, Connecting, Opened, Transport,
};
use super::tls::{self, TlsConfigs};
use super::{
    connect_failure, deliver_read, endpoints, log_session_end, negotiation_outcome,
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

/// Events the driver holds for the application before it stops reading the socket.
const MAX_PENDING_EVENTS: usize = 256;
/// While a request awaits its response, reading goes on up to this many held events.
const MAX_EVENTS_WHILE_AWAITING: usize = 4096;

/// A closure run on the client by the driver task.
type Call = Box<dyn FnOnce(&mut Client, Instant) + Send>;
/// A command that sends an IQ request and returns its id.
type SendRequest = Box<dyn FnOnce(&mut Client, Instant) -> Result<String, CommandError> + Send>;

/// What a [`Handle`] asks of the driver task.
enum Command {
    /// Run this on the client.
    Call(Call),
    /// Run `send` (which sends an IQ request and returns its id) and hand the request's
    /// outcome to `reply`.
    Await {
        send: SendRequest,
        reply: oneshot::Sender<Result<Iq, IqError>>,
    },
    /// Close the stream; `done` fires once the session is over.
    Close(oneshot::Sender<()>),
}

/// Connects, negotiates (STARTTLS or direct TLS, SASL, bind) and starts the driver task.
/// Returns once online (so [`Event::Online`] is not delivered: this is it).
///
/// With [`Config::register`](crate::client::Config::register) set, the account is
/// registered first (XEP-0077) with the configured JID and password; a registration that
/// asks for more fails with the fields it asks for (use [`register`] to fill them).
pub async fn connect(config: Config, options: &ConnectOptions) -> Result<(Handle, Events), Error> {
    let (config, mut negotiation) = Negotiation::online(config);
    let driver = negotiate(&config, options, &mut negotiation).await?;
    Ok(driver.spawn())
}

/// Registers an account (XEP-0077) with the configured JID's localpart and password, and
/// closes the stream; returns the account's JID. `fill` sees the server's form, username and
/// password filled in, and fills what else it asks for (an email, a CAPTCHA's answer); if a
/// required field stays empty, the error lists it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use xmpp_sansio::client::Config;
/// use xmpp_sansio::net::{tokio::register, ConnectOptions, Error};
///
/// let config = Config::new("juliet@example.com".parse()?, "secret");
/// match register(config, &ConnectOptions::new(), |form| form.fill("email", "j@example.org")).await {
///     Ok(jid) => println!("{jid} registered"),
///     Err(Error::Registration(why)) => println!("not registered: {why}"),
///     Err(other) => return Err(other.into()),
/// }
/// # Ok(()) }
/// ```
pub async fn register(
    config: Config,
    options: &ConnectOptions,
    mut fill: impl FnMut(&mut RegistrationForm) + Send,
) -> Result<Jid, Error> {
    let (config, mut negotiation) = Negotiation::register(config, &mut fill);
    negotiate(&config, options, &mut negotiation).await?;
    Ok(config.jid.bare())
}

/// Connects and negotiates for `negotiation`'s goal, following redirects.
async fn negotiate(
    config: &Config,
    options: &ConnectOptions,
    negotiation: &mut Negotiation<'_>,
) -> Result<Driver, Error> {
    let tls = TlsConfigs::for_session(&options.trust)?;
    let domain = config.jid.domain().to_owned();
    let mut targets = endpoints(&domain, options).await?;
    let mut redirects = 0;
    loop {
        let mut driver = Driver::connect(config, &targets, options, &tls).await?;
        match driver.negotiate(negotiation).await {
            Ok(()) => return Ok(driver),
            Err(failure) => targets = failure.next_targets(&mut redirects, options)?,
        }
    }
}

/// Commands for the session. Cheap to clone; when every handle is dropped the session is
/// closed. The methods are those of [`Client`], without `now`; see the
/// [table](super#one-command-set).
#[derive(Clone, Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    jid: Jid,
}

impl Handle {
    /// The full JID the server bound at login. A fresh session after a reconnection may
    /// be bound to another resource if the server picked it: [`Event::Reconnected`] says.
    pub fn jid(&self) -> &Jid {
        &self.jid
    }

    /// Runs `f` on the client inside the driver task (any command or getter of [`Client`]),
    /// and returns its result once done; what it queued is written right after.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client, Instant) -> R + Send + 'static,
    ) -> Result<R, CommandError> {
        let (tx, rx) = oneshot::channel();
        let command = Command::Call(Box::new(move |client, now| {
            // A panic in `f` is the caller's: it resumes there, and the driver goes on.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(|| f(client, now))));
        }));
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Disconnected)?;
        match rx.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(CommandError::Disconnected),
        }
    }

    /// Sends a chat (or other) message with a body; returns its id.
    pub async fn send_message(
        &self,
        to: &Jid,
        kind: MessageType,
        body: &str,
    ) -> Result<String, CommandError> {
        let (to, body) = (to.clone(), body.to_owned());
        self.call(move |c, now| c.send_message(now, &to, kind, &body))
            .await?
    }

    /// Sends a presence ([`OutgoingPresence`](crate::client::stanza::OutgoingPresence) or
    /// a `<presence/>` built by hand).
    pub async fn send_presence(&self, presence: impl Into<Builder>) -> Result<(), CommandError> {
        let presence = presence.into();
        self.call(move |c, now| c.send_presence(now, presence))
            .await?
    }

    /// Sends an IQ request without waiting; returns its id. Its outcome arrives as
    /// [`Event::IqResponse`]. To wait for it instead, use [`Self::request`].
    pub async fn send_iq(
        &self,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> Result<String, CommandError> {
        let to = to.cloned();
        self.call(move |c, now| c.send_iq(now, to.as_ref(), kind, payload))
            .await?
    }

    /// Sends an IQ request and waits for its response: the `result`, or why there is none
    /// (the peer's error, a timeout after [`Timeouts::iq`](crate::client::Timeouts::iq),
    /// the session ending). The response does not appear in [`Events`]. The future borrows
    /// nothing (it can be spawned or kept); dropping it is safe: the response is then
    /// discarded.
    pub fn request(
        &self,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> impl Future<Output = Result<Iq, IqError>> + Send + 'static {
        let to = to.cloned();
        self.await_iq(move |c, now| c.send_iq(now, to.as_ref(), kind, payload))
    }

    /// Runs `send` (a command that sends an IQ request and returns its id) in the driver
    /// task and waits for the request's outcome.
    fn await_iq(
        &self,
        send: impl FnOnce(&mut Client, Instant) -> Result<String, CommandError> + Send + 'static,
    ) -> impl Future<Output = Result<Iq, IqError>> + Send + 'static {
        let commands = self.commands.clone();
        async move {
            let (reply, rx) = oneshot::channel();
            let command = Command::Await {
                send: Box::new(send),
                reply,
            };
            commands
                .send(command)
                .await
                .map_err(|_| IqError::Disconnected)?;
            rx.await.unwrap_or(Err(IqError::Disconnected))
        }
    }

    /// Adds or changes a roster item and waits for the server's answer (the change itself
    /// arrives as an [`Event::Roster`] push).
    pub async fn roster_set(&self, item: RosterItem) -> Result<(), IqError> {
        self.await_iq(move |c, now| c.roster_set(now, item))
            .await
            .map(drop)
    }

    /// Removes a contact from the roster and waits for the server's answer.
    pub async fn roster_remove(&self, jid: &Jid) -> Result<(), IqError> {
        let jid = jid.clone();
        self.await_iq(move |c, now| c.roster_remove(now, &jid))
            .await
            .map(drop)
    }

    /// Asks `jid` for a subscription to its presence.
    pub async fn subscribe(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.subscribe(now, &jid)).await?
    }

    /// Approves `jid`'s subscription request.
    pub async fn approve(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.approve(now, &jid)).await?
    }

    /// Denies `jid`'s subscription request.
    pub async fn deny(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.deny(now, &jid)).await?
    }

    /// Stops receiving `jid`'s presence.
    pub async fn unsubscribe(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.unsubscribe(now, &jid)).await?
    }

    /// Cancels `jid`'s subscription to our presence.
    pub async fn cancel(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.cancel(now, &jid)).await?
    }

    /// Approves `jid`'s subscription before it asks, where the server offers pre-approval.
    pub async fn preapprove(&self, jid: &Jid) -> Result<(), CommandError> {
        let jid = jid.clone();
        self.call(move |c, now| c.preapprove(now, &jid)).await?
    }

    /// Changes the account's password (XEP-0077); the outcome is an
    /// [`Event::Registration`].
    pub async fn change_password(&self, password: &str) -> Result<(), CommandError> {
        let password = password.to_owned();
        self.call(move |c, now| c.change_password(now, &password))
            .await?
    }

    /// Submits the form a refused password change came with, filled in.
    pub async fn submit_password_form(&self, form: DataForm) -> Result<(), CommandError> {
        self.call(move |c, now| c.submit_password_form(now, form))
            .await?
    }

    /// Removes the account; the session then ends with
    /// [`DisconnectReason::AccountRemoved`](crate::client::DisconnectReason::AccountRemoved).
    pub async fn remove_account(&self) -> Result<(), CommandError> {
        self.call(|c, now| c.remove_account(now)).await?
    }

    /// A copy of the roster; `None` when the roster service is off or the session is over.
    pub async fn roster(&self) -> Option<Roster> {
        self.call(|c, _| c.roster().cloned()).await.ok().flatten()
    }

    /// The best available resource of `contact` (its presence); `None` when none is
    /// available, the presence service is off, or the session is over.
    pub async fn best_presence(&self, contact: &Jid) -> Option<ResourcePresence> {
        let contact = contact.clone();
        self.call(move |c, _| c.presences()?.best(&contact).cloned())
            .await
            .ok()
            .flatten()
    }

    /// Asks `to` for its description (XEP-0030), of `node` if given, and waits for it.
    /// `None` asks our own account (its bare JID); the server is its domain JID.
    pub async fn disco_info(
        &self,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<DiscoInfo, DiscoError> {
        let (to, node) = (to.cloned(), node.map(str::to_owned));
        let iq = self
            .await_iq(move |c, now| c.disco_info(now, to.as_ref(), node.as_deref()))
            .await?;
        DiscoInfo::from_iq(&iq)
    }

    /// Asks `to` (`None`: our own account) for its items (XEP-0030), of `node` if given, and
    /// waits for them; more than [`disco::MAX_ITEMS`] is an error.
    pub async fn disco_items(
        &self,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<Vec<DiscoItem>, DiscoError> {
        let (to, node) = (to.cloned(), node.map(str::to_owned));
        let iq = self
            .await_iq(move |c, now| c.disco_items(now, to.as_ref(), node.as_deref()))
            .await?;
        disco::items_from_iq(&iq, disco::MAX_ITEMS)
    }

    /// Whether `jid` supports `feature`: from its caps when they are known, otherwise by
    /// asking it.
    pub async fn supports(&self, jid: &Jid, feature: &str) -> Result<bool, DiscoError> {
        let (who, what) = (jid.clone(), feature.to_owned());
        let known = self.call(move |c, _| c.supports(&who, &what)).await;
        if let Some(known) = known.map_err(IqError::from)? {
            return Ok(known);
        }
        Ok(self.disco_info(Some(jid), None).await?.has_feature(feature))
    }

    /// The capabilities of `jid` (a full JID), once resolved from its presence.
    pub async fn caps_of(&self, jid: &Jid) -> Option<Arc<DiscoInfo>> {
        let jid = jid.clone();
        self.call(move |c, _| c.caps_of(&jid).cloned())
            .await
            .ok()
            .flatten()
    }

    /// The server's description, fetched once online.
    pub async fn server_info(&self) -> Option<Arc<DiscoInfo>> {
        self.call(|c, _| c.server_info().cloned())
            .await
            .ok()
            .flatten()
    }

    /// Adds a feature to our description, or removes it; our caps follow and are
    /// broadcast again.
    pub async fn set_feature(&self, feature: &str, on: bool) -> Result<(), CommandError> {
        let feature = feature.to_owned();
        self.call(move |c, now| c.set_feature(now, &feature, on))
            .await?
    }

    /// Tells the server whether the application is in the foreground (XEP-0352); kept
    /// across reconnections.
    pub async fn set_active(&self, active: bool) -> Result<(), CommandError> {
        self.call(move |c, now| c.set_active(now, active)).await?
    }

    /// Stanzas sent on the current connection that the server has not acknowledged yet
    /// (XEP-0198).
    pub async fn unacknowledged(&self) -> Result<usize, CommandError> {
        self.call(|c, _| c.unacknowledged()).await
    }

    /// `jid`'s vCard (XEP-0054; `None`: our own), waited for.
    pub async fn vcard(&self, jid: Option<&Jid>) -> Result<VCard, VCardError> {
        let jid = jid.cloned();
        let iq = self
            .await_iq(move |c, now| c.vcard_get(now, jid.as_ref()))
            .await?;
        let max = self
            .call(|c, _| c.config().avatars.max_photo)
            .await
            .unwrap_or(crate::client::vcard::DEFAULT_MAX_PHOTO);
        VCard::from_iq_within(&iq, max)
    }

    /// Replaces our own vCard and waits for the server's answer.
    pub async fn set_vcard(&self, vcard: &VCard) -> Result<(), IqError> {
        let vcard = vcard.clone();
        self.await_iq(move |c, now| c.vcard_set(now, &vcard))
            .await
            .map(drop)
    }

    /// Sets our avatar (XEP-0153; `None` removes it) and waits for the server's answer; our
    /// presence then carries its hash.
    pub async fn set_avatar(&self, photo: Option<(&str, &[u8])>) -> Result<(), IqError> {
        let photo = photo.map(|(mime, data)| (mime.to_owned(), data.to_vec()));
        self.await_iq(move |c, now| {
            let photo = photo.as_ref().map(|(m, d)| (m.as_str(), d.as_slice()));
            c.set_avatar(now, photo)
        })
        .await
        .map(drop)
    }

    /// Publishes our avatar over PEP (XEP-0084: data, then metadata; `None` disables it)
    /// and waits until both steps are done.
    pub async fn publish_avatar(&self, image: Option<AvatarImage<'_>>) -> Result<(), IqError> {
        let image = image.map(|i| (i.mime.to_owned(), i.data.to_vec(), i.size));
        self.await_iq(move |c, now| {
            let image = image.as_ref().map(|(mime, data, size)| AvatarImage {
                size: *size,
                ..AvatarImage::new(mime, data)
            });
            c.publish_avatar(now, image)
        })
        .await
        .map(drop)
    }

    /// `jid`'s avatar (a bare JID), verified, if it announced one we hold.
    pub async fn avatar_of(&self, jid: &Jid) -> Option<Avatar> {
        let jid = jid.clone();
        self.call(move |c, _| c.avatar_of(&jid).cloned())
            .await
            .ok()
            .flatten()
    }

    /// Answers an [`Event::IqRequest`]: `Ok` with an optional payload, or a stanza error.
    pub async fn reply_iq(
        &self,
        request: &Iq,
        reply: Result<Option<Builder>, StanzaError>,
    ) -> Result<(), CommandError> {
        let request = request.clone();
        self.call(move |c, now| c.reply_iq(now, &request, reply))
            .await?
    }

    /// Sends any element (a stanza the other helpers do not cover, or a nonza).
    pub async fn send_element(&self, element: impl Into<Builder>) -> Result<(), CommandError> {
        let element = element.into();
        self.call(move |c, now| c.send_element(now, element))
            .await?
    }

    /// From now on, IQ requests in `namespace` arrive as [`Event::IqRequest`]. (To claim
    /// one from the first stanza on, use
    /// [`Config::handled_iq_namespaces`](crate::client::Config::handled_iq_namespaces).)
    pub async fn handle_iq_namespace(
        &self,
        namespace: impl Into<String>,
    ) -> Result<(), CommandError> {
        let namespace = namespace.into();
        self.call(move |c, _| c.handle_iq_namespace(namespace))
            .await
    }

    /// Closes the stream and waits until the session is over (the server closed its side,
    /// or the close timeout passed). [`Events`] then ends after [`Event::Disconnected`].
    pub async fn close(&self) -> Result<(), CommandError> {
        let (done, rx) = oneshot::channel();
        self.commands
            .send(Command::Close(done))
            .await
            .map_err(|_| CommandError::Disconnected)?;
        // The driver drops `done` when it ends: either way the session is over.
        let _ = rx.await;
        Ok(())
    }
}

/// What arrives, in order; ends after [`Event::Disconnected`]. Also a
/// [`futures_core::Stream`], for `StreamExt` combinators and merging.
#[derive(Debug)]
pub struct Events {
    /// Boxed in the channel: its blocks hold 32 slots each, and two blocks of 216-byte
    /// events would be 14 KiB a session holds even at rest.
    events: mpsc::Receiver<Box<Event>>,
}

impl Events {
    /// The next event, or `None` once the session is over and every event was delivered.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await.map(|event| *event)
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events
            .poll_recv(cx)
            .map(|event| event.map(|event| *event))
    }
}

struct Driver {
    /// Boxed: the session's task holds the driver twice over (the argument and the running
    /// state of `run`), which would be two copies of the client's 4 KiB.
    client: Box<Client>,
    transport: Transport,
    tls: TlsConfigs,
    endpoint: Endpoint,
    /// Events not yet handed to the application.
    events: VecDeque<Event>,
    /// Callers of [`Handle::request`], by request id.
    waiters: HashMap<String, oneshot::Sender<Result<Iq, IqError>>>,
    /// Callers of [`Handle::close`].
    closing: Vec<oneshot::Sender<()>>,
    /// The first transport failure, kept to report it as such while negotiating.
    failure: Option<Error>,
    /// What the first bytes from the server looked like, once negotiation failed.
    first_bytes: Probe,
    write_timeout: std::time::Duration,
    /// Where and how to connect again when the client asks ([`Action::Connect`]).
    options: ConnectOptions,
    /// A new transport on its way.
    connecting: Option<Connecting>,
}

impl Driver {
    /// Tries the endpoints in order; the first that connects (and, for direct TLS,
    /// completes the handshake) gets the client.
    async fn connect(
        config: &Config,
        targets: &[Endpoint],
        options: &ConnectOptions,
        tls: &TlsConfigs,
    ) -> Result<Driver, Error> {
        let deadline = later(Instant::now(), config.timeouts.negotiation);
        let opened = open_transport(config.jid.domain(), targets, options, tls, deadline).await?;
        let Opened {
            transport,
            endpoint,
            tls_info,
        } = opened;
        let client = match tls_info {
            Some(info) => Client::new_over_tls(config.clone(), Instant::now(), info),
            None => Client::new(config.clone(), Instant::now()),
        };
        let client = Box::new(client);
        Ok(Driver {
            client,
            transport,
            tls: tls.clone(),
            endpoint,
            events: VecDeque::new(),
            waiters: HashMap::new(),
            closing: Vec::new(),
            failure: None,
            first_bytes: Probe::default(),
            write_timeout: options.write_timeout,
            options: options.clone(),
            connecting: None,
        })
    }

    /// Drives the client until it is online or has failed.
    async fn negotiate(&mut self, negotiation: &mut Negotiation<'_>) -> Result<(), Failure> {
        loop {
            self.flush().await;
            negotiation.on_events(&mut self.client, &mut self.events);
            self.flush().await;
            if let Some(outcome) = negotiation_outcome(
                &self.client,
                negotiation,
                &mut self.failure,
                &self.endpoint,
                &self.first_bytes,
            ) {
                return outcome;
            }
            let deadline = self.client.poll_timeout();
            let read = self.transport.read();
            let result = match deadline {
                Some(d) => timeout_at(d.into(), read).await.ok(),
                None => Some(read.await),
            };
            // Before the client acts on it (closing drops the socket and what it saw).
            if let Some(probe) = self.transport.probe() {
                self.first_bytes = probe.clone();
            }
            let now = Instant::now();
            match result {
                Some(read) => self.on_read(now, read),
                None => self.client.handle_timeout(now),
            }
        }
    }

    fn spawn(self) -> (Handle, Events) {
        let (command_tx, command_rx) = mpsc::channel(64);
        let (event_tx, event_rx) = mpsc::channel(64);
        let jid = self
            .client
            .jid()
            .cloned()
            .expect("online clients have a JID");
        let span = tracing::info_span!("xmpp", jid = %jid);
        ::tokio::spawn(self.run(command_rx, event_tx).instrument(span));
        let handle = Handle {
            commands: command_tx,
            jid,
        };
        (handle, Events { events: event_rx })
    }

    /// The session loop. Writes happen only here, outside `select!`, so no write is ever
    /// cancelled half-way.
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Box<Event>>,
    ) {
        let mut commands_open = true;
        loop {
            self.flush().await;
            if events.is_closed() {
                // Nobody listens: drop what arrives; close once the handles are gone too.
                self.events.clear();
                if !commands_open {
                    self.client.close(Instant::now());
                    self.flush().await;
                }
            }
            if self.client.is_closed() {
                // No transport is wanted any more, however the session ended.
                self.connecting = None;
                for done in self.closing.drain(..) {
                    let _ = done.send(());
                }
                if self.events.is_empty() {
                    return;
                }
            }
            let deadline = self.client.poll_timeout();
            // An awaited response may be behind the events nobody takes yet: read on, up to
            // a hard bound.
            let room = self.events.len() < MAX_PENDING_EVENTS
                || (!self.waiters.is_empty() && self.events.len() < MAX_EVENTS_WHILE_AWAITING);
            let connected = !matches!(self.transport, Transport::Gone);
            let reading = !self.client.is_closed() && room && connected;
            let sleep = sleep_until(deadline.map_or_else(far_future, Into::into));
            ::tokio::select! {
                permit = events.reserve(), if !self.events.is_empty() => {
                    if let (Ok(permit), Some(event)) = (permit, self.events.pop_front()) {
                        permit.send(Box::new(event));
                    }
                    if self.events.is_empty() && self.events.capacity() > 4 {
                        // Let go of a burst's queue at rest (a small one is kept, so that
                        // events one at a time cost no allocation for it).
                        self.events = VecDeque::new();
                    }
                }
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.run_command(command),
                    None => {
                        commands_open = false;
                        self.client.close(Instant::now());
                    }
                },
                read = self.transport.read(), if reading => {
                    self.on_read(Instant::now(), read);
                }
                () = sleep, if deadline.is_some() && !self.client.is_closed() => {
                    self.client.handle_timeout(Instant::now());
                }
                result = opened(&mut self.connecting), if self.connecting.is_some() => {
                    self.connecting = None;
                    self.on_reconnected(result);
                }
            }
        }
    }

    /// The client asked for a new transport ([`Action::Connect`]): open it in the
    /// background while commands and events go on.
    fn start_connect(&mut self, to: Option<String>) {
        let domain = self.client.config().jid.domain().to_owned();
        let deadline = later(Instant::now(), self.client.config().timeouts.negotiation);
        let options = self.options.clone();
        tracing::debug!(?to, "reconnecting");
        self.connecting = Some(Box::pin(reconnect(
            domain,
            to,
            options,
            self.tls.clone(),
            deadline,
        )));
    }

    /// The transport for a reconnection, or why there is none.
    fn on_reconnected(&mut self, result: Result<Opened, Error>) {
        let now = Instant::now();
        // Refused only if the client no longer waits for it (closed meanwhile).
        let _ = match result {
            Ok(Opened {
                transport,
                endpoint,
                tls_info,
            }) => {
                self.transport = transport;
                self.endpoint = endpoint;
                match tls_info {
                    Some(info) => self.client.handle_connected_over_tls(now, info),
                    None => self.client.handle_connected(now),
                }
            }
            Err(e) => self.client.handle_connect_failed(now, connect_failure(&e)),
        };
    }

    fn run_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Call(f) => f(&mut self.client, now),
            Command::Await { send, reply } => match send(&mut self.client, now) {
                // Removed when its one outcome comes (the core guarantees it, timeouts
                // included), even if the caller gave up meanwhile.
                Ok(id) => {
                    self.waiters.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Close(done) => {
                self.client.close(now);
                self.closing.push(done);
            }
        }
    }

    /// Carries out what the client asked, in order.
    async fn flush(&mut self) {
        let mut wrote = false;
        while let Some(action) = self.client.poll_action() {
            match action {
                // After a failed write the rest is not attempted (each could wait the whole
                // write timeout again).
                Action::Send(_) if matches!(self.transport, Transport::Gone) => {}
                Action::Send(bytes) => {
                    wrote = true;
                    let written =
                        timeout(self.write_timeout, self.transport.write_all(&bytes)).await;
                    if let Err(e) = written.unwrap_or_else(|_| Err(write_timed_out())) {
                        self.transport_failed(Error::Io(e));
                    }
                }
                Action::StartTls { server_name } => self.start_tls(&server_name).await,
                Action::Connect { to } => self.start_connect(to),
                Action::Event(event) => self.deliver(event),
                Action::Close => {
                    // Best effort, bounded: the peer may be gone or not reading.
                    let closing = async {
                        if wrote {
                            let _ = self.transport.flush().await;
                        }
                        self.transport.shutdown().await;
                    };
                    let _ = timeout(self.write_timeout, closing).await;
                    self.transport = Transport::Gone;
                    wrote = false;
                }
            }
        }
        if wrote {
            let flushed = timeout(self.write_timeout, self.transport.flush()).await;
            if let Err(e) = flushed.unwrap_or_else(|_| Err(write_timed_out())) {
                self.transport_failed(Error::Io(e));
            }
        }
    }

    /// An event for the caller awaiting it, or for the application.
    fn deliver(&mut self, event: Event) {
        match event {
            Event::IqResponse { id, result } => match self.waiters.remove(&id) {
                // A caller that gave up (dropped its future) discards the response.
                Some(waiter) => {
                    let _ = waiter.send(result);
                }
                None => self.events.push_back(Event::IqResponse { id, result }),
            },
            Event::Disconnected { reason } => {
                log_session_end(&reason);
                self.events.push_back(Event::Disconnected { reason });
            }
            event => self.events.push_back(event),
        }
    }

    async fn start_tls(&mut self, server_name: &str) {
        let Transport::Tcp(tcp) = std::mem::replace(&mut self.transport, Transport::Gone) else {
            let e = io::Error::other("StartTls on a transport that is not plain TCP");
            return self.transport_failed(tls::handshake_error(server_name, &self.endpoint, e));
        };
        let deadline = self
            .client
            .poll_timeout()
            .map_or_else(far_future, Into::into);
        match handshake(
            &self.tls.starttls,
            server_name,
            &self.endpoint,
            tcp,
            deadline,
        )
        .await
        {
            Ok((stream, info)) => {
                self.transport = Transport::Tls(Box::new(stream));
                // Refused only if the client is no longer waiting for TLS: nothing to do.
                let _ = self.client.handle_tls_established(Instant::now(), info);
            }
            Err(e) => self.transport_failed(e),
        }
    }

    /// Ends the session on a transport failure; while negotiating, the failure is what
    /// `connect` reports (unless the session had already ended for a reason of its own).
    /// The transport is dropped without a goodbye: writing one to a peer that stopped
    /// reading could wait the whole write timeout again.
    fn transport_failed(&mut self, error: Error) {
        self.transport = Transport::Gone;
        if !self.client.is_closed() {
            report_transport_failure(&mut self.client, Instant::now(), &error);
            self.failure.get_or_insert(error);
        }
    }

    fn on_read(&mut self, now: Instant, read: io::Result<usize>) {
        // Straight after the read completed, in the same poll (see `with_read_bytes`).
        let failed = with_read_bytes(|buf| deliver_read(&mut self.client, now, buf, read));
        if let Some(e) = failed {
            self.transport_failed(Error::Io(e));
        }
    }
}

fn far_future() -> ::tokio::time::Instant {
    ::tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600)
}

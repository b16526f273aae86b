//! Client configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::avatar::AvatarConfig;
use super::caps::CapsConfig;
use super::disco::DiscoConfig;
use super::forms::FormLimits;
use super::presence::PresenceConfig;
use super::reconnect::ReconnectConfig;
use super::register::Register;
use super::roster::RosterConfig;
use super::sasl::SaslConfig;
use super::stream_management::StreamManagementConfig;
use crate::jid::Jid;
use crate::xml::Limits;

/// Whether the stream must be encrypted before anything sensitive is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// STARTTLS is required: if the server does not offer it, the client gives up before
    /// sending any credential. The default.
    #[default]
    Required,
    /// Use STARTTLS when offered, otherwise go on unencrypted (SCRAM only, unless
    /// [`Config::dangerous_plain_without_tls`] is also set). For tests on loopback only.
    DangerousPlaintextAllowed,
}

/// Where the password comes from.
#[derive(Clone)]
pub enum Password {
    /// A fixed password.
    Fixed(String),
    /// Asked for when authentication starts (for example from a keychain), so that it is
    /// not kept in memory for the whole session.
    Provider(Arc<dyn Fn() -> String + Send + Sync>),
}

impl Password {
    pub(crate) fn get(&self) -> String {
        match self {
            Password::Fixed(p) => p.clone(),
            Password::Provider(f) => f(),
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Password::Fixed(_) => "Password::Fixed(<redacted>)",
            Password::Provider(_) => "Password::Provider(..)",
        })
    }
}

impl From<&str> for Password {
    fn from(p: &str) -> Self {
        Password::Fixed(p.to_owned())
    }
}

impl From<String> for Password {
    fn from(p: String) -> Self {
        Password::Fixed(p)
    }
}

/// Durations that drive the client's timers. `None` disables a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// From creation to `Online`. Default 30 s.
    pub negotiation: Duration,
    /// How long an IQ request waits for its response. Default 30 s.
    pub iq: Duration,
    /// After [`Client::close`](super::Client::close), how long to wait for the server's
    /// `</stream:stream>`. Default 5 s.
    pub close: Duration,
    /// Send a whitespace keepalive after this long without sending. Default 60 s.
    pub keepalive: Option<Duration>,
    /// Send a XEP-0199 ping after this long without receiving. Default 120 s.
    pub ping_after: Option<Duration>,
    /// Declare the connection dead when nothing arrives this long after a ping. Default 30 s.
    pub ping_timeout: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            negotiation: Duration::from_secs(30),
            iq: Duration::from_secs(30),
            close: Duration::from_secs(5),
            keepalive: Some(Duration::from_secs(60)),
            ping_after: Some(Duration::from_secs(120)),
            ping_timeout: Duration::from_secs(30),
        }
    }
}

/// Randomness without a dependency: std seeds each `RandomState` from the OS.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0078_6d70_7073_616e);
    h.finish()
}

/// Everything the [`Client`](super::Client) needs to know before it starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The account. A full JID's resource is requested when binding (unless `resource` is
    /// set); with a bare JID the server assigns one.
    pub jid: Jid,
    /// The account's password.
    pub password: Password,
    /// The resource to request; overrides the JID's.
    pub resource: Option<String>,
    /// Encryption policy. Default: [`TlsPolicy::Required`].
    pub tls: TlsPolicy,
    /// SASL mechanisms allowed, downgrade pinning and SCRAM iteration bounds.
    pub sasl: SaslConfig,
    /// Limits on what the server may make the XML reader hold.
    pub limits: Limits,
    /// Timers.
    pub timeouts: Timeouts,
    /// `xml:lang` of our stream. Default `en`.
    pub lang: String,
    /// Seed for the stanza ids the client generates. The default is drawn from the standard
    /// library's per-process random keys; set a fixed value to reproduce a run exactly.
    pub seed: u64,
    /// Allow SASL PLAIN on a stream that is not encrypted (only meaningful with
    /// [`TlsPolicy::DangerousPlaintextAllowed`]): the password then crosses the network in
    /// clear. Off by default, so that stripping STARTTLS cannot make the client send it.
    pub dangerous_plain_without_tls: bool,
    /// Namespaces of the IQ requests the application answers itself
    /// ([`Event::IqRequest`](super::Event::IqRequest)), from the first stanza on. Requests
    /// in other namespaces that no service of the client handles are answered
    /// `service-unavailable` (RFC 6120 §8.4). Empty by default.
    pub handled_iq_namespaces: Vec<String>,
    /// How many IQ requests may await their responses at once. Default 1024.
    pub max_pending_iqs: usize,
    /// The roster service (RFC 6121 §2): on by default.
    pub roster: RosterConfig,
    /// The presence service (RFC 6121 §3–4): the presence map, subscription handling and
    /// initial presence; on by default.
    pub presence: PresenceConfig,
    /// Message carbons (XEP-0280): asked for once online. Default on.
    pub carbons: bool,
    /// Service discovery (XEP-0030): how this client describes itself; on by default.
    pub disco: DiscoConfig,
    /// Entity capabilities (XEP-0115, XEP-0390): announced and resolved; on by default.
    pub caps: CapsConfig,
    /// vCard-based avatars (XEP-0153): ours announced, contacts' fetched and verified; on by
    /// default.
    pub avatars: AvatarConfig,
    /// Register the account (XEP-0077) before logging in, or instead. Default `None`.
    pub register: Option<Register>,
    /// Bounds on the data forms and discovery answers peers send (registration forms,
    /// descriptions).
    pub form_limits: FormLimits,
    /// Reconnection after a lost connection: on by default.
    pub reconnect: ReconnectConfig,
    /// Stream management (XEP-0198): acknowledgements and resumption, on by default where
    /// the server offers it.
    pub stream_management: StreamManagementConfig,
}

impl Config {
    /// A configuration with defaults for everything but the account.
    pub fn new(jid: Jid, password: impl Into<Password>) -> Self {
        Self {
            jid,
            password: password.into(),
            resource: None,
            tls: TlsPolicy::Required,
            sasl: SaslConfig::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            lang: "en".to_owned(),
            seed: random_seed(),
            dangerous_plain_without_tls: false,
            handled_iq_namespaces: Vec::new(),
            max_pending_iqs: 1024,
            roster: RosterConfig::default(),
            presence: PresenceConfig::default(),
            carbons: true,
            disco: DiscoConfig::default(),
            caps: CapsConfig::default(),
            avatars: AvatarConfig::default(),
            register: None,
            form_limits: FormLimits::default(),
            reconnect: ReconnectConfig::default(),
            stream_management: StreamManagementConfig::default(),
        }
    }

    /// Adds a namespace whose IQ requests the application answers (see
    /// [`Config::handled_iq_namespaces`]).
    ///
    /// ```
    /// use xmpp_sansio::{client::Config, ns};
    ///
    /// let config = Config::new("bot@example.com".parse()?, "secret")
    ///     .handle_iq_namespace(ns::VERSION);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_iq_namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        if !self.handled_iq_namespaces.contains(&namespace) {
            self.handled_iq_namespaces.push(namespace);
        }
        self
    }
}

//! XEP-0030: Service Discovery. What an entity is (identities), what it can do (features,
//! and XEP-0128's extended information forms), and what it holds (items).
//!
//! The service answers `disco#info` and `disco#items` requests to this client from our own
//! description (what the application configured plus what the enabled services register),
//! fetches the server's description once online, and reads the answers to the queries the
//! application sends. Entity capabilities (`caps.rs`) hash the same description.

use std::sync::Arc;

use super::forms::{DataForm, FormError, FormLimits};
use super::stanza::{Iq, IqType};
use super::IqError;
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, ElementRef};

/// What an entity is (XEP-0030 §3.1): a category and type from the registry (`client`/`pc`,
/// `server`/`im`, `conference`/`text`...), with an optional human-readable name in a
/// language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Identity {
    /// The category (`client`, `server`, `conference`, `pubsub`...).
    pub category: String,
    /// The type within the category (`pc`, `phone`, `bot`, `im`...).
    pub kind: String,
    /// The `xml:lang` of the name.
    pub lang: Option<String>,
    /// A name for people.
    pub name: Option<String>,
}

impl Identity {
    /// An identity without a name.
    pub fn new(category: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            category: category.into(),
            kind: kind.into(),
            lang: None,
            name: None,
        }
    }

    /// With a name for people.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// With the language of the name.
    pub fn with_lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    fn to_builder(&self) -> Builder {
        let mut b = Builder::new("identity", ns::DISCO_INFO)
            .attr("category", &self.category)
            .attr("type", &self.kind);
        if let Some(lang) = &self.lang {
            b = b.attr_ns("lang", ns::XML, lang);
        }
        b.attr_opt("name", self.name.as_ref())
    }
}

/// An entity's description (XEP-0030 §3): its identities, its features, and extended
/// information forms (XEP-0128).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DiscoInfo {
    /// What the entity is; at least one for a well-formed answer.
    pub identities: Vec<Identity>,
    /// The namespaces and feature names it supports.
    pub features: Vec<String>,
    /// Extended information (XEP-0128): data forms of type `result` with a `FORM_TYPE`.
    pub extensions: Vec<DataForm>,
}

impl DiscoInfo {
    /// A description with these identities and no features.
    pub fn new(identities: Vec<Identity>) -> Self {
        Self {
            identities,
            ..Self::default()
        }
    }

    /// Whether `feature` is listed.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Whether an identity has this category and type.
    pub fn has_identity(&self, category: &str, kind: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.category == category && i.kind == kind)
    }

    /// Reads the `<query xmlns='http://jabber.org/protocol/disco#info'/>` of a `result`.
    pub fn from_iq(iq: &Iq) -> Result<Self, DiscoError> {
        Self::from_iq_within(iq, &FormLimits::default())
    }

    pub(crate) fn from_iq_within(iq: &Iq, limits: &FormLimits) -> Result<Self, DiscoError> {
        match iq.payload() {
            Some(q) if iq.kind == IqType::Result => Self::parse(q, limits),
            _ => Err(DiscoError::Malformed("not a disco#info result")),
        }
    }

    /// Reads a `disco#info` `<query/>`, within `limits`: identities and features count as
    /// fields, their text and the extension forms' share one text budget.
    pub fn parse(query: ElementRef<'_>, limits: &FormLimits) -> Result<Self, DiscoError> {
        if !query.is("query", ns::DISCO_INFO) {
            return Err(DiscoError::Malformed("not a disco#info query"));
        }
        let mut info = DiscoInfo::default();
        let mut spent = 0;
        let mut entries = 0;
        for child in query.children() {
            let counted = |entries: &mut usize| {
                *entries += 1;
                if *entries > limits.max_fields {
                    Err(DiscoError::Form(FormError::LimitReached(
                        "more identities and features than the limit",
                    )))
                } else {
                    Ok(())
                }
            };
            match (child.ns(), child.name()) {
                (ns::DISCO_INFO, "identity") => {
                    counted(&mut entries)?;
                    let (Some(category), Some(kind)) = (child.attr("category"), child.attr("type"))
                    else {
                        return Err(DiscoError::Malformed(
                            "an identity without category or type",
                        ));
                    };
                    let identity = Identity {
                        category: category.into_owned(),
                        kind: kind.into_owned(),
                        lang: child.attr_ns("lang", ns::XML).map(|l| l.into_owned()),
                        name: child.attr("name").map(|n| n.into_owned()),
                    };
                    for part in [&identity.category, &identity.kind]
                        .into_iter()
                        .chain(&identity.lang)
                        .chain(&identity.name)
                    {
                        limits.spend(&mut spent, part)?;
                    }
                    info.identities.push(identity);
                }
                (ns::DISCO_INFO, "feature") => {
                    counted(&mut entries)?;
                    let Some(var) = child.attr("var") else {
                        return Err(DiscoError::Malformed("a feature without var"));
                    };
                    limits.spend(&mut spent, &var)?;
                    info.features.push(var.into_owned());
                }
                (ns::DATA_FORMS, "x") => {
                    counted(&mut entries)?;
                    info.extensions
                        .push(DataForm::parse_within(child, limits, &mut spent)?);
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// The `<query/>` that describes this, for `node` if any.
    pub fn to_query(&self, node: Option<&str>) -> Builder {
        let mut q = Builder::new("query", ns::DISCO_INFO).attr_opt("node", node);
        for identity in &self.identities {
            q = q.child(identity.to_builder());
        }
        for feature in &self.features {
            q = q.child(Builder::new("feature", ns::DISCO_INFO).attr("var", feature));
        }
        for form in &self.extensions {
            q = q.child(form.to_builder());
        }
        q
    }

    /// About what holding this costs, in bytes (for the caches' byte bounds).
    pub(crate) fn cost(&self) -> usize {
        const PIECE: usize = FormLimits::PIECE_COST;
        let identities: usize = self
            .identities
            .iter()
            .map(|i| {
                4 * PIECE
                    + i.category.len()
                    + i.kind.len()
                    + i.lang.as_ref().map_or(0, String::len)
                    + i.name.as_ref().map_or(0, String::len)
            })
            .sum();
        let features: usize = self.features.iter().map(|f| PIECE + f.len()).sum();
        let forms: usize = self
            .extensions
            .iter()
            .flat_map(|f| &f.fields)
            .map(|f| {
                PIECE
                    + f.var.as_ref().map_or(0, String::len)
                    + f.values.iter().map(|v| PIECE + v.len()).sum::<usize>()
            })
            .sum();
        std::mem::size_of::<Self>() + identities + features + forms
    }
}

/// One item of an entity (XEP-0030 §4): a JID, optionally a node at it, and a name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoItem {
    /// The item's JID.
    pub jid: Jid,
    /// The node at that JID.
    pub node: Option<String>,
    /// A name for people.
    pub name: Option<String>,
}

impl DiscoItem {
    /// An item at `jid`.
    pub fn new(jid: Jid) -> Self {
        Self {
            jid,
            node: None,
            name: None,
        }
    }

    /// With a node.
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// With a name for people.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The most items the adapters' `disco_items` reads.
pub const MAX_ITEMS: usize = 10_000;

/// Reads the items of a `disco#items` `result`, at most `max` of them.
pub fn items_from_iq(iq: &Iq, max: usize) -> Result<Vec<DiscoItem>, DiscoError> {
    let query = match iq.payload() {
        Some(q) if iq.kind == IqType::Result && q.is("query", ns::DISCO_ITEMS) => q,
        _ => return Err(DiscoError::Malformed("not a disco#items result")),
    };
    let mut items = Vec::new();
    for child in query.children().filter(|c| c.is("item", ns::DISCO_ITEMS)) {
        if items.len() == max {
            return Err(DiscoError::Form(FormError::LimitReached(
                "more items than the limit",
            )));
        }
        let jid = child
            .attr("jid")
            .and_then(|j| j.parse::<Jid>().ok())
            .ok_or(DiscoError::Malformed("an item without a valid jid"))?;
        items.push(DiscoItem {
            jid,
            node: child.attr("node").map(|n| n.into_owned()),
            name: child.attr("name").map(|n| n.into_owned()),
        });
    }
    Ok(items)
}

fn items_query(items: &[DiscoItem], node: Option<&str>) -> Builder {
    let mut q = Builder::new("query", ns::DISCO_ITEMS).attr_opt("node", node);
    for item in items {
        q = q.child(
            Builder::new("item", ns::DISCO_ITEMS)
                .attr("jid", &item.jid)
                .attr_opt("node", item.node.as_ref())
                .attr_opt("name", item.name.as_ref()),
        );
    }
    q
}

/// Why a discovery answer could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoError {
    /// The request got no `result` (the peer's error, a timeout, the session ending).
    #[error(transparent)]
    Request(#[from] IqError),
    /// The answer is not what XEP-0030 describes (the text says how).
    #[error("malformed discovery answer: {0}")]
    Malformed(&'static str),
    /// An extension form is malformed, or the answer is over a limit.
    #[error("discovery answer: {0}")]
    Form(#[from] FormError),
}

/// The discovery service's configuration: how this client describes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoConfig {
    /// Answer `disco#info` and `disco#items` requests, and fetch the server's description
    /// once online. Default on; off answers them `service-unavailable` (unless the
    /// application claims the namespaces).
    pub enabled: bool,
    /// What this client is. Default: one `client`/`pc` identity named `xmpp-sansio`.
    pub identities: Vec<Identity>,
    /// The application's features, beside those the enabled services register
    /// (`disco#info`, `disco#items`, `ping`, the caps namespaces). Empty by default.
    pub features: Vec<String>,
    /// Extended information forms (XEP-0128), each of type `result` with a hidden
    /// `FORM_TYPE`. Empty by default.
    pub extensions: Vec<DataForm>,
    /// What `disco#items` answers. Empty by default.
    pub items: Vec<DiscoItem>,
}

impl Default for DiscoConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            identities: vec![Identity::new("client", "pc").with_name("xmpp-sansio")],
            features: Vec::new(),
            extensions: Vec::new(),
            items: Vec::new(),
        }
    }
}

/// What the client always supports: discovery itself and XEP-0199 pings.
const BASE_FEATURES: [&str; 3] = [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING];

/// Whether `s` can be written in an attribute.
fn writable(s: &str) -> bool {
    crate::xml::escape_attr_value(&mut Vec::new(), s).is_ok()
}

/// The discovery service's state.
#[derive(Debug)]
pub(crate) struct Disco {
    /// What we answer, shared with the caps service's hash input.
    pub(crate) own: Arc<DiscoInfo>,
    /// The application's features, to rebuild `own` from when they change.
    app_features: Vec<String>,
    items: Vec<DiscoItem>,
    /// The server's description, once fetched.
    pub(crate) server: Option<Arc<DiscoInfo>>,
}

impl Disco {
    /// `services` are the features the enabled services register. What XML cannot carry
    /// is left out of the description (it could not be sent), with a warning.
    pub(crate) fn new(config: &DiscoConfig, services: &[&str]) -> Self {
        let kept = |what: &str, ok: bool| {
            if !ok {
                tracing::warn!(what, "left out of our description: XML cannot carry it");
            }
            ok
        };
        let identities = config
            .identities
            .iter()
            .filter(|i| {
                let mut parts = [&i.category, &i.kind]
                    .into_iter()
                    .chain(&i.lang)
                    .chain(&i.name);
                kept("an identity", parts.all(|p| writable(p)))
            })
            .cloned()
            .collect();
        let extensions = config
            .extensions
            .iter()
            .filter(|f| kept("a form", f.to_builder().to_bytes(ns::DISCO_INFO).is_ok()))
            .cloned()
            .collect();
        let app_features = config
            .features
            .iter()
            .filter(|f| kept("a feature", writable(f)))
            .cloned()
            .collect();
        let items = config
            .items
            .iter()
            .filter(|i| {
                let mut parts = i.node.iter().chain(&i.name);
                kept("an item", parts.all(|p| writable(p)))
            })
            .cloned()
            .collect();
        let mut disco = Self {
            own: Arc::default(),
            app_features,
            items,
            server: None,
        };
        disco.rebuild(identities, extensions, services);
        disco
    }

    fn rebuild(&mut self, identities: Vec<Identity>, extensions: Vec<DataForm>, services: &[&str]) {
        let mut features: Vec<String> = BASE_FEATURES
            .into_iter()
            .chain(services.iter().copied())
            .map(str::to_owned)
            .chain(self.app_features.iter().cloned())
            .collect();
        // A feature listed twice makes the description ill-formed (XEP-0115 §5.4).
        features.sort_unstable();
        features.dedup();
        self.own = Arc::new(DiscoInfo {
            identities,
            features,
            extensions,
        });
    }

    /// Adds or removes one of the application's features; whether anything changed. The
    /// features the services register are theirs, and text XML cannot carry is refused.
    pub(crate) fn set_feature(
        &mut self,
        feature: &str,
        on: bool,
        services: &[&str],
    ) -> Result<bool, super::CommandError> {
        if BASE_FEATURES.contains(&feature) || services.contains(&feature) {
            return Err(super::CommandError::InvalidStanza(
                "that feature belongs to a service of the client",
            ));
        }
        if !writable(feature) {
            return Err(super::CommandError::InvalidStanza(
                "a feature name XML cannot carry",
            ));
        }
        let listed = self.app_features.iter().position(|f| f == feature);
        match (listed, on) {
            (None, true) => self.app_features.push(feature.to_owned()),
            (Some(at), false) => {
                self.app_features.remove(at);
            }
            _ => return Ok(false),
        }
        let (identities, extensions) = (self.own.identities.clone(), self.own.extensions.clone());
        self.rebuild(identities, extensions, services);
        Ok(true)
    }

    /// The answer to a `disco#info` request: our description, or for a `node` the one
    /// `described` names (our caps nodes, current and recent), else `item-not-found`.
    pub(crate) fn answer_info<'a>(
        &'a self,
        request: &Iq,
        described: impl Fn(&str) -> Option<&'a Arc<DiscoInfo>>,
    ) -> Builder {
        let node = request.payload().and_then(|q| q.attr("node"));
        let Some(node) = node else {
            return request.result_reply(Some(self.own.to_query(None)));
        };
        match described(&node) {
            Some(info) => request.result_reply(Some(info.to_query(Some(&node)))),
            None => request.error_reply(super::stanza::StanzaErrorCondition::ItemNotFound),
        }
    }

    /// The answer to a `disco#items` request: our items, or `item-not-found` for a node.
    pub(crate) fn answer_items(&self, request: &Iq) -> Builder {
        match request.payload().and_then(|q| q.attr("node")) {
            None => request.result_reply(Some(items_query(&self.items, None))),
            Some(_) => request.error_reply(super::stanza::StanzaErrorCondition::ItemNotFound),
        }
    }
}

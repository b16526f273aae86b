//! XMPP addresses (JIDs) as defined by [RFC 7622].
//!
//! A [`Jid`] is always validated and normalized: two JIDs that RFC 7622 considers
//! equal have the same text, so [`Eq`], [`Hash`] and [`Ord`] simply work on
//! [`Jid::as_str`].
//!
//! # Splitting (RFC 7622 §3.1)
//!
//! 1. Everything after the first `/` is the resourcepart (it may itself contain
//!    `/` and `@`). A `/` with nothing after it is an error.
//! 2. In what remains (the bare part), everything before the first `@` is the
//!    localpart. An `@` with nothing before it is an error.
//! 3. The rest is the domainpart, which must not be empty.
//!
//! # Normalization
//!
//! Each part is normalized separately; after normalization each part must be
//! 1 to 1023 octets of UTF-8 (§3.1).
//!
//! * **localpart** (§3.3): PRECIS `IdentifierClass`, `UsernameCaseMapped`
//!   profile of RFC 8265 (width mapping of fullwidth/halfwidth characters,
//!   lowercase mapping, NFC, Bidi Rule), via [`precis_profiles::UsernameCaseMapped`].
//!   Afterwards the characters `" & ' / : < > @` are rejected (§3.3.1).
//! * **domainpart** (§3.2): one trailing label separator (`.`, `。` U+3002,
//!   `．` U+FF0E or `｡` U+FF61) is stripped. Then:
//!   * `[...]` must contain a valid IPv6 address ([`std::net::Ipv6Addr`]) and
//!     is kept verbatim (no canonicalization of the address text);
//!   * a dotted-quad IPv4 address ([`std::net::Ipv4Addr`]) is kept verbatim;
//!   * anything else goes through UTS #46 non-transitional processing
//!     ([`idna::uts46::Uts46::to_unicode`], `CheckHyphens=false`) and is kept
//!     in its Unicode (U-label) form: A-labels (`xn--…`) are decoded, letters
//!     are lowercased and compatibility characters mapped. The ASCII deny list
//!     is STD3 minus `_`: ASCII letters, digits, `-`, `.` and `_` are the only
//!     ASCII characters allowed (`_` is allowed because non-DNS XMPP service
//!     names use it in the wild). Empty labels (`a..b`, `.a`, `a..`) are
//!     rejected. DNS length limits (63/253 octets) are *not* enforced, since a
//!     domainpart need not be a DNS name; only the 1023-octet limit applies.
//!     UTS #46 is somewhat more permissive than strict IDNA2008 (RFC 5891/5892):
//!     e.g. it accepts symbols such as emoji in labels and does not check
//!     hyphen positions. Such JIDs are accepted rather than dropped; the
//!     server remains the authority on which domains exist.
//! * **resourcepart** (§3.4): PRECIS `FreeformClass`, `OpaqueString` profile of
//!   RFC 8265 (non-ASCII spaces mapped to U+0020, NFC), via
//!   [`precis_profiles::OpaqueString`]. Spaces, including leading and trailing
//!   ones, are allowed; control characters are not. (Table 2 of RFC 7622 §3.5
//!   lists `juliet@example.com/ foo` as invalid, but no normative rule of
//!   RFC 7622 or RFC 8265 rejects a leading space, so it is accepted.)
//!
//! XEP-0106 escapes (`\20` etc.) are not interpreted: `\` is an ordinary
//! localpart character.
//!
//! RFC 8264 §7 applies the "is every code point allowed" check *after* the
//! mappings, whereas the `precis-profiles` crate checks before. To close that
//! gap, and to guarantee that normalization is idempotent
//! (`Jid::parse(jid.as_str()) == Ok(jid)`), whenever a PRECIS or IDNA step
//! changes a part, the step is run again on its output, and the part is
//! rejected unless that second run accepts it unchanged.
//!
//! # Cost
//!
//! Pure-ASCII parts take a fast path that never calls into the PRECIS or IDNA
//! crates: a localpart of printable ASCII (lowercased if needed), a domainpart
//! of ASCII letters, digits, `-`, `_` and `.` without `xn--` labels (lowercased
//! if needed) and a resourcepart of printable ASCII or space are provably their
//! own normal form. Parsing such a JID that is already in normal form performs
//! exactly one heap allocation (the shared buffer). Input that needs changes
//! (uppercase, a trailing dot, non-ASCII mappings) costs one more temporary
//! buffer, as do [`Jid::from_parts`] and [`Jid::with_resource`]. Cloning,
//! [`Jid::bare`] and [`Jid::domain_jid`] never allocate.
//!
//! [RFC 7622]: https://www.rfc-editor.org/rfc/rfc7622

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use idna::uts46::{AsciiDenyList, Hyphens, Uts46};
use precis_core::profile::PrecisFastInvocation;
use precis_profiles::{OpaqueString, UsernameCaseMapped};

/// Maximum length of each part, in octets, after normalization (RFC 7622 §3.1).
const MAX_PART_LEN: usize = 1023;

/// Characters that RFC 7622 §3.3.1 forbids in a localpart, even though the
/// PRECIS `IdentifierClass` allows them.
const LOCAL_FORBIDDEN: [char; 8] = ['"', '&', '\'', '/', ':', '<', '>', '@'];

/// STD3 deny list minus `_`: every ASCII character except letters, digits, `-`,
/// `.` and `_` (control characters and space are denied by `true`).
const DOMAIN_DENY: AsciiDenyList = AsciiDenyList::new(true, "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~");

/// Which part of a JID an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JidPart {
    /// The part before `@`.
    Local,
    /// The part between `@` and `/`.
    Domain,
    /// The part after `/`.
    Resource,
}

impl fmt::Display for JidPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JidPart::Local => "localpart",
            JidPart::Domain => "domainpart",
            JidPart::Resource => "resourcepart",
        })
    }
}

/// Why a string is not a valid JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// There is an `@` with nothing before it (`@example.com`).
    #[error("empty localpart: nothing before '@'")]
    EmptyLocal,
    /// There is no domainpart (`juliet@`, `/foo`, `""`), or it is only a dot.
    #[error("empty domainpart: a JID must contain a domain")]
    EmptyDomain,
    /// There is a `/` with nothing after it (`juliet@example.com/`).
    #[error("empty resourcepart: nothing after '/'")]
    EmptyResource,
    /// The localpart is longer than 1023 octets after normalization.
    #[error("localpart too long: {0} octets after normalization, at most 1023 allowed")]
    LocalTooLong(usize),
    /// The domainpart is longer than 1023 octets after normalization.
    #[error("domainpart too long: {0} octets after normalization, at most 1023 allowed")]
    DomainTooLong(usize),
    /// The resourcepart is longer than 1023 octets after normalization.
    #[error("resourcepart too long: {0} octets after normalization, at most 1023 allowed")]
    ResourceTooLong(usize),
    /// After PRECIS normalization the localpart contains one of
    /// `" & ' / : < > @`, which RFC 7622 §3.3.1 forbids.
    #[error("localpart contains {0:?}, which RFC 7622 forbids in a localpart")]
    LocalForbiddenChar(char),
    /// A code point that the part's PRECIS profile does not allow
    /// (`UsernameCaseMapped` for the localpart, `OpaqueString` for the
    /// resourcepart): e.g. a space or symbol in a localpart, a control
    /// character anywhere.
    #[error("{part} contains {ch:?} (U+{cp:04X}), which its PRECIS profile disallows", cp = u32::from(*.ch))]
    DisallowedChar {
        /// The part containing the character.
        part: JidPart,
        /// The offending character.
        ch: char,
    },
    /// Another PRECIS failure (Bidi Rule, contextual rule, unstable
    /// normalization, …).
    #[error("{part} rejected by PRECIS: {reason}")]
    Precis {
        /// The part that failed.
        part: JidPart,
        /// What went wrong.
        reason: String,
    },
    /// The domainpart contains an ASCII character that is not allowed in a
    /// domain name (only letters, digits, `-`, `_` and `.` are).
    #[error("domainpart contains {0:?}, which is not allowed in a domain name")]
    DomainForbiddenChar(char),
    /// The domainpart is not a valid domain name or IP literal.
    #[error("invalid domainpart: {reason}")]
    InvalidDomain {
        /// What went wrong.
        reason: &'static str,
    },
}

/// A validated, normalized XMPP address: `domain`, `local@domain`,
/// `domain/resource` or `local@domain/resource`.
///
/// See the [module documentation](self) for the normalization applied.
///
/// Comparison, ordering and hashing use the normalized text ([`Jid::as_str`]).
///
/// Cloning is cheap (a reference count increment), and so are [`Jid::bare`]
/// and [`Jid::domain_jid`], which return views into the same buffer.
#[derive(Clone)]
pub struct Jid {
    // `Arc<str>` rather than `String`: client code clones JIDs constantly
    // (from/to of every stanza, map keys, events handed to the application) and
    // takes the bare JID of almost every incoming full JID. With a shared
    // buffer both are allocation-free; the cost is an atomic increment and
    // that a bare JID keeps its full JID's text (at most ~3 KiB) alive.
    //
    // The JID is the view `text[start..end]`. Within it, the domain is
    // `text[domain_start..domain_end]`; if `domain_start > start` the localpart
    // is `text[start..domain_start - 1]` (the `@` sits at `domain_start - 1`);
    // if `end > domain_end` the resourcepart is `text[domain_end + 1..end]`.
    // Each part is at most 1023 octets, so all offsets fit in `u16`.
    text: Arc<str>,
    start: u16,
    domain_start: u16,
    domain_end: u16,
    end: u16,
}

impl Jid {
    /// Parses and normalizes a JID.
    ///
    /// ```
    /// # use xmpp_sansio::jid::Jid;
    /// let jid = Jid::parse("Juliet@Example.COM/Balcony").unwrap();
    /// assert_eq!(jid.as_str(), "juliet@example.com/Balcony");
    /// assert_eq!(jid.local(), Some("juliet"));
    /// assert_eq!(jid.domain(), "example.com");
    /// assert_eq!(jid.resource(), Some("Balcony"));
    /// ```
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        let (bare, resource) = match s.split_once('/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (s, None),
        };
        let (local, domain) = match bare.split_once('@') {
            Some((local, domain)) => (Some(local), domain),
            None => (None, bare),
        };
        Jid::build(Some(s), local, domain, resource)
    }

    /// Builds a JID from its parts, normalizing each of them.
    ///
    /// `Some("")` is an error for the localpart and resourcepart. The parts
    /// are not split any further: a `/` or `@` in `local` or `domain` is an
    /// error, while the resource may contain anything its profile allows.
    pub fn from_parts(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Jid, JidError> {
        let whole = match (local, resource) {
            (None, None) => Some(domain),
            _ => None,
        };
        Jid::build(whole, local, domain, resource)
    }

    /// Normalizes the parts and assembles them. `whole`, if given, is the
    /// original text the parts were split from: when every part is already in
    /// normal form it is used directly as the buffer.
    fn build(
        whole: Option<&str>,
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Jid, JidError> {
        // Report structural errors left to right before any normalization.
        if local == Some("") {
            return Err(JidError::EmptyLocal);
        }
        if strip_trailing_dot(domain).is_empty() {
            return Err(JidError::EmptyDomain);
        }
        if resource == Some("") {
            return Err(JidError::EmptyResource);
        }
        let local = local.map(normalize_local).transpose()?;
        let domain = normalize_domain(domain)?;
        let resource = resource.map(normalize_resource).transpose()?;
        Ok(assemble(whole, local, domain, resource))
    }

    /// The normalized text of the JID.
    pub fn as_str(&self) -> &str {
        self.slice(self.start, self.end)
    }

    /// The shared text, when the JID is all of it (as a freshly parsed JID is): a map keyed
    /// by it then costs no allocation.
    pub(crate) fn shared_text(&self) -> Option<Arc<str>> {
        (usize::from(self.start) == 0 && usize::from(self.end) == self.text.len())
            .then(|| self.text.clone())
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        if self.domain_start > self.start {
            Some(self.slice(self.start, self.domain_start - 1))
        } else {
            None
        }
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        self.slice(self.domain_start, self.domain_end)
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        if self.end > self.domain_end {
            Some(self.slice(self.domain_end + 1, self.end))
        } else {
            None
        }
    }

    /// Whether the JID has no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.end == self.domain_end
    }

    /// Whether the JID has a resourcepart.
    pub fn is_full(&self) -> bool {
        !self.is_bare()
    }

    /// The JID without its resourcepart (`local@domain` or `domain`).
    ///
    /// Does not allocate: the result shares this JID's buffer.
    pub fn bare(&self) -> Jid {
        Jid {
            end: self.domain_end,
            ..self.clone()
        }
    }

    /// The JID made of the domainpart only.
    ///
    /// Does not allocate: the result shares this JID's buffer.
    pub fn domain_jid(&self) -> Jid {
        Jid {
            start: self.domain_start,
            end: self.domain_end,
            ..self.clone()
        }
    }

    /// This JID's bare JID with the given resourcepart, which is normalized.
    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        if resource.is_empty() {
            return Err(JidError::EmptyResource);
        }
        let resource = normalize_resource(resource)?;
        Ok(assemble(
            None,
            self.local().map(Norm::Same),
            Norm::Same(self.domain()),
            Some(resource),
        ))
    }

    /// `text[from..to]`; the offsets are valid by construction, so the
    /// fallback is never taken.
    fn slice(&self, from: u16, to: u16) -> &str {
        self.text
            .get(usize::from(from)..usize::from(to))
            .unwrap_or_default()
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

impl fmt::Display for Jid {
    /// Writes the normalized text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Jid").field(&self.as_str()).finish()
    }
}

impl PartialEq for Jid {
    fn eq(&self, other: &Jid) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Jid {}

impl Hash for Jid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Jid {
    fn partial_cmp(&self, other: &Jid) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Jid {
    /// Byte-wise order of the normalized text.
    fn cmp(&self, other: &Jid) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Compares the normalized text with `other` **verbatim**: `other` is not
/// parsed or normalized, so `Juliet@example.com` is not equal to the JID
/// `juliet@example.com`.
impl PartialEq<str> for Jid {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Compares the normalized text with `other` **verbatim** (see
/// `PartialEq<str>`).
impl PartialEq<&str> for Jid {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A normalized part, kept borrowed whenever possible.
#[derive(Debug, PartialEq)]
enum Norm<'a> {
    /// The input is already in normal form.
    Same(&'a str),
    /// The input is ASCII and its normal form is its ASCII lowercase.
    AsciiLower(&'a str),
    /// The normal form differs from the input in another way.
    Owned(String),
}

impl Norm<'_> {
    fn len(&self) -> usize {
        match self {
            Norm::Same(s) | Norm::AsciiLower(s) => s.len(),
            Norm::Owned(s) => s.len(),
        }
    }

    fn push_to(&self, buf: &mut String) {
        match self {
            Norm::Same(s) => buf.push_str(s),
            Norm::AsciiLower(s) => {
                let start = buf.len();
                buf.push_str(s);
                if let Some(tail) = buf.get_mut(start..) {
                    tail.make_ascii_lowercase();
                }
            }
            Norm::Owned(s) => buf.push_str(s),
        }
    }

    #[cfg(test)]
    fn render(&self) -> String {
        let mut s = String::new();
        self.push_to(&mut s);
        s
    }
}

fn from_cow(cow: Cow<'_, str>) -> Norm<'_> {
    match cow {
        Cow::Borrowed(s) => Norm::Same(s),
        Cow::Owned(s) => Norm::Owned(s),
    }
}

/// Concatenates normalized parts into a [`Jid`]. Every part is at most
/// [`MAX_PART_LEN`] octets.
fn assemble(
    whole: Option<&str>,
    local: Option<Norm<'_>>,
    domain: Norm<'_>,
    resource: Option<Norm<'_>>,
) -> Jid {
    let domain_start = local.as_ref().map_or(0, |l| l.len() + 1);
    let domain_end = domain_start + domain.len();
    let end = domain_end + resource.as_ref().map_or(0, |r| r.len() + 1);
    let unchanged = |n: &Option<Norm<'_>>| matches!(n, None | Some(Norm::Same(_)));
    let text: Arc<str> = match whole {
        // Every part is a borrowed, unchanged slice of `whole` and nothing was
        // dropped (a trailing dot would make the lengths differ), so the
        // normalized text is `whole` itself: one allocation in total.
        Some(whole)
            if whole.len() == end
                && unchanged(&local)
                && matches!(domain, Norm::Same(_))
                && unchanged(&resource) =>
        {
            Arc::from(whole)
        }
        _ => {
            let mut buf = String::with_capacity(end);
            if let Some(local) = &local {
                local.push_to(&mut buf);
                buf.push('@');
            }
            domain.push_to(&mut buf);
            if let Some(resource) = &resource {
                buf.push('/');
                resource.push_to(&mut buf);
            }
            Arc::from(buf)
        }
    };
    debug_assert_eq!(text.len(), end);
    // At most 3 * 1023 + 2 octets, so these conversions cannot saturate.
    let offset = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    Jid {
        text,
        start: 0,
        domain_start: offset(domain_start),
        domain_end: offset(domain_end),
        end: offset(end),
    }
}

/// Converts a PRECIS error about `part` into a [`JidError`].
fn precis_error(part: JidPart, profile: &str, err: precis_core::Error) -> JidError {
    match err {
        precis_core::Error::BadCodepoint(info) => match char::from_u32(info.cp) {
            Some(ch) => JidError::DisallowedChar { part, ch },
            None => JidError::Precis {
                part,
                reason: format!("{profile}: {}", precis_core::Error::BadCodepoint(info)),
            },
        },
        precis_core::Error::Invalid => JidError::Precis {
            part,
            reason: format!("{profile}: empty after mapping or violates the Bidi Rule (RFC 5893)"),
        },
        other => JidError::Precis {
            part,
            reason: format!("{profile}: {other}"),
        },
    }
}

fn unstable(part: JidPart, profile: &str) -> JidError {
    JidError::Precis {
        part,
        reason: format!(
            "{profile}: normalization is not stable (normalizing the result changes it)"
        ),
    }
}

/// Normalizes a non-empty localpart.
fn normalize_local(s: &str) -> Result<Norm<'_>, JidError> {
    const PROFILE: &str = "UsernameCaseMapped";
    // Fast path. Printable ASCII (U+0021..U+007E) is entirely in the ASCII7
    // category, PVALID in IdentifierClass (RFC 8264 §9.11); no ASCII character
    // has a width mapping, NFC leaves ASCII alone and ASCII has no RTL
    // characters, so UsernameCaseMapped reduces to ASCII lowercasing.
    let norm = if s.bytes().all(|b| matches!(b, 0x21..=0x7e)) {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Norm::AsciiLower(s)
        } else {
            Norm::Same(s)
        }
    } else {
        let out =
            UsernameCaseMapped::enforce(s).map_err(|e| precis_error(JidPart::Local, PROFILE, e))?;
        if let Cow::Owned(out) = &out {
            match UsernameCaseMapped::enforce(out.as_str()) {
                Ok(again) if again == out.as_str() => {}
                Ok(_) => return Err(unstable(JidPart::Local, PROFILE)),
                Err(e) => return Err(precis_error(JidPart::Local, PROFILE, e)),
            }
        }
        from_cow(out)
    };
    // `AsciiLower` only differs in letters, which are not forbidden.
    let text = match &norm {
        Norm::Same(s) | Norm::AsciiLower(s) => *s,
        Norm::Owned(s) => s.as_str(),
    };
    if let Some(c) = text.chars().find(|c| LOCAL_FORBIDDEN.contains(c)) {
        return Err(JidError::LocalForbiddenChar(c));
    }
    if norm.len() > MAX_PART_LEN {
        return Err(JidError::LocalTooLong(norm.len()));
    }
    Ok(norm)
}

/// Normalizes a non-empty resourcepart.
fn normalize_resource(s: &str) -> Result<Norm<'_>, JidError> {
    const PROFILE: &str = "OpaqueString";
    // Fast path. U+0021..U+007E are PVALID (ASCII7) and U+0020 is FREE_PVAL
    // (Spaces) in FreeformClass; OpaqueString only maps *non-ASCII* spaces and
    // NFC leaves ASCII alone, so printable ASCII plus space is its own normal
    // form.
    let norm = if s.bytes().all(|b| matches!(b, 0x20..=0x7e)) {
        Norm::Same(s)
    } else {
        let out =
            OpaqueString::enforce(s).map_err(|e| precis_error(JidPart::Resource, PROFILE, e))?;
        if let Cow::Owned(out) = &out {
            match OpaqueString::enforce(out.as_str()) {
                Ok(again) if again == out.as_str() => {}
                Ok(_) => return Err(unstable(JidPart::Resource, PROFILE)),
                Err(e) => return Err(precis_error(JidPart::Resource, PROFILE, e)),
            }
        }
        from_cow(out)
    };
    if norm.len() > MAX_PART_LEN {
        return Err(JidError::ResourceTooLong(norm.len()));
    }
    Ok(norm)
}

/// Strips one trailing label separator (RFC 7622 §3.2): `.`, or one of the
/// ideographic/fullwidth/halfwidth full stops that IDNA treats as dots.
fn strip_trailing_dot(s: &str) -> &str {
    ['.', '\u{3002}', '\u{ff0e}', '\u{ff61}']
        .iter()
        .find_map(|&dot| s.strip_suffix(dot))
        .unwrap_or(s)
}

/// ASCII characters allowed in a (non-IP-literal) domainpart.
fn is_domain_ascii(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

fn has_empty_label(s: &str) -> bool {
    s.split('.').any(str::is_empty)
}

/// Normalizes a domainpart (whose trailing dot, if any, is stripped here).
fn normalize_domain(s: &str) -> Result<Norm<'_>, JidError> {
    let s = strip_trailing_dot(s);
    if s.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    let norm = if s.starts_with('[') {
        let ok = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|inner| inner.parse::<Ipv6Addr>().is_ok());
        if !ok {
            return Err(JidError::InvalidDomain {
                reason: "starts with '[' but is not a bracketed IPv6 address",
            });
        }
        Norm::Same(s)
    } else if s.parse::<Ipv4Addr>().is_ok() {
        Norm::Same(s)
    } else {
        // Any ASCII character outside letters, digits, '-', '.', '_' is in the
        // deny list, so UTS #46 would reject it anyway; say which one it is.
        if let Some(b) = s.bytes().find(|&b| b.is_ascii() && !is_domain_ascii(b)) {
            return Err(JidError::DomainForbiddenChar(char::from(b)));
        }
        let is_ascii = s.is_ascii();
        if is_ascii && has_empty_label(s) {
            return Err(JidError::InvalidDomain {
                reason: "empty label (consecutive, leading or trailing dots)",
            });
        }
        let has_a_label = || {
            s.split('.')
                .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
        };
        if is_ascii && !has_a_label() {
            // Fast path. UTS #46 maps ASCII letters to lowercase and leaves
            // digits, '-', '.' and (with our deny list) '_' alone; with
            // CheckHyphens=false and no "xn--" label, no other check can fail
            // and the output equals the (lowercased) input.
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                Norm::AsciiLower(s)
            } else {
                Norm::Same(s)
            }
        } else {
            from_cow(idna_to_unicode(s)?)
        }
    };
    if norm.len() > MAX_PART_LEN {
        return Err(JidError::DomainTooLong(norm.len()));
    }
    Ok(norm)
}

/// UTS #46 ToUnicode with our options, plus the empty-label and stability
/// checks.
fn idna_to_unicode(s: &str) -> Result<Cow<'_, str>, JidError> {
    const IDNA_FAILED: JidError = JidError::InvalidDomain {
        reason: "not a valid internationalized domain name (IDNA2008/UTS #46 processing failed)",
    };
    let uts46 = Uts46::new();
    let (out, result) = uts46.to_unicode(s.as_bytes(), DOMAIN_DENY, Hyphens::Allow);
    if result.is_err() {
        return Err(IDNA_FAILED);
    }
    if out.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    if has_empty_label(&out) {
        return Err(JidError::InvalidDomain {
            reason: "empty label (consecutive, leading or trailing dots)",
        });
    }
    if let Some(b) = out.bytes().find(|&b| b.is_ascii() && !is_domain_ascii(b)) {
        return Err(JidError::DomainForbiddenChar(char::from(b)));
    }
    // Non-ASCII input never takes the pass-through path, so an input that is
    // already a normalized U-label comes back owned: keep borrowing the input.
    if out == s {
        return Ok(Cow::Borrowed(s));
    }
    if let Cow::Owned(o) = &out {
        let (again, result) = uts46.to_unicode(o.as_bytes(), DOMAIN_DENY, Hyphens::Allow);
        if result.is_err() || again != o.as_str() {
            return Err(JidError::InvalidDomain {
                reason: "IDNA normalization is not stable (normalizing the result changes it)",
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference (slow) localpart normalization, bypassing the fast path.
    fn local_slow(s: &str) -> Result<String, JidError> {
        let out = UsernameCaseMapped::enforce(s)
            .map_err(|e| precis_error(JidPart::Local, "UsernameCaseMapped", e))?;
        if let Some(c) = out.chars().find(|c| LOCAL_FORBIDDEN.contains(c)) {
            return Err(JidError::LocalForbiddenChar(c));
        }
        Ok(out.into_owned())
    }

    #[test]
    fn local_fast_path() {
        assert_eq!(normalize_local("juliet"), Ok(Norm::Same("juliet")));
        assert_eq!(normalize_local("Juliet"), Ok(Norm::AsciiLower("Juliet")));
        assert_eq!(normalize_local("Juliet").unwrap().render(), "juliet");
        assert_eq!(normalize_local("a\\20b"), Ok(Norm::Same("a\\20b")));
        assert_eq!(
            normalize_local("a:b"),
            Err(JidError::LocalForbiddenChar(':'))
        );
        assert_eq!(
            normalize_local("a b"),
            Err(JidError::DisallowedChar {
                part: JidPart::Local,
                ch: ' '
            })
        );
        assert_eq!(
            normalize_local("a\u{7f}"),
            Err(JidError::DisallowedChar {
                part: JidPart::Local,
                ch: '\u{7f}'
            })
        );
    }

    #[test]
    fn local_slow_path() {
        assert_eq!(normalize_local("Σ").unwrap(), Norm::Owned("σ".into()));
        assert_eq!(normalize_local("fußball").unwrap(), Norm::Same("fußball"));
        // Fullwidth letters are width-mapped and lowercased.
        assert_eq!(normalize_local("ＪＵＬＩＥＴ").unwrap().render(), "juliet");
        // A fullwidth '@' maps to '@', which is then forbidden.
        assert_eq!(
            normalize_local("a＠b"),
            Err(JidError::LocalForbiddenChar('@'))
        );
        assert_eq!(
            normalize_local("♚"),
            Err(JidError::DisallowedChar {
                part: JidPart::Local,
                ch: '♚'
            })
        );
    }

    #[test]
    fn resource_paths() {
        assert_eq!(normalize_resource(" foo bar "), Ok(Norm::Same(" foo bar ")));
        assert_eq!(normalize_resource("♚"), Ok(Norm::Same("♚")));
        // U+2003 EM SPACE maps to U+0020.
        assert_eq!(
            normalize_resource("a\u{2003}b").unwrap(),
            Norm::Owned("a b".into())
        );
        // Decomposed é composes under NFC.
        assert_eq!(
            normalize_resource("e\u{301}").unwrap(),
            Norm::Owned("é".into())
        );
        assert_eq!(
            normalize_resource("a\tb"),
            Err(JidError::DisallowedChar {
                part: JidPart::Resource,
                ch: '\t'
            })
        );
    }

    #[test]
    fn domain_paths() {
        assert_eq!(
            normalize_domain("example.com"),
            Ok(Norm::Same("example.com"))
        );
        assert_eq!(
            normalize_domain("example.com."),
            Ok(Norm::Same("example.com"))
        );
        assert_eq!(
            normalize_domain("Example.COM"),
            Ok(Norm::AsciiLower("Example.COM"))
        );
        assert_eq!(
            normalize_domain("a_b.example"),
            Ok(Norm::Same("a_b.example"))
        );
        assert_eq!(normalize_domain("[::1]"), Ok(Norm::Same("[::1]")));
        assert_eq!(normalize_domain("127.0.0.1"), Ok(Norm::Same("127.0.0.1")));
        assert!(matches!(
            normalize_domain("[::1"),
            Err(JidError::InvalidDomain { .. })
        ));
        assert!(matches!(
            normalize_domain("[example.com]"),
            Err(JidError::InvalidDomain { .. })
        ));
        assert!(matches!(
            normalize_domain("a..b"),
            Err(JidError::InvalidDomain { .. })
        ));
        assert!(matches!(
            normalize_domain(".a"),
            Err(JidError::InvalidDomain { .. })
        ));
        assert!(matches!(
            normalize_domain("a.."),
            Err(JidError::InvalidDomain { .. })
        ));
        assert_eq!(normalize_domain("."), Err(JidError::EmptyDomain));
        assert_eq!(
            normalize_domain("a b"),
            Err(JidError::DomainForbiddenChar(' '))
        );
        assert_eq!(
            normalize_domain("a:5222"),
            Err(JidError::DomainForbiddenChar(':'))
        );
        // A-labels are decoded to U-labels.
        assert_eq!(
            normalize_domain("xn--mnchen-3ya.de").unwrap(),
            Norm::Owned("münchen.de".into())
        );
        assert_eq!(
            normalize_domain("MÜNCHEN.de").unwrap(),
            Norm::Owned("münchen.de".into())
        );
        // Ideographic full stop as separator and as trailing dot.
        assert_eq!(
            normalize_domain("example\u{3002}com\u{3002}").unwrap(),
            Norm::Owned("example.com".into())
        );
        // Fullwidth solidus maps to '/', which is denied.
        assert!(normalize_domain("a\u{ff0f}b").is_err());
        assert!(normalize_domain("xn--zz").is_err());
    }

    #[test]
    fn offsets_and_views() {
        let j = Jid::parse("juliet@example.com/foo/bar@baz").unwrap();
        assert_eq!(
            (j.start, j.domain_start, j.domain_end, j.end),
            (0, 7, 18, 30)
        );
        let b = j.bare();
        assert!(Arc::ptr_eq(&j.text, &b.text));
        assert_eq!(b.as_str(), "juliet@example.com");
        let d = j.domain_jid();
        assert!(Arc::ptr_eq(&j.text, &d.text));
        assert_eq!(d.as_str(), "example.com");
        assert_eq!(d.local(), None);
        assert_eq!(d.resource(), None);
        assert_eq!(d.domain_jid(), d);
        assert_eq!(d.bare(), d);
    }

    #[test]
    fn compact_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Jid>();
        assert_send_sync::<JidError>();
        // Arc<str> (2 words) + 4 × u16.
        assert_eq!(
            std::mem::size_of::<Jid>(),
            2 * std::mem::size_of::<usize>() + 8
        );
    }

    #[test]
    fn normal_input_is_the_buffer() {
        // When nothing changes, the buffer is a copy of the input; otherwise it
        // is rebuilt (checked through the resulting text).
        let j = Jid::parse("a@b.c/d").unwrap();
        assert_eq!(&*j.text, "a@b.c/d");
        let j = Jid::parse("A@b.c./d").unwrap();
        assert_eq!(&*j.text, "a@b.c/d");
    }

    #[test]
    fn an_invalid_a_label_is_refused_by_uts46() {
        assert!(normalize_domain("Xn--_").is_err());
        assert!(idna_to_unicode("Xn--_").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn local_fast_path_matches_precis(s in "[\\x21-\\x7e]{1,40}") {
            let fast = normalize_local(&s).map(|n| n.render());
            prop_assert_eq!(fast, local_slow(&s));
        }

        #[test]
        fn local_ascii_errors_match_precis(s in "[\\x00-\\x7f]{1,20}") {
            let fast = normalize_local(&s).map(|n| n.render());
            prop_assert_eq!(fast, local_slow(&s));
        }

        #[test]
        fn resource_fast_path_matches_precis(s in "[\\x20-\\x7e]{1,40}") {
            let fast = normalize_resource(&s).map(|n| n.render());
            let slow = OpaqueString::enforce(s.as_str())
                .map(|c| c.into_owned())
                .map_err(|e| precis_error(JidPart::Resource, "OpaqueString", e));
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn domain_fast_path_matches_idna(s in "[a-zA-Z0-9_.-]{1,40}") {
            let fast = normalize_domain(&s).map(|n| n.render());
            let stripped = strip_trailing_dot(&s);
            if let Ok(fast) = fast {
                prop_assert_eq!(Ok(fast), idna_to_unicode(stripped).map(Cow::into_owned));
            } else {
                // The fast path rejects only empty labels; an A-label ("xn--") goes to
                // UTS #46, which may reject it too (found: "Xn--_").
                prop_assert!(
                    stripped.is_empty()
                        || has_empty_label(stripped)
                        || idna_to_unicode(stripped).is_err()
                );
            }
        }
    }
}

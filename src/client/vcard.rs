//! XEP-0054: vcard-temp. A typed vCard for the fields applications show (names, photo,
//! contact details, organization). Every element the model cannot hold whole (one it does
//! not know, a repeat of a single field, a structured field with more than the model keeps)
//! is kept as it came and written back unchanged, after the modelled fields; what is lost
//! in a set after a get is order and surrounding whitespace, not content.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::stanza::{Iq, IqType, StanzaErrorCondition};
use super::IqError;
use crate::ns;
use crate::xml::{Builder, ElementRef};

/// A person's name in parts (`N`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Name {
    /// `FAMILY`.
    pub family: Option<String>,
    /// `GIVEN`.
    pub given: Option<String>,
    /// `MIDDLE`.
    pub middle: Option<String>,
    /// `PREFIX`.
    pub prefix: Option<String>,
    /// `SUFFIX`.
    pub suffix: Option<String>,
}

/// The picture (`PHOTO`): inline bytes with their media type, or a URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Photo {
    /// `TYPE` and the decoded `BINVAL`.
    Inline {
        /// The media type (`image/png`...).
        mime: String,
        /// The image.
        data: Vec<u8>,
    },
    /// `EXTVAL`: where the image is.
    External(String),
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Photo::Inline { mime, data } => {
                write!(f, "Photo::Inline({mime}, {} bytes)", data.len())
            }
            Photo::External(url) => write!(f, "Photo::External({url})"),
        }
    }
}

impl Photo {
    /// The SHA-1 of the image, in lowercase hex: what XEP-0153 announces. `None` for an
    /// external photo.
    pub fn sha1_hex(&self) -> Option<String> {
        match self {
            Photo::Inline { data, .. } => Some(sha1_hex(data)),
            Photo::External(_) => None,
        }
    }
}

/// Lowercase hex SHA-1, as XEP-0153 and XEP-0084 write it.
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An entry with its kinds: an `EMAIL`, `TEL` or `ADR` and the empty elements that qualify it
/// (`HOME`, `WORK`, `PREF`, `CELL`...), in their order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Email {
    /// `USERID`.
    pub address: String,
    /// `HOME`, `WORK`, `INTERNET`, `PREF`, `X400`.
    pub kinds: Vec<String>,
}

/// A telephone number (`TEL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Telephone {
    /// `NUMBER`.
    pub number: String,
    /// `HOME`, `WORK`, `VOICE`, `FAX`, `CELL`, `PREF`...
    pub kinds: Vec<String>,
}

/// A postal address (`ADR`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Address {
    /// `HOME`, `WORK`, `POSTAL`, `PARCEL`, `DOM`, `INTL`, `PREF`.
    pub kinds: Vec<String>,
    /// `POBOX`.
    pub pobox: Option<String>,
    /// `EXTADD`.
    pub extended: Option<String>,
    /// `STREET`.
    pub street: Option<String>,
    /// `LOCALITY`.
    pub locality: Option<String>,
    /// `REGION`.
    pub region: Option<String>,
    /// `PCODE`.
    pub postal_code: Option<String>,
    /// `CTRY`.
    pub country: Option<String>,
}

/// An organization (`ORG`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Organization {
    /// `ORGNAME`.
    pub name: String,
    /// `ORGUNIT`s.
    pub units: Vec<String>,
}

/// A vCard (XEP-0054).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct VCard {
    /// `FN`: the name to show.
    pub full_name: Option<String>,
    /// `N`.
    pub name: Option<Name>,
    /// `NICKNAME`.
    pub nickname: Option<String>,
    /// `PHOTO`.
    pub photo: Option<Photo>,
    /// `BDAY` (ISO 8601 date, as given).
    pub birthday: Option<String>,
    /// `EMAIL`s.
    pub emails: Vec<Email>,
    /// `TEL`s.
    pub telephones: Vec<Telephone>,
    /// `ADR`s.
    pub addresses: Vec<Address>,
    /// `ORG`.
    pub organization: Option<Organization>,
    /// `TITLE`.
    pub title: Option<String>,
    /// `ROLE`.
    pub role: Option<String>,
    /// `URL`.
    pub url: Option<String>,
    /// `DESC`.
    pub description: Option<String>,
    /// `JABBERID`.
    pub jabber_id: Option<String>,
    /// `NOTE`.
    pub note: Option<String>,
    /// Why the PHOTO could not be read (over the size limit, not base64), when it could
    /// not; the element is then in [`VCard::other`], and the rest of the vCard is read.
    pub unreadable_photo: Option<VCardError>,
    /// What the model cannot hold whole, as received: unknown elements, repeats of single
    /// fields, structured fields with parts the model does not keep, a PHOTO without an
    /// image. Written back after the modelled fields.
    pub other: Vec<Builder>,
}

/// Why a vCard could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VCardError {
    /// The entity has no vCard (`item-not-found`, or an empty answer).
    #[error("no vCard")]
    NotFound,
    /// The request got no `result` (the peer's error, a timeout, the session ending).
    #[error(transparent)]
    Request(IqError),
    /// The answer is not a vCard (the text says how).
    #[error("malformed vCard: {0}")]
    Malformed(&'static str),
    /// The photo decodes to more than the limit (in bytes); it was not decoded.
    #[error("the vCard's photo is over {0} bytes")]
    PhotoTooLarge(usize),
}

impl From<IqError> for VCardError {
    fn from(e: IqError) -> Self {
        match &e {
            IqError::Stanza(s) if s.condition == StanzaErrorCondition::ItemNotFound => {
                VCardError::NotFound
            }
            _ => VCardError::Request(e),
        }
    }
}

/// Biggest photo decoded by default: 1 MiB.
pub const DEFAULT_MAX_PHOTO: usize = 1 << 20;

impl VCard {
    /// Reads the `<vCard xmlns='vcard-temp'/>` of a `result`; an empty one (what servers
    /// answer for an account without a vCard) is [`VCardError::NotFound`]. Photos over
    /// [`DEFAULT_MAX_PHOTO`] are not decoded ([`VCard::unreadable_photo`]).
    pub fn from_iq(iq: &Iq) -> Result<Self, VCardError> {
        Self::from_iq_within(iq, DEFAULT_MAX_PHOTO)
    }

    /// As [`VCard::from_iq`], with photos of at most `max_photo` bytes.
    pub fn from_iq_within(iq: &Iq, max_photo: usize) -> Result<Self, VCardError> {
        if iq.kind != IqType::Result {
            return Err(VCardError::Malformed("not a result"));
        }
        match iq.payload() {
            Some(v) if v.is("vCard", ns::VCARD) => {
                if v.children().next().is_none() {
                    return Err(VCardError::NotFound);
                }
                Self::parse(v, max_photo)
            }
            Some(_) => Err(VCardError::Malformed("not a vCard")),
            None => Err(VCardError::NotFound),
        }
    }

    /// Reads a `<vCard xmlns='vcard-temp'/>`.
    pub fn parse(el: ElementRef<'_>, max_photo: usize) -> Result<Self, VCardError> {
        if !el.is("vCard", ns::VCARD) {
            return Err(VCardError::Malformed("not a vCard"));
        }
        let mut card = VCard::default();
        for child in el.children() {
            let text = || Some(child.text().trim().to_owned());
            let known = child.ns() == ns::VCARD;
            let slot = match child.name() {
                _ if !known => None,
                "FN" => Some(&mut card.full_name),
                "NICKNAME" => Some(&mut card.nickname),
                "BDAY" => Some(&mut card.birthday),
                "TITLE" => Some(&mut card.title),
                "ROLE" => Some(&mut card.role),
                "URL" => Some(&mut card.url),
                "DESC" => Some(&mut card.description),
                "JABBERID" => Some(&mut card.jabber_id),
                "NOTE" => Some(&mut card.note),
                _ => None,
            };
            match (slot, child.name()) {
                (Some(slot), _) if slot.is_none() => *slot = text(),
                (None, "N") if known && card.name.is_none() && fits(child, &N_PARTS) => {
                    let part = |n| sub_text(child, n);
                    card.name = Some(Name {
                        family: part("FAMILY"),
                        given: part("GIVEN"),
                        middle: part("MIDDLE"),
                        prefix: part("PREFIX"),
                        suffix: part("SUFFIX"),
                    });
                }
                // An empty PHOTO (XEP-0153 §4.4: no BINVAL is no photo) is kept as it is.
                (None, "PHOTO") if known && card.photo.is_none() && fits(child, &PHOTO_PARTS) => {
                    // A photo that cannot be had (over the limit, not base64) does not cost
                    // the rest of the vCard: it is kept as it came, and said why.
                    match parse_photo(child, max_photo) {
                        Ok(Some(photo)) => card.photo = Some(photo),
                        Ok(None) => card.other.push(child.to_builder()),
                        Err(e) => {
                            card.unreadable_photo = Some(e);
                            card.other.push(child.to_builder());
                        }
                    }
                }
                // The old form `<EMAIL>address</EMAIL>` (XEP-0153's examples) too.
                (None, "EMAIL") if known && fits(child, &["USERID"]) => card.emails.push(Email {
                    address: sub_text(child, "USERID").unwrap_or_else(|| own_text(child)),
                    kinds: kinds(child, &["USERID"]),
                }),
                (None, "TEL") if known && fits(child, &["NUMBER"]) => {
                    card.telephones.push(Telephone {
                        number: sub_text(child, "NUMBER").unwrap_or_else(|| own_text(child)),
                        kinds: kinds(child, &["NUMBER"]),
                    })
                }
                (None, "ADR") if known && fits(child, &ADR_PARTS) => {
                    let part = |n| sub_text(child, n);
                    card.addresses.push(Address {
                        kinds: kinds(child, &ADR_PARTS),
                        pobox: part("POBOX"),
                        extended: part("EXTADD"),
                        street: part("STREET"),
                        locality: part("LOCALITY"),
                        region: part("REGION"),
                        postal_code: part("PCODE"),
                        country: part("CTRY"),
                    });
                }
                (None, "ORG")
                    if known
                        && card.organization.is_none()
                        && fits(child, &["ORGNAME", "ORGUNIT"]) =>
                {
                    card.organization = Some(Organization {
                        name: sub_text(child, "ORGNAME").unwrap_or_default(),
                        units: child
                            .children()
                            .filter(|u| u.is("ORGUNIT", ns::VCARD))
                            .map(|u| u.text().trim().to_owned())
                            .collect(),
                    });
                }
                _ => card.other.push(child.to_builder()),
            }
        }
        Ok(card)
    }

    /// The `<vCard xmlns='vcard-temp'/>` element.
    pub fn to_builder(&self) -> Builder {
        let mut v = Builder::new("vCard", ns::VCARD);
        let field = |v: Builder, name: &'static str, value: &Option<String>| match value {
            Some(value) => v.text_child(name, value),
            None => v,
        };
        v = field(v, "FN", &self.full_name);
        if let Some(n) = &self.name {
            let mut b = Builder::new("N", ns::VCARD);
            for (name, value) in [
                ("FAMILY", &n.family),
                ("GIVEN", &n.given),
                ("MIDDLE", &n.middle),
                ("PREFIX", &n.prefix),
                ("SUFFIX", &n.suffix),
            ] {
                if let Some(value) = value {
                    b = b.text_child(name, value);
                }
            }
            v = v.child(b);
        }
        v = field(v, "NICKNAME", &self.nickname);
        if let Some(photo) = &self.photo {
            let b = match photo {
                Photo::Inline { mime, data } => Builder::new("PHOTO", ns::VCARD)
                    .text_child("TYPE", mime)
                    .text_child("BINVAL", BASE64.encode(data)),
                Photo::External(url) => Builder::new("PHOTO", ns::VCARD).text_child("EXTVAL", url),
            };
            v = v.child(b);
        }
        v = field(v, "BDAY", &self.birthday);
        for e in &self.emails {
            v = v.child(with_kinds("EMAIL", &e.kinds).text_child("USERID", &e.address));
        }
        for t in &self.telephones {
            v = v.child(with_kinds("TEL", &t.kinds).text_child("NUMBER", &t.number));
        }
        for a in &self.addresses {
            let mut b = with_kinds("ADR", &a.kinds);
            for (name, value) in [
                ("POBOX", &a.pobox),
                ("EXTADD", &a.extended),
                ("STREET", &a.street),
                ("LOCALITY", &a.locality),
                ("REGION", &a.region),
                ("PCODE", &a.postal_code),
                ("CTRY", &a.country),
            ] {
                if let Some(value) = value {
                    b = b.text_child(name, value);
                }
            }
            v = v.child(b);
        }
        if let Some(org) = &self.organization {
            let mut b = Builder::new("ORG", ns::VCARD).text_child("ORGNAME", &org.name);
            for unit in &org.units {
                b = b.text_child("ORGUNIT", unit);
            }
            v = v.child(b);
        }
        for (name, value) in [
            ("TITLE", &self.title),
            ("ROLE", &self.role),
            ("URL", &self.url),
            ("DESC", &self.description),
            ("JABBERID", &self.jabber_id),
            ("NOTE", &self.note),
        ] {
            v = field(v, name, value);
        }
        for other in &self.other {
            v = v.child(other.clone());
        }
        v
    }

    /// The name to show: `FN`, else `NICKNAME`, else the given and family names.
    pub fn display_name(&self) -> Option<String> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        nonempty(&self.full_name)
            .or_else(|| nonempty(&self.nickname))
            .or_else(|| {
                let n = self.name.as_ref()?;
                let parts: Vec<&str> = [&n.given, &n.family]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
    }
}

const N_PARTS: [&str; 5] = ["FAMILY", "GIVEN", "MIDDLE", "PREFIX", "SUFFIX"];
const PHOTO_PARTS: [&str; 3] = ["TYPE", "BINVAL", "EXTVAL"];

/// Whether a structured field holds only what the model keeps: value parts of vcard-temp
/// (`values`, each once, text only, no attributes) and empty qualifiers (`HOME`...).
/// Anything else is kept whole in [`VCard::other`] instead, so that nothing is lost.
fn fits(el: ElementRef<'_>, values: &[&str]) -> bool {
    if el.attrs().next().is_some() {
        return false;
    }
    let mut seen: Vec<&str> = Vec::new();
    el.children().all(|c| {
        if c.ns() != ns::VCARD || c.attrs().next().is_some() || c.children().next().is_some() {
            return false;
        }
        let name = c.name();
        if values.contains(&name) {
            // Single values; ORGUNIT may repeat.
            let once = name == "ORGUNIT" || !seen.contains(&name);
            seen.push(name);
            once
        } else {
            c.text().trim().is_empty()
        }
    })
}

/// An element's own text (not its children's).
fn own_text(el: ElementRef<'_>) -> String {
    let mut text = String::new();
    for node in el.child_nodes() {
        if let crate::xml::Child::Text(t) = node {
            text.push_str(&t.value());
        }
    }
    text.trim().to_owned()
}

const ADR_PARTS: [&str; 7] = [
    "POBOX", "EXTADD", "STREET", "LOCALITY", "REGION", "PCODE", "CTRY",
];

fn sub_text(el: ElementRef<'_>, name: &str) -> Option<String> {
    let t = el.get_child(name, ns::VCARD)?.text();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The names of the empty qualifying children (`HOME`, `WORK`...), not the value parts.
fn kinds(el: ElementRef<'_>, values: &[&str]) -> Vec<String> {
    el.children()
        .filter(|c| c.ns() == ns::VCARD && !values.contains(&c.name()))
        .map(|c| c.name().to_owned())
        .collect()
}

fn with_kinds(name: &'static str, kinds: &[String]) -> Builder {
    let mut b = Builder::new(name, ns::VCARD);
    for kind in kinds {
        b = b.child(Builder::new(kind.clone(), ns::VCARD));
    }
    b
}

/// The photo; `None` for a PHOTO without an image (no or empty BINVAL, no EXTVAL).
fn parse_photo(el: ElementRef<'_>, max: usize) -> Result<Option<Photo>, VCardError> {
    if let Some(url) = sub_text(el, "EXTVAL") {
        return Ok(Some(Photo::External(url)));
    }
    let Some(binval) = el.get_child("BINVAL", ns::VCARD).map(|b| b.text()) else {
        return Ok(None);
    };
    if binval.trim().is_empty() {
        return Ok(None);
    }
    let data = decode_base64(&binval, max)?;
    let mime = sub_text(el, "TYPE").unwrap_or_default();
    Ok(Some(Photo::Inline { mime, data }))
}

/// Base64 with the line breaks vCards carry, refused before decoding when it would decode
/// to more than `max` bytes.
pub(crate) fn decode_base64(text: &str, max: usize) -> Result<Vec<u8>, VCardError> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() / 4 * 3 > max.saturating_add(2) {
        return Err(VCardError::PhotoTooLarge(max));
    }
    let data = BASE64
        .decode(&clean)
        .map_err(|_| VCardError::Malformed("BINVAL is not base64"))?;
    if data.len() > max {
        return Err(VCardError::PhotoTooLarge(max));
    }
    Ok(data)
}

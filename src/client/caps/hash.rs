//! The hashes of entity capabilities: XEP-0115's verification string (§5.1) and its SHA-1,
//! XEP-0390's hash input (§4.1) and its SHA-256 and SHA3-256, and the checks a description
//! must pass before it is hashed (XEP-0115 §5.4).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::Digest as _;

use crate::client::disco::DiscoInfo;
use crate::client::forms::{DataForm, FieldType};
use crate::ns;

/// A capabilities hash scheme: the XEP, its input format and its hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CapsHash {
    /// XEP-0115 with `hash='sha-1'`.
    Sha1,
    /// XEP-0390 with `algo='sha-256'`.
    Ecaps2Sha256,
    /// XEP-0390 with `algo='sha3-256'`.
    Ecaps2Sha3_256,
}

impl CapsHash {
    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The hash function's name in the IANA registry, as the XEPs write it.
    pub fn algo(self) -> &'static str {
        match self {
            CapsHash::Sha1 => "sha-1",
            CapsHash::Ecaps2Sha256 => "sha-256",
            CapsHash::Ecaps2Sha3_256 => "sha3-256",
        }
    }

    pub(super) fn ecaps2(algo: &str) -> Option<Self> {
        match algo {
            "sha-256" => Some(CapsHash::Ecaps2Sha256),
            "sha3-256" => Some(CapsHash::Ecaps2Sha3_256),
            _ => None,
        }
    }

    /// The hash of `info` under this scheme, base64-encoded (the `ver`, or the `<hash/>`
    /// text); `None` for a description the XEP calls ill-formed (duplicate identities or
    /// features, several forms of one `FORM_TYPE`...).
    pub fn compute(self, info: &DiscoInfo) -> Option<String> {
        well_formed(info).ok()?;
        self.hash(info)
    }

    /// The hash without the well-formedness checks; `None` where the scheme cannot hash
    /// `info` (XEP-0390 §4.1 aborts on a form without `FORM_TYPE`).
    pub(super) fn hash(self, info: &DiscoInfo) -> Option<String> {
        let ecaps2 = || {
            let typed = info
                .extensions
                .iter()
                .all(|f| f.field("FORM_TYPE").is_some());
            typed.then(|| ecaps2_input(info))
        };
        Some(match self {
            CapsHash::Sha1 => BASE64.encode(sha1::Sha1::digest(caps1_string(info).as_bytes())),
            CapsHash::Ecaps2Sha256 => BASE64.encode(sha2::Sha256::digest(ecaps2()?)),
            CapsHash::Ecaps2Sha3_256 => BASE64.encode(sha3::Sha3_256::digest(ecaps2()?)),
        })
    }

    /// The `disco#info` node that asks an entity for the description behind `ver`.
    pub(super) fn node(self, caps_node: &str, ver: &str) -> String {
        match self {
            CapsHash::Sha1 => format!("{caps_node}#{ver}"),
            _ => format!("{}#{}.{ver}", ns::CAPS2, self.algo()),
        }
    }
}

/// A capabilities hash: the scheme and its base64 value. What the cache is keyed by, and
/// what an application stores to hand back in [`CapsConfig::known`](super::CapsConfig::known).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct CapsKey {
    /// The scheme.
    pub hash: CapsHash,
    /// The base64 hash value.
    pub ver: String,
}

impl CapsKey {
    /// A key.
    pub fn new(hash: CapsHash, ver: impl Into<String>) -> Self {
        Self {
            hash,
            ver: ver.into(),
        }
    }
}

/// XEP-0115 §5.1: the verification string. Identities by category, type, language and name;
/// features; then each extended form by `FORM_TYPE`, its other fields by name and their
/// values, every piece followed by `<`, everything sorted by octets.
fn caps1_string(info: &DiscoInfo) -> String {
    let mut s = String::new();
    let mut identities: Vec<_> = info
        .identities
        .iter()
        .map(|i| {
            let lang = i.lang.as_deref().unwrap_or("");
            let name = i.name.as_deref().unwrap_or("");
            (i.category.as_str(), i.kind.as_str(), lang, name)
        })
        .collect();
    identities.sort_unstable();
    for (category, kind, lang, name) in identities {
        for (part, end) in [(category, '/'), (kind, '/'), (lang, '/'), (name, '<')] {
            s.push_str(part);
            s.push(end);
        }
    }
    let mut features: Vec<&str> = info.features.iter().map(String::as_str).collect();
    features.sort_unstable();
    for f in features {
        s.push_str(f);
        s.push('<');
    }
    let mut forms: Vec<(&str, &DataForm)> = info
        .extensions
        .iter()
        .filter_map(|f| Some((hidden_form_type(f)?, f)))
        .collect();
    forms.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (form_type, form) in forms {
        s.push_str(form_type);
        s.push('<');
        let mut fields: Vec<_> = form
            .fields
            .iter()
            .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
            .map(|f| (f.var.as_deref().unwrap_or(""), &f.values))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (var, values) in fields {
            s.push_str(var);
            s.push('<');
            let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
            values.sort_unstable();
            for v in values {
                s.push_str(v);
                s.push('<');
            }
        }
    }
    s
}

/// XEP-0390 §4.1: the hash input. Each piece is followed by 0x1f; an identity's four pieces
/// (category, type, language, name) and a field's name and sorted values form one string
/// ended by 0x1e; a form's sorted fields are ended by 0x1d; the features, identities and
/// forms, each sorted by octets, are each ended by 0x1c.
fn ecaps2_input(info: &DiscoInfo) -> Vec<u8> {
    fn piece(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(s.as_bytes());
        out.push(0x1f);
    }
    fn sorted_joined(mut parts: Vec<Vec<u8>>, end: u8) -> Vec<u8> {
        parts.sort_unstable();
        let mut out = parts.concat();
        out.push(end);
        out
    }
    let features = info
        .features
        .iter()
        .map(|f| {
            let mut out = Vec::with_capacity(f.len() + 1);
            piece(&mut out, f);
            out
        })
        .collect();
    let identities = info
        .identities
        .iter()
        .map(|i| {
            let mut out = Vec::new();
            piece(&mut out, &i.category);
            piece(&mut out, &i.kind);
            piece(&mut out, i.lang.as_deref().unwrap_or(""));
            piece(&mut out, i.name.as_deref().unwrap_or(""));
            out.push(0x1e);
            out
        })
        .collect();
    let forms = info
        .extensions
        .iter()
        .map(|form| {
            let fields = form
                .fields
                .iter()
                .map(|field| {
                    let mut out = Vec::new();
                    piece(&mut out, field.var.as_deref().unwrap_or(""));
                    let mut values: Vec<&str> = field.values.iter().map(String::as_str).collect();
                    values.sort_unstable();
                    for v in values {
                        piece(&mut out, v);
                    }
                    out.push(0x1e);
                    out
                })
                .collect();
            sorted_joined(fields, 0x1d)
        })
        .collect();
    let mut input = sorted_joined(features, 0x1c);
    input.extend(sorted_joined(identities, 0x1c));
    input.extend(sorted_joined(forms, 0x1c));
    input
}

/// The `FORM_TYPE` of a form that may take part in the hash: a hidden field with one value
/// (XEP-0115 §5.4: forms without one are ignored).
fn hidden_form_type(form: &DataForm) -> Option<&str> {
    let field = form.field("FORM_TYPE")?;
    (field.kind == FieldType::Hidden).then_some(())?;
    field.values.first().map(String::as_str)
}

/// XEP-0115 §5.4 and XEP-0390 §4.1: what makes a description ill-formed, so that it is
/// neither hashed nor cached.
pub(super) fn well_formed(info: &DiscoInfo) -> Result<(), &'static str> {
    fn has_duplicates<T: Ord>(mut items: Vec<T>) -> bool {
        items.sort_unstable();
        items.windows(2).any(|w| w[0] == w[1])
    }
    if has_duplicates(info.identities.iter().collect()) {
        return Err("an identity is listed twice");
    }
    if has_duplicates(info.features.iter().collect()) {
        return Err("a feature is listed twice");
    }
    let mut form_types = Vec::new();
    for form in &info.extensions {
        let Some(field) = form.field("FORM_TYPE") else {
            continue;
        };
        if form
            .fields
            .iter()
            .filter(|f| f.var.as_deref() == Some("FORM_TYPE"))
            .count()
            > 1
        {
            return Err("a form has several FORM_TYPE fields");
        }
        if field.values.windows(2).any(|w| w[0] != w[1]) {
            return Err("a FORM_TYPE has several different values");
        }
        if has_duplicates(
            form.fields
                .iter()
                .filter_map(|f| f.var.as_deref())
                .collect(),
        ) {
            return Err("a form has two fields of one name");
        }
        form_types.extend(field.values.first());
    }
    if has_duplicates(form_types) {
        return Err("two forms have the same FORM_TYPE");
    }
    for c in [0x1c, 0x1d, 0x1e, 0x1f].map(char::from) {
        let text = info
            .features
            .iter()
            .chain(info.identities.iter().flat_map(|i| {
                [&i.category, &i.kind]
                    .into_iter()
                    .chain(&i.lang)
                    .chain(&i.name)
            }))
            .chain(
                info.extensions
                    .iter()
                    .flat_map(|f| &f.fields)
                    .flat_map(|f| f.var.iter().chain(&f.values)),
            );
        if text.into_iter().any(|t| t.contains(c)) {
            return Err("a separator character in the description");
        }
    }
    Ok(())
}

//! XEP-0004: Data Forms, shared by the services that meet them (registration, capabilities'
//! extended information, configuration forms): parsed leniently but within limits, built for
//! submission, and a submission checked against its form.

use std::fmt;

use crate::ns;
use crate::xml::{Builder, ElementRef};

/// What a form is for (`type`, XEP-0004 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FormType {
    /// To be filled in.
    #[default]
    Form,
    /// Filled in, sent back.
    Submit,
    /// Declined.
    Cancel,
    /// Data (a result, extended information).
    Result,
}

impl FormType {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            FormType::Form => "form",
            FormType::Submit => "submit",
            FormType::Cancel => "cancel",
            FormType::Result => "result",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "form" => FormType::Form,
            "submit" => FormType::Submit,
            "cancel" => FormType::Cancel,
            "result" => FormType::Result,
            _ => return None,
        })
    }
}

/// A field's type (XEP-0004 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FieldType {
    /// `boolean`: `0`/`1`/`false`/`true`.
    Boolean,
    /// `fixed`: text for the user, not a value.
    Fixed,
    /// `hidden`: passed back as is.
    Hidden,
    /// `jid-multi`: several JIDs.
    JidMulti,
    /// `jid-single`: one JID.
    JidSingle,
    /// `list-multi`: several of the options.
    ListMulti,
    /// `list-single`: one of the options.
    ListSingle,
    /// `text-multi`: several lines.
    TextMulti,
    /// `text-private`: a secret (a password): never logged.
    TextPrivate,
    /// `text-single`: one line; the default.
    #[default]
    TextSingle,
}

impl FieldType {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Boolean => "boolean",
            FieldType::Fixed => "fixed",
            FieldType::Hidden => "hidden",
            FieldType::JidMulti => "jid-multi",
            FieldType::JidSingle => "jid-single",
            FieldType::ListMulti => "list-multi",
            FieldType::ListSingle => "list-single",
            FieldType::TextMulti => "text-multi",
            FieldType::TextPrivate => "text-private",
            FieldType::TextSingle => "text-single",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "boolean" => FieldType::Boolean,
            "fixed" => FieldType::Fixed,
            "hidden" => FieldType::Hidden,
            "jid-multi" => FieldType::JidMulti,
            "jid-single" => FieldType::JidSingle,
            "list-multi" => FieldType::ListMulti,
            "list-single" => FieldType::ListSingle,
            "text-multi" => FieldType::TextMulti,
            "text-private" => FieldType::TextPrivate,
            "text-single" => FieldType::TextSingle,
            _ => return None,
        })
    }

    /// Whether the field takes several values.
    pub fn is_multi(&self) -> bool {
        matches!(
            self,
            FieldType::JidMulti | FieldType::ListMulti | FieldType::TextMulti
        )
    }
}

/// Media attached to a field (XEP-0221), such as a CAPTCHA image (XEP-0158): where to get
/// it, and its MIME types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Media {
    /// `(MIME type, URI)`: `http:`, `https:`, or `cid:` for Bits of Binary (XEP-0231).
    pub uris: Vec<(String, String)>,
    /// The size the form suggests, if it says.
    pub size: Option<(u32, u32)>,
}

/// One field of a form. Its `Debug` hides the values of secret fields ([`Field::is_secret`]).
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Field {
    /// Its name (`var`); only `fixed` fields may have none.
    pub var: Option<String>,
    /// Its type.
    pub kind: FieldType,
    /// A label for the user.
    pub label: Option<String>,
    /// A longer description.
    pub desc: Option<String>,
    /// It must be filled in.
    pub required: bool,
    /// Its values (one for single-valued types).
    pub values: Vec<String>,
    /// For list fields, `(label, value)` of each option.
    pub options: Vec<(Option<String>, String)>,
    /// Attached media (a CAPTCHA image).
    pub media: Vec<Media>,
}

impl Field {
    /// A field of this type and name.
    pub fn new(var: impl Into<String>, kind: FieldType) -> Self {
        Self {
            var: Some(var.into()),
            kind,
            ..Self::default()
        }
    }

    /// With this value (replacing any).
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.values = vec![value.into()];
        self
    }

    /// The first value.
    pub fn value(&self) -> Option<&str> {
        self.values.first().map(String::as_str)
    }

    /// Its values are secrets: a `text-private` field, or one named like a password, token
    /// or secret. They are kept out of logs and `Debug` output.
    pub fn is_secret(&self) -> bool {
        is_secret_field(self.var.as_deref(), Some(self.kind.name()))
    }

    /// The field's element. Its type is always written (but for the default, text-single),
    /// so that a submission's private fields stay recognisable (the wire log hides them) and
    /// a result's hidden `FORM_TYPE` stays hidden (XEP-0068); `with_definition` adds what
    /// only a `form` carries.
    fn to_builder(&self, with_definition: bool) -> Builder {
        let mut f = Builder::new("field", ns::DATA_FORMS).attr_opt("var", self.var.as_deref());
        if self.kind != FieldType::TextSingle {
            f = f.attr("type", std::borrow::Cow::Borrowed(self.kind.name()));
        }
        if with_definition {
            f = f.attr_opt("label", self.label.as_deref());
            if let Some(desc) = &self.desc {
                f = f.text_child("desc", desc);
            }
            if self.required {
                f = f.child(Builder::new("required", ns::DATA_FORMS));
            }
            for (label, value) in &self.options {
                f = f.child(
                    Builder::new("option", ns::DATA_FORMS)
                        .attr_opt("label", label.as_deref())
                        .text_child("value", value),
                );
            }
        }
        for value in &self.values {
            f = f.text_child("value", value);
        }
        f
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = ["[hidden]"];
        let values: &dyn fmt::Debug = if self.is_secret() && !self.values.is_empty() {
            &hidden
        } else {
            &self.values
        };
        f.debug_struct("Field")
            .field("var", &self.var)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("desc", &self.desc)
            .field("required", &self.required)
            .field("values", values)
            .field("options", &self.options)
            .field("media", &self.media)
            .finish()
    }
}

/// Whether a field's values are secrets, from its name and type: `text-private`, or named
/// like a password, token or secret.
pub(crate) fn is_secret_field(var: Option<&str>, kind: Option<&str>) -> bool {
    kind == Some("text-private")
        || var.is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("password") || v.contains("token") || v.contains("secret")
        })
}

/// Bounds on what a peer's form may make us hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FormLimits {
    /// Fields. Default 256.
    pub max_fields: usize,
    /// Values and options per field. Default 256.
    pub max_values: usize,
    /// Bytes of all the text together (titles, instructions, labels, values, media types
    /// and URIs), each piece counting [`FormLimits::PIECE_COST`] bytes more, so that empty
    /// items are not free. Default 64 KiB.
    pub max_text: usize,
}

impl FormLimits {
    /// What each piece of text costs beyond its bytes (about what holding it costs).
    pub const PIECE_COST: usize = 32;

    /// Spends one piece of text `s` from the budget `spent`.
    pub(crate) fn spend(&self, spent: &mut usize, s: &str) -> Result<(), FormError> {
        *spent += s.len() + Self::PIECE_COST;
        if *spent > self.max_text {
            Err(FormError::LimitReached("more text than the limit"))
        } else {
            Ok(())
        }
    }
}

impl Default for FormLimits {
    fn default() -> Self {
        Self {
            max_fields: 256,
            max_values: 256,
            max_text: 64 * 1024,
        }
    }
}

/// Why a form was refused, or a submission does not fit its form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// Not a `<x xmlns='jabber:x:data'/>`.
    #[error("not a data form")]
    NotAForm,
    /// A [`FormLimits`] bound was reached (the text says which).
    #[error("the form is over a limit: {0}")]
    LimitReached(&'static str),
    /// A required field has no value.
    #[error("the required field '{0}' is empty")]
    MissingRequired(String),
    /// A value does not fit its field's type (the field's name, and what is wrong).
    #[error("field '{0}': {1}")]
    InvalidValue(String, &'static str),
}

/// A data form (XEP-0004).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DataForm {
    /// What it is for.
    pub kind: FormType,
    /// Its title.
    pub title: Option<String>,
    /// Instructions, one paragraph each.
    pub instructions: Vec<String>,
    /// Its fields, in order.
    pub fields: Vec<Field>,
}

impl DataForm {
    /// An empty form of this type.
    pub fn new(kind: FormType) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }

    /// Reads `<x xmlns='jabber:x:data'/>` within `limits`. Lenient about what does not
    /// matter (an unknown field type is `text-single`, an unknown form type `form`), strict
    /// about size.
    pub fn parse(el: ElementRef<'_>, limits: &FormLimits) -> Result<DataForm, FormError> {
        Self::parse_within(el, limits, &mut 0)
    }

    /// As [`DataForm::parse`], with `text` bytes of [`FormLimits::max_text`] already spent
    /// (by the element around the form).
    pub(crate) fn parse_within(
        el: ElementRef<'_>,
        limits: &FormLimits,
        text: &mut usize,
    ) -> Result<DataForm, FormError> {
        if !el.is("x", ns::DATA_FORMS) {
            return Err(FormError::NotAForm);
        }
        let mut count = |s: &str| limits.spend(text, s);
        let mut form = DataForm {
            kind: el
                .attr("type")
                .and_then(|t| FormType::from_name(&t))
                .unwrap_or_default(),
            ..DataForm::default()
        };
        for child in el.children() {
            match child.name() {
                _ if child.ns() != ns::DATA_FORMS => {}
                "title" => {
                    let t = child.text();
                    count(&t)?;
                    form.title = Some(t.into_owned());
                }
                "instructions" => {
                    let t = child.text();
                    count(&t)?;
                    if form.instructions.len() == limits.max_values {
                        return Err(FormError::LimitReached("more instructions than the limit"));
                    }
                    form.instructions.push(t.into_owned());
                }
                "field" => {
                    if form.fields.len() == limits.max_fields {
                        return Err(FormError::LimitReached("more fields than the limit"));
                    }
                    form.fields.push(parse_field(child, limits, &mut count)?);
                }
                _ => {}
            }
        }
        Ok(form)
    }

    /// The `FORM_TYPE` (XEP-0068): the value of the hidden field of that name.
    pub fn form_type(&self) -> Option<&str> {
        self.field("FORM_TYPE").and_then(Field::value)
    }

    /// The field with this name.
    pub fn field(&self, var: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.var.as_deref() == Some(var))
    }

    /// The field with this name, to change.
    pub fn field_mut(&mut self, var: &str) -> Option<&mut Field> {
        self.fields
            .iter_mut()
            .find(|f| f.var.as_deref() == Some(var))
    }

    /// Sets a field's value (adding the field if the form has none of that name).
    pub fn set(&mut self, var: &str, value: impl Into<String>) {
        match self.field_mut(var) {
            Some(field) => field.values = vec![value.into()],
            None => self
                .fields
                .push(Field::new(var, FieldType::TextSingle).with_value(value)),
        }
    }

    /// What to send back: a `submit` form with the values of every field that has a name
    /// (`FORM_TYPE` and the other hidden fields included, as XEP-0004 §3.4 asks).
    pub fn submission(&self) -> DataForm {
        DataForm {
            kind: FormType::Submit,
            title: None,
            instructions: Vec::new(),
            fields: self
                .fields
                .iter()
                .filter(|f| f.var.is_some() && f.kind != FieldType::Fixed)
                .map(|f| Field {
                    var: f.var.clone(),
                    kind: f.kind,
                    values: f.values.clone(),
                    ..Field::default()
                })
                .collect(),
        }
    }

    /// Checks that `submission` fills every required field of this form, with values its
    /// types accept (one value for single-valued fields, booleans, JIDs, list options).
    pub fn validate(&self, submission: &DataForm) -> Result<(), FormError> {
        for field in &self.fields {
            let Some(var) = &field.var else { continue };
            let given = submission.field(var);
            let values: &[String] = given.map_or(&[], |f| f.values.as_slice());
            let filled = values.iter().any(|v| !v.is_empty());
            if field.required && !filled {
                return Err(FormError::MissingRequired(var.clone()));
            }
            let invalid = |why| Err(FormError::InvalidValue(var.clone(), why));
            if !field.kind.is_multi() && values.len() > 1 {
                return invalid("several values in a single-valued field");
            }
            // An empty value is no value (a server's form may carry `<value/>` in an
            // optional field): only required fields must have one, checked above.
            for value in values.iter().filter(|v| !v.is_empty()) {
                match field.kind {
                    FieldType::Boolean
                        if !matches!(value.as_str(), "0" | "1" | "true" | "false") =>
                    {
                        return invalid("not a boolean")
                    }
                    FieldType::JidSingle | FieldType::JidMulti
                        if crate::jid::Jid::parse(value).is_err() =>
                    {
                        return invalid("not a JID")
                    }
                    FieldType::ListSingle | FieldType::ListMulti
                        if !field.options.is_empty()
                            && !field.options.iter().any(|(_, o)| o == value) =>
                    {
                        return invalid("not one of the options")
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The `<x xmlns='jabber:x:data'/>` element. A `form` carries the fields' definitions;
    /// a `submit` or `result` only their names and values.
    pub fn to_builder(&self) -> Builder {
        let mut x = Builder::new("x", ns::DATA_FORMS)
            .attr("type", std::borrow::Cow::Borrowed(self.kind.name()));
        let definitions = self.kind == FormType::Form;
        if let Some(title) = self.title.as_deref().filter(|_| definitions) {
            x = x.text_child("title", title);
        }
        for instructions in self.instructions.iter().filter(|_| definitions) {
            x = x.text_child("instructions", instructions);
        }
        for field in &self.fields {
            x = x.child(field.to_builder(definitions));
        }
        x
    }
}

fn parse_field(
    el: ElementRef<'_>,
    limits: &FormLimits,
    count: &mut impl FnMut(&str) -> Result<(), FormError>,
) -> Result<Field, FormError> {
    let mut field = Field {
        var: el.attr("var").map(|v| v.into_owned()),
        kind: el
            .attr("type")
            .and_then(|t| FieldType::from_name(&t))
            .unwrap_or_default(),
        label: el.attr("label").map(|l| l.into_owned()),
        ..Field::default()
    };
    for part in [&field.var, &field.label].into_iter().flatten() {
        count(part)?;
    }
    for child in el.children() {
        match (child.ns(), child.name()) {
            (ns::DATA_FORMS, "desc") => {
                let t = child.text();
                count(&t)?;
                field.desc = Some(t.into_owned());
            }
            (ns::DATA_FORMS, "required") => field.required = true,
            (ns::DATA_FORMS, "value") => {
                if field.values.len() == limits.max_values {
                    return Err(FormError::LimitReached("more values than the limit"));
                }
                let t = child.text();
                count(&t)?;
                field.values.push(t.into_owned());
            }
            (ns::DATA_FORMS, "option") => {
                if field.options.len() == limits.max_values {
                    return Err(FormError::LimitReached("more options than the limit"));
                }
                let label = child.attr("label").map(|l| l.into_owned());
                let value = child
                    .get_child("value", ns::DATA_FORMS)
                    .map(|v| v.text().into_owned())
                    .unwrap_or_default();
                count(&value)?;
                count(label.as_deref().unwrap_or_default())?;
                field.options.push((label, value));
            }
            (ns::MEDIA_ELEMENT, "media") => {
                if field.media.len() == limits.max_values {
                    return Err(FormError::LimitReached("more media than the limit"));
                }
                count("")?;
                let dimension = |name| child.attr(name).and_then(|v| v.parse::<u32>().ok());
                let mut media = Media {
                    uris: Vec::new(),
                    size: dimension("width").zip(dimension("height")),
                };
                for uri in child.children().filter(|u| u.is("uri", ns::MEDIA_ELEMENT)) {
                    if media.uris.len() == limits.max_values {
                        return Err(FormError::LimitReached("more media URIs than the limit"));
                    }
                    let kind = uri.attr("type").map(|t| t.into_owned()).unwrap_or_default();
                    let target = uri.text().trim().to_owned();
                    count(&kind)?;
                    count(&target)?;
                    media.uris.push((kind, target));
                }
                field.media.push(media);
            }
            _ => {}
        }
    }
    Ok(field)
}

impl fmt::Display for FormType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

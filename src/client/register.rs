//! XEP-0077: In-Band Registration. Before authentication: create the account (automatically
//! from the configured JID and password, or with the application filling the server's
//! form), then log in on the same stream or stop. Once online: change the password, remove
//! the account.
//!
//! Registration sends a password, so it happens only on an encrypted stream, unless both
//! dangerous plaintext opt-ins are set.

use std::fmt;
use std::time::Instant;

use super::event::IqError;
use super::forms::{is_secret_field, DataForm, FormError, FormLimits};
use super::session::Owner;
use super::stanza::{ErrorType, Iq, IqType, StanzaError, StanzaErrorCondition};
use super::{Client, CommandError, DisconnectReason, Event, Password, Phase, TlsPolicy};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, ElementRef};

/// Registering instead of, or before, logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Register {
    /// Fill the form with the configured JID's localpart and password; fail with
    /// [`RegistrationError::UnfilledFields`] if it asks for more.
    Automatic {
        /// Log in once registered (otherwise close the stream).
        then_login: bool,
    },
    /// Hand the form to the application ([`RegistrationEvent::Form`]) and wait for
    /// [`Client::submit_registration`].
    Interactive {
        /// Log in once registered (otherwise close the stream).
        then_login: bool,
    },
}

impl Register {
    fn then_login(&self) -> bool {
        match self {
            Register::Automatic { then_login } | Register::Interactive { then_login } => {
                *then_login
            }
        }
    }
}

/// The server's registration form (XEP-0077 §3.1): legacy fields, a data form, or both.
/// Its `Debug` hides passwords.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RegistrationForm {
    /// What the server says to do.
    pub instructions: Option<String>,
    /// The account exists already (`<registered/>`): registering again changes it.
    pub registered: bool,
    /// The legacy fields asked for (`username`, `password`, `email`...), with what the
    /// application (or the automatic mode) filled in.
    pub fields: Vec<(String, String)>,
    /// The data form, when the server sent one (Prosody does); filled in the same way.
    pub form: Option<DataForm>,
    /// A web page to register on instead (XEP-0066), when the server offers one.
    pub url: Option<String>,
}

impl RegistrationForm {
    /// Reads the `<query xmlns='jabber:iq:register'/>` of the server's answer.
    pub fn parse(query: ElementRef<'_>, limits: &FormLimits) -> Result<Self, RegistrationError> {
        let mut form = RegistrationForm::default();
        // One text budget for the legacy fields and the data form together.
        let mut text = 0usize;
        let refused = |e: FormError| {
            RegistrationError::Form(match e {
                FormError::LimitReached(why) => why,
                _ => "a malformed data form",
            })
        };
        for child in query.children() {
            match (child.ns(), child.name()) {
                (ns::REGISTER, "instructions") => {
                    let t = child.text();
                    limits.spend(&mut text, &t).map_err(refused)?;
                    form.instructions = Some(t.into_owned());
                }
                (ns::REGISTER, "registered") => form.registered = true,
                (ns::REGISTER, name) => {
                    if form.fields.len() == limits.max_fields {
                        return Err(RegistrationError::Form("more fields than the limit"));
                    }
                    let value = child.text();
                    limits.spend(&mut text, name).map_err(refused)?;
                    limits.spend(&mut text, &value).map_err(refused)?;
                    form.fields.push((name.to_owned(), value.into_owned()));
                }
                (ns::DATA_FORMS, "x") => {
                    let parsed =
                        DataForm::parse_within(child, limits, &mut text).map_err(refused)?;
                    form.form = Some(parsed);
                }
                (ns::OOB, "x") => {
                    let url = child
                        .get_child("url", ns::OOB)
                        .map(|u| u.text().trim().to_owned());
                    limits
                        .spend(&mut text, url.as_deref().unwrap_or_default())
                        .map_err(refused)?;
                    form.url = url;
                }
                _ => {}
            }
        }
        Ok(form)
    }

    /// Sets a field, in the legacy fields and in the data form, whichever the server asked
    /// with (`username`, `password`, `email`, or a data form field such as a CAPTCHA's
    /// `ocr`).
    pub fn fill(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some((_, v)) = self.fields.iter_mut().find(|(n, _)| n == name) {
            v.clone_from(&value);
        }
        if let Some(form) = &mut self.form {
            if form.field(name).is_some() {
                form.set(name, value);
            }
        }
    }

    /// Whether the server asks for this field.
    pub fn asks(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
            || self.form.as_ref().is_some_and(|f| f.field(name).is_some())
    }

    /// The fields still empty that the server requires: every legacy field (XEP-0077 §3.1
    /// makes them all required) or, with a data form, its required fields.
    pub fn unfilled(&self) -> Vec<String> {
        match &self.form {
            Some(form) => form
                .fields
                .iter()
                .filter(|f| f.required && f.values.iter().all(|v| v.is_empty()))
                .filter_map(|f| f.var.clone())
                .collect(),
            None => self
                .fields
                .iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }

    /// Whether this form, filled in, may be submitted in answer to `asked`: every required
    /// field filled ([`RegistrationForm::unfilled`]), and the data form's values fitting
    /// their fields.
    fn check_against(&self, asked: &RegistrationForm) -> Result<(), RegistrationError> {
        let unfilled = self.unfilled();
        if !unfilled.is_empty() {
            return Err(RegistrationError::UnfilledFields(unfilled));
        }
        if let (Some(asked), Some(filled)) = (&asked.form, &self.form) {
            asked
                .validate(&filled.submission())
                .map_err(RegistrationError::Rejected)?;
        }
        Ok(())
    }

    /// The query to submit: the data form's submission when there is one, else the legacy
    /// fields.
    fn submission(&self) -> Builder {
        let mut query = Builder::new("query", ns::REGISTER);
        match &self.form {
            Some(form) => query = query.child(form.submission().to_builder()),
            None => {
                for (name, value) in &self.fields {
                    query = query.text_child(name.clone(), value);
                }
            }
        }
        query
    }
}

/// Why registration did not happen, with the server's text where it gave one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// `conflict`: the name is taken.
    #[error("the name is taken{}", text(.0))]
    Conflict(Option<String>),
    /// `not-acceptable`: fields are missing or wrong.
    #[error("the server does not accept these fields{}", text(.0))]
    NotAcceptable(Option<String>),
    /// `not-allowed`: registration is disabled.
    #[error("registration is disabled on this server{}", text(.0))]
    NotAllowed(Option<String>),
    /// `resource-constraint`: too many registrations for now (ejabberd's rate limit).
    #[error("the server refuses more registrations for now{}", text(.0))]
    ResourceConstraint(Option<String>),
    /// `bad-request`: the request was malformed.
    #[error("the server found the request malformed{}", text(.0))]
    BadRequest(Option<String>),
    /// `service-unavailable`: no in-band registration here.
    #[error("this server has no in-band registration{}", text(.0))]
    ServiceUnavailable(Option<String>),
    /// Another refusal.
    #[error("the server refused: {0}")]
    Other(Box<StanzaError>),
    /// The automatic mode cannot fill these required fields: register interactively.
    #[error("the server also asks for {0:?}: register interactively")]
    UnfilledFields(Vec<String>),
    /// Registration is only on a web page (XEP-0066).
    #[error("registration is on a web page: {0}")]
    WebOnly(String),
    /// The stream is not encrypted and the dangerous plaintext opt-ins are not both set:
    /// no password goes out in clear.
    #[error("registration needs an encrypted stream")]
    NotEncrypted,
    /// The JID has no localpart to register.
    #[error("the JID has no localpart to register")]
    NoUsername,
    /// The server's form is over a limit, or malformed (the text says how).
    #[error("the registration form was refused: {0}")]
    Form(&'static str),
    /// The filled form does not fit the server's.
    #[error("the filled form does not fit: {0}")]
    Rejected(FormError),
}

fn text(t: &Option<String>) -> String {
    t.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
}

impl RegistrationError {
    fn from_stanza(error: StanzaError) -> Self {
        let text = error.text.clone();
        match error.condition {
            StanzaErrorCondition::Conflict => RegistrationError::Conflict(text),
            StanzaErrorCondition::NotAcceptable => RegistrationError::NotAcceptable(text),
            StanzaErrorCondition::NotAllowed => RegistrationError::NotAllowed(text),
            StanzaErrorCondition::ResourceConstraint => RegistrationError::ResourceConstraint(text),
            StanzaErrorCondition::BadRequest => RegistrationError::BadRequest(text),
            StanzaErrorCondition::ServiceUnavailable
            | StanzaErrorCondition::FeatureNotImplemented => {
                RegistrationError::ServiceUnavailable(text)
            }
            _ => RegistrationError::Other(Box::new(error)),
        }
    }
}

/// What happened with registration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// The server's form, for [`Register::Interactive`]: fill it
    /// ([`RegistrationForm::fill`]) and call [`Client::submit_registration`].
    Form(RegistrationForm),
    /// The account was created.
    Registered {
        /// Its bare JID.
        jid: Jid,
    },
    /// The password was changed; the configuration holds the new one, for reconnecting.
    PasswordChanged,
    /// The password change was refused. The server may have sent a form asking for more
    /// (the old password, XEP-0077 §3.3): fill it and call
    /// [`Client::submit_password_form`].
    PasswordChangeRefused {
        /// Why.
        error: IqError,
        /// The form, if any.
        form: Option<DataForm>,
    },
    /// The account removal was refused (the session goes on).
    RemovalRefused(IqError),
}

/// What the registration service is waiting for.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A password change to this password.
    PasswordChange(Password),
    /// The account's removal.
    Removal,
}

/// Where an account removal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Removal {
    #[default]
    NotAsked,
    /// Asked for, no answer yet: the server ending the stream now is the removal's success
    /// (a server may end it without answering).
    Asked,
    /// The server said the account is removed.
    Confirmed,
}

impl fmt::Debug for RegistrationForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(name, value)| {
                let secret = !value.is_empty() && is_secret_field(Some(name), None);
                (
                    name.as_str(),
                    if secret { "[hidden]" } else { value.as_str() },
                )
            })
            .collect();
        f.debug_struct("RegistrationForm")
            .field("instructions", &self.instructions)
            .field("registered", &self.registered)
            .field("fields", &fields)
            .field("form", &self.form)
            .field("url", &self.url)
            .finish()
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Register::Automatic { .. } => f.write_str("automatic"),
            Register::Interactive { .. } => f.write_str("interactive"),
        }
    }
}

impl Client {
    // ---- before authentication ----

    /// On a stream we may authenticate on: register first if asked to, else authenticate.
    pub(super) fn register_or_authenticate(&mut self, now: Instant) {
        if self.config.register.is_some() && !self.registered {
            self.start_registration(now);
        } else {
            self.start_auth(now);
        }
    }

    /// Features on a stream we may authenticate on, with registration asked for: ask for
    /// the form (whether or not the server advertised the feature: some do not).
    pub(super) fn start_registration(&mut self, now: Instant) {
        let plaintext_ok = self.config.tls == TlsPolicy::DangerousPlaintextAllowed
            && self.config.dangerous_plain_without_tls;
        if !self.secure && !plaintext_ok {
            let reason = DisconnectReason::Registration(RegistrationError::NotEncrypted);
            return self.fail(now, reason, None);
        }
        tracing::debug!(mode = %self.config.register.map_or(String::new(), |r| r.to_string()), "in-band registration: asking for the form");
        let query = Builder::new("query", ns::REGISTER);
        let id = self.send_negotiation_iq(now, IqType::Get, query);
        self.phase = Phase::ExpectRegisterForm(id);
    }

    /// The answer to our form request or submission.
    pub(super) fn on_registration_answer(&mut self, now: Instant, iq: Iq) {
        let expected = match &self.phase {
            Phase::ExpectRegisterForm(id) | Phase::ExpectRegisterResult(id) => id.clone(),
            _ => return,
        };
        let from_server = iq
            .from
            .as_ref()
            .is_none_or(|f| f.as_str() == self.config.jid.domain());
        if iq.id != expected || !from_server || !matches!(iq.kind, IqType::Result | IqType::Error) {
            if matches!(iq.kind, IqType::Get | IqType::Set) {
                let error =
                    StanzaError::new(ErrorType::Wait, StanzaErrorCondition::UnexpectedRequest);
                self.send_element_internal(now, &iq.error_reply(error));
            }
            return;
        }
        if let Some(error) = iq.error() {
            let reason = DisconnectReason::Registration(RegistrationError::from_stanza(error));
            return self.fail(now, reason, None);
        }
        match self.phase {
            Phase::ExpectRegisterForm(_) => self.on_registration_form(now, &iq),
            _ => self.on_registered(now),
        }
    }

    fn on_registration_form(&mut self, now: Instant, iq: &Iq) {
        let parsed = match iq.element.get_child("query", ns::REGISTER) {
            Some(query) => RegistrationForm::parse(query, &self.config.form_limits),
            None => Err(RegistrationError::Form(
                "an answer without a registration query",
            )),
        };
        let mut form = match parsed {
            Ok(form) => form,
            Err(e) => return self.fail(now, DisconnectReason::Registration(e), None),
        };
        if form.fields.is_empty() && form.form.is_none() {
            let error = match form.url.take() {
                Some(url) => RegistrationError::WebOnly(url),
                None => RegistrationError::Form("a form without fields"),
            };
            return self.fail(now, DisconnectReason::Registration(error), None);
        }
        let Some(username) = self.config.jid.local().map(str::to_owned) else {
            let reason = DisconnectReason::Registration(RegistrationError::NoUsername);
            return self.fail(now, reason, None);
        };
        form.fill("username", username);
        form.fill("password", self.config.password.get());
        match self.config.register {
            Some(Register::Interactive { .. }) => {
                self.phase = Phase::ExpectRegisterSubmission(Box::new(form.clone()));
                self.emit(Event::Registration(RegistrationEvent::Form(form)));
            }
            _ => {
                let unfilled = form.unfilled();
                if !unfilled.is_empty() {
                    let reason =
                        DisconnectReason::Registration(RegistrationError::UnfilledFields(unfilled));
                    return self.fail(now, reason, None);
                }
                self.submit_form(now, &form);
            }
        }
    }

    /// Submits the registration form of a [`RegistrationEvent::Form`], filled in. It is
    /// checked first: a form with required fields empty is
    /// [`RegistrationError::UnfilledFields`], one whose values do not fit is
    /// [`RegistrationError::Rejected`] (both in [`CommandError::Registration`], and nothing
    /// is sent: fill it better, or close).
    pub fn submit_registration(
        &mut self,
        now: Instant,
        form: RegistrationForm,
    ) -> Result<(), CommandError> {
        let Phase::ExpectRegisterSubmission(asked) = &self.phase else {
            return Err(CommandError::Unexpected(
                "no registration form is waiting to be submitted",
            ));
        };
        form.check_against(asked)
            .map_err(CommandError::Registration)?;
        // The time the application took is not the server's: its clock starts now.
        self.negotiation_deadline = super::later(now, self.config.timeouts.negotiation);
        self.submit_form(now, &form);
        Ok(())
    }

    /// Whether the account was registered on this client.
    #[cfg(any(feature = "tokio", feature = "blocking"))]
    pub(crate) fn is_registered(&self) -> bool {
        self.registered
    }

    /// Gives up registering, for this reason (a driver whose filler left required fields
    /// empty).
    #[cfg(any(feature = "tokio", feature = "blocking"))]
    pub(crate) fn fail_registration(&mut self, now: Instant, error: RegistrationError) {
        if matches!(self.phase, Phase::ExpectRegisterSubmission(_)) {
            self.fail(now, DisconnectReason::Registration(error), None);
        }
    }

    fn submit_form(&mut self, now: Instant, form: &RegistrationForm) {
        let id = self.send_negotiation_iq(now, IqType::Set, form.submission());
        self.phase = Phase::ExpectRegisterResult(id);
    }

    fn on_registered(&mut self, now: Instant) {
        self.registered = true;
        let jid = self.config.jid.bare();
        tracing::debug!(%jid, "registered");
        self.emit(Event::Registration(RegistrationEvent::Registered { jid }));
        if self.config.register.is_some_and(|r| r.then_login()) {
            // The same stream goes on to authentication with the features it offered.
            self.start_auth(now);
        } else {
            self.close(now);
        }
    }

    // ---- once online ----

    /// Changes the account's password (XEP-0077 §3.3). The outcome is a
    /// [`RegistrationEvent`]; on success the configuration holds the new password, so a
    /// reconnect uses it.
    pub fn change_password(&mut self, now: Instant, password: &str) -> Result<(), CommandError> {
        self.require_online()?;
        let username = self.config.jid.local().unwrap_or_default().to_owned();
        let query = Builder::new("query", ns::REGISTER)
            .text_child("username", username)
            .text_child("password", password);
        let pending = Pending::PasswordChange(Password::Fixed(password.to_owned()));
        self.send_registration(now, query, pending)
    }

    /// Submits the form the server sent with a refused password change (typically asking
    /// for the old password), filled in.
    pub fn submit_password_form(
        &mut self,
        now: Instant,
        form: DataForm,
    ) -> Result<(), CommandError> {
        self.require_online()?;
        let password = form
            .field("password")
            .and_then(|f| f.value())
            .ok_or(CommandError::InvalidStanza("the form has no new password"))?
            .to_owned();
        let query = Builder::new("query", ns::REGISTER).child(form.submission().to_builder());
        self.send_registration(
            now,
            query,
            Pending::PasswordChange(Password::Fixed(password)),
        )
    }

    /// Removes the account from the server (XEP-0077 §3.2). The server then ends the
    /// stream; the session ends with [`DisconnectReason::AccountRemoved`], or a
    /// [`RegistrationEvent::RemovalRefused`] says why not.
    pub fn remove_account(&mut self, now: Instant) -> Result<(), CommandError> {
        self.require_online()?;
        let query = Builder::new("query", ns::REGISTER).child(Builder::new("remove", ns::REGISTER));
        self.send_registration(now, query, Pending::Removal)?;
        self.removal = Removal::Asked;
        Ok(())
    }

    fn send_registration(
        &mut self,
        now: Instant,
        query: Builder,
        pending: Pending,
    ) -> Result<(), CommandError> {
        let domain = self.config.jid.domain_jid();
        self.send_request(
            now,
            Some(&domain),
            IqType::Set,
            query,
            Owner::Register(Box::new(pending)),
        )
        .map(drop)
    }

    /// The outcome of a password change or removal; `answer` is the server's stanza, when
    /// one came (an error may carry a form).
    pub(super) fn on_registration_response(
        &mut self,
        pending: Pending,
        result: Result<(), IqError>,
        answer: Option<&Iq>,
    ) {
        let event = match (pending, result) {
            (Pending::PasswordChange(password), Ok(())) => {
                self.config.password = password;
                // The keys came from the old password.
                self.scram_keys = None;
                RegistrationEvent::PasswordChanged
            }
            (Pending::PasswordChange(_), Err(error)) => {
                // XEP-0077 §3.3: the refusal may ask for more through a form.
                let form = answer
                    .and_then(|iq| iq.element.get_child("query", ns::REGISTER))
                    .and_then(|q| q.get_child("x", ns::DATA_FORMS))
                    .and_then(|x| DataForm::parse(x, &self.config.form_limits).ok());
                RegistrationEvent::PasswordChangeRefused { error, form }
            }
            // The server ends the stream next; the session's end says it was a removal.
            (Pending::Removal, Ok(())) => {
                self.removal = Removal::Confirmed;
                return;
            }
            // The session's end says what happened.
            (Pending::Removal, Err(IqError::Disconnected)) => return,
            (Pending::Removal, Err(error)) => {
                self.removal = Removal::NotAsked;
                RegistrationEvent::RemovalRefused(error)
            }
        };
        self.emit(Event::Registration(event));
    }
}

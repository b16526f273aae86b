//! In-band registration (XEP-0077) through the client, against the scripted server: both
//! servers' form shapes, automatic and interactive, register-then-login and register-only,
//! every typed refusal, no registration in clear, password changes (with the form that asks
//! for the old password) and account removal ending the session as a success.

mod harness;

use harness::{config, Pair, Script, DOMAIN, PASSWORD, PROSODY_REGISTER_FORM, USER};
use xmpp_sansio::client::register::{Register, RegistrationError, RegistrationEvent};
use xmpp_sansio::client::{
    CommandError, Config, DisconnectReason, Event, IqError, Password, TlsPolicy,
};

fn registering(then_login: bool) -> Config {
    let mut config = config();
    config.register = Some(Register::Automatic { then_login });
    config
}

fn registration_events(pair: &Pair) -> Vec<&RegistrationEvent> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Registration(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The pair driven as far as it goes, with the server's registration form `form`.
fn run(config: Config, form: &str, error: Option<&'static str>) -> Pair {
    let mut pair = Pair::new(config, Script::default());
    pair.server.register_form = form.to_owned();
    pair.server.register_error = error;
    pair.drive();
    pair
}

#[test]
fn automatic_registration_then_login_with_ejabberds_legacy_form() {
    let pair = run(registering(true), harness::EJABBERD_REGISTER_FORM, None);
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    let sent = pair.sent();
    // The form is asked for after TLS, before SASL; the submission carries the legacy fields.
    let starttls = sent.find("<starttls").unwrap();
    let get = sent.find("<query xmlns='jabber:iq:register'/>").unwrap();
    let auth = sent.find("<auth").unwrap();
    assert!(starttls < get && get < auth, "{sent}");
    assert!(sent.contains(&format!(
        "<query xmlns='jabber:iq:register'><username>{USER}</username><password>{PASSWORD}</password></query>"
    )));
    assert_eq!(
        pair.server.registered,
        [(USER.to_owned(), PASSWORD.to_owned())]
    );
    let events = registration_events(&pair);
    assert!(
        matches!(events[..], [RegistrationEvent::Registered { jid }] if jid.as_str() == format!("{USER}@{DOMAIN}"))
    );
    // Registered before online.
    let registered = pair
        .events
        .iter()
        .position(|e| matches!(e, Event::Registration(_)))
        .unwrap();
    let online = pair
        .events
        .iter()
        .position(|e| matches!(e, Event::Online { .. }))
        .unwrap();
    assert!(registered < online);
}

#[test]
fn prosodys_data_form_is_submitted_as_a_data_form() {
    let pair = run(registering(true), PROSODY_REGISTER_FORM, None);
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    let sent = pair.sent();
    assert!(
        sent.contains(
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>\
         <field var='username'><value>juliet</value></field>"
        ),
        "{sent}"
    );
    assert_eq!(
        pair.server.registered,
        [(USER.to_owned(), PASSWORD.to_owned())]
    );
}

#[test]
fn registration_only_closes_after_registering() {
    let pair = run(registering(false), harness::EJABBERD_REGISTER_FORM, None);
    assert!(!pair.sent().contains("<auth"), "no login");
    assert!(matches!(
        registration_events(&pair)[..],
        [RegistrationEvent::Registered { .. }]
    ));
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::Closed));
}

#[test]
fn every_refusal_is_typed_with_the_servers_text() {
    for (condition, expected) in [
        (
            "conflict",
            RegistrationError::Conflict(Some("refused by the script".into())),
        ),
        (
            "not-acceptable",
            RegistrationError::NotAcceptable(Some("refused by the script".into())),
        ),
        (
            "not-allowed",
            RegistrationError::NotAllowed(Some("refused by the script".into())),
        ),
        (
            "resource-constraint",
            RegistrationError::ResourceConstraint(Some("refused by the script".into())),
        ),
        (
            "bad-request",
            RegistrationError::BadRequest(Some("refused by the script".into())),
        ),
        (
            "service-unavailable",
            RegistrationError::ServiceUnavailable(Some("refused by the script".into())),
        ),
    ] {
        let pair = run(
            registering(true),
            harness::EJABBERD_REGISTER_FORM,
            Some(condition),
        );
        assert_eq!(
            pair.disconnect_reason(),
            Some(DisconnectReason::Registration(expected.clone())),
            "{condition}"
        );
        assert!(
            !pair.sent().contains("<auth"),
            "{condition}: no login after a refusal"
        );
    }
    assert_eq!(
        RegistrationError::Conflict(None).to_string(),
        "the name is taken"
    );
    assert_eq!(
        RegistrationError::NotAllowed(Some("closed".into())).to_string(),
        "registration is disabled on this server: closed"
    );
}

#[test]
fn forms_the_automatic_mode_cannot_fill_are_refused_before_sending_anything() {
    let with_email = format!("{}<email/>", harness::EJABBERD_REGISTER_FORM);
    let pair = run(registering(true), &with_email, None);
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Registration(
            RegistrationError::UnfilledFields(vec!["email".into()])
        ))
    );
    assert!(pair.server.registered.is_empty());
    // A web page only (XEP-0077 §5, XEP-0066).
    let web = "<instructions>Use the web</instructions><x xmlns='jabber:x:oob'><url>https://example.com/register</url></x>";
    let pair = run(registering(true), web, None);
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Registration(RegistrationError::WebOnly(
            "https://example.com/register".into()
        )))
    );
}

#[test]
fn interactive_registration_hands_the_form_over_and_validates_the_answer() {
    let mut config = config();
    config.register = Some(Register::Interactive { then_login: true });
    let form = "<instructions>Tell us more</instructions><x xmlns='jabber:x:data' type='form'>\
        <field type='hidden' var='FORM_TYPE'><value>jabber:iq:register</value></field>\
        <field type='text-single' var='username'><required/></field>\
        <field type='text-private' var='password'><required/></field>\
        <field type='text-single' var='email'><required/></field></x>";
    let mut pair = run(config, form, None);
    let Some(RegistrationEvent::Form(mut form)) =
        registration_events(&pair).first().cloned().cloned()
    else {
        panic!("{:?}", pair.events)
    };
    // Prefilled with what the configuration knows; the rest is the application's.
    assert_eq!(form.unfilled(), ["email"]);
    assert_eq!(form.instructions.as_deref(), Some("Tell us more"));
    // No deadline while the application fills it (a person may take a while).
    assert_eq!(pair.client.poll_timeout(), None);
    assert!(matches!(
        pair.client.submit_registration(pair.now, form.clone()),
        Err(CommandError::Registration(RegistrationError::UnfilledFields(f))) if f == ["email"]
    ));
    form.fill("email", "juliet@capulet.example");
    pair.client.submit_registration(pair.now, form).unwrap();
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    assert!(pair
        .sent()
        .contains("<field var='email'><value>juliet@capulet.example</value></field>"));
    // Nothing to submit any more.
    assert!(matches!(
        pair.client
            .submit_registration(pair.now, Default::default()),
        Err(CommandError::Unexpected(_))
    ));
}

#[test]
fn no_registration_on_a_stream_in_clear() {
    let mut config = registering(true);
    config.tls = TlsPolicy::DangerousPlaintextAllowed;
    let script = Script {
        starttls: false,
        ..Script::default()
    };
    let mut pair = Pair::new(config.clone(), script.clone());
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Registration(
            RegistrationError::NotEncrypted
        ))
    );
    assert!(
        !pair.sent().contains("jabber:iq:register"),
        "nothing sensitive sent"
    );
    // With both dangerous opt-ins, it goes ahead.
    config.dangerous_plain_without_tls = true;
    let mut pair = Pair::new(config, script);
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    assert_eq!(pair.server.registered.len(), 1);
}

#[test]
fn a_password_change_updates_the_configuration() {
    let mut pair = Pair::online(config(), Script::default());
    pair.client.change_password(pair.now, "n3w-p4ss").unwrap();
    pair.drive();
    assert!(pair.sent().contains(&format!(
        "<iq type='set' id='{}' to='{DOMAIN}'><query xmlns='jabber:iq:register'><username>{USER}</username><password>n3w-p4ss</password></query></iq>",
        pair.sent_iq_id("")
    )));
    assert!(matches!(
        registration_events(&pair)[..],
        [RegistrationEvent::PasswordChanged]
    ));
    assert!(matches!(&pair.client.config().password, Password::Fixed(p) if p == "n3w-p4ss"));
}

#[test]
fn a_password_change_that_asks_for_the_old_one_surfaces_the_form() {
    // XEP-0077 §3.3, Example 19.
    let mut pair = Pair::online(config(), Script::default());
    pair.server.password_form = Some(
        "<x xmlns='jabber:x:data' type='form'><title>Password Change</title>\
         <field type='hidden' var='FORM_TYPE'><value>jabber:iq:register:changepassword</value></field>\
         <field type='text-single' label='Username' var='username'><required/></field>\
         <field type='text-private' label='Old Password' var='old_password'><required/></field>\
         <field type='text-private' label='New Password' var='password'><required/></field></x>",
    );
    pair.client.change_password(pair.now, "n3w-p4ss").unwrap();
    pair.drive();
    let Some(RegistrationEvent::PasswordChangeRefused {
        form: Some(form), ..
    }) = registration_events(&pair).last().cloned().cloned()
    else {
        panic!("{:?}", pair.events)
    };
    assert!(matches!(&pair.client.config().password, Password::Fixed(p) if p == PASSWORD));
    let mut form = form;
    form.set("username", USER);
    form.set("old_password", PASSWORD);
    form.set("password", "n3w-p4ss");
    pair.client.submit_password_form(pair.now, form).unwrap();
    pair.drive();
    assert!(matches!(
        registration_events(&pair).last(),
        Some(RegistrationEvent::PasswordChanged)
    ));
    assert!(matches!(&pair.client.config().password, Password::Fixed(p) if p == "n3w-p4ss"));
}

#[test]
fn removing_the_account_ends_the_session_as_a_success() {
    // Prosody ends the stream with not-authorized, ejabberd with conflict.
    for stream_error in ["not-authorized", "conflict"] {
        let mut pair = Pair::online(config(), Script::default());
        pair.server.removal_stream_error = stream_error;
        pair.client.remove_account(pair.now).unwrap();
        pair.drive();
        assert!(pair
            .sent()
            .contains("<query xmlns='jabber:iq:register'><remove/></query>"));
        assert_eq!(
            pair.disconnect_reason(),
            Some(DisconnectReason::AccountRemoved),
            "{stream_error}"
        );
    }
    // Refused: said so, and the session goes on; a later end is not a removal.
    let mut pair = Pair::online(config(), Script::default());
    pair.server.register_error = Some("not-allowed");
    pair.client.remove_account(pair.now).unwrap();
    pair.drive();
    assert!(matches!(
        registration_events(&pair)[..],
        [RegistrationEvent::RemovalRefused(_)]
    ));
    assert!(pair.client.is_online());
    pair.server_sends("</stream:stream>");
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::ServerClosed)
    );
}

#[test]
fn a_session_that_ends_before_the_server_answered_a_removal_is_not_a_removal() {
    // The connection drops, or the application closes, while the removal is unanswered.
    for app_closes in [false, true] {
        let mut pair = Pair::online(config(), Script::default());
        pair.server.register_silent = true;
        pair.client.remove_account(pair.now).unwrap();
        pair.drive();
        if app_closes {
            pair.client.close(pair.now);
            pair.server_sends("</stream:stream>");
        } else {
            pair.client.handle_eof(pair.now);
            pair.drive();
        }
        let reason = pair.disconnect_reason().unwrap();
        assert_ne!(
            reason,
            DisconnectReason::AccountRemoved,
            "closed by us: {app_closes}"
        );
        // No refusal is reported either: the session's end says what happened.
        assert!(registration_events(&pair).is_empty(), "{:?}", pair.events);
    }
    // The server ending the stream right after the request (without answering it) is the
    // removal's success, as XEP-0077 §3.2 allows.
    let mut pair = Pair::online(config(), Script::default());
    pair.server.register_silent = true;
    pair.client.remove_account(pair.now).unwrap();
    pair.drive();
    pair.server_sends(
        "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::AccountRemoved)
    );
}

#[test]
fn a_password_change_unanswered_when_the_session_ends_gets_its_outcome() {
    let mut pair = Pair::online(config(), Script::default());
    pair.server.register_silent = true;
    pair.client.change_password(pair.now, "n3w-p4ss").unwrap();
    pair.drive();
    pair.client.handle_eof(pair.now);
    pair.drive();
    let events = registration_events(&pair);
    assert!(
        matches!(
            events[..],
            [RegistrationEvent::PasswordChangeRefused {
                error: IqError::Disconnected,
                form: None
            }]
        ),
        "{events:?}"
    );
    // Unknown whether the server changed it: the configuration keeps what it had.
    assert!(matches!(&pair.client.config().password, Password::Fixed(p) if p == PASSWORD));
    // Before the session's end.
    assert!(matches!(
        pair.events.last(),
        Some(Event::Disconnected { .. })
    ));
}

#[test]
fn a_registration_forms_debug_output_hides_the_password() {
    let mut config = config();
    config.register = Some(Register::Interactive { then_login: true });
    let pair = run(config, PROSODY_REGISTER_FORM, None);
    let debug = format!("{:?}", pair.events);
    assert!(debug.contains("RegistrationForm"), "{debug}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(!format!("{:?}", pair.client).contains(PASSWORD));
}

#[test]
fn hostile_forms_end_registration_with_a_typed_error_and_nothing_sent() {
    // Under the reader's element limit, over the form's: typed, nothing submitted.
    let fields = format!(
        "<x xmlns='jabber:x:data' type='form'>{}</x>",
        "<field var='f'/>".repeat(20_000)
    );
    // Legacy fields too.
    let legacy = "<username/><password/>".to_owned() + &"<x1/>".repeat(20_000);
    let instructions = format!("<instructions>{}</instructions>", "x".repeat(500_000));
    for form in [fields, legacy, instructions] {
        let pair = run(registering(true), &form, None);
        assert!(
            matches!(
                pair.disconnect_reason(),
                Some(DisconnectReason::Registration(RegistrationError::Form(_)))
            ),
            "{:?}",
            pair.disconnect_reason()
        );
        assert!(pair.server.registered.is_empty());
    }
    // Over the reader's element limit (megabytes): the stream ends with a typed error
    // before the form is even looked at.
    let huge = format!("<instructions>{}</instructions>", "x".repeat(3_000_000));
    let pair = run(registering(true), &huge, None);
    assert!(
        matches!(
            pair.disconnect_reason(),
            Some(DisconnectReason::InvalidXml(_))
        ),
        "{:?}",
        pair.disconnect_reason()
    );
    assert!(pair.server.registered.is_empty());
}

//! Data forms (XEP-0004): the XEP's examples as test vectors, submissions checked against
//! their forms, limits against hostile forms.

use xmpp_sansio::client::forms::{DataForm, Field, FieldType, FormError, FormLimits, FormType};
use xmpp_sansio::ns;
use xmpp_sansio::xml::{Element, Limits, StreamEvent, StreamReader};

fn element(xml: &str) -> Element {
    // Room for the hostile forms: the form's own limits are under test, not the reader's.
    let mut limits = Limits::default();
    limits.max_element_size = 16 << 20;
    let mut reader = StreamReader::new(limits);
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(xml.as_bytes());
    let _header = reader.next_event().unwrap();
    let Some(StreamEvent::Element(el)) = reader.next_event().unwrap() else {
        panic!("no element")
    };
    el
}

fn parse(xml: &str) -> Result<DataForm, FormError> {
    DataForm::parse(element(xml).as_ref(), &FormLimits::default())
}

/// XEP-0004 §9, Example 2.
const BOT_FORM: &str = "<x xmlns='jabber:x:data' type='form'>\
  <title>Bot Configuration</title>\
  <instructions>Fill out this form to configure your new bot!</instructions>\
  <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>\
  <field type='fixed'><value>Section 1: Bot Info</value></field>\
  <field type='text-single' label='The name of your bot' var='botname'/>\
  <field type='text-multi' label='Helpful description of your bot' var='description'/>\
  <field type='boolean' label='Public bot?' var='public'><required/></field>\
  <field type='text-private' label='Password for special access' var='password'/>\
  <field type='fixed'><value>Section 2: Features</value></field>\
  <field type='list-multi' label='What features will the bot support?' var='features'>\
    <option label='Contests'><value>contests</value></option>\
    <option label='News'><value>news</value></option>\
    <option label='Polls'><value>polls</value></option>\
    <option label='Reminders'><value>reminders</value></option>\
    <option label='Search'><value>search</value></option>\
    <value>news</value><value>search</value></field>\
  <field type='fixed'><value>Section 3: Subscriber List</value></field>\
  <field type='list-single' label='Maximum number of subscribers' var='maxsubs'>\
    <value>20</value>\
    <option label='10'><value>10</value></option><option label='20'><value>20</value></option>\
    <option label='30'><value>30</value></option><option label='50'><value>50</value></option>\
    <option label='100'><value>100</value></option><option label='None'><value>none</value></option>\
  </field>\
  <field type='fixed'><value>Section 4: Invitations</value></field>\
  <field type='jid-multi' label='People to invite' var='invitelist'>\
    <desc>Tell all your friends about your new bot!</desc></field>\
</x>";

#[test]
fn the_xep_form_reads_with_every_field_type() {
    let form = parse(BOT_FORM).unwrap();
    assert_eq!(form.kind, FormType::Form);
    assert_eq!(form.title.as_deref(), Some("Bot Configuration"));
    assert_eq!(form.instructions.len(), 1);
    assert_eq!(form.form_type(), Some("jabber:bot"));
    assert_eq!(form.fields.len(), 12);
    let kinds: Vec<FieldType> = form.fields.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FieldType::Boolean) && kinds.contains(&FieldType::JidMulti));
    let features = form.field("features").unwrap();
    assert_eq!(features.kind, FieldType::ListMulti);
    assert_eq!(features.options.len(), 5);
    assert_eq!(features.values, ["news", "search"]);
    assert_eq!(
        features.options[0],
        (Some("Contests".into()), "contests".into())
    );
    assert!(form.field("public").unwrap().required);
    assert_eq!(
        form.field("invitelist").unwrap().desc.as_deref(),
        Some("Tell all your friends about your new bot!")
    );
    // Fixed fields have no name.
    assert_eq!(form.fields.iter().filter(|f| f.var.is_none()).count(), 4);
}

#[test]
fn a_submission_is_checked_against_its_form_and_sent_as_the_xep_shows() {
    let form = parse(BOT_FORM).unwrap();
    let mut filled = form.clone();
    // `public` is required.
    assert_eq!(
        form.validate(&filled.submission()),
        Err(FormError::MissingRequired("public".into()))
    );
    filled.set("botname", "The Jabber Google Bot");
    filled.set("public", "0");
    filled.set("password", "v3r0na");
    filled.set("maxsubs", "20");
    filled.field_mut("invitelist").unwrap().values =
        vec!["juliet@capulet.com".into(), "romeo@montague.net".into()];
    assert_eq!(form.validate(&filled.submission()), Ok(()));
    // Wrong values for their types.
    for (var, value, why) in [
        ("public", "maybe", "not a boolean"),
        ("maxsubs", "25", "not one of the options"),
        ("invitelist", "not a jid@@", "not a JID"),
    ] {
        let mut wrong = filled.clone();
        wrong.set(var, value);
        assert_eq!(
            form.validate(&wrong.submission()),
            Err(FormError::InvalidValue(var.into(), why)),
            "{var}"
        );
    }
    let mut two = filled.clone();
    two.field_mut("botname").unwrap().values = vec!["a".into(), "b".into()];
    assert!(matches!(
        form.validate(&two.submission()),
        Err(FormError::InvalidValue(..))
    ));
    // XEP-0004 §9 Example 3's shape: type submit, names, types and values only (no labels,
    // options or descriptions), fixed fields left out, the hidden FORM_TYPE kept hidden.
    let sent = filled
        .submission()
        .to_builder()
        .to_bytes(ns::JABBER_CLIENT)
        .unwrap();
    let sent = String::from_utf8(sent.to_vec()).unwrap();
    assert!(sent.starts_with("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>jabber:bot</value></field>"), "{sent}");
    assert!(
        sent.contains("<field var='public' type='boolean'><value>0</value></field>"),
        "{sent}"
    );
    assert!(
        !sent.contains("Section") && !sent.contains("label=") && !sent.contains("<option"),
        "{sent}"
    );
    // And it reads back the same.
    let back = parse(&sent).unwrap();
    assert_eq!(back.kind, FormType::Submit);
    assert_eq!(back.field("invitelist").unwrap().values.len(), 2);
}

#[test]
fn a_form_round_trips_through_the_builder() {
    let mut form = DataForm::new(FormType::Form);
    form.title = Some("t".into());
    let mut field = Field::new("choice", FieldType::ListSingle);
    field.label = Some("Pick".into());
    field.required = true;
    field.options = vec![(Some("A".into()), "a".into()), (None, "b".into())];
    form.fields.push(field);
    let bytes = form.to_builder().to_bytes(ns::JABBER_CLIENT).unwrap();
    assert_eq!(parse(std::str::from_utf8(&bytes).unwrap()).unwrap(), form);
}

#[test]
fn hostile_forms_are_refused_by_limits() {
    let many = format!(
        "<x xmlns='jabber:x:data' type='form'>{}</x>",
        "<field var='f'/>".repeat(100_000)
    );
    assert!(matches!(parse(&many), Err(FormError::LimitReached(_))));
    let long = format!(
        "<x xmlns='jabber:x:data' type='form'><instructions>{}</instructions></x>",
        "x".repeat(4 << 20)
    );
    assert!(matches!(parse(&long), Err(FormError::LimitReached(_))));
    let options = format!(
        "<x xmlns='jabber:x:data' type='form'><field var='l' type='list-single'>{}</field></x>",
        "<option><value>v</value></option>".repeat(300)
    );
    assert!(matches!(parse(&options), Err(FormError::LimitReached(_))));
    assert_eq!(
        parse("<y xmlns='jabber:x:data'/>"),
        Err(FormError::NotAForm)
    );
    // Lenient on what does not matter.
    let odd = parse("<x xmlns='jabber:x:data' type='whatever'><field var='a' type='strange'/></x>")
        .unwrap();
    assert_eq!(odd.kind, FormType::Form);
    assert_eq!(odd.fields[0].kind, FieldType::TextSingle);
}

#[test]
fn captcha_media_is_exposed() {
    // XEP-0158 §4, Example 2 (the form part).
    let form = parse(
        "<x xmlns='jabber:x:data' type='form'>\
         <field type='hidden' var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>\
         <field type='hidden' var='from'><value>innocent@victim.example.com</value></field>\
         <field label='Enter the text you see' var='ocr'>\
         <media xmlns='urn:xmpp:media-element' height='80' width='290'>\
         <uri type='image/jpeg'>http://www.victim.example.com/challenges/ocr.jpeg?F3A6292C</uri>\
         <uri type='image/jpeg'>cid:sha1+f24030b8d91d233bac14777be5ab531ca3b9f102@bob.xmpp.org</uri>\
         </media></field></x>",
    )
    .unwrap();
    assert_eq!(form.form_type(), Some("urn:xmpp:captcha"));
    let ocr = form.field("ocr").unwrap();
    assert_eq!(ocr.media.len(), 1);
    assert_eq!(ocr.media[0].size, Some((290, 80)));
    assert_eq!(ocr.media[0].uris.len(), 2);
    assert!(ocr.media[0].uris[1].1.starts_with("cid:"));
}

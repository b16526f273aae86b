//! Integration tests for `xmpp_sansio::jid`, built around the examples of
//! RFC 7622 §3.5.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use xmpp_sansio::jid::{Jid, JidError, JidPart};

fn parts(s: &str) -> (Option<String>, String, Option<String>) {
    let jid = Jid::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"));
    (
        jid.local().map(str::to_owned),
        jid.domain().to_owned(),
        jid.resource().map(str::to_owned),
    )
}

fn own(
    local: Option<&str>,
    domain: &str,
    resource: Option<&str>,
) -> (Option<String>, String, Option<String>) {
    (
        local.map(str::to_owned),
        domain.to_owned(),
        resource.map(str::to_owned),
    )
}

fn hash_of(jid: &Jid) -> u64 {
    let mut h = DefaultHasher::new();
    jid.hash(&mut h);
    h.finish()
}

// ---- RFC 7622 §3.5, Table 1: valid JIDs ------------------------------------

#[test]
fn rfc7622_valid_examples() {
    let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
        ("juliet@example.com", Some("juliet"), "example.com", None),
        (
            "juliet@example.com/foo",
            Some("juliet"),
            "example.com",
            Some("foo"),
        ),
        (
            "juliet@example.com/foo bar",
            Some("juliet"),
            "example.com",
            Some("foo bar"),
        ),
        (
            "juliet@example.com/foo@bar",
            Some("juliet"),
            "example.com",
            Some("foo@bar"),
        ),
        // XEP-0106 escaping is not undone: the backslash is an ordinary character.
        (
            "foo\\20bar@example.com",
            Some("foo\\20bar"),
            "example.com",
            None,
        ),
        (
            "fussball@example.com",
            Some("fussball"),
            "example.com",
            None,
        ),
        // UsernameCaseMapped (RFC 8265) uses toLowerCase, not case folding: ß stays ß.
        ("fußball@example.com", Some("fußball"), "example.com", None),
        ("π@example.com", Some("π"), "example.com", None),
        ("Σ@example.com/foo", Some("σ"), "example.com", Some("foo")),
        ("σ@example.com/foo", Some("σ"), "example.com", Some("foo")),
        // Final sigma is not mapped to σ by toLowerCase.
        ("ς@example.com/foo", Some("ς"), "example.com", Some("foo")),
        ("king@example.com/♚", Some("king"), "example.com", Some("♚")),
        ("example.com", None, "example.com", None),
        ("example.com/foobar", None, "example.com", Some("foobar")),
        (
            "a.example.com/b@example.net",
            None,
            "a.example.com",
            Some("b@example.net"),
        ),
    ];
    for &(input, local, domain, resource) in cases {
        assert_eq!(parts(input), own(local, domain, resource), "{input:?}");
    }
}

#[test]
fn rfc7622_valid_examples_keep_their_text_when_already_normal() {
    for s in [
        "juliet@example.com",
        "juliet@example.com/foo",
        "juliet@example.com/foo bar",
        "juliet@example.com/foo@bar",
        "foo\\20bar@example.com",
        "fussball@example.com",
        "fußball@example.com",
        "π@example.com",
        "σ@example.com/foo",
        "ς@example.com/foo",
        "king@example.com/♚",
        "example.com",
        "example.com/foobar",
        "a.example.com/b@example.net",
    ] {
        assert_eq!(Jid::parse(s).unwrap().as_str(), s);
    }
    assert_eq!(
        Jid::parse("Σ@example.com/foo").unwrap().as_str(),
        "σ@example.com/foo"
    );
}

#[test]
fn rfc7622_sigmas_and_eszett_are_distinct() {
    let sigma = Jid::parse("σ@example.com").unwrap();
    let final_sigma = Jid::parse("ς@example.com").unwrap();
    assert_eq!(Jid::parse("Σ@example.com").unwrap(), sigma);
    assert_ne!(sigma, final_sigma);
    assert_ne!(
        Jid::parse("fussball@example.com").unwrap(),
        Jid::parse("fußball@example.com").unwrap()
    );
}

// ---- RFC 7622 §3.5, Table 2: invalid JIDs ----------------------------------

#[test]
fn rfc7622_invalid_quotation_marks_in_localpart() {
    assert_eq!(
        Jid::parse("\"juliet\"@example.com"),
        Err(JidError::LocalForbiddenChar('"'))
    );
}

#[test]
fn rfc7622_invalid_space_in_localpart() {
    assert_eq!(
        Jid::parse("foo bar@example.com"),
        Err(JidError::DisallowedChar {
            part: JidPart::Local,
            ch: ' '
        })
    );
}

#[test]
fn rfc7622_leading_space_in_resourcepart_is_accepted() {
    // DISCREPANCY WITH THE RFC TEXT: RFC 7622 §3.5 Table 2 lists
    // "juliet@example.com/ foo" as invalid ("leading space in resourcepart"),
    // but the normative rules do not support that: §3.4 makes the resourcepart
    // an instance of the OpaqueString profile (RFC 7613, now RFC 8265), which
    // allows U+0020 anywhere (FreeformClass "Spaces" are allowed and
    // OpaqueString has no trimming rule), and `precis_profiles::OpaqueString`
    // accepts it. We follow the normative text: rejecting would drop stanzas
    // from servers that (correctly) accept such resources.
    let jid = Jid::parse("juliet@example.com/ foo").unwrap();
    assert_eq!(jid.resource(), Some(" foo"));
    assert_eq!(
        Jid::parse("juliet@example.com/foo ").unwrap().resource(),
        Some("foo ")
    );
}

#[test]
fn rfc7622_invalid_empty_localpart_and_resourcepart() {
    // Both parts are empty; the localpart is reported first.
    assert_eq!(Jid::parse("@example.com/"), Err(JidError::EmptyLocal));
}

#[test]
fn rfc7622_invalid_compatibility_character_in_localpart() {
    // U+2163 ROMAN NUMERAL FOUR has a compatibility decomposition: disallowed
    // in IdentifierClass.
    assert_eq!(
        Jid::parse("henry\u{2163}@example.com"),
        Err(JidError::DisallowedChar {
            part: JidPart::Local,
            ch: '\u{2163}'
        })
    );
}

#[test]
fn rfc7622_invalid_symbol_in_localpart() {
    assert_eq!(
        Jid::parse("♚@example.com"),
        Err(JidError::DisallowedChar {
            part: JidPart::Local,
            ch: '♚'
        })
    );
}

#[test]
fn rfc7622_invalid_no_domainpart() {
    assert_eq!(Jid::parse("juliet@"), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("/foobar"), Err(JidError::EmptyDomain));
}

// ---- Further structural errors ---------------------------------------------

#[test]
fn empty_parts() {
    assert_eq!(Jid::parse(""), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("@example.com"), Err(JidError::EmptyLocal));
    assert_eq!(Jid::parse("a@b/"), Err(JidError::EmptyResource));
    assert_eq!(Jid::parse("example.com/"), Err(JidError::EmptyResource));
    assert_eq!(Jid::parse("a@"), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("a@/b"), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("."), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("a@./r"), Err(JidError::EmptyDomain));
}

#[test]
fn splitting() {
    // The resource starts at the first '/', the localpart ends at the first '@'
    // before it.
    assert_eq!(parts("a@b/c/d@e"), own(Some("a"), "b", Some("c/d@e")));
    assert_eq!(parts("b/c@d"), own(None, "b", Some("c@d")));
    // A second '@' in the bare part ends up in the domain, which rejects it.
    assert_eq!(Jid::parse("a@b@c"), Err(JidError::DomainForbiddenChar('@')));
}

#[test]
fn localpart_forbidden_characters() {
    for c in ['"', '&', '\'', ':', '<', '>'] {
        let s = format!("a{c}b@example.com");
        assert_eq!(
            Jid::parse(&s),
            Err(JidError::LocalForbiddenChar(c)),
            "{s:?}"
        );
    }
    // '/' and '@' can only reach the localpart through from_parts ...
    assert_eq!(
        Jid::from_parts(Some("a/b"), "example.com", None),
        Err(JidError::LocalForbiddenChar('/'))
    );
    assert_eq!(
        Jid::from_parts(Some("a@b"), "example.com", None),
        Err(JidError::LocalForbiddenChar('@'))
    );
    // ... or through PRECIS width mapping (U+FF20 FULLWIDTH COMMERCIAL AT).
    assert_eq!(
        Jid::parse("a\u{ff20}b@example.com"),
        Err(JidError::LocalForbiddenChar('@'))
    );
}

#[test]
fn control_characters() {
    assert_eq!(
        Jid::parse("a\nb@example.com"),
        Err(JidError::DisallowedChar {
            part: JidPart::Local,
            ch: '\n'
        })
    );
    assert_eq!(
        Jid::parse("a@example.com/x\u{0}"),
        Err(JidError::DisallowedChar {
            part: JidPart::Resource,
            ch: '\u{0}'
        })
    );
    assert_eq!(
        Jid::parse("a@exa\tmple.com"),
        Err(JidError::DomainForbiddenChar('\t'))
    );
}

// ---- Normalization ---------------------------------------------------------

#[test]
fn case_folding_of_localpart_and_domain_only() {
    let jid = Jid::parse("Juliet@Example.COM/Balcony").unwrap();
    assert_eq!(jid.as_str(), "juliet@example.com/Balcony");
    assert_eq!(jid.to_string(), "juliet@example.com/Balcony");
    assert_eq!(jid, Jid::parse("juliet@example.com/Balcony").unwrap());
    assert_ne!(jid, Jid::parse("juliet@example.com/balcony").unwrap());
    // Non-ASCII case mapping in both parts.
    assert_eq!(
        Jid::parse("ÄÖÜ@MÜNCHEN.DE").unwrap().as_str(),
        "äöü@münchen.de"
    );
}

#[test]
fn width_mapping_and_nfc() {
    // Fullwidth letters in the localpart are width-mapped, then lowercased.
    assert_eq!(
        Jid::parse("ＪＵＬＩＥＴ@example.com").unwrap().local(),
        Some("juliet")
    );
    // NFC in the resource; non-ASCII spaces become U+0020.
    let jid = Jid::parse("a@b/e\u{301}\u{2003}x").unwrap();
    assert_eq!(jid.resource(), Some("é x"));
    // OpaqueString does no width mapping.
    assert_eq!(Jid::parse("a@b/ＡＢ").unwrap().resource(), Some("ＡＢ"));
}

#[test]
fn trailing_dot_in_domain() {
    let jid = Jid::parse("juliet@example.com./foo").unwrap();
    assert_eq!(jid.as_str(), "juliet@example.com/foo");
    assert_eq!(jid, Jid::parse("juliet@example.com/foo").unwrap());
    assert_eq!(Jid::parse("example.com.").unwrap().as_str(), "example.com");
    assert_eq!(Jid::parse("Example.COM.").unwrap().as_str(), "example.com");
    // Ideographic full stop as the trailing label separator.
    assert_eq!(
        Jid::parse("example.com\u{3002}").unwrap().as_str(),
        "example.com"
    );
    // Only one dot is stripped.
    assert!(matches!(
        Jid::parse("example.com.."),
        Err(JidError::InvalidDomain { .. })
    ));
    assert!(matches!(
        Jid::parse("a..b"),
        Err(JidError::InvalidDomain { .. })
    ));
    assert!(matches!(
        Jid::parse(".example.com"),
        Err(JidError::InvalidDomain { .. })
    ));
}

#[test]
fn idna_domains() {
    // A-labels are decoded to U-labels, so both spellings are one JID.
    let a = Jid::parse("juliet@xn--mnchen-3ya.de").unwrap();
    let u = Jid::parse("juliet@münchen.de").unwrap();
    assert_eq!(a, u);
    assert_eq!(a.domain(), "münchen.de");
    assert_eq!(Jid::parse("juliet@XN--MNCHEN-3YA.DE").unwrap(), u);
    // Invalid punycode.
    assert!(matches!(
        Jid::parse("xn--zz"),
        Err(JidError::InvalidDomain { .. })
    ));
    // Spaces and other ASCII punctuation are not allowed; '_' is.
    assert_eq!(
        Jid::parse("exa mple.com"),
        Err(JidError::DomainForbiddenChar(' '))
    );
    assert_eq!(
        Jid::parse("example.com:5222"),
        Err(JidError::DomainForbiddenChar(':'))
    );
    assert_eq!(
        Jid::parse("a_b.example.com").unwrap().domain(),
        "a_b.example.com"
    );
    // A fullwidth solidus would map to '/'.
    assert!(Jid::parse("a\u{ff0f}b.example").is_err());
}

#[test]
fn ip_literals() {
    let v4 = Jid::parse("juliet@192.0.2.1/r").unwrap();
    assert_eq!(v4.domain(), "192.0.2.1");
    assert_eq!(Jid::parse("192.0.2.1.").unwrap().as_str(), "192.0.2.1");

    let v6 = Jid::parse("juliet@[2001:db8::1]/r").unwrap();
    assert_eq!(v6.domain(), "[2001:db8::1]");
    assert_eq!(v6.local(), Some("juliet"));
    assert_eq!(v6.resource(), Some("r"));
    assert_eq!(Jid::parse("[::1]").unwrap().as_str(), "[::1]");
    assert_eq!(
        Jid::parse("[::ffff:192.0.2.1]").unwrap().domain(),
        "[::ffff:192.0.2.1]"
    );
    // IP literals are kept verbatim, not canonicalized.
    assert_eq!(
        Jid::parse("[2001:DB8::1]").unwrap().domain(),
        "[2001:DB8::1]"
    );

    for bad in [
        "[::1",
        "[]",
        "[example.com]",
        "[::1]x",
        "[1.2.3.4]",
        "[::g]",
    ] {
        assert!(
            matches!(Jid::parse(bad), Err(JidError::InvalidDomain { .. })),
            "{bad:?}: {:?}",
            Jid::parse(bad)
        );
    }
    assert_eq!(Jid::parse("::1"), Err(JidError::DomainForbiddenChar(':')));
}

#[test]
fn length_limits() {
    let max = "a".repeat(1023);
    let over = "a".repeat(1024);

    let jid = Jid::parse(&format!("{max}@{max}/{max}")).unwrap();
    assert_eq!(jid.local().map(str::len), Some(1023));
    assert_eq!(jid.domain().len(), 1023);
    assert_eq!(jid.resource().map(str::len), Some(1023));
    assert_eq!(jid.as_str().len(), 3 * 1023 + 2);

    assert_eq!(
        Jid::parse(&format!("{over}@a")),
        Err(JidError::LocalTooLong(1024))
    );
    assert_eq!(Jid::parse(&over), Err(JidError::DomainTooLong(1024)));
    assert_eq!(
        Jid::parse(&format!("a/{over}")),
        Err(JidError::ResourceTooLong(1024))
    );

    // The limit applies after normalization: a trailing dot does not count ...
    assert!(Jid::parse(&format!("{max}.")).is_ok());
    // ... and multi-byte characters count in octets.
    let two_byte = "é".repeat(512); // 1024 octets
    assert_eq!(
        Jid::parse(&format!("a/{two_byte}")),
        Err(JidError::ResourceTooLong(1024))
    );
    assert_eq!(
        Jid::parse(&format!("{two_byte}@a")),
        Err(JidError::LocalTooLong(1024))
    );
    // NFC shrinks "e\u{301}" (3 octets) to "é" (2 octets) before the check.
    let decomposed = "e\u{301}".repeat(511); // 1533 octets in, 1022 out
    assert!(Jid::parse(&format!("a/{decomposed}")).is_ok());
}

// ---- Constructors and accessors --------------------------------------------

#[test]
fn from_parts() {
    let jid = Jid::from_parts(Some("Juliet"), "Example.com.", Some("Balcony")).unwrap();
    assert_eq!(jid.as_str(), "juliet@example.com/Balcony");
    assert_eq!(
        Jid::from_parts(None, "example.com", None).unwrap().as_str(),
        "example.com"
    );
    assert_eq!(
        Jid::from_parts(None, "example.com", Some("a/b@c"))
            .unwrap()
            .as_str(),
        "example.com/a/b@c"
    );
    assert_eq!(
        Jid::from_parts(Some(""), "example.com", None),
        Err(JidError::EmptyLocal)
    );
    assert_eq!(Jid::from_parts(None, "", None), Err(JidError::EmptyDomain));
    assert_eq!(
        Jid::from_parts(None, "example.com", Some("")),
        Err(JidError::EmptyResource)
    );
    assert_eq!(
        Jid::from_parts(None, "example.com/foo", None),
        Err(JidError::DomainForbiddenChar('/'))
    );
}

#[test]
fn from_str_and_display() {
    let jid: Jid = "Juliet@Example.com/Balcony".parse().unwrap();
    assert_eq!(format!("{jid}"), "juliet@example.com/Balcony");
    assert_eq!(format!("{jid:>30}"), "    juliet@example.com/Balcony");
    assert_eq!(format!("{jid:?}"), "Jid(\"juliet@example.com/Balcony\")");
    assert_eq!("@x".parse::<Jid>(), Err(JidError::EmptyLocal));
}

#[test]
fn accessors() {
    let full = Jid::parse("juliet@example.com/balcony").unwrap();
    assert!(full.is_full());
    assert!(!full.is_bare());
    let bare = Jid::parse("juliet@example.com").unwrap();
    assert!(bare.is_bare());
    assert!(!bare.is_full());
    assert_eq!(bare.resource(), None);
    let domain = Jid::parse("example.com").unwrap();
    assert_eq!(domain.local(), None);
    assert_eq!(domain.domain(), "example.com");
    assert_eq!(domain.resource(), None);
}

#[test]
fn bare_and_with_resource_round_trips() {
    let full = Jid::parse("juliet@example.com/balcony").unwrap();
    let bare = full.bare();
    assert_eq!(bare, Jid::parse("juliet@example.com").unwrap());
    assert_eq!(bare.as_str(), "juliet@example.com");
    assert_eq!(bare.bare(), bare);
    assert_eq!(bare.with_resource("balcony").unwrap(), full);
    assert_eq!(full.with_resource("balcony").unwrap(), full);

    let other = full.with_resource("Orchard ♚").unwrap();
    assert_eq!(other.as_str(), "juliet@example.com/Orchard ♚");
    assert_eq!(other.bare(), bare);
    assert_eq!(
        full.with_resource("a\u{2003}b").unwrap().resource(),
        Some("a b")
    );
    assert_eq!(full.with_resource(""), Err(JidError::EmptyResource));
    assert_eq!(
        full.with_resource("\u{7}"),
        Err(JidError::DisallowedChar {
            part: JidPart::Resource,
            ch: '\u{7}'
        })
    );

    let domain = full.domain_jid();
    assert_eq!(domain.as_str(), "example.com");
    assert_eq!(domain, Jid::parse("example.com").unwrap());
    assert_eq!(domain.with_resource("x").unwrap().as_str(), "example.com/x");
    assert_eq!(
        Jid::parse("example.com/x").unwrap().bare().as_str(),
        "example.com"
    );

    // Views behave exactly like freshly parsed JIDs.
    let reparsed = Jid::parse(bare.as_str()).unwrap();
    assert_eq!(hash_of(&bare), hash_of(&reparsed));
    assert_eq!(bare.cmp(&reparsed), std::cmp::Ordering::Equal);
}

#[test]
fn equality_and_hashing_of_equivalent_spellings() {
    let spellings = [
        "juliet@example.com/Balcony",
        "Juliet@Example.com/Balcony",
        "JULIET@EXAMPLE.COM./Balcony",
        "ＪＵＬＩＥＴ@example.com/Balcony",
        "juliet@example\u{3002}com/Balcony",
    ];
    let jids: Vec<Jid> = spellings.iter().map(|s| Jid::parse(s).unwrap()).collect();
    for jid in &jids {
        assert_eq!(jid, &jids[0]);
        assert_eq!(hash_of(jid), hash_of(&jids[0]));
    }
    let set: HashSet<Jid> = jids.into_iter().collect();
    assert_eq!(set.len(), 1);

    let u = Jid::parse("ΣΑΣ@münchen.de").unwrap();
    let a = Jid::parse("σας@xn--mnchen-3ya.de").unwrap();
    // toLowerCase maps the final capital sigma to σ, not ς.
    assert_ne!(u, a);
    assert_eq!(u, Jid::parse("σασ@MÜNCHEN.DE").unwrap());
}

#[test]
fn comparison_with_str_is_verbatim() {
    let jid = Jid::parse("Juliet@example.com").unwrap();
    assert!(jid == "juliet@example.com");
    assert!(jid == *"juliet@example.com");
    assert!(jid != "Juliet@example.com");
}

#[test]
fn ordering_is_by_normalized_text() {
    let mut jids: Vec<Jid> = ["b@x", "A@x", "x", "a@x/r"]
        .iter()
        .map(|s| Jid::parse(s).unwrap())
        .collect();
    jids.sort();
    let sorted: Vec<&str> = jids.iter().map(Jid::as_str).collect();
    assert_eq!(sorted, ["a@x", "a@x/r", "b@x", "x"]);
}

#[test]
fn error_messages_name_the_part() {
    let msg = |s: &str| Jid::parse(s).unwrap_err().to_string();
    assert!(msg("@x").contains("localpart"));
    assert!(msg("a@").contains("domainpart"));
    assert!(msg("a@b/").contains("resourcepart"));
    assert!(msg("♚@x").contains("localpart"), "{}", msg("♚@x"));
    assert!(msg("♚@x").contains("U+265A"), "{}", msg("♚@x"));
    assert!(msg("a@x/\u{0}").contains("resourcepart"));
    assert!(msg("a:b@x").contains("':'"));
    assert!(msg("a@x y").contains("domainpart"));
    assert!(msg(&"a".repeat(1024)).contains("1024"));
}

// ---- Properties ------------------------------------------------------------

/// Strings made of JID-ish fragments: separators, ASCII of all cases, and
/// Unicode that exercises every normalization step.
fn jidish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        4 => "[a-zA-Z0-9]{1,4}",
        2 => Just("@".to_owned()),
        2 => Just("/".to_owned()),
        2 => Just(".".to_owned()),
        1 => Just(" ".to_owned()),
        1 => "[\\x00-\\x7f]",
        1 => prop::sample::select(vec![
            "Σ", "ς", "ß", "ẞ", "İ", "ǅ", "Ⅳ", "♚", "ＪＵ", "＠", "／", "。", "．", "\u{ad}",
            "\u{200d}", "\u{200c}", "\u{301}", "\u{2003}", "\u{5d0}", "\u{627}", "1\u{5d0}",
            "xn--", "xn--mnchen-3ya", "münchen", "[", "]", "::1", "\u{fffd}", "\u{e000}",
            "\u{1f600}", "\u{10ffff}", "\u{fdd0}", "ǰ", "ﬀ", "\u{1100}\u{1161}",
        ]).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|v| v.concat())
}

fn check_jid_invariants(jid: &Jid) -> Result<(), TestCaseError> {
    let text = jid.to_string();
    prop_assert_eq!(&text, jid.as_str());
    // Idempotence.
    prop_assert_eq!(Jid::parse(&text), Ok(jid.clone()));
    // The parts rebuild the same JID.
    prop_assert_eq!(
        Jid::from_parts(jid.local(), jid.domain(), jid.resource()),
        Ok(jid.clone())
    );
    // Views.
    let bare = jid.bare();
    prop_assert!(bare.is_bare());
    prop_assert_eq!(Jid::parse(bare.as_str()), Ok(bare.clone()));
    prop_assert_eq!(bare.local(), jid.local());
    prop_assert_eq!(bare.domain(), jid.domain());
    let domain = jid.domain_jid();
    prop_assert_eq!(Jid::parse(domain.as_str()), Ok(domain.clone()));
    prop_assert_eq!(domain.as_str(), jid.domain());
    if let Some(resource) = jid.resource() {
        prop_assert_eq!(bare.with_resource(resource), Ok(jid.clone()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn parse_arbitrary_strings_never_panics(s in any::<String>()) {
        if let Ok(jid) = Jid::parse(&s) {
            check_jid_invariants(&jid)?;
        }
    }

    #[test]
    fn parse_jidish_strings_is_idempotent(s in jidish()) {
        if let Ok(jid) = Jid::parse(&s) {
            check_jid_invariants(&jid)?;
        }
    }

    #[test]
    fn from_parts_never_panics_and_is_idempotent(
        local in prop::option::of(jidish()),
        domain in jidish(),
        resource in prop::option::of(jidish()),
    ) {
        if let Ok(jid) = Jid::from_parts(local.as_deref(), &domain, resource.as_deref()) {
            check_jid_invariants(&jid)?;
        }
    }

    #[test]
    fn valid_ascii_jids_round_trip(
        local in "[a-zA-Z0-9._\\-+!#$%*]{1,20}",
        domain in "[a-wyzA-WYZ0-9][a-zA-Z0-9\\-]{0,10}(\\.[a-wyzA-WYZ0-9][a-zA-Z0-9\\-]{0,10}){0,3}",
        resource in "[\\x20-\\x7e]{1,20}",
    ) {
        let s = format!("{local}@{domain}/{resource}");
        let jid = Jid::parse(&s).unwrap();
        let lower = local.to_ascii_lowercase();
        prop_assert_eq!(jid.local(), Some(lower.as_str()));
        prop_assert_eq!(jid.domain(), domain.to_ascii_lowercase());
        prop_assert_eq!(jid.resource(), Some(resource.as_str()));
        check_jid_invariants(&jid)?;
    }
}

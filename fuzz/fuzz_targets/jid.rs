//! JID parsing (RFC 7622) on arbitrary strings: no panic, and every accepted JID is a fixed
//! point of normalization with consistent parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_sansio::jid::Jid;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(jid) = Jid::parse(s) else { return };
    let again = Jid::parse(jid.as_str()).expect("a normalized JID parses");
    assert_eq!(again, jid);
    let rebuilt = Jid::from_parts(jid.local(), jid.domain(), jid.resource()).expect("parts rebuild");
    assert_eq!(rebuilt, jid);
    assert_eq!(jid.bare().resource(), None);
    assert_eq!(jid.bare().local(), jid.local());
    assert_eq!(jid.domain_jid().as_str(), jid.domain());
    if let Some(resource) = jid.resource() {
        assert_eq!(jid.bare().with_resource(resource).expect("same resource"), jid);
    }
});

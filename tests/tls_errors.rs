//! TLS failures provoked over loopback with real rustls on both sides, through both adapters:
//! each error names the endpoint and says what to do. Also the trust that must work: a
//! private CA, and an exactly pinned self-signed certificate even when it is marked CA:TRUE
//! (as `openssl req -x509` and Debian's ejabberd make them), still checked for name and
//! validity.
#![cfg(all(feature = "tokio", feature = "blocking"))]

mod harness;
mod loopback;

use harness::{config, Script, DOMAIN};
use loopback::{pki, runtime, FakeServer, Identity, Reaction};
use rustls::pki_types::CertificateDer;
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Error, Trust};

fn serve(identity: &Identity, direct_tls: bool) -> FakeServer {
    FakeServer::start_as(identity.clone(), Script::default(), direct_tls, |_, _| {
        Reaction::Continue
    })
}

/// Connects (and closes) with each adapter, a fresh server each, as `options` says.
fn both(
    identity: &Identity,
    direct_tls: bool,
    options: impl Fn(u16) -> ConnectOptions,
) -> [Result<(), Error>; 2] {
    let server = serve(identity, direct_tls);
    let blocking = Connection::connect(config(), &options(server.port())).map(|c| {
        c.close().unwrap();
    });
    let server = serve(identity, direct_tls);
    let tokio = runtime().block_on(async {
        let (handle, _events) = xtokio::connect(config(), &options(server.port())).await?;
        Ok(handle.close().await?)
    });
    [blocking, tokio]
}

fn starttls_trusting(certs: Vec<CertificateDer<'static>>) -> impl Fn(u16) -> ConnectOptions {
    move |port| {
        ConnectOptions::new()
            .host("127.0.0.1", port)
            .trust(Trust::Certificates(certs.clone()))
    }
}

/// The message of a TLS error, checked to name the endpoint and the server name.
fn tls_message(result: &Result<(), Error>) -> String {
    match result {
        Err(
            e @ Error::Tls {
                server_name,
                endpoint,
                ..
            },
        ) => {
            assert_eq!(server_name, DOMAIN);
            assert!(endpoint.starts_with("127.0.0.1:"), "{endpoint}");
            let text = e.to_string();
            assert!(text.contains(endpoint.as_str()), "{text}");
            text
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn a_private_ca_is_trusted_and_its_mistakes_are_explained() {
    let ca = pki::Ca::new();
    // A proper server certificate from the CA: fine.
    for result in both(
        &ca.issue(&[DOMAIN], false),
        false,
        starttls_trusting(vec![ca.cert.clone()]),
    ) {
        result.unwrap();
    }
    // The CA issued a certificate for another name.
    for result in both(
        &ca.issue(&["other.example"], false),
        false,
        starttls_trusting(vec![ca.cert.clone()]),
    ) {
        let text = tls_message(&result);
        assert!(
            text.contains("the certificate is for other.example, not example.com"),
            "{text}"
        );
    }
    // The CA issued a CA certificate that the server uses as its own.
    for result in both(
        &ca.issue(&[DOMAIN], true),
        false,
        starttls_trusting(vec![ca.cert.clone()]),
    ) {
        let text = tls_message(&result);
        assert!(
            text.contains("is a CA certificate (CA:TRUE) used as the server's own certificate")
                && text.contains("Trust::pinned_pem_file"),
            "{text}"
        );
    }
    // Another CA: not trusted, and the message says how to trust one.
    let other = pki::Ca::new();
    for result in both(
        &ca.issue(&[DOMAIN], false),
        false,
        starttls_trusting(vec![other.cert]),
    ) {
        let text = tls_message(&result);
        assert!(
            text.contains("not signed by a CA in the trust store"),
            "{text}"
        );
    }
}

#[test]
fn a_pinned_self_signed_certificate_works_even_marked_ca_but_is_still_checked() {
    let dir = std::env::temp_dir().join(format!("xmpp-sansio-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pinned = |identity: &Identity| {
        let path = dir.join("server.pem");
        std::fs::write(&path, &identity.cert_pem).unwrap();
        let trust = Trust::pinned_pem_file(&path).unwrap();
        move |port| {
            ConnectOptions::new()
                .host("127.0.0.1", port)
                .trust(trust.clone())
        }
    };
    // `openssl req -x509` style (CA:TRUE) and a plain self-signed certificate: both work,
    // with STARTTLS and with direct TLS.
    for is_ca in [true, false] {
        let identity = pki::self_signed(&[DOMAIN], is_ca, false);
        for result in both(&identity, false, pinned(&identity)) {
            result.unwrap_or_else(|e| panic!("CA:{is_ca}: {e}"));
        }
        let options = pinned(&identity);
        for result in both(&identity, true, move |port| {
            options(port).direct_tls("127.0.0.1", port)
        }) {
            result.unwrap_or_else(|e| panic!("CA:{is_ca}, direct TLS: {e}"));
        }
    }
    // Pinned, but for another name.
    let elsewhere = pki::self_signed(&["other.example"], true, false);
    for result in both(&elsewhere, false, pinned(&elsewhere)) {
        let text = tls_message(&result);
        assert!(
            text.contains("for other.example, not example.com"),
            "{text}"
        );
    }
    // Pinned, but expired.
    let expired = pki::self_signed(&[DOMAIN], true, true);
    for result in both(&expired, false, pinned(&expired)) {
        let text = tls_message(&result);
        assert!(text.contains("has expired"), "{text}");
    }
    // A different certificate than the pinned one is refused.
    let impostor = pki::self_signed(&[DOMAIN], true, false);
    let genuine = pki::self_signed(&[DOMAIN], true, false);
    for result in both(&impostor, false, pinned(&genuine)) {
        let text = tls_message(&result);
        assert!(text.contains("is not the pinned one"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pinned_ca_certificate_vouches_for_nothing_else() {
    // A self-signed CA:TRUE certificate for the domain, whose key signs another certificate
    // for the same domain.
    let ca = pki::Ca::with_names(&[DOMAIN]);
    let signed_by_it = ca.issue(&[DOMAIN], false);
    let pin = ca.cert.clone();
    for result in both(&signed_by_it, false, move |port| {
        ConnectOptions::new()
            .host("127.0.0.1", port)
            .trust(Trust::Pinned(vec![pin.clone()]))
    }) {
        let text = tls_message(&result);
        assert!(text.contains("is not the pinned one"), "{text}");
    }
    // As a trust anchor (`Trust::Certificates`), it does vouch: that is what a CA is for.
    for result in both(
        &signed_by_it,
        false,
        starttls_trusting(vec![ca.cert.clone()]),
    ) {
        result.unwrap();
    }
}

#[test]
fn starttls_on_a_direct_tls_port_is_named_as_such() {
    let identity = pki::self_signed(&[DOMAIN], false, false);
    let options = starttls_trusting(vec![identity.cert.clone()]);
    for result in both(&identity, true, options) {
        match result {
            Err(e @ Error::ProtocolMismatch { .. }) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("127.0.0.1:")
                        && text.contains("answered with TLS")
                        && text.contains("ConnectOptions::direct_tls"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn direct_tls_on_a_starttls_port_is_named_as_such() {
    for tokio in [false, true] {
        let addr = loopback::xml_speaker();
        let options = ConnectOptions::new()
            .direct_tls("127.0.0.1", addr.port())
            .trust(Trust::DangerousAcceptAnyCertificateForTesting);
        let result = if tokio {
            runtime()
                .block_on(xtokio::connect(config(), &options))
                .map(drop)
        } else {
            Connection::connect(config(), &options).map(drop)
        };
        match result {
            Err(e @ Error::ProtocolMismatch { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("127.0.0.1:{} (direct TLS)", addr.port()))
                        && text.contains("answered the TLS handshake with XML")
                        && text.contains("STARTTLS"),
                    "{text}"
                );
            }
            other => panic!("tokio {tokio}: {other:?}"),
        }
    }
}

#[test]
fn a_server_that_closes_before_its_stream_header_gets_the_hint() {
    let addr = loopback::closer();
    let options = ConnectOptions::new().host("127.0.0.1", addr.port());
    let blocking = Connection::connect(config(), &options).map(drop);
    let tokio = runtime()
        .block_on(xtokio::connect(config(), &options))
        .map(drop);
    for result in [blocking, tokio] {
        match result {
            Err(e @ Error::ClosedBeforeStreamHeader { .. }) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&format!("127.0.0.1:{} (STARTTLS) closed", addr.port()))
                        && text.contains("ConnectOptions::direct_tls"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

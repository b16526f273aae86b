//! rustls configuration shared by the adapters: trust anchors, ALPN, and the channel-binding
//! data reported to the core.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, Resumption, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    SignatureScheme,
};

use super::{Endpoint, Error, Probe, Trust};
use crate::client::sasl::ChannelBinding;
use crate::client::TlsInfo;

/// The ALPN protocol of XMPP client connections over direct TLS (XEP-0368).
const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// The two configurations a connection may need: for STARTTLS, and for direct TLS (with
/// ALPN).
#[derive(Clone)]
pub(crate) struct TlsConfigs {
    pub starttls: Arc<ClientConfig>,
    pub direct: Arc<ClientConfig>,
}

/// The configurations built so far, by trust, most recently used last: sessions that trust
/// the same certificates share one root store and verifier (the webpki roots alone are
/// ~100 KiB) instead of each building its own. A few trusts are kept; a process with more
/// builds the older ones again when they come back.
static SHARED: Mutex<Vec<(Trust, TlsConfigs)>> = Mutex::new(Vec::new());

/// How many trusts [`SHARED`] keeps.
const SHARED_TRUSTS: usize = 8;

/// Server names a session keeps resumption tickets for: its own server's (and one more, for
/// a redirect).
const SESSION_RESUMPTION_SERVERS: usize = 2;

impl TlsConfigs {
    /// The configurations for a new session that trusts `trust`: the verifier and roots
    /// are shared with other sessions that trust the same, the TLS resumption store is the
    /// session's own (tickets from one account's connections would let the server link it
    /// to another account's).
    pub fn for_session(trust: &Trust) -> Result<Self, Error> {
        let shared = Self::shared(trust)?;
        // A store of its own, shared by the two configurations of the session.
        let resumption = Resumption::in_memory_sessions(SESSION_RESUMPTION_SERVERS);
        let own = |config: &ClientConfig| {
            let mut config = config.clone();
            config.resumption = resumption.clone();
            Arc::new(config)
        };
        Ok(Self {
            starttls: own(&shared.starttls),
            direct: own(&shared.direct),
        })
    }

    /// The configurations built for an equal trust, or new ones.
    fn shared(trust: &Trust) -> Result<Self, Error> {
        // A panic elsewhere while holding the lock cannot leave the list inconsistent.
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = shared.iter().position(|(t, _)| t == trust) {
            let entry = shared.remove(i);
            let configs = entry.1.clone();
            shared.push(entry);
            return Ok(configs);
        }
        let configs = Self::new(trust)?;
        if shared.len() >= SHARED_TRUSTS {
            shared.remove(0);
        }
        shared.push((trust.clone(), configs.clone()));
        Ok(configs)
    }

    fn new(trust: &Trust) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?;
        let mut config = match trust {
            Trust::DangerousAcceptAnyCertificateForTesting => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::any(provider)))
                .with_no_client_auth(),
            Trust::WebPkiRoots => builder
                .with_root_certificates(roots(trust)?)
                .with_no_client_auth(),
            Trust::Pinned(certs) => {
                if certs.is_empty() {
                    return Err(Error::TlsConfig("no certificate to pin".into()));
                }
                let verifier = Verifier::pinned(certs.clone(), provider);
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
            Trust::Certificates(certs) | Trust::WebPkiRootsAnd(certs) => {
                let verifier = Verifier::chain_or_pinned(roots(trust)?, certs.clone(), provider)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
        };
        let starttls = Arc::new(config.clone());
        config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
        Ok(Self {
            starttls,
            direct: Arc::new(config),
        })
    }
}

fn roots(trust: &Trust) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    if matches!(trust, Trust::WebPkiRoots | Trust::WebPkiRootsAnd(_)) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Trust::Certificates(certs) | Trust::WebPkiRootsAnd(certs) = trust {
        if certs.is_empty() {
            return Err(Error::TlsConfig("no certificate to trust".into()));
        }
        for cert in certs {
            // A certificate that cannot anchor a chain may still be pinned exactly.
            if let Err(e) = store.add(cert.clone()) {
                tracing::debug!(error = %e, "a trusted certificate is pinned only, not a CA");
            }
        }
    }
    Ok(store)
}

pub(crate) fn certificates_from_pem_file(
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let what = |e: &dyn std::fmt::Display| Error::TlsConfig(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| what(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(&e))?;
    if certs.is_empty() {
        return Err(what(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The name to verify, as rustls wants it.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(name.to_owned())
        .map_err(|e| Error::TlsConfig(format!("{name:?} is not a valid TLS server name: {e}")))
}

/// What the core is told about the finished handshake. tls-exporter (RFC 9266) only on TLS
/// 1.3: on 1.2 it needs the extended master secret, which rustls does not report.
/// tls-server-end-point is left out: the SASL library cannot bind with it.
pub(crate) fn tls_info(conn: &rustls::ClientConnection) -> TlsInfo {
    let binding = if conn.protocol_version() == Some(ProtocolVersion::TLSv1_3) {
        conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .ok()
            .map(|data| ChannelBinding::TlsExporter(data.to_vec()))
    } else {
        None
    };
    tracing::debug!(
        version = ?conn.protocol_version(),
        cipher_suite = ?conn.negotiated_cipher_suite().map(|s| s.suite()),
        alpn = ?conn.alpn_protocol().map(String::from_utf8_lossy),
        channel_binding = binding.as_ref().map_or("none", |b| b.type_name()),
        "TLS established"
    );
    match binding {
        Some(binding) => TlsInfo::with_channel_binding(binding),
        None => TlsInfo::new(),
    }
}

/// A TLS failure that is not about what the server sent (a timeout, a socket error).
pub(crate) fn handshake_error(server_name: &str, endpoint: &Endpoint, source: io::Error) -> Error {
    Error::Tls {
        server_name: server_name.to_owned(),
        endpoint: endpoint.to_string(),
        message: source.to_string(),
        source,
    }
}

/// A failed handshake, explained: what the certificate was wrong about and what to do, or
/// that the server does not speak TLS from the first byte (`first_bytes` were XML).
pub(crate) fn handshake_failure(
    server_name: &str,
    endpoint: &Endpoint,
    source: io::Error,
    first_bytes: &Probe,
) -> Error {
    // On a STARTTLS connection the server's XML came first, legitimately.
    if endpoint.direct_tls && first_bytes.looks_like_xml() {
        return Error::ProtocolMismatch {
            endpoint: endpoint.to_string(),
            message: "the server answered the TLS handshake with XML: this is a STARTTLS port, \
                not a direct-TLS one; connect with ConnectOptions::host (STARTTLS)"
                .into(),
        };
    }
    let rustls_error = source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    let message = match rustls_error {
        Some(rustls::Error::InvalidCertificate(e)) => explain_certificate(server_name, e),
        _ => source.to_string(),
    };
    Error::Tls {
        server_name: server_name.to_owned(),
        endpoint: endpoint.to_string(),
        message,
        source,
    }
}

fn explain_certificate(server_name: &str, e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => format!(
            "the certificate of {server_name} is not signed by a CA in the trust store; trust a \
             private CA with Trust::pem_file, or pin the server's own self-signed certificate \
             with Trust::pinned_pem_file"
        ),
        CertificateError::NotValidForName => {
            format!("the certificate is not valid for {server_name}")
        }
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "the certificate is for {}, not {server_name}: connect to a domain it names, or \
             give the server a certificate for {server_name}",
            if presented.is_empty() {
                "no name at all".to_owned()
            } else {
                let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
                names.join(", ")
            }
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the certificate of {server_name} has expired ({e})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the certificate of {server_name} is not valid yet ({e}); check the clock")
        }
        CertificateError::Other(other)
            if other
                .0
                .downcast_ref::<webpki::Error>()
                .is_some_and(|w| *w == webpki::Error::CaUsedAsEndEntity) =>
        {
            format!(
                "the certificate of {server_name} is a CA certificate (CA:TRUE) used as the \
                 server's own certificate; pin exactly it with Trust::pinned_pem_file (the \
                 file holding that certificate)"
            )
        }
        CertificateError::Other(other) if other.0.downcast_ref::<NotPinned>().is_some() => {
            format!(
                "the certificate of {server_name} is not the pinned one: the server's \
                 certificate changed, or this is not the server"
            )
        }
        other => format!("the certificate of {server_name} was refused: {other}"),
    }
}

/// A certificate refused by [`Trust::Pinned`]: not one of the pinned ones.
#[derive(Debug)]
struct NotPinned;

impl std::fmt::Display for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not the pinned certificate")
    }
}

impl std::error::Error for NotPinned {}

/// A name as rustls presents it (`DnsName("example.com")`), without the wrapping.
fn presented_name(name: &str) -> &str {
    match name.split_once("(\"") {
        Some((_, rest)) => rest.strip_suffix("\")").unwrap_or(rest),
        None => name,
    }
}

/// What a certificate must be to be accepted.
#[derive(Debug)]
enum Accept {
    /// Anything (the testing opt-out).
    Any,
    /// Exactly one of these, checked for name and validity period.
    Pinned(Vec<CertificateDer<'static>>),
    /// A chain to the trust anchors, as webpki verifies it; or exactly one of the `pinned`
    /// certificates (a self-signed one, even marked CA:TRUE as `openssl req -x509` makes
    /// them), after checking its name and validity period.
    ChainOrPinned {
        chains: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

/// Checks the server's certificate as [`Accept`] says, and always the handshake signatures,
/// so that the server proves it holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    accept: Accept,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn any(provider: Arc<CryptoProvider>) -> Self {
        Self {
            accept: Accept::Any,
            provider,
        }
    }

    fn pinned(pinned: Vec<CertificateDer<'static>>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            accept: Accept::Pinned(pinned),
            provider,
        }
    }

    fn chain_or_pinned(
        roots: RootCertStore,
        pinned: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        let chains = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::TlsConfig(format!("no usable trust anchor: {e}")))?;
        Ok(Self {
            accept: Accept::ChainOrPinned { chains, pinned },
            provider,
        })
    }
}

/// `now` within the certificate's validity period.
fn check_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (chains, pinned) = match &self.accept {
            Accept::Any => return Ok(ServerCertVerified::assertion()),
            Accept::Pinned(pinned) => (None, pinned),
            Accept::ChainOrPinned { chains, pinned } => (Some(chains), pinned),
        };
        if !pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return match chains {
                Some(chains) => chains.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                ),
                None => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(NotPinned)),
                ))),
            };
        }
        let parsed = ParsedCertificate::try_from(end_entity)?;
        verify_server_name(&parsed, server_name)?;
        check_validity(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_share_the_verifier_of_equal_trust_but_not_resumption() {
        let any = Trust::DangerousAcceptAnyCertificateForTesting;
        let a = TlsConfigs::for_session(&any).unwrap();
        let b = TlsConfigs::for_session(&any).unwrap();
        // Each session its own configurations (rustls does not expose the resumption store
        // to compare; it is set on each copy).
        assert!(!Arc::ptr_eq(&a.starttls, &b.starttls));
        assert!(!Arc::ptr_eq(&a.direct, &b.direct));
        assert_eq!(a.direct.alpn_protocols, [ALPN_XMPP_CLIENT.to_vec()]);
        assert!(a.starttls.alpn_protocols.is_empty());
        // The shared part: built once per trust.
        let (x, y) = (
            TlsConfigs::shared(&any).unwrap(),
            TlsConfigs::shared(&any).unwrap(),
        );
        assert!(Arc::ptr_eq(&x.starttls, &y.starttls));
        let roots = TlsConfigs::shared(&Trust::WebPkiRoots).unwrap();
        assert!(!Arc::ptr_eq(&x.starttls, &roots.starttls));
        assert!(SHARED.lock().unwrap().len() <= SHARED_TRUSTS);
    }
}

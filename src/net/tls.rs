//! rustls configuration shared by the adapters: trust anchors, ALPN, and the channel-binding
//! data reported to the core.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme,
};

use super::{Error, Trust};
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

impl TlsConfigs {
    pub fn new(trust: &Trust) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?;
        let mut config = match trust {
            Trust::DangerousAcceptAnyCertificateForTesting => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth(),
            Trust::WebPkiRoots | Trust::Certificates(_) | Trust::WebPkiRootsAnd(_) => builder
                .with_root_certificates(roots(trust)?)
                .with_no_client_auth(),
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
        for cert in certs {
            store
                .add(cert.clone())
                .map_err(|e| Error::TlsConfig(format!("unusable trusted certificate: {e}")))?;
        }
        if certs.is_empty() {
            return Err(Error::TlsConfig("no certificate to trust".into()));
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
    if conn.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
        return TlsInfo::new();
    }
    match conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None) {
        Ok(data) => TlsInfo::with_channel_binding(ChannelBinding::TlsExporter(data.to_vec())),
        Err(_) => TlsInfo::new(),
    }
}

/// A handshake failure, typed for the application.
pub(crate) fn handshake_error(server_name: &str, source: io::Error) -> Error {
    Error::Tls {
        server_name: server_name.to_owned(),
        source,
    }
}

/// Accepts any certificate, but still checks the handshake signatures so that the session
/// keys belong to whoever holds the (unverified) certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! TLS to PostgreSQL through rustls, chosen by the database URL's `sslmode` and `sslrootcert`
//! the way libpq reads them, except that licd never encrypts without checking whom it talks to:
//!
//! | `sslmode` | licd |
//! |---|---|
//! | none, `disable`, `prefer` | plain text: `prefer` falls back to it whenever an attacker asks |
//! | `require` | TLS, the server's chain checked against `sslrootcert` (libpq does the same when it has a root certificate); refused without one |
//! | `verify-ca` | TLS, the server's chain checked against `sslrootcert` |
//! | `verify-full` | TLS, the chain and the host name of the URL checked |
//!
//! `sslrootcert` is a PEM file of the certificates to trust (the CA certificate RDS offers for
//! download). Client certificates (`sslcert`, `sslkey`) are refused by name. Channel binding
//! (SCRAM-SHA-256-PLUS) is not offered: the checked chain already authenticates the server.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
};

/// The TLS parameters of a database URL, taken out of it: what is left is for the driver.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TlsParams {
    /// The URL without `sslmode` and `sslrootcert`.
    pub rest: String,
    /// Whether to speak TLS, and how much of the server's certificate to check.
    pub check: Check,
}

/// How much of the server's certificate a connection checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// No TLS.
    Plain,
    /// The chain, up to a certificate in the root file (`require`, `verify-ca`).
    Chain(String),
    /// The chain and the URL's host name (`verify-full`).
    ChainAndHost(String),
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query. An unknown mode, a TLS mode without
/// a root file, or a client certificate is an error; the words name the parameter.
pub(crate) fn split_url(url: &str) -> Result<TlsParams, String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        // Percent-decoding as libpq does it: a '+' is a plus sign, not a space.
        let escaped = pair.replace('+', "%2B");
        let (key, value) = form_urlencoded::parse(escaped.as_bytes())
            .next()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .unwrap_or_default();
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(format!(
                    "the database URL sets {key}: client certificates and revocation lists are not supported; licd checks the server with sslrootcert and logs in with a password"
                ));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let need_root = |mode: &str| {
        root.clone().filter(|r| !r.is_empty()).ok_or_else(|| {
            format!(
                "the database URL asks for sslmode={mode} but names no sslrootcert: give the PEM file of the certificate authority to check the server against (RDS offers its CA certificate for download)"
            )
        })
    };
    let check = match mode.as_deref().unwrap_or("prefer") {
        "disable" | "prefer" => Check::Plain,
        m @ ("require" | "verify-ca") => Check::Chain(need_root(m)?),
        "verify-full" => Check::ChainAndHost(need_root("verify-full")?),
        other => {
            return Err(format!(
                "the database URL has sslmode {}: use disable, prefer, require, verify-ca or verify-full",
                crate::logsafe::quoted_max(other, 32)
            ));
        }
    };
    Ok(TlsParams { rest, check })
}

/// The driver's TLS mode for a check: TLS required, or none at all (never "try it").
pub(crate) fn ssl_mode(check: &Check) -> SslMode {
    match check {
        Check::Plain => SslMode::Disable,
        Check::Chain(_) | Check::ChainAndHost(_) => SslMode::Require,
    }
}

/// The connector the driver and the pool use: rustls with the configured check, or none.
#[derive(Clone, Debug)]
pub(crate) struct PgTls(Option<Arc<ClientConfig>>);

impl PgTls {
    /// Reads the root file of `check` and builds the rustls configuration for it.
    pub(crate) fn new(check: &Check) -> Result<Self, String> {
        let (root, host) = match check {
            Check::Plain => return Ok(PgTls(None)),
            Check::Chain(root) => (root, false),
            Check::ChainAndHost(root) => (root, true),
        };
        let mut roots = RootCertStore::empty();
        for cert in
            crate::pem::certificates(Path::new(root)).map_err(|e| format!("sslrootcert: {e}"))?
        {
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {root}: {e}"))?;
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = if host {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            let full = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("sslrootcert {root}: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(full)))
                .with_no_client_auth()
        };
        Ok(PgTls(Some(Arc::new(config))))
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<PgTlsConnect, io::Error> {
        Ok(PgTlsConnect {
            config: self.0.clone(),
            host: host.to_string(),
        })
    }
}

/// One connection's TLS handshake, to the host the driver names.
pub(crate) struct PgTlsConnect {
    config: Option<Arc<ClientConfig>>,
    host: String,
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                io::Error::other("the server was asked for TLS without a TLS configuration")
            })?;
            let name = ServerName::try_from(self.host.clone()).map_err(|_| {
                io::Error::other(format!(
                    "TLS to the database needs a host name or an address, not {:?}",
                    self.host
                ))
            })?;
            let tls = TlsConnector::from(config).connect(name, stream).await?;
            Ok(PgTlsStream(tls))
        })
    }
}

/// A TLS connection to the database.
pub(crate) struct PgTlsStream<S>(TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// `verify-ca`: the whole of webpki's check but the host name. A certificate that chains to
/// the root file but names another host is accepted; any other failure is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the name only after the chain has been found good.
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_up_its_tls_parameters_and_keeps_the_rest() {
        let p = split_url(
            "postgres://licd:pw@db:5432/licd?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Flicd%2Fca+rds.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            p.rest,
            "postgres://licd:pw@db:5432/licd?connect_timeout=3&application_name=x"
        );
        assert_eq!(
            p.check,
            Check::ChainAndHost("/etc/licd/ca+rds.pem".to_string())
        );

        let p = split_url("postgres://db/licd?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(
            (p.rest.as_str(), p.check),
            ("postgres://db/licd", Check::Chain("ca.pem".into()))
        );
        let p = split_url("postgres://db/licd?sslmode=verify-ca&sslrootcert=ca.pem").unwrap();
        assert_eq!(p.check, Check::Chain("ca.pem".into()));
        for plain in [
            "postgres://db/licd",
            "postgres://db/licd?sslmode=disable",
            "postgres://db/licd?sslmode=prefer&sslrootcert=ca.pem",
        ] {
            assert_eq!(split_url(plain).unwrap().check, Check::Plain, "{plain}");
        }
    }

    #[test]
    fn tls_without_a_root_file_or_with_a_client_certificate_is_refused() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let e = split_url(&format!("postgres://db/licd?sslmode={mode}")).unwrap_err();
            assert!(e.contains("sslrootcert") && e.contains(mode), "{e}");
            let e =
                split_url(&format!("postgres://db/licd?sslmode={mode}&sslrootcert=")).unwrap_err();
            assert!(e.contains("sslrootcert"), "{e}");
        }
        let e = split_url("postgres://db/licd?sslmode=allow").unwrap_err();
        assert!(e.contains("sslmode \"allow\""), "{e}");
        let e =
            split_url("postgres://db/licd?sslmode=verify-full&sslrootcert=a&sslkey=k").unwrap_err();
        assert!(e.contains("sslkey"), "{e}");
    }

    #[test]
    fn a_root_file_that_is_not_pem_is_refused_when_the_connector_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = PgTls::new(&Check::Chain(bad.display().to_string()))
            .err()
            .unwrap();
        assert!(e.contains("sslrootcert") && e.contains("ca.pem"), "{e}");
        assert!(PgTls::new(&Check::Plain).unwrap().0.is_none());
    }
}

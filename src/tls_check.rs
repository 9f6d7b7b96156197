//! What a TLS client sees of a server's certificate, checked the way the marketplace's client
//! would check it: `licctl marketplace rehearse` probes licd's public address, `licd doctor`
//! reads the certificate files licd serves. Both report the validity window in days, because
//! a certificate that lapses takes every callback down with it.

use std::sync::Arc;
use std::time::Duration;

use client_verifier::Timestamp;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use x509_cert::der::Decode as _;

/// Days of validity a certificate must have left: the marketplace's dial tests run twice a
/// day, and a renewal that has not happened two weeks before expiry needs a person.
pub const MIN_DAYS_LEFT: i64 = 14;

/// The validity window of one certificate, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`.
    pub not_before: i64,
    /// `notAfter`.
    pub not_after: i64,
}

impl Validity {
    /// Reads the window of a DER certificate.
    pub fn of(der: &[u8]) -> Result<Validity, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let v = &cert.tbs_certificate.validity;
        let secs = |t: &x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        Ok(Validity {
            not_before: secs(&v.not_before),
            not_after: secs(&v.not_after),
        })
    }

    /// Whole days from `now` to `notAfter` (negative once expired).
    pub fn days_left(&self, now: Timestamp) -> i64 {
        (self.not_after - now.unix()).div_euclid(86_400)
    }

    /// `notAfter` as an RFC 3339 date.
    pub fn expires(&self) -> String {
        Timestamp::from_unix(self.not_after)
            .to_rfc3339()
            .get(..10)
            .unwrap_or_default()
            .to_string()
    }

    /// How the window stands at `now`, in words an operator acts on, and whether it is at
    /// least [`MIN_DAYS_LEFT`] days from its end.
    pub fn verdict(&self, now: Timestamp) -> (bool, String) {
        let days = self.days_left(now);
        if now.unix() < self.not_before {
            (
                false,
                "not valid yet (its notBefore is in the future)".into(),
            )
        } else if now.unix() >= self.not_after {
            (false, format!("expired on {}", self.expires()))
        } else if days < MIN_DAYS_LEFT {
            (
                false,
                format!(
                    "expires on {} ({days} days left; renew it: the marketplace needs {MIN_DAYS_LEFT}+)",
                    self.expires()
                ),
            )
        } else {
            (
                true,
                format!("valid until {} ({days} days)", self.expires()),
            )
        }
    }
}

/// Why a TLS handshake was refused, as the marketplace's client would refuse it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No TCP connection (refused, unreachable, timed out).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The certificate's validity window does not hold now.
    #[error("the certificate has expired or is not valid yet")]
    Expired,
    /// The certificate does not name the host.
    #[error("the certificate is not valid for host {0}")]
    WrongHost(String),
    /// The chain does not lead to a trusted root.
    #[error("the certificate is not signed by a trusted authority (or the chain is incomplete)")]
    Untrusted,
    /// Anything else the handshake refused.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

/// A TLS client config trusting the public web roots (those reqwest trusts) and `extra`.
pub fn client_config(extra: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        // A root that rustls cannot use is simply not trusted; the handshake says so.
        let _ = roots.add(cert.clone());
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Connects to `host:port`, completes a TLS handshake as a client trusting `config`'s roots,
/// and returns the validity of the certificate the server presented.
pub async fn probe(
    host: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Validity, ProbeError> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| ProbeError::Connect(format!("{host:?} is not a host name")))?;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| ProbeError::Connect(format!("{host}:{port}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(&e, host))?;
        let (_, session) = tls.get_ref();
        let leaf = session
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| ProbeError::Handshake("the server sent no certificate".into()))?;
        Validity::of(leaf).map_err(ProbeError::Handshake)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ProbeError::Connect(format!("{host}:{port}: no answer in {timeout:?}")))?
}

fn handshake_error(e: &std::io::Error, host: &str) -> ProbeError {
    use rustls::CertificateError as C;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => ProbeError::Expired,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                ProbeError::WrongHost(host.to_string())
            }
            C::UnknownIssuer | C::BadSignature => ProbeError::Untrusted,
            other => ProbeError::Handshake(format!("{other:?}")),
        },
        _ => ProbeError::Handshake(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["licd.example".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_window_is_read_and_judged_in_days() {
        let now = Timestamp::parse_rfc3339("2026-12-05T00:00:00Z").unwrap();
        let v = Validity::of(&cert((2026, 1, 1), (2027, 3, 5))).unwrap();
        assert_eq!(v.expires(), "2027-03-05");
        assert_eq!(v.days_left(now), 90);
        assert_eq!(
            v.verdict(now),
            (true, "valid until 2027-03-05 (90 days)".into())
        );

        let soon = Validity::of(&cert((2026, 1, 1), (2026, 12, 15))).unwrap();
        let (ok, why) = soon.verdict(now);
        assert!(!ok && why.contains("10 days left"), "{why}");

        let gone = Validity::of(&cert((2025, 1, 1), (2026, 12, 1))).unwrap();
        assert_eq!(gone.verdict(now), (false, "expired on 2026-12-01".into()));

        let early = Validity::of(&cert((2027, 1, 1), (2028, 1, 1))).unwrap();
        assert!(!early.verdict(now).0);

        assert!(Validity::of(b"not a certificate").is_err());
    }
}

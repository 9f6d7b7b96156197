//! Certificates in PEM files: the chain licd serves TLS with, and the root certificates it
//! checks its database's certificate against. Read through rustls' own types.

use std::path::Path;

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// Every certificate in the PEM file at `path`, in file order. A file that cannot be read, that
/// is not PEM, or that holds no certificate is an error naming the file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just words\n").unwrap();
        let e = certificates(&empty).unwrap_err();
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
        let missing = dir.path().join("missing.pem");
        assert!(certificates(&missing).unwrap_err().contains("cannot read"));

        let cert = rcgen::generate_simple_self_signed(vec!["db.example".into()]).unwrap();
        let two = dir.path().join("two.pem");
        std::fs::write(&two, cert.cert.pem() + &cert.cert.pem()).unwrap();
        assert_eq!(certificates(&two).unwrap().len(), 2);
    }
}

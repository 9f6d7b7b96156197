//! A site server's exchange with the ISV: the request for an allotment (`lsr1.…`) and the
//! receipt that gives its seats back (`lsd1.…`), in the form of the single-machine exchange
//! ([`super::Request`], [`super::Receipt`]), signed with the site key instead of a device key.
//!
//! A **site request** names the license, carries the site server's binding (salted hashes of
//! its machine's identity, or of a stable id its operator chose), the site public key and the
//! seats wanted (0: all the license has left), proves that its maker holds the license token
//! without containing it, and is signed with the site key.
//!
//! A **site receipt** names the license, the allotment given back and when the last lease the
//! site signed ends, and is signed with the site key: only the site that holds the allotment
//! can give it back, and a receipt names one allotment, so a replay after a new allotment
//! returns nothing.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use subtle::ConstantTimeEq;

use super::{
    DeviceKey, MAX_LICENSE_ID_LEN, MAX_REQUEST_LEN, OfflineError, PROOF_LEN, Reader,
    check_license_id, possession_proof, push_string, seal, verify,
};
use crate::Timestamp;
use crate::fingerprint::Binding;
use crate::paseto::b64_decode;

/// What every site request starts with.
pub const SITE_REQUEST_PREFIX: &str = "lsr1.";
/// What every site receipt starts with.
pub const SITE_RECEIPT_PREFIX: &str = "lsd1.";
/// The longest allotment id a receipt carries.
pub const MAX_ALLOTMENT_ID_LEN: usize = 160;

const SITE_REQUEST_DOMAIN: &[u8] = b"licd-site-request-v1\0";
const SITE_RECEIPT_DOMAIN: &[u8] = b"licd-site-receipt-v1\0";

/// A site request, decoded.
///
/// Binary form: `u8 id length, id, u8 binding length, binding (its token form), 32-byte site
/// public key, u32 seats (big-endian; 0 = all that are left), 16-byte possession proof, 64-byte
/// Ed25519 signature`. The proof is a BLAKE2b MAC of everything before it, keyed by a hash of
/// the license token; the signature, by the site key, covers everything before it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SiteRequest {
    license: String,
    binding: Binding,
    site: [u8; 32],
    seats: u32,
    proof: [u8; PROOF_LEN],
}

impl SiteRequest {
    /// A request for `seats` seats (0: all that are left) of the license `license_id`, whose
    /// token is `license_token`, for the site server bound to `binding` with the key `key`.
    pub fn create(
        license_id: &str,
        license_token: &str,
        binding: Binding,
        seats: u32,
        key: &DeviceKey,
    ) -> Result<String, OfflineError> {
        check_license_id(license_id)?;
        let request = SiteRequest {
            license: license_id.to_string(),
            binding,
            site: key.public(),
            seats,
            proof: [0; PROOF_LEN],
        };
        seal(
            SITE_REQUEST_PREFIX,
            SITE_REQUEST_DOMAIN,
            request.body(),
            Some(license_token),
            key,
        )
    }

    /// Reads `text` and checks its site signature. Whether its maker holds the license is
    /// checked separately ([`SiteRequest::proves_possession_of`]).
    pub fn open(text: &str) -> Result<Self, OfflineError> {
        let bytes = decode(SITE_REQUEST_PREFIX, text)?;
        let mut r = Reader(&bytes);
        let license = r.string(MAX_LICENSE_ID_LEN)?;
        let binding_text = r.string(usize::from(u8::MAX))?;
        let binding = Binding::decode(&binding_text)
            .filter(|b| b.encode() == binding_text)
            .ok_or(OfflineError::Malformed(
                "the site binding is not in its token form",
            ))?;
        let site = r.array::<32>()?;
        let seats = u32::from_be_bytes(r.array::<4>()?);
        let signed_len = bytes.len() - r.0.len();
        let proof = r.array::<PROOF_LEN>()?;
        let signature = r.array::<64>()?;
        if !r.0.is_empty() {
            return Err(OfflineError::Malformed("bytes after the signature"));
        }
        verify(
            &site,
            SITE_REQUEST_DOMAIN,
            &bytes[..signed_len + PROOF_LEN],
            &signature,
        )?;
        Ok(SiteRequest {
            license,
            binding,
            site,
            seats,
            proof,
        })
    }

    /// The license asked for.
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The site server's binding.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// The site public key: it signs the site's leases and its receipt.
    pub fn site(&self) -> &[u8; 32] {
        &self.site
    }

    /// The seats asked for; 0 means all the license has left.
    pub fn seats(&self) -> u32 {
        self.seats
    }

    /// Whether the maker of this request held `license_token` (compared in constant time).
    pub fn proves_possession_of(&self, license_token: &str) -> bool {
        let expected = possession_proof(license_token, &self.body());
        bool::from(expected.ct_eq(&self.proof))
    }

    fn body(&self) -> Vec<u8> {
        let binding = self.binding.encode();
        let mut body = Vec::with_capacity(2 + self.license.len() + binding.len() + 36);
        push_string(&mut body, &self.license);
        push_string(&mut body, &binding);
        body.extend_from_slice(&self.site);
        body.extend_from_slice(&self.seats.to_be_bytes());
        body
    }
}

/// A site receipt, decoded.
///
/// Binary form: `u8 id length, id, u8 allotment id length, allotment id, i64 (big-endian Unix
/// seconds) when the last lease the site signed ends, 32-byte site public key, 64-byte Ed25519
/// signature` over everything before it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SiteReceipt {
    license: String,
    allotment: String,
    leases_end: Timestamp,
    site: [u8; 32],
}

impl SiteReceipt {
    /// The receipt giving back the allotment `allotment_id` of license `license_id`, whose
    /// leases all end by `leases_end`, signed with the site key `key`.
    pub fn create(
        license_id: &str,
        allotment_id: &str,
        leases_end: Timestamp,
        key: &DeviceKey,
    ) -> Result<String, OfflineError> {
        check_license_id(license_id)?;
        if allotment_id.is_empty() || allotment_id.len() > MAX_ALLOTMENT_ID_LEN {
            return Err(OfflineError::License(
                "the allotment id is empty or too long".to_string(),
            ));
        }
        let receipt = SiteReceipt {
            license: license_id.to_string(),
            allotment: allotment_id.to_string(),
            leases_end,
            site: key.public(),
        };
        seal(
            SITE_RECEIPT_PREFIX,
            SITE_RECEIPT_DOMAIN,
            receipt.body(),
            None,
            key,
        )
    }

    /// Reads `text` and checks its site signature. Whether the key is the allotment's is for
    /// the issuer to check ([`SiteReceipt::site`]).
    pub fn open(text: &str) -> Result<Self, OfflineError> {
        let bytes = decode(SITE_RECEIPT_PREFIX, text)?;
        let mut r = Reader(&bytes);
        let license = r.string(MAX_LICENSE_ID_LEN)?;
        let allotment = r.string(MAX_ALLOTMENT_ID_LEN)?;
        let leases_end = Timestamp::from_unix(i64::from_be_bytes(r.array::<8>()?));
        let site = r.array::<32>()?;
        let signed_len = bytes.len() - r.0.len();
        let signature = r.array::<64>()?;
        if !r.0.is_empty() {
            return Err(OfflineError::Malformed("bytes after the signature"));
        }
        verify(&site, SITE_RECEIPT_DOMAIN, &bytes[..signed_len], &signature)?;
        Ok(SiteReceipt {
            license,
            allotment,
            leases_end,
            site,
        })
    }

    /// The license whose seats are given back.
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The allotment given back.
    pub fn allotment(&self) -> &str {
        &self.allotment
    }

    /// When the last lease the site signed ends: its seats are free from then on.
    pub fn leases_end(&self) -> Timestamp {
        self.leases_end
    }

    /// The site public key that signed it.
    pub fn site(&self) -> &[u8; 32] {
        &self.site
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(2 + self.license.len() + self.allotment.len() + 40);
        push_string(&mut body, &self.license);
        push_string(&mut body, &self.allotment);
        body.extend_from_slice(&self.leases_end.unix().to_be_bytes());
        body.extend_from_slice(&self.site);
        body
    }
}

fn decode(prefix: &'static str, text: &str) -> Result<Vec<u8>, OfflineError> {
    let text = text.trim();
    if text.len() > MAX_REQUEST_LEN {
        return Err(OfflineError::Malformed("longer than 700 characters"));
    }
    let rest = text
        .strip_prefix(prefix)
        .ok_or(if prefix == SITE_REQUEST_PREFIX {
            OfflineError::Malformed("a site request starts with lsr1.")
        } else {
            OfflineError::Malformed("a site receipt starts with lsd1.")
        })?;
    b64_decode(rest).map_err(|_| OfflineError::Malformed("not base64url without padding"))
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;
    use crate::Fingerprint;

    fn key(n: u8) -> DeviceKey {
        DeviceKey::from_seed(&[n; 32])
    }

    fn binding(salt: u8) -> Binding {
        let fp = Fingerprint::parse("AA:BB|DISK-1|BOARD-1|CPU-1").unwrap();
        Binding::new(&fp, [salt; 8])
    }

    #[test]
    fn a_site_request_round_trips_and_proves_only_its_token() {
        let text = SiteRequest::create("lic-1", "v4.public.t", binding(1), 3, &key(1)).unwrap();
        assert!(
            text.starts_with(SITE_REQUEST_PREFIX) && text.len() < 400,
            "{text}"
        );
        let r = SiteRequest::open(&text).unwrap();
        assert_eq!(
            (r.license(), r.binding(), r.site(), r.seats()),
            ("lic-1", &binding(1), &key(1).public(), 3)
        );
        assert!(r.proves_possession_of("v4.public.t"));
        assert!(!r.proves_possession_of("v4.public.u"));
        assert!(super::super::Request::open(&text).is_err());
    }

    #[test]
    fn a_changed_byte_anywhere_is_refused() {
        let text = SiteRequest::create("lic-1", "t", binding(1), 2, &key(1)).unwrap();
        let bytes = decode(SITE_REQUEST_PREFIX, &text).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let changed = encode(SITE_REQUEST_PREFIX, &b);
            assert!(SiteRequest::open(&changed).is_err(), "byte {i}");
        }
        let text = SiteReceipt::create("lic-1", "a-1", Timestamp::from_unix(9), &key(1)).unwrap();
        let bytes = decode(SITE_RECEIPT_PREFIX, &text).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let changed = encode(SITE_RECEIPT_PREFIX, &b);
            assert!(SiteReceipt::open(&changed).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_site_receipt_names_its_allotment_and_key() {
        let text = SiteReceipt::create("lic-1", "a-1", Timestamp::from_unix(99), &key(2)).unwrap();
        let r = SiteReceipt::open(&text).unwrap();
        assert_eq!(
            (r.license(), r.allotment(), r.leases_end(), r.site()),
            ("lic-1", "a-1", Timestamp::from_unix(99), &key(2).public())
        );
        assert!(
            SiteRequest::open(&text).is_err(),
            "a receipt is not a request"
        );
        assert!(super::super::Receipt::open(&text).is_err());
    }

    #[test]
    fn the_longest_site_request_fits_a_qr_code() {
        let fp = Fingerprint::parse(&alloc::format!("{0}|{0}|{0}|{0}", "A,B,C,D,E,F,G,H")).unwrap();
        let long_id = "x".repeat(MAX_LICENSE_ID_LEN);
        let text = SiteRequest::create(&long_id, "t", Binding::new(&fp, [9; 8]), u32::MAX, &key(3))
            .unwrap();
        assert!(text.len() <= MAX_REQUEST_LEN, "{} characters", text.len());
        assert!(SiteRequest::open(&text).is_ok());
    }
}

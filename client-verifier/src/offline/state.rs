//! What an offline machine keeps between a request and a receipt, in a directory of its own:
//!
//! - `device.key`: the device key's seed, base64url, owner-only (0600). Made on first use.
//! - `activation`: the license this machine asked for and the salt of its binding, so asking
//!   again (a renewal, a check-in) gives the same binding and keeps the same seat. The receipt
//!   removes it: the next request is a new activation with a fresh salt.
//!
//! The token licd answers is the application's to keep wherever it keeps tokens.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};

use serde::Deserialize;

use super::{DeviceKey, OfflineError, Receipt, Request};
use crate::fingerprint::{Binding, Fingerprint};
use crate::paseto::{b64_decode_array, b64_encode};

const KEY_FILE: &str = "device.key";
const ACTIVATION_FILE: &str = "activation";

/// A machine's offline state directory.
#[derive(Debug, Clone)]
pub struct OfflineState {
    dir: PathBuf,
}

/// The two claims a request needs from the license token, read without verifying it: licd
/// checks the proof against the token it issued.
#[derive(Deserialize)]
struct Peek {
    jti: String,
    #[serde(default)]
    binding: Option<serde_json::Value>,
}

impl OfflineState {
    /// The state in `dir`, created (owner-only) if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, OfflineError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|e| state_error(&dir, &e))?;
        Ok(OfflineState { dir })
    }

    /// This machine's device key, made on first use.
    pub fn device_key(&self) -> Result<DeviceKey, OfflineError> {
        let path = self.dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let seed = zeroize::Zeroizing::new(
                    b64_decode_array::<32>(text.trim().as_bytes()).ok_or_else(|| {
                        OfflineError::State(std::format!(
                            "{} is not a device key (32 bytes, base64url)",
                            path.display()
                        ))
                    })?,
                );
                Ok(DeviceKey::from_seed(&seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                getrandom::getrandom(&mut seed[..]).map_err(|e| {
                    OfflineError::State(std::format!("no randomness for a device key: {e}"))
                })?;
                let text = zeroize::Zeroizing::new(b64_encode(&seed[..]));
                write_private(&path, text.as_bytes()).map_err(|e| state_error(&path, &e))?;
                Ok(DeviceKey::from_seed(&seed))
            }
            Err(e) => Err(state_error(&path, &e)),
        }
    }

    /// A request (`lor1.…`) to activate the unbound license `license_token` on the machine
    /// `fingerprint`. Asking again for the same license gives the same binding, so licd answers
    /// with the same seat (and the newest validity).
    pub fn request(
        &self,
        license_token: &str,
        fingerprint: &Fingerprint,
    ) -> Result<String, OfflineError> {
        let license_token = license_token.trim();
        let (license, binding, key) = self.prepare(license_token, fingerprint)?;
        Request::create(&license, license_token, binding, &key)
    }

    /// A site request (`lsr1.…`) for `seats` seats (0: all that are left) of the floating
    /// license `license_token`, for a site server on the machine `fingerprint` (or an opaque
    /// id its operator chose). The device key is the site key: it signs the site's leases.
    /// Asking again gives the same binding and key, so licd renews the same site.
    pub fn site_request(
        &self,
        license_token: &str,
        fingerprint: &Fingerprint,
        seats: u32,
    ) -> Result<String, OfflineError> {
        let license_token = license_token.trim();
        let (license, binding, key) = self.prepare(license_token, fingerprint)?;
        super::site::SiteRequest::create(&license, license_token, binding, seats, &key)
    }

    /// A site receipt (`lsd1.…`) giving back the allotment `allotment_id` of the license this
    /// directory asked for, whose leases all end by `leases_end`. The activation stays: the
    /// site may ask again (a new allotment, which the license's transfers may limit).
    pub fn site_receipt(
        &self,
        allotment_id: &str,
        leases_end: crate::Timestamp,
    ) -> Result<String, OfflineError> {
        let Some((license, _)) = self.activation()? else {
            return Err(OfflineError::State(std::format!(
                "no site request was made in {}",
                self.dir.display()
            )));
        };
        super::site::SiteReceipt::create(&license, allotment_id, leases_end, &self.device_key()?)
    }

    /// The license id, the binding to request (the same salt as the last request for that
    /// license) and the key, for a request with `license_token` on `fingerprint`.
    fn prepare(
        &self,
        license_token: &str,
        fingerprint: &Fingerprint,
    ) -> Result<(String, Binding, DeviceKey), OfflineError> {
        let unverified = crate::danger::decode_unverified(license_token)
            .map_err(|e| OfflineError::License(std::format!("not a license token: {e}")))?;
        let peek: Peek = serde_json::from_slice(&unverified.message)
            .map_err(|_| OfflineError::License("not a licd license token".to_string()))?;
        if peek.binding.is_some() {
            return Err(OfflineError::License(
                "this token is already bound to a device; make the request with the license as bought (the unbound token)".to_string(),
            ));
        }
        fingerprint
            .check_one_machine()
            .map_err(|e| OfflineError::License(e.to_string()))?;
        if !fingerprint.identifies_machine() {
            return Err(OfflineError::License(
                "this machine's fingerprint has neither a disk nor a mainboard serial, so nothing can be bound to it".to_string(),
            ));
        }
        let key = self.device_key()?;
        let salt = match self.activation()? {
            Some((license, salt)) if license == peek.jti => salt,
            _ => {
                let mut salt = [0u8; 8];
                getrandom::getrandom(&mut salt).map_err(|e| {
                    OfflineError::State(std::format!("no randomness for a binding salt: {e}"))
                })?;
                let path = self.dir.join(ACTIVATION_FILE);
                let text = std::format!("{}\n{}\n", peek.jti, b64_encode(&salt));
                write_private(&path, text.as_bytes()).map_err(|e| state_error(&path, &e))?;
                salt
            }
        };
        Ok((peek.jti, Binding::new(fingerprint, salt), key))
    }

    /// A receipt (`ldr1.…`) giving back this machine's seat. Delete the license's token first:
    /// once licd accepts the receipt the seat is free and the token is on the revocation list.
    /// The activation is forgotten here, so the receipt can be made once; keep it until licd
    /// has accepted it.
    pub fn receipt(&self) -> Result<String, OfflineError> {
        let Some((license, salt)) = self.activation()? else {
            return Err(OfflineError::State(std::format!(
                "no activation in {} to give back",
                self.dir.display()
            )));
        };
        let key = self.device_key()?;
        let receipt = Receipt::create(&license, salt, &key)?;
        let path = self.dir.join(ACTIVATION_FILE);
        fs::remove_file(&path).map_err(|e| state_error(&path, &e))?;
        Ok(receipt)
    }

    /// The license and salt of the current activation, if any.
    fn activation(&self) -> Result<Option<(String, [u8; 8])>, OfflineError> {
        let path = self.dir.join(ACTIVATION_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(state_error(&path, &e)),
        };
        let mut lines = text.lines();
        let parsed = match (lines.next(), lines.next()) {
            (Some(license), Some(salt)) if !license.is_empty() => {
                b64_decode_array::<8>(salt.trim().as_bytes()).map(|s| (license.to_string(), s))
            }
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            OfflineError::State(std::format!(
                "{} is not an activation record",
                path.display()
            ))
        })
    }
}

fn state_error(path: &Path, e: &std::io::Error) -> OfflineError {
    OfflineError::State(std::format!("{}: {e}", path.display()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Writes `bytes` to `path` owner-only, whole or not at all (a temporary file renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

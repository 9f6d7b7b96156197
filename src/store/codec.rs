//! The record format every backend stores: JSON bodies, and the audit log's hash chain.
//!
//! One format for sled, PostgreSQL, memory and backups, so a record moves between them byte for
//! byte (`licd migrate`, `licd restore`) and a chain checked in one is checked in all.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{AuditRecord, StoreError};

/// The `prev` of the first audit record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record's stored bytes.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Records are plain structs of strings, numbers and maps: serialising to memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// A stored record read back; `key` names it in the error when the bytes do not parse.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

/// The chain link of an audit record.
pub fn link(prev: &str, seq: u64, event_json: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(seq.to_be_bytes());
    h.update(event_json);
    crate::crypto::hex(&h.finalize())
}

/// Checks the audit log's hash chain one stored record at a time, in sequence order: serves
/// [`super::Store::verify_audit_chain`] and the check of a backup before it is restored.
#[derive(Debug, Clone)]
pub struct AuditChain {
    prev: String,
    len: u64,
}

impl Default for AuditChain {
    fn default() -> Self {
        AuditChain {
            prev: GENESIS.to_string(),
            len: 0,
        }
    }
}

impl AuditChain {
    /// Takes the next stored record (key and value as in the `audit` collection). `Err(seq)`
    /// inside is the first sequence number whose link is broken.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<Result<(), u64>, StoreError> {
        let expected = self.len + 1;
        let r: AuditRecord = decode(key, value)?;
        let json = encode(&r.event);
        if key != expected.to_be_bytes()
            || r.seq != expected
            || r.prev != self.prev
            || link(&self.prev, r.seq, &json) != r.hash
        {
            return Ok(Err(expected));
        }
        self.prev = r.hash;
        self.len = expected;
        Ok(Ok(()))
    }

    /// Records checked so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no record was checked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

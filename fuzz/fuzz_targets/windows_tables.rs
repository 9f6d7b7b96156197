//! The parsers of Windows' binary answers that the fingerprint collector reads: the SMBIOS
//! table (`GetSystemFirmwareTable('RSMB')`), a `STORAGE_DEVICE_DESCRIPTOR` and a
//! `VOLUME_DISK_EXTENTS`. Each runs on the same bytes, on every platform.
//!
//! Invariants (checked inside `client_verifier::__fuzz::windows_tables`): no panic and no read
//! past the buffer whatever the lengths and offsets claim; serials and UUIDs are never empty and
//! never hold the fingerprint form's `|` or `,`; a UUID has its 36-character form; no more disk
//! extents than the bytes can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    client_verifier::__fuzz::windows_tables(data);
});

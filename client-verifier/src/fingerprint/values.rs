//! What makes a raw value a fingerprint value: MACs that identify an adapter, serials that are
//! not placeholders and cannot corrupt the `|`- and `,`-separated form. Shared by the collectors
//! and by the parsers of Windows' binary answers (`windows_tables`), which are also fuzzed.
#![cfg_attr(not(feature = "fingerprint"), allow(dead_code))]

use alloc::string::String;

/// The colon form of a MAC address, or `None` for one that identifies nothing: all zeros, or
/// the multicast bit set (which also covers broadcast `ff:ff:ff:ff:ff:ff`).
pub(super) fn mac_from_octets(octets: [u8; 6]) -> Option<String> {
    if octets == [0; 6] || octets[0] & 0x01 != 0 {
        return None;
    }
    let [a, b, c, d, e, f] = octets;
    Some(alloc::format!(
        "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}"
    ))
}

/// True for a locally administered MAC (second-lowest bit of the first octet), the kind OSes
/// generate for privacy and virtual interfaces.
// The Linux and macOS collectors use it; on Windows the adapter's hardware flag decides.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", test)),
    allow(dead_code)
)]
pub(super) fn is_locally_administered(octets: [u8; 6]) -> bool {
    octets[0] & 0x02 != 0
}

/// A serial or id trimmed of white space and NULs, or `None` when it is empty, not printable
/// ASCII, a placeholder (see [`is_placeholder`]), or holds `|` or `,`, which would corrupt the
/// marketplace's `|`- and `,`-separated form.
pub(super) fn clean_serial(raw: &str) -> Option<String> {
    let value = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| (b.is_ascii_graphic() && b != b'|' && b != b',') || b == b' ')
        || is_placeholder(value)
    {
        return None;
    }
    Some(String::from(value))
}

/// Placeholders that firmware vendors and hypervisors leave in serial fields. They are the same
/// on thousands of machines, so binding to one would bind to nothing.
const PLACEHOLDERS: &[&str] = &[
    "0",
    "0123456789",
    "123456789",
    "1234567890",
    "base board serial number",
    "board serial number",
    "chassis serial number",
    "default",
    "default string",
    "empty",
    "invalid",
    "n/a",
    "na",
    "none",
    "not applicable",
    "not available",
    "not specified",
    "null",
    "oem",
    "serial",
    "serial number",
    "serialnumber",
    "system serial number",
    "to be filled by o.e.m.",
    "type2 - board serial number",
    "undefined",
    "unknown",
    // SMBIOS UUID of countless boards whose vendor never set one.
    "03000200-0400-0500-0006-000700080009",
];

/// Whether `value` (already trimmed) is a well-known placeholder rather than a real serial.
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str())
        || lower.contains("o.e.m")
        || lower.contains("filled by")
    {
        return true;
    }
    // QEMU's default IDE/AHCI disk serials (QM00001...), identical on every such VM.
    if lower.len() == 7 && lower.starts_with("qm0000") {
        return true;
    }
    // One character repeated, ignoring separators: 00000000, FFFFFFFF-FFFF-..., XXXXXXXX, 0x0000.
    let body = lower.strip_prefix("0x").unwrap_or(&lower);
    let mut chars = body
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.' | '_' | ' '));
    match chars.next() {
        None => true,
        Some(first) => chars.all(|c| c == first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_keep_real_addresses_and_drop_useless_ones() {
        assert_eq!(
            mac_from_octets([0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d]).as_deref(),
            Some("04:7c:16:5e:e3:5d")
        );
        // Cloud VMs (OpenStack's fa:16:3e) use locally administered MACs: those are kept here.
        assert_eq!(
            mac_from_octets([0xfa, 0x16, 0x3e, 0, 0, 1]).as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        assert_eq!(mac_from_octets([0; 6]), None);
        assert_eq!(mac_from_octets([0xff; 6]), None);
        assert_eq!(mac_from_octets([0x01, 0x00, 0x5e, 0, 0, 1]), None);
    }

    #[test]
    fn locally_administered_bit() {
        assert!(is_locally_administered([0x02, 0, 0, 0, 0, 1]));
        assert!(is_locally_administered([0xfa, 0x16, 0x3e, 0, 0, 1]));
        assert!(!is_locally_administered([
            0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d
        ]));
    }

    #[test]
    fn clean_serial_trims_and_rejects() {
        assert_eq!(clean_serial("  PF2ABCDE \n").as_deref(), Some("PF2ABCDE"));
        assert_eq!(
            clean_serial("001B_444A_488B_5CEC.").as_deref(),
            Some("001B_444A_488B_5CEC.")
        );
        assert_eq!(
            clean_serial("S4EWNX0R123456\0\0").as_deref(),
            Some("S4EWNX0R123456")
        );
        assert_eq!(
            clean_serial("WD-WCC4N 1234567").as_deref(),
            Some("WD-WCC4N 1234567")
        );
        assert_eq!(clean_serial(""), None);
        assert_eq!(clean_serial(" \n\t"), None);
        assert_eq!(clean_serial("\u{1}\u{2}binary"), None);
        assert_eq!(clean_serial("séria"), None);
        assert_eq!(clean_serial("A|B"), None);
        assert_eq!(clean_serial("A,B"), None);
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            "To be filled by O.E.M.",
            "To Be Filled By O.E.M.",
            "To be filled by OEM",
            "Default string",
            "None",
            "NONE",
            "Not Specified",
            "Not Applicable",
            "System Serial Number",
            "Unknown",
            "N/A",
            "0",
            "00000000",
            "0000000000000000",
            "0x00000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "00000000-0000-0000-0000-000000000000",
            "03000200-0400-0500-0006-000700080009",
            "XXXXXXXXXX",
            "QM00001",
            "...",
        ] {
            assert!(is_placeholder(p), "{p}");
            assert_eq!(clean_serial(p), None, "{p}");
        }
        for real in [
            "PF2ABCDE",
            "4C4C4544-0042-3510-8052-B3C04F4B4E32",
            "0x1234abcd",
            "10000000abcdef01",
            "QM000012345",
        ] {
            assert!(!is_placeholder(real), "{real}");
        }
    }
}

//! Reads this machine's raw fingerprint components from the operating system.
//!
//! Every source is local and cheap: sysfs files, the `cpuid` instruction, and on Windows and
//! macOS one short-lived system tool. Nothing here touches the network, lists processes or walks
//! a file system. A component that cannot be read is an empty vector, never a made-up value, so a
//! machine (or a container) always yields the same fingerprint.
//!
//! Values come back un-normalised; the caller trims, upper-cases, sorts and de-duplicates them.
//! What is filtered here is what carries no identity: zero and multicast MACs, virtual NICs,
//! removable disks, and the placeholder strings firmware vendors leave in DMI fields.

// Elsewhere every component is empty and the shared helpers below go unused.
#![cfg_attr(
    not(any(target_os = "linux", target_os = "windows", target_os = "macos")),
    allow(dead_code)
)]

use std::string::String;
use std::vec::Vec;

#[cfg(target_os = "linux")]
mod linux;
// Also compiled into every test build, so that their parsers are unit-tested and the rest of their
// code is at least type-checked on machines that have no Windows or macOS target installed.
#[cfg(any(target_os = "macos", test))]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod macos;
#[cfg(any(target_os = "windows", test))]
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
mod windows;
#[cfg(target_os = "windows")]
mod windows_sys_calls;
#[cfg(any(target_os = "windows", test))]
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
mod windows_tables;

/// This machine's values per component: 0 MACs, 1 disk serials, 2 mainboard serial, 3 CPU id.
pub(crate) fn raw_components() -> [Vec<String>; 4] {
    #[cfg(target_os = "linux")]
    {
        linux::raw_components()
    }
    #[cfg(target_os = "windows")]
    {
        windows::raw_components()
    }
    #[cfg(target_os = "macos")]
    {
        macos::raw_components()
    }
    #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
    {
        Default::default()
    }
}

/// The CPU id in the form of WMI's `Win32_Processor.ProcessorId`, which the marketplace uses:
/// CPUID leaf 1 EDX then EAX, each as 8 upper-case hex digits. `None` off x86.
fn cpuid_processor_id() -> Option<String> {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::__cpuid;
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::__cpuid;

    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        // Leaf 0 reports the highest standard leaf; a CPU (or hypervisor) without leaf 1 would
        // otherwise hand back whatever the highest leaf holds.
        if __cpuid(0).eax < 1 {
            return None;
        }
        let leaf1 = __cpuid(1);
        Some(std::format!("{:08X}{:08X}", leaf1.edx, leaf1.eax))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    {
        None
    }
}

/// The colon form of a MAC address, or `None` for one that identifies nothing: all zeros, or
/// the multicast bit set (which also covers broadcast `ff:ff:ff:ff:ff:ff`).
fn mac_from_octets(octets: [u8; 6]) -> Option<String> {
    if octets == [0; 6] || octets[0] & 0x01 != 0 {
        return None;
    }
    let [a, b, c, d, e, f] = octets;
    Some(std::format!(
        "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}"
    ))
}

/// Parses a MAC written as six hex octets separated by `:` (as sysfs prints them) or `-`,
/// returning its octets.
#[cfg(any(target_os = "linux", test))]
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let text = text.trim();
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut octets = [0u8; 6];
    let mut parts = text.split(sep);
    for octet in &mut octets {
        let part = parts.next()?;
        // from_str_radix alone would also take a sign ("+4").
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(octets)
}

/// True for a locally administered MAC (second-lowest bit of the first octet), the kind OSes
/// generate for privacy and virtual interfaces.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows", test))]
fn is_locally_administered(octets: [u8; 6]) -> bool {
    octets[0] & 0x02 != 0
}

/// A serial or id trimmed of white space and NULs, or `None` when it is empty, not printable
/// ASCII, a placeholder (see [`is_placeholder`]), or holds `|` or `,`, which would corrupt the
/// marketplace's `|`- and `,`-separated form.
fn clean_serial(raw: &str) -> Option<String> {
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
    fn cpuid_matches_the_wmi_form() {
        let id = cpuid_processor_id();
        let x86 = cfg!(any(target_arch = "x86_64", target_arch = "x86"));
        assert_eq!(id.is_some(), x86, "{id:?}");
        if let Some(id) = id {
            assert_eq!(id.len(), 16, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
                "{id}"
            );
        }
    }

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
    fn parse_mac_accepts_colon_and_dash_forms_only() {
        let expect = Some([0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d]);
        assert_eq!(parse_mac("04:7c:16:5e:e3:5d\n"), expect);
        assert_eq!(parse_mac("04-7C-16-5E-E3-5D"), expect);
        assert_eq!(parse_mac(""), None);
        assert_eq!(parse_mac("garbage"), None);
        assert_eq!(parse_mac("04:7c:16:5e:e3"), None);
        assert_eq!(parse_mac("04:7c:16:5e:e3:5d:00"), None);
        assert_eq!(parse_mac("4:7c:16:5e:e3:5d"), None);
        assert_eq!(parse_mac("zz:7c:16:5e:e3:5d"), None);
        assert_eq!(parse_mac("+4:7c:16:5e:e3:5d"), None);
        // InfiniBand's 20-octet hardware address is not a MAC.
        assert_eq!(
            parse_mac("00:00:01:07:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:01"),
            None
        );
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

    #[test]
    fn raw_components_never_panics_and_has_no_blank_values() {
        let parts = raw_components();
        for values in &parts {
            for v in values {
                assert!(!v.trim().is_empty());
                assert!(!v.contains('|') && !v.contains(','), "{v}");
            }
        }
    }
}

//! macOS sources: the `en*` interfaces sysinfo reports for MACs, the platform serial number from
//! `ioreg` for the mainboard component, and `cpuid` on Intel Macs for the CPU (Apple silicon has
//! no equivalent, so it stays empty). Disk serials stay empty: reading them takes IOKit.

use std::process::{Command, Stdio};
use std::string::String;
use std::vec::Vec;

use super::{clean_serial, cpuid_processor_id, is_locally_administered, mac_from_octets};

/// This machine's values per component, in the order of [`super::raw_components`].
pub(super) fn raw_components() -> [Vec<String>; 4] {
    [
        macs(),
        Vec::new(),
        platform_serial().into_iter().collect(),
        cpuid_processor_id().into_iter().collect(),
    ]
}

/// MACs of the hardware interfaces sysinfo lists.
fn macs() -> Vec<String> {
    let networks = sysinfo::Networks::new_with_refreshed_list();
    let mut out = Vec::new();
    for (name, data) in &networks {
        if !is_hardware_interface(name) {
            continue;
        }
        let octets = data.mac_address().0;
        // Apple's burned-in MACs are all globally unique; a locally administered one is Wi-Fi's
        // "private address", which changes per network.
        if is_locally_administered(octets) {
            continue;
        }
        if let Some(mac) = mac_from_octets(octets) {
            out.push(mac);
        }
    }
    out
}

/// Whether a BSD interface name is Ethernet or Wi-Fi hardware (`en0`, `en1`, ...). Everything
/// else is virtual: `lo0`, `utun*`, `awdl0`, `llw0`, `bridge0`, `anpi*`, `ap1`, `gif0`, `stf0`,
/// `vmenet*`.
fn is_hardware_interface(name: &str) -> bool {
    name.strip_prefix("en")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The Mac's serial number (or, failing that, its platform UUID) from `ioreg`.
fn platform_serial() -> Option<String> {
    let output = Command::new("/usr/sbin/ioreg")
        .args(["-rd1", "-c", "IOPlatformExpertDevice"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_ioreg(&String::from_utf8_lossy(&output.stdout))
}

/// `IOPlatformSerialNumber` from `ioreg -rd1 -c IOPlatformExpertDevice` output, else
/// `IOPlatformUUID` (virtual machines and some repaired boards have an empty or placeholder
/// serial). Properties look like
///
/// ```text
///   {
///     "IOPlatformSerialNumber" = "C02XG0FDH7JY"
///     "IOPlatformUUID" = "5A1C6B0E-2F3D-4E5A-9B8C-7D6E5F4A3B2C"
/// ```
fn parse_ioreg(output: &str) -> Option<String> {
    ioreg_string(output, "IOPlatformSerialNumber")
        .or_else(|| ioreg_string(output, "IOPlatformUUID"))
}

/// The string property `key` in `ioreg` output, cleaned; `None` when absent or useless.
fn ioreg_string(output: &str, key: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let line = line.trim_start_matches(|c: char| c.is_whitespace() || c == '|');
        let rest = line
            .strip_prefix('"')?
            .strip_prefix(key)?
            .strip_prefix('"')?;
        let value = rest.trim_start().strip_prefix('=')?.trim();
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        clean_serial(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IOREG: &str = "+-o MacBookPro18,3  <class IOPlatformExpertDevice, id 0x100000110, registered, \
                         matched, active, busy 0 (2 ms), retain 33>\n  {\n    \
                         \"IOPolledInterface\" = \"AppleARMWatchdogTimerHibernateHandler is not serializable\"\n    \
                         \"manufacturer\" = <\"Apple Inc.\">\n    \
                         \"IOPlatformSerialNumber\" = \"C02XG0FDH7JY\"\n    \
                         \"IOPlatformUUID\" = \"5A1C6B0E-2F3D-4E5A-9B8C-7D6E5F4A3B2C\"\n  }\n\n";

    #[test]
    fn ioreg_normal() {
        assert_eq!(parse_ioreg(IOREG).as_deref(), Some("C02XG0FDH7JY"));
        assert_eq!(
            ioreg_string(IOREG, "IOPlatformUUID").as_deref(),
            Some("5A1C6B0E-2F3D-4E5A-9B8C-7D6E5F4A3B2C")
        );
        // The key must match whole, not as a prefix of a longer one.
        assert_eq!(ioreg_string(IOREG, "IOPlatform"), None);
        let tree = "  | |   \"IOPlatformSerialNumber\" = \"C02XG0FDH7JY\"\n";
        assert_eq!(parse_ioreg(tree).as_deref(), Some("C02XG0FDH7JY"));
    }

    #[test]
    fn ioreg_placeholder_serial_falls_back_to_uuid() {
        let vm = IOREG.replace("C02XG0FDH7JY", "0");
        assert_eq!(
            parse_ioreg(&vm).as_deref(),
            Some("5A1C6B0E-2F3D-4E5A-9B8C-7D6E5F4A3B2C")
        );
        let blank = IOREG.replace("C02XG0FDH7JY", " ");
        assert_eq!(
            parse_ioreg(&blank).as_deref(),
            Some("5A1C6B0E-2F3D-4E5A-9B8C-7D6E5F4A3B2C")
        );
    }

    #[test]
    fn ioreg_empty_and_garbage() {
        assert_eq!(parse_ioreg(""), None);
        assert_eq!(parse_ioreg("garbage\n\u{0}\u{1}\n\"\"\n= =\n"), None);
        assert_eq!(
            parse_ioreg("\"IOPlatformSerialNumber\" = <43303258>\n"),
            None
        );
        assert_eq!(
            parse_ioreg("\"IOPlatformSerialNumber\" = \"C02XG0FDH7JY\n"),
            None
        );
        assert_eq!(parse_ioreg("\"IOPlatformSerialNumber\"\n"), None);
    }

    #[test]
    fn hardware_interfaces_by_name() {
        for name in ["en0", "en1", "en12"] {
            assert!(is_hardware_interface(name), "{name}");
        }
        for name in [
            "lo0", "utun3", "awdl0", "llw0", "bridge0", "anpi0", "ap1", "gif0", "en", "enx",
            "vmenet0",
        ] {
            assert!(!is_hardware_interface(name), "{name}");
        }
    }
}

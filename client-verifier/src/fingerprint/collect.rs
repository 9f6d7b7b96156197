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

// The helpers the collectors share; the collectors name them `super::clean_serial` and so on.
#[cfg_attr(not(target_os = "linux"), allow(unused_imports))]
use super::values::{clean_serial, is_locally_administered, mac_from_octets};

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

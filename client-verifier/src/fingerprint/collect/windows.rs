//! Windows sources, all without WMI:
//!
//! - MACs: the physical adapters `GetIfTable2` lists (hardware interfaces with a connector,
//!   Ethernet or Wi-Fi; their burned-in address);
//! - disk: the serial of the disk the system volume lives on, from its
//!   `STORAGE_DEVICE_DESCRIPTOR` (`IOCTL_STORAGE_QUERY_PROPERTY`; no administrator rights);
//! - mainboard: the SMBIOS baseboard serial (`GetSystemFirmwareTable('RSMB')`), else the SMBIOS
//!   system UUID, else the registry's per-installation `MachineGuid` (read with `reg.exe`);
//! - CPU: `cpuid`, as WMI's `ProcessorId`.
//!
//! The mainboard value is the anchor: it survives a reinstall of Windows (the `MachineGuid`
//! fallback does not), and a cloned VM image gets a new SMBIOS UUID from its hypervisor, so
//! the clone is a new machine. Under Wine, which answers none of the firmware and device calls,
//! collection falls back to what it can read: the adapters Wine shows, MachineGuid and `cpuid`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::string::String;
#[cfg(target_os = "windows")]
use std::vec::Vec;

use super::clean_serial;
#[cfg(target_os = "windows")]
use super::cpuid_processor_id;
#[cfg(target_os = "windows")]
use super::windows_sys_calls as sys;
#[cfg(target_os = "windows")]
use crate::fingerprint::windows_tables::{Answers, components};

/// This machine's values per component, in the order of [`super::raw_components`].
#[cfg(target_os = "windows")]
pub(super) fn raw_components() -> [Vec<String>; 4] {
    let drive = std::env::var("SystemDrive")
        .ok()
        .filter(|d| d.len() == 2 && d.ends_with(':'))
        .unwrap_or_else(|| "C:".into());
    let smbios = sys::smbios();
    let extents = sys::volume_extents(&drive);
    components(&Answers {
        smbios: smbios.as_deref(),
        extents: extents.as_deref(),
        descriptor: &sys::storage_descriptor,
        interfaces: &sys::interfaces(),
        machine_guid: &machine_guid,
        cpu: cpuid_processor_id(),
    })
}

/// Windows' per-installation `MachineGuid`, via `reg.exe`.
fn machine_guid() -> Option<String> {
    // `/reg:64` reads the 64-bit view even from a 32-bit process, whose default view (under
    // Wow6432Node) has no MachineGuid. Retried without it in case an old reg.exe refuses it.
    query_machine_guid(true).or_else(|| query_machine_guid(false))
}

/// One `reg query` for `MachineGuid`, in the 64-bit registry view when `view64`.
fn query_machine_guid(view64: bool) -> Option<String> {
    // A full path, so that a `reg.exe` in the application's directory or the working directory
    // is not the one run.
    let system_root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    let reg = PathBuf::from(system_root).join("System32").join("reg.exe");
    let mut command = Command::new(reg);
    command.args([
        "query",
        r"HKLM\SOFTWARE\Microsoft\Cryptography",
        "/v",
        "MachineGuid",
    ]);
    if view64 {
        command.arg("/reg:64");
    }
    command.stdin(Stdio::null()).stderr(Stdio::null());
    #[cfg(target_os = "windows")]
    {
        use std::os::windows::process::CommandExt;
        // CREATE_NO_WINDOW: a GUI application would otherwise flash a console window.
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    let output = command.output().ok()?;
    if !output.status.success() {
        return None;
    }
    parse_reg_query(&String::from_utf8_lossy(&output.stdout))
}

/// The `MachineGuid` value in `reg query` output, which looks like
///
/// ```text
/// HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Cryptography
///     MachineGuid    REG_SZ    1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d
/// ```
///
/// `None` unless the value is a GUID: 32 hex digits, with or without dashes and braces.
fn parse_reg_query(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (name, kind, value) = (fields.next()?, fields.next()?, fields.next()?);
        if !name.eq_ignore_ascii_case("MachineGuid") || kind != "REG_SZ" || fields.next().is_some()
        {
            return None;
        }
        let digits = value.trim_start_matches('{').trim_end_matches('}');
        let hex = digits.bytes().filter(u8::is_ascii_hexdigit).count();
        if hex != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return None;
        }
        clean_serial(digits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_query_normal() {
        let out = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    \
                   MachineGuid    REG_SZ    1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d\r\n\r\n";
        assert_eq!(
            parse_reg_query(out).as_deref(),
            Some("1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d")
        );
        let braces = "    machineguid\tREG_SZ\t{1B2C3D4E-5F60-4A7B-8C9D-0E1F2A3B4C5D}\n";
        assert_eq!(
            parse_reg_query(braces).as_deref(),
            Some("1B2C3D4E-5F60-4A7B-8C9D-0E1F2A3B4C5D")
        );
    }

    #[test]
    fn reg_query_empty_garbage_and_placeholders() {
        assert_eq!(parse_reg_query(""), None);
        assert_eq!(
            parse_reg_query(
                "ERROR: The system was unable to find the specified registry key or value.\r\n"
            ),
            None
        );
        assert_eq!(parse_reg_query("    MachineGuid    REG_SZ\r\n"), None);
        assert_eq!(
            parse_reg_query("    MachineGuid    REG_DWORD    0x1\r\n"),
            None
        );
        assert_eq!(
            parse_reg_query("    MachineGuid    REG_SZ    not-a-guid\r\n"),
            None
        );
        assert_eq!(
            parse_reg_query("    MachineGuid    REG_SZ    1b2c3d4e 5f60\r\n"),
            None
        );
        assert_eq!(
            parse_reg_query("    OtherValue    REG_SZ    1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d\r\n"),
            None
        );
        assert_eq!(
            parse_reg_query(
                "    MachineGuid    REG_SZ    00000000-0000-0000-0000-000000000000\r\n"
            ),
            None
        );
        assert_eq!(parse_reg_query("\u{0}\u{ff}\r\n\r\n"), None);
    }
}

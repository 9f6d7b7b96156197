//! The binary answers Windows gives the collector, read by pure functions so that every platform
//! tests them on captured and hand-built fixtures:
//!
//! - `GetSystemFirmwareTable('RSMB')`: the SMBIOS table behind a `RawSMBIOSData` header, for the
//!   baseboard serial (type 2) and the system UUID (type 1);
//! - `IOCTL_STORAGE_QUERY_PROPERTY` (`StorageDeviceProperty`): a `STORAGE_DEVICE_DESCRIPTOR`,
//!   for a disk's serial number;
//! - `IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS`: a `VOLUME_DISK_EXTENTS`, for the disk the system
//!   volume lives on.
//!
//! Every offset is checked against the buffer: a short, truncated or lying answer reads as
//! "nothing here", never as a panic or a read past the end.

use std::string::String;
use std::vec::Vec;

use super::values::{clean_serial, mac_from_octets};

/// What the SMBIOS table says of the machine.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Smbios {
    /// The first baseboard's (type 2) serial number, if it is a real one.
    pub(super) board_serial: Option<String>,
    /// The system (type 1) UUID in the form WMI shows (`Win32_ComputerSystemProduct.UUID`).
    pub(super) system_uuid: Option<String>,
}

/// Parses the buffer `GetSystemFirmwareTable('RSMB', 0, …)` fills: `RawSMBIOSData` (calling
/// method, major, minor, DMI revision, a `u32` length) and then `length` bytes of structures.
pub(super) fn parse_rsmb(raw: &[u8]) -> Smbios {
    let mut out = Smbios::default();
    let (Some(&major), Some(&minor), Some(len)) = (raw.get(1), raw.get(2), le_u32(raw, 4)) else {
        return out;
    };
    let end = 8usize.saturating_add(len as usize).min(raw.len());
    let Some(table) = raw.get(8..end) else {
        return out;
    };
    // SMBIOS 2.6 and later store the UUID's first three fields little-endian, as WMI shows.
    let mixed_endian = (major, minor) >= (2, 6);
    let mut pos = 0usize;
    while let (Some(&kind), Some(&length)) = (table.get(pos), table.get(pos + 1)) {
        let length = usize::from(length);
        let Some(formatted) = table.get(pos..pos + length).filter(|_| length >= 4) else {
            break;
        };
        let (strings, next) = string_set(table, pos + length);
        match kind {
            1 if out.system_uuid.is_none() => {
                out.system_uuid = formatted.get(8..24).and_then(|b| uuid(b, mixed_endian));
            }
            2 if out.board_serial.is_none() => {
                out.board_serial = formatted
                    .get(7)
                    .and_then(|&i| string_at(&strings, i))
                    .and_then(|s| clean_serial(&s));
            }
            127 => break,
            _ => {}
        }
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    out
}

/// The strings after a structure's formatted area at `start`, and where the next structure
/// begins (`None` when the set never ends). Each string ends with a NUL; the set ends with a
/// second NUL (two NULs when it is empty).
fn string_set(table: &[u8], start: usize) -> (Vec<&[u8]>, Option<usize>) {
    let Some(rest) = table.get(start..) else {
        return (Vec::new(), None);
    };
    let Some(end) = rest.windows(2).position(|w| w == [0, 0]) else {
        return (Vec::new(), None);
    };
    let strings = rest[..end]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .collect();
    (strings, Some(start + end + 2))
}

/// String number `index` (from 1; 0 means none) of a structure.
fn string_at(strings: &[&[u8]], index: u8) -> Option<String> {
    let s = strings.get(usize::from(index).checked_sub(1)?)?;
    Some(String::from_utf8_lossy(s).into_owned())
}

/// The 16 UUID bytes as text, upper case; `None` for all zeros (not present) or all `FF` (not
/// set), and for the placeholders [`clean_serial`] knows.
fn uuid(b: &[u8], mixed_endian: bool) -> Option<String> {
    let b: &[u8; 16] = b.try_into().ok()?;
    if b.iter().all(|&x| x == 0) || b.iter().all(|&x| x == 0xff) {
        return None;
    }
    let (d1, d2, d3) = if mixed_endian {
        (
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
        )
    } else {
        (
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]),
        )
    };
    clean_serial(&std::format!(
        "{d1:08X}-{d2:04X}-{d3:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

/// What a `STORAGE_DEVICE_DESCRIPTOR` says of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StorageDevice {
    /// `RemovableMedia`: USB sticks, card readers.
    pub(super) removable: bool,
    /// `BusType` (`STORAGE_BUS_TYPE`): 7 is USB, 1 SCSI, 3 ATA, 11 SATA, 17 NVMe.
    pub(super) bus_type: u32,
    /// The serial number, if the device gave a real one.
    pub(super) serial: Option<String>,
}

/// `STORAGE_BUS_TYPE::BusTypeUsb`.
pub(super) const BUS_TYPE_USB: u32 = 7;

/// Parses a `STORAGE_DEVICE_DESCRIPTOR`: `Version`, `Size`, `DeviceType`, `DeviceTypeModifier`,
/// `RemovableMedia`, `CommandQueueing`, then `u32` offsets of the vendor, product, revision and
/// serial strings (0 when absent), `BusType`, the raw properties. `None` when the buffer is too
/// short for the fixed part.
pub(super) fn parse_storage_descriptor(buf: &[u8]) -> Option<StorageDevice> {
    // The descriptor says how much of it is valid; never trust more than was returned.
    let size = (le_u32(buf, 4)? as usize).min(buf.len());
    let valid = buf.get(..size)?;
    let removable = *valid.get(10)? != 0;
    let serial_offset = le_u32(valid, 24)? as usize;
    let bus_type = le_u32(valid, 28)?;
    let serial = (serial_offset != 0)
        .then(|| valid.get(serial_offset..))
        .flatten()
        .and_then(|rest| {
            let text = rest.split(|&b| b == 0).next().unwrap_or_default();
            clean_serial(&String::from_utf8_lossy(text))
        });
    Some(StorageDevice {
        removable,
        bus_type,
        serial,
    })
}

/// The disk numbers a `VOLUME_DISK_EXTENTS` lists: `NumberOfDiskExtents` (`u32`, padded to 8),
/// then `DISK_EXTENT`s of 24 bytes (`DiskNumber` `u32`, padding, `StartingOffset`,
/// `ExtentLength`). A volume spanning disks lists each; the first is where it starts.
pub(super) fn parse_disk_extents(buf: &[u8]) -> Vec<u32> {
    let Some(count) = le_u32(buf, 0) else {
        return Vec::new();
    };
    (0..count as usize)
        .map_while(|i| le_u32(buf, 8 + i * 24))
        .collect()
}

/// One network interface as `GetIfTable2` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Interface {
    /// `IFTYPE`: 6 Ethernet, 71 IEEE 802.11.
    pub(super) kind: u32,
    /// `InterfaceAndOperStatusFlags.HardwareInterface`: backed by a hardware adapter.
    pub(super) hardware: bool,
    /// `InterfaceAndOperStatusFlags.ConnectorPresent`: has a physical connector.
    pub(super) connector: bool,
    /// The burned-in address when there is one, else the current one.
    pub(super) mac: Option<[u8; 6]>,
}

/// The MACs of physical adapters: hardware interfaces with a connector, Ethernet or Wi-Fi.
/// Windows sets neither flag on Hyper-V switches, VPN and tunnel adapters, Wi-Fi Direct or
/// loopback, whatever they are named; and a Wi-Fi adapter's burned-in address counts, not the
/// random one it may show a network. A locally administered burned-in address counts, as on
/// Linux: a cloud VM's NIC has one (OpenStack's `fa:16:3e:…`) and keeps it for the VM's life.
pub(super) fn physical_macs(interfaces: &[Interface]) -> Vec<String> {
    const ETHERNET: u32 = 6;
    const WIFI: u32 = 71;
    interfaces
        .iter()
        .filter(|i| i.hardware && i.connector && (i.kind == ETHERNET || i.kind == WIFI))
        .filter_map(|i| i.mac.and_then(mac_from_octets))
        .collect()
}

/// What Windows answered, call by call; `None` where a call failed (as under Wine).
pub(super) struct Answers<'a> {
    /// `GetSystemFirmwareTable('RSMB')`.
    pub(super) smbios: Option<&'a [u8]>,
    /// `IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS` of the system volume.
    pub(super) extents: Option<&'a [u8]>,
    /// `IOCTL_STORAGE_QUERY_PROPERTY` of a physical drive, by number.
    pub(super) descriptor: &'a dyn Fn(u32) -> Option<Vec<u8>>,
    /// `GetIfTable2`.
    pub(super) interfaces: &'a [Interface],
    /// The registry's `MachineGuid`, asked for only when SMBIOS has nothing.
    pub(super) machine_guid: &'a dyn Fn() -> Option<String>,
    /// `cpuid`.
    pub(super) cpu: Option<String>,
}

/// The four components from Windows' answers: MACs of physical adapters; the system disk's
/// serial (not when it is removable or on USB: a Windows To Go stick moves between machines);
/// the SMBIOS baseboard serial, else the SMBIOS system UUID, else `MachineGuid`; the CPU id.
pub(super) fn components(a: &Answers<'_>) -> [Vec<String>; 4] {
    let smbios = a.smbios.map(parse_rsmb).unwrap_or_default();
    let board = smbios
        .board_serial
        .or(smbios.system_uuid)
        .or_else(|| (a.machine_guid)());
    let disk = a
        .extents
        .and_then(|e| parse_disk_extents(e).first().copied())
        .and_then(|n| (a.descriptor)(n))
        .and_then(|d| parse_storage_descriptor(&d))
        .filter(|d| !d.removable && d.bus_type != BUS_TYPE_USB)
        .and_then(|d| d.serial);
    [
        physical_macs(a.interfaces),
        disk.into_iter().collect(),
        board.into_iter().collect(),
        a.cpu.clone().into_iter().collect(),
    ]
}

/// The fuzz target's body (`fuzz/fuzz_targets/windows_tables.rs`): every parser on the same
/// bytes. None may panic, and what each returns must be fit for a fingerprint: serials never
/// empty and never holding the form's separators, a UUID in its 36-character form, no more disk
/// extents than the bytes can hold.
#[cfg(feature = "__fuzz")]
pub(crate) fn fuzz(data: &[u8]) {
    let fit = |v: &String| !v.is_empty() && !v.contains(['|', ',']);
    let smbios = parse_rsmb(data);
    assert!(smbios.board_serial.iter().all(fit));
    assert!(smbios.system_uuid.iter().all(|u| fit(u) && u.len() == 36));
    if let Some(d) = parse_storage_descriptor(data) {
        assert!(d.serial.iter().all(fit));
    }
    let disks = parse_disk_extents(data);
    assert!(disks.is_empty() || 8 + 24 * (disks.len() - 1) + 4 <= data.len());
}

fn le_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One SMBIOS structure: type, formatted area after the 4-byte header, strings.
    fn structure(kind: u8, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = vec![kind, (4 + formatted.len()) as u8, 0x10, 0x00];
        s.extend_from_slice(formatted);
        if strings.is_empty() {
            s.extend_from_slice(&[0, 0]);
        } else {
            for t in strings {
                s.extend_from_slice(t.as_bytes());
                s.push(0);
            }
            s.push(0);
        }
        s
    }

    fn rsmb(major: u8, minor: u8, structures: &[Vec<u8>]) -> Vec<u8> {
        let table: Vec<u8> = structures.concat();
        let mut raw = vec![0, major, minor, 0];
        raw.extend_from_slice(&(table.len() as u32).to_le_bytes());
        raw.extend_from_slice(&table);
        raw
    }

    const UUID_BYTES: [u8; 16] = [
        0x44, 0x45, 0x4c, 0x4c, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xb3, 0xc0, 0x4f, 0x4b, 0x4e,
        0x32,
    ];

    fn system(uuid: [u8; 16]) -> Vec<u8> {
        // Manufacturer, product, no version (string 0), serial, then the UUID at 0x08.
        let mut f = vec![1, 2, 0, 3];
        f.extend_from_slice(&uuid);
        f.push(6); // wake-up type
        structure(1, &f, &["Dell Inc.", "OptiPlex 7080", "5B2XYZ3"])
    }

    fn board(serial: &str) -> Vec<u8> {
        // Manufacturer, product, version, serial (string 4 at 0x07), no asset tag. A string is
        // never empty: an absent one is number 0.
        structure(2, &[1, 2, 3, 4, 0], &["Dell Inc.", "0J37DM", "A00", serial])
    }

    #[test]
    fn the_board_serial_and_the_uuid_as_wmi_shows_them() {
        let raw = rsmb(
            3,
            2,
            &[
                structure(0, &[1, 2, 0, 0], &["Dell Inc.", "1.2.3"]),
                system(UUID_BYTES),
                board("/5B2XYZ3/CN1296355D00AB/"),
                structure(127, &[], &[]),
            ],
        );
        assert_eq!(
            parse_rsmb(&raw),
            Smbios {
                board_serial: Some("/5B2XYZ3/CN1296355D00AB/".into()),
                // Dell's well-known layout: 4C4C4544-… once the first fields are swapped.
                system_uuid: Some("4C4C4544-0042-3510-8052-B3C04F4B4E32".into()),
            }
        );
        // Before SMBIOS 2.6 the UUID is plain big-endian.
        let old = parse_rsmb(&rsmb(2, 4, &[system(UUID_BYTES)]));
        assert_eq!(
            old.system_uuid.as_deref(),
            Some("44454C4C-4200-1035-8052-B3C04F4B4E32")
        );
    }

    #[test]
    fn placeholders_and_unset_values_are_nothing() {
        let raw = rsmb(3, 0, &[system([0; 16]), board("Default string")]);
        assert_eq!(parse_rsmb(&raw), Smbios::default());
        assert_eq!(
            parse_rsmb(&rsmb(
                3,
                0,
                &[system([0xff; 16]), board("To be filled by O.E.M.")]
            )),
            Smbios::default()
        );
        // A serial string index past the strings, and string 0 (none).
        let none = structure(2, &[1, 2, 3, 0], &["Vendor"]);
        let past = structure(2, &[1, 2, 3, 9], &["Vendor"]);
        assert_eq!(parse_rsmb(&rsmb(3, 0, &[none])).board_serial, None);
        assert_eq!(parse_rsmb(&rsmb(3, 0, &[past])).board_serial, None);
        // Only the first baseboard counts.
        let two = rsmb(3, 0, &[board("FIRST123"), board("SECOND45")]);
        assert_eq!(parse_rsmb(&two).board_serial.as_deref(), Some("FIRST123"));
    }

    #[test]
    fn a_truncated_or_lying_table_reads_as_what_it_holds_and_never_panics() {
        let whole = rsmb(3, 2, &[system(UUID_BYTES), board("SER-12345")]);
        for cut in 0..whole.len() {
            let _ = parse_rsmb(&whole[..cut]);
        }
        // A length field larger than the buffer.
        let mut lying = whole.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_rsmb(&lying), parse_rsmb(&whole));
        // A structure whose length is below its header's 4 bytes stops the walk.
        let mut bad = rsmb(3, 2, &[board("SER-12345")]);
        bad[9] = 2;
        assert_eq!(parse_rsmb(&bad), Smbios::default());
        // A string set with no end.
        let mut open = rsmb(3, 2, &[board("SER-12345")]);
        open.truncate(open.len() - 1);
        assert_eq!(parse_rsmb(&open), Smbios::default());
    }

    /// A descriptor as a SATA or NVMe disk returns it: the fixed part, then vendor, product,
    /// revision and serial strings.
    fn descriptor(removable: bool, bus: u32, serial: Option<&str>) -> Vec<u8> {
        let mut strings = Vec::new();
        let base = 40u32;
        let offset = |s: &str, strings: &mut Vec<u8>| {
            let at = base + strings.len() as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            at
        };
        let vendor = offset("", &mut strings);
        let product = offset("Samsung SSD 980 PRO 1TB", &mut strings);
        let revision = offset("5B2QGXA7", &mut strings);
        let serial_at = serial.map_or(0, |s| offset(s, &mut strings));
        let mut d = Vec::new();
        d.extend_from_slice(&1u32.to_le_bytes()); // Version
        d.extend_from_slice(&0u32.to_le_bytes()); // Size, set below
        d.extend_from_slice(&[0, 0, u8::from(removable), 1]);
        for v in [vendor, product, revision, serial_at, bus, 0] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&[0; 4]); // RawDeviceProperties[1], padded
        d.extend_from_slice(&strings);
        let size = d.len() as u32;
        d[4..8].copy_from_slice(&size.to_le_bytes());
        d
    }

    #[test]
    fn a_disk_serial_from_its_descriptor() {
        // The NVMe form the marketplace's own example shows.
        let nvme =
            parse_storage_descriptor(&descriptor(false, 17, Some("0025_385B_71B0_62A4."))).unwrap();
        assert_eq!(
            nvme,
            StorageDevice {
                removable: false,
                bus_type: 17,
                serial: Some("0025_385B_71B0_62A4.".into())
            }
        );
        // SATA drives pad their serial with spaces.
        let sata =
            parse_storage_descriptor(&descriptor(false, 11, Some("     S4EWNX0R123456A"))).unwrap();
        assert_eq!(sata.serial.as_deref(), Some("S4EWNX0R123456A"));
        let usb = parse_storage_descriptor(&descriptor(true, BUS_TYPE_USB, Some("4C530001230918")))
            .unwrap();
        assert!(usb.removable && usb.bus_type == BUS_TYPE_USB);
        assert_eq!(
            parse_storage_descriptor(&descriptor(false, 17, None))
                .unwrap()
                .serial,
            None
        );
        assert_eq!(
            parse_storage_descriptor(&descriptor(false, 1, Some("0000000000000000")))
                .unwrap()
                .serial,
            None
        );
    }

    #[test]
    fn a_short_descriptor_or_an_offset_past_it_reads_as_no_serial() {
        let whole = descriptor(false, 17, Some("S4EWNX0R123456A"));
        for cut in 0..whole.len() {
            let _ = parse_storage_descriptor(&whole[..cut]);
        }
        assert_eq!(parse_storage_descriptor(&whole[..20]), None);
        // Size says less than the serial's offset: the serial was not returned.
        let mut short = whole.clone();
        short[4..8].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(parse_storage_descriptor(&short).unwrap().serial, None);
        // An offset far past the buffer.
        let mut far = whole.clone();
        far[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_storage_descriptor(&far).unwrap().serial, None);
    }

    #[test]
    fn only_hardware_adapters_with_a_connector_count() {
        let nic = |kind, hardware, connector, mac| Interface {
            kind,
            hardware,
            connector,
            mac,
        };
        let wired = Some([0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d]);
        let wifi = Some([0x8c, 0x16, 0x45, 0x01, 0x02, 0x03]);
        let list = [
            nic(6, true, true, wired),
            nic(71, true, true, wifi),
            // Hyper-V's vEthernet switch, a VPN adapter, loopback, Wi-Fi Direct's virtual one.
            nic(6, false, false, Some([0x00, 0x15, 0x5d, 0x01, 0x02, 0x03])),
            nic(53, false, false, Some([0x00, 0xff, 0x12, 0x34, 0x56, 0x78])),
            nic(24, false, false, None),
            nic(71, true, false, Some([0x8e, 0x16, 0x45, 0x01, 0x02, 0x03])),
            // A cloud VM's NIC (locally administered, permanent) counts; a hardware adapter of
            // another kind (a WWAN modem) and one with no address do not.
            nic(6, true, true, Some([0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01])),
            nic(243, true, true, Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55])),
            nic(6, true, true, None),
            nic(6, true, true, Some([0; 6])),
        ];
        assert_eq!(
            physical_macs(&list),
            vec![
                "04:7c:16:5e:e3:5d".to_string(),
                "8c:16:45:01:02:03".to_string(),
                "fa:16:3e:00:00:01".to_string()
            ]
        );
    }

    fn extents(disk: u32) -> Vec<u8> {
        let mut e = 1u32.to_le_bytes().to_vec();
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&disk.to_le_bytes());
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&1_048_576i64.to_le_bytes());
        e.extend_from_slice(&(500i64 << 30).to_le_bytes());
        e
    }

    /// A desktop as Windows answers for it: SMBIOS with a board serial, the system volume on
    /// disk 1 (an NVMe drive; disk 0 a USB stick), an Ethernet and a Wi-Fi adapter beside a
    /// Hyper-V switch.
    #[test]
    fn a_real_windows_machine_gives_all_four_components() {
        let smbios = rsmb(
            3,
            4,
            &[system(UUID_BYTES), board("/5B2XYZ3/CN1296355D00AB/")],
        );
        let ext = extents(1);
        let drives = |n: u32| match n {
            0 => Some(descriptor(true, BUS_TYPE_USB, Some("4C530001230918"))),
            1 => Some(descriptor(false, 17, Some("0025_385B_71B0_62A4."))),
            _ => None,
        };
        let nic = |kind, hardware, mac: [u8; 6]| Interface {
            kind,
            hardware,
            connector: hardware,
            mac: Some(mac),
        };
        let interfaces = [
            nic(6, true, [0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d]),
            nic(71, true, [0x8c, 0x16, 0x45, 0x01, 0x02, 0x03]),
            nic(6, false, [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03]),
        ];
        let guid_asked = core::cell::Cell::new(false);
        let guid = || {
            guid_asked.set(true);
            Some("1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d".to_string())
        };
        // This desktop's answers, with its SMBIOS table and system volume's extents as given.
        let answer = |smbios: &[u8], extents: &[u8], cpu: Option<&str>| {
            components(&Answers {
                smbios: Some(smbios),
                extents: Some(extents),
                descriptor: &drives,
                interfaces: &interfaces,
                machine_guid: &guid,
                cpu: cpu.map(str::to_string),
            })
        };
        let got = answer(&smbios, &ext, Some("BFEBFBFF00090672"));
        assert_eq!(
            got,
            [
                vec![
                    "04:7c:16:5e:e3:5d".to_string(),
                    "8c:16:45:01:02:03".to_string()
                ],
                vec!["0025_385B_71B0_62A4.".to_string()],
                vec!["/5B2XYZ3/CN1296355D00AB/".to_string()],
                vec!["BFEBFBFF00090672".to_string()],
            ]
        );
        assert!(
            !guid_asked.get(),
            "MachineGuid is not read when SMBIOS answers"
        );
        // The board serial a placeholder: the system UUID stands in.
        let smbios = rsmb(3, 4, &[system(UUID_BYTES), board("Default string")]);
        let got = answer(&smbios, &ext, None);
        assert_eq!(
            got[2],
            vec!["4C4C4544-0042-3510-8052-B3C04F4B4E32".to_string()]
        );
        // Booted from the USB stick (Windows To Go): no disk serial.
        let usb = extents(0);
        let got = answer(&smbios, &usb, None);
        assert!(got[1].is_empty());
    }

    /// Wine answers no firmware or device call; it shows the host's adapters as hardware.
    #[test]
    fn under_wine_what_is_left_is_the_adapters_machine_guid_and_the_cpu() {
        let interfaces = [Interface {
            kind: 6,
            hardware: true,
            connector: true,
            mac: Some([0x02, 0xfc, 0x00, 0x00, 0x00, 0x01]),
        }];
        let got = components(&Answers {
            smbios: None,
            extents: None,
            descriptor: &|_| None,
            interfaces: &interfaces,
            machine_guid: &|| Some("3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4".to_string()),
            cpu: Some("1F8BFBFF000A0671".into()),
        });
        assert_eq!(
            got,
            [
                vec!["02:fc:00:00:00:01".to_string()],
                Vec::new(),
                vec!["3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4".to_string()],
                vec!["1F8BFBFF000A0671".to_string()],
            ]
        );
    }

    #[test]
    fn the_disks_a_volume_lives_on() {
        let extent = |disk: u32| {
            let mut e = disk.to_le_bytes().to_vec();
            e.extend_from_slice(&[0; 4]);
            e.extend_from_slice(&1_048_576i64.to_le_bytes());
            e.extend_from_slice(&(500i64 << 30).to_le_bytes());
            e
        };
        let mut one = 1u32.to_le_bytes().to_vec();
        one.extend_from_slice(&[0; 4]);
        one.extend(extent(2));
        assert_eq!(parse_disk_extents(&one), vec![2]);
        let mut two = 2u32.to_le_bytes().to_vec();
        two.extend_from_slice(&[0; 4]);
        two.extend(extent(0));
        two.extend(extent(3));
        assert_eq!(parse_disk_extents(&two), vec![0, 3]);
        // A count larger than what was returned.
        let mut lying = one.clone();
        lying[0..4].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(parse_disk_extents(&lying), vec![2]);
        assert_eq!(parse_disk_extents(&[1, 0]), Vec::<u32>::new());
    }
}

//! The Win32 calls behind the Windows collector, each a thin wrapper that copies what Windows
//! returns into a `Vec<u8>` for the pure parsers in `windows_tables`. Nothing here interprets
//! the bytes; nothing here outlives the call (every handle is closed, every table freed).
//!
//! This is the only `unsafe` outside the C ABI: windows-sys declares the functions, and each call
//! below says what it relies on.
#![allow(unsafe_code)]

use std::vec::Vec;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::NetworkManagement::IpHelper::{FreeMibTable, GetIfTable2, MIB_IF_TABLE2};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS,
    OPEN_EXISTING,
};
use windows_sys::Win32::System::IO::DeviceIoControl;
use windows_sys::Win32::System::Ioctl::{
    IOCTL_STORAGE_QUERY_PROPERTY, PropertyStandardQuery, STORAGE_PROPERTY_QUERY,
    StorageDeviceProperty,
};
use windows_sys::Win32::System::SystemInformation::GetSystemFirmwareTable;

use crate::fingerprint::windows_tables::Interface;

/// `GetSystemFirmwareTable('RSMB', 0)`: the raw SMBIOS data, or `None` when Windows (or Wine)
/// has none to give.
pub(super) fn smbios() -> Option<Vec<u8>> {
    const RSMB: u32 = u32::from_be_bytes(*b"RSMB");
    // SAFETY: a null buffer of size 0 asks for the size only.
    let size = unsafe { GetSystemFirmwareTable(RSMB, 0, std::ptr::null_mut(), 0) };
    if size == 0 || size > 1 << 20 {
        return None;
    }
    let mut buf = std::vec![0u8; size as usize];
    // SAFETY: `buf` is writable for `size` bytes, the size passed.
    let written = unsafe { GetSystemFirmwareTable(RSMB, 0, buf.as_mut_ptr().cast(), size) };
    if written == 0 || written > size {
        return None;
    }
    buf.truncate(written as usize);
    Some(buf)
}

/// An open device handle, closed when dropped.
struct Device(HANDLE);

impl Device {
    /// Opens `path` (`\\.\C:`, `\\.\PhysicalDrive0`) for queries only: access 0 needs no
    /// administrator rights, and is all `IOCTL_STORAGE_QUERY_PROPERTY` and the volume's extents
    /// need.
    fn open(path: &str) -> Option<Device> {
        let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call; the security
        // attributes and template handle may be null.
        let handle = unsafe {
            CreateFileW(
                wide.as_ptr(),
                0,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        (handle != INVALID_HANDLE_VALUE && !handle.is_null()).then_some(Device(handle))
    }

    /// `DeviceIoControl(code, input)` into a buffer of up to `capacity` bytes; what was
    /// returned, or `None` when the call failed.
    fn control(&self, code: u32, input: &[u8], capacity: usize) -> Option<Vec<u8>> {
        let mut out = std::vec![0u8; capacity];
        let mut returned = 0u32;
        // SAFETY: the handle is open; `input` is readable and `out` writable for the lengths
        // passed; `returned` is a valid out-pointer; no OVERLAPPED, so the call is synchronous.
        let ok = unsafe {
            DeviceIoControl(
                self.0,
                code,
                input.as_ptr().cast(),
                u32::try_from(input.len()).ok()?,
                out.as_mut_ptr().cast(),
                u32::try_from(out.len()).ok()?,
                &mut returned,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return None;
        }
        out.truncate((returned as usize).min(capacity));
        Some(out)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateFileW and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// The `VOLUME_DISK_EXTENTS` of the volume `drive` (`C:`).
pub(super) fn volume_extents(drive: &str) -> Option<Vec<u8>> {
    Device::open(&std::format!(r"\\.\{drive}"))?.control(
        IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS,
        &[],
        8 + 24 * 32,
    )
}

/// The `STORAGE_DEVICE_DESCRIPTOR` of physical drive `n`.
pub(super) fn storage_descriptor(n: u32) -> Option<Vec<u8>> {
    let query = STORAGE_PROPERTY_QUERY {
        PropertyId: StorageDeviceProperty,
        QueryType: PropertyStandardQuery,
        AdditionalParameters: [0],
    };
    // SAFETY: STORAGE_PROPERTY_QUERY is a plain C struct; its bytes are what the call reads.
    let input = unsafe {
        std::slice::from_raw_parts(
            (&raw const query).cast::<u8>(),
            std::mem::size_of::<STORAGE_PROPERTY_QUERY>(),
        )
    };
    Device::open(&std::format!(r"\\.\PhysicalDrive{n}"))?.control(
        IOCTL_STORAGE_QUERY_PROPERTY,
        input,
        4096,
    )
}

/// Every interface `GetIfTable2` lists.
pub(super) fn interfaces() -> Vec<Interface> {
    let mut table: *mut MIB_IF_TABLE2 = std::ptr::null_mut();
    // SAFETY: `table` is a valid out-pointer; on success it points at a table we free below.
    if unsafe { GetIfTable2(&mut table) } != 0 || table.is_null() {
        return Vec::new();
    }
    // SAFETY: on success the table holds NumEntries rows laid out from `Table`.
    let rows = unsafe {
        std::slice::from_raw_parts((*table).Table.as_ptr(), (*table).NumEntries as usize)
    };
    let out = rows
        .iter()
        .map(|row| {
            let flags = row.InterfaceAndOperStatusFlags._bitfield;
            let address = |bytes: &[u8; 32], len: u32| {
                (len == 6).then(|| [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
            };
            let permanent = address(&row.PermanentPhysicalAddress, row.PhysicalAddressLength)
                .filter(|m| *m != [0; 6]);
            Interface {
                kind: row.Type,
                hardware: flags & 0x01 != 0,
                connector: flags & 0x04 != 0,
                mac: permanent.or_else(|| address(&row.PhysicalAddress, row.PhysicalAddressLength)),
            }
        })
        .collect();
    // SAFETY: the table came from GetIfTable2 and is freed once, after its last use.
    unsafe { FreeMibTable(table.cast()) };
    out
}

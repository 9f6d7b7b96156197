//! Linux sources: sysfs for NICs, disks and the mainboard, `cpuid` (or the SoC's serial on ARM
//! boards) for the CPU. Only a few dozen small files are read, no helper process is started.

use std::fs;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use super::{
    clean_serial, cpuid_processor_id, is_locally_administered, mac_from_octets, parse_mac,
};

/// This machine's values per component, in the order of [`super::raw_components`].
pub(super) fn raw_components() -> [Vec<String>; 4] {
    let machine_ids = [
        Path::new("/etc/machine-id"),
        Path::new("/var/lib/dbus/machine-id"),
    ];
    [
        macs(Path::new("/sys/class/net")),
        disk_serials(Path::new("/sys/block")),
        board_id(
            Path::new("/sys/class/dmi/id"),
            &machine_ids,
            Path::new("/sys/firmware/devicetree/base/serial-number"),
        )
        .into_iter()
        .collect(),
        cpu_id().into_iter().collect(),
    ]
}

/// A small text file's contents; any failure (missing, or root-only like most DMI serials) is
/// `None`, since an unreadable source only means an empty component.
fn read_text(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Runs `value` over every entry of a sysfs directory, keeping what it returns. An unreadable
/// directory or entry only means fewer values.
fn scan(dir: &Path, value: impl Fn(&str, &Path) -> Option<String>) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            value(name.to_str()?, &entry.path())
        })
        .collect()
}

/// MACs of the physical NICs listed in `net_dir` (`/sys/class/net`).
fn macs(net_dir: &Path) -> Vec<String> {
    scan(net_dir, |name, dir| {
        // Only hardware has a `device` link; a container's veth end has none, so a container
        // without the host's NICs gets an empty component.
        if is_virtual_nic_name(name) || !dir.join("device").exists() {
            return None;
        }
        nic_mac(dir)
    })
}

/// Interface names that are never a physical NIC, in case one of them carries a `device` link.
fn is_virtual_nic_name(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "veth",
        "docker",
        "br-",
        "virbr",
        "vnet",
        "tun",
        "tap",
        "vxlan",
        "flannel",
        "cni",
        "cali",
        "wg",
        "tailscale",
        "zt",
        "dummy",
        "bond",
        "team",
        "ifb",
        "vmnet",
        "vboxnet",
        "lxc",
        "podman",
    ];
    name == "lo" || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The lasting MAC of the NIC whose sysfs directory is `dir`.
fn nic_mac(dir: &Path) -> Option<String> {
    // A bond gives its slaves one shared address; the permanent one keeps enslaving a NIC from
    // changing the fingerprint.
    let perm = read_text(&dir.join("bonding_slave/perm_hwaddr"));
    if let Some(octets) = perm.as_deref().and_then(parse_mac) {
        return mac_from_octets(octets);
    }
    let octets = parse_mac(&read_text(&dir.join("address"))?)?;
    let assign_type = read_text(&dir.join("addr_assign_type")).and_then(|t| t.trim().parse().ok());
    if keep_current_mac(assign_type, octets) {
        mac_from_octets(octets)
    } else {
        None
    }
}

/// Whether a NIC's current MAC is one that survives a reboot or a change of network, given its
/// sysfs `addr_assign_type` (`NET_ADDR_*` in the kernel).
fn keep_current_mac(assign_type: Option<u8>, octets: [u8; 6]) -> bool {
    match assign_type {
        // NET_ADDR_RANDOM: a NIC without a burned-in address draws a new one at every boot.
        Some(1) => false,
        // NET_ADDR_SET to a locally administered address: a privacy or cloned MAC (such as
        // NetworkManager's Wi-Fi randomisation) that changes per network or per boot. Cloud VMs'
        // locally administered MACs are NET_ADDR_PERM and kept.
        Some(3) => !is_locally_administered(octets),
        _ => true,
    }
}

/// Serials of the fixed disks listed in `block_dir` (`/sys/block`).
fn disk_serials(block_dir: &Path) -> Vec<String> {
    scan(block_dir, |name, dir| {
        if is_virtual_disk_name(name) || is_removable(dir) {
            return None;
        }
        disk_serial(dir)
    })
}

/// Block devices that are not disks of their own: loop, RAM, compressed swap, device-mapper,
/// software RAID, optical, network block devices, ZFS volumes.
fn is_virtual_disk_name(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "loop", "ram", "zram", "dm-", "md", "sr", "nbd", "zd", "rbd", "drbd", "fd",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether the disk at `dir` can come and go: flagged removable, or attached over USB (USB
/// disks often claim to be fixed). Plugging in a stick must not change the fingerprint.
fn is_removable(dir: &Path) -> bool {
    if read_text(&dir.join("removable")).is_some_and(|r| r.trim() == "1") {
        return true;
    }
    // `/sys/block/X` links into the device tree, whose path names the bus chain (`.../usb2/...`).
    fs::read_link(dir).is_ok_and(|target| {
        target
            .components()
            .any(|c| c.as_os_str().to_str().is_some_and(|s| s.starts_with("usb")))
    })
}

/// The serial of the disk whose sysfs directory is `dir`.
fn disk_serial(dir: &Path) -> Option<String> {
    // virtio-blk puts the serial on the disk itself, NVMe and eMMC/SD on the controller, and
    // SCSI/SATA (libata translates ATA IDENTIFY) in VPD page 0x80.
    read_text(&dir.join("serial"))
        .and_then(|s| clean_serial(&s))
        .or_else(|| read_text(&dir.join("device/serial")).and_then(|s| clean_serial(&s)))
        .or_else(|| {
            fs::read(dir.join("device/vpd_pg80"))
                .ok()
                .and_then(|b| parse_vpd_pg80(&b))
        })
}

/// The unit serial number in a SCSI VPD page 0x80 (Unit Serial Number) as sysfs returns it:
/// a 4-byte header (peripheral, page code, big-endian length) then the serial in ASCII, often
/// space-padded.
fn parse_vpd_pg80(page: &[u8]) -> Option<String> {
    let [_, page_code, len_hi, len_lo, rest @ ..] = page else {
        return None;
    };
    if *page_code != 0x80 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    let serial = rest.get(..len).unwrap_or(rest);
    clean_serial(std::str::from_utf8(serial).ok()?)
}

/// The mainboard component: the OS's machine id from the first of `machine_id_paths` that holds
/// one, else the DMI board serial, else the DMI product UUID, else the device tree's
/// `serial-number` (`dt_serial`: ARM boards without DMI, such as the Raspberry Pi and Jetson,
/// put the board's serial there, NUL-terminated and readable by everyone).
///
/// The machine id comes first because the DMI files are usually readable by root only: reading
/// them first would give the same machine one fingerprint under `sudo` and another for the
/// application, and a binding made from one would then lose a component for the other.
fn board_id(dmi_dir: &Path, machine_id_paths: &[&Path], dt_serial: &Path) -> Option<String> {
    machine_id_paths
        .iter()
        .find_map(|path| read_text(path).and_then(|s| parse_machine_id(&s)))
        .or_else(|| {
            ["board_serial", "product_uuid"]
                .iter()
                .find_map(|file| read_text(&dmi_dir.join(file)).and_then(|s| clean_serial(&s)))
        })
        .or_else(|| read_text(dt_serial).and_then(|s| clean_serial(&s)))
}

/// A systemd/D-Bus machine id: 32 lower-case hex digits. Anything else (an empty file in a
/// container image, systemd's `uninitialized` during first boot) is `None`.
fn parse_machine_id(contents: &str) -> Option<String> {
    let id = contents.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    clean_serial(id)
}

/// The CPU component: `cpuid` on x86; elsewhere the serial an ARM SoC exposes, if any.
fn cpu_id() -> Option<String> {
    cpuid_processor_id()
        .or_else(|| read_text(Path::new("/proc/cpuinfo")).and_then(|s| parse_cpuinfo_serial(&s)))
        .or_else(|| {
            read_text(Path::new("/sys/devices/soc0/serial_number")).and_then(|s| clean_serial(&s))
        })
}

/// The `Serial` line of `/proc/cpuinfo`, which ARM boards such as the Raspberry Pi fill in
/// (many others print all zeros, which is no serial).
fn parse_cpuinfo_serial(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim().eq_ignore_ascii_case("serial") {
            clean_serial(value)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::{format, vec};

    /// A scratch directory standing in for a sysfs tree, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Self {
            let root =
                std::env::temp_dir().join(format!("cv-collect-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root).unwrap();
            Tree(root)
        }

        fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
            self
        }

        fn dir(&self, rel: &str) -> &Self {
            fs::create_dir_all(self.0.join(rel)).unwrap();
            self
        }

        fn link(&self, rel: &str, target: &str) -> &Self {
            std::os::unix::fs::symlink(target, self.0.join(rel)).unwrap();
            self
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn vpd_pg80_normal_padded_and_truncated() {
        let mut page = vec![0x00, 0x80, 0x00, 0x14];
        page.extend_from_slice(b"      WD-WCC4N1234567");
        assert_eq!(parse_vpd_pg80(&page).as_deref(), Some("WD-WCC4N123456"));
        page[3] = 0x15;
        assert_eq!(parse_vpd_pg80(&page).as_deref(), Some("WD-WCC4N1234567"));
        // A length past the end: take what is there rather than nothing.
        page[3] = 0xff;
        assert_eq!(parse_vpd_pg80(&page).as_deref(), Some("WD-WCC4N1234567"));
        let mut nul_padded = vec![0x00, 0x80, 0x00, 0x10];
        nul_padded.extend_from_slice(b"S4EWNX0R123456\0\0");
        assert_eq!(
            parse_vpd_pg80(&nul_padded).as_deref(),
            Some("S4EWNX0R123456")
        );
    }

    #[test]
    fn vpd_pg80_empty_garbage_and_placeholders() {
        assert_eq!(parse_vpd_pg80(&[]), None);
        assert_eq!(parse_vpd_pg80(&[0x00, 0x80, 0x00]), None);
        assert_eq!(parse_vpd_pg80(&[0x00, 0x80, 0x00, 0x00]), None);
        assert_eq!(
            parse_vpd_pg80(&[0x00, 0x80, 0x00, 0x04, b' ', b' ', b' ', b' ']),
            None
        );
        // Another VPD page (0x83, device identification) is not a serial.
        assert_eq!(
            parse_vpd_pg80(&[0x00, 0x83, 0x00, 0x04, b'A', b'B', b'C', b'D']),
            None
        );
        assert_eq!(
            parse_vpd_pg80(&[0x00, 0x80, 0x00, 0x04, 0xff, 0xfe, 0x01, 0x02]),
            None
        );
        assert_eq!(parse_vpd_pg80(b"\x00\x80\x00\x07QM00001"), None);
        assert_eq!(parse_vpd_pg80(b"\x00\x80\x00\x080000000"), None);
    }

    #[test]
    fn cpuinfo_serial() {
        let pi = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\n\nHardware\t: BCM2835\n\
                  Revision\t: a02082\nSerial\t\t: 00000000abcdef01\nModel\t\t: Raspberry Pi 3\n";
        assert_eq!(
            parse_cpuinfo_serial(pi).as_deref(),
            Some("00000000abcdef01")
        );
        assert_eq!(parse_cpuinfo_serial("Serial\t\t: 0000000000000000\n"), None);
        assert_eq!(
            parse_cpuinfo_serial("processor\t: 0\nvendor_id\t: GenuineIntel\n"),
            None
        );
        assert_eq!(parse_cpuinfo_serial(""), None);
        assert_eq!(parse_cpuinfo_serial("\u{0}\u{1}garbage::\n:::"), None);
        assert_eq!(parse_cpuinfo_serial("Serial\t\t:\n"), None);
    }

    #[test]
    fn machine_id() {
        let id = "3d1219c7c4c5404aaa1f6d2a48adfda4";
        assert_eq!(parse_machine_id(&format!("{id}\n")).as_deref(), Some(id));
        assert_eq!(parse_machine_id(""), None);
        assert_eq!(parse_machine_id("uninitialized\n"), None);
        assert_eq!(parse_machine_id("00000000000000000000000000000000"), None);
        assert_eq!(parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfdz4"), None);
        assert_eq!(parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda"), None);
    }

    #[test]
    fn macs_only_from_physical_nics() {
        let t = Tree::new("macs");
        t.file("eth0/address", "04:7c:16:5e:e3:5d\n")
            .file("eth0/addr_assign_type", "0\n")
            .dir("eth0/device");
        // A cloud VM's NIC: locally administered but permanent.
        t.file("ens3/address", "fa:16:3e:00:00:01\n")
            .file("ens3/addr_assign_type", "0\n")
            .dir("ens3/device");
        // Bond slave: its `address` is the bond's, `perm_hwaddr` its own.
        t.file("eno2/address", "04:7c:16:5e:e3:5d\n")
            .file("eno2/addr_assign_type", "3\n")
            .dir("eno2/device");
        t.file("eno2/bonding_slave/perm_hwaddr", "04:7c:16:5e:e3:5e\n");
        t.file("lo/address", "00:00:00:00:00:00\n");
        t.file("docker0/address", "02:42:ac:11:00:01\n");
        t.file("bond0/address", "04:7c:16:5e:e3:5d\n");
        t.file("veth1/address", "aa:bb:cc:dd:ee:01\n")
            .dir("veth1/device");
        t.file("usb0/address", "12:34:56:78:9a:bc\n")
            .file("usb0/addr_assign_type", "1\n")
            .dir("usb0/device");
        t.file("wlan0/address", "16:34:56:78:9a:bc\n")
            .file("wlan0/addr_assign_type", "3\n")
            .dir("wlan0/device");
        t.file("eth9/address", "00:00:00:00:00:00\n")
            .dir("eth9/device");
        t.file(
            "ib0/address",
            "00:00:01:07:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:01\n",
        )
        .dir("ib0/device");
        t.dir("eth8/device");
        assert_eq!(
            sorted(macs(&t.0)),
            [
                "04:7c:16:5e:e3:5d",
                "04:7c:16:5e:e3:5e",
                "fa:16:3e:00:00:01"
            ]
        );
        assert!(macs(&t.path("missing")).is_empty());
    }

    #[test]
    fn keep_current_mac_by_assign_type() {
        let global = [0x04, 0x7c, 0x16, 0x5e, 0xe3, 0x5d];
        let local = [0x16, 0x34, 0x56, 0x78, 0x9a, 0xbc];
        assert!(keep_current_mac(None, local));
        assert!(keep_current_mac(Some(0), local));
        assert!(!keep_current_mac(Some(1), global));
        assert!(keep_current_mac(Some(3), global));
        assert!(!keep_current_mac(Some(3), local));
    }

    #[test]
    fn disks_only_fixed_with_serials() {
        let t = Tree::new("disks");
        t.file("block/nvme0n1/removable", "0\n")
            .file("block/nvme0n1/device/serial", "S4EWNX0R123456      \n");
        t.file("block/vda/removable", "0\n")
            .file("block/vda/serial", "1991114969132712043");
        let mut pg80 = vec![0x00, 0x80, 0x00, 0x0c];
        pg80.extend_from_slice(b"  ZA1B2C3D  ");
        t.file("block/sda/removable", "0\n")
            .file("block/sda/device/vpd_pg80", &pg80);
        // A USB stick that says so, and a USB disk that claims to be fixed.
        t.file("block/sdb/removable", "1\n")
            .file("block/sdb/device/vpd_pg80", &pg80);
        t.file("devices/pci0000:00/usb2/2-1/block/sdc/removable", "0\n");
        t.file(
            "devices/pci0000:00/usb2/2-1/block/sdc/device/serial",
            "USBDISK1\n",
        );
        t.link("block/sdc", "../devices/pci0000:00/usb2/2-1/block/sdc");
        t.file("block/loop0/serial", "LOOPSERIAL\n")
            .file("block/zram0/removable", "0\n");
        t.file("block/dm-0/serial", "DMSERIAL\n")
            .file("block/sr0/device/serial", "CDROM\n");
        t.file("block/sdd/removable", "0\n")
            .file("block/sdd/device/vpd_pg80", b"\x00\x80\x00\x07QM00001");
        t.file("block/sde/removable", "0\n")
            .file("block/sde/serial", "\n")
            .file("block/sde/device/serial", "None\n");
        assert_eq!(
            sorted(disk_serials(&t.path("block"))),
            ["1991114969132712043", "S4EWNX0R123456", "ZA1B2C3D"]
        );
        assert!(disk_serials(&t.path("missing")).is_empty());
    }

    #[test]
    fn without_machine_id_or_dmi_an_arm_board_gives_its_device_tree_serial() {
        let t = Tree::new("board-dt");
        let mid = t.path("etc/machine-id");
        let dt = t.path("dt/serial-number");
        assert_eq!(board_id(&t.path("dmi"), &[mid.as_path()], &dt), None);
        // As a Raspberry Pi writes it: NUL-terminated.
        t.file("dt/serial-number", "10000000a3b4c5d6\0");
        assert_eq!(
            board_id(&t.path("dmi"), &[mid.as_path()], &dt).as_deref(),
            Some("10000000a3b4c5d6")
        );
        // DMI, where an ARM server has it, comes first.
        t.file("dmi/board_serial", "ARMSRV-0042\n");
        assert_eq!(
            board_id(&t.path("dmi"), &[mid.as_path()], &dt).as_deref(),
            Some("ARMSRV-0042")
        );
    }

    #[test]
    fn board_prefers_machine_id_then_dmi() {
        let t = Tree::new("board");
        let mid = t.path("etc/machine-id");
        let dbus = t.path("dbus/machine-id");
        let paths = [mid.as_path(), dbus.as_path()];
        let dt = t.path("dt/serial-number");
        assert_eq!(board_id(&t.path("dmi"), &paths, &dt), None);
        t.file("dmi/board_serial", "To be filled by O.E.M.\n");
        t.file("dmi/product_uuid", "03000200-0400-0500-0006-000700080009\n");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt),
            None,
            "placeholders only"
        );
        t.file("dmi/product_uuid", "4c4c4544-0042-3510-8052-b3c04f4b4e32\n");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt).as_deref(),
            Some("4c4c4544-0042-3510-8052-b3c04f4b4e32")
        );
        t.file("dmi/board_serial", "/PF2ABCDE/CN1296355D00AB/\n");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt).as_deref(),
            Some("/PF2ABCDE/CN1296355D00AB/")
        );
        t.file("dbus/machine-id", "0123456789abcdef0123456789abcdef\n");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        t.file("etc/machine-id", "");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt).as_deref(),
            Some("0123456789abcdef0123456789abcdef"),
            "an empty machine-id is skipped"
        );
        t.file("etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        assert_eq!(
            board_id(&t.path("dmi"), &paths, &dt).as_deref(),
            Some("3d1219c7c4c5404aaa1f6d2a48adfda4")
        );
    }
}

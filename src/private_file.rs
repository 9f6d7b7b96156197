//! Owner-only files: secrets licd writes (atomically, mode 0600) and secrets it reads (refused
//! when other users can read them, naming the `chmod` that fixes it, as ssh does), and the umask
//! that keeps everything else licd creates owner-only too.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// What a temporary file of [`write_private_parts`] ends with (hidden, and named after the
/// file and the process, so that readers of the directory can skip it).
pub const TMP_SUFFIX: &str = ".tmp";

/// Writes a secret file readable by its owner only: see [`write_private_parts`].
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_private_parts(path, &[bytes])
}

/// Writes `parts` to `path` so that it either keeps its old content or has all of them,
/// whatever the moment of a crash, readable by its owner only: a hidden temporary sibling is
/// created 0600 (never opened wider and narrowed later), written and synced, renamed over
/// `path`, and the directory synced so that the rename survives too. The one way licd writes
/// a secret (keys, the admin token, the access key).
pub fn write_private_parts(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()));
    let written = write_new_synced(&tmp, parts).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

fn write_new_synced(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    // A leftover with our process id is from a crashed process that had the same id.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()
}

/// Creates (or truncates) `path` for writing, owner-only, also when it was left behind with a
/// wider mode: for a file written as a stream (a backup's `.partial`). Sync it, rename it and
/// [`sync_dir`] when done.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let f = opts.open(path)?;
        // A leftover keeps its old mode through `open`.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    opts.open(path)
}

/// Makes renames and new entries in `dir` durable.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Windows cannot open a directory for syncing through std; NTFS journals renames itself.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The mode of a file or directory when it lets others in as `mask` says (`0o077`: group or
/// others may read or write; `0o002`: others may write); `None` when it does not, and always
/// where there are no Unix modes. The one mode check the secret files, the key directory and
/// the data directory share.
pub fn open_mode(meta: &Metadata, mask: u32) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        (mode & mask != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, mask);
        None
    }
}

/// Refuses a secret file that its group or other users can read or write: the sentence names
/// `what` it is, the file, its mode and the command that fixes it.
pub fn check_private(path: &Path, what: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    match open_mode(&meta, 0o077) {
        Some(mode) => Err(format!(
            "{what} {} is open to other users (mode {:03o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )),
        None => Ok(()),
    }
}

/// Makes every file and directory the process creates from now on owner-only (umask 077): the
/// database under a data directory that was created 0755 by hand must not be readable by other
/// users either.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_files_are_owner_only_and_open_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, b"s3cret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(check_private(&path, "the key").is_ok());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["secret"], "no temporary file stays behind");
        write_private_parts(&path, &[b"new ", b"value"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new value");
        for open in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
            let err = check_private(&path, "the access key file").unwrap_err();
            assert!(
                err.contains("the access key file") && err.contains("chmod 600"),
                "{err}"
            );
        }
    }
}

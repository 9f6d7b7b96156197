//! Owner-only files: secrets licd writes (atomically, mode 0600) and secrets it reads (refused
//! when other users can read them, naming the `chmod` that fixes it, as ssh does), and the umask
//! that keeps everything else licd creates owner-only too.

use std::path::Path;

/// Writes a secret file readable by its owner only, atomically (a temporary sibling, synced,
/// then renamed over `path`).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Refuses a secret file that its group or other users can read or write: the sentence names
/// `what` it is, the file, its mode and the command that fixes it.
pub fn check_private(path: &Path, what: &str) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{what} {} is open to other users (mode {mode:03o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
    Ok(())
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

//! Files Dial keeps on disk, readable by its own user only.
//!
//! The data directory holds the SQLite database (sessions, password hashes, call data)
//! and the generated encryption key: the directory is 0700 and every file in it 0600,
//! whatever the umask, and an existing directory or database left wider by an older
//! version is narrowed at start. The key file is replaced atomically (a temporary file,
//! synced, then renamed), so a crash never leaves half a key.

use std::{io, path::Path};

/// Creates `dir` (and its parents) if needed, and makes it private to this user.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Writes `contents` to `path` (mode 0600) by way of a temporary file in the same folder.
pub fn write_private_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = private_options().open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            // The rename itself survives a crash once the folder is synced.
            if let Ok(folder) = std::fs::File::open(parent) {
                let _ignored_on_platforms_without_dir_sync = folder.sync_all();
            }
        }
        Ok(())
    })();
    if written.is_err() {
        let _already_gone_or_never_made = std::fs::remove_file(&tmp);
    }
    written
}

/// Makes the SQLite database at `path` private before it is opened: a new one is created
/// 0600 (SQLite gives its `-wal` and `-shm` files the database file's mode), an existing
/// one and its companions are narrowed to 0600.
pub fn prepare_sqlite_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match private_options().open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            set_mode(&file, 0o600)?;
        }
    }
    Ok(())
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_data_dir_and_its_files_are_private() {
        let root = tempfile_dir();
        let dir = root.join("data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let key = dir.join("encryption.key");
        write_private_atomic(&key, b"one").unwrap();
        write_private_atomic(&key, b"two").unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"two");
        assert_eq!(mode(&key), 0o600);
        let db = dir.join("dial.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_sqlite_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let fresh = dir.join("fresh.db");
        prepare_sqlite_file(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        // Only the renamed key remains (no temporary files).
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["dial.db", "encryption.key", "fresh.db"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dial-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

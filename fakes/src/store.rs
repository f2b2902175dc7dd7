//! Where a fake keeps its world between runs: a JSON file (the sandbox puts it in its data
//! directory), written after every change so that a restarted sandbox is the same world.
//!
//! Only what a provider keeps is saved (accounts, numbers, trunks, credential lists,
//! SIP trunks and dispatch rules, and the sandbox user's call outcomes); calls and rooms
//! in progress are not, as they would not survive the provider's own restart.

use serde::{de::DeserializeOwned, Serialize};
use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// A fake's state file. Writes are atomic (a temporary file renamed over the old one) and
/// skipped when nothing changed since the last one.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// The bytes last written (or read), to skip writing an unchanged world.
    last: Mutex<Vec<u8>>,
}

/// A state file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a state file this version understands ({source}); move it away to start afresh")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl StateFile {
    /// Opens `path` and reads the saved state, if there is one.
    pub(crate) fn open<T: DeserializeOwned>(path: &Path) -> Result<(Self, Option<T>), StateError> {
        let display = path.display().to_string();
        let (bytes, state) = match std::fs::read(path) {
            Ok(bytes) => {
                let state = serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                    path: display,
                    source,
                })?;
                (bytes, Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(source) => {
                return Err(StateError::Read {
                    path: display,
                    source,
                })
            }
        };
        let file = StateFile {
            path: path.to_path_buf(),
            last: Mutex::new(bytes),
        };
        Ok((file, state))
    }

    /// Writes the state `snapshot` reads if it differs from what was last written. A
    /// failure is logged: the fake goes on serving from memory.
    ///
    /// The snapshot is read while this file is held, so saves reach the disk in the order
    /// their snapshots were taken: two requests changing the world at once (a number's
    /// outbound trunk and its dispatch rule are made concurrently) cannot end with the
    /// older world written last. `snapshot` answers `None` when the world cannot be read.
    pub(crate) fn save<T: Serialize>(&self, snapshot: impl FnOnce() -> Option<T>) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let Some(state) = snapshot() else {
            return;
        };
        let bytes = match serde_json::to_vec_pretty(&state) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "a fake could not encode its state");
                return;
            }
        };
        if *last == bytes {
            return;
        }
        match write_atomically(&self.path, &bytes) {
            Ok(()) => *last = bytes,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "a fake could not save its state")
            }
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reads_back_and_an_unchanged_one_is_not_rewritten() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("state.json");
        let (file, none) = StateFile::open::<Vec<String>>(&path).expect("no file yet");
        assert!(none.is_none());
        file.save(|| Some(vec!["a".to_string()]));
        let written = std::fs::metadata(&path).expect("written").modified().ok();
        std::fs::remove_file(&path).expect("removed");
        // Same state: not written again.
        file.save(|| Some(vec!["a".to_string()]));
        assert!(!path.exists());
        file.save(|| Some(vec!["b".to_string()]));
        let (_, state) = StateFile::open::<Vec<String>>(&path).expect("reads");
        assert_eq!(state, Some(vec!["b".to_string()]));
        assert!(written.is_some());
    }

    /// Two requests changing the world at once (a number's outbound trunk and its dispatch
    /// rule are made concurrently): the first reads the world, the second changes it and
    /// saves before the first has written. The file must end as the newer world. (Read
    /// outside the file's lock, the first would write its older snapshot last and the
    /// dispatch rule would be gone after a restart.)
    #[test]
    fn a_slower_save_never_writes_an_older_world_over_a_newer_one() {
        use std::{sync::mpsc, time::Duration};
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("state.json");
        let (file, _) = StateFile::open::<Vec<String>>(&path).expect("no file yet");
        let world = Mutex::new(vec!["outbound trunk"]);
        let (read, first_has_read) = mpsc::channel();
        let (saved, second_has_saved) = mpsc::channel();
        std::thread::scope(|scope| {
            let (file, world) = (&file, &world);
            scope.spawn(move || {
                file.save(|| {
                    let snapshot = world.lock().ok().map(|w| w.clone());
                    let _ = read.send(());
                    // Give the second save its chance to go first (it cannot while this
                    // save holds the file).
                    let _ = second_has_saved.recv_timeout(Duration::from_millis(300));
                    snapshot
                });
            });
            scope.spawn(move || {
                let _ = first_has_read.recv_timeout(Duration::from_secs(5));
                if let Ok(mut w) = world.lock() {
                    w.push("dispatch rule");
                }
                file.save(|| world.lock().ok().map(|w| w.clone()));
                let _ = saved.send(());
            });
        });
        let (_, on_disk) = StateFile::open::<Vec<String>>(&path).expect("reads");
        assert_eq!(
            on_disk,
            Some(vec![
                "outbound trunk".to_string(),
                "dispatch rule".to_string()
            ])
        );
    }

    #[test]
    fn a_file_that_is_not_state_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"not json").expect("written");
        let error = StateFile::open::<Vec<String>>(&path).expect_err("refused");
        assert!(error.to_string().contains("state.json"), "{error}");
    }
}

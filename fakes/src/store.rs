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

    /// Writes `state` if it differs from what was last written. A failure is logged: the
    /// fake goes on serving from memory.
    pub(crate) fn save<T: Serialize>(&self, state: &T) {
        let bytes = match serde_json::to_vec_pretty(state) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "a fake could not encode its state");
                return;
            }
        };
        let Ok(mut last) = self.last.lock() else {
            return;
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
        file.save(&vec!["a".to_string()]);
        let written = std::fs::metadata(&path).expect("written").modified().ok();
        std::fs::remove_file(&path).expect("removed");
        // Same state: not written again.
        file.save(&vec!["a".to_string()]);
        assert!(!path.exists());
        file.save(&vec!["b".to_string()]);
        let (_, state) = StateFile::open::<Vec<String>>(&path).expect("reads");
        assert_eq!(state, Some(vec!["b".to_string()]));
        assert!(written.is_some());
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

//! `SESSION_ENGINE=file`: one file per session in `SESSION_FILE_PATH`, named after the cookie
//! name and the session key. Survives restarts; shared by several instances only on a shared
//! filesystem.
//!
//! Only a key of exactly the generated alphabet and length ever becomes a path, so nothing a
//! client sends can name a file outside the folder. Writes go to a temporary file in the same
//! folder and are renamed into place: a reader sees the old session or the new one, never half
//! of either, even if the process dies mid-write.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{
    backend::{ClearOutcome, Loaded, SessionBackend, StoreError},
    keys,
};

/// Temporary files start with this; a crash can leave one behind, and `clearsessions`
/// removes those older than [`STALE_TEMP_AGE`].
const TEMP_PREFIX: &str = ".guestbook-tmp-";
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct FileSessions {
    dir: PathBuf,
    /// File names are this (the cookie name) followed by the key, as Django names them.
    prefix: String,
}

impl FileSessions {
    /// # Errors
    /// When `dir` is missing, not a folder or not writable; the message names
    /// `SESSION_FILE_PATH`.
    pub fn new(dir: PathBuf, cookie_name: &str) -> anyhow::Result<Self> {
        let probe = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir);
        if !dir.is_dir() || probe.is_err() {
            let why = match probe {
                Err(err) => err.to_string(),
                Ok(_) => "not a folder".into(),
            };
            anyhow::bail!(
                "SESSION_FILE_PATH={} is not a writable folder: {why}",
                dir.display()
            );
        }
        Ok(Self {
            dir,
            prefix: cookie_name.to_owned(),
        })
    }

    /// The file of session `key`, or `None` when `key` is not a key we could have made.
    fn path(&self, key: &str) -> Option<PathBuf> {
        keys::is_well_formed(key).then(|| self.dir.join(format!("{}{key}", self.prefix)))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Self) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        actix_web::web::block(move || work(this))
            .await
            .map_err(|e| StoreError::File(io::Error::other(e.to_string())))?
            .map_err(StoreError::File)
    }
}

/// The file's contents: the expiry (Unix seconds) on the first line, then the data.
fn encode(data: &[u8], ttl: Duration) -> Vec<u8> {
    let expires_at = (SystemTime::now() + ttl)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut contents = format!("{expires_at}\n").into_bytes();
    contents.extend_from_slice(data);
    contents
}

/// The data and time left, or `None` when the file is expired or not one of ours.
fn decode(contents: Vec<u8>) -> Option<Loaded> {
    let newline = contents.iter().position(|&b| b == b'\n')?;
    let expires_at: u64 = std::str::from_utf8(&contents[..newline])
        .ok()?
        .parse()
        .ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    (expires_at > now).then(|| Loaded {
        data: contents[newline + 1..].to_vec(),
        expires_in: Some(Duration::from_secs(expires_at - now)),
    })
}

/// Writes `contents` to a temporary file beside `path`; the caller renames it into place.
fn temp_file(path: &Path, contents: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_data()?;
    Ok(temp)
}

fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

impl SessionBackend for FileSessions {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        self.blocking(move |_| {
            let Some(contents) = read(&path)? else {
                return Ok(None);
            };
            let loaded = decode(contents);
            if loaded.is_none() {
                // Expired (or not ours): forget it now rather than at the next clearsessions.
                remove(&path)?;
            }
            Ok(loaded)
        })
        .await
    }

    async fn create(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        let contents = encode(data, ttl);
        self.blocking(move |_| {
            // Linking into place refuses an existing file: a session is never overwritten.
            match temp_file(&path, &contents)?.persist_noclobber(&path) {
                Ok(_) => Ok(true),
                Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(err) => Err(err.error),
            }
        })
        .await
    }

    async fn update(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        let contents = encode(data, ttl);
        self.blocking(move |_| {
            // Only a live session is replaced: one that is gone or expired stays gone.
            if read(&path)?.and_then(decode).is_none() {
                return Ok(false);
            }
            temp_file(&path, &contents)?
                .persist(&path)
                .map_err(|e| e.error)?;
            Ok(true)
        })
        .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(());
        };
        self.blocking(move |_| {
            if let Some(loaded) = read(&path)?.and_then(decode) {
                temp_file(&path, &encode(&loaded.data, ttl))?
                    .persist(&path)
                    .map_err(|e| e.error)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(());
        };
        self.blocking(move |_| remove(&path)).await
    }

    async fn clear_expired(&self) -> Result<ClearOutcome, StoreError> {
        self.blocking(|this| {
            let mut removed = 0;
            for entry in fs::read_dir(&this.dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let path = entry.path();
                if let Some(key) = name.strip_prefix(&this.prefix) {
                    if keys::is_well_formed(key) && read(&path)?.and_then(decode).is_none() {
                        remove(&path)?;
                        removed += 1;
                    }
                } else if name.starts_with(TEMP_PREFIX) {
                    let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                    if age > STALE_TEMP_AGE {
                        remove(&path)?;
                    }
                }
            }
            Ok(ClearOutcome::Removed(removed))
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(|this| {
            let mut count = 0;
            for entry in fs::read_dir(&this.dir)? {
                let name = entry?.file_name();
                if name
                    .to_string_lossy()
                    .strip_prefix(&this.prefix)
                    .is_some_and(keys::is_well_formed)
                {
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }
}

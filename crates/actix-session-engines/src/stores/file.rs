//! `SESSION_ENGINE=file`: one file per session in `SESSION_FILE_PATH`, named after the cookie
//! name and the session key. Survives restarts; shared by several instances only on a shared
//! filesystem.
//!
//! Only a key of exactly the generated alphabet and length ever becomes a path, so nothing a
//! client sends can name a file outside the folder. Writes go to a temporary file in the same
//! folder and are renamed into place: a reader sees the old session or the new one, never half
//! of either, even if the process dies mid-write.
//!
//! A new session is linked into place only if its name is free. Every change to an existing
//! one (update, touch, delete, removing it once expired) happens while holding an exclusive
//! lock on its file, checked to still be the file at its path (see `locked`): a delete and a
//! rewrite never interleave, so a rewrite never brings back a session deleted meanwhile, in
//! this process or another on the same filesystem that takes the same lock (Django's file
//! engine, sharing the folder with `DJANGO_COMPAT`, does not).
//!
//! The index from user to sessions ("your sessions") is a folder per user under
//! `.<cookie name>-members/`, holding an empty file named after each session key stored with
//! that user logged in. A marker outlives its session (a delete does not know whose it
//! was); listings drop the ones whose session ended, and so does `clearsessions`.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        mpsc::{self, SyncSender, TrySendError},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    backend::{ClearOutcome, ClearRun, Loaded, SessionBackend, StoreError},
    keys::KeyFormat,
};

/// Temporary files start with this; a crash can leave one behind, and `clearsessions`
/// removes those older than [`STALE_TEMP_AGE`].
const TEMP_PREFIX: &str = ".guestbook-tmp-";
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// What a session file holds, and so how long it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// The expiry (Unix seconds) on the first line, then the data: each session's own time to
    /// live, whatever the file's times say.
    Native,
    /// Django's (`DJANGO_COMPAT`): the data alone, the session living `age`
    /// (`SESSION_COOKIE_AGE`) from the file's last modification, as Django's file engine reads
    /// it; keys are Django's. A session given another time to live gets its file's
    /// modification time set so that both sides read that expiry.
    Django {
        /// `SESSION_COOKIE_AGE`.
        age: Duration,
    },
}

impl FileFormat {
    fn keys(self) -> KeyFormat {
        match self {
            Self::Native => KeyFormat::Native,
            Self::Django { .. } => KeyFormat::Django,
        }
    }

    /// The file's contents for `data` living `ttl` from now, and the modification time the
    /// file must have for it (where that is how expiry is kept).
    fn encode(self, data: &[u8], ttl: Duration) -> (Vec<u8>, Option<SystemTime>) {
        match self {
            Self::Native => (encode(data, ttl), None),
            Self::Django { age } => {
                let now = SystemTime::now();
                let modified = (now + ttl).checked_sub(age).unwrap_or(now);
                (data.to_vec(), Some(modified))
            }
        }
    }

    /// The data and time left in a file last modified at `modified`, or `None` when it is
    /// expired or not one of ours.
    fn decode(self, contents: Vec<u8>, modified: SystemTime) -> Option<Loaded> {
        match self {
            Self::Native => decode(contents),
            Self::Django { age } => {
                let left = (modified + age).duration_since(SystemTime::now()).ok()?;
                (!contents.is_empty() && !left.is_zero()).then_some(Loaded {
                    data: contents,
                    expires_in: Some(left),
                })
            }
        }
    }
}

/// The `file` engine: a file per session in one folder.
#[derive(Clone, Debug)]
pub struct FileSessions {
    dir: PathBuf,
    format: FileFormat,
    /// File names are this (the cookie name) followed by the key, as Django names them.
    prefix: String,
}

impl FileSessions {
    /// # Errors
    /// When `dir` is missing, not a folder or not writable; the message names
    /// `SESSION_FILE_PATH`.
    pub fn new(dir: PathBuf, cookie_name: &str, format: FileFormat) -> anyhow::Result<Self> {
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
            format,
            prefix: cookie_name.to_owned(),
        })
    }

    /// The folder of `user`'s index markers.
    fn user_dir(&self, user: i64) -> PathBuf {
        self.dir
            .join(format!(".{}-members", self.prefix))
            .join(user.to_string())
    }

    /// Marks session `key` as `user`'s, after a write that stored it.
    fn index(&self, key: &str, user: Option<i64>, stored: bool) -> io::Result<bool> {
        if let (Some(user), true) = (user, stored) {
            let dir = self.user_dir(user);
            // Twice: `clearsessions` may remove an empty user folder between the two steps.
            for _ in 0..2 {
                fs::create_dir_all(&dir)?;
                match File::create(dir.join(key)) {
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    other => return other.map(|_| true),
                }
            }
        }
        Ok(stored)
    }

    /// Removes the index markers whose session file is gone, and user folders left empty.
    fn prune_index(&self) -> io::Result<()> {
        let index = self.dir.join(format!(".{}-members", self.prefix));
        let users = match fs::read_dir(&index) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        for user_dir in users {
            let user_dir = user_dir?.path();
            for marker in fs::read_dir(&user_dir)? {
                let marker = marker?;
                let key = marker.file_name();
                let alive = self
                    .path(&key.to_string_lossy())
                    .is_some_and(|path| path.exists());
                if !alive {
                    remove(&marker.path())?;
                }
            }
            // Fails, harmlessly, when a marker was added meanwhile.
            let _ = fs::remove_dir(&user_dir);
        }
        Ok(())
    }

    /// The file of session `key`, or `None` when `key` is not a key we could have made.
    fn path(&self, key: &str) -> Option<PathBuf> {
        self.format
            .keys()
            .accepts(key)
            .then(|| self.dir.join(format!("{}{key}", self.prefix)))
    }

    /// Runs `work`, which writes session files, on the write lane ([`write_lane`]).
    async fn writing<T: Send + 'static>(
        &self,
        work: impl FnOnce(Self) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        let queued = write_lane().try_send(Box::new(move || {
            let _ = done.send(work(this));
        }));
        if let Err(err) = queued {
            let why = match err {
                TrySendError::Full(_) => "too many session writes waiting",
                TrySendError::Disconnected(_) => "no session-file writing thread runs",
            };
            return Err(StoreError::File(io::Error::other(why)));
        }
        answer
            .await
            .map_err(|_| StoreError::File(io::Error::other("the session write was lost")))?
            .map_err(StoreError::File)
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

/// Threads of the write lane.
const WRITE_THREADS: usize = 2;

/// Writes that may wait for the write lane; past that, a write fails at once (a `503`).
const WRITE_QUEUE: usize = 1024;

type WriteJob = Box<dyn FnOnce() + Send>;

/// The threads every session-file write of the process runs on. Each write syncs its file to
/// disk, which can take milliseconds; on the blocking threads that load sessions for pages
/// (one per worker by default), every page whose load queued behind a write waited that long
/// too: readers' p99 of 14-68 ms while members logged in, in the benchmark's case 4.
fn write_lane() -> &'static SyncSender<WriteJob> {
    static LANE: OnceLock<SyncSender<WriteJob>> = OnceLock::new();
    LANE.get_or_init(|| {
        let (writes, queue) = mpsc::sync_channel::<WriteJob>(WRITE_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..WRITE_THREADS {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("session-files-{n}"))
                .spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match next {
                            Ok(write) => write(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                // Writes wait for the threads that did start; with none, each is refused.
                tracing::error!(error = %err, "cannot start a session-file writing thread");
            }
        }
        writes
    })
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
fn temp_file(
    path: &Path,
    (contents, modified): &(Vec<u8>, Option<SystemTime>),
) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    if let Some(modified) = modified {
        temp.as_file().set_modified(*modified)?;
    }
    temp.as_file().sync_data()?;
    Ok(temp)
}

/// The session file at `path` and when it was last modified, if there is one.
fn read(path: &Path) -> io::Result<Option<(Vec<u8>, SystemTime)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut contents = Vec::new();
    file.read_to_end(&mut contents)?;
    Ok(Some((contents, file.metadata()?.modified()?)))
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Runs `change` on the session file at `path` while holding an exclusive lock on it; `None`
/// when there is no file. Whoever locks second sees what the first did: a file renamed over
/// (rewritten) or unlinked (deleted) while we waited is no longer the file at `path`, so we
/// lock the new one, or find none.
fn locked<T>(
    path: &Path,
    change: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<Option<T>> {
    loop {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        file.lock()?;
        match fs::metadata(path) {
            Ok(at_path) if same_file(&at_path, &file.metadata()?) => {
                return change(&mut file).map(Some);
            }
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        }
    }
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Elsewhere there is no inode to compare; a file at the path is taken to be ours.
#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    true
}

/// The live session in an open session file, or `None` when it has expired.
fn live(file: &mut File, format: FileFormat) -> io::Result<Option<Loaded>> {
    let mut contents = Vec::new();
    file.read_to_end(&mut contents)?;
    Ok(format.decode(contents, file.metadata()?.modified()?))
}

/// Removes the file at `path` if its session has expired (under the lock: a session that was
/// rewritten meanwhile is live and stays).
fn remove_if_expired(path: &Path, format: FileFormat) -> io::Result<bool> {
    let removed = locked(path, |file| match live(file, format)? {
        Some(_) => Ok(false),
        None => remove(path).map(|()| true),
    })?;
    Ok(removed.unwrap_or(false))
}

impl SessionBackend for FileSessions {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        self.blocking(move |this| {
            let Some((contents, modified)) = read(&path)? else {
                return Ok(None);
            };
            let loaded = this.format.decode(contents, modified);
            if loaded.is_none() {
                // Expired (or not ours): forget it now rather than at the next clearsessions.
                remove_if_expired(&path, this.format)?;
            }
            Ok(loaded)
        })
        .await
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        let (key, contents) = (key.to_owned(), self.format.encode(data, ttl));
        self.writing(move |this| {
            // Linking into place refuses an existing file: a session is never overwritten.
            let created = match temp_file(&path, &contents)?.persist_noclobber(&path) {
                Ok(_) => true,
                Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => false,
                Err(err) => return Err(err.error),
            };
            this.index(&key, user, created)
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        let (key, contents) = (key.to_owned(), self.format.encode(data, ttl));
        self.writing(move |this| {
            let updated = locked(&path, |file| {
                // Only a live session is replaced: one that expired stays gone.
                if live(file, this.format)?.is_none() {
                    return Ok(false);
                }
                temp_file(&path, &contents)?
                    .persist(&path)
                    .map_err(|e| e.error)?;
                Ok(true)
            })?;
            this.index(&key, user, updated.unwrap_or(false))
        })
        .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(());
        };
        self.writing(move |this| {
            locked(&path, |file| {
                if let Some(loaded) = live(file, this.format)? {
                    temp_file(&path, &this.format.encode(&loaded.data, ttl))?
                        .persist(&path)
                        .map_err(|e| e.error)?;
                }
                Ok(())
            })?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(());
        };
        self.writing(move |_| {
            locked(&path, |_| remove(&path))?;
            Ok(())
        })
        .await
    }

    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        let outcome = self
            .writing(|this| {
                let mut removed = 0;
                for entry in fs::read_dir(&this.dir)? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let path = entry.path();
                    if let Some(key) = name.strip_prefix(&this.prefix) {
                        if this.format.keys().accepts(key) && remove_if_expired(&path, this.format)?
                        {
                            removed += 1;
                        }
                    } else if name.starts_with(TEMP_PREFIX) {
                        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                        if age > STALE_TEMP_AGE {
                            remove(&path)?;
                        }
                    }
                }
                this.prune_index()?;
                Ok(ClearOutcome::Removed(removed))
            })
            .await?;
        // One pass over the folder: the total at the end is the only progress there is.
        if let ClearOutcome::Removed(removed) = outcome {
            (run.progress)(removed);
        }
        Ok(outcome)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(|this| {
            let mut count = 0;
            for entry in fs::read_dir(&this.dir)? {
                let name = entry?.file_name();
                if name
                    .to_string_lossy()
                    .strip_prefix(&this.prefix)
                    .is_some_and(|key| this.format.keys().accepts(key))
                {
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        self.blocking(move |this| {
            let markers = match fs::read_dir(this.user_dir(user)) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                other => other?,
            };
            let mut keys = Vec::new();
            for marker in markers {
                let key = marker?.file_name().to_string_lossy().into_owned();
                if this.format.keys().accepts(&key) {
                    keys.push(key);
                }
            }
            Ok(keys)
        })
        .await
    }

    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        self.writing(move |this| {
            let dir = this.user_dir(user);
            for key in keys.iter().filter(|key| this.format.keys().accepts(key)) {
                remove(&dir.join(key))?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[actix_web::test]
    async fn a_session_loads_while_every_writing_thread_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let files =
            FileSessions::new(dir.path().to_owned(), "sessionid", FileFormat::Native).unwrap();
        let key = KeyFormat::Native.generate();
        assert!(
            files
                .create(key.as_ref(), b"{}", None, Duration::from_secs(60))
                .await
                .unwrap()
        );
        // Both writing threads held inside a write (a slow disk) until the load has answered.
        let (all_busy, release) = (
            Arc::new(Barrier::new(WRITE_THREADS + 1)),
            Arc::new(Barrier::new(WRITE_THREADS + 1)),
        );
        let held: Vec<_> = (0..WRITE_THREADS)
            .map(|_| {
                let (all_busy, release) = (Arc::clone(&all_busy), Arc::clone(&release));
                files.writing(move |_| {
                    all_busy.wait();
                    release.wait();
                    Ok(())
                })
            })
            .collect();
        let held = futures_util::future::join_all(held);
        let load_while_busy = async {
            let waiter = Arc::clone(&all_busy);
            tokio::task::spawn_blocking(move || waiter.wait())
                .await
                .unwrap();
            // Bounded so a load stuck behind the writes fails the test instead of hanging it.
            let loaded =
                actix_web::rt::time::timeout(Duration::from_secs(10), files.load(key.as_ref()))
                    .await;
            let releaser = Arc::clone(&release);
            tokio::task::spawn_blocking(move || releaser.wait())
                .await
                .unwrap();
            loaded
        };

        let (writes, loaded) = tokio::join!(held, load_while_busy);

        assert!(writes.iter().all(Result::is_ok));
        let loaded = loaded.expect("the load did not wait for the writes");
        assert!(loaded.unwrap().is_some(), "the session was read");
    }
}

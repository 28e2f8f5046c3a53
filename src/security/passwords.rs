//! Password hashing with argon2id, on threads of its own, a bounded few at a time.
//!
//! Hashing is deliberately expensive (19 MiB and two passes by default), so:
//!
//! - it runs on a small pool of threads of its own (`PASSWORD_HASH_THREADS`), never on the
//!   async workers or the threads that serve database calls, in the idle scheduling class, so
//!   logins never stall pages, not even for the CPU;
//! - each of those threads keeps one argon2 memory block and reuses it, so memory stays at
//!   threads × block however many logins arrive;
//! - at most `PASSWORD_HASH_QUEUE` requests wait for a thread; past that, or past
//!   [`WAIT_LIMIT`] in the queue, the request is refused at once with a `503` and
//!   `Retry-After` instead of queueing without end;
//! - work whose requester has gone (the client hung up, the wait limit passed) is dropped
//!   before it starts.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{self, Receiver, SyncSender, TrySendError},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use django_hashers::{self as hashers, Hasher};

use crate::{
    metrics,
    settings::{PasswordHashParams, PasswordWork},
};

/// The longest a request waits in the queue before it is refused.
pub const WAIT_LIMIT: Duration = Duration::from_secs(5);
/// What a refused request is told to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Bytes of salt in new hashes (the PHC recommendation).
const SALT_LEN: usize = 16;

/// Why a password could not be hashed or verified.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The hashing threads are too busy (the queue is full, or the wait limit passed): try
    /// again after `retry_after`.
    #[error("the password hashing threads are busy")]
    Overloaded { retry_after: Duration },
    /// Hashing failed, or the hashing threads are gone: a bug.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// `DJANGO_COMPAT`: new hashes in Django's encoding, by the first of `PASSWORD_HASHERS`.
    django: Option<Hasher>,
    jobs: SyncSender<Job>,
    /// A hash of a random password with the current parameters: verified against when the
    /// username is unknown, so both failures cost the same.
    dummy_hash: String,
    verifications: AtomicU64,
}

/// Work for a hashing thread, given that thread's reusable memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// One thread's argon2 memory, grown to the largest cost it has met and then reused.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.0.len() < needed {
            self.0.resize(needed, Block::default());
        }
        &mut self.0[..needed]
    }
}

impl Passwords {
    /// Starts the hashing threads. New hashes are argon2id PHC strings, or with `django`
    /// (`DJANGO_COMPAT`) that Django hasher's encoding; either kind verifies.
    ///
    /// # Errors
    /// When argon2 refuses the parameters or a thread cannot start.
    pub fn new(
        params: PasswordHashParams,
        work: PasswordWork,
        django: Option<Hasher>,
    ) -> anyhow::Result<Self> {
        let params = params.argon2_params().map_err(anyhow::Error::msg)?;
        let random_password: [u8; 32] = rand::random();
        let dummy_hash = match django {
            Some(hasher) => hasher.encode(&URL_SAFE_NO_PAD.encode(random_password))?,
            None => hash_with(&mut Memory::default(), &params, &random_password)
                .map_err(anyhow::Error::msg)?,
        };
        let (jobs, queue) = mpsc::sync_channel::<Job>(work.queue);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..work.threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || run_jobs(&queue))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                django,
                jobs,
                dummy_hash,
                verifications: AtomicU64::new(0),
            }),
        })
    }

    /// A PHC string (`$argon2id$v=19$...`) for `password`, with a fresh random salt; with
    /// `DJANGO_COMPAT`, Django's encoding (`pbkdf2_sha256$1000000$...`), which Django verifies.
    ///
    /// # Errors
    /// [`PasswordError::Overloaded`] when the hashing threads are too busy.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let inner = Arc::clone(&self.inner);
        self.run(move |memory| match inner.django {
            Some(hasher) => hasher.encode(&password).map_err(|e| e.to_string()),
            None => hash_with(memory, &inner.params, password.as_bytes()),
        })
        .await?
        .map_err(PasswordError::Failed)
    }

    /// Whether `password` matches `stored_hash`. With no stored hash (an unknown username) it
    /// verifies against the dummy hash and answers `false`, taking the same time.
    ///
    /// # Errors
    /// [`PasswordError::Overloaded`] when the hashing threads are too busy.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let inner = Arc::clone(&self.inner);
        self.run(move |memory| {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            // A hash that cannot match (an unknown username; a Django user with an unusable
            // password or a hasher this site does not know) costs the dummy hash's time all
            // the same, so the time taken tells nothing about the account.
            let usable = stored_hash.as_deref().filter(|hash| can_match(hash));
            let hash = usable.unwrap_or(&inner.dummy_hash);
            let matches = if hash.starts_with('$') {
                verify_with(memory, password.as_bytes(), hash).unwrap_or_else(|err| {
                    tracing::error!(error = %err, "a stored password hash cannot be used");
                    false
                })
            } else {
                // Django's encodings (`pbkdf2_sha256$...`, `argon2$...`, `bcrypt_sha256$...`);
                // an unusable password (`!...`) never matches.
                hashers::verify(&password, hash)
            };
            usable.is_some() && matches
        })
        .await
    }

    /// Whether `phc` was made with other costs (or another algorithm) than new hashes get:
    /// Django's `must_update`. A successful login then hashes the password again.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        if let Some(preferred) = &self.inner.django {
            return hashers::must_update(phc, preferred);
        }
        let Ok(hash) = PasswordHash::new(phc) else {
            // Not a hash we can verify either: no login will get this far with it.
            return false;
        };
        let current = &self.inner.params;
        let same_params = Params::try_from(&hash).is_ok_and(|params| {
            (params.m_cost(), params.t_cost(), params.p_cost())
                == (current.m_cost(), current.t_cost(), current.p_cost())
        });
        hash.algorithm != Algorithm::Argon2id.ident()
            || hash.version != Some(Version::V0x13.into())
            || !same_params
    }

    /// How many verifications ran since start-up (the dummy ones included).
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// Runs `work` on a hashing thread, or refuses at once when the queue is full; gives up
    /// when it has waited [`WAIT_LIMIT`]. Dropping the returned future (the client left)
    /// keeps `work` from starting.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = oneshot::channel();
        let deadline = Instant::now() + WAIT_LIMIT;
        // What the work logs belongs to the request that asked for it (its request id).
        let span = tracing::Span::current();
        let job: Job = Box::new(move |memory| {
            // Nobody waits for it any more: not worth a hash.
            if done.is_closed() || Instant::now() > deadline {
                return;
            }
            let _ = done.send(span.in_scope(|| work(memory)));
        });
        match self.inner.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(overloaded()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(PasswordError::Failed("the hashing threads are gone".into()));
            }
        }
        match actix_web::rt::time::timeout(WAIT_LIMIT, result).await {
            Ok(Ok(value)) => Ok(value),
            // Dropped unstarted (past its deadline), or still waiting at the limit.
            Ok(Err(_)) | Err(_) => Err(overloaded()),
        }
    }
}

/// Whether a password could match `hash`: one of this site's own (argon2 PHC strings), or one of
/// the Django hashers it knows.
fn can_match(hash: &str) -> bool {
    hash.starts_with('$')
        || (hashers::is_usable(hash)
            && hashers::algorithm_of(hash)
                .is_some_and(|name| Hasher::from_django_path(name).is_some()))
}

fn overloaded() -> PasswordError {
    metrics::password_hash_refusal();
    PasswordError::Overloaded {
        retry_after: RETRY_AFTER,
    }
}

/// A hashing thread: takes jobs until every sender is gone, reusing one memory.
fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    yield_to_pages();
    let mut memory = Memory::default();
    loop {
        let job = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

/// The idle scheduling class for this thread (`SCHED_IDLE`): it runs only on CPU that nothing
/// else wants, so logins take what the pages leave and never the pages' share. `nice 19`, tried
/// first, still let a hashing thread take about a third of a busy two-core machine (readers
/// kept 64-69% of their throughput during a login storm, 88-89% with this; benchmarks.md);
/// logins that cannot be served in time are refused with a `503` and `Retry-After`. Where the
/// class cannot be had, the thread falls back to `nice 19`.
fn yield_to_pages() {
    use thread_priority::{
        ThreadPriority,
        unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        },
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let Err(why) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
    else {
        return;
    };
    // Linux's nice values are per thread: the thread's id names it alone.
    let this_thread = Some(rustix::thread::gettid());
    if let Err(err) = rustix::process::setpriority_process(this_thread, LOWEST_PRIORITY) {
        tracing::warn!(error = %err, idle = ?why, "the password threads run at normal priority");
    }
}

/// `nice 19`.
const LOWEST_PRIORITY: i32 = 19;

fn hash_with(memory: &mut Memory, params: &Params, password: &[u8]) -> Result<String, String> {
    let salt: [u8; SALT_LEN] = rand::random();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password, &salt, &mut output, memory.blocks(params))
        .map_err(|e| format!("argon2 failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&output).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `phc`, with the parameters and salt stored in it.
fn verify_with(memory: &mut Memory, password: &[u8], phc: &str) -> Result<bool, String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = Version::try_from(hash.version.unwrap_or(Version::V0x13.into()))
        .map_err(|e| e.to_string())?;
    let params = Params::try_from(&hash).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err("no salt or hash".into());
    };
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, &mut output, memory.blocks(&params))
        .map_err(|e| format!("argon2 failed: {e}"))?;
    Ok(bool::from(output.ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use futures_util::FutureExt as _;

    use super::*;

    fn passwords(threads: usize, queue: usize) -> Passwords {
        Passwords::new(
            PasswordHashParams::FAST_FOR_TESTS,
            PasswordWork { threads, queue },
            None,
        )
        .unwrap()
    }

    #[actix_web::test]
    async fn hashing_threads_run_only_on_cpu_nothing_else_wants() {
        let passwords = passwords(2, 4);

        // Asked on the hashing thread the work runs on.
        let policy = passwords
            .run(|_| thread_priority::unix::thread_schedule_policy())
            .await
            .unwrap()
            .unwrap();

        assert_eq!(
            policy,
            thread_priority::unix::ThreadSchedulePolicy::Normal(
                thread_priority::unix::NormalThreadSchedulePolicy::Idle
            )
        );
    }

    #[actix_web::test]
    async fn with_django_compat_hashes_are_djangos_and_both_kinds_verify() {
        let bcrypt = Hasher::BcryptSha256 { rounds: 4 };
        let django = Passwords::new(
            PasswordHashParams::FAST_FOR_TESTS,
            PasswordWork {
                threads: 1,
                queue: 4,
            },
            Some(bcrypt),
        )
        .unwrap();
        let argon2id = passwords(1, 4).hash("correct horse".into()).await.unwrap();

        let hash = django.hash("correct horse".into()).await.unwrap();

        assert!(hash.starts_with("bcrypt_sha256$$2b$04$"), "{hash}");
        for stored in [&hash, &argon2id] {
            let right = django.verify("correct horse".into(), Some(stored.clone()));
            let wrong = django.verify("wrong horse".into(), Some(stored.clone()));
            assert!(right.await.unwrap(), "{stored}");
            assert!(!wrong.await.unwrap(), "{stored}");
        }
        assert!(!django.needs_rehash(&hash));
        assert!(
            django.needs_rehash(&argon2id),
            "written again in the preferred hasher"
        );
        let unusable = django.verify(String::new(), Some("!unusable".into()));
        assert!(!unusable.await.unwrap());
        // Those that cannot match are verified against the dummy hash instead: the same time.
        assert!(!can_match("!unusable"));
        assert!(!can_match("md5$salt$5f4dcc3b5aa765d61d8327deb882cf99"));
        assert!(!can_match("scrypt$16384$salt$8$1$hash"));
        assert!(can_match(&hash) && can_match(&argon2id));
    }

    #[actix_web::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = passwords(1, 4);
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[test]
    fn hashes_made_elsewhere_verify_and_ours_verify_elsewhere() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = PasswordHashParams::FAST_FOR_TESTS.argon2_params().unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"s3cret words")
            .unwrap()
            .to_string();
        let ours = hash_with(&mut Memory::default(), &params, b"s3cret words").unwrap();

        assert_eq!(
            verify_with(&mut Memory::default(), b"s3cret words", &theirs),
            Ok(true)
        );
        assert!(
            Argon2::default()
                .verify_password(b"s3cret words", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        assert!(verify_with(&mut Memory::default(), b"s3cret", "not a hash").is_err());
    }

    #[actix_web::test]
    async fn hashes_with_other_costs_or_algorithms_need_a_rehash() {
        let passwords = passwords(1, 4);
        let current = passwords.hash("correct horse".into()).await.unwrap();
        let costlier = Passwords::new(
            PasswordHashParams {
                memory_kib: 16,
                ..PasswordHashParams::FAST_FOR_TESTS
            },
            PasswordWork {
                threads: 1,
                queue: 4,
            },
            None,
        )
        .unwrap();

        assert!(!passwords.needs_rehash(&current));
        assert!(costlier.needs_rehash(&current), "raised memory");
        let raised = costlier.hash("correct horse".into()).await.unwrap();
        assert!(passwords.needs_rehash(&raised), "lowered memory");
        assert!(passwords.needs_rehash(&current.replace("argon2id", "argon2i")));
        assert!(!passwords.needs_rehash("not a hash"));
    }

    #[actix_web::test]
    async fn an_unknown_user_still_costs_one_verification() {
        let passwords = passwords(1, 4);
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        assert_eq!(passwords.verifications(), 1);
    }

    #[actix_web::test]
    async fn past_the_queue_a_request_is_refused_at_once_and_unwanted_work_never_starts() {
        // Arrange: one thread, held busy, and one request waiting in a queue of one.
        let passwords = passwords(1, 1);
        let (started, running) = oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = actix_web::rt::spawn({
            let passwords = passwords.clone();
            async move {
                passwords
                    .run(move |_| {
                        let _ = started.send(());
                        held.recv().ok()
                    })
                    .await
            }
        });
        running.await.unwrap();
        let abandoned_ran = Arc::new(AtomicBool::new(false));
        // Closed when the thread is done with the abandoned work, run or dropped.
        let (work_alive, work_gone) = oneshot::channel::<()>();
        let mut waiting = Box::pin(passwords.run({
            let ran = Arc::clone(&abandoned_ran);
            move |_| {
                let _alive = work_alive;
                ran.store(true, Ordering::SeqCst);
            }
        }));
        assert!(
            waiting.as_mut().now_or_never().is_none(),
            "in the queue, waiting for the thread"
        );

        // Act: one more request while the thread is busy and the queue full; then the waiting
        // request's client hangs up before its turn.
        let refused = passwords.verify("refused".into(), None).await;
        drop(waiting);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        // The thread has taken the abandoned work off the queue: there is room again.
        assert!(work_gone.await.is_err());
        let after = passwords.verify("after".into(), None).await;

        // Assert
        assert!(
            matches!(refused, Err(PasswordError::Overloaded { .. })),
            "{refused:?}"
        );
        assert!(
            !abandoned_ran.load(Ordering::SeqCst),
            "the abandoned work never started"
        );
        assert!(after.is_ok(), "{after:?}");
        assert_eq!(
            passwords.verifications(),
            1,
            "only the last request was verified"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_waiting_after_the_wait_limit_is_answered_503_with_retry_after() {
        use actix_web::{ResponseError, http::StatusCode};

        // Arrange: the one thread held busy (waited for without yielding, so the paused clock
        // does not move), a queue of one.
        let passwords = passwords(1, 1);
        let (started, running) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let mut busy = Box::pin(passwords.run(move |_| {
            let _ = started.send(());
            held.recv().ok()
        }));
        assert!(busy.as_mut().now_or_never().is_none());
        running.recv().unwrap();
        let mut waiting = Box::pin(passwords.verify("waiting".into(), None));
        assert!(waiting.as_mut().now_or_never().is_none(), "queued");

        // Act and assert: the clock moves to just short of the wait limit, then to it.
        tokio::time::advance(WAIT_LIMIT - Duration::from_millis(1)).await;
        let just_before = waiting.as_mut().now_or_never();
        assert!(just_before.is_none(), "{just_before:?}");
        tokio::time::advance(Duration::from_millis(1)).await;
        let at_the_limit = waiting.as_mut().now_or_never();

        let Some(Err(refused)) = at_the_limit else {
            panic!("expected a refusal at the wait limit, got {at_the_limit:?}");
        };
        assert!(
            matches!(refused, PasswordError::Overloaded { retry_after } if retry_after == RETRY_AFTER),
            "{refused:?}"
        );
        let response = crate::error::AppError::from(refused).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(actix_web::http::header::RETRY_AFTER),
            Some(&actix_web::http::header::HeaderValue::from(
                RETRY_AFTER.as_secs()
            )),
        );
        release.send(()).unwrap();
    }
}

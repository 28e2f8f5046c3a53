//! `django.contrib.auth.hashers`: the password hashes Django keeps in `auth_user.password`,
//! for the three hashers it recommends, so a Django site and a Rust service can log in the same
//! users and keep each other's hashes up to date.
//!
//! - [`Hasher::Pbkdf2Sha256`], Django's default `PBKDF2PasswordHasher`:
//!   `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`;
//! - [`Hasher::Argon2`], `Argon2PasswordHasher`:
//!   `argon2$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<base64 salt>$<base64 hash>`;
//! - [`Hasher::BcryptSha256`], `BCryptSHA256PasswordHasher`:
//!   `bcrypt_sha256$$2b$<cost>$<salt><hash>`, bcrypt of the password's hex SHA-256 (so all of a
//!   password counts, not its first 72 bytes).
//!
//! A hash verifies here exactly when Django's `check_password` accepts it, with three
//! exceptions, all refusals: hashes of Django's other hashers (`pbkdf2_sha1`, `scrypt`, plain
//! `bcrypt`, `md5`, ...), Argon2 versions other than 0x10 and 0x13, and work factors beyond the
//! bounds below, which Django would compute (for minutes or hours) and which are refused here at
//! once, so a planted hash cannot tie up a worker.
//!
//! The bounds are each 15 to 20 seconds of one core's work in a release build: at most
//! [`MAX_PBKDF2_ITERATIONS`] PBKDF2 iterations, [`MAX_BCRYPT_ROUNDS`] bcrypt rounds, and
//! Argon2 memory of [`MAX_ARGON2_MEMORY_KIB`] with memory × passes at most
//! [`MAX_ARGON2_WORK_KIB`]. Django's defaults, each a fraction of a second, are far inside them.
//!
//! The tests check every format against hashes Django 5.2 made (the fixtures the session crate's
//! Django codecs are checked against too: `actix-session-engines/tests/fixtures/django/`,
//! made by its `make_vectors.py`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use base64::{
    Engine,
    alphabet::BCRYPT,
    engine::{
        GeneralPurpose,
        general_purpose::{NO_PAD, STANDARD, STANDARD_NO_PAD},
    },
};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most PBKDF2 iterations a hash may ask for: 100 times Django's default.
pub const MAX_PBKDF2_ITERATIONS: u32 = 100_000_000;
/// The most bcrypt rounds (the log2 cost) a hash may ask for: 64 times Django's default work.
pub const MAX_BCRYPT_ROUNDS: u32 = 18;
/// The most memory an Argon2 hash may ask for, in KiB: 4 GiB.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// The most Argon2 work, memory in KiB times passes, a hash may ask for: two passes over 4 GiB,
/// 40 times Django's default work.
pub const MAX_ARGON2_WORK_KIB: u64 = 2 * MAX_ARGON2_MEMORY_KIB as u64;

/// What `set_unusable_password()` stores starts with this; nothing starting with it verifies.
pub const UNUSABLE_PASSWORD_PREFIX: &str = "!";
/// The random characters Django puts after [`UNUSABLE_PASSWORD_PREFIX`].
const UNUSABLE_PASSWORD_SUFFIX_LEN: usize = 40;

/// `RANDOM_STRING_CHARS`, the alphabet of Django's salts.
const SALT_CHARS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// `BasePasswordHasher.salt()`'s length: enough characters of [`SALT_CHARS`] for 128 bits.
const SALT_LEN: usize = 22;
/// Argon2's smallest salt, in bytes.
const ARGON2_MIN_SALT_LEN: usize = 8;
/// The hash length Django asks Argon2 for (argon2-cffi's `DEFAULT_HASH_LENGTH`).
const ARGON2_HASH_LEN: usize = 32;
/// The version argon2-cffi writes, 0x13.
const ARGON2_VERSION: u32 = 19;
/// bcrypt's own base64 (`./A-Za-z0-9`), strict about unused bits as the `bcrypt` module is.
const BCRYPT_BASE64: GeneralPurpose = GeneralPurpose::new(&BCRYPT, NO_PAD);

/// A password hasher with its work factors: what Django's `PASSWORD_HASHERS[0]` names, with the
/// class attributes a subclass would override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hasher {
    /// `PBKDF2PasswordHasher`: PBKDF2-HMAC-SHA256, 32 bytes.
    Pbkdf2Sha256 {
        /// `iterations`; Django 5.2's default is 1,000,000.
        iterations: u32,
    },
    /// `Argon2PasswordHasher`: Argon2id, version 0x13, a 32-byte hash.
    Argon2 {
        /// `time_cost`, the passes over memory; Django's default is 2.
        time_cost: u32,
        /// `memory_cost` in KiB; Django's default is 102,400 (100 MiB).
        memory_cost_kib: u32,
        /// `parallelism`, the lanes; Django's default is 8.
        parallelism: u32,
    },
    /// `BCryptSHA256PasswordHasher`: bcrypt (`$2b$`) of the password's hex SHA-256.
    BcryptSha256 {
        /// `rounds`, bcrypt's log2 cost; Django's default is 12.
        rounds: u32,
    },
}

/// Why [`Hasher::encode`] would not encode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The hasher's work factors are outside what its algorithm accepts or beyond this module's
    /// bounds (a hash made with them would never verify here).
    #[error("{algorithm} cannot hash with these parameters: {reason}")]
    Parameters {
        /// Django's name of the algorithm.
        algorithm: &'static str,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The salt given to [`Hasher::encode_with_salt`] cannot be used by the algorithm.
    #[error("{algorithm} cannot hash with this salt: {reason}")]
    Salt {
        /// Django's name of the algorithm.
        algorithm: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Hasher {
    /// Django 5.2's `PBKDF2PasswordHasher`.
    pub const PBKDF2_SHA256: Hasher = Hasher::Pbkdf2Sha256 {
        iterations: 1_000_000,
    };
    /// Django 5.2's `Argon2PasswordHasher`.
    pub const ARGON2: Hasher = Hasher::Argon2 {
        time_cost: 2,
        memory_cost_kib: 102_400,
        parallelism: 8,
    };
    /// Django 5.2's `BCryptSHA256PasswordHasher`.
    pub const BCRYPT_SHA256: Hasher = Hasher::BcryptSha256 { rounds: 12 };

    /// The hasher of Django's default `PASSWORD_HASHERS`: [`Hasher::PBKDF2_SHA256`].
    pub fn django_default() -> Hasher {
        Hasher::PBKDF2_SHA256
    }

    /// The hasher a `PASSWORD_HASHERS` entry names, with Django's work factors: the dotted path
    /// of one of the three classes (`django.contrib.auth.hashers.PBKDF2PasswordHasher`,
    /// `...Argon2PasswordHasher`, `...BCryptSHA256PasswordHasher`) or its algorithm's name
    /// (`pbkdf2_sha256`, `argon2`, `bcrypt_sha256`). `None` for anything else.
    pub fn from_django_path(dotted: &str) -> Option<Hasher> {
        match dotted {
            "django.contrib.auth.hashers.PBKDF2PasswordHasher" | "pbkdf2_sha256" => {
                Some(Hasher::PBKDF2_SHA256)
            }
            "django.contrib.auth.hashers.Argon2PasswordHasher" | "argon2" => Some(Hasher::ARGON2),
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher" | "bcrypt_sha256" => {
                Some(Hasher::BCRYPT_SHA256)
            }
            _ => None,
        }
    }

    /// Django's name of the algorithm, the first field of every hash it makes.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Hasher::Pbkdf2Sha256 { .. } => "pbkdf2_sha256",
            Hasher::Argon2 { .. } => "argon2",
            Hasher::BcryptSha256 { .. } => "bcrypt_sha256",
        }
    }

    /// Whether hashes made with these work factors would verify: call it when reading the
    /// configuration, so a bad setting fails at start-up rather than at the first sign-up.
    ///
    /// # Errors
    /// [`HashError::Parameters`] for work factors the algorithm refuses (no iterations or
    /// passes, fewer than 8 KiB of memory per lane, bcrypt rounds outside 4..=31) or beyond
    /// this module's bounds.
    pub fn validate(&self) -> Result<(), HashError> {
        let algorithm = self.algorithm();
        let refuse = |reason| Err(HashError::Parameters { algorithm, reason });
        match *self {
            Hasher::Pbkdf2Sha256 { iterations } => match iterations {
                0 => refuse("iterations must be at least 1"),
                n if n > MAX_PBKDF2_ITERATIONS => {
                    refuse("more iterations than MAX_PBKDF2_ITERATIONS")
                }
                _ => Ok(()),
            },
            Hasher::Argon2 {
                time_cost,
                memory_cost_kib,
                parallelism,
            } => argon2_params(memory_cost_kib, time_cost, parallelism, ARGON2_HASH_LEN)
                .map(drop)
                .map_err(|reason| HashError::Parameters { algorithm, reason }),
            Hasher::BcryptSha256 { rounds } => match rounds {
                ..4 => refuse("bcrypt needs at least 4 rounds"),
                n if n > MAX_BCRYPT_ROUNDS => refuse("more rounds than MAX_BCRYPT_ROUNDS"),
                _ => Ok(()),
            },
        }
    }

    /// `make_password(password, hasher=...)`: a hash of `password` under a new random salt
    /// (22 characters of `[a-zA-Z0-9]` as Django's `salt()` makes them, or 16 random bytes
    /// for bcrypt), from the operating system's CSPRNG-seeded generator.
    ///
    /// # Errors
    /// [`HashError::Parameters`] as [`Hasher::validate`].
    pub fn encode(&self, password: &str) -> Result<String, HashError> {
        let mut rng = rand::rng();
        let salt = match self {
            Hasher::BcryptSha256 { .. } => BCRYPT_BASE64.encode(rng.random::<[u8; 16]>()),
            _ => (0..SALT_LEN)
                .map(|_| char::from(SALT_CHARS[rng.random_range(0..SALT_CHARS.len())]))
                .collect(),
        };
        self.encode_with_salt(password, &salt)
    }

    /// `make_password(password, salt, hasher)`: the very string Django makes for this salt.
    /// The salt is any text for PBKDF2 (not empty, no `$`) and for Argon2 (at least 8 bytes);
    /// for bcrypt it is the 22 characters bcrypt's `gensalt()` puts after `$2b$<cost>$`.
    ///
    /// # Errors
    /// [`HashError::Parameters`] as [`Hasher::validate`]; [`HashError::Salt`] for a salt the
    /// algorithm cannot take.
    pub fn encode_with_salt(&self, password: &str, salt: &str) -> Result<String, HashError> {
        self.validate()?;
        let algorithm = self.algorithm();
        let bad_salt = |reason| HashError::Salt { algorithm, reason };
        match *self {
            Hasher::Pbkdf2Sha256 { iterations } => {
                if salt.is_empty() || salt.contains('$') {
                    return Err(bad_salt("the salt must be given and cannot contain $"));
                }
                Ok(pbkdf2_sha256(password, salt, iterations))
            }
            Hasher::Argon2 {
                time_cost,
                memory_cost_kib,
                parallelism,
            } => {
                if salt.len() < ARGON2_MIN_SALT_LEN {
                    return Err(bad_salt("Argon2 needs a salt of at least 8 bytes"));
                }
                let hash = Argon2Hash {
                    algorithm: argon2::Algorithm::Argon2id,
                    version: ARGON2_VERSION,
                    memory_cost_kib,
                    time_cost,
                    parallelism,
                    salt: salt.as_bytes().to_vec(),
                    hash: vec![0; ARGON2_HASH_LEN],
                };
                let computed = hash.compute(password).ok_or(HashError::Parameters {
                    algorithm,
                    reason: "Argon2's memory could not be allocated",
                })?;
                Ok(hash.encode(&computed))
            }
            Hasher::BcryptSha256 { rounds } => {
                let raw_salt = bcrypt_salt(salt).ok_or(bad_salt(
                    "the salt must be 22 characters of bcrypt's base64 (16 bytes)",
                ))?;
                Ok(bcrypt_sha256("2b", rounds, salt, raw_salt, password))
            }
        }
    }
}

impl Default for Hasher {
    /// [`Hasher::django_default`].
    fn default() -> Self {
        Hasher::django_default()
    }
}

/// `check_password(password, encoded)`: whether `password` is the one `encoded` was made from.
/// Never true for an unusable password, an unknown algorithm, anything malformed, or work
/// factors beyond this module's bounds; the hashes are compared in constant time.
///
/// Unlike Django's `check_password`, it returns at once when there is nothing to verify (an
/// unusable password, an unknown algorithm); Django spends a default hash's time there so that
/// response times do not tell which users have a usable password. A caller that cares can
/// [`Hasher::encode`] a throwaway password in that case.
pub fn verify(password: &str, encoded: &str) -> bool {
    match algorithm_of(encoded) {
        Some("pbkdf2_sha256") => verify_pbkdf2_sha256(password, encoded),
        Some("argon2") => verify_argon2(password, encoded),
        Some("bcrypt_sha256") => verify_bcrypt_sha256(password, encoded),
        _ => false,
    }
}

/// Whether a hash that verified should be re-encoded with `preferred`, as Django's
/// `check_password` decides before calling its `setter`: when its algorithm is not the preferred
/// one, when its work factors differ from the preferred ones (PBKDF2 iterations; Argon2 type,
/// version, passes, memory, lanes and hash length; bcrypt rounds), or when its salt carries
/// less than 128 bits (shorter than 22 characters). Also true for a hash of the preferred
/// algorithm that cannot be read; false for an unusable password, which has nothing to
/// re-encode.
pub fn must_update(encoded: &str, preferred: &Hasher) -> bool {
    if !is_usable(encoded) {
        return false;
    }
    if algorithm_of(encoded) != Some(preferred.algorithm()) {
        return true;
    }
    match *preferred {
        Hasher::Pbkdf2Sha256 { iterations } => match parse_pbkdf2_sha256(encoded) {
            Some((n, salt, _)) => n != iterations || salt.chars().count() < SALT_LEN,
            None => true,
        },
        Hasher::Argon2 {
            time_cost,
            memory_cost_kib,
            parallelism,
        } => match Argon2Hash::parse(encoded) {
            Some(hash) => {
                hash.algorithm != argon2::Algorithm::Argon2id
                    || hash.version != ARGON2_VERSION
                    || hash.time_cost != time_cost
                    || hash.memory_cost_kib != memory_cost_kib
                    || hash.parallelism != parallelism
                    || hash.hash.len() != ARGON2_HASH_LEN
                    || hash.salt.len() < SALT_LEN
            }
            None => true,
        },
        Hasher::BcryptSha256 { rounds } => match parse_bcrypt_sha256(encoded) {
            Some(hash) => hash.rounds != rounds,
            None => true,
        },
    }
}

/// `is_password_usable(encoded)`: false only for what `set_unusable_password()` stores.
pub fn is_usable(encoded: &str) -> bool {
    !encoded.starts_with(UNUSABLE_PASSWORD_PREFIX)
}

/// `identify_hasher(encoded).algorithm`: the name of the algorithm Django would look up for
/// this hash (whether or not this module implements it), including the unsalted MD5 and SHA-1
/// of ancient Django versions. `None` for an unusable password or an empty name.
pub fn algorithm_of(encoded: &str) -> Option<&str> {
    if !is_usable(encoded) {
        return None;
    }
    if (encoded.len() == 32 && !encoded.contains('$'))
        || (encoded.len() == 37 && encoded.starts_with("md5$$"))
    {
        return Some("unsalted_md5");
    }
    if encoded.len() == 46 && encoded.starts_with("sha1$$") {
        return Some("unsalted_sha1");
    }
    let algorithm = encoded.split('$').next().unwrap_or_default();
    (!algorithm.is_empty()).then_some(algorithm)
}

/// `make_password(None)`: what `set_unusable_password()` stores, `!` and 40 random characters.
pub fn unusable_password() -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..UNUSABLE_PASSWORD_SUFFIX_LEN)
        .map(|_| char::from(SALT_CHARS[rng.random_range(0..SALT_CHARS.len())]))
        .collect();
    format!("{UNUSABLE_PASSWORD_PREFIX}{suffix}")
}

/// Counts one run of a hash function (PBKDF2, Argon2 or bcrypt) on this thread, and panics
/// before it starts where a unit test forbids hashing: work factors beyond the bounds must be
/// refused before any hashing starts.
#[cfg(test)]
fn count_hashing() {
    assert!(
        tests::HASHING_ALLOWED.with(std::cell::Cell::get),
        "a hash function started where the test forbids hashing"
    );
    tests::HASHINGS.with(|count| count.set(count.get() + 1));
}

#[cfg(not(test))]
#[inline(always)]
fn count_hashing() {}

// PBKDF2 --------------------------------------------------------------------------------------

fn pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    count_hashing();
    let mut hash = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut hash);
    format!(
        "pbkdf2_sha256${iterations}${salt}${}",
        STANDARD.encode(hash)
    )
}

/// The iterations, salt and hash of a `pbkdf2_sha256$...` hash (`decode()`), iterations read
/// only in the form Django writes them.
fn parse_pbkdf2_sha256(encoded: &str) -> Option<(u32, &str, &str)> {
    let mut fields = encoded.strip_prefix("pbkdf2_sha256$")?.splitn(3, '$');
    let iterations = decimal(fields.next()?)?;
    Some((iterations, fields.next()?, fields.next()?))
}

fn verify_pbkdf2_sha256(password: &str, encoded: &str) -> bool {
    let Some((iterations, salt, _)) = parse_pbkdf2_sha256(encoded) else {
        return false;
    };
    // Django re-encodes and compares the whole string, so only its own form verifies (no
    // leading zeros, padded base64); zero iterations mean its default there, never a match.
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS || salt.is_empty() {
        return false;
    }
    let expected = pbkdf2_sha256(password, salt, iterations);
    expected.as_bytes().ct_eq(encoded.as_bytes()).into()
}

// Argon2 --------------------------------------------------------------------------------------

/// An `argon2$...` hash, read as libargon2's `decode_string` reads what argon2-cffi is given.
struct Argon2Hash {
    algorithm: argon2::Algorithm,
    version: u32,
    memory_cost_kib: u32,
    time_cost: u32,
    parallelism: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Argon2Hash {
    /// libargon2's grammar: `$argon2<type>[$v=<n>]$m=<n>,t=<n>,p=<n>$<salt>$<hash>`, numbers in
    /// their shortest decimal form, unpadded standard base64 with no stray bits, nothing after.
    /// Without a version the hash is of version 0x10, Argon2's first.
    fn parse(encoded: &str) -> Option<Argon2Hash> {
        let rest = encoded.strip_prefix("argon2$")?;
        let (algorithm, rest) = if let Some(rest) = rest.strip_prefix("argon2id$") {
            (argon2::Algorithm::Argon2id, rest)
        } else if let Some(rest) = rest.strip_prefix("argon2i$") {
            (argon2::Algorithm::Argon2i, rest)
        } else {
            (argon2::Algorithm::Argon2d, rest.strip_prefix("argon2d$")?)
        };
        let (version, rest) = match rest.strip_prefix("v=") {
            Some(rest) => {
                let (version, rest) = rest.split_once('$')?;
                (decimal(version)?, rest)
            }
            None => (0x10, rest),
        };
        let (params, rest) = rest.split_once('$')?;
        let (salt, hash) = rest.split_once('$')?;
        let params = params.strip_prefix("m=")?;
        let (memory_cost_kib, params) = params.split_once(",t=")?;
        let (time_cost, parallelism) = params.split_once(",p=")?;
        Some(Argon2Hash {
            algorithm,
            version,
            memory_cost_kib: decimal(memory_cost_kib)?,
            time_cost: decimal(time_cost)?,
            parallelism: decimal(parallelism)?,
            salt: STANDARD_NO_PAD.decode(salt).ok()?,
            hash: STANDARD_NO_PAD.decode(hash).ok()?,
        })
    }

    /// argon2-cffi's `hash_secret` output, behind Django's algorithm name.
    fn encode(&self, hash: &[u8]) -> String {
        format!(
            "argon2${}$v={}$m={},t={},p={}${}${}",
            self.algorithm.as_str(),
            self.version,
            self.memory_cost_kib,
            self.time_cost,
            self.parallelism,
            STANDARD_NO_PAD.encode(&self.salt),
            STANDARD_NO_PAD.encode(hash),
        )
    }

    /// The hash of `password` with these parameters and salt, as long as the stored one;
    /// `None` when libargon2 would refuse them, for a version RustCrypto's argon2 does not
    /// know, or beyond this module's bounds.
    fn compute(&self, password: &str) -> Option<Vec<u8>> {
        let version = argon2::Version::try_from(self.version).ok()?;
        let params = argon2_params(
            self.memory_cost_kib,
            self.time_cost,
            self.parallelism,
            self.hash.len(),
        )
        .ok()?;
        if self.salt.len() < ARGON2_MIN_SALT_LEN {
            return None;
        }
        count_hashing();
        let mut out = vec![0; self.hash.len()];
        // The memory is allocated fallibly: an allocation that fails refuses, never aborts.
        argon2::Argon2::new(self.algorithm, version, params)
            .hash_password_into(password.as_bytes(), &self.salt, &mut out)
            .ok()?;
        Some(out)
    }
}

/// Argon2's parameters, when libargon2 accepts them and they are within this module's bounds.
fn argon2_params(
    memory_cost_kib: u32,
    time_cost: u32,
    parallelism: u32,
    hash_len: usize,
) -> Result<argon2::Params, &'static str> {
    if memory_cost_kib > MAX_ARGON2_MEMORY_KIB {
        return Err("more memory than MAX_ARGON2_MEMORY_KIB");
    }
    if u64::from(memory_cost_kib) * u64::from(time_cost) > MAX_ARGON2_WORK_KIB {
        return Err("more memory times passes than MAX_ARGON2_WORK_KIB");
    }
    // libargon2 wants at least 8 KiB per lane; RustCrypto's Params::new checks the rest.
    if u64::from(memory_cost_kib) < 8 * u64::from(parallelism) {
        return Err("Argon2 needs at least 8 KiB of memory per lane");
    }
    argon2::Params::new(memory_cost_kib, time_cost, parallelism, Some(hash_len))
        .map_err(|_| "Argon2 needs at least 1 pass, 1 to 2^24-1 lanes and a 4-byte hash")
}

fn verify_argon2(password: &str, encoded: &str) -> bool {
    let Some(stored) = Argon2Hash::parse(encoded) else {
        return false;
    };
    stored
        .compute(password)
        .is_some_and(|computed| computed.ct_eq(&stored.hash).into())
}

// bcrypt --------------------------------------------------------------------------------------

/// A `bcrypt_sha256$$2b$12$...` hash in the form the `bcrypt` module writes.
struct BcryptHash<'a> {
    prefix: &'a str,
    rounds: u32,
    salt: &'a str,
    raw_salt: [u8; 16],
}

fn parse_bcrypt_sha256(encoded: &str) -> Option<BcryptHash<'_>> {
    let rest = encoded.strip_prefix("bcrypt_sha256$$")?;
    let prefix = rest
        .get(..2)
        .filter(|p| ["2a", "2b", "2x", "2y"].contains(p))?;
    let rest = rest[2..].strip_prefix('$')?;
    let rounds = rest
        .get(..2)
        .filter(|r| r.bytes().all(|b| b.is_ascii_digit()))?;
    let rest = rest[2..].strip_prefix('$')?;
    let salt = rest.get(..22)?;
    Some(BcryptHash {
        prefix,
        rounds: rounds.parse().ok()?,
        salt,
        raw_salt: bcrypt_salt(salt)?,
    })
}

/// The 16 bytes of a 22-character bcrypt salt (its last character's 4 unused bits zero).
fn bcrypt_salt(salt: &str) -> Option<[u8; 16]> {
    if salt.len() != 22 {
        return None;
    }
    BCRYPT_BASE64.decode(salt).ok()?.try_into().ok()
}

/// `bcrypt.hashpw(hexlify(sha256(password)), salt)` behind Django's algorithm name.
fn bcrypt_sha256(
    prefix: &str,
    rounds: u32,
    salt: &str,
    raw_salt: [u8; 16],
    password: &str,
) -> String {
    // Hashing first lets bcrypt see the whole password, not its first 72 bytes. bcrypt reads
    // its key up to and including a terminating NUL.
    let mut key = [0u8; 65];
    let digest = Sha256::digest(password.as_bytes());
    for (pair, byte) in key.chunks_exact_mut(2).zip(digest) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
    }
    count_hashing();
    let hash = bcrypt::bcrypt(rounds, raw_salt, &key);
    // bcrypt keeps 23 of Blowfish's 24 output bytes.
    let hash = BCRYPT_BASE64.encode(&hash[..23]);
    format!("bcrypt_sha256$${prefix}${rounds:02}${salt}{hash}")
}

fn verify_bcrypt_sha256(password: &str, encoded: &str) -> bool {
    let Some(stored) = parse_bcrypt_sha256(encoded) else {
        return false;
    };
    if !(4..=MAX_BCRYPT_ROUNDS).contains(&stored.rounds) {
        return false;
    }
    // Django re-hashes with the stored salt and compares the whole string.
    let expected = bcrypt_sha256(
        stored.prefix,
        stored.rounds,
        stored.salt,
        stored.raw_salt,
        password,
    );
    expected.as_bytes().ct_eq(encoded.as_bytes()).into()
}

/// A `u32` in its shortest decimal form, as libargon2 reads numbers and `%d` writes them: digits
/// only, no sign, no leading zero.
fn decimal(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, time::Instant};

    use serde::Deserialize;

    use super::*;

    thread_local! {
        /// How many times this thread ran a hash function ([`count_hashing`]).
        pub(super) static HASHINGS: Cell<u64> = const { Cell::new(0) };
        /// Whether a hash function may run on this thread: when not, it panics before it
        /// starts ([`count_hashing`]), so a refusal that came too late fails at once.
        pub(super) static HASHING_ALLOWED: Cell<bool> = const { Cell::new(true) };
    }

    /// How many times this thread has run a hash function so far.
    fn hashings() -> u64 {
        HASHINGS.with(Cell::get)
    }

    /// `call()` with hashing forbidden on this thread: a hash function that starts panics.
    fn without_hashing<T>(call: impl FnOnce() -> T) -> T {
        HASHING_ALLOWED.with(|allowed| allowed.set(false));
        let result = call();
        HASHING_ALLOWED.with(|allowed| allowed.set(true));
        result
    }

    /// The `password_hashers` section of `tests/fixtures/django/vectors.json`.
    #[derive(Deserialize)]
    struct Vectors {
        salt: String,
        random_string_chars: String,
        salt_length: usize,
        unusable_prefix: String,
        unusable_suffix_length: usize,
        defaults: Vec<HasherSpec>,
        encodings: Vec<Encoding>,
        checks: Vec<Check>,
        refused: Vec<Refused>,
    }

    /// A hasher as the Python side describes it.
    #[derive(Deserialize)]
    struct HasherSpec {
        algorithm: String,
        iterations: Option<u32>,
        time_cost: Option<u32>,
        memory_cost: Option<u32>,
        parallelism: Option<u32>,
        rounds: Option<u32>,
    }

    impl HasherSpec {
        fn hasher(&self) -> Hasher {
            match self.algorithm.as_str() {
                "pbkdf2_sha256" => Hasher::Pbkdf2Sha256 {
                    iterations: self.iterations.unwrap(),
                },
                "argon2" => Hasher::Argon2 {
                    time_cost: self.time_cost.unwrap(),
                    memory_cost_kib: self.memory_cost.unwrap(),
                    parallelism: self.parallelism.unwrap(),
                },
                "bcrypt_sha256" => Hasher::BcryptSha256 {
                    rounds: self.rounds.unwrap(),
                },
                other => panic!("no hasher {other}"),
            }
        }
    }

    /// A hash Django made; `hasher` and `salt` are absent for the forms Django reads but does
    /// not write (other Argon2 types and versions, other bcrypt prefixes).
    #[derive(Deserialize)]
    struct Encoding {
        name: String,
        hasher: Option<HasherSpec>,
        password: String,
        salt: Option<String>,
        encoded: String,
        #[serde(default)]
        default_cost: bool,
    }

    /// Django's `verify_password(password, encoded, preferred)`; `password` and `correct` are
    /// absent for the default-cost hashes, whose `must_update` alone was asked.
    #[derive(Deserialize)]
    struct Check {
        encoded: String,
        password: Option<String>,
        preferred: HasherSpec,
        correct: Option<bool>,
        must_update: bool,
    }

    /// A hash Django refuses (or fails on) for the password that made it.
    #[derive(Deserialize)]
    struct Refused {
        name: String,
        encoded: String,
        password: String,
    }

    fn vectors() -> Vectors {
        let all: serde_json::Value = serde_json::from_str(include_str!(
            "../../actix-session-engines/tests/fixtures/django/vectors.json"
        ))
        .unwrap();
        serde_json::from_value(all["password_hashers"].clone()).unwrap()
    }

    #[test]
    fn djangos_defaults_and_alphabet_are_the_ones_here() {
        let vectors = vectors();
        let defaults: Vec<Hasher> = vectors.defaults.iter().map(HasherSpec::hasher).collect();

        assert_eq!(
            defaults,
            [Hasher::PBKDF2_SHA256, Hasher::ARGON2, Hasher::BCRYPT_SHA256]
        );
        assert_eq!(Hasher::django_default(), Hasher::PBKDF2_SHA256);
        assert_eq!(vectors.random_string_chars.as_bytes(), SALT_CHARS);
        assert_eq!(vectors.salt_length, SALT_LEN);
        assert_eq!(vectors.unusable_prefix, UNUSABLE_PASSWORD_PREFIX);
        assert_eq!(vectors.unusable_suffix_length, UNUSABLE_PASSWORD_SUFFIX_LEN);
    }

    #[test]
    fn a_cheap_hash_encoded_here_is_the_very_string_django_made_for_its_salt() {
        let vectors = vectors();
        let mut seen = 0;
        for encoding in vectors.encodings.iter().filter(|e| !e.default_cost) {
            let (Some(spec), Some(salt)) = (&encoding.hasher, &encoding.salt) else {
                continue;
            };

            let encoded = spec.hasher().encode_with_salt(&encoding.password, salt);

            assert_eq!(encoded.as_ref(), Ok(&encoding.encoded), "{}", encoding.name);
            seen += 1;
        }
        assert!(seen >= 15, "the fixtures hold hashes of every algorithm");
    }

    #[test]
    fn every_cheap_hash_django_made_or_reads_verifies_with_its_password_only() {
        let vectors = vectors();
        for encoding in vectors.encodings.iter().filter(|e| !e.default_cost) {
            assert!(
                verify(&encoding.password, &encoding.encoded),
                "{}",
                encoding.name
            );
            assert!(
                !verify(&format!("{}x", encoding.password), &encoding.encoded),
                "{}",
                encoding.name
            );
        }
    }

    /// The one test at Django's own work factors: about 6 s in the dev profile, 5 of them the
    /// million PBKDF2 iterations (generic code, compiled at this crate's opt-level), under 1 s
    /// in release.
    #[test]
    fn hashes_at_djangos_default_costs_verify_and_encode_as_django_encodes_them() {
        let vectors = vectors();
        let defaults: Vec<&Encoding> = vectors
            .encodings
            .iter()
            .filter(|e| e.default_cost)
            .collect();
        assert_eq!(defaults.len(), 3);
        for encoding in defaults {
            let started = Instant::now();
            let hasher = encoding.hasher.as_ref().unwrap().hasher();
            let salt = encoding.salt.as_deref().unwrap();

            let encoded = hasher.encode_with_salt(&encoding.password, salt).unwrap();

            assert_eq!(encoded, encoding.encoded, "{}", encoding.name);
            assert!(!must_update(&encoded, &hasher), "{}", encoding.name);
            eprintln!("{}: {:?}", encoding.name, started.elapsed());
        }
    }

    #[test]
    fn verify_and_must_update_agree_with_djangos_verify_password() {
        let vectors = vectors();
        for check in &vectors.checks {
            let preferred = check.preferred.hasher();
            let context = format!("{} preferring {preferred:?}", check.encoded);

            assert_eq!(
                must_update(&check.encoded, &preferred),
                check.must_update,
                "{context}"
            );
            if let (Some(password), Some(correct)) = (&check.password, check.correct) {
                assert_eq!(verify(password, &check.encoded), correct, "{context}");
            }
        }
    }

    #[test]
    fn what_django_refuses_does_not_verify() {
        let vectors = vectors();
        assert!(vectors.refused.len() > 30);
        for refused in &vectors.refused {
            assert!(
                !verify(&refused.password, &refused.encoded),
                "{}",
                refused.name
            );
        }
    }

    #[test]
    fn a_new_hash_is_djangos_shape_with_a_new_salt_and_verifies() {
        let cheap = [
            Hasher::Pbkdf2Sha256 { iterations: 1000 },
            Hasher::Argon2 {
                time_cost: 1,
                memory_cost_kib: 64,
                parallelism: 2,
            },
            Hasher::BcryptSha256 { rounds: 4 },
        ];
        for hasher in cheap {
            let (a, b) = (
                hasher.encode("pässwörd").unwrap(),
                hasher.encode("pässwörd").unwrap(),
            );

            assert_ne!(a, b, "{hasher:?}: a new salt each time");
            assert!(verify("pässwörd", &a) && !verify("passwörd", &a), "{a}");
            assert_eq!(algorithm_of(&a), Some(hasher.algorithm()));
            assert!(!must_update(&a, &hasher), "{a}");
        }
        let pbkdf2 = cheap[0].encode("pw").unwrap();
        let salt = pbkdf2.split('$').nth(2).unwrap();
        assert_eq!(salt.len(), SALT_LEN);
        assert!(salt.bytes().all(|b| SALT_CHARS.contains(&b)));
        assert!(
            cheap[1]
                .encode("pw")
                .unwrap()
                .starts_with("argon2$argon2id$v=19$m=64,t=1,p=2$")
        );
        assert!(
            cheap[2]
                .encode("pw")
                .unwrap()
                .starts_with("bcrypt_sha256$$2b$04$")
        );
    }

    #[test]
    fn an_unusable_password_never_verifies_and_needs_no_update() {
        let vectors = vectors();
        let djangos = &vectors
            .refused
            .iter()
            .find(|r| r.name == "unusable")
            .unwrap()
            .encoded;

        for unusable in [djangos.clone(), unusable_password()] {
            assert_eq!(unusable.len(), 1 + UNUSABLE_PASSWORD_SUFFIX_LEN);
            assert!(!is_usable(&unusable));
            assert_eq!(algorithm_of(&unusable), None);
            assert!(!verify("", &unusable));
            assert!(!must_update(&unusable, &Hasher::django_default()));
        }
        assert!(!verify("pw", "!pbkdf2_sha256$1000$salt$hash"));
    }

    #[test]
    fn hashers_are_found_by_djangos_names() {
        for (name, hasher) in [
            (
                "django.contrib.auth.hashers.PBKDF2PasswordHasher",
                Hasher::PBKDF2_SHA256,
            ),
            (
                "django.contrib.auth.hashers.Argon2PasswordHasher",
                Hasher::ARGON2,
            ),
            (
                "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
                Hasher::BCRYPT_SHA256,
            ),
        ] {
            assert_eq!(Hasher::from_django_path(name), Some(hasher));
            assert_eq!(Hasher::from_django_path(hasher.algorithm()), Some(hasher));
        }
        for unsupported in [
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.ScryptPasswordHasher",
            "django.contrib.auth.hashers.BCryptPasswordHasher",
            "PBKDF2PasswordHasher",
            "",
        ] {
            assert_eq!(Hasher::from_django_path(unsupported), None, "{unsupported}");
        }
    }

    #[test]
    fn the_algorithm_is_identified_as_django_identifies_it() {
        assert_eq!(algorithm_of("pbkdf2_sha256$1$s$h"), Some("pbkdf2_sha256"));
        assert_eq!(algorithm_of("scrypt$x"), Some("scrypt"));
        assert_eq!(algorithm_of(&"a".repeat(32)), Some("unsalted_md5"));
        assert_eq!(
            algorithm_of(&format!("md5$${}", "a".repeat(32))),
            Some("unsalted_md5")
        );
        assert_eq!(
            algorithm_of(&format!("sha1$${}", "a".repeat(40))),
            Some("unsalted_sha1")
        );
        assert_eq!(algorithm_of("nodollar"), Some("nodollar"));
        assert_eq!(algorithm_of(""), None);
        assert_eq!(algorithm_of("$x"), None);
        assert!(must_update("scrypt$x", &Hasher::django_default()));
    }

    #[test]
    fn work_factors_beyond_the_bounds_are_refused_at_once() {
        let vectors = vectors();
        let pbkdf2 = &vectors
            .encodings
            .iter()
            .find(|e| e.name == "pbkdf2_sha256, ascii")
            .unwrap();
        let argon2 = &vectors
            .encodings
            .iter()
            .find(|e| e.name == "argon2, ascii")
            .unwrap();
        let bcrypt = &vectors
            .encodings
            .iter()
            .find(|e| e.name == "bcrypt_sha256, ascii")
            .unwrap();
        // The counter counts: a hash within the bounds is computed, once.
        for encoding in [pbkdf2, argon2, bcrypt] {
            let before = hashings();
            assert!(
                verify(&encoding.password, &encoding.encoded),
                "{}",
                encoding.name
            );
            assert_eq!(hashings(), before + 1, "{}", encoding.name);
        }

        for (encoded, from, to) in [
            (&pbkdf2.encoded, "$1000$", "$100000001$"),
            (&pbkdf2.encoded, "$1000$", "$4294967295$"),
            (&pbkdf2.encoded, "$1000$", "$4294967296$"),
            (&argon2.encoded, "m=256", "m=4194305"),
            (&argon2.encoded, "m=256", "m=4294967295"),
            (&argon2.encoded, "t=1", "t=4294967295"),
            (&argon2.encoded, "m=256,t=1", "m=4194304,t=3"),
            (&argon2.encoded, "p=2", "p=16777216"),
            (&bcrypt.encoded, "$04$", "$19$"),
            (&bcrypt.encoded, "$04$", "$31$"),
            (&bcrypt.encoded, "$04$", "$99$"),
        ] {
            let encoded = encoded.replacen(from, to, 1);
            let before = hashings();
            // Refused from its parameters alone, before any hashing starts.
            let verified = without_hashing(|| verify("correct horse battery staple", &encoded));
            assert!(!verified, "{encoded}");
            assert_eq!(hashings(), before, "{encoded} was hashed");
        }

        for hasher in [
            Hasher::Pbkdf2Sha256 { iterations: 0 },
            Hasher::Pbkdf2Sha256 {
                iterations: MAX_PBKDF2_ITERATIONS + 1,
            },
            Hasher::Argon2 {
                time_cost: 0,
                memory_cost_kib: 64,
                parallelism: 1,
            },
            Hasher::Argon2 {
                time_cost: 1,
                memory_cost_kib: 64,
                parallelism: 9,
            },
            Hasher::Argon2 {
                time_cost: 1,
                memory_cost_kib: MAX_ARGON2_MEMORY_KIB + 1,
                parallelism: 1,
            },
            Hasher::Argon2 {
                time_cost: 3,
                memory_cost_kib: MAX_ARGON2_MEMORY_KIB,
                parallelism: 1,
            },
            Hasher::BcryptSha256 { rounds: 3 },
            Hasher::BcryptSha256 {
                rounds: MAX_BCRYPT_ROUNDS + 1,
            },
        ] {
            assert!(
                matches!(hasher.validate(), Err(HashError::Parameters { .. })),
                "{hasher:?}"
            );
            let before = hashings();
            assert!(
                without_hashing(|| hasher.encode("pw")).is_err(),
                "{hasher:?}"
            );
            assert_eq!(hashings(), before, "{hasher:?} hashed");
        }
        for hasher in [Hasher::PBKDF2_SHA256, Hasher::ARGON2, Hasher::BCRYPT_SHA256] {
            assert_eq!(hasher.validate(), Ok(()));
        }
    }

    #[test]
    fn salts_the_algorithm_cannot_take_are_refused() {
        let pbkdf2 = Hasher::Pbkdf2Sha256 { iterations: 1 };
        let argon2 = Hasher::Argon2 {
            time_cost: 1,
            memory_cost_kib: 8,
            parallelism: 1,
        };
        let bcrypt = Hasher::BcryptSha256 { rounds: 4 };

        for (hasher, salt) in [
            (pbkdf2, ""),
            (pbkdf2, "a$b"),
            (argon2, "7 bytes"),
            (bcrypt, "short"),
            (bcrypt, "aaaaaaaaaaaaaaaaaaaaaa"),
            (bcrypt, "aaaaaaaaaaaaaaaaaaaaa!"),
        ] {
            assert!(
                matches!(
                    hasher.encode_with_salt("pw", salt),
                    Err(HashError::Salt { .. })
                ),
                "{hasher:?} {salt:?}"
            );
        }
        assert!(argon2.encode_with_salt("pw", "a$b$c$d$").is_ok());
        assert!(
            bcrypt
                .encode_with_salt("pw", "aaaaaaaaaaaaaaaaaaaaa.")
                .is_ok()
        );
    }

    #[test]
    fn no_input_panics() {
        let samples = [
            "",
            "$",
            "$$$$$$$$",
            "pbkdf2_sha256",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$1",
            "pbkdf2_sha256$1$",
            "pbkdf2_sha256$1$$",
            "pbkdf2_sha256$é$s$h",
            "argon2",
            "argon2$",
            "argon2$argon2id",
            "argon2$argon2id$",
            "argon2$argon2id$v=",
            "argon2$argon2id$v=19$m=,t=,p=$$",
            "argon2$argon2id$v=19$m=8,t=1,p=1$$",
            "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",
            "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "argon2$argon2id$v=4294967296$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhh",
            "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhh",
            "bcrypt_sha256",
            "bcrypt_sha256$$",
            "bcrypt_sha256$$2b",
            "bcrypt_sha256$$2b$",
            "bcrypt_sha256$$2b$1",
            "bcrypt_sha256$$2b$12",
            "bcrypt_sha256$$2b$12$",
            "bcrypt_sha256$$2b$é2$",
            "bcrypt_sha256$$2é$12$",
            "bcrypt_sha256$$2b$12$ééééééééééééééééééééééééé",
        ];
        for encoded in samples {
            for preferred in [Hasher::PBKDF2_SHA256, Hasher::ARGON2, Hasher::BCRYPT_SHA256] {
                let _ = must_update(encoded, &preferred);
            }
            assert!(!verify("pw", encoded), "{encoded}");
            let _ = algorithm_of(encoded);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_text_after_an_algorithm_name_is_refused_never_a_panic(
            algorithm in proptest::sample::select(vec![
                "", "pbkdf2_sha256$", "argon2$argon2id$v=19$", "argon2$argon2d$", "bcrypt_sha256$$2b$",
            ]),
            rest: String,
        ) {
            let encoded = format!("{algorithm}{rest}");

            proptest::prop_assert!(!verify("pw", &encoded));
            for preferred in [Hasher::PBKDF2_SHA256, Hasher::ARGON2, Hasher::BCRYPT_SHA256] {
                let _ = must_update(&encoded, &preferred);
            }
        }

        // Not bcrypt: its prefix is not part of the hash (2a and 2b verify alike, in Django
        // too), and a changed cost could ask for seconds of work.
        #[test]
        fn a_cheap_hash_with_any_byte_changed_is_refused(
            name in proptest::sample::select(vec!["pbkdf2_sha256, ascii", "argon2, ascii"]),
            position: proptest::sample::Index,
            byte in 0u8..128,
        ) {
            let vectors = vectors();
            let encoding = vectors.encodings.iter().find(|e| e.name == name).unwrap();
            let mut bytes = encoding.encoded.clone().into_bytes();
            let at = position.index(bytes.len());
            proptest::prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            let tampered = String::from_utf8_lossy(&bytes);

            proptest::prop_assert!(!verify(&encoding.password, &tampered), "{}", tampered);
        }
    }

    #[test]
    fn the_salt_fixture_is_one_django_could_make() {
        let vectors = vectors();
        assert_eq!(vectors.salt.len(), SALT_LEN);
        assert!(vectors.salt.bytes().all(|b| SALT_CHARS.contains(&b)));
    }
}

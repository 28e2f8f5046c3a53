//! Members and their accounts: the membership rules (usernames, passwords) and signing up;
//! which member a session is logged in as (checked on every request that acts as them,
//! [`Accounts::refresh_login`]); upgrading a password hash at login, changing the password,
//! staff status, listing and ending sessions, deleting the account. Shared by the pages and
//! the command line.
//!
//! Every "log the others out" is structural: it bumps the member's session generation in the
//! same conditional `UPDATE` that makes the change, so every session holding an older session
//! auth hash is logged out at its next request, on every engine, whatever the index of
//! sessions says. Ending the sessions on the server as well frees their storage and keeps
//! "your sessions" truthful.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::{
    DomainError,
    hold::{Hold, HoldPoint},
};
pub use crate::db::models::Member;
use crate::{
    changes::CurrentMembers,
    db::{
        Database, comments,
        django_users::{self, Found},
        members::{self, Expected},
    },
    security::{
        passwords::Passwords,
        session_auth::{AuthCheck, SessionAuth},
    },
    sessions::{
        Backend, SessionEngine, VisitorSession,
        fields::{self, AUTH_USER_HASH, SESSION_INFO, SessionInfo},
    },
};

/// The username rule, as the sign-up form's hint and every refusal state it.
pub const USERNAME_RULE: &str = "Usernames are 3 to 32 characters: letters, digits, _ and -.";
pub const USERNAME_TOO_SHORT: &str =
    "That username is too short. Usernames are 3 to 32 characters: letters, digits, _ and -.";
pub const USERNAME_TOO_LONG: &str = "That username is too long, so no account was made (nothing \
    was cut short). Usernames are 3 to 32 characters: letters, digits, _ and -.";
pub const USERNAME_CHARACTERS: &str = "That username has a space or another character that is \
    not allowed. Usernames are 3 to 32 characters: letters, digits, _ and -.";
pub const PASSWORD_RULE: &str = "Passwords are 8 to 1024 characters long.";
/// The longest password a member can have, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const USERNAME_TAKEN: &str = "That username is taken.";

/// Why a member could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The username or password breaks a rule, or the name is taken: say so and let them retry.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Failed(#[from] DomainError),
}

/// # Errors
/// Which part of the rule (3–32 ASCII letters, digits, `_` or `-`) `username` breaks, each
/// refusal stating the whole rule.
pub fn validate_username(username: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !username.chars().all(allowed) {
        Err(USERNAME_CHARACTERS)
    } else if username.len() < 3 {
        Err(USERNAME_TOO_SHORT)
    } else if username.len() > 32 {
        Err(USERNAME_TOO_LONG)
    } else {
        Ok(())
    }
}

/// # Errors
/// [`PASSWORD_RULE`] when `password` is not 8–1024 characters.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    if (8..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(PASSWORD_RULE)
    }
}

/// What became of a request to make a member staff, or no longer staff.
#[derive(Debug)]
pub enum StaffChange {
    /// Their status changed; the member as they are now.
    Changed(Member),
    /// They already had that status.
    Unchanged(Member),
    /// No member has that username.
    NoSuchMember,
}

/// What became of a password change.
#[derive(Debug)]
pub enum PasswordChange {
    /// Changed; every other session is logged out. The member as they are now.
    Changed(Member),
    /// The new password breaks the rule.
    Invalid(&'static str),
    /// The current password given was wrong.
    WrongCurrentPassword,
    /// The member's credentials changed meanwhile (another session changed the password or
    /// logged everyone out): this session no longer counts, and nothing was changed.
    ChangedMeanwhile,
}

pub const WRONG_CURRENT_PASSWORD: &str = "Your current password is wrong.";
pub const CHANGED_MEANWHILE: &str =
    "Your account was changed from another session meanwhile. Please log in again.";

/// What "log out everywhere else" did.
#[derive(Debug, PartialEq, Eq)]
pub enum OthersLoggedOut {
    /// Every other session is logged out, on every engine.
    All,
    /// Beside a Django site (`DJANGO_COMPAT`): the sessions this site wrote are ended on the
    /// server. Django's session auth hash has no generation to bump, so the sessions logged in
    /// only on the Django site, and signed-cookie sessions, end only with a password change.
    OnlyThoseThisSiteWrote,
    /// The member's credentials changed meanwhile: nothing was done, and the session asking no
    /// longer counts.
    ChangedMeanwhile,
}

/// One of a member's sessions, as "your sessions" lists it.
#[derive(Clone, Debug)]
pub struct MemberSession {
    pub key: String,
    pub info: SessionInfo,
}

/// What became of a request to end one session.
#[derive(Debug, PartialEq, Eq)]
pub enum EndSession {
    Ended,
    /// No logged-in session of the member has that id (already ended, or never theirs).
    NotFound,
    /// That is the session asking: logging out is the way to end it.
    IsCurrent,
    /// The engine keeps sessions in the browser (signed cookies): the server cannot find one
    /// to end; logging out every other session is the way.
    CannotEndOne,
}

/// Django's tables as `guestbook check` reports them (`DJANGO_COMPAT`).
#[derive(Debug)]
pub struct DjangoTables {
    /// The tables of Django's this site uses.
    pub used: Vec<&'static str>,
    /// Those the database lacks: Django's `migrate` has not run on it.
    pub missing: Vec<&'static str>,
    /// Members of this site's own in `members` (not Django users' mirrors), whose ids Django's
    /// users would take over: such a database cannot be shared.
    pub own_members: i64,
}

impl DjangoTables {
    /// What stops sharing this database with Django, if anything.
    pub fn problem(&self) -> Option<String> {
        if !self.missing.is_empty() {
            return Some(format!(
                "the database has no {} (run the Django site's manage.py migrate on it first: \
                 Django's migrations make Django's tables)",
                self.missing.join(", ")
            ));
        }
        (self.own_members > 0).then(|| {
            format!(
                "the database holds {} member(s) of this site's own; beside a Django site members \
                 are Django's users, and Django's ids would take over theirs (and their comments)",
                self.own_members
            )
        })
    }
}

/// The pieces account actions need; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    db: Database,
    /// Members' rows for the per-request auth check, from memory while they are current.
    members: CurrentMembers,
    passwords: Passwords,
    engine: SessionEngine,
    auth: SessionAuth,
    /// `DJANGO_COMPAT`: members are a Django site's users (`auth_user`, see
    /// `db::django_users`), not rows of `members`.
    django: bool,
    /// Where a password change, "log out everywhere else" and an account deletion have read
    /// the member and not yet made their conditional write: the race tests hold them here.
    credential_writes: HoldPoint,
}

impl Accounts {
    pub fn new(
        db: Database,
        members: CurrentMembers,
        passwords: Passwords,
        engine: SessionEngine,
        auth: SessionAuth,
        django: bool,
    ) -> Self {
        Self {
            db,
            members,
            passwords,
            engine,
            auth,
            django,
            credential_writes: HoldPoint::default(),
        }
    }

    /// Holds every credential change (password, session generation, deletion) after it has
    /// read the member and before its conditional write, until the hold is released: for
    /// tests that pin what two overlapping changes do.
    pub fn hold_credential_writes(&self) -> Hold {
        self.credential_writes.hold()
    }

    /// The member these credentials are right for: exactly one password verification whether
    /// the username exists or not, and none for a password longer than any member has.
    ///
    /// # Errors
    /// When the database does not answer or the hashing threads are too busy.
    pub async fn authenticate(
        &self,
        username: &str,
        password: String,
    ) -> Result<Option<Member>, DomainError> {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Ok(None);
        }
        let (member, active) = self.account_named(username).await?;
        let stored_hash = member.as_ref().map(|m| m.password_hash.clone());
        let verified = self.passwords.verify(password, stored_hash).await?;
        let Some(member) = member.filter(|_| verified && active) else {
            return Ok(None);
        };
        if !self.django {
            return Ok(Some(member));
        }
        // A Django user's first login here gives them a mirror for their comments to point at.
        Ok(Some(
            self.db
                .write(move |conn| django_users::mirror(conn, member))
                .await?,
        ))
    }

    /// The account called `username` (in any case here; exactly, as Django looks it up, in
    /// `auth_user`) and whether it may log in (Django's inactive users may not).
    async fn account_named(&self, username: &str) -> Result<(Option<Member>, bool), DomainError> {
        if !self.django {
            let username = username.trim().to_owned();
            let member = self
                .db
                .read(move |conn| members::find_by_username(conn, &username))
                .await?;
            return Ok((member, true));
        }
        let username = username.trim().to_owned();
        let found = self
            .db
            .read(move |conn| django_users::find_by_username(conn, &username))
            .await?;
        Ok(match found {
            Some(Found::Active(member)) => (Some(member), true),
            Some(Found::Inactive(member)) => (Some(member), false),
            None => (None, false),
        })
    }

    /// Validates, hashes (off the async workers) and stores a new member (staff with
    /// `is_staff`): signing up, and `guestbook createmember`.
    ///
    /// # Errors
    /// [`SignupError::Invalid`] for a broken rule or a taken name (in any case);
    /// [`SignupError::Failed`] when the database or hashing fails.
    pub async fn create_member(
        &self,
        username: String,
        password: String,
        is_staff: bool,
    ) -> Result<Member, SignupError> {
        validate_username(&username).map_err(SignupError::Invalid)?;
        validate_password(&password).map_err(SignupError::Invalid)?;
        let hash = self
            .passwords
            .hash(password)
            .await
            .map_err(DomainError::from)?;
        let django = self.django;
        let created = self
            .db
            .write(move |conn| {
                if django {
                    django_users::create(conn, &username, &hash, is_staff)
                } else {
                    members::create(conn, &username, &hash, is_staff)
                }
            })
            .await
            .map_err(DomainError::from)?;
        created.ok_or(SignupError::Invalid(USERNAME_TAKEN))
    }

    /// Makes the member called `username` (in any case) staff, or with `staff` false no longer
    /// staff, from their next request on (staff status is read on every request).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn set_staff(&self, username: &str, staff: bool) -> Result<StaffChange, DomainError> {
        if self.django {
            let Some(member) = self.account_named(username).await?.0 else {
                return Ok(StaffChange::NoSuchMember);
            };
            if member.is_staff == staff {
                return Ok(StaffChange::Unchanged(member));
            }
            let id = member.id;
            self.db
                .write(move |conn| django_users::set_staff(conn, id, staff))
                .await?;
            return Ok(StaffChange::Changed(Member {
                is_staff: staff,
                ..member
            }));
        }
        let name = username.to_owned();
        Ok(self
            .db
            .write(move |conn| {
                let Some(member) = members::find_by_username(conn, &name)? else {
                    return Ok(StaffChange::NoSuchMember);
                };
                if member.is_staff == staff {
                    return Ok(StaffChange::Unchanged(member));
                }
                Ok(match members::set_staff(conn, &name, staff)? {
                    Some(member) => StaffChange::Changed(member),
                    None => StaffChange::NoSuchMember,
                })
            })
            .await?)
    }

    /// With `DJANGO_COMPAT`, the tables of Django's this site uses, and which of them the
    /// database lacks (Django's `migrate` has not run on it); `None` without it. Blocking: for
    /// start-up and the command line.
    ///
    /// # Errors
    /// When the database does not answer.
    pub fn django_tables(&self) -> Result<Option<DjangoTables>, DomainError> {
        if !self.django {
            return Ok(None);
        }
        let db_sessions = matches!(
            &self.engine,
            SessionEngine::ServerSide {
                backend: Backend::DjangoDb(_),
                ..
            }
        );
        let mut conn = self.db.get()?;
        Ok(Some(DjangoTables {
            used: django_users::django_tables(db_sessions),
            missing: django_users::missing_django_tables(&mut conn, db_sessions)?,
            own_members: django_users::own_members(&mut conn)?,
        }))
    }

    /// The member called `username` (in any case; exactly, as Django looks it up, beside a
    /// Django site), for the command line.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn member_named(&self, username: &str) -> Result<Option<Member>, DomainError> {
        Ok(self.account_named(username).await?.0)
    }

    /// Whether `password` is `member`'s (on the hashing threads).
    ///
    /// # Errors
    /// When the hashing threads are too busy.
    pub async fn verify_password(
        &self,
        member: &Member,
        password: String,
    ) -> Result<bool, DomainError> {
        Ok(self
            .passwords
            .verify(password, Some(member.password_hash.clone()))
            .await?)
    }

    /// Logs `member` in with `session` (see [`VisitorSession::log_in`]), stamped with the
    /// session auth hash of their credentials. A visitor whose comment is stored but whose
    /// session forgot it (lost with the session cookie; the browser's visitor id stays) has it
    /// again: the comment is theirs, and a second one is refused. Best effort: a login never
    /// fails for it (the database refuses a second comment of the visitor's anyway).
    pub async fn log_in(&self, session: &VisitorSession, member: &Member, remember: bool) {
        session.log_in(member.id, self.auth.hash_for(member), remember);
        if session.has_commented() {
            return;
        }
        let visitor_id = session.visitor_id();
        let found = self
            .db
            .read(move |conn| comments::visitor_has_commented(conn, &visitor_id))
            .await;
        match found {
            Ok(true) => session.mark_commented(),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "whether the visitor commented is unknown"),
        }
    }

    /// The member `session` is logged in as, checked against their credentials now, and the
    /// session brought up to date with them (this writes to the session): a session whose auth
    /// hash still matches is noted as seen (and restamped when the hash was carried over from
    /// a password-hash upgrade); one whose hash no longer matches (password changed, logged
    /// out everywhere, member deleted) is logged out, here, and `None` comes back.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn refresh_login(
        &self,
        session: &VisitorSession,
    ) -> Result<Option<Member>, DomainError> {
        let Some(id) = session.claimed_member_id() else {
            return Ok(None);
        };
        let row = if self.django {
            // Read on every request, as Django's `get_user` does: the Django site changes
            // `auth_user` without moving this site's change counters.
            self.django_user(id).await?
        } else {
            self.members.find(id).await?
        };
        Ok(self.refresh_login_with_row(session, row))
    }

    /// Active Django user `id`, their mirror brought up to date when it differs.
    async fn django_user(&self, id: i64) -> Result<Option<Member>, DomainError> {
        let found = self
            .db
            .read(move |conn| django_users::find_active(conn, id))
            .await?;
        match found {
            Some((member, true)) => Ok(Some(
                self.db
                    .write(move |conn| django_users::mirror(conn, member))
                    .await?,
            )),
            Some((member, false)) => Ok(Some(member)),
            None => Ok(None),
        }
    }

    /// [`Accounts::refresh_login`] with the member's row as read (`None` when there is no such
    /// member).
    fn refresh_login_with_row(
        &self,
        session: &VisitorSession,
        row: Option<Member>,
    ) -> Option<Member> {
        let claimed = session.claimed_member_id()?;
        let member = row.filter(|member| member.id == claimed);
        let check = member.as_ref().map_or(AuthCheck::Invalid, |member| {
            self.auth.check(session.auth_hash().as_deref(), member)
        });
        match (check, member) {
            (AuthCheck::Current, Some(member)) => {
                session.note_seen();
                Some(member)
            }
            (AuthCheck::Outdated, Some(member)) => {
                if self.django {
                    // Django's `get_user()` cycles the key when only a fallback key verifies.
                    session.rotate_key();
                }
                session.restamp(self.auth.hash_for(&member));
                session.note_seen();
                Some(member)
            }
            _ => {
                tracing::info!("a session's member changed credentials or left; it is logged out");
                session.log_out();
                None
            }
        }
    }

    /// After a successful login with `password`: when the stored hash was made with other costs
    /// than `PASSWORD_ARGON2_*` now ask for, hashes it again (Django's `must_update`). The
    /// member's other sessions stay logged in (their auth hash is carried over). Best effort: a
    /// login never fails for it.
    pub async fn upgrade_password_hash(&self, member: Member, password: String) -> Member {
        if !self.passwords.needs_rehash(&member.password_hash) {
            return member;
        }
        let new_hash = match self.passwords.hash(password).await {
            Ok(hash) => hash,
            Err(err) => {
                tracing::warn!(error = %err, "password hash not upgraded this time");
                return member;
            }
        };
        let carried = self.auth.hash_for(&member);
        let (id, expected) = (member.id, Expected::from(&member));
        let (stored_hash, stored_carried) = (new_hash.clone(), carried.clone());
        let django = self.django;
        let applied = self
            .db
            .write(move |conn| {
                if django {
                    // As Django's `check_password` setter: the new hash replaces the old, and
                    // Django's session auth hash changes with it (Django keeps nothing carried).
                    django_users::set_password(conn, id, &expected.password_hash, &stored_hash)
                } else {
                    members::rehash_password(conn, id, &expected, &stored_hash, &stored_carried)
                }
            })
            .await;
        match applied {
            Ok(true) => {
                tracing::info!(member = id, "password hash upgraded to the current costs");
                Member {
                    password_hash: new_hash,
                    carried_session_hash: (!self.django).then_some(carried),
                    ..member
                }
            }
            Ok(false) => member,
            Err(err) => {
                tracing::warn!(error = %err, "password hash not upgraded this time");
                member
            }
        }
    }

    /// Changes `member`'s password to `new_password`, after checking `current_password` (the
    /// command line, run by the operator, gives none). The session that asked (`session`) stays
    /// logged in under a new key; every other one is logged out.
    ///
    /// # Errors
    /// When the database, the session storage or the hashing threads do not answer.
    pub async fn change_password(
        &self,
        member: &Member,
        current_password: Option<String>,
        new_password: String,
        session: Option<&VisitorSession>,
    ) -> Result<PasswordChange, DomainError> {
        if let Err(rule) = validate_password(&new_password) {
            return Ok(PasswordChange::Invalid(rule));
        }
        if let Some(current_password) = current_password
            && !self.verify_password(member, current_password).await?
        {
            return Ok(PasswordChange::WrongCurrentPassword);
        }
        let new_hash = self.passwords.hash(new_password).await?;
        let (id, expected, stored_hash) = (member.id, Expected::from(member), new_hash.clone());
        let django = self.django;
        self.credential_writes.pass().await;
        let applied = self
            .db
            .write(move |conn| {
                if django {
                    django_users::set_password(conn, id, &expected.password_hash, &stored_hash)
                } else {
                    members::change_password(conn, id, &expected, &stored_hash)
                }
            })
            .await?;
        if !applied {
            return Ok(PasswordChange::ChangedMeanwhile);
        }
        let changed = Member {
            password_hash: new_hash,
            session_generation: member.session_generation + u8::from(!self.django) as i64,
            carried_session_hash: None,
            ..member.clone()
        };
        let keep = session.and_then(VisitorSession::key);
        if let Some(session) = session {
            session.rotate_key();
            session.restamp(self.auth.hash_for(&changed));
        }
        self.end_sessions_except(member.id, keep.as_deref()).await;
        Ok(PasswordChange::Changed(changed))
    }

    /// Logs every session of `member` out but `session` (all of them from the command line):
    /// bumps the session generation, which works on every engine, and ends the sessions on the
    /// server where the engine keeps them. Beside a Django site only the second is possible
    /// (see [`OthersLoggedOut::OnlyThoseThisSiteWrote`]).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn log_out_other_sessions(
        &self,
        member: &Member,
        session: Option<&VisitorSession>,
    ) -> Result<OthersLoggedOut, DomainError> {
        if self.django {
            // Django's session auth hash has no generation to bump: the sessions this site
            // indexed are ended on the server; changing the password ends every other one.
            let keep = session.and_then(VisitorSession::key);
            self.end_sessions_except(member.id, keep.as_deref()).await;
            return Ok(OthersLoggedOut::OnlyThoseThisSiteWrote);
        }
        let (id, expected) = (member.id, Expected::from(member));
        self.credential_writes.pass().await;
        let bumped = self
            .db
            .write(move |conn| members::bump_session_generation(conn, id, &expected))
            .await?;
        if !bumped {
            return Ok(OthersLoggedOut::ChangedMeanwhile);
        }
        let bumped = Member {
            session_generation: member.session_generation + 1,
            carried_session_hash: None,
            ..member.clone()
        };
        let keep = session.and_then(VisitorSession::key);
        if let Some(session) = session {
            session.restamp(self.auth.hash_for(&bumped));
        }
        self.end_sessions_except(member.id, keep.as_deref()).await;
        Ok(OthersLoggedOut::All)
    }

    /// `member`'s logged-in sessions, most recently used first: those stored with their id whose
    /// auth hash still matches. `None` where the engine cannot list sessions (signed cookies).
    ///
    /// # Errors
    /// When the session storage does not answer.
    pub async fn sessions_of(
        &self,
        member: &Member,
    ) -> Result<Option<Vec<MemberSession>>, DomainError> {
        let Some(stored) = self.engine.sessions_of(member.id).await? else {
            return Ok(None);
        };
        let mut sessions: Vec<MemberSession> = stored
            .into_iter()
            .filter(|stored| {
                let hash: Option<String> = fields::read(&stored.state, AUTH_USER_HASH);
                self.auth.check(hash.as_deref(), member) != AuthCheck::Invalid
            })
            .map(|stored| {
                let info = fields::read(&stored.state, SESSION_INFO)
                    .unwrap_or_else(|| unrecorded_info(&stored.key));
                MemberSession {
                    key: stored.key,
                    info,
                }
            })
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.info.last_seen_at));
        Ok(Some(sessions))
    }

    /// Ends the session of `member` whose id is `session_id`, unless it is `current_key`'s.
    ///
    /// # Errors
    /// When the session storage does not answer.
    pub async fn end_session(
        &self,
        member: &Member,
        session_id: &str,
        current_key: Option<&str>,
    ) -> Result<EndSession, DomainError> {
        let Some(sessions) = self.sessions_of(member).await? else {
            return Ok(EndSession::CannotEndOne);
        };
        let Some(found) = sessions.into_iter().find(|s| s.info.id == session_id) else {
            return Ok(EndSession::NotFound);
        };
        if Some(found.key.as_str()) == current_key {
            return Ok(EndSession::IsCurrent);
        }
        self.engine.end_sessions(member.id, &[found.key]).await?;
        Ok(EndSession::Ended)
    }

    /// Deletes `member` and their sessions; their comments stay, shown as by a former member.
    /// `false` when their credentials changed meanwhile (nothing was deleted).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn delete_account(
        &self,
        member: &Member,
        session: Option<&VisitorSession>,
    ) -> Result<bool, DomainError> {
        let (id, expected) = (member.id, Expected::from(member));
        let django = self.django;
        self.credential_writes.pass().await;
        let Some(ended_rows) = self
            .db
            .write(move |conn| {
                if django {
                    django_users::delete(conn, id, &expected.password_hash)
                } else {
                    members::delete(conn, id, &expected)
                }
            })
            .await?
        else {
            return Ok(false);
        };
        // Every session of theirs is anonymous from now on (no member to match); these go too:
        // the rows the deletion removed from a cache in front of the database (cached_db), and
        // the sessions of engines whose index is not the database (cache, file).
        if let Some(session) = session {
            session.log_out();
        }
        if let Err(err) = self.engine.end_sessions(id, &ended_rows).await {
            tracing::warn!(error = %err, "account deleted but its sessions not removed from the cache");
        }
        self.end_sessions_except(id, None).await;
        Ok(true)
    }

    /// Ends `member`'s sessions on the server but `keep`. Best effort: the generation bump or the
    /// deletion that came first has already logged them out, so a storage failure here only
    /// leaves sessions to expire.
    async fn end_sessions_except(&self, member: i64, keep: Option<&str>) {
        let ended = async {
            let Some(stored) = self.engine.sessions_of(member).await? else {
                return Ok(());
            };
            let keys: Vec<String> = stored
                .into_iter()
                .map(|stored| stored.key)
                .filter(|key| Some(key.as_str()) != keep)
                .collect();
            self.engine.end_sessions(member, &keys).await
        };
        if let Err(err) = ended.await {
            tracing::warn!(error = %err, "sessions logged out but not removed from storage");
        }
    }
}

/// A session logged in before sessions recorded what "your sessions" shows: named by a digest
/// of its key (never the key itself).
fn unrecorded_info(key: &str) -> SessionInfo {
    let digest = Sha256::digest(key.as_bytes());
    SessionInfo {
        id: URL_SAFE_NO_PAD.encode(&digest[..12]),
        logged_in_at: 0,
        last_seen_at: 0,
        device: "Not recorded".into(),
        address: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        for ok in ["abc", "Alice_99", "a-b", &"x".repeat(32)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "",
            "with space",
            "émile",
            &"x".repeat(33),
            "semi;colon",
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"é".repeat(1024)).is_ok());
        assert!(validate_password(&"é".repeat(1025)).is_err());
    }
}

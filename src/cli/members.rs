//! `guestbook createmember`, `setstaff`, `changepassword` and `sessions`: members and their
//! accounts, from the operator's terminal.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use crate::{
    domain::accounts::{Member, OthersLoggedOut, PasswordChange, SignupError, StaffChange},
    state::AppState,
};

/// `guestbook createmember`: a member (staff with `staff`), with a password asked for
/// without echo, or read from standard input with `password_stdin`.
///
/// # Errors
/// The rule the username or password breaks, a taken name, or a failure below.
pub async fn create_member(
    state: &AppState,
    username: String,
    staff: bool,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let password = read_password(password_stdin)?;
    match state
        .accounts
        .create_member(username, password, staff)
        .await
    {
        Ok(member) => println!(
            "Created {}member {} (id {}).",
            if member.is_staff { "staff " } else { "" },
            member.username,
            member.id
        ),
        Err(SignupError::Invalid(reason)) => bail!(reason),
        Err(SignupError::Failed(err)) => {
            return Err(err).context("the member could not be created");
        }
    }
    Ok(())
}

/// `guestbook setstaff`: says what became of `username`'s staff status.
///
/// # Errors
/// When no member is called `username`, or the database fails.
pub async fn set_staff(state: &AppState, username: &str, staff: bool) -> anyhow::Result<()> {
    let change = state
        .accounts
        .set_staff(username, staff)
        .await
        .context("staff status not changed")?;
    let (member, changed) = match change {
        StaffChange::Changed(member) => (member, true),
        StaffChange::Unchanged(member) => (member, false),
        StaffChange::NoSuchMember => bail!("no member is called {username:?}"),
    };
    let name = member.username;
    println!(
        "{}",
        match (member.is_staff, changed) {
            (true, true) => format!("{name} is staff now."),
            (true, false) => format!("{name} is already staff."),
            (false, true) => format!("{name} is no longer staff."),
            (false, false) => format!("{name} is not staff (nothing to change)."),
        }
    );
    Ok(())
}

/// `guestbook changepassword`: sets `username`'s password; every session of theirs is
/// logged out.
///
/// # Errors
/// When no member is called `username`, the password breaks the rule, the account changed
/// meanwhile, or a failure below.
pub async fn change_password(
    state: &AppState,
    username: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let member = find_member(state, username).await?;
    let password = read_password(password_stdin)?;
    let outcome = state
        .accounts
        .change_password(&member, None, password, None)
        .await
        .context("the password was not changed")?;
    match outcome {
        PasswordChange::Changed(_) => println!(
            "Changed the password of {}; every session of theirs is logged out.",
            member.username
        ),
        PasswordChange::Invalid(rule) => bail!(rule),
        PasswordChange::WrongCurrentPassword | PasswordChange::ChangedMeanwhile => {
            bail!("the member's account changed meanwhile: run the command again")
        }
    }
    Ok(())
}

/// `guestbook sessions`: lists `username`'s logged-in sessions, or with `revoke_all` logs
/// them all out, on every engine.
///
/// # Errors
/// When no member is called `username`, the account changed meanwhile, or a failure below.
pub async fn sessions(state: &AppState, username: &str, revoke_all: bool) -> anyhow::Result<()> {
    let member = find_member(state, username).await?;
    let accounts = &state.accounts;
    if revoke_all {
        let done = accounts
            .log_out_other_sessions(&member, None)
            .await
            .context("the sessions were not logged out")?;
        match done {
            OthersLoggedOut::All => {
                println!("Logged out every session of {}.", member.username);
                return Ok(());
            }
            OthersLoggedOut::ChangedMeanwhile => {
                bail!("the member's account changed meanwhile: run the command again")
            }
            // Not what was asked: a script must notice.
            OthersLoggedOut::OnlyThoseThisSiteWrote => bail!(
                "ended the sessions of {name} this site wrote; those logged in on the Django \
                 site, or kept in signed cookies, end only with a new password: run guestbook \
                 changepassword {name}",
                name = member.username
            ),
        }
    }
    let sessions = accounts
        .sessions_of(&member)
        .await
        .context("the sessions could not be listed")?;
    let Some(sessions) = sessions else {
        println!(
            "Sessions are signed cookies, kept by each browser: they cannot be listed. \
             --revoke-all logs them all out."
        );
        return Ok(());
    };
    if sessions.is_empty() {
        println!("{} has no logged-in session.", member.username);
    }
    for session in sessions {
        let info = session.info;
        println!(
            "{}  {}  from {}  logged in {}  last seen {}",
            info.id,
            info.device,
            info.address.as_deref().unwrap_or("unknown"),
            unix_time(info.logged_in_at),
            unix_time(info.last_seen_at),
        );
    }
    Ok(())
}

async fn find_member(state: &AppState, username: &str) -> anyhow::Result<Member> {
    state
        .accounts
        .member_named(username)
        .await
        .context("the member could not be looked up")?
        .with_context(|| format!("no member is called {username:?}"))
}

/// Unix seconds as `2026-11-26 14:05 UTC`.
fn unix_time(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "standard input is not a terminal: pass --password-stdin to read the password from it"
        );
    }
    let password = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if password != again {
        bail!("the passwords did not match");
    }
    Ok(password)
}

//! `guestbook comments`: the moderation list on a terminal, and hiding, showing or deleting a
//! comment as the operator.

use anyhow::{Context, bail};
use time::PrimitiveDateTime;

use crate::{
    domain::moderation::{Action, ListedComment, Moderated, Moderator, visitor_tag},
    state::AppState,
};

/// `guestbook comments`: the newest `limit` comments (only hidden ones with `hidden_only`)
/// as an aligned table under a header, or a line saying there are none.
///
/// # Errors
/// When the database fails.
pub async fn list_comments(state: &AppState, hidden_only: bool, limit: u32) -> anyhow::Result<()> {
    let listed = state
        .moderation
        .list(hidden_only, limit)
        .await
        .context("the comments could not be listed")?;
    if listed.is_empty() {
        println!(
            "{}",
            if hidden_only {
                "No hidden comments."
            } else {
                "No comments."
            }
        );
    } else {
        print!("{}", comment_table(&listed));
    }
    Ok(())
}

/// The characters of a comment's text the list shows.
const EXCERPT_CHARS: usize = 60;

/// The list of comments as text: a header, then a line per comment, columns aligned.
fn comment_table(listed: &[ListedComment]) -> String {
    let header = ["ID", "AUTHOR", "VISITOR", "POSTED", "FLAGS", "TEXT"].map(String::from);
    let rows: Vec<[String; 6]> = listed
        .iter()
        .map(|comment| {
            let author = match (&comment.author, comment.by_former_member) {
                (Some(username), _) => one_line(username, usize::MAX),
                (None, true) => "a former member".to_owned(),
                (None, false) => "Anonymous".to_owned(),
            };
            let flags: Vec<&str> = [(comment.hidden, "hidden"), (comment.edited, "edited")]
                .into_iter()
                .filter_map(|(set, name)| set.then_some(name))
                .collect();
            [
                comment.id.to_string(),
                author,
                visitor_tag(&comment.visitor_id),
                utc_time(comment.created_at),
                if flags.is_empty() {
                    "-".to_owned()
                } else {
                    flags.join(",")
                },
                one_line(&comment.body, EXCERPT_CHARS),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let [id, author, visitor, posted, flags, text] = row;
        let line = format!(
            "{id:>w0$}  {author:<w1$}  {visitor:<w2$}  {posted:<w3$}  {flags:<w4$}  {text}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` on one line for a terminal: every run of whitespace, control or bidirectional
/// formatting characters becomes one space, and past `max_chars` it is cut with `…`.
fn one_line(text: &str, max_chars: usize) -> String {
    let mut words = String::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control() || is_bidi(c))
        .filter(|word| !word.is_empty())
    {
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(word);
    }
    if words.chars().count() <= max_chars {
        return words;
    }
    let mut cut: String = words.chars().take(max_chars - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The marks that reorder text on a terminal (the Arabic letter mark, left-to-right and
/// right-to-left marks, embeddings, overrides and isolates): a comment could otherwise disguise
/// its own line.
const fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// `guestbook comments hide|unhide|delete ID`: takes `action` as the command line, and says
/// what became of the comment.
///
/// # Errors
/// When there is no comment `id`, or the database fails.
pub async fn moderate_comment(state: &AppState, id: i64, action: Action) -> anyhow::Result<()> {
    println!("{}", moderation_outcome(state, id, action).await?);
    Ok(())
}

async fn moderation_outcome(state: &AppState, id: i64, action: Action) -> anyhow::Result<String> {
    // Who ran it, as the system knows them, for the log.
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok();
    let by = Moderator::CommandLine {
        user: user.as_deref(),
    };
    let outcome = state
        .moderation
        .moderate(id, action, by)
        .await
        .context("the comment was not moderated")?;
    // A deleted comment is no comment: deleting it again is `NotFound`, never `Already`.
    match (outcome, action) {
        (Moderated::Done, Action::Hide) => Ok(format!("Comment {id} is hidden.")),
        (Moderated::Done, Action::Unhide) => Ok(format!("Comment {id} is shown again.")),
        (Moderated::Done, Action::Delete) => Ok(format!("Comment {id} is deleted.")),
        (Moderated::Already, Action::Hide) => Ok(format!("Comment {id} was already hidden.")),
        (Moderated::Already, _) => Ok(format!("Comment {id} was not hidden.")),
        (Moderated::NotFound, _) => bail!("No comment {id}."),
    }
}

/// `2026-11-26 20:15:03 UTC`.
fn utc_time(at: PrimitiveDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn listed(id: i64, author: Option<&str>, body: &str) -> ListedComment {
        ListedComment {
            id,
            body: body.into(),
            author: author.map(Into::into),
            by_former_member: false,
            visitor_id: format!("visitor-{id}"),
            created_at: datetime!(2026-11-26 20:15:03),
            edited: false,
            hidden: false,
        }
    }

    #[test]
    fn a_comment_shows_on_one_line_without_control_or_reordering_characters() {
        assert_eq!(
            one_line("  hello\r\n\tthere \u{1b}[31mred ", 60),
            "hello there [31mred"
        );
        assert_eq!(
            one_line("a\u{202e}b\u{2066}c\u{0}d\u{61c}e", 60),
            "a b c d e"
        );
        assert_eq!(one_line("", 60), "");
    }

    #[test]
    fn a_long_comment_is_cut_at_the_excerpt_length_with_an_ellipsis() {
        let cut = one_line(&"é".repeat(100), EXCERPT_CHARS);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(
            one_line(&"x".repeat(EXCERPT_CHARS), EXCERPT_CHARS)
                .chars()
                .count(),
            EXCERPT_CHARS
        );
        assert_eq!(one_line("abc def", 5), "abc…");
    }

    #[test]
    fn the_comment_list_aligns_its_columns_under_a_header() {
        let mut hidden = listed(12, None, "first line\nsecond line");
        hidden.hidden = true;
        hidden.edited = true;
        let mut former = listed(3, None, "bye");
        former.by_former_member = true;

        let table = comment_table(&[hidden, listed(9, Some("alice"), "hi"), former]);

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("ID  AUTHOR"), "{table}");
        assert!(lines[1].contains("Anonymous"), "{table}");
        assert!(lines[1].contains("hidden,edited"), "{table}");
        assert!(lines[1].ends_with("first line second line"), "{table}");
        assert!(lines[1].contains("2026-11-26 20:15:03 UTC"), "{table}");
        assert!(
            lines[2].contains("alice") && lines[2].contains(" - "),
            "{table}"
        );
        assert!(lines[3].contains("a former member"), "{table}");
        assert!(
            !table.contains("visitor-"),
            "the visitor id itself is not shown"
        );
        let text_column = |line: &str, text: &str| line.find(text).unwrap();
        assert_eq!(
            text_column(lines[0], "TEXT"),
            text_column(lines[1], "first line")
        );
        assert_eq!(text_column(lines[0], "TEXT"), text_column(lines[2], "hi"));
        assert_eq!(
            text_column(lines[0], "POSTED"),
            text_column(lines[3], "2026-")
        );
        assert_eq!(text_column(lines[1], "12"), text_column(lines[2], " 9"));
    }
}

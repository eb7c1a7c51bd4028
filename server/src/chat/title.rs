//! Session titles: the first message cut at a word boundary, and the checks a rename needs.

use app::wire::chat::MAX_TITLE_CHARS;

use crate::error::AppError;

const AUTO_TITLE_CHARS: usize = 50;

/// The first message as a title: whitespace collapsed, at most 50 characters, cut at the
/// last word boundary (a single over-long word is cut hard), with an ellipsis when cut.
pub fn auto_title(message: &str) -> String {
    let collapsed = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= AUTO_TITLE_CHARS {
        return if collapsed.is_empty() { "New chat".into() } else { collapsed };
    }
    let budget = AUTO_TITLE_CHARS - 1; // room for the ellipsis
    let hard: String = collapsed.chars().take(budget).collect();
    let next_is_space = collapsed.chars().nth(budget) == Some(' ');
    let cut = if next_is_space {
        hard.as_str()
    } else {
        match hard.rfind(' ') {
            Some(i) if i > 0 => &hard[..i],
            _ => hard.as_str(),
        }
    };
    format!("{}…", cut.trim_end_matches([' ', ',', '.', ';', ':', '-']))
}

pub fn parse_title(raw: &str) -> Result<String, AppError> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(AppError::BadRequest("The title cannot be empty.".into()));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::BadRequest(format!("The title must be at most {MAX_TITLE_CHARS} characters.")));
    }
    Ok(title)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_kept_whole() {
        assert_eq!(auto_title("  What should I   eat? "), "What should I eat?");
    }

    #[test]
    fn long_messages_are_cut_at_a_word_boundary() {
        let t = auto_title("I want to build a training plan for a half marathon next spring please");
        assert!(t.chars().count() <= 50, "{t}");
        assert_eq!(t, "I want to build a training plan for a half…");
    }

    #[test]
    fn one_long_word_is_cut_hard() {
        let t = auto_title(&"a".repeat(80));
        assert_eq!(t.chars().count(), 50);
    }

    #[test]
    fn titles_are_checked() {
        assert!(parse_title("   ").is_err());
        assert!(parse_title(&"x".repeat(121)).is_err());
        assert_eq!(parse_title(" Leg  day ").unwrap(), "Leg day");
    }
}

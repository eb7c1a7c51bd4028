//! Session titles: the first message cut at a word boundary, and the checks a rename needs.

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

/// A title as a user or the model wrote it, checked by the shared rule (422 on `title`).
pub fn parse_title(raw: &str) -> Result<String, AppError> {
    app::validation::title(raw).map_err(AppError::from)
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
}

//! The message as the triage rules read it: lower case, apostrophes dropped, split into
//! sentences of words, each word with obvious typos of the rules' key words corrected.

/// Words the rules depend on, spelled right. A word of five letters or more that is one edit
/// (an insertion, deletion, substitution or swap of neighbours) away from one of these is
/// read as it: "chets" as "chest", "sucidal" as "suicidal". Words whose one-edit neighbours
/// are everyday words ("fainted" and "painted", "killing" and "filling") are left out: the
/// rules spell their common forms instead.
const KEY_WORDS: &[&str] = &[
    "chest",
    "breathe",
    "breathing",
    "suicide",
    "suicidal",
    "bleeding",
    "unconscious",
    "unresponsive",
    "seizure",
    "overdose",
    "overdosed",
    "anaphylaxis",
    "swelling",
    "swollen",
    "throat",
    "stroke",
    "slurred",
    "drooping",
    "numbness",
    "paracetamol",
    "acetaminophen",
    "purging",
    "vomiting",
    "collapsed",
    "convulsing",
    "dehydrated",
    "heatstroke",
    "pressure",
    "crushing",
    "squeezing",
];

/// Real words one edit from a key word, which must stay themselves ("chess" is not "chest").
const REAL_WORDS: &[&str] =
    &["breath", "breaths", "chess", "strike", "strobe", "stoke", "breeding", "breathed", "pressured"];

/// Damerau–Levenshtein distance of at most one.
fn one_edit_apart(a: &str, b: &str) -> bool {
    // Every word of a message is compared with every key word: plain ASCII needs no copy.
    if a.is_ascii() && b.is_ascii() {
        return one_edit(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match la.cmp(&lb) {
        std::cmp::Ordering::Equal => {
            let swapped = start + 1 < la && a[start] == b[start + 1] && a[start + 1] == b[start];
            if swapped {
                a[start + 2..] == b[start + 2..]
            } else {
                a[start + 1..] == b[start + 1..]
            }
        }
        std::cmp::Ordering::Less => a[start..] == b[start + 1..],
        std::cmp::Ordering::Greater => a[start + 1..] == b[start..],
    }
}

/// The key word a word stands for, or the word itself.
fn corrected(word: &str) -> &str {
    if word.chars().count() < 5 || KEY_WORDS.contains(&word) || REAL_WORDS.contains(&word) {
        return word;
    }
    KEY_WORDS.iter().copied().find(|key| key.len() >= 5 && one_edit_apart(word, key)).unwrap_or(word)
}

/// The message as sentences of corrected words, each sentence joined by single spaces.
/// Apostrophes are dropped ("can't" → "cant", "I'm" → "im"), hyphens split words
/// ("self-harm" → "self harm"), and `.`, `!`, `?`, `;`, `,`, `:` and line breaks end a
/// sentence, so a phrase or a negation never reaches across one.
pub fn sentences(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let end_word = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(corrected(word).to_string());
            word.clear();
        }
    };
    for c in message.chars().flat_map(char::to_lowercase) {
        match c {
            '\'' | '’' | '‘' | '`' | '´' => {}
            '.' | '!' | '?' | ';' | ',' | ':' | '\n' => {
                end_word(&mut word, &mut words);
                if !words.is_empty() {
                    out.push(words.join(" "));
                    words.clear();
                }
            }
            c if c.is_alphanumeric() => word.push(c),
            _ => end_word(&mut word, &mut words),
        }
    }
    end_word(&mut word, &mut words);
    if !words.is_empty() {
        out.push(words.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_lower_case_words_with_typos_of_key_words_fixed() {
        assert_eq!(sentences("Chets pain, I can't breathe!"), ["chest pain", "i cant breathe"]);
        assert_eq!(sentences("sucidal again today"), ["suicidal again today"]);
        assert_eq!(sentences("Self-harm\nagain"), ["self harm", "again"]);
        // Real words near a key word, short words and words two edits away are left alone.
        assert_eq!(sentences("chat about chess"), ["chat about chess"]);
        assert_eq!(sentences("brethe"), ["breathe"]);
        assert_eq!(sentences("brxxthe"), ["brxxthe"]);
        assert_eq!(sentences("short of breath"), ["short of breath"]);
    }

    #[test]
    fn one_edit_covers_each_kind_of_typo() {
        assert!(one_edit_apart("chest", "chets")); // swap
        assert!(one_edit_apart("chest", "chst")); // deletion
        assert!(one_edit_apart("chest", "chesst")); // insertion
        assert!(one_edit_apart("chest", "chost")); // substitution
        assert!(!one_edit_apart("chest", "cheats"));
    }
}

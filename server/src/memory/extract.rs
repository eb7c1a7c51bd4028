//! Which sentences of a message state a lasting fact about the person. Named first-person
//! patterns, not a model: cheap enough for every message, predictable, and testable. A
//! question about someone else or a fact negated ("I don't have asthma") does not match,
//! because each pattern starts at the person's own "I"/"my" and needs the fact right after.

use std::sync::LazyLock;

use app::wire::memory::{MemoryKind, MAX_MEMORY_CHARS};
use regex::{Regex, RegexSet};

const BODY: &str = r"(?:knees?|back|lower back|shoulders?|ankles?|hips?|wrists?|elbows?|neck|hamstrings?|achilles|feet|foot|calf|calves|shins?|groin|rotator cuff|acl|meniscus)";

/// `(kind, pattern)`; a pattern matches the lower-cased sentence from where the fact begins.
const PATTERNS: &[(MemoryKind, &str)] = &[
    (
        MemoryKind::Injury,
        r"\b(?:i have|i've got|ive got|i've|i had)\b[^.!?]{0,30}?\b(?:bad|weak|injured|sore|dodgy|torn|sprained|broken|fractured|pulled|strained|replaced|arthritic)\b[^.!?]{0,25}?\b__BODY__\b",
    ),
    (
        MemoryKind::Injury,
        r"\bi (?:injured|hurt|tore|sprained|broke|pulled|strained|twisted|dislocated|fractured) (?:my |an |a )?(?:left |right )?__BODY__\b",
    ),
    (
        MemoryKind::Injury,
        r"\bmy (?:left |right )?__BODY__ (?:hurts|is injured|is bad|gives me trouble|has been bad|is weak|was operated)",
    ),
    (
        MemoryKind::Condition,
        r"\bi (?:have|'ve got|ve got|was diagnosed with|live with|suffer from) (?:type [12] diabetes|diabetes|asthma|high blood pressure|hypertension|arthritis|osteoarthritis|rheumatoid arthritis|a heart condition|heart disease|pcos|hypothyroidism|an underactive thyroid|ibs|coeliac disease|celiac disease|migraines?|sleep apnoea|sleep apnea|high cholesterol|osteoporosis|copd|epilepsy)\b",
    ),
    (MemoryKind::Condition, r"\bi'?m (?:diabetic|asthmatic|pregnant|prediabetic|pre-diabetic)\b"),
    (MemoryKind::Condition, r"\bi am (?:diabetic|asthmatic|pregnant|prediabetic|pre-diabetic)\b"),
    (MemoryKind::Goal, r"\bmy (?:main |big )?goal is\b"),
    (MemoryKind::Goal, r"\bi(?:'m| am) training for\b"),
    (
        MemoryKind::Goal,
        r"\bi(?: want|'d like| would like| hope| plan) to (?:lose|gain|build|run|get|improve|finish|complete|drop|do|be able|sleep|eat|cut|bulk|reach)\b",
    ),
    (MemoryKind::Preference, r"\bi(?:'m| am) (?:a )?(?:vegetarian|vegan|pescatarian)\b"),
    (MemoryKind::Preference, r"\bi(?:'m| am) (?:allergic to|lactose intolerant|gluten intolerant)\b"),
    (MemoryKind::Preference, r"\bi (?:don't|do not|can't|cannot) eat\b"),
    (
        MemoryKind::Preference,
        r"\bi (?:prefer|hate|love|enjoy|dislike|don't like|do not like) (?:running|swimming|cycling|lifting|the gym|yoga|walking|hiit|cardio|training|working out|exercising|to)\b",
    ),
    (MemoryKind::Schedule, r"\bi (?:can )?only (?:have|train|work out|exercise|run|lift|get)\b"),
    (
        MemoryKind::Schedule,
        r"\bi (?:can )?(?:train|work out|exercise|run|lift|go to the gym) (?:on|every|in the|before|after|\d+ (?:times|days))\b",
    ),
    (MemoryKind::Schedule, r"\bi work (?:nights|night shifts|shifts|long hours)\b"),
];

struct Compiled {
    kind: MemoryKind,
    re: Regex,
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .filter_map(|(kind, pattern)| {
            // Constants covered by the tests; a broken edit is logged, not a crash.
            Regex::new(&expanded(pattern))
                .map_err(|e| tracing::error!(error = %e, "a memory pattern does not compile"))
                .ok()
                .map(|re| Compiled { kind: *kind, re })
        })
        .collect()
});

/// Every pattern at once: most messages state no fact, and one pass over the message tells
/// (a pattern that matches a sentence also matches the message the sentence is part of).
static ANY: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|(_, pattern)| expanded(pattern))).ok());

/// A pattern with its body-part placeholder filled in.
fn expanded(pattern: &str) -> String {
    pattern.replace("__BODY__", BODY)
}

/// Words just before a match that make it a question or a condition, not a fact ("can I run
/// if I'm pregnant", "do I have diabetes").
const NOT_A_STATEMENT: &[&str] = &[
    "if", "whether", "when", "unless", "suppose", "do", "does", "did", "can", "could", "would", "will", "am", "is",
    "are", "what", "might", "maybe", "perhaps",
];
/// Words inside a match that deny it ("I've never injured my back").
const NEGATIONS: &[&str] =
    &["never", "not", "no", "dont", "didnt", "havent", "hasnt", "hadnt", "isnt", "wasnt", "arent"];
/// A sentence that says the problem is over ("… but it's fine now").
static RESOLVED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:fine now|healed|fully recovered|better now|no longer|not anymore|all good now|doesn't bother me)\b",
    )
    .ok()
});
/// Sentence ends: a full stop followed by a space or the end, so "6.5" stays one number.
static SENTENCE_END: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[.!?]+(?:\s+|$)|\n").ok());

fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'').map(|w| w.replace('\'', ""))
}

/// Whether the match at `start..end` of the lower-cased `sentence` states a fact.
fn is_statement(sentence: &str, start: usize, end: usize) -> bool {
    let before: Vec<String> = words_of(&sentence[..start]).filter(|w| !w.is_empty()).collect();
    let asked = before.iter().rev().take(3).any(|w| NOT_A_STATEMENT.contains(&w.as_str()));
    let denied = words_of(&sentence[start..end]).any(|w| NEGATIONS.contains(&w.as_str()))
        || before.last().is_some_and(|w| NEGATIONS.contains(&w.as_str()));
    let resolved = RESOLVED.as_ref().is_some_and(|re| re.is_match(sentence));
    !asked && !denied && !resolved
}

/// Where a fact's clause ends: the next clause of the sentence is about something else.
const CLAUSE_ENDS: &[&str] =
    &[",", ";", " but ", " so ", " and i ", " because ", " since ", " what ", " how ", " should "];

/// A fact proposed from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub kind: MemoryKind,
    pub text: String,
}

/// The facts a message states, in order: each clause that a pattern matches.
pub fn propose(message: &str) -> Vec<Proposal> {
    let mut found: Vec<Proposal> = Vec::new();
    if ANY.as_ref().is_some_and(|any| !any.is_match(&message.replace('’', "'").to_ascii_lowercase())) {
        return found;
    }
    let sentences: Vec<&str> = match SENTENCE_END.as_ref() {
        Some(end) => end.split(message).collect(),
        None => message.split(['.', '!', '?', '\n']).collect(),
    };
    for sentence in sentences.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        // Apostrophes are normalised so "I’m" and "I'm" match alike; the lower-cased copy
        // keeps byte offsets because only ASCII is changed.
        let plain = sentence.replace('’', "'");
        let lower = plain.to_ascii_lowercase();
        let mut from = 0;
        // The earliest fact after `from`, then the next one after its clause.
        while let Some((kind, start, matched_end)) = COMPILED
            .iter()
            .filter_map(|c| c.re.find_at(&lower, from).map(|m| (c.kind, m.start(), m.end())))
            .min_by_key(|(_, start, _)| *start)
        {
            let rest = &lower[start..];
            let end = CLAUSE_ENDS.iter().filter_map(|e| rest.find(e)).filter(|&i| i > 0).min().unwrap_or(rest.len());
            let text = tidy(plain[start..start + end].trim());
            if is_statement(&lower, start, matched_end)
                && text.chars().count() >= 8
                && !found.iter().any(|p| p.text == text)
            {
                found.push(Proposal { kind, text });
            }
            from = start + end.max(1);
        }
    }
    found
}

/// The clause as a sentence: capitalised, a full stop, within the length limit.
fn tidy(clause: &str) -> String {
    let mut text: String = clause.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.starts_with("i ") || text.starts_with("i'") {
        text.replace_range(..1, "I");
    }
    let mut chars = text.chars();
    let mut text = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return text,
    };
    text = text.chars().take(MAX_MEMORY_CHARS - 1).collect();
    text.push('.');
    text
}

/// The words of a fact, for spotting the same fact written again (case, spacing and
/// punctuation aside).
pub fn normalise(text: &str) -> String {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kinds(message: &str) -> Vec<(MemoryKind, String)> {
        propose(message).into_iter().map(|p| (p.kind, p.text)).collect()
    }

    #[test]
    fn stated_facts_are_proposed_as_their_clause() {
        assert_eq!(
            kinds("Should I run since I have a bad left knee? Also my goal is to run a 10k in May."),
            vec![
                (MemoryKind::Injury, "I have a bad left knee.".into()),
                (MemoryKind::Goal, "My goal is to run a 10k in May.".into())
            ]
        );
        assert_eq!(
            kinds("I’m vegetarian, what should I eat after lifting?"),
            vec![(MemoryKind::Preference, "I'm vegetarian.".into())]
        );
        assert_eq!(kinds("i have type 2 diabetes"), vec![(MemoryKind::Condition, "I have type 2 diabetes.".into())]);
        assert_eq!(
            kinds("I can only train on Tuesdays and Saturdays"),
            vec![(MemoryKind::Schedule, "I can only train on Tuesdays and Saturdays.".into())]
        );
        assert_eq!(kinds("I tore my ACL two years ago").len(), 1);
        assert_eq!(
            kinds("I have a bad left knee, and I'm vegetarian"),
            vec![
                (MemoryKind::Injury, "I have a bad left knee.".into()),
                (MemoryKind::Preference, "I'm vegetarian.".into())
            ]
        );
    }

    #[test]
    fn questions_negations_and_other_people_are_not_facts() {
        for message in [
            "How many rest days a week should a beginner take?",
            "I don't have asthma but I wheeze sometimes",
            "My friend has a bad knee",
            "Is running bad for your knees?",
            "Does my wife need more protein?",
            "Can I still run if I'm pregnant?",
            "Do I have diabetes if my fasting sugar is 6.5?",
            "I've never injured my back",
            "I have never had a bad knee",
            "I have a question about my knee",
            "I've had a bad knee in the past but it's fine now",
            "",
        ] {
            assert!(propose(message).is_empty(), "{message:?} -> {:?}", propose(message));
        }
    }

    #[test]
    fn the_same_fact_written_differently_normalises_alike() {
        assert_eq!(normalise("I have a BAD knee."), normalise("i have a bad   knee"));
        assert_ne!(normalise("I have a bad knee"), normalise("I have a bad back"));
    }
}

//! Triage in front of every model: each message is sorted into a tier before any model sees
//! it. Emergency and crisis messages get a fixed answer (the emergency number, or a crisis
//! line, from configuration) and never reach the model; urgent ones get a line advising a
//! doctor soon, then the coach's general answer; routine ones go to the coach as they are.
//! The tier and the rule that decided it are recorded in the answer's raw events.
//!
//! Why rules and not a classifier: the set must never miss an emergency and must be
//! explainable (the rule's name is stored with the answer), testable phrase by phrase
//! (`server/tests/data/triage_cases.tsv`, recall 100 % required), and fast enough to run on
//! every message without a model. Phrases are matched on a normalised copy of the message
//! (`text`): lower case, typos of key words fixed, sentence by sentence; rules that list
//! several parts match them in any order, so word order does not matter; inflections are
//! spelled into the expressions; a negation just before a symptom ("no chest pain") cancels
//! it; look-alike phrasings ("chest press", "this workout is killing me") are spelled out as
//! exceptions. It errs towards alarm: one unneeded referral costs little, a missed one a lot.

mod answers;
mod rules;
mod text;

use std::sync::LazyLock;

use app::wire::chat::TriageTier;
use futures::{stream, StreamExt};
use regex::{Regex, RegexSet};

pub use answers::SafetyLines;

use super::{Agent, AgentEvent, AgentRequest, EventStream, SharedAgent};

/// What the triage decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    pub tier: TriageTier,
    /// The rule that fired; `None` for routine messages.
    pub rule: Option<&'static str>,
    /// Poisoning and overdose answers also name the poison line.
    pub poisoning: bool,
}

struct Compiled {
    rule: &'static rules::Rule,
    parts: Vec<Regex>,
    unless: Vec<Regex>,
}

fn word_pattern(pattern: &str) -> String {
    format!(r"\b(?:{pattern})\b")
}

fn word_regex(pattern: &str) -> Option<Regex> {
    // The patterns are constants covered by the tests; a broken edit is logged, not a crash.
    Regex::new(&word_pattern(pattern))
        .map_err(|e| tracing::error!(error = %e, pattern, "a triage pattern does not compile"))
        .ok()
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    rules::RULES
        .iter()
        .filter_map(|rule| {
            let parts = rule.parts.iter().map(|p| word_regex(p)).collect::<Option<Vec<_>>>()?;
            let unless = rule.unless.iter().map(|p| word_regex(p)).collect::<Option<Vec<_>>>()?;
            Some(Compiled { rule, parts, unless })
        })
        .collect()
});

/// The symptom (first part) of every compiled rule, in `COMPILED`'s order: one pass over a
/// sentence tells which rules it may fire, where a pass per rule would look 21 times.
static SYMPTOMS: LazyLock<Option<RegexSet>> = LazyLock::new(|| {
    let symptoms = COMPILED.iter().map(|c| c.rule.parts.first().map_or_else(|| "$^".to_string(), |p| word_pattern(p)));
    RegexSet::new(symptoms).map_err(|e| tracing::error!(error = %e, "the triage symptoms do not compile")).ok()
});

static INTENT: LazyLock<Option<Regex>> = LazyLock::new(|| word_regex(rules::INTENT));
static PAST: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(rules::PAST).ok());
static NOW: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(rules::NOW).ok());

/// Words that, right before a symptom, say the writer does not have it.
const NEGATIONS: &[&str] =
    &["no", "not", "without", "never", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent", "denies", "deny", "nor"];
/// Words that may sit between a negation and the symptom ("dont have any chest pain").
const NEGATION_FILLERS: &[&str] = &[
    "have",
    "had",
    "having",
    "has",
    "any",
    "a",
    "an",
    "get",
    "getting",
    "got",
    "feel",
    "feeling",
    "experience",
    "experiencing",
    "really",
    "actually",
    "much",
    "more",
    "of",
    "or",
];

fn negated(before: &str) -> bool {
    for (i, word) in before.split_whitespace().rev().take(4).enumerate() {
        if NEGATIONS.contains(&word) {
            return true;
        }
        if !NEGATION_FILLERS.contains(&word) || i >= 2 {
            return false;
        }
    }
    false
}

/// Whether `re` matches somewhere in `sentence` without a negation just before.
fn affirmed(re: &Regex, sentence: &str) -> bool {
    re.find_iter(sentence).any(|m| !negated(&sentence[..m.start()]))
}

fn about_the_past(sentence: &str) -> bool {
    let past = PAST.as_ref().is_some_and(|re| re.is_match(sentence));
    past && !NOW.as_ref().is_some_and(|re| re.is_match(sentence))
}

/// Whether the rule fires, once its symptom was found in the message.
fn fires(compiled: &Compiled, sentences: &[String]) -> bool {
    let Some((first, rest)) = compiled.parts.split_first() else { return false };
    let usable: Vec<&str> = sentences
        .iter()
        .map(String::as_str)
        .filter(|s| !compiled.unless.iter().any(|re| re.is_match(s)))
        .filter(|s| !(compiled.rule.history && about_the_past(s)))
        .collect();
    // The first part (the symptom) must be affirmed in a sentence; the others may be
    // anywhere in the message, in any order.
    usable.iter().any(|s| affirmed(first, s)) && rest.iter().all(|re| usable.iter().any(|s| re.is_match(s)))
}

/// Sorts one message into its tier.
pub fn triage(message: &str) -> Triage {
    let sentences = text::sentences(message);
    // Most messages name no rule's symptom: one pass settles those, before the exceptions
    // and the tense of every sentence are looked at.
    let mut named = vec![SYMPTOMS.is_none(); COMPILED.len()];
    if let Some(set) = SYMPTOMS.as_ref() {
        for i in sentences.iter().flat_map(|s| set.matches(s).into_iter()) {
            if let Some(hit) = named.get_mut(i) {
                *hit = true;
            }
        }
    }
    let mut found: Option<Triage> = None;
    for (i, compiled) in COMPILED.iter().enumerate() {
        let rule = compiled.rule;
        if found.as_ref().is_some_and(|f| rank(f.tier) >= rank(rule.tier)) || !named[i] || !fires(compiled, &sentences)
        {
            continue;
        }
        found = Some(Triage { tier: rule.tier, rule: Some(rule.name), poisoning: rule.poisoning });
    }
    let mut found = found.unwrap_or(Triage { tier: TriageTier::Routine, rule: None, poisoning: false });
    // An overdose or poisoning taken on purpose is a crisis too.
    if found.poisoning && INTENT.as_ref().is_some_and(|re| sentences.iter().any(|s| re.is_match(s))) {
        found.tier = TriageTier::Crisis;
        found.rule = Some("crisis_overdose_with_intent");
    }
    found
}

/// Crisis first (its answer also names the emergency number), then emergency, urgent, routine.
fn rank(tier: TriageTier) -> u8 {
    match tier {
        TriageTier::Crisis => 3,
        TriageTier::Emergency => 2,
        TriageTier::Urgent => 1,
        TriageTier::Routine => 0,
    }
}

/// A fixed text as an event stream: sentence-sized deltas, so it streams like any answer.
fn deltas(text: &str) -> impl Iterator<Item = AgentEvent> + '_ {
    text.split_inclusive(". ").map(|s| AgentEvent::Delta(s.to_string()))
}

/// Title given to a session whose first message was an emergency or a crisis, so the model
/// never sees it even for naming.
pub const SAFETY_TITLE: &str = "Urgent health concern";

/// Triages every message before any model sees it.
pub struct GuardedAgent {
    inner: SharedAgent,
    lines: SafetyLines,
}

impl GuardedAgent {
    pub fn new(inner: SharedAgent, lines: SafetyLines) -> Self {
        Self { inner, lines }
    }
}

#[async_trait::async_trait]
impl Agent for GuardedAgent {
    fn model_name(&self) -> String {
        self.inner.model_name()
    }

    fn is_local_demo(&self) -> bool {
        self.inner.is_local_demo()
    }

    fn guidance_limit(&self) -> usize {
        self.inner.guidance_limit()
    }

    async fn answer(&self, request: AgentRequest) -> EventStream {
        let triage = triage(&request.message);
        let decided = AgentEvent::Triage { tier: triage.tier, rule: triage.rule.map(str::to_string) };
        match triage.tier {
            TriageTier::Emergency | TriageTier::Crisis => {
                // The tier and rule only: the message itself is health data and stays out of the logs.
                tracing::info!(tier = ?triage.tier, rule = ?triage.rule, "triage: sending the fixed answer");
                let answer = self.lines.answer(&triage);
                let finish = AgentEvent::Finish { reason: "safety".into() };
                let events: Vec<AgentEvent> =
                    std::iter::once(decided).chain(deltas(&answer)).chain(std::iter::once(finish)).collect();
                Box::pin(stream::iter(events))
            }
            TriageTier::Urgent => {
                let advice: Vec<AgentEvent> = std::iter::once(decided).chain(deltas(&self.lines.urgent())).collect();
                Box::pin(stream::iter(advice).chain(self.inner.answer(request).await))
            }
            TriageTier::Routine => Box::pin(stream::iter([decided]).chain(self.inner.answer(request).await)),
        }
    }

    async fn title(&self, first_message: &str, first_answer: &str) -> Option<String> {
        if matches!(triage(first_message).tier, TriageTier::Emergency | TriageTier::Crisis) {
            return Some(SAFETY_TITLE.into());
        }
        self.inner.title(first_message, first_answer).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(COMPILED.len(), rules::RULES.len());
        assert!(INTENT.is_some() && PAST.is_some() && NOW.is_some());
        assert_eq!(SYMPTOMS.as_ref().map(RegexSet::len), Some(COMPILED.len()));
    }

    /// The labelled set: every emergency and crisis caught (a crisis as a crisis), at most 5 %
    /// false alarms on the everyday look-alikes; prints both.
    #[test]
    fn the_labelled_set_catches_every_emergency_and_crisis_with_few_false_alarms() {
        let cases: Vec<(&str, &str, &str)> = include_str!("../../../tests/data/triage_cases.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut cols = l.splitn(3, '\t');
                Some((cols.next()?, cols.next()?, cols.next()?))
            })
            .collect();
        assert!(cases.len() >= 150, "{} phrasings", cases.len());
        let (mut missed, mut alarms, mut urgent_missed) = (Vec::new(), Vec::new(), Vec::new());
        let count = |tier: &str| cases.iter().filter(|c| c.0 == tier).count();
        for (label, topic, message) in &cases {
            let got = triage(message);
            match *label {
                "emergency" if !matches!(got.tier, TriageTier::Emergency | TriageTier::Crisis) => {
                    missed.push(format!("{topic}: {message}"))
                }
                "crisis" if got.tier != TriageTier::Crisis => missed.push(format!("{topic}: {message} -> {got:?}")),
                "urgent" if got.tier == TriageTier::Routine => urgent_missed.push(format!("{topic}: {message}")),
                "routine" if got.tier != TriageTier::Routine => alarms.push(format!("{message} -> {:?}", got.rule)),
                _ => {}
            }
        }
        let serious = count("emergency") + count("crisis");
        let recall = 100.0 * (serious - missed.len()) as f64 / serious as f64;
        let false_alarms = 100.0 * alarms.len() as f64 / count("routine") as f64;
        println!(
            "triage: recall {recall:.1} % on {serious} emergencies and crises; false alarms {false_alarms:.1} % \
             on {} everyday messages; urgent caught {} of {}",
            count("routine"),
            count("urgent") - urgent_missed.len(),
            count("urgent")
        );
        assert!(missed.is_empty(), "missed: {missed:#?}");
        assert!(false_alarms <= 5.0, "false alarms: {alarms:#?}");
        assert!(urgent_missed.is_empty(), "urgent missed: {urgent_missed:#?}");
    }

    #[test]
    fn negation_word_order_and_typos() {
        assert_eq!(triage("no chest pain today").tier, TriageTier::Routine);
        assert_eq!(triage("I don't have any chest pain").tier, TriageTier::Routine);
        assert_eq!(triage("my chest feels tight").tier, TriageTier::Emergency);
        assert_eq!(triage("tightness in the chest").tier, TriageTier::Emergency);
        assert_eq!(triage("chets pain").rule, Some("cardiac_chest_pain"));
        assert_eq!(triage("I took way too many of my pills on purpose").tier, TriageTier::Crisis);
        assert_eq!(triage("I took way too many of my pills").tier, TriageTier::Emergency);
        assert_eq!(triage("I used to self harm years ago").tier, TriageTier::Routine);
        assert_eq!(triage("I used to self harm and now I do it again").tier, TriageTier::Crisis);
    }
}

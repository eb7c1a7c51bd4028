//! The guideline library's entries: short restatements of published guidance, written in the
//! project's own words, each with its source. Compiled into the binary from
//! `server/guidelines/*.toml` and checked when the server starts.

use std::collections::HashSet;

use app::wire::guidance::Source;
use serde::Deserialize;

/// The library's files, by topic area.
const FILES: [(&str, &str); 2] = [
    ("activity.toml", include_str!("../../../guidelines/activity.toml")),
    ("living.toml", include_str!("../../../guidelines/living.toml")),
];

/// What an entry is about; an unknown topic in a file stops the server at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    Activity,
    OlderAdults,
    Strength,
    Running,
    Recovery,
    WarmUp,
    Injuries,
    SeeADoctor,
    Pregnancy,
    Sleep,
    Hydration,
    Nutrition,
    Alcohol,
    Weight,
    Caffeine,
    Wellbeing,
}

impl Topic {
    /// Advice on this topic is about exercising, which a "yes" on the readiness screening
    /// says to clear with a doctor first.
    pub fn is_exercise(self) -> bool {
        matches!(
            self,
            Topic::Activity
                | Topic::OlderAdults
                | Topic::Strength
                | Topic::Running
                | Topic::Recovery
                | Topic::WarmUp
                | Topic::Injuries
                | Topic::Pregnancy
                | Topic::Weight
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub title: String,
    pub topic: Topic,
    pub keywords: Vec<String>,
    /// Set on entries meant for an age group only.
    #[serde(default)]
    pub age_min: Option<u8>,
    #[serde(default)]
    pub age_max: Option<u8>,
    pub text: String,
    pub source: EntrySource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySource {
    pub org: String,
    pub document: String,
    pub year: u16,
    pub url: String,
}

impl Entry {
    /// The entry as the wire shows it under an answer.
    pub fn source(&self) -> Source {
        Source {
            id: self.id.clone(),
            title: self.title.clone(),
            org: self.source.org.clone(),
            document: self.source.document.clone(),
            year: self.source.year,
            url: self.source.url.clone(),
        }
    }

    /// Whether the entry suits someone of `age` (an unknown age suits every entry).
    pub fn suits_age(&self, age: Option<u8>) -> bool {
        age.is_none_or(|age| self.age_min.is_none_or(|min| age >= min) && self.age_max.is_none_or(|max| age <= max))
    }

    /// The one-line citation, e.g. `World Health Organization, WHO guidelines on … (2020)`.
    pub fn citation(&self) -> String {
        format!("{}, {} ({})", self.source.org, self.source.document, self.source.year)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("guideline file {file} does not parse: {error}")]
    Parse { file: &'static str, error: String },
    #[error("guideline entry {id}: {problem}")]
    Invalid { id: String, problem: String },
    #[error("the guideline index could not be built: {0}")]
    Index(String),
}

#[derive(Deserialize)]
struct File {
    entry: Vec<Entry>,
}

/// Every entry of the shipped files, checked: unique ids, an `https` source, text of a
/// prompt-friendly length.
pub fn entries() -> Result<Vec<Entry>, LibraryError> {
    let mut all = Vec::new();
    for (file, text) in FILES {
        let parsed: File = toml::from_str(text).map_err(|e| LibraryError::Parse { file, error: e.to_string() })?;
        all.extend(parsed.entry);
    }
    let mut seen = HashSet::new();
    for entry in &all {
        let invalid = |problem: &str| LibraryError::Invalid { id: entry.id.clone(), problem: problem.into() };
        if !seen.insert(entry.id.as_str()) {
            return Err(invalid("the id is used twice"));
        }
        if !entry.source.url.starts_with("https://") {
            return Err(invalid("the source URL must be https"));
        }
        let words = entry.text.split_whitespace().count();
        if !(20..=200).contains(&words) {
            return Err(invalid("the text must be 20 to 200 words"));
        }
        if entry.title.trim().is_empty() || entry.source.org.trim().is_empty() || entry.keywords.is_empty() {
            return Err(invalid("title, source organisation and keywords are required"));
        }
    }
    Ok(all)
}

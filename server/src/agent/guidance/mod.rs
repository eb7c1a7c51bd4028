//! Grounded answers: the guideline library shipped with the app (`library`), searched per
//! question (`search`), and the agent layer that puts the best entries into every provider's
//! prompt and records which were used. The offline demo model answers a strong match from the
//! entry itself (`agent::local`).

mod library;
mod search;

use std::sync::Arc;

use app::wire::guidance::{GuidelineUse, Source};
use futures::{stream, StreamExt};

pub use library::{Entry, LibraryError, Topic};

use super::{Agent, AgentEvent, AgentRequest, EventStream, SharedAgent};

/// Entries put into a prompt at most.
pub const MAX_ENTRIES: usize = 3;
/// How well an entry answers a question: its BM25 score times the share of the question's
/// words it contains. A high score alone can come from one rare word ("football" in a sleep
/// entry); coverage alone from one common word. Calibrated on the questions in
/// `server/tests/data/guideline_questions/`: the unrelated ones reach at most 3.3, the
/// answered ones at least 5.5.
const MIN_RELEVANCE: f32 = 4.5;
/// Entries scoring under this share of the best one are left out.
const RELATIVE_CUT: f32 = 0.5;
/// A strong match, which the offline demo model answers from the entry: clearly relevant and
/// well ahead of the runner-up.
const STRONG_RELEVANCE: f32 = 10.0;
const STRONG_MARGIN: f32 = 1.25;

/// One entry retrieved for a question.
#[derive(Debug, Clone)]
pub struct Guideline {
    pub entry: Arc<Entry>,
    pub score: f32,
    pub strong: bool,
}

/// The same entry, matched the same way (scores are floats and not compared).
impl PartialEq for Guideline {
    fn eq(&self, other: &Self) -> bool {
        self.entry.id == other.entry.id && self.strong == other.strong
    }
}

impl Guideline {
    pub fn usage(&self) -> GuidelineUse {
        GuidelineUse { id: self.entry.id.clone(), score: self.score, strong: self.strong }
    }
}

pub struct Library {
    entries: Vec<Arc<Entry>>,
    index: search::SearchIndex,
}

impl Library {
    /// The entry with this id.
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().map(Arc::as_ref).find(|e| e.id == id)
    }

    /// The sources of a stored answer, by entry id; ids no longer in the library are left out.
    pub fn sources(&self, ids: &[String]) -> Vec<Source> {
        ids.iter().filter_map(|id| self.entry(id)).map(Entry::source).collect()
    }

    /// Loads and indexes the shipped entries (a few milliseconds; call it at start-up).
    pub fn load() -> Result<Self, LibraryError> {
        let entries = library::entries()?;
        let index = search::SearchIndex::build(&entries)?;
        Ok(Self { entries: entries.into_iter().map(Arc::new).collect(), index })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries that answer `question` for someone of `age`, best first; the first is
    /// `strong` when it clearly answers it.
    pub fn retrieve(&self, question: &str, age: Option<u8>) -> Vec<Guideline> {
        let hits: Vec<(Arc<Entry>, search::Found)> = self
            .index
            .search(question, MAX_ENTRIES * 3)
            .into_iter()
            .filter_map(|found| self.entries.get(found.position).map(|e| (e.clone(), found)))
            // An entry for another age group is not this user's guidance.
            .filter(|(entry, _)| entry.suits_age(age))
            .collect();
        let Some(best) = hits.first().map(|(_, f)| *f) else { return Vec::new() };
        let runner_up = hits.get(1).map_or(0.0, |(_, f)| f.score);
        let relevance = |f: &search::Found| f.score * f.coverage;
        let strong = relevance(&best) >= STRONG_RELEVANCE && best.score >= runner_up * STRONG_MARGIN;
        hits.into_iter()
            .filter(|(_, f)| relevance(f) >= MIN_RELEVANCE && f.score >= best.score * RELATIVE_CUT)
            .take(MAX_ENTRIES)
            .enumerate()
            .map(|(i, (entry, f))| Guideline { entry, score: f.score, strong: i == 0 && strong })
            .collect()
    }
}

/// Retrieves guidance for every question that reaches a model, and records it first.
pub struct GroundedAgent {
    inner: SharedAgent,
    library: Arc<Library>,
}

impl GroundedAgent {
    pub fn new(inner: SharedAgent, library: Arc<Library>) -> Self {
        Self { inner, library }
    }
}

#[async_trait::async_trait]
impl Agent for GroundedAgent {
    fn model_name(&self) -> String {
        self.inner.model_name()
    }

    fn is_local_demo(&self) -> bool {
        self.inner.is_local_demo()
    }

    fn guidance_limit(&self) -> usize {
        self.inner.guidance_limit()
    }

    async fn answer(&self, mut request: AgentRequest) -> EventStream {
        let age = request.profile.age.and_then(|a| u8::try_from(a).ok());
        let mut found = self.library.retrieve(&request.message, age);
        if let Some(previous) = request.history.last().filter(|_| found.is_empty()) {
            // A follow-up ("and for someone over 65?") is about what was asked just before.
            found = self.library.retrieve(&format!("{} {}", previous.user, request.message), age);
            // Never answered from the entry alone: the follow-up itself did not match it.
            for guideline in &mut found {
                guideline.strong = false;
            }
        }
        // Sources list only what the model is given.
        found.truncate(self.inner.guidance_limit());
        request.guidance = found;
        let used = AgentEvent::Guidance(request.guidance.clone());
        let answer = self.inner.answer(request).await;
        Box::pin(stream::once(async move { used }).chain(answer))
    }

    async fn title(&self, first_message: &str, first_answer: &str) -> Option<String> {
        self.inner.title(first_message, first_answer).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `question<TAB>expected_id` lines (`none` when no entry should be put forward).
    fn questions() -> Vec<(String, String)> {
        [
            include_str!("../../../tests/data/guideline_questions/activity.tsv"),
            include_str!("../../../tests/data/guideline_questions/living.tsv"),
        ]
        .iter()
        .flat_map(|file| file.lines().skip(1))
        .filter_map(|line| line.split_once('\t'))
        .map(|(q, id)| (q.trim().to_string(), id.trim().to_string()))
        .collect()
    }

    #[test]
    fn the_shipped_library_loads_with_sixty_entries_or_more_each_with_a_source() {
        let library = Library::load().unwrap();
        assert!(library.len() >= 60, "{} entries", library.len());
        for entry in &library.entries {
            assert!(entry.source.url.starts_with("https://") && entry.source.year >= 2000, "{}", entry.id);
        }
    }

    /// Retrieval quality on questions written as users ask them, printed for BENCHMARKS.md.
    #[test]
    fn questions_find_their_entry_and_unrelated_ones_find_none_strong() {
        let library = Library::load().unwrap();
        let (mut asked, mut first, mut in_prompt, mut strong_right, mut strong_wrong) = (0, 0, 0, 0, 0);
        let (mut unrelated, mut unrelated_strong, mut unrelated_any) = (0, 0, 0);
        let mut misses = Vec::new();
        for (question, expected) in questions() {
            let found = library.retrieve(&question, None);
            if expected == "none" {
                unrelated += 1;
                unrelated_strong += usize::from(found.first().is_some_and(|g| g.strong));
                unrelated_any += usize::from(!found.is_empty());
                continue;
            }
            asked += 1;
            let top = found.first().map(|g| g.entry.id.as_str());
            first += usize::from(top == Some(expected.as_str()));
            in_prompt += usize::from(found.iter().any(|g| g.entry.id == expected));
            if found.first().is_some_and(|g| g.strong) {
                if top == Some(expected.as_str()) {
                    strong_right += 1;
                } else {
                    strong_wrong += 1;
                }
            }
            if top != Some(expected.as_str()) {
                misses.push(format!("{question} -> {top:?} (want {expected})"));
            }
        }
        println!(
            "guideline retrieval: {asked} questions, top-1 {first} ({:.0} %), in the prompt {in_prompt} ({:.0} %), \
             strong {strong_right} right / {strong_wrong} wrong; {unrelated} unrelated: {unrelated_any} with entries, \
             {unrelated_strong} strong",
            100.0 * first as f64 / asked as f64,
            100.0 * in_prompt as f64 / asked as f64,
        );
        for miss in &misses {
            println!("  miss: {miss}");
        }
        assert!(first * 100 >= asked * 80, "top-1 below 80 %");
        assert!(in_prompt * 100 >= asked * 90, "the right entry reaches the prompt in under 90 %");
        // A strong match answers without the model: it must almost never be the wrong entry.
        assert!(strong_wrong * 100 <= (strong_right + strong_wrong) * 3, "too many wrong strong matches");
        assert_eq!(unrelated_strong, 0, "an unrelated question matched strongly");
        assert!(unrelated_any * 10 <= unrelated, "unrelated questions get sources");
    }

    #[test]
    fn an_entry_for_older_adults_is_not_given_to_a_young_user() {
        let library = Library::load().unwrap();
        let aged: Vec<&Arc<Entry>> = library.entries.iter().filter(|e| e.age_min.is_some_and(|m| m >= 60)).collect();
        let entry = aged.first().expect("the library has entries for older adults");
        let for_young = library.retrieve(&entry.title, Some(30));
        assert!(for_young.iter().all(|g| g.entry.id != entry.id));
        let for_old = library.retrieve(&entry.title, Some(70));
        assert_eq!(for_old.first().map(|g| g.entry.id.as_str()), Some(entry.id.as_str()));
    }

    /// A provider that keeps the entries it was given.
    struct Capture(std::sync::Mutex<Vec<Guideline>>);

    #[async_trait::async_trait]
    impl Agent for Capture {
        fn model_name(&self) -> String {
            "capture".into()
        }
        fn is_local_demo(&self) -> bool {
            false
        }
        async fn answer(&self, request: AgentRequest) -> EventStream {
            *self.0.lock().unwrap() = request.guidance;
            Box::pin(stream::iter([AgentEvent::Finish { reason: "stop".into() }]))
        }
        async fn title(&self, _: &str, _: &str) -> Option<String> {
            None
        }
    }

    #[tokio::test]
    async fn a_follow_up_that_matches_nothing_is_searched_with_the_question_before_it() {
        let capture = Arc::new(Capture(std::sync::Mutex::new(Vec::new())));
        let grounded = GroundedAgent::new(capture.clone(), Arc::new(Library::load().unwrap()));
        let history = vec![crate::agent::PastTurn {
            user: "How many rest days a week should a beginner take?".into(),
            assistant: "Two or three.".into(),
        }];
        let follow_up = AgentRequest { message: "Why is that?".into(), history, ..Default::default() };
        let _ = grounded.answer(follow_up.clone()).await.collect::<Vec<_>>().await;
        let found = capture.0.lock().unwrap().clone();
        assert!(found.iter().any(|g| g.entry.id == "rest-days-beginners"), "{found:?}");
        assert!(found.iter().all(|g| !g.strong));
        // Without the earlier question there is nothing to go on.
        let alone = AgentRequest { history: Vec::new(), ..follow_up };
        let _ = grounded.answer(alone).await.collect::<Vec<_>>().await;
        assert!(capture.0.lock().unwrap().is_empty());
    }

    #[test]
    fn query_syntax_in_a_question_is_just_words() {
        let library = Library::load().unwrap();
        for hostile in ["title:* OR 1=1", "\"unclosed", "+++ --- ((", "", "   ", "<script>alert(1)</script>"] {
            assert!(library.retrieve(hostile, None).is_empty(), "{hostile}");
        }
        // The same words as syntax-free text find the same entry as without the syntax.
        let plain = library.retrieve("how many rest days should a beginner take", None);
        let noisy = library.retrieve("how many \"rest days\" should a beginner take?! (AND OR NOT)", None);
        assert_eq!(plain.first().map(|g| g.entry.id.clone()), noisy.first().map(|g| g.entry.id.clone()));
    }
}

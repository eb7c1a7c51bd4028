//! BM25 search over the library with tantivy, in memory. A question is analysed like the
//! entries (lower case, English stop words out, stems) and each of its words is looked up in
//! the title, the keywords and the text, with the title and keywords weighted higher. The
//! question's words are turned into term queries directly, so nothing a user types is read
//! as query syntax.

use std::collections::HashSet;

use tantivy::{
    collector::TopDocs,
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED},
    tokenizer::{Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer},
    DocAddress, Index, Searcher, TantivyDocument, Term,
};

use super::library::{Entry, LibraryError};

const ANALYZER: &str = "coach_en";

/// Words of a question that say nothing about its subject, on top of the English stop words:
/// without them "what can I take" would match any entry that mentions taking something.
const QUESTION_WORDS: &[&str] = &[
    "i",
    "im",
    "ive",
    "id",
    "me",
    "my",
    "mine",
    "myself",
    "we",
    "our",
    "you",
    "your",
    "what",
    "whats",
    "how",
    "why",
    "when",
    "which",
    "who",
    "where",
    "should",
    "would",
    "could",
    "can",
    "cant",
    "do",
    "does",
    "did",
    "doing",
    "dont",
    "get",
    "getting",
    "got",
    "much",
    "many",
    "some",
    "any",
    "good",
    "best",
    "better",
    "ok",
    "okay",
    "just",
    "really",
    "like",
    "want",
    "need",
    "know",
    "tell",
    "help",
    "please",
    "thanks",
    "s",
    "t",
    "ve",
    "ll",
    "d",
    "re",
    "m",
    "am",
    "have",
    "has",
    "had",
    "take",
    "go",
    "make",
    "way",
    "thing",
    "things",
    "lot",
    "bit",
    "also",
    "still",
    "even",
    "actually",
    "usually",
    "normally",
    "ever",
    "more",
    "most",
    "than",
    "too",
    "very",
    "about",
    "up",
    "out",
    "so",
    "from",
    "all",
    "one",
    "being",
    "been",
    "were",
    "he",
    "she",
    "him",
    "her",
    "his",
    "them",
    "us",
    "its",
    "let",
    "lets",
    "anything",
    "something",
    "someone",
    "ideas",
    "idea",
    "tips",
    "advice",
    "recommend",
    "worth",
];
/// Words of a question looked up; a longer message is mostly context, not the question.
const MAX_QUERY_WORDS: usize = 48;

pub struct SearchIndex {
    /// One view of the index for good: `positions` holds for its segments.
    searcher: Searcher,
    analyzer: TextAnalyzer,
    /// Each field, its weight and every analysed word it holds in the library: a word is
    /// looked up only in the fields that have it (a term no document has scores nothing, but
    /// each lookup still costs a query of its own).
    fields: [(Field, f32, HashSet<String>); 3],
    /// Each entry's analysed words, to tell how much of a question an entry covers.
    entry_words: Vec<HashSet<String>>,
    /// Each indexed document's entry, by segment and document number: read from the document
    /// store once here rather than for every hit.
    positions: Vec<Vec<usize>>,
}

/// One entry found for a question.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub position: usize,
    pub score: f32,
    /// The share of the question's words the entry contains (0 to 1).
    pub coverage: f32,
}

fn analyzer() -> TextAnalyzer {
    let stop: Vec<String> = QUESTION_WORDS.iter().map(|w| w.to_string()).collect();
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(stop));
    match StopWordFilter::new(Language::English) {
        Some(english) => builder.filter(english).filter(Stemmer::new(Language::English)).build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

fn analysed_words(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    words
}

/// Every analysed word of `texts`.
fn vocabulary(analyzer: &TextAnalyzer, texts: impl Iterator<Item = impl AsRef<str>>) -> HashSet<String> {
    texts.flat_map(|text| analysed_words(analyzer, text.as_ref())).collect()
}

impl SearchIndex {
    pub fn build(entries: &[Entry]) -> Result<Self, LibraryError> {
        let failed = |e: tantivy::TantivyError| LibraryError::Index(e.to_string());
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
        );
        let mut schema = Schema::builder();
        let position = schema.add_u64_field("position", STORED);
        let title = schema.add_text_field("title", text.clone());
        let keywords = schema.add_text_field("keywords", text.clone());
        let body = schema.add_text_field("text", text);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER, analyzer());
        // One thread and the smallest arena tantivy allows: the library is a few dozen entries.
        let mut writer = index.writer_with_num_threads(1, 15_000_000).map_err(failed)?;
        for (i, entry) in entries.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(position, i as u64);
            doc.add_text(title, &entry.title);
            doc.add_text(keywords, entry.keywords.join(". "));
            doc.add_text(body, &entry.text);
            writer.add_document(doc).map_err(failed)?;
        }
        writer.commit().map_err(failed)?;
        let analyzer = analyzer();
        let entry_words: Vec<HashSet<String>> = entries
            .iter()
            .map(|e| {
                let all = format!("{} {} {}", e.title, e.keywords.join(" "), e.text);
                analysed_words(&analyzer, &all).into_iter().collect()
            })
            .collect();
        let title_words = vocabulary(&analyzer, entries.iter().map(|e| e.title.as_str()));
        let keyword_words = vocabulary(&analyzer, entries.iter().map(|e| e.keywords.join(". ")));
        let text_words = vocabulary(&analyzer, entries.iter().map(|e| e.text.as_str()));
        let searcher = index.reader().map_err(failed)?.searcher();
        let mut positions = Vec::new();
        for (ord, segment) in (0u32..).zip(searcher.segment_readers()) {
            let mut of_segment = Vec::new();
            for doc_id in 0..segment.max_doc() {
                let doc: TantivyDocument = searcher.doc(DocAddress::new(ord, doc_id)).map_err(failed)?;
                let entry = doc.get_first(position).and_then(|v| v.as_u64()).and_then(|p| usize::try_from(p).ok());
                of_segment.push(entry.ok_or_else(|| LibraryError::Index("an entry without its position".into()))?);
            }
            positions.push(of_segment);
        }
        Ok(Self {
            searcher,
            analyzer,
            fields: [(title, 1.5, title_words), (keywords, 2.0, keyword_words), (body, 1.0, text_words)],
            entry_words,
            positions,
        })
    }

    /// The question's distinct analysed words, in order.
    fn words(&self, question: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        analysed_words(&self.analyzer, question)
            .into_iter()
            .filter(|w| seen.insert(w.clone()))
            .take(MAX_QUERY_WORDS)
            .collect()
    }

    /// The best entries, best first.
    pub fn search(&self, question: &str, limit: usize) -> Vec<Found> {
        let words = self.words(question);
        // Words the library lacks cannot score; they still count against coverage below.
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .flat_map(|word| {
                self.fields.iter().filter(|(_, _, has)| has.contains(word)).map(move |(field, boost, _)| {
                    let term = TermQuery::new(Term::from_field_text(*field, word), IndexRecordOption::WithFreqs);
                    (Occur::Should, Box::new(BoostQuery::new(Box::new(term), *boost)) as Box<dyn Query>)
                })
            })
            .collect();
        if clauses.is_empty() {
            return Vec::new();
        }
        let searcher = &self.searcher;
        let top = match searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit).order_by_score()) {
            Ok(top) => top,
            Err(e) => {
                tracing::warn!(error = %e, "guideline search failed; answering without the library");
                return Vec::new();
            }
        };
        top.into_iter()
            .filter_map(|(score, address)| {
                let position = *self.positions.get(address.segment_ord as usize)?.get(address.doc_id as usize)?;
                let known = self.entry_words.get(position)?;
                let covered = words.iter().filter(|w| known.contains(*w)).count();
                Some(Found { position, score, coverage: covered as f32 / words.len() as f32 })
            })
            .collect()
    }
}

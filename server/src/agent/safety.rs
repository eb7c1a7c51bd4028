//! Red flags: messages that describe a possible emergency get a fixed answer pointing to
//! emergency help, without asking the model at all.
//!
//! Matching is phrase-based over a normalised copy of the message (lower case, apostrophes
//! dropped, punctuation as sentence breaks). It errs towards triggering: a false alarm costs
//! one unhelpful answer, a missed emergency costs far more. Cheap guards keep the common
//! fitness phrasings ("chest day", "this workout is killing me") and plain negations
//! ("no chest pain") from triggering.

use std::sync::LazyLock;

use futures::stream;
use regex::Regex;

use super::{Agent, AgentEvent, AgentRequest, EventStream, SharedAgent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedFlagKind {
    Cardiac,
    Stroke,
    Breathing,
    Fainting,
    /// Suicidal thoughts or self-harm.
    Crisis,
    Bleeding,
    Anaphylaxis,
    Seizure,
    Overdose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedFlag {
    pub kind: RedFlagKind,
    /// The complete answer sent instead of the model's.
    pub answer: &'static str,
}

pub const EMERGENCY_ANSWER: &str = "What you describe could be a medical emergency. \
Please stop what you are doing and call your local emergency number now (911 in the US, \
112 in the EU, 999 in the UK), or ask someone nearby to call for you. Do not drive yourself. \
If someone is unresponsive or not breathing, call emergency services and follow the \
dispatcher's instructions. I am a fitness coach, not a doctor, so I cannot help with this \
safely: please get medical help right away.";

pub const CRISIS_ANSWER: &str = "I am really sorry you are going through this, and I am glad \
you told me. You deserve support from someone who can help right now. In the US, call or text \
988 to reach the 988 Suicide & Crisis Lifeline (free, confidential, 24/7). Elsewhere, call \
your local crisis line or emergency number. If you are in immediate danger or have already \
hurt yourself, call 911 (or your local emergency number) now. If you can, reach out to someone \
you trust and stay with them. You do not have to go through this alone.";

pub const OVERDOSE_ANSWER: &str = "This could be a poisoning emergency. Call your local \
emergency number now (911 in the US). If the person is awake and breathing, you can also call \
Poison Control at 1-800-222-1222 (US) for immediate guidance. Do not wait for symptoms to \
appear, and do not try to make anyone vomit unless you are told to. If this was on purpose, \
the 988 Suicide & Crisis Lifeline (call or text 988 in the US) is there for you too.";

/// Title given to a session whose first message raised a red flag, so the model never sees
/// it even for naming.
pub const SAFETY_TITLE: &str = "Urgent health concern";

/// Patterns per kind, over normalised text (see `normalise`): words separated by one space,
/// no apostrophes ("cant", "im"), sentence punctuation as " . ".
const PATTERNS: &[(RedFlagKind, &[&str])] = &[
    (
        RedFlagKind::Cardiac,
        &[
            r"chest (?:pain|pains|pressure|tightness|discomfort|hurts|hurt|hurting|aches|ache|aching)",
            r"chest (?:is|feels|feel|felt|was|has been|keeps|started) (?:\w+ )?(?:tight|tightening|heavy|hurting|aching|crushing|squeezing|painful|pounding and)",
            r"(?:pain|pressure|tightness|squeezing|crushing|heaviness|discomfort|ache) (?:in|on|across|around) (?:my|the|his|her) chest",
            r"(?:crushing|squeezing|stabbing|sharp) (?:\w+ )?chest",
            r"having (?:a |an )?heart attack",
            r"(?:this|it) (?:a |is a |could be a |might be a )heart attack",
            r"heart attack right now",
            r"pain (?:going|spreading|radiating|shooting|moving) (?:down|to|into|up) (?:my |his |her )?(?:left )?(?:arm|jaw)",
        ],
    ),
    (
        RedFlagKind::Stroke,
        &[
            r"face (?:is |was |started |keeps )?(?:drooping|droops|droopy|drooped)",
            r"(?:drooping|droopy) (?:face|mouth|eyelid and)",
            r"(?:one side|side) of (?:my|his|her|the) (?:face|mouth|body) (?:is |feels |went |has gone |looks )?(?:numb|weak|drooping|droopy|dead|paralyzed|paralysed|limp)",
            r"slurr\w* (?:speech|words|my words|his words|her words)",
            r"(?:speech|talking) (?:is |was |became |seems |sounds )?slurred",
            r"(?:numb|numbness|weak|weakness|tingling|paralysis|paralyzed) (?:in|on|down) (?:one side|my left side|my right side|the left side|the right side|one arm|one leg|half of my)",
            r"one sided (?:weakness|numbness)",
            r"(?:having|this is|is this|is it|might be|could be|think its) (?:a |a mini )?stroke",
            r"heat ?stroke",
            r"worst headache (?:of my life|ever)",
            r"thunderclap headache",
            r"sudden (?:severe |terrible )?headache and",
            r"sudden (?:loss of vision|vision loss|blindness)",
        ],
    ),
    (
        RedFlagKind::Breathing,
        &[
            r"(?:cant|cannot|can not|couldnt|unable to|struggling to|barely) (?:breathe|breath)",
            r"(?:cant|cannot|can not|couldnt) (?:catch|get) (?:my|his|her|a) breath",
            r"(?:gasping|struggling|fighting) for (?:air|breath)",
            r"(?:severe|extreme|sudden|really bad) (?:shortness of breath|breathlessness)",
            r"(?:severely|extremely|dangerously) short of breath",
            r"(?:not|stopped) breathing",
            r"(?:lips|face|fingers) (?:are |is |turning |going |turned |went )?blue",
            r"choking",
        ],
    ),
    (
        RedFlagKind::Fainting,
        &[
            r"(?:passed|pass|passing|blacked|black|blacking) out",
            r"(?:fainted|fainting|faint spell)",
            r"(?:feel|feeling|felt|going to|gonna|about to) faint",
            r"(?:lost|losing|lose) consciousness",
            r"(?:unconscious|unresponsive)",
            r"collapsed",
        ],
    ),
    (
        RedFlagKind::Crisis,
        &[
            r"suicid\w*",
            r"kill(?:ing)? my ?self",
            r"end(?:ing)? my (?:own )?life",
            r"end (?:it all|everything)",
            r"take my (?:own )?life",
            r"(?:want|wanna|wanted|wanting|going|ready) (?:to )?die",
            r"wish (?:i was|i were|to be|i could be) dead",
            r"wish i (?:could )?(?:just )?die",
            r"better off dead",
            r"(?:dont|do not) want to (?:live|be alive|be here anymore|wake up)",
            r"no (?:reason|point) (?:to|in) (?:live|living|going on)",
            r"not worth living",
            r"self ?harm\w*",
            r"harm(?:ing)? my ?self",
            r"cutting my ?self",
            r"cut my ?self on purpose",
            r"(?:want|wanting|going|thinking about|thought about|think about|urge|urges) (?:to )?(?:hurt|harm|cut|kill) my ?self",
        ],
    ),
    (
        RedFlagKind::Bleeding,
        &[
            r"bleeding (?:\w+ )?(?:heavily|badly|a lot|profusely|wont stop|will not stop|nonstop|uncontrollably|everywhere|like crazy)",
            r"(?:severe|heavy|uncontrolled|uncontrollable|massive) bleeding",
            r"(?:cant|cannot|can not|wont|couldnt) stop (?:the )?bleeding",
            r"blood (?:is )?(?:everywhere|gushing|spurting|pouring)",
            r"(?:coughing|throwing|vomiting|puking|spitting) (?:up )?blood",
        ],
    ),
    (
        RedFlagKind::Anaphylaxis,
        &[
            r"anaphyla\w*",
            r"(?:throat|tongue|airway) (?:is |feels |feel |keeps |started )?(?:swelling|swollen|closing|tightening)",
            r"swelling (?:in|of) (?:my |the |his |her )?(?:throat|tongue)",
            r"swollen (?:throat|tongue)",
            r"(?:need|use|used|using|grab) (?:an |my |his |her )?epi ?pen",
            r"severe allergic reaction",
        ],
    ),
    (RedFlagKind::Seizure, &[r"(?:having|had|has|is having) (?:a )?seizure", r"seizing", r"convuls\w*"]),
    (
        RedFlagKind::Overdose,
        &[
            r"(?:i|he|she|they|we|friend|son|daughter|brother|sister|wife|husband|partner|someone|somebody) (?:\w+ ){0,2}overdos\w*",
            r"(?:took|taken|swallowed|had) an overdose",
            r"(?:took|taken|swallowed|take) (?:way )?too many (?:\w+ )?(?:pills|tablets|meds|capsules|sleeping)",
            r"(?:took|swallowed) (?:a whole|an entire|the whole|a full) bottle",
        ],
    ),
];

/// Words that, right before a matched phrase, say the user does not have it.
const NEGATIONS: &[&str] =
    &["no", "not", "without", "never", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent", "denies", "deny", "nor"];
/// Words that may sit between a negation and the phrase ("dont have any chest pain").
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
];

static RULES: LazyLock<Vec<(RedFlagKind, Regex)>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .filter_map(|(kind, patterns)| {
            let joined = format!(r"\b(?:{})\b", patterns.join("|"));
            // The patterns are constants covered by the tests below; logging keeps a broken
            // edit from taking the whole server down.
            match Regex::new(&joined) {
                Ok(re) => Some((*kind, re)),
                Err(e) => {
                    tracing::error!(?kind, error = %e, "red-flag pattern does not compile");
                    None
                }
            }
        })
        .collect()
});

/// Lower case, curly quotes straightened and apostrophes dropped, sentence punctuation kept
/// as a " . " break (so phrases and negations do not reach across sentences), everything
/// else a single space.
fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 2);
    out.push(' ');
    for c in message.chars().flat_map(char::to_lowercase) {
        match c {
            '\'' | '’' | '‘' | '`' | '´' => {}
            '.' | '!' | '?' | ';' | ',' | ':' | '\n' => out.push_str(" . "),
            c if c.is_alphanumeric() => out.push(c),
            _ => out.push(' '),
        }
    }
    out.push(' ');
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn negated(before: &str) -> bool {
    let words: Vec<&str> = before.split_whitespace().rev().take(4).collect();
    for (i, word) in words.iter().enumerate() {
        if NEGATIONS.contains(word) {
            return true;
        }
        if *word == "." || !NEGATION_FILLERS.contains(word) || i >= 2 {
            return false;
        }
    }
    false
}

/// The red flag raised by `message`, if any.
pub fn red_flag(message: &str) -> Option<RedFlag> {
    let text = normalise(message);
    RULES.iter().find_map(|(kind, re)| {
        let answer = match kind {
            RedFlagKind::Crisis => CRISIS_ANSWER,
            RedFlagKind::Overdose => OVERDOSE_ANSWER,
            _ => EMERGENCY_ANSWER,
        };
        re.find_iter(&text).any(|m| !negated(&text[..m.start()])).then_some(RedFlag { kind: *kind, answer })
    })
}

/// The fixed answer as an event stream: a few sentence-sized deltas, then `Finish("safety")`,
/// so clients render it exactly like a streamed answer.
pub fn safety_stream(flag: RedFlag) -> EventStream {
    let deltas = flag.answer.split_inclusive(". ").map(|s| AgentEvent::Delta(s.to_string()));
    let finish = AgentEvent::Finish { reason: "safety".into() };
    Box::pin(stream::iter(deltas.chain(std::iter::once(finish)).collect::<Vec<_>>()))
}

/// Checks every message for red flags before any model sees it.
pub struct GuardedAgent {
    inner: SharedAgent,
}

impl GuardedAgent {
    pub fn new(inner: SharedAgent) -> Self {
        Self { inner }
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

    async fn answer(&self, request: AgentRequest) -> EventStream {
        if let Some(flag) = red_flag(&request.message) {
            // The kind only: the message itself is health data and stays out of the logs.
            tracing::info!(kind = ?flag.kind, "red flag raised; sending the fixed safety answer");
            return safety_stream(flag);
        }
        self.inner.answer(request).await
    }

    async fn title(&self, first_message: &str, first_answer: &str) -> Option<String> {
        if red_flag(first_message).is_some() {
            return Some(SAFETY_TITLE.into());
        }
        self.inner.title(first_message, first_answer).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use futures::StreamExt;

    use super::*;

    const TRIGGERS: &[(&str, RedFlagKind)] = &[
        ("My chest hurts when I walk up stairs", RedFlagKind::Cardiac),
        ("I have chest pain after running", RedFlagKind::Cardiac),
        ("there's a lot of pressure in my chest right now", RedFlagKind::Cardiac),
        ("My chest feels really tight and heavy", RedFlagKind::Cardiac),
        ("I think I'm having a heart attack", RedFlagKind::Cardiac),
        ("sharp pain spreading down my left arm", RedFlagKind::Cardiac),
        ("No, my chest hurts a lot!", RedFlagKind::Cardiac),
        ("I fainted during my workout", RedFlagKind::Fainting),
        ("I almost passed out after squats", RedFlagKind::Fainting),
        ("feeling faint and dizzy", RedFlagKind::Fainting),
        ("My dad's face is drooping and his speech is slurred", RedFlagKind::Stroke),
        ("sudden numbness on one side of my body", RedFlagKind::Stroke),
        ("one side of my face feels numb", RedFlagKind::Stroke),
        ("I think I have heat stroke", RedFlagKind::Stroke),
        ("worst headache of my life", RedFlagKind::Stroke),
        ("I can't breathe", RedFlagKind::Breathing),
        ("I CANT CATCH MY BREATH even sitting down", RedFlagKind::Breathing),
        ("gasping for air after the run", RedFlagKind::Breathing),
        ("I feel like killing myself", RedFlagKind::Crisis),
        ("I want to die", RedFlagKind::Crisis),
        ("I’ve been having suicidal thoughts", RedFlagKind::Crisis),
        ("sometimes I think about ending my life", RedFlagKind::Crisis),
        ("I don't want to wake up anymore", RedFlagKind::Crisis),
        ("I've been self-harming again", RedFlagKind::Crisis),
        ("everyone would be better off dead without me, me included", RedFlagKind::Crisis),
        ("I cut myself on purpose last night", RedFlagKind::Crisis),
        ("my knee is bleeding heavily after a fall", RedFlagKind::Bleeding),
        ("I can't stop the bleeding", RedFlagKind::Bleeding),
        ("I'm coughing up blood", RedFlagKind::Bleeding),
        ("my throat is swelling after eating peanuts", RedFlagKind::Anaphylaxis),
        ("I think I'm having anaphylaxis", RedFlagKind::Anaphylaxis),
        ("my friend is having a seizure at the gym", RedFlagKind::Seizure),
        ("I think I overdosed on my pre-workout pills", RedFlagKind::Overdose),
        ("I took way too many sleeping pills", RedFlagKind::Overdose),
    ];

    const NON_TRIGGERS: &[&str] = &[
        "What's a good chest workout for beginners?",
        "Tomorrow is chest day, what should I do?",
        "How heavy should my chest press be?",
        "My chest is sore from bench press two days ago",
        "This workout is killing me lol",
        "I'm dying to try the new protein bar",
        "I get out of breath when I run, how do I build cardio?",
        "Any breathing exercises for better sleep?",
        "I don't have any chest pain, just a sore shoulder",
        "Best stroke technique for freestyle swimming?",
        "How do I lower my risk of a heart attack in the long run?",
        "Can you overdose on caffeine from coffee?",
        "I hurt my back deadlifting, what stretches help?",
        "I killed my leg workout today",
        "Chest fly or dips for the lower chest?",
        "My one weakness is late-night snacks",
    ];

    #[test]
    fn emergencies_raise_the_right_flag() {
        for (message, kind) in TRIGGERS {
            let flag = red_flag(message);
            assert_eq!(flag.map(|f| f.kind), Some(*kind), "{message:?}");
        }
        assert!(TRIGGERS.len() >= 20);
    }

    #[test]
    fn everyday_fitness_talk_raises_nothing() {
        for message in NON_TRIGGERS {
            assert_eq!(red_flag(message), None, "{message:?}");
        }
        assert!(NON_TRIGGERS.len() >= 8);
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(RULES.len(), PATTERNS.len());
    }

    #[test]
    fn crisis_answers_point_to_988_and_emergencies_to_911() {
        assert!(red_flag("i want to kill myself").unwrap().answer.contains("988"));
        assert!(red_flag("my chest hurts").unwrap().answer.contains("911"));
        assert!(red_flag("I think I overdosed").unwrap().answer.contains("1-800-222-1222"));
    }

    /// Counts calls so a test can prove the model was never asked.
    struct CountingAgent(Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl Agent for CountingAgent {
        fn model_name(&self) -> String {
            "counting".into()
        }
        fn is_local_demo(&self) -> bool {
            false
        }
        async fn answer(&self, _request: AgentRequest) -> EventStream {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(stream::iter(vec![
                AgentEvent::Delta("model".into()),
                AgentEvent::Finish { reason: "stop".into() },
            ]))
        }
        async fn title(&self, _m: &str, _a: &str) -> Option<String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Some("model title".into())
        }
    }

    fn request(message: &str) -> AgentRequest {
        AgentRequest {
            profile: Default::default(),
            history: vec![],
            message: message.into(),
            message_type: app::wire::chat::MessageType::General,
        }
    }

    #[tokio::test]
    async fn a_red_flag_gets_the_fixed_answer_without_calling_the_model() {
        let calls = Arc::new(AtomicUsize::new(0));
        let agent = GuardedAgent::new(Arc::new(CountingAgent(calls.clone())));

        let events: Vec<_> = agent.answer(request("my chest hurts and my left arm is numb")).await.collect().await;

        let text: String = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, EMERGENCY_ANSWER);
        assert!(events.len() > 2, "streamed in several pieces");
        assert_eq!(events.last(), Some(&AgentEvent::Finish { reason: "safety".into() }));
        assert_eq!(agent.title("my chest hurts", "").await.as_deref(), Some(SAFETY_TITLE));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn other_messages_reach_the_model() {
        let calls = Arc::new(AtomicUsize::new(0));
        let agent = GuardedAgent::new(Arc::new(CountingAgent(calls.clone())));

        let events: Vec<_> = agent.answer(request("plan my chest day")).await.collect().await;

        assert_eq!(events[0], AgentEvent::Delta("model".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

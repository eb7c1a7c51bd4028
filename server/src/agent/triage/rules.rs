//! The triage rules, each named (the name is stored with the answer it decided).
//!
//! Two kinds, both over the sentences of `text::sentences` (typos of key words fixed):
//! - a *phrase*: one regular expression that must match within a sentence;
//! - *together*: several expressions that must all match somewhere in the message, in any
//!   order ("pain in my chest", "chest feels tight", "tight chest" are one rule).
//!
//! A match counts only if its first part is not negated ("no chest pain", "I dont have any
//! chest pain", "never fainted"). `unless` lists everyday phrasings that look alike ("chest
//! press", "can you overdose on caffeine"); `history` rules skip a sentence about the past
//! ("I used to self harm years ago") unless it also speaks of now ("again", "still", …).
//! Inflections are written into the expressions (`faint(?:ed|ing)`, `rac\w*`).

use app::wire::chat::TriageTier;

pub struct Rule {
    pub name: &'static str,
    pub tier: TriageTier,
    /// Poisoning answers name the poison line as well as the emergency number.
    pub poisoning: bool,
    pub parts: &'static [&'static str],
    pub unless: &'static [&'static str],
    pub history: bool,
}

const fn phrase(name: &'static str, tier: TriageTier, pattern: &'static [&'static str]) -> Rule {
    Rule { name, tier, poisoning: false, parts: pattern, unless: &[], history: false }
}

use TriageTier::{Crisis, Emergency, Urgent};

/// Said with an overdose or a poisoning, intent makes it a crisis (the answer then names the
/// crisis line as well as the emergency number).
pub const INTENT: &str = r"on purpose|deliberately|intentionally|to make it stop|to end it|to die\b|so i (?:wont|dont|would not) wake up|want(?:ed)? to die";

/// Sentence words that place a statement in the past, and those that bring it back to now.
pub const PAST: &str = r"\b(?:used to|years ago|in the past|when i was (?:younger|a teen|a kid|in school))\b";
pub const NOW: &str = r"\b(?:again|now|still|lately|these days|today|tonight|recently|been)\b";

pub const RULES: &[Rule] = &[
    // Crisis: suicide and self-harm, direct and indirect.
    Rule {
        name: "crisis_suicide_words",
        tier: Crisis,
        poisoning: false,
        parts: &[r"suicid\w*"],
        unless: &[r"(?:do|doing|did|run|running|ran) suicides|suicide (?:sprint|drill|run|squat)s?"],
        history: true,
    },
    Rule {
        name: "crisis_wish_to_die",
        tier: Crisis,
        poisoning: false,
        parts: &[
            r"kill(?:ing)? my ?self|end(?:ing)? my (?:own )?life|take my (?:own )?life|end (?:it all|everything)|(?:want|wanna|wanted|wanting|going|ready) to die|wish (?:i was|i were|to be|i could be|i had been) dead|wish i (?:could )?(?:just )?die|better off (?:dead|without me)|(?:dont|do not) want to (?:live|be alive|be here|exist|wake up)|no (?:reason|point) (?:to|in) (?:live|living|going on|being alive)|(?:not|isnt|is not|aint) worth living|(?:nobody|no one|noone) would (?:miss|care about|notice) me|disappear forever|(?:cant|cannot) go on (?:like this|anymore|any more)|(?:jump|jumping|jumped) (?:off|in front of) (?:the |a )?(?:bridge|building|roof|train|balcony)|given away my (?:things|stuff|belongings)",
        ],
        unless: &[],
        history: true,
    },
    Rule {
        name: "crisis_self_harm",
        tier: Crisis,
        poisoning: false,
        parts: &[
            r"self ?harm\w*|cutting my ?self|burning my ?self|(?:hurt|harm|cut|burn|punish)(?:ing)? my ?self (?:on purpose|deliberately|again)",
        ],
        unless: &[],
        history: true,
    },
    Rule {
        name: "crisis_urge_to_self_harm",
        tier: Crisis,
        poisoning: false,
        parts: &[
            r"(?:hurt|harm|cut|burn|punish)(?:ing)? my ?self",
            r"(?:want|wanna|going to|urge|urges|thinking about|think about|on purpose|deliberately|intentionally|deserve|again)",
        ],
        unless: &[],
        history: true,
    },
    Rule {
        name: "crisis_eating_disorder",
        tier: Crisis,
        poisoning: false,
        parts: &[
            r"starv\w* my ?self|make my ?self (?:throw up|vomit|sick|puke)|purg(?:e|es|ed|ing)\b|punish\w* my ?self by (?:not eating|starving|skipping)|only (?:eat|eating|ate|having|allow my ?self) (?:[1-7]\d{2}|\d{1,2}) (?:calories|kcal|cals?)",
        ],
        unless: &[],
        history: true,
    },
    // Emergencies.
    phrase(
        "cardiac_chest_pain",
        Emergency,
        &[r"chest (?:pain|pains|pressure|tightness|discomfort|hurts?|hurting|aches?|aching)"],
    ),
    Rule {
        name: "cardiac_chest_symptom",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"chest",
            r"pain|pressure|tight\w*|heavy|heaviness|crush\w*|squeez\w*|hurts?|hurting|ach(?:e|es|ing)|discomfort|killing me",
        ],
        unless: &[r"chest (?:press|day|fly|flies|workout|workouts|exercises?|dips|muscles?)"],
        history: false,
    },
    phrase(
        "cardiac_heart_attack",
        Emergency,
        &[r"(?:having|is this|this is|its|it is|might be|could be|maybe|am i having) (?:a |an )?heart attack"],
    ),
    Rule {
        name: "cardiac_arm_or_jaw",
        tier: Emergency,
        poisoning: false,
        parts: &[r"pain|ache|numb\w*|tingl\w*", r"left arm|jaw"],
        unless: &[],
        history: false,
    },
    Rule {
        name: "cardiac_racing_heart",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"heart",
            r"rac(?:e|es|ed|ing)|pounding|skipping|fluttering",
            r"dizz\w*|faint\w*|at rest|chest|\b2\d\d\b|collaps\w*|black\w* out|cant stand|pass\w* out",
        ],
        unless: &[],
        history: false,
    },
    phrase(
        "stroke_face_or_speech",
        Emergency,
        &[
            r"face (?:is |was |started |keeps |looks )?(?:drooping|droops|droopy|drooped)|(?:drooping|droopy) (?:face|mouth|eyelid)|slurr\w*",
        ],
    ),
    Rule {
        name: "stroke_one_side",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"numb\w*|weak(?:ness)?\b|tingl\w*|paraly\w*|dead|limp|droop\w*",
            r"one side|left side|right side|side of (?:my|his|her|the) (?:face|mouth|body)",
        ],
        unless: &[],
        history: false,
    },
    phrase(
        "stroke_named_or_sudden",
        Emergency,
        &[
            r"(?:having|this is|is this|is it|might be|could be|maybe|am i having) (?:a |a mini )?stroke|worst headache (?:of my life|ever)|thunderclap headache|sudden(?:ly)? (?:\w+ )?(?:lost|loss of|losing|lose) (?:my )?(?:vision|sight)|(?:lost|losing) (?:vision|sight) in (?:one|my|his|her) eye",
        ],
    ),
    phrase(
        "breathing_cannot_breathe",
        Emergency,
        &[
            r"(?:cant|cannot|can not|couldnt|unable to|struggling to|barely|hard to) (?:breathe|breath)|(?:cant|cannot|can not|couldnt) (?:catch|get) (?:my|his|her|a) breath|(?:gasping|struggling|fighting) for (?:air|breath)|(?:lips|face|fingers) (?:are |is )?(?:turning |going |turned |went )?blue|(?:severe|extreme|sudden|really bad) (?:shortness of breath|breathlessness)|(?:stopped|not|isnt|is not|wasnt) breathing|chok(?:e|es|ed|ing)\b",
        ],
    ),
    phrase("anaphylaxis_named", Emergency, &[r"anaphyla\w*|severe allergic reaction|epi ?pens?\b"]),
    Rule {
        name: "anaphylaxis_swelling",
        tier: Emergency,
        poisoning: false,
        parts: &[r"throat|tongue|lips?\b|airway", r"swell\w*|swollen|closing|tighten\w*"],
        unless: &[],
        history: false,
    },
    phrase(
        "bleeding_severe",
        Emergency,
        &[
            r"bleeding (?:\w+ )?(?:heavily|badly|a lot|profusely|nonstop|uncontrollably|everywhere)|(?:severe|heavy|uncontrolled|uncontrollable|massive) bleeding|(?:cant|cannot|can not|wont|couldnt) stop (?:the )?bleeding|bleeding (?:wont|will not|doesnt|does not) stop|blood (?:is )?(?:everywhere|gushing|spurting|pouring)|(?:coughing|throwing|vomiting|puking|spitting) (?:up )?blood",
        ],
    ),
    Rule {
        name: "head_injury_warning_signs",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"(?:hit|hitting|banged|bumped|knocked|injured|fell on) (?:\w+ ){0,2}head|head (?:injury|injuries|trauma)|knocked out",
            r"confus\w*|vomit\w*|throw\w* up|threw up|pass\w* out|unconscious|pupils?\b|cant remember|(?:terrible|severe|worst) headache|knocked out|seizure|drowsy",
        ],
        unless: &[],
        history: false,
    },
    phrase("heat_stroke", Emergency, &[r"heat ?stroke"]),
    Rule {
        name: "heat_illness",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"heat|hot\b|sun\b|temperature|fever",
            r"confus\w*|not making sense|stopped sweating|delirious|collaps\w*",
        ],
        unless: &[],
        history: false,
    },
    phrase(
        "dehydration_severe",
        Emergency,
        &[
            r"(?:cant|couldnt|cannot|havent been able to|not able to|unable to) keep (?:any )?(?:water|fluids?|food|anything) down|severe\w* dehydrated|no urine|havent (?:peed|urinated)|not (?:peed|urinated)|cant stop (?:vomit\w*|throwing up|puking)|too weak to (?:stand|walk)",
        ],
    ),
    Rule {
        name: "collapse_or_fainting",
        tier: Emergency,
        poisoning: false,
        parts: &[
            r"(?:passed|pass|passes|passing|blacked|black|blacking) out|faint(?:ed|ing)\b|(?:feel|feeling|felt|going to|gonna|about to) faint\b|(?:lost|losing|lose) consciousness|unconscious|unresponsive|(?:wont|will not|doesnt|cant) wake up|collaps\w*",
        ],
        unless: &[r"collapsed (?:on|onto|into) (?:the |my )?(?:couch|sofa|bed)"],
        history: false,
    },
    phrase("seizure", Emergency, &[r"(?:having|had|has|is having) (?:a )?seizure|seizing|convuls\w*"]),
    Rule {
        name: "overdose_named",
        tier: Emergency,
        poisoning: true,
        parts: &[r"overdos\w*"],
        unless: &[
            r"(?:can|could) (?:you|i|one|someone|people|a person) (?:\w+ )?overdose|how (?:much|many) .* overdose|risk of (?:an )?overdose",
        ],
        history: false,
    },
    Rule {
        name: "overdose_too_much",
        tier: Emergency,
        poisoning: true,
        parts: &[
            r"took|taken|take|swallowed|swallow|had|ate|drank|downed",
            r"too many|too much|way too|(?:whole|entire|full) bottle|bunch of|handful of|all (?:my|of my|the|his|her)\b|double (?:my|the|his|her)|\b(?:1\d|[2-9]\d|\d{3,})\b",
            r"pills?\b|tablets?\b|meds\b|medication\w*|capsules|paracetamol|acetaminophen|tylenol|ibuprofen|aspirin|insulin|sleeping",
        ],
        unless: &[],
        history: false,
    },
    Rule {
        name: "poisoning",
        tier: Emergency,
        poisoning: true,
        parts: &[
            r"drank|drink|drunk|swallowed|ate|ingested|took",
            r"bleach|antifreeze|cleaning (?:liquid|fluid|product)|detergent|poison\w*|chemicals?\b|pesticide|laundry pods?",
        ],
        unless: &[],
        history: false,
    },
    // Urgent: a doctor soon; the coach may still help in general terms.
    Rule {
        name: "urgent_fever_and_swelling",
        tier: Urgent,
        poisoning: false,
        parts: &[r"fever", r"swollen|swelling|hot\b|red\b"],
        unless: &[],
        history: false,
    },
    Rule {
        name: "urgent_swollen_calf",
        tier: Urgent,
        poisoning: false,
        parts: &[r"calf|calves", r"swollen|swelling|red\b|warm\b"],
        unless: &[],
        history: false,
    },
    phrase(
        "urgent_symptom",
        Urgent,
        &[
            r"dizzy (?:every time|whenever|when) i (?:stand|get up)|heart (?:skips|skipping|flutter\w*)|palpitation\w*|blood in (?:my )?(?:urine|pee|stool|poo)|(?:broke|broken) (?:my |his |her )?(?:wrist|arm|leg|ankle|foot|hand|finger|toe|rib|nose|collarbone|bone)|fractur\w*|lump (?:in|on) (?:my )?(?:testicle|breast|neck|armpit)|lost \d+ ?(?:kg|kilos|lbs|pounds) without (?:trying|dieting)|cant (?:put|bear) (?:any )?weight on|resting heart rate (?:has been |is |of )?(?:1\d\d)|severe (?:stomach|abdominal|belly) pain",
        ],
    ),
];

//! The fixed answers, with the emergency number, crisis line and poison line of the
//! deployment (`SAFETY_REGION` gives defaults; `EMERGENCY_NUMBER`, `CRISIS_LINE` and
//! `POISON_LINE` override them).

use app::wire::{chat::TriageTier, safety::SafetyInfo};

use super::Triage;

/// Where to send people, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyLines {
    pub emergency_number: String,
    /// A sentence naming the crisis line and how to reach it.
    pub crisis_line: String,
    pub poison_line: Option<String>,
}

impl SafetyLines {
    /// The defaults of a region: `US`, `GB` (or `UK`), `EU`, `AU`, `CA`; `None` for others.
    pub fn for_region(region: &str) -> Option<SafetyLines> {
        let lines = |emergency: &str, crisis: &str, poison: Option<&str>| SafetyLines {
            emergency_number: emergency.into(),
            crisis_line: crisis.into(),
            poison_line: poison.map(str::to_string),
        };
        Some(match region.to_ascii_uppercase().as_str() {
            "US" => lines(
                "911",
                "call or text 988 (the 988 Suicide & Crisis Lifeline, free, 24/7)",
                Some("Poison Control at 1-800-222-1222"),
            ),
            "CA" => {
                lines("911", "call or text 988 (Suicide Crisis Helpline, 24/7)", Some("your provincial poison centre"))
            }
            "GB" | "UK" => lines("999", "call Samaritans on 116 123 (free, 24/7)", Some("NHS 111")),
            "EU" => lines("112", "call your local crisis line (in many EU countries 116 123)", None),
            "AU" => {
                lines("000", "call Lifeline on 13 11 14 (24/7)", Some("the Poisons Information Centre on 13 11 26"))
            }
            _ => return None,
        })
    }

    pub fn info(&self) -> SafetyInfo {
        SafetyInfo { emergency_number: self.emergency_number.clone(), crisis_line: self.crisis_line.clone() }
    }

    /// The whole answer to an emergency or a crisis.
    pub fn answer(&self, triage: &Triage) -> String {
        let emergency = &self.emergency_number;
        match (triage.tier, triage.poisoning) {
            (TriageTier::Crisis, _) => format!(
                "I am really sorry you are going through this, and I am glad you told me. You deserve \
                 support from a person who can help right now: {}. If you are in immediate danger, or \
                 have already hurt yourself or taken something, call {emergency} now. If you can, reach \
                 out to someone you trust and stay with them. You do not have to go through this alone.",
                self.crisis_line
            ),
            (_, true) => {
                let poison = self.poison_line.as_ref().map_or(String::new(), |line| {
                    format!(" If the person is awake and breathing, you can also call {line} for advice.")
                });
                format!(
                    "This could be a poisoning emergency. Call {emergency} now.{poison} Do not wait for \
                     symptoms, and do not make anyone vomit unless you are told to. I am an AI coach, not a \
                     clinician: please get medical help right away."
                )
            }
            _ => format!(
                "What you describe could be a medical emergency. Please stop what you are doing and call \
                 {emergency} now, or ask someone nearby to call for you. Do not drive yourself. If someone is \
                 unresponsive or not breathing, call {emergency} and follow the dispatcher's instructions. I am \
                 an AI coach, not a clinician, so I cannot help with this safely: please get medical help \
                 right away."
            ),
        }
    }

    /// The line before the coach's answer to an urgent message.
    pub fn urgent(&self) -> String {
        format!(
            "What you describe should be checked by a doctor soon, in the next day or two (call {} if it \
             gets severe or sudden). I cannot examine or diagnose you; here is some general information \
             until then.\n\n",
            self.emergency_number
        )
    }
}

//! The guideline entries an answer drew on, as sent in the final frame, stored with the turn
//! and shown under the answer.

use serde::{Deserialize, Serialize};

/// One entry of the guideline library and the published guidance it restates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Source {
    /// The entry's stable id in the library, e.g. `adults-aerobic-weekly`.
    pub id: String,
    /// The entry's title.
    pub title: String,
    /// Who published the guidance, e.g. `World Health Organization`.
    pub org: String,
    /// The published document.
    pub document: String,
    pub year: u16,
    /// Always `https://`.
    pub url: String,
}

/// Which library entries a turn used and how well each matched (recorded in `raw_events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GuidelineUse {
    pub id: String,
    /// The BM25 score of the match.
    pub score: f32,
    /// Matched strongly enough for the offline demo model to answer from the entry itself.
    #[serde(default)]
    pub strong: bool,
}

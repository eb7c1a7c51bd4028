//! Where the app sends people in an emergency or a crisis, as this deployment configured it
//! (shown in the chat's disclosure line and used by the fixed answers).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SafetyInfo {
    /// The emergency number to call, e.g. `911`.
    pub emergency_number: String,
    /// How to reach the crisis line, as a phrase ("call or text 988 …").
    pub crisis_line: String,
}

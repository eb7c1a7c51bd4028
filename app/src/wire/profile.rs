//! The health profile the coach uses, and its validation (shared so the browser can show
//! the same field errors the server enforces).

use serde::{Deserialize, Serialize};

pub use super::error::FieldError;

/// The limits below are the ones [`Profile::validate`] enforces (a 422 names the field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Profile {
    #[cfg_attr(feature = "ssr", schema(minimum = 13, maximum = 120))]
    pub age: Option<u32>,
    /// `beginner`, `intermediate` or `advanced`.
    #[cfg_attr(feature = "ssr", schema(schema_with = fitness_level_schema))]
    pub fitness_level: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = goals_schema))]
    pub goals: Vec<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 2000))]
    pub health_notes: Option<String>,
    /// `metric` or `imperial`.
    #[serde(default = "default_units")]
    #[cfg_attr(feature = "ssr", schema(schema_with = units_schema))]
    pub units: String,
    #[cfg_attr(feature = "ssr", schema(minimum = 50, maximum = 272))]
    pub height_cm: Option<f64>,
    #[cfg_attr(feature = "ssr", schema(minimum = 20, maximum = 400))]
    pub weight_kg: Option<f64>,
    /// The readiness questions answered "yes" (any one means: medical clearance before
    /// strenuous training). Absent or empty: none.
    #[serde(default)]
    pub readiness_yes: Vec<ReadinessQuestion>,
}

/// Pre-exercise readiness questions in the manner of the PAR-Q+ (the screening exercise
/// professionals use before strenuous training), in our own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReadinessQuestion {
    HeartConditionOrBloodPressure,
    ChestPain,
    DizzinessOrFainting,
    OtherChronicCondition,
    MedicationForChronicCondition,
    BoneJointOrSoftTissue,
    SupervisedActivityOnly,
}

impl ReadinessQuestion {
    pub const ALL: [ReadinessQuestion; 7] = [
        ReadinessQuestion::HeartConditionOrBloodPressure,
        ReadinessQuestion::ChestPain,
        ReadinessQuestion::DizzinessOrFainting,
        ReadinessQuestion::OtherChronicCondition,
        ReadinessQuestion::MedicationForChronicCondition,
        ReadinessQuestion::BoneJointOrSoftTissue,
        ReadinessQuestion::SupervisedActivityOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadinessQuestion::HeartConditionOrBloodPressure => "heart_condition_or_blood_pressure",
            ReadinessQuestion::ChestPain => "chest_pain",
            ReadinessQuestion::DizzinessOrFainting => "dizziness_or_fainting",
            ReadinessQuestion::OtherChronicCondition => "other_chronic_condition",
            ReadinessQuestion::MedicationForChronicCondition => "medication_for_chronic_condition",
            ReadinessQuestion::BoneJointOrSoftTissue => "bone_joint_or_soft_tissue",
            ReadinessQuestion::SupervisedActivityOnly => "supervised_activity_only",
        }
    }

    /// The question as the profile page asks it.
    pub fn question(self) -> &'static str {
        match self {
            ReadinessQuestion::HeartConditionOrBloodPressure => {
                "Has a doctor told you that you have a heart condition or high blood pressure?"
            }
            ReadinessQuestion::ChestPain => "Do you get chest pain at rest, in daily life or when you are active?",
            ReadinessQuestion::DizzinessOrFainting => {
                "In the last year, have you lost your balance from dizziness or lost consciousness?"
            }
            ReadinessQuestion::OtherChronicCondition => {
                "Have you been diagnosed with another chronic medical condition?"
            }
            ReadinessQuestion::MedicationForChronicCondition => {
                "Do you take prescribed medication for a chronic condition?"
            }
            ReadinessQuestion::BoneJointOrSoftTissue => {
                "Do you have (or had in the last year) a bone, joint or soft-tissue problem that more activity could worsen?"
            }
            ReadinessQuestion::SupervisedActivityOnly => {
                "Has a doctor said you should only exercise under medical supervision?"
            }
        }
    }
}

#[cfg(feature = "ssr")]
fn fitness_level_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::{schema::Type, ObjectBuilder, OneOfBuilder, Schema};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(FITNESS_LEVELS)))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some("`beginner`, `intermediate` or `advanced`."))
            .build(),
    )
}

#[cfg(feature = "ssr")]
fn goals_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::{schema::Type, ArrayBuilder, ObjectBuilder};
    // Each goal must hold something besides (Unicode) whitespace.
    let goal = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(120))
        .pattern(Some("[^\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"));
    ArrayBuilder::new().items(goal).max_items(Some(10)).default(Some(serde_json::json!([]))).build()
}

#[cfg(feature = "ssr")]
fn units_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::Type, ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(UNITS))
        .default(Some(serde_json::json!("metric")))
        .description(Some("`metric` or `imperial`."))
        .build()
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            age: None,
            fitness_level: None,
            goals: Vec::new(),
            health_notes: None,
            units: default_units(),
            height_cm: None,
            weight_kg: None,
            readiness_yes: Vec::new(),
        }
    }
}

fn default_units() -> String {
    "metric".into()
}

pub const FITNESS_LEVELS: [&str; 3] = ["beginner", "intermediate", "advanced"];
pub const UNITS: [&str; 2] = ["metric", "imperial"];

impl Profile {
    /// Every field problem at once, so a form can show them all inline.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err =
            |field: &str, message: &str| errors.push(FieldError { field: field.into(), message: message.into() });
        if let Some(age) = self.age {
            if !(13..=120).contains(&age) {
                err("age", "Age must be between 13 and 120.");
            }
        }
        if let Some(level) = &self.fitness_level {
            if !FITNESS_LEVELS.contains(&level.as_str()) {
                err("fitness_level", "Fitness level must be beginner, intermediate or advanced.");
            }
        }
        if self.goals.len() > 10 {
            err("goals", "At most 10 goals.");
        }
        if self.goals.iter().any(|g| g.trim().is_empty() || g.chars().count() > 120) {
            err("goals", "Each goal must be 1 to 120 characters.");
        }
        if self.health_notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            err("health_notes", "Health notes must be at most 2000 characters.");
        }
        if !UNITS.contains(&self.units.as_str()) {
            err("units", "Units must be metric or imperial.");
        }
        if self.height_cm.is_some_and(|h| !(50.0..=272.0).contains(&h)) {
            err("height_cm", "Height must be between 50 and 272 cm.");
        }
        if self.weight_kg.is_some_and(|w| !(20.0..=400.0).contains(&w)) {
            err("weight_kg", "Weight must be between 20 and 400 kg.");
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_profile_is_valid() {
        assert!(Profile::default().validate().is_empty());
    }

    #[test]
    fn out_of_range_fields_are_each_reported() {
        let p = Profile {
            age: Some(7),
            fitness_level: Some("elite".into()),
            units: "furlongs".into(),
            weight_kg: Some(5.0),
            ..Default::default()
        };
        let fields: Vec<_> = p.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["age", "fitness_level", "units", "weight_kg"]);
    }
}

//! OpenAI's limits on `metadata` (responses, conversations): one check for every surface.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// OpenAI's metadata limits: 16 pairs, keys ≤ 64 chars, string values ≤ 512 chars.
pub fn validate_metadata(metadata: &Map<String, Value>) -> Result<(), ApiError> {
    if metadata.len() > 16 {
        return Err(ApiError::invalid_request(format!(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with {} properties instead.",
            metadata.len()
        ))
        .with_param("metadata")
        .with_code("object_above_max_properties"));
    }
    for (key, value) in metadata {
        if key.chars().count() > 64 {
            return Err(ApiError::invalid_request(format!(
                "Invalid 'metadata': key '{key}' is longer than 64 characters."
            ))
            .with_param("metadata")
            .with_code("invalid_value"));
        }
        match value {
            Value::String(s) if s.chars().count() > 512 => {
                return Err(ApiError::invalid_request(format!(
                    "Invalid 'metadata': the value of '{key}' is longer than 512 characters."
                ))
                .with_param("metadata")
                .with_code("invalid_value"))
            }
            Value::String(_) => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "Invalid 'metadata': the value of '{key}' must be a string."
                ))
                .with_param("metadata")
                .with_code("invalid_type"))
            }
        }
    }
    Ok(())
}

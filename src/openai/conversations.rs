//! Conversations API shapes (reference/openai.md §3) and the list envelope shared with
//! `GET /v1/responses/{id}/input_items`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{id, object:"conversation", created_at, metadata}`; all four keys always present.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub object: &'static str,
    pub created_at: i64,
    pub metadata: Map<String, Value>,
}

/// `DELETE /v1/conversations/{id}` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConversationDeleted {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}

/// `{object:"list", data, first_id, last_id, has_more}`: every key always present, the ids
/// `null` when `data` is empty, `last_id == data[-1].id`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemList {
    pub object: &'static str,
    pub data: Vec<Value>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

impl ItemList {
    pub fn new(data: Vec<Value>, has_more: bool) -> Self {
        let id_of = |v: Option<&Value>| {
            v.and_then(|i| i.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Self {
            object: "list",
            first_id: id_of(data.first()),
            last_id: id_of(data.last()),
            data,
            has_more,
        }
    }
}

/// `POST /v1/conversations` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateConversationRequest {
    pub items: Option<Vec<Value>>,
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `POST /v1/conversations/{id}` body (`metadata` is required).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateConversationRequest {
    #[serde(default, deserialize_with = "present")]
    pub metadata: Option<Option<Map<String, Value>>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `POST /v1/conversations/{id}/items` body (`items` is required).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateItemsRequest {
    pub items: Option<Vec<Value>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Distinguishes a key sent as `null` (`Some(None)`) from a missing key (`None`).
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

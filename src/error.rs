//! One error type for everything a handler can refuse, rendered as OpenAI's envelope
//! `{"error":{"message","type","param","code"}}` with the status reference/openai.md §4.1 gives.

use std::net::SocketAddr;

use http::StatusCode;
use serde::Serialize;

/// Why the gateway could not start (or take a reloaded config).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("{0}")]
    Config(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's `error.type`.
    pub kind: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

pub const INVALID_REQUEST: &str = "invalid_request_error";
pub const SERVER_ERROR: &str = "server_error";

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Puts `prefix` before the message (after nothing else): for a more precise cause.
    pub fn with_message_prefix(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }

    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::invalid_request(format!(
            "We could not parse the JSON body of your request. The API expects a JSON payload ({detail})."
        ))
    }

    pub fn missing_parameter(param: &str) -> Self {
        Self::invalid_request(format!("Missing required parameter: '{param}'."))
            .with_param(param)
            .with_code("missing_required_parameter")
    }

    pub fn unknown_parameter(param: &str) -> Self {
        Self::invalid_request(format!("Unknown parameter: '{param}'."))
            .with_param(param)
            .with_code("unknown_parameter")
    }

    pub fn invalid_type(param: &str, detail: impl std::fmt::Display) -> Self {
        Self::invalid_request(format!("Invalid type for '{param}': {detail}."))
            .with_param(param)
            .with_code("invalid_type")
    }

    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message)
            .with_param(param)
            .with_code("invalid_value")
    }

    /// A field OpenAI defines but Mastra cannot honour yet: refused, never silently dropped.
    pub fn unsupported(param: &str, what: &str) -> Self {
        Self::invalid_request(format!(
            "'{param}' is not supported by this gateway: {what}."
        ))
        .with_param(param)
        .with_code("unsupported_parameter")
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_code("model_not_found")
    }

    pub fn response_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("Response with id '{id}' not found."),
        )
    }

    pub fn previous_response_not_found(id: &str) -> Self {
        Self::invalid_request(format!("Previous response with id '{id}' not found."))
            .with_param("previous_response_id")
            .with_code("previous_response_not_found")
    }

    pub fn conversation_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("Conversation with id '{id}' not found."),
        )
    }

    pub fn route_not_found(method: &http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("Invalid URL ({method} {path})"),
        )
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            INVALID_REQUEST,
            format!("Request body is larger than the {limit} bytes this gateway accepts."),
        )
        .with_code("request_too_large")
    }

    /// Names the upstream by its configured name only: its URL may carry credentials and is
    /// the operator's business, not the client's.
    /// The request body did not arrive within `server.body_read_timeout`.
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            INVALID_REQUEST,
            format!(
                "The request body did not arrive within {} (server.body_read_timeout).",
                humantime_serde::re::humantime::format_duration(timeout)
            ),
        )
        .with_code("request_timeout")
    }

    /// Too many request headers, or too many bytes of them.
    pub fn headers_too_large(what: &str) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            INVALID_REQUEST,
            format!("Request header fields too large: {what}."),
        )
        .with_code("request_header_fields_too_large")
    }

    pub fn upstream_unreachable(name: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            SERVER_ERROR,
            format!("Upstream Mastra server '{name}' is unreachable: {detail}"),
        )
        .with_code("upstream_unreachable")
    }

    pub fn upstream_timeout(name: &str, after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            SERVER_ERROR,
            format!(
                "Upstream Mastra server '{name}' did not answer within {}.",
                humantime_serde::re::humantime::format_duration(after)
            ),
        )
        .with_code("upstream_timeout")
    }

    pub fn upstream_invalid(name: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            SERVER_ERROR,
            format!("Upstream Mastra server '{name}' sent an invalid response: {detail}"),
        )
        .with_code("upstream_invalid_response")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR, message)
    }

    /// The JSON envelope, ready to send.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        })
        .unwrap_or_else(|_| b"{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}".to_vec())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_all_four_keys() {
        let v: serde_json::Value =
            serde_json::from_slice(&ApiError::conversation_not_found("c1").to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"Conversation with id 'c1' not found.","type":"invalid_request_error","param":null,"code":null}})
        );
    }
}

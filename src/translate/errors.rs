//! Mastra's error answers → OpenAI error envelopes.

use http::StatusCode;

use crate::error::{ApiError, INVALID_REQUEST, SERVER_ERROR};
use crate::mastra::types::MastraError;

/// Translates a non-2xx upstream answer. `issues[0].field` becomes `param` (Mastra's `root` means
/// the whole body, so no param). Ownership refusals (403) become 404 so that an id owned by
/// someone else is indistinguishable from one that does not exist.
pub fn upstream_error(upstream: &str, status: StatusCode, body: &[u8]) -> ApiError {
    let parsed: Option<MastraError> = serde_json::from_slice(body).ok();
    let Some(parsed) = parsed else {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        // Mastra answers every known route with JSON; a plain-text 404 means the route itself
        // is missing (an older Mastra), which is the gateway's problem, not the client's.
        return match status.as_u16() {
            404 => ApiError::upstream_invalid(
                upstream,
                "the route is missing upstream (the gateway needs @mastra/server >= 1.21)",
            ),
            _ => ApiError::upstream_invalid(
                upstream,
                format!("HTTP {} with a non-JSON body: {snippet:?}", status.as_u16()),
            ),
        };
    };
    let issue = parsed.issues.first();
    let mut message = parsed.error.clone();
    if let Some(m) = issue.and_then(|i| i.message.as_deref()) {
        if !message.contains(m) {
            message = format!("{message}: {m}");
        }
    }
    let param = issue
        .and_then(|i| i.field.clone())
        .filter(|f| !f.is_empty() && f != "root");
    let mut err = match status.as_u16() {
        400 | 422 => ApiError::invalid_request(message),
        403 | 404 => ApiError::new(StatusCode::NOT_FOUND, INVALID_REQUEST, message),
        409 => ApiError::new(StatusCode::CONFLICT, INVALID_REQUEST, message),
        429 => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "requests", message)
            .with_code("rate_limit_exceeded"),
        401 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            SERVER_ERROR,
            format!(
                "Upstream Mastra server '{upstream}' refused the gateway's credentials: {message}"
            ),
        ),
        s if s >= 500 => ApiError::new(
            StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY),
            SERVER_ERROR,
            format!("Upstream Mastra server '{upstream}' failed: {message}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            SERVER_ERROR,
            format!(
                "Upstream Mastra server '{upstream}' answered HTTP {}: {message}",
                status.as_u16()
            ),
        ),
    };
    err.param = param;
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_field_becomes_param() {
        let e = upstream_error(
            "default",
            StatusCode::BAD_REQUEST,
            br#"{"error":"Invalid request body","issues":[{"field":"input","message":"Invalid input"}]}"#,
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.param.as_deref(), Some("input"));
        assert_eq!(e.message, "Invalid request body: Invalid input");
        let e = upstream_error(
            "default",
            StatusCode::BAD_REQUEST,
            br#"{"error":"Invalid request body","issues":[{"field":"root","message":"agent_id is required"}]}"#,
        );
        assert_eq!(e.param, None);
    }

    #[test]
    fn statuses() {
        let e = upstream_error(
            "u1",
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":"boom"}"#,
        );
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.kind, "server_error");
        assert!(e.message.contains("u1") && e.message.contains("boom"));
        let e = upstream_error("u1", StatusCode::FORBIDDEN, br#"{"error":"Access denied"}"#);
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = upstream_error("u1", StatusCode::NOT_FOUND, b"404 Not Found");
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.contains("1.21"), "{e}");
        let e = upstream_error("u1", StatusCode::BAD_GATEWAY, b"<html>nginx</html>");
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert_eq!(e.code.as_deref(), Some("upstream_invalid_response"));
    }
}

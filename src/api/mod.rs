//! The API surface: one adapter per API family (parse → plan → engine → render), plus the
//! helpers they share to parse JSON bodies and render answers.

pub mod chat;
pub mod conversations;
pub mod input_items;
pub mod models;
pub mod responses;

use http::{header, HeaderValue, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::stream::GatewayBody;
use crate::error::ApiError;

/// Parses a JSON body; syntax errors are "could not parse", type errors name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the body is empty"));
    }
    // The plain parse is the fast path; only a failed one is redone to find the field's path.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // The plain parse failed although the value read: bytes follow it (`{…}garbage`).
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(ApiError::malformed_json(strip_position(&e.to_string()))),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data if path != "." => Err(ApiError::invalid_type(
                    &path,
                    strip_position(&inner.to_string()),
                )),
                serde_json::error::Category::Data => Err(ApiError::invalid_request(format!(
                    "Invalid body: {}.",
                    strip_position(&inner.to_string())
                ))),
                _ => Err(ApiError::malformed_json(inner)),
            }
        }
    }
}

fn strip_position(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<GatewayBody> {
    // Room for a typical answer (a Response is 1–2 KB) from the start, instead of growing
    // from serde_json's 128 bytes by doubling and copying.
    let mut body = Vec::with_capacity(2048);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => bytes_response(status, body),
        Err(e) => error_response(&ApiError::internal(format!(
            "could not serialize the answer: {e}"
        ))),
    }
}

pub fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn error_response(err: &ApiError) -> Response<GatewayBody> {
    bytes_response(err.status, err.to_json())
}

/// One percent-decoded path segment (ids arrive encoded when they hold reserved characters).
pub fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

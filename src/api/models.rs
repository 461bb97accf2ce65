//! `GET /v1/models` and `GET /v1/models/{id}`: the upstream's agents and the configured aliases
//! (with API keys: only those whose agent the key may use).

use http::{Response, StatusCode};

use crate::api::json_response;
use crate::engine::stream::GatewayBody;
use crate::error::ApiError;
use crate::plan::Access;
use crate::plan::AppState;

pub async fn list(
    state: &AppState,
    access: &Access<'_>,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let dir = state.agents.get(&state.upstreams, request_id).await?;
    let mut list = dir.model_list(&state.config.models, state.started_at);
    if !access.caller.is_open() {
        list.data.retain(|m| {
            dir.resolve(Some(&m.id), &state.config.models)
                .is_ok_and(|agent| access.caller.may_use(&agent))
        });
    }
    Ok(json_response(StatusCode::OK, &list))
}

pub async fn retrieve(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let dir = state.agents.get(&state.upstreams, request_id).await?;
    let allowed = access.caller.is_open()
        || dir
            .resolve(Some(id), &state.config.models)
            .is_ok_and(|agent| access.caller.may_use(&agent));
    match dir.find_model(id, &state.config.models, state.started_at) {
        Some(model) if allowed => Ok(json_response(StatusCode::OK, &model)),
        _ => Err(ApiError::model_not_found(id)),
    }
}

//! `GET /v1/models` and `GET /v1/models/{id}`: the upstream's agents and the configured aliases.

use http::{Response, StatusCode};

use crate::body::GatewayBody;
use crate::error::ApiError;
use crate::routes::json_response;
use crate::state::AppState;

pub async fn list(state: &AppState, request_id: &str) -> Result<Response<GatewayBody>, ApiError> {
    let dir = state.agents.get(&state.mastra, request_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &dir.model_list(&state.config.models, state.started_at),
    ))
}

pub async fn retrieve(
    state: &AppState,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let dir = state.agents.get(&state.mastra, request_id).await?;
    match dir.find_model(id, &state.config.models, state.started_at) {
        Some(model) => Ok(json_response(StatusCode::OK, &model)),
        None => Err(ApiError::model_not_found(id)),
    }
}

//! Pure functions between the OpenAI side and the Mastra side. No I/O here: every function is a
//! value in, value out, covered by unit and snapshot tests.

pub mod chat_request;
pub mod chat_stream;
pub mod errors;
pub mod ids;
pub mod input;
pub mod items;
pub mod metadata;
pub mod models;
pub mod native;
pub mod record;
pub mod request;
pub mod response;
pub mod response_stream;
pub mod turn;

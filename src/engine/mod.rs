//! Running turns on Mastra and relaying their streams.

pub mod stream;

//! The OpenAI-compatible HTTP surface.

pub mod admin;
pub mod chat;
pub mod embeddings;
pub mod models;
pub mod ops;
pub mod pipeline;
pub mod responses;
pub mod usage;

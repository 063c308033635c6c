//! The OpenAI wire formats, the gateway's canonical language: every
//! provider adapter, the cache, pricing and limits speak these types, and
//! the HTTP surface (`api`) only reads and writes them.

pub mod chat;
pub mod embeddings;
pub mod responses;

pub use chat::*;

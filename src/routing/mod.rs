//! Where requests go: model resolution now; fallbacks, retries and
//! strategies build on it.

pub mod routes;

pub use routes::{Route, Routes};

//! An OpenAI-compatible LLM gateway that runs on AWS Lambda and locally.
//!
//! One axum app ([`app::router`]) is served by two front doors: a local
//! HTTP server ([`server`]) and the Lambda runtime with response streaming
//! ([`lambda`]).

#![forbid(unsafe_code)]

pub mod account;
pub mod api;
pub mod app;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod hex;
pub mod keys;
pub mod lambda;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod openai;
pub mod pricing;
pub mod providers;
pub mod redis_client;
pub mod request_log;
pub mod routing;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod traces;

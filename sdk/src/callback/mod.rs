//! Serving Crony's calls: [`grpc`] for gRPC targets, [`http`] for HTTP targets (axum). Both run
//! the same [`Handler`](crate::Handler).

pub mod grpc;
pub mod http;

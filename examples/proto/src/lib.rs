//! The code generated from `tasks.proto` (package `tasks.v1`) for the `zitadel_grpc` example of
//! tower-authz: the tasks API of ZITADEL's Go guide over gRPC, client and server.
#![forbid(unsafe_code)]

/// The `tasks.v1` package: `TaskService` with `ListTasks` and `AddTask`.
pub mod tasks {
    #![allow(
        missing_docs,
        unreachable_pub,
        missing_debug_implementations,
        clippy::all
    )]
    include!(concat!(env!("OUT_DIR"), "/tasks.v1.rs"));
}

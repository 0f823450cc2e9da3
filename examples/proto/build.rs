//! Compiles the gRPC example's `tasks.proto` with a vendored `protoc`, so no `protoc` needs to be
//! installed. Only the examples and tests of tower-authz build this crate; users never do.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tasks.proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &["tasks.proto"], &["."])?;
    Ok(())
}

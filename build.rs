//! Compiles the gRPC example's `.proto` with a vendored `protoc`, only when the internal feature
//! `protos` is on (the crate's own tests and examples turn it on; users never need it).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "protos")]
    if let Err(error) = protos() {
        panic!("cannot compile examples/proto/tasks.proto: {error}");
    }
}

#[cfg(feature = "protos")]
fn protos() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=examples/proto/tasks.proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &["examples/proto/tasks.proto"], &["examples/proto"])?;
    Ok(())
}

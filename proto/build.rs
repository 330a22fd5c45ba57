//! Compiles `lattice/v1/*.proto` with protox (pure Rust), so building needs no
//! system `protoc`. The descriptor set is also written to `OUT_DIR` for
//! tonic-reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "lattice/v1/common.proto",
    "lattice/v1/auth.proto",
    "lattice/v1/workload.proto",
    "lattice/v1/node.proto",
    "lattice/v1/agent.proto",
    "lattice/v1/audit.proto",
    "lattice/v1/account.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("lattice_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}

//! Compiles the hand-written Mesos v1 protos with protox (pure Rust), so the
//! build needs no `protoc` binary on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        [
            "mesos/v1/mesos.proto",
            "mesos/v1/scheduler/scheduler.proto",
            "mesos/v1/executor/executor.proto",
        ],
        ["proto"],
    )?;
    prost_build::Config::new()
        // Deterministic map order, so encoding a message twice gives the same bytes.
        .btree_map(["."])
        .compile_fds(fds)?;
    Ok(())
}

// Crony's patch: compile etcd's protos with protox (pure Rust) instead of a system `protoc`,
// so `cargo build` needs nothing but Rust. Everything else in this crate is upstream 0.21.1.

#[cfg(feature = "build-server")]
fn should_build_server() -> bool {
    true
}

#[cfg(not(feature = "build-server"))]
fn should_build_server() -> bool {
    false
}

fn main() {
    let proto_root = "proto";
    println!("cargo:rerun-if-changed={proto_root}");

    let fds = protox::compile(
        [
            "proto/etcd/api/authpb/auth.proto",
            "proto/etcd/api/etcdserverpb/rpc.proto",
            "proto/etcd/api/mvccpb/kv.proto",
            "proto/etcd/server/etcdserver/api/v3election/v3electionpb/v3election.proto",
            "proto/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
        ],
        [proto_root],
    )
    .expect("Failed to parse etcd proto files");
    tonic_prost_build::configure()
        .build_server(should_build_server())
        .compile_fds(fds)
        .expect("Failed to compile proto files");
}

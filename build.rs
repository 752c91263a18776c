//! Generates the ONNX protobuf types (proto/onnx.proto, the ONNX project's schema)
//! for `gpu-mlp export`, with protox instead of protoc so that building needs no
//! system tool.

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])
        .unwrap_or_else(|e| panic!("proto/onnx.proto does not compile: {e}"));
    prost_build::Config::new()
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("generating the ONNX types: {e}"));
}

//! Keep the wasm module's linear memory small: a 64 KiB shadow stack instead
//! of Rust's default 1 MiB (the strategy uses a few hundred bytes of stack),
//! so a thousand instances touch little memory.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("wasm32")) {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=65536");
    }
}

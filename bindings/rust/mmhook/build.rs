//! Embeds the library directory that mmhook-sys found (`MMHOOK_LIB_DIR` or pkg-config; it
//! forwards it as DEP_MMHOOK_LIB_DIR) as an rpath of this crate's tests and examples, so they run
//! without LD_LIBRARY_PATH.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=MMHOOK_LIB_DIR");
    if let Ok(dir) = env::var("DEP_MMHOOK_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}

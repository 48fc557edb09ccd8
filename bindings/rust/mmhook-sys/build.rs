//! Links libmmhook.so. The directory holding it comes from `MMHOOK_LIB_DIR` (the build tree's
//! library directory in CI); without it the system linker paths are searched.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=MMHOOK_LIB_DIR");
    if let Ok(dir) = env::var("MMHOOK_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-search=native={dir}");
            // This crate's own tests find the library without LD_LIBRARY_PATH.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            // Dependent crates read it as DEP_MMHOOK_LIB_DIR (the `links` key).
            println!("cargo:lib_dir={dir}");
        }
    }
    println!("cargo:rustc-link-lib=dylib=mmhook");
}

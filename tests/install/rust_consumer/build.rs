//! Embeds the directory where mmhook-sys found libmmhook.so (MMHOOK_LIB_DIR or pkg-config) as
//! an rpath of this binary, so it runs without LD_LIBRARY_PATH or ldconfig. A library installed
//! to a ldconfig directory needs none: then the variable is absent.
fn main() {
    if let Ok(dir) = std::env::var("DEP_MMHOOK_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}

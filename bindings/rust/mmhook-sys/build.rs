//! Links libmmhook.so. The directory holding it comes from, in this order:
//! 1. `MMHOOK_LIB_DIR` (the build tree's library directory in CI);
//! 2. pkg-config: the `-L` directories of `pkg-config --libs-only-L mmhook` (the `mmhook.pc`
//!    that `cmake --install` writes; `PKG_CONFIG_PATH` finds one under another prefix, and
//!    `PKG_CONFIG` names another pkg-config program);
//! 3. neither: the system linker paths (a library installed to a ldconfig directory).
//!
//! A directory found by 1 or 2 is embedded as an rpath of this crate's tests and given to the
//! crates that depend on this one as `DEP_MMHOOK_LIB_DIR`, so their build scripts can embed it
//! in their own binaries (an rpath set here reaches only this crate's targets).
use std::env;
use std::process::Command;

#[path = "lib_dirs.rs"]
mod lib_dirs;

/// The `-L` directories pkg-config gives for mmhook, or why there are none.
fn pkg_config_dirs() -> Result<Vec<String>, String> {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&program)
        .args(["--libs-only-L", "mmhook"])
        .output()
        .map_err(|e| format!("could not run '{program}': {e}"))?;
    if !out.status.success() {
        // The first line says why ("Package mmhook was not found ..."); a warning is one line.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().next().unwrap_or("no message").trim().to_string();
        return Err(format!("'{program} --libs-only-L mmhook' failed: {why}"));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|_| format!("'{program}' printed a non-UTF-8 path"))?;
    // pkg-config leaves out the system directories (-L/usr/lib...): then the list is empty.
    lib_dirs::parse_libs_only_l(&stdout)
        .iter()
        .map(|dir| lib_dirs::check_dir(dir, &format!("'{program} --libs-only-L mmhook'")))
        .collect()
}

fn use_dir(dir: &str) {
    println!("cargo:rustc-link-search=native={dir}");
    // This crate's own tests find the library without LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
}

fn main() {
    for var in [
        "MMHOOK_LIB_DIR",
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let dirs = match env::var("MMHOOK_LIB_DIR") {
        // A directory that cannot be written as a cargo line is a build error, not a warning:
        // linking elsewhere would hide it.
        Ok(dir) if !dir.is_empty() => {
            vec![lib_dirs::check_dir(&dir, "MMHOOK_LIB_DIR").unwrap_or_else(|why| panic!("mmhook-sys: {why}"))]
        }
        _ => pkg_config_dirs().unwrap_or_else(|why| {
            println!(
                "cargo:warning=mmhook-sys: MMHOOK_LIB_DIR is unset and pkg-config gave no mmhook ({why}); \
                 linking against libmmhook.so from the system linker paths"
            );
            Vec::new()
        }),
    };
    for dir in &dirs {
        use_dir(dir);
    }
    // Dependent crates read it as DEP_MMHOOK_LIB_DIR (the `links` key); several are joined
    // with ':' like a search path.
    if !dirs.is_empty() {
        println!("cargo:lib_dir={}", dirs.join(":"));
    }
    println!("cargo:rustc-link-lib=dylib=mmhook");
}

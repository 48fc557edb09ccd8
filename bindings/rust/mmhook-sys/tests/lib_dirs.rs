//! The build script's reading of library directories (`lib_dirs.rs`), with hostile names:
//! escaped spaces, quotes, `$(...)`, and newlines that would inject a cargo directive.
#[path = "../lib_dirs.rs"]
mod lib_dirs;

use lib_dirs::{check_dir, parse_libs_only_l};

#[test]
fn pkg_config_escapes_are_undone_and_only_l_flags_are_kept() {
    assert_eq!(parse_libs_only_l("-L/opt/mmhook/lib \n"), vec!["/opt/mmhook/lib"]);
    assert_eq!(parse_libs_only_l("-L/opt/my\\ prefix/lib"), vec!["/opt/my prefix/lib"]);
    assert_eq!(
        parse_libs_only_l("-L/a -Wl,-rpath,/x -L/b\\\"q\\'s -L"),
        vec!["/a", "/b\"q's"]
    );
    assert_eq!(
        parse_libs_only_l("-L/tmp/\\$(touch\\ x)/lib"),
        vec!["/tmp/$(touch x)/lib"]
    );
    assert!(parse_libs_only_l("").is_empty());
}

#[test]
fn an_unescaped_newline_ends_a_flag_and_cannot_smuggle_a_directive() {
    // What follows the newline is another token, not part of the directory, and is not a -L flag.
    assert_eq!(parse_libs_only_l("-L/a\ncargo:rustc-link-arg=-evil"), vec!["/a"]);
}

#[test]
fn directories_with_control_characters_are_refused_naming_the_source() {
    let err = check_dir("/tmp/x\ncargo:rustc-link-arg=-evil", "MMHOOK_LIB_DIR").unwrap_err();
    assert!(err.contains("MMHOOK_LIB_DIR"), "{err}");
    assert!(err.contains("'\\n'"), "{err}");
    // An escaped newline from pkg-config reaches check_dir as a newline.
    let dirs = parse_libs_only_l("-L/tmp/x\\\ncargo:rustc-link-arg=-evil");
    assert_eq!(dirs, vec!["/tmp/x\ncargo:rustc-link-arg=-evil"]);
    assert!(check_dir(&dirs[0], "pkg-config").is_err());
    // Quotes, spaces and $(...) are plain characters in a path: accepted as they are.
    for ok in ["/opt/my prefix/lib", "/tmp/$(touch x)/\"q'", "/tmp/!bang"] {
        assert_eq!(check_dir(ok, "pkg-config").unwrap(), ok);
    }
}

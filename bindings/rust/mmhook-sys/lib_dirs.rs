//! Reading library directories for the build script (`build.rs`), in a file of its own so that
//! `tests/lib_dirs.rs` can test it: build scripts have no tests of their own.
//!
//! A directory reaches cargo as a `cargo:` line printed by the build script, so a newline in one
//! would start a directive of its own: such directories are refused, naming where they came
//! from. Nothing here runs a shell; pkg-config is run with a fixed argument list.

/// The `-L` directories of pkg-config's `--libs-only-L` output. pkg-config escapes spaces and
/// other special characters in paths with a backslash (`-L/opt/my\ prefix/lib`); the escapes are
/// undone, and unescaped whitespace separates flags.
pub fn parse_libs_only_l(output: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let mut current = String::new();
    let mut chars = output.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    flags.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        flags.push(current);
    }
    flags
        .into_iter()
        .filter_map(|flag| flag.strip_prefix("-L").map(str::to_string))
        .filter(|dir| !dir.is_empty())
        .collect()
}

/// `Ok(dir)`, or why `dir` (from `source`) cannot be given to cargo: a control character (a
/// newline would end the `cargo:` line and start another directive).
pub fn check_dir(dir: &str, source: &str) -> Result<String, String> {
    match dir.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{source} names the directory {dir:?}, which holds the control character {c:?}; \
             rename the directory or install to another prefix"
        )),
        None => Ok(dir.to_string()),
    }
}

//! Set-up shared by the integration tests (each test binary compiles its own copy).
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Runners share process-wide state (log sinks, the global RNG): run one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the one-test-at-a-time lock (a panicked test does not poison it for the others).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh `<root>/<group>/<sub>` folder path (removed if it exists), where root is
/// MMHOOK_TEST_WORK_DIR (set by CTest to a folder of the build tree), else the system temp dir.
pub fn work_dir(group: &str, sub: &str) -> PathBuf {
    let root = match std::env::var("MMHOOK_TEST_WORK_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join(format!("mmhook-rust-tests-{}", std::process::id())),
    };
    let dir = root.join(group).join(sub);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

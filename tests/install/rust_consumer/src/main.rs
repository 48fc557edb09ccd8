//! Trains a config through the installed libmmhook.so, as a downstream crate would: reads it
//! with `mmhook::config::from_file`, applies `--cfg-options`-style overrides, counts the
//! iterations with a Rust hook, and says which libmmhook.so the process loaded.
//!
//! Usage: mmhook-rust-consumer CONFIG.json WORK_DIR [KEY=VALUE ...]
use mmhook::serde_json::json;
use mmhook::{config, HookAction, Runner, Stage, PRIORITY_NORMAL};
use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;

/// The path of the libmmhook.so mapped into this process (from /proc/self/maps).
fn loaded_library() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("libmmhook.so"))
        })
        .map(str::to_string)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config_path, work_dir, options @ ..] = args.as_slice() else {
        return Err("usage: mmhook-rust-consumer CONFIG.json WORK_DIR [KEY=VALUE ...]".to_string());
    };
    let mut cfg = config::from_file(config_path).map_err(|e| e.to_string())?;
    cfg["work_dir"] = json!(work_dir);
    config::apply_cfg_options(&mut cfg, options).map_err(|e| e.to_string())?;
    let mut runner = Runner::from_value(&cfg).map_err(|e| e.to_string())?;
    let iters = Rc::new(Cell::new(0));
    let seen = iters.clone();
    runner
        .add_hook("CountIters", PRIORITY_NORMAL, Stage::AfterTrainIter, move |_ctx| {
            seen.set(seen.get() + 1);
            HookAction::Continue
        })
        .map_err(|e| e.to_string())?;
    runner.train().map_err(|e| e.to_string())?;
    println!(
        "libmmhook {} loaded from {}",
        mmhook::library_version_string(),
        loaded_library().unwrap_or_else(|| "(not found in /proc/self/maps)".to_string())
    );
    println!(
        "rust consumer trained {} iterations ({} seen by its hook)",
        runner.iter(),
        iters.get()
    );
    if runner.iter() > 0 && iters.get() == runner.iter() {
        Ok(())
    } else {
        Err("the hook did not see every iteration".to_string())
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

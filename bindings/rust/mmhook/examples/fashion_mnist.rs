//! Trains configs/fashion_mnist_mlp.json through libmmhook.so with two hooks written in Rust:
//! a loss logger (every 100 iterations, and the epoch's mean loss) and an early stopper that
//! stops training when validation accuracy has not improved for `--patience` epochs.
//!
//! Usage:
//!   cargo run --example fashion_mnist -- CONFIG.json [--work-dir DIR] [--max-epochs N] [--patience N]
//!       [--cfg-options KEY=VALUE ...]
//!
//! The config is read as a `serde_json::Value` (`mmhook::config::from_file`) and changed there:
//! `--work-dir` and `--max-epochs` set `work_dir` and `train_cfg.max_epochs`, and
//! `--cfg-options` takes dotted keys as `mmhook train --cfg-options` does.
use mmhook::serde_json::json;
use mmhook::{config, HookAction, Runner, Stage, PRIORITY_LOW, PRIORITY_VERY_LOW};
use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut config_path = None;
    let mut work_dir = None;
    let mut max_epochs = None;
    let mut patience: i64 = 2;
    let mut cfg_options = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--work-dir" => work_dir = Some(value("--work-dir")?),
            "--max-epochs" => max_epochs = Some(value("--max-epochs")?.parse::<i64>().map_err(|e| e.to_string())?),
            "--patience" => {
                patience = value("--patience")?
                    .parse()
                    .map_err(|e: std::num::ParseIntError| e.to_string())?
            }
            "--cfg-options" => cfg_options.push(value("--cfg-options")?),
            _ if config_path.is_none() && !a.starts_with("--") => config_path = Some(a),
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    let config_path = config_path.ok_or(
        "usage: fashion_mnist CONFIG.json [--work-dir DIR] [--max-epochs N] [--patience N] [--cfg-options KEY=VALUE ...]",
    )?;
    let mut config = config::from_file(&config_path).map_err(|e| e.to_string())?;
    if let Some(dir) = work_dir {
        config["work_dir"] = json!(dir);
    }
    if let Some(n) = max_epochs {
        config::set_path(&mut config, "train_cfg.max_epochs", json!(n)).map_err(|e| e.to_string())?;
    }
    config::apply_cfg_options(&mut config, &cfg_options).map_err(|e| e.to_string())?;

    let mut runner = Runner::from_value(&config).map_err(|e| e.to_string())?;
    println!("libmmhook {}", mmhook::library_version_string());

    // Logs the loss every 100 iterations and the mean loss of each epoch.
    let epoch_losses: Rc<RefCell<Vec<f64>>> = Rc::default();
    let losses = epoch_losses.clone();
    runner
        .register_hook(
            "RustLossLogger",
            PRIORITY_LOW,
            Stage::AfterTrainIter | Stage::AfterTrainEpoch,
            move |ctx| {
                match ctx.stage() {
                    Stage::AfterTrainIter => {
                        let loss = ctx.scalar("train/loss").ok().flatten().unwrap_or(f64::NAN);
                        losses.borrow_mut().push(loss);
                        if ctx.iter() % 100 == 0 {
                            let lr = ctx.lr(0).unwrap_or(f64::NAN);
                            println!(
                                "[rust] epoch {} iter {:>6} loss {loss:.4} lr {lr:.4}",
                                ctx.epoch(),
                                ctx.iter()
                            );
                        }
                    }
                    _ => {
                        let l = losses.borrow();
                        let mean = l.iter().sum::<f64>() / l.len().max(1) as f64;
                        println!(
                            "[rust] epoch {} done: mean train loss {mean:.4} over {} iterations",
                            ctx.epoch(),
                            l.len()
                        );
                        drop(l);
                        losses.borrow_mut().clear();
                    }
                }
                HookAction::Continue
            },
        )
        .map_err(|e| e.to_string())?;

    // Early stopping on the first validation metric (accuracy/top1 for this config).
    let mut best = f64::NEG_INFINITY;
    let mut bad_epochs = 0;
    runner
        .register_hook(
            "RustEarlyStopping",
            PRIORITY_VERY_LOW,
            Stage::AfterValEpoch,
            move |ctx| {
                let metrics = ctx.metrics();
                let Some((name, value)) = metrics.first().cloned() else {
                    return HookAction::Continue;
                };
                println!("[rust] validation after epoch {}: {metrics:?}", ctx.epoch());
                if value > best {
                    best = value;
                    bad_epochs = 0;
                } else {
                    bad_epochs += 1;
                    if bad_epochs >= patience {
                        println!("[rust] {name} has not improved for {patience} epochs (best {best:.4}): stopping");
                        return HookAction::Stop;
                    }
                }
                HookAction::Continue
            },
        )
        .map_err(|e| e.to_string())?;

    runner.train().map_err(|e| e.to_string())?;
    println!(
        "trained {} epochs ({} iterations); last metrics {}",
        runner.epoch(),
        runner.iter(),
        runner.metrics_json()
    );
    if let Some(ckpt) = runner.last_checkpoint() {
        println!("last checkpoint: {}", ckpt.display());
    }
    Ok(())
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

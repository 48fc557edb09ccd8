//! Per-iteration cost of a Rust batch dataset against the built-in FashionMNIST dataset, on the
//! MLP of configs/fashion_mnist_mlp.json (784-256-128-10, batch 64, shuffled, SGD momentum 0.9,
//! one loader worker). Both feed the same normalised images; the Rust one holds them in a
//! `Vec<f32>` and copies each batch's rows into the library's buffers in one `fill_batch` call.
//! Timed: wall time from the first `after_train_iter` to the last, divided by the iterations
//! in between (the first iterations' warm-up left out), median of the rounds.
//!
//! Usage:
//!   cargo run --release --example batch_dataset_bench -- [DATA_DIR] [--iters N] [--rounds N]
//! DATA_DIR holds Debian's dataset-fashion-mnist files (default /usr/share/datasets/fashion-mnist);
//! `gzip` must be on PATH (the example decompresses with it rather than a crate).
use mmhook::serde_json::{json, Value};
use mmhook::{
    register_batch_dataset, unregister_dataset_type, BatchDataset, BatchWriter, DType, Field, HookAction, Runner,
    Stage, PRIORITY_NORMAL,
};
use std::cell::RefCell;
use std::process::{Command, ExitCode};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const MEAN: f32 = 0.286;
const STD: f32 = 0.353;

fn gunzip(path: &str) -> Result<Vec<u8>, String> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg("--") // the path is an operand even when it starts with "-"
        .arg(path)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip -dc {path} failed"));
    }
    Ok(out.stdout)
}

/// The training images (normalised like the built-in's Normalize transform) and labels.
struct FashionBatch {
    images: Vec<f32>,
    labels: Vec<i64>,
    /// Nanoseconds spent in fill_batch, and the number of calls.
    fill_ns: Arc<AtomicU64>,
    fills: Arc<AtomicU64>,
}

impl BatchDataset for FashionBatch {
    fn len(&self) -> i64 {
        self.labels.len() as i64
    }

    fn fill_batch(&mut self, indices: &[i64], batch: &mut BatchWriter<'_>) -> Result<(), String> {
        let start = Instant::now();
        let inputs = batch.field::<f32>("inputs")?;
        let targets = batch.field::<i64>("targets")?;
        for (i, &index) in indices.iter().enumerate() {
            let index = index as usize;
            inputs[i * 784..(i + 1) * 784].copy_from_slice(&self.images[index * 784..(index + 1) * 784]);
            targets[i] = self.labels[index];
        }
        self.fill_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.fills.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn load(dir: &str, fill_ns: Arc<AtomicU64>, fills: Arc<AtomicU64>) -> Result<FashionBatch, String> {
    let images = gunzip(&format!("{dir}/train-images-idx3-ubyte.gz"))?;
    let labels = gunzip(&format!("{dir}/train-labels-idx1-ubyte.gz"))?;
    let images = &images[16..];
    let labels = &labels[8..];
    Ok(FashionBatch {
        // As the built-in: pixel / 255 in float, then (x - mean) / std.
        images: images.iter().map(|&p| (p as f32 / 255.0 - MEAN) / STD).collect(),
        labels: labels.iter().map(|&l| l as i64).collect(),
        fill_ns,
        fills,
    })
}

fn config(dataset: &str, dir: &str, iters: i64, work_dir: &str) -> Value {
    let ds = if dataset == "FashionMNIST" {
        json!({"type": "FashionMNIST", "data_root": dir,
            "transforms": [{"type": "Normalize", "mean": MEAN, "std": STD}]})
    } else {
        json!({"type": dataset})
    };
    json!({
        "work_dir": work_dir,
        "model": {"type": "MLPClassifier", "in_channels": 784, "hidden_dims": [256, 128], "num_classes": 10},
        "train_dataloader": {"batch_size": 64, "num_workers": 1,
            "sampler": {"type": "DefaultSampler", "shuffle": true}, "dataset": ds},
        "train_cfg": {"by_epoch": false, "max_iters": iters},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
        "default_hooks": {"logger": {"type": "LoggerHook", "interval": 1000000}, "checkpoint": null},
        "randomness": {"seed": 42}, "log_level": "WARNING"
    })
}

/// Microseconds per iteration after `warmup` iterations, and the mean `train/data_time` (the
/// wait for the loader) in microseconds.
fn time_run(cfg: &Value, warmup: usize) -> Result<(f64, f64), String> {
    let mut runner = Runner::from_value(cfg).map_err(|e| e.to_string())?;
    let stamps: Rc<RefCell<Vec<Instant>>> = Rc::default();
    let data: Rc<RefCell<Vec<f64>>> = Rc::default();
    let (s, d) = (stamps.clone(), data.clone());
    runner
        .add_hook("Clock", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
            s.borrow_mut().push(Instant::now());
            if let Ok(Some(v)) = ctx.scalar("train/data_time") {
                d.borrow_mut().push(v);
            }
            HookAction::Continue
        })
        .map_err(|e| e.to_string())?;
    runner.train().map_err(|e| e.to_string())?;
    let st = stamps.borrow();
    let n = st.len() - 1 - warmup;
    let per_iter = st[st.len() - 1].duration_since(st[warmup]).as_secs_f64() * 1e6 / n as f64;
    let d = data.borrow();
    let data_us = if d.len() > warmup {
        d[warmup..].iter().sum::<f64>() * 1e6 / (d.len() - warmup) as f64
    } else {
        f64::NAN
    };
    Ok((per_iter, data_us))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let mut dir = "/usr/share/datasets/fashion-mnist".to_string();
    let mut iters: i64 = 400;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iters" => iters = args.next().and_then(|v| v.parse().ok()).ok_or("--iters N")?,
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).ok_or("--rounds N")?,
            _ => dir = a,
        }
    }
    let (fill_ns, fills) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let data = load(&dir, fill_ns.clone(), fills.clone())?;
    let fields = [
        Field::new("inputs", DType::F32, &[1, 28, 28]),
        Field::new("targets", DType::I64, &[]),
    ];
    register_batch_dataset("RustFashionBatch", &fields, data).map_err(|e| e.to_string())?;
    let tmp = std::env::temp_dir().join(format!("mmhook-batch-bench-{}", std::process::id()));
    let wd = tmp.to_string_lossy().to_string();
    let warmup = 20.min(iters as usize / 4);
    let (mut builtin, mut rust, mut builtin_data, mut rust_data) = (vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        // Interleaved, so drift in the machine's load hits both alike.
        let (t, d) = time_run(&config("FashionMNIST", &dir, iters, &format!("{wd}/b{r}")), warmup)?;
        builtin.push(t);
        builtin_data.push(d);
        let (t, d) = time_run(&config("RustFashionBatch", &dir, iters, &format!("{wd}/r{r}")), warmup)?;
        rust.push(t);
        rust_data.push(d);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    unregister_dataset_type("RustFashionBatch").map_err(|e| e.to_string())?;
    let round = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    println!(
        "| train dataset (MLP, batch 64, 1 loader worker) | us/iteration, median of {rounds} | rounds | data_time us |"
    );
    println!("|---|---|---|---|");
    println!(
        "| built-in FashionMNIST | {:.0} | {} | {:.1} |",
        median(builtin.clone()),
        round(&builtin),
        median(builtin_data)
    );
    println!(
        "| Rust BatchDataset | {:.0} | {} | {:.1} |",
        median(rust.clone()),
        round(&rust),
        median(rust_data)
    );
    let calls = fills.load(Ordering::Relaxed).max(1);
    println!(
        "Rust fill_batch: {:.1} us per batch of 64 ({} calls), on the loader worker",
        fill_ns.load(Ordering::Relaxed) as f64 / 1e3 / calls as f64,
        calls
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batch_dataset_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

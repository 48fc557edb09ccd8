//! Trains a small character-level transformer language model (tests/fixtures/char_lm.pt,
//! written by scripts/make_char_lm.py) on the text of Debian's `fortunes` package through
//! libmmhook.so, with three pieces written in Rust:
//!
//! - a batch dataset of token windows (`CharLmTrainWindows` / `CharLmValWindows`);
//! - a perplexity metric (`CharLmPerplexity`, result `perplexity`): exp of the token-weighted
//!   mean negative log-likelihood of the model's "predict" outputs;
//! - a hook that, after every training epoch, samples one line from the model (autoregressive,
//!   temperature 0.8, a seeded xorshift generator) through `HookCtx::forward`.
//!
//! It also prints the unigram baseline (training-character frequencies, add-one smoothing) on
//! the same validation tokens, and checks the result: with `--short`, that the perplexity is
//! finite and below the vocabulary size and that a sample line was printed; otherwise that the
//! validation perplexity is below the unigram baseline. "char_lm: OK" is printed on success.
//!
//! Text, tokens, windows, batch order, optimizer and schedule are those of
//! scripts/char_lm_reference.py (the plain PyTorch loop this job is compared with by
//! scripts/char_lm_job.sh); see that script's docstring for the rules. Both print a
//! "tokens:" line with a hash of each split's ids, so a divergence in tokenization shows.
//!
//! Usage:
//!   cargo run --release --example char_lm -- [--work-dir DIR] [--fortune-dir DIR] [--model PT]
//!       [--epochs N] [--train-windows N] [--val-windows N] [--batch-size N] [--lr X]
//!       [--seed N] [--short]
use mmhook::serde_json::json;
use mmhook::{
    register_batch_dataset, register_metric, BatchDataset, BatchWriter, DType, Field, HookAction, HookCtx, Metric,
    MetricBatch, Runner, Stage, Tensor, PRIORITY_LOW,
};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Token ids: 0 unknown, 1 TAB, 2 LF, 3..97 the printable ASCII bytes 32..126.
const VOCAB: usize = 98;
/// The model's context: windows hold CONTEXT + 1 tokens (CONTEXT predictions).
const CONTEXT: usize = 64;
const UNKNOWN: u8 = 0;
const NEWLINE: u8 = 2;
/// Batch size of the validation loader (and of the reference's evaluation).
const VAL_BATCH: i64 = 64;
/// The cosine schedule's final learning rate.
const ETA_MIN: f64 = 1e-4;
/// Sampling: temperature and the longest line printed.
const TEMPERATURE: f64 = 0.8;
const SAMPLE_CHARS: usize = 80;

/// The id of one text byte.
fn token_id(byte: u8) -> u8 {
    match byte {
        9 => 1,
        10 => 2,
        32..=126 => byte - 29,
        _ => UNKNOWN,
    }
}

/// The character printed for an id ('?' for unknown).
fn token_char(id: u8) -> char {
    match id {
        1 => '\t',
        2 => '\n',
        3..=97 => (id + 29) as char,
        _ => '?',
    }
}

/// The corpus files: regular files (not symlinks) of `dir` whose names do not end in ".dat",
/// sorted by name.
fn fortune_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("fortune dir {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("fortune dir {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        if kind.is_file() && !name.to_string_lossy().ends_with(".dat") {
            files.push(entry.path());
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(format!(
            "no fortune files in {} (install Debian's 'fortunes' package)",
            dir.display()
        ));
    }
    Ok(files)
}

/// Every non-empty fortune of the files (a line "%" ends one), each ending in a newline.
fn read_fortunes(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    let mut fortunes = Vec::new();
    for path in paths {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        if lines.last() == Some(&&b""[..]) {
            lines.pop(); // the text after the file's final newline
        }
        let mut current: Vec<u8> = Vec::new();
        let mut has_lines = false;
        for line in lines {
            if line == b"%" {
                if has_lines {
                    fortunes.push(std::mem::take(&mut current));
                }
                has_lines = false;
            } else {
                current.extend_from_slice(line);
                current.push(b'\n');
                has_lines = true;
            }
        }
        if has_lines {
            fortunes.push(current);
        }
    }
    Ok(fortunes)
}

/// The ids of the fortunes, each followed by the line "%".
fn tokens_of(fortunes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fortunes {
        out.extend(f.iter().chain(b"%\n").map(|&b| token_id(b)));
    }
    out
}

/// FNV-1a (64 bit) over the ids, one byte each.
fn fnv1a64(ids: &[u8]) -> u64 {
    ids.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Starts of `n` training windows spread evenly over `len` tokens.
fn train_starts(len: usize, n: usize) -> Result<Vec<usize>, String> {
    if n < 2 || len < CONTEXT + 1 {
        return Err(format!("need >= 2 training windows and >= {} tokens", CONTEXT + 1));
    }
    let span = len - CONTEXT - 1;
    Ok((0..n).map(|i| i * span / (n - 1)).collect())
}

/// Starts of the validation windows: every CONTEXT tokens, at most `limit` (0: all).
fn val_starts(len: usize, limit: usize) -> Vec<usize> {
    let mut m = len.saturating_sub(1) / CONTEXT;
    if limit > 0 {
        m = m.min(limit);
    }
    (0..m).map(|j| j * CONTEXT).collect()
}

/// A batch dataset whose sample i is the window of CONTEXT + 1 ids at `starts[i]`, as the
/// int64 field "tokens".
struct Windows {
    tokens: Arc<Vec<u8>>,
    starts: Vec<usize>,
}

impl BatchDataset for Windows {
    fn len(&self) -> i64 {
        self.starts.len() as i64
    }

    fn fill_batch(&mut self, indices: &[i64], batch: &mut BatchWriter<'_>) -> Result<(), String> {
        let out = batch.field::<i64>("tokens")?;
        for (row, &index) in indices.iter().enumerate() {
            let start = *usize::try_from(index)
                .ok()
                .and_then(|i| self.starts.get(i))
                .ok_or_else(|| format!("index {index} out of range 0..{}", self.starts.len()))?;
            let window = &self.tokens[start..start + CONTEXT + 1];
            for (dst, &id) in out[row * (CONTEXT + 1)..(row + 1) * (CONTEXT + 1)]
                .iter_mut()
                .zip(window)
            {
                *dst = id as i64;
            }
        }
        Ok(())
    }
}

/// Perplexity from the model's predict outputs "nll_sum" and "token_count" (per sequence):
/// exp(sum nll_sum / sum token_count) over the evaluation.
#[derive(Default)]
struct Perplexity {
    nll: f64,
    count: f64,
}

impl Metric for Perplexity {
    fn process(&mut self, batch: &MetricBatch<'_>) -> Result<(), String> {
        let get = |key: &str| -> Result<Vec<f64>, String> {
            batch
                .output(key)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the model's predict outputs have no '{key}'"))?
                .to_vec_f64()
                .map_err(|e| e.to_string())
        };
        let (nll, count) = (get("nll_sum")?, get("token_count")?);
        if nll.len() != count.len() {
            return Err(format!("nll_sum has {} values, token_count {}", nll.len(), count.len()));
        }
        self.nll += nll.iter().sum::<f64>();
        self.count += count.iter().sum::<f64>();
        Ok(())
    }

    fn compute(&mut self) -> Result<Vec<(String, f64)>, String> {
        if self.count <= 0.0 {
            return Err("no tokens were evaluated".to_string());
        }
        Ok(vec![("perplexity".to_string(), (self.nll / self.count).exp())])
    }

    fn reset(&mut self) {
        *self = Perplexity::default();
    }
}

/// Perplexity of the windows' predicted tokens under the training ids' frequencies with
/// add-one smoothing.
fn unigram_perplexity(train: &[u8], val: &[u8], starts: &[usize]) -> f64 {
    let mut counts = [0f64; VOCAB];
    for &id in train {
        counts[id as usize] += 1.0;
    }
    let total = train.len() as f64 + VOCAB as f64;
    let (mut nll, mut n) = (0.0, 0usize);
    for &s in starts {
        for &id in &val[s + 1..s + CONTEXT + 1] {
            nll -= ((counts[id as usize] + 1.0) / total).ln();
            n += 1;
        }
    }
    (nll / n as f64).exp()
}

/// xorshift64* : a small seeded generator for sampling.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed ^ 0x9e3779b97f4a7c15 | 1)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545f4914f6cdd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Samples one line from the model: starting after a "%" line (the start of a fortune), draws
/// characters from softmax(logits / TEMPERATURE) until a newline ends a non-empty line or
/// SAMPLE_CHARS draws were made.
fn sample_line(ctx: &mut HookCtx, rng: &mut XorShift) -> Result<String, String> {
    let mut tokens: Vec<i64> = b"%\n".iter().map(|&b| token_id(b) as i64).collect();
    let mut line = String::new();
    for _ in 0..SAMPLE_CHARS {
        let window = &tokens[tokens.len().saturating_sub(CONTEXT)..];
        let input = Tensor::from_slice(window, &[1, window.len() as i64]).map_err(|e| e.to_string())?;
        let logits = ctx
            .forward("tensor", &[("tokens", &input)], "logits")
            .and_then(|t| t.to_vec_f64())
            .map_err(|e| e.to_string())?;
        if logits.len() != window.len() * VOCAB {
            return Err(format!(
                "logits have {} values, expected {} x {VOCAB}",
                logits.len(),
                window.len()
            ));
        }
        let last = &logits[(window.len() - 1) * VOCAB..];
        let max = last.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = last.iter().map(|&l| ((l - max) / TEMPERATURE).exp()).collect();
        let mut u = rng.next_f64() * weights.iter().sum::<f64>();
        let mut id = VOCAB - 1;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                id = i;
                break;
            }
            u -= w;
        }
        if id as u8 == NEWLINE {
            if !line.is_empty() {
                break;
            }
        } else {
            line.push(token_char(id as u8));
        }
        tokens.push(id as i64);
    }
    Ok(line)
}

/// Command-line options.
struct Options {
    work_dir: String,
    fortune_dir: String,
    model: String,
    epochs: usize,
    train_windows: usize,
    val_windows: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    short: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        work_dir: "work_dirs/char_lm".to_string(),
        fortune_dir: "/usr/share/games/fortunes".to_string(),
        model: concat!(env!("CARGO_MANIFEST_DIR"), "/../../../tests/fixtures/char_lm.pt").to_string(),
        epochs: 8,
        train_windows: 8192,
        val_windows: 0,
        batch_size: 32,
        lr: 3e-3,
        seed: 0,
        short: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{flag}: '{v}' is not a valid number"))
        }
        match a.as_str() {
            "--work-dir" => o.work_dir = value()?,
            "--fortune-dir" => o.fortune_dir = value()?,
            "--model" => o.model = value()?,
            "--epochs" => o.epochs = num(&a, value()?)?,
            "--train-windows" => o.train_windows = num(&a, value()?)?,
            "--val-windows" => o.val_windows = num(&a, value()?)?,
            "--batch-size" => o.batch_size = num(&a, value()?)?,
            "--lr" => o.lr = num(&a, value()?)?,
            "--seed" => o.seed = num(&a, value()?)?,
            "--short" => o.short = true,
            _ => return Err(format!("unknown argument '{a}' (see the usage in examples/char_lm.rs)")),
        }
    }
    if o.epochs < 1 || o.batch_size < 1 || !o.train_windows.is_multiple_of(o.batch_size) {
        return Err(format!(
            "--epochs ({}) and --batch-size ({}) must be >= 1 and --train-windows ({}) a multiple of --batch-size",
            o.epochs, o.batch_size, o.train_windows
        ));
    }
    if !(o.lr > 0.0 && o.lr.is_finite()) {
        return Err(format!("--lr must be a positive number, got {}", o.lr));
    }
    Ok(o)
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    let fortunes = read_fortunes(&fortune_files(Path::new(&o.fortune_dir))?)?;
    let n_val = fortunes.len() / 10;
    let train = Arc::new(tokens_of(&fortunes[..fortunes.len() - n_val]));
    let val = Arc::new(tokens_of(&fortunes[fortunes.len() - n_val..]));
    println!(
        "tokens: {} fortunes, train {} ({:016x}), val {} ({:016x})",
        fortunes.len(),
        train.len(),
        fnv1a64(&train),
        val.len(),
        fnv1a64(&val)
    );
    let vstarts = val_starts(val.len(), o.val_windows);
    if vstarts.is_empty() {
        return Err(format!("the validation text has fewer than {} tokens", CONTEXT + 1));
    }
    let baseline = unigram_perplexity(&train, &val, &vstarts);
    println!("unigram baseline val perplexity {baseline:.4}");

    // Process-wide type names; this program registers them once.
    let field = [Field::new("tokens", DType::I64, &[CONTEXT as i64 + 1])];
    let train_ds = Windows {
        starts: train_starts(train.len(), o.train_windows)?,
        tokens: train.clone(),
    };
    register_batch_dataset("CharLmTrainWindows", &field, train_ds).map_err(|e| e.to_string())?;
    let val_ds = Windows {
        starts: vstarts,
        tokens: val.clone(),
    };
    register_batch_dataset("CharLmValWindows", &field, val_ds).map_err(|e| e.to_string())?;
    register_metric("CharLmPerplexity", Perplexity::default()).map_err(|e| e.to_string())?;

    let iters = o.epochs * (o.train_windows / o.batch_size);
    let config = json!({
        "work_dir": o.work_dir,
        "model": {"type": "TorchScriptModel", "path": o.model},
        "train_dataloader": {
            "batch_size": o.batch_size, "num_workers": 0,
            "sampler": {"type": "DefaultSampler", "shuffle": true, "seed": o.seed},
            "dataset": {"type": "CharLmTrainWindows"}
        },
        "val_dataloader": {
            "batch_size": VAL_BATCH, "num_workers": 0,
            "sampler": {"type": "DefaultSampler", "shuffle": false},
            "dataset": {"type": "CharLmValWindows"}
        },
        "val_evaluator": {"type": "CharLmPerplexity"},
        "train_cfg": {"by_epoch": true, "max_epochs": o.epochs, "val_interval": 1},
        "val_cfg": {},
        "optim_wrapper": {"type": "OptimWrapper",
                          "optimizer": {"type": "Adam", "lr": o.lr, "betas": [0.9, 0.99]}},
        "param_scheduler": [{"type": "CosineAnnealingLR", "by_epoch": false, "begin": 0, "end": iters,
                             "T_max": iters, "eta_min": ETA_MIN}],
        "default_hooks": {
            "logger": {"type": "LoggerHook", "interval": 100},
            "checkpoint": {"type": "CheckpointHook", "interval": o.epochs}
        },
        "randomness": {"seed": o.seed}
    });
    let mut runner = Runner::from_value(&config).map_err(|e| e.to_string())?;

    // One generated line after every training epoch; a failure to sample fails the run.
    let samples = Rc::new(Cell::new(0usize));
    let printed = samples.clone();
    let mut rng = XorShift::new(o.seed);
    runner
        .add_hook(
            "CharLmSampleHook",
            PRIORITY_LOW,
            Stage::AfterTrainEpoch,
            move |ctx| match sample_line(ctx, &mut rng) {
                Ok(line) => {
                    println!("[rust] epoch {} sample: {line}", ctx.epoch() + 1);
                    printed.set(printed.get() + 1);
                    HookAction::Continue
                }
                Err(e) => {
                    let _ = ctx.set_error(&format!("CharLmSampleHook: {e}"));
                    HookAction::Abort
                }
            },
        )
        .map_err(|e| e.to_string())?;
    // The first iterations' and every 100th loss, as scripts/char_lm_reference.py prints them.
    runner
        .add_hook("CharLmLossLogger", PRIORITY_LOW, Stage::AfterTrainIter, |ctx| {
            let it = ctx.iter() + 1;
            if it <= 3 || it % 100 == 0 {
                let loss = ctx.scalar("train/loss").ok().flatten().unwrap_or(f64::NAN);
                println!("[rust] iter {it} loss {loss:.6}");
            }
            HookAction::Continue
        })
        .map_err(|e| e.to_string())?;
    runner
        .add_hook("CharLmValLogger", PRIORITY_LOW, Stage::AfterValEpoch, |ctx| {
            println!("[rust] epoch {} validation {:?}", ctx.epoch(), ctx.metrics());
            HookAction::Continue
        })
        .map_err(|e| e.to_string())?;

    let start = Instant::now();
    runner.train().map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let ppl = runner
        .metrics()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|(name, _)| name.ends_with("perplexity"))
        .map(|(_, v)| v)
        .ok_or("the run reported no perplexity")?;
    println!(
        "mmhook val perplexity {ppl:.6} after {} iterations, {seconds:.1} s (unigram baseline {baseline:.4})",
        runner.iter()
    );

    if o.short {
        if !(ppl.is_finite() && ppl < VOCAB as f64) {
            return Err(format!(
                "perplexity {ppl} is not a finite number below the vocabulary size {VOCAB}"
            ));
        }
        if samples.get() != o.epochs {
            return Err(format!(
                "{} sample lines were printed, expected one per epoch ({})",
                samples.get(),
                o.epochs
            ));
        }
    } else if ppl.is_nan() || ppl >= baseline {
        return Err(format!(
            "val perplexity {ppl} is not below the unigram baseline {baseline}"
        ));
    }
    println!("char_lm: OK ({} sample lines)", samples.get());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("char_lm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

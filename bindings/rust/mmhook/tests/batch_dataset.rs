//! Batch datasets written in Rust: the same training as the built-in ToyDataset bit for bit,
//! the sampler's indices, errors (an `Err`, a wrong element type, a panic) naming the type, and
//! the dataset dropped exactly once.
use mmhook::serde_json::json;
use mmhook::*;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::serial;

fn work_dir(sub: &str) -> PathBuf {
    common::work_dir("rust_batch", sub)
}

const N: i64 = 12;

/// The batches a dataset filled, in the order of the calls.
type Seen = Arc<Mutex<Vec<Vec<i64>>>>;

/// The built-in ToyDataset (src/data/toy_dataset.cpp), a batch at a time.
struct ToyBatch {
    seen: Seen,
    drops: Arc<AtomicUsize>,
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    Fails,
    WrongType,
    Panics,
}

impl Drop for ToyBatch {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl BatchDataset for ToyBatch {
    fn len(&self) -> i64 {
        N
    }

    fn fill_batch(&mut self, indices: &[i64], batch: &mut BatchWriter<'_>) -> Result<(), String> {
        match self.mode {
            Mode::Fails => return Err("disk on fire".to_string()),
            Mode::WrongType => {
                batch.field::<i64>("inputs")?;
            }
            Mode::Panics => panic!("boom"),
            Mode::Good => {}
        }
        assert_eq!(batch.len(), indices.len());
        assert_eq!(batch.seeds().len(), indices.len());
        let inputs = batch.field::<f32>("inputs")?;
        let targets = batch.field::<f32>("targets")?;
        assert!(batch.field::<f32>("targets").unwrap_err().contains("already taken"));
        for (i, &index) in indices.iter().enumerate() {
            let x = index as f64 / N as f64;
            inputs[2 * i] = x as f32;
            inputs[2 * i + 1] = (1.0 - x) as f32;
            targets[i] = 1.0;
        }
        self.seen.lock().unwrap().push(indices.to_vec());
        Ok(())
    }
}

fn fields() -> Vec<Field> {
    vec![
        Field::new("inputs", DType::F32, &[2]),
        Field::new("targets", DType::F32, &[1]),
    ]
}

fn register(name: &str, mode: Mode) -> (Seen, Arc<AtomicUsize>) {
    let seen: Seen = Arc::default();
    let drops: Arc<AtomicUsize> = Arc::default();
    let ds = ToyBatch {
        seen: seen.clone(),
        drops: drops.clone(),
        mode,
    };
    register_batch_dataset(name, &fields(), ds).expect("register");
    (seen, drops)
}

/// Trains 3 shuffled epochs (batch 5) over `dataset`; the losses of every iteration.
fn train(sub: &str, dataset: &str, workers: i64) -> Result<Vec<f64>, Error> {
    let cfg = json!({
        "work_dir": work_dir(sub).to_string_lossy(), "model": {"type": "ToyModel"},
        "train_dataloader": {"batch_size": 5, "num_workers": workers,
            "sampler": {"type": "DefaultSampler", "shuffle": true}, "dataset": {"type": dataset}},
        "train_cfg": {"by_epoch": true, "max_epochs": 3},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "randomness": {"seed": 7}, "log_level": "WARNING"
    });
    let mut runner = Runner::from_value(&cfg)?;
    let losses: Rc<RefCell<Vec<f64>>> = Rc::default();
    let l = losses.clone();
    runner.add_hook("RecordLoss", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
        let t = ctx.tensor("loss").unwrap().unwrap();
        l.borrow_mut().push(t.to_vec_f64().unwrap()[0]);
        HookAction::Continue
    })?;
    runner.train()?;
    drop(runner);
    let out = losses.borrow().clone();
    Ok(out)
}

#[test]
fn batch_dataset_trains_like_the_builtin_toy_dataset() {
    let _g = serial();
    let (seen, drops) = register("RustToyBatch", Mode::Good);
    let builtin = train("builtin", "ToyDataset", 0).unwrap();
    let batched = train("batch", "RustToyBatch", 0).unwrap();
    assert_eq!(builtin.len(), 9);
    // Bit for bit.
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&builtin), bits(&batched));
    let batches = seen.lock().unwrap().clone();
    let order: Vec<i64> = batches.concat();
    assert_eq!(order.len(), 3 * N as usize);
    for epoch in order.chunks(N as usize) {
        let mut sorted = epoch.to_vec();
        sorted.sort();
        assert_eq!(sorted, (0..N).collect::<Vec<_>>());
    }
    assert_ne!(&order[..N as usize], &(0..N).collect::<Vec<_>>()[..], "shuffled");
    // Loader workers: same losses, same batches (filled concurrently, so in any order).
    seen.lock().unwrap().clear();
    let workers = train("batch_workers", "RustToyBatch", 2).unwrap();
    assert_eq!(bits(&workers), bits(&batched));
    let mut with_workers = seen.lock().unwrap().clone();
    let mut sorted = batches.clone();
    with_workers.sort();
    sorted.sort();
    assert_eq!(with_workers, sorted);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    unregister_dataset_type("RustToyBatch").unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        unregister_dataset_type("RustToyBatch").unwrap_err().code,
        code::NOT_FOUND
    );
}

#[test]
fn fill_errors_name_the_type_and_say_why() {
    let _g = serial();
    let cases = [
        (
            "RustFails",
            Mode::Fails,
            "batch dataset type 'RustFails', fill of 5 samples: returned code 1 (disk on fire)",
        ),
        ("RustWrongType", Mode::WrongType, "(field 'inputs' is F32, not I64)"),
        (
            "RustPanics",
            Mode::Panics,
            "(panic in Rust batch dataset 'RustPanics': boom)",
        ),
    ];
    for (name, mode, text) in cases {
        let (_, drops) = register(name, mode);
        let err = train(name, name, 0).unwrap_err();
        assert!(err.message.contains(text), "{name}: {}", err.message);
        if mode == Mode::Panics {
            let err = train(name, name, 0).unwrap_err();
            assert!(err.message.contains("panicked in an earlier fill"), "{}", err.message);
        }
        unregister_dataset_type(name).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");
    }
}

#[test]
fn bad_declarations_are_refused_and_the_dataset_dropped() {
    let drops: Arc<AtomicUsize> = Arc::default();
    let make = || ToyBatch {
        seen: Arc::default(),
        drops: drops.clone(),
        mode: Mode::Good,
    };
    let twice = [Field::new("x", DType::U8, &[]), Field::new("x", DType::I32, &[])];
    let err = register_batch_dataset("RustTwice", &twice, make()).unwrap_err();
    assert!(
        err.message
            .contains("field 'x', registration: the key is declared twice"),
        "{}",
        err.message
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let err = register_batch_dataset("RustNeg", &[Field::new("x", DType::F64, &[-1])], make()).unwrap_err();
    assert!(err.message.contains("negative size -1"), "{}", err.message);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let err = register_batch_dataset("Rust\0Nul", &fields(), make()).unwrap_err();
    assert_eq!(err.code, code::INVALID_ARGUMENT);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

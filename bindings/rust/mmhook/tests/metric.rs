//! Metric types written in Rust (`register_metric`) on the toy runner (docs/design.md §A8: 12
//! samples, batch 3, so 4 val batches): named in val_evaluator/test_evaluator like a built-in,
//! called reset, process x4, compute, reset per evaluation; errors and panics fail the run
//! naming the metric; the metric is dropped exactly once.
use mmhook::serde_json::{json, Value};
use mmhook::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::serial;

fn work_dir(sub: &str) -> PathBuf {
    common::work_dir("rust-metric", sub)
}

/// The toy val/test runner with `evaluator` as val_evaluator and test_evaluator.
fn eval_runner(sub: &str, evaluator: Value) -> Runner {
    let loader = json!({"batch_size": 3, "num_workers": 0,
        "sampler": {"type": "DefaultSampler", "shuffle": false}, "dataset": {"type": "ToyDataset"}});
    let cfg = json!({
        "work_dir": work_dir(sub).to_string_lossy(), "model": {"type": "ToyModel"},
        "val_dataloader": loader, "test_dataloader": loader,
        "val_evaluator": evaluator, "test_evaluator": evaluator,
        "val_cfg": {}, "test_cfg": {}, "randomness": {"seed": 0}, "log_level": "WARNING"
    });
    Runner::from_value(&cfg).expect("eval runner")
}

fn value(metrics: &[(String, f64)], key: &str) -> f64 {
    metrics
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {key} in {metrics:?}"))
}

/// Mean absolute error of "outputs" against "targets", logging its calls.
struct Mae {
    sum: f64,
    count: usize,
    log: Arc<Mutex<String>>,
    fail_at: usize,
    panic_at: usize,
    calls: usize,
    drops: Arc<AtomicUsize>,
}

impl Mae {
    fn new(log: &Arc<Mutex<String>>, drops: &Arc<AtomicUsize>) -> Mae {
        Mae {
            sum: 0.0,
            count: 0,
            log: log.clone(),
            fail_at: 0,
            panic_at: 0,
            calls: 0,
            drops: drops.clone(),
        }
    }
}

impl Drop for Mae {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Metric for Mae {
    fn process(&mut self, batch: &MetricBatch<'_>) -> Result<(), String> {
        self.log.lock().unwrap().push('P');
        self.calls += 1;
        if self.calls == self.fail_at {
            return Err("bad batch on purpose".to_string());
        }
        if self.calls == self.panic_at {
            panic!("metric panic on purpose");
        }
        assert!(batch.output("targets").unwrap().is_none());
        assert!(batch.data("nope").unwrap().is_none());
        let out = batch
            .output("outputs")
            .map_err(|e| e.to_string())?
            .ok_or("no outputs")?;
        let tgt = batch.data("targets").map_err(|e| e.to_string())?.ok_or("no targets")?;
        let o = out.to_vec_f64().map_err(|e| e.to_string())?;
        let t = tgt.to_vec_f64().map_err(|e| e.to_string())?;
        assert_eq!(o.len(), t.len());
        self.sum += o.iter().zip(&t).map(|(a, b)| (a - b).abs()).sum::<f64>();
        self.count += o.len();
        Ok(())
    }

    fn compute(&mut self) -> Result<Vec<(String, f64)>, String> {
        self.log.lock().unwrap().push('C');
        Ok(vec![
            ("mae".to_string(), self.sum / self.count as f64),
            ("n".to_string(), self.count as f64),
        ])
    }

    fn reset(&mut self) {
        self.log.lock().unwrap().push('R');
        self.sum = 0.0;
        self.count = 0;
    }
}

#[test]
fn rust_metric_matches_the_builtin_and_is_reset_per_evaluation() {
    let _g = serial();
    let log = Arc::new(Mutex::new(String::new()));
    let drops = Arc::new(AtomicUsize::new(0));
    register_metric("RustMae", Mae::new(&log, &drops)).unwrap();
    let e = register_metric("RustMae", Mae::new(&log, &drops)).unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert!(e.message.contains("already registered"), "{e}");
    assert_eq!(drops.load(Ordering::SeqCst), 1); // the refused one
    let e = register_metric("Bad\0Name", Mae::new(&log, &drops)).unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    {
        let mut runner = eval_runner(
            "ok",
            json!([{"type": "MeanAbsoluteError"}, {"type": "RustMae", "prefix": "rs"}]),
        );
        runner.val().unwrap();
        assert_eq!(*log.lock().unwrap(), "RPPPPCR");
        let m = runner.metrics().unwrap();
        let builtin = value(&m, "mae");
        assert!(builtin > 0.0);
        assert!((value(&m, "rs/mae") - builtin).abs() < 1e-6, "{m:?}");
        assert_eq!(value(&m, "rs/n"), 12.0);
        runner.test().unwrap();
        assert_eq!(*log.lock().unwrap(), "RPPPPCRRPPPPCR");
        let m = runner.metrics().unwrap();
        assert_eq!(value(&m, "rs/n"), 12.0);
    }
    unregister_metric("RustMae").unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert_eq!(unregister_metric("RustMae").unwrap_err().code, code::NOT_FOUND);
}

#[test]
fn rust_metric_errors_and_panics_fail_the_run_naming_the_metric() {
    let _g = serial();
    let log = Arc::new(Mutex::new(String::new()));
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = Mae::new(&log, &drops);
    m.fail_at = 3;
    m.panic_at = 6;
    register_metric("RustMaeFails", m).unwrap();
    {
        let mut runner = eval_runner("fail", json!({"type": "RustMaeFails"}));
        let e = runner.val().unwrap_err();
        assert_eq!(e.code, code::INVALID_ARGUMENT, "{e}");
        assert!(e.message.contains("RustMaeFails"), "{e}");
        assert!(e.message.contains("process"), "{e}");
        assert!(e.message.contains("bad batch on purpose"), "{e}");
        // The next evaluation starts from a reset; its 3rd process call (the 6th) panics.
        let e = runner.val().unwrap_err();
        assert_eq!(e.code, code::INTERNAL, "{e}");
        assert!(e.message.contains("panic in Rust metric 'RustMaeFails' process"), "{e}");
        assert!(e.message.contains("metric panic on purpose"), "{e}");
        // Broken from then on, naming it.
        let e = runner.val().unwrap_err();
        assert_eq!(e.code, code::FAILED_PRECONDITION, "{e}");
        assert!(e.message.contains("panicked in an earlier call"), "{e}");
    }
    unregister_metric("RustMaeFails").unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

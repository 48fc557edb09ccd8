//! End-to-end tests of the safe API on the toy runner (docs/design.md §A8: 12 samples, batch 3, so
//! 4 iterations per epoch; ToyMetric gives acc 1.0). Work dirs go under MMHOOK_TEST_WORK_DIR
//! (set by CTest to a folder of the build tree), else under the system temp dir.
use mmhook::serde_json::{json, Value};
use mmhook::*;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};

mod common;
use common::serial;

fn work_dir(sub: &str) -> PathBuf {
    common::work_dir("rust", sub)
}

/// The toy config of tests/capi/test_capi.c, with the keys of `extra` (an object) added at the
/// top level.
fn toy_config(dir: &Path, max_epochs: i64, extra: Value) -> Value {
    let loader = json!({"batch_size": 3, "num_workers": 0,
        "sampler": {"type": "DefaultSampler", "shuffle": false}, "dataset": {"type": "ToyDataset"}});
    let mut cfg = json!({
        "work_dir": dir.to_string_lossy(), "model": {"type": "ToyModel"},
        "train_dataloader": loader, "val_dataloader": loader, "test_dataloader": loader,
        "val_evaluator": {"type": "ToyMetric"}, "test_evaluator": {"type": "ToyMetric"},
        "train_cfg": {"by_epoch": true, "max_epochs": max_epochs, "val_interval": 1},
        "val_cfg": {}, "test_cfg": {},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "randomness": {"seed": 0}, "log_level": "WARNING"
    });
    let Value::Object(extra) = extra else {
        panic!("extra must be an object, got {extra}")
    };
    cfg.as_object_mut().unwrap().extend(extra);
    cfg
}

fn toy_runner(sub: &str, max_epochs: i64, extra: Value) -> Runner {
    Runner::from_value(&toy_config(&work_dir(sub), max_epochs, extra)).expect("toy runner")
}

/// (iter, batch_idx, loss) of one after_train_iter call.
type IterRecord = (i64, Option<i64>, f64);

#[test]
fn train_runs_closure_hooks_with_counters_loss_tensors_lr_and_metrics() {
    let _g = serial();
    let mut runner = toy_runner("train", 2, json!({}));
    let seen: Rc<RefCell<Vec<IterRecord>>> = Rc::default();
    let probes = Rc::new(Cell::new(0));
    let val_metrics: Rc<RefCell<Vec<(String, f64)>>> = Rc::default();
    {
        let seen = seen.clone();
        let probes = probes.clone();
        let val_metrics = val_metrics.clone();
        runner
            .register_hook(
                "counter",
                PRIORITY_NORMAL,
                Stage::BeforeTrainIter | Stage::AfterTrainIter | Stage::AfterValEpoch,
                move |ctx| {
                    match ctx.stage() {
                        Stage::AfterTrainIter => {
                            let loss = ctx
                                .scalar("train/loss")
                                .unwrap()
                                .expect("train/loss in the message hub");
                            seen.borrow_mut().push((ctx.iter(), ctx.batch_idx(), loss));
                            assert_eq!(ctx.max_epochs(), 2);
                            assert_eq!(ctx.max_iters(), 8);
                            if ctx.batch_idx() == Some(1) && ctx.epoch() == 0 {
                                let loss_t = ctx.tensor("loss").unwrap().expect("loss tensor");
                                assert_eq!(loss_t.numel(), 1);
                                assert_eq!(ctx.lr(0).unwrap(), 0.05, "set in before_train_iter");
                                ctx.update_scalar("train/custom", 3.5).unwrap();
                                assert_eq!(ctx.scalar("train/custom").unwrap(), Some(3.5));
                                probes.set(probes.get() + 1);
                            }
                        }
                        Stage::BeforeTrainIter if ctx.batch_idx() == Some(1) && ctx.epoch() == 0 => {
                            let inputs = ctx.tensor("inputs").unwrap().expect("inputs");
                            assert_eq!(inputs.shape(), &[3, 2]);
                            let v = inputs.to_vec_f64().unwrap();
                            // batch 1 holds samples 3, 4, 5: inputs [i/12, 1 - i/12]
                            assert!((v[0] - 0.25).abs() < 1e-6 && (v[1] - 0.75).abs() < 1e-6, "{v:?}");
                            let kept = inputs.retain().unwrap();
                            assert_eq!(kept.numel(), 6);
                            assert!(ctx.tensor("nope").unwrap().is_none());
                            assert_eq!(ctx.param_group_count(), 1);
                            assert_eq!(ctx.lr(0).unwrap(), 0.1);
                            assert_eq!(ctx.lr(7).unwrap_err().code, code::INVALID_ARGUMENT);
                            ctx.set_lr(0, 0.05).unwrap();
                            probes.set(probes.get() + 1);
                        }
                        Stage::AfterValEpoch => *val_metrics.borrow_mut() = ctx.metrics(),
                        _ => {}
                    }
                    HookAction::Continue
                },
            )
            .unwrap();
    }
    runner.train().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 8, "2 epochs x 4 iterations");
    for (i, (iter, batch_idx, loss)) in seen.iter().enumerate() {
        assert_eq!(*iter, i as i64);
        assert_eq!(*batch_idx, Some(i as i64 % 4));
        assert!(loss.is_finite(), "iter {iter}: loss {loss}");
    }
    assert_eq!(probes.get(), 2);
    assert_eq!(*val_metrics.borrow(), vec![("acc".to_string(), 1.0)]);
    assert_eq!(runner.epoch(), 2);
    assert_eq!(runner.iter(), 8);
    assert_eq!(runner.metrics().unwrap(), vec![("acc".to_string(), 1.0)]);
    let ckpt = runner.last_checkpoint().expect("a checkpoint");
    assert!(ckpt.to_string_lossy().ends_with("epoch_2.pth"), "{ckpt:?}");
    assert!(runner.hook_timing_json().contains("\"counter\""));
}

#[test]
fn hook_stop_ends_training_at_the_epoch_boundary() {
    let _g = serial();
    let mut runner = toy_runner("stop", 5, json!({}));
    let after_train = Rc::new(Cell::new(0));
    let at = after_train.clone();
    runner
        .register_hook(
            "stopper",
            PRIORITY_NORMAL,
            Stage::AfterTrainEpoch | Stage::AfterTrain,
            move |ctx| {
                if ctx.stage() == Stage::AfterTrain {
                    at.set(at.get() + 1);
                    return HookAction::Continue;
                }
                if ctx.epoch() == 0 {
                    HookAction::Stop
                } else {
                    HookAction::Continue
                }
            },
        )
        .unwrap();
    runner.train().unwrap();
    assert_eq!(runner.epoch(), 1, "the epoch finished, then the loop stopped");
    assert_eq!(runner.iter(), 4);
    assert_eq!(after_train.get(), 1);
}

#[test]
fn hook_abort_fails_the_run_naming_hook_stage_and_message() {
    let _g = serial();
    let mut runner = toy_runner("abort", 2, json!({}));
    let on_exception: Rc<RefCell<Option<String>>> = Rc::default();
    let oe = on_exception.clone();
    runner
        .register_hook(
            "guard",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter | Stage::OnException,
            move |ctx| {
                if ctx.stage() == Stage::OnException {
                    *oe.borrow_mut() = ctx.error_message();
                    return HookAction::Continue;
                }
                assert!(ctx.error_message().is_none());
                if ctx.iter() == 2 {
                    ctx.set_error("loss looked wrong").unwrap();
                    return HookAction::Abort;
                }
                HookAction::Continue
            },
        )
        .unwrap();
    let err = runner.train().unwrap_err();
    assert_eq!(err.code, 6);
    assert_eq!(err.code, code::HOOK_ABORTED);
    assert!(err.message.contains("guard"), "{err}");
    assert!(err.message.contains("after_train_iter"), "{err}");
    assert!(err.message.contains("loss looked wrong"), "{err}");
    assert!(on_exception
        .borrow()
        .as_deref()
        .unwrap_or("")
        .contains("loss looked wrong"));
    assert_eq!(runner.iter(), 2, "iterations 0 and 1 completed");
    // Error is a std error with a readable Display.
    let dyn_err: &dyn std::error::Error = &err;
    assert!(dyn_err.to_string().contains("hook aborted"));
}

#[test]
fn panic_in_hook_aborts_the_run_and_is_reraised_after_train_returns() {
    let _g = serial();
    let mut runner = toy_runner("panic", 2, json!({}));
    let calls = Rc::new(Cell::new(0));
    let exception_text: Rc<RefCell<Option<String>>> = Rc::default();
    let after_run = Rc::new(Cell::new(0));
    {
        let calls = calls.clone();
        runner
            .register_hook(
                "panicky",
                PRIORITY_NORMAL,
                Stage::AfterTrainIter | Stage::OnException,
                move |ctx| {
                    calls.set(calls.get() + 1);
                    if ctx.iter() == 1 {
                        panic!("boom at iter {}", ctx.iter());
                    }
                    HookAction::Continue
                },
            )
            .unwrap();
        let et = exception_text.clone();
        let ar = after_run.clone();
        runner
            .register_hook(
                "observer",
                PRIORITY_LOW,
                Stage::OnException | Stage::AfterRun,
                move |ctx| {
                    if ctx.stage() == Stage::OnException {
                        *et.borrow_mut() = ctx.error_message();
                    } else {
                        ar.set(ar.get() + 1);
                    }
                    HookAction::Continue
                },
            )
            .unwrap();
    }
    let payload = catch_unwind(AssertUnwindSafe(|| runner.train())).expect_err("the panic is re-raised");
    let text = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(text, "boom at iter 1");
    // The library unwound cleanly: on_exception and after_run ran, with the panic's text.
    let et = exception_text.borrow().clone().unwrap_or_default();
    assert!(
        et.contains("panic in Rust hook 'panicky'") && et.contains("boom at iter 1"),
        "{et}"
    );
    assert_eq!(after_run.get(), 1);
    // The panicked closure is not called again (not even at on_exception).
    assert_eq!(calls.get(), 2);
    // The runner is still usable afterwards: no panic is pending any more.
    runner.remove_hook("panicky").unwrap();
    assert!(runner.val().is_ok());
}

#[test]
fn request_stop_from_another_thread() {
    let _g = serial();
    let mut runner = toy_runner("reqstop", 50, json!({}));
    let handle = runner.request_stop_handle();
    fn assert_send_sync<T: Send + Sync + 'static>(_: &T) {}
    assert_send_sync(&handle);
    let (to_thread, from_hook) = mpsc::channel::<i64>();
    let (ack, wait_ack) = mpsc::channel::<()>();
    let stopper = std::thread::spawn(move || {
        let iter = from_hook.recv().unwrap();
        handle.request_stop();
        ack.send(()).unwrap();
        (iter, handle)
    });
    runner
        .register_hook("signaller", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
            if ctx.iter() == 3 {
                to_thread.send(ctx.iter()).unwrap();
                // Wait until the other thread has asked for the stop: deterministic.
                wait_ack.recv().unwrap();
            }
            HookAction::Continue
        })
        .unwrap();
    runner.train().unwrap();
    let (iter, handle) = stopper.join().unwrap();
    assert_eq!(iter, 3);
    assert_eq!(runner.iter(), 4, "stopped after the iteration that was running");
    drop(runner);
    handle.request_stop(); // a no-op once the runner is gone
}

fn state_hook(restored: Rc<Cell<i64>>, checks: Rc<Cell<i32>>) -> impl FnMut(&mut HookCtx) -> HookAction {
    move |ctx| {
        match ctx.stage() {
            Stage::BeforeSaveCheckpoint => {
                let value = 1000 + ctx.iter();
                ctx.checkpoint_put("counter", &value.to_le_bytes()).unwrap();
            }
            Stage::AfterLoadCheckpoint => {
                let bytes = ctx.checkpoint_get("counter").unwrap().expect("counter was saved");
                restored.set(i64::from_le_bytes(bytes.try_into().expect("8 bytes")));
                assert_eq!(ctx.checkpoint_get("absent").unwrap(), None);
                checks.set(checks.get() + 1);
            }
            Stage::AfterTrainIter if ctx.iter() == 0 => {
                let e = ctx.checkpoint_put("counter", b"x").unwrap_err();
                assert_eq!(e.code, code::FAILED_PRECONDITION);
                checks.set(checks.get() + 1);
            }
            _ => {}
        }
        HookAction::Continue
    }
}

#[test]
fn checkpoint_put_and_get_survive_resume() {
    let _g = serial();
    let restored = Rc::new(Cell::new(0));
    let checks = Rc::new(Cell::new(0));
    let stages = Stage::BeforeSaveCheckpoint | Stage::AfterLoadCheckpoint | Stage::AfterTrainIter;
    let dir = work_dir("state");
    {
        let mut runner = Runner::from_value(&toy_config(&dir, 2, json!({}))).unwrap();
        runner
            .register_hook(
                "stateful",
                PRIORITY_NORMAL,
                stages,
                state_hook(restored.clone(), checks.clone()),
            )
            .unwrap();
        runner.train().unwrap();
    }
    assert_eq!(restored.get(), 0);
    // Same work_dir, resume: the newest checkpoint (epoch 2, iter 8) is loaded.
    let mut runner = Runner::from_value(&toy_config(&dir, 3, json!({"resume": true}))).unwrap();
    runner
        .register_hook(
            "stateful",
            PRIORITY_NORMAL,
            stages,
            state_hook(restored.clone(), checks.clone()),
        )
        .unwrap();
    runner.train().unwrap();
    assert_eq!(restored.get(), 1008);
    assert_eq!(runner.iter(), 12);
    assert_eq!(
        checks.get(),
        2,
        "one FAILED_PRECONDITION check in the first run, one load in the second"
    );
}

#[test]
fn hooks_info_lists_the_hook_with_its_priority() {
    let _g = serial();
    let mut runner = toy_runner("info", 1, json!({}));
    runner
        .register_hook("rust_high", PRIORITY_HIGH, Stage::AfterTrainIter, |_| {
            HookAction::Continue
        })
        .unwrap();
    runner
        .register_hook("rust_lowest", PRIORITY_LOWEST, Stage::AfterTrainIter, |_| {
            HookAction::Continue
        })
        .unwrap();
    let info = runner.hooks_info();
    let block = &info[info.find("after_train_iter:\n").expect("an after_train_iter block")..];
    assert!(block.contains("(HIGH        ) rust_high"), "{info}");
    assert!(block.contains("(LOWEST      ) rust_lowest"), "{info}");
    let hi = block.find("rust_high").unwrap();
    let timer = block.find("IterTimerHook").unwrap();
    let lo = block.find("rust_lowest").unwrap();
    assert!(hi < timer && timer < lo, "priority order: {block}");
    // The hook is not listed under stages outside its mask.
    let before_run = &info[..info.find("after_train_iter:\n").unwrap()];
    assert!(!before_run.contains("rust_high"));
}

/// Counts its drops through a shared counter.
struct DropCounter(Rc<Cell<usize>>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn closures_are_dropped_exactly_once() {
    let _g = serial();
    let drops = Rc::new(Cell::new(0));
    let mut runner = toy_runner("drops", 1, json!({}));
    let hook = |c: DropCounter| {
        move |_: &mut HookCtx| {
            let _keep = &c;
            HookAction::Continue
        }
    };
    runner
        .register_hook("a", PRIORITY_NORMAL, Stages::ALL, hook(DropCounter(drops.clone())))
        .unwrap();
    runner
        .register_hook(
            "b",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap();
    runner
        .register_hook(
            "c",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap();
    assert_eq!(drops.get(), 0);
    // Failed registrations drop the closure at once (the library frees the user data).
    let e = runner
        .register_hook("bad", 101, Stage::AfterTrainIter, hook(DropCounter(drops.clone())))
        .unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert!(e.message.contains("priority"), "{e}");
    assert_eq!(drops.get(), 1);
    let e = runner
        .register_hook(
            "a",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT, "duplicate name: {e}");
    assert_eq!(drops.get(), 2);
    let e = runner
        .register_hook(
            "nul\0name",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert_eq!(drops.get(), 3);
    // Removal drops it; removing again is NOT_FOUND.
    runner.remove_hook("c").unwrap();
    assert_eq!(drops.get(), 4);
    assert_eq!(runner.remove_hook("c").unwrap_err().code, code::NOT_FOUND);
    runner.train().unwrap();
    assert_eq!(drops.get(), 4, "training drops nothing");
    drop(runner);
    assert_eq!(drops.get(), 6, "the runner's drop frees the remaining two");
}

#[test]
fn bad_configs_are_errors_with_codes_and_json_paths() {
    let _g = serial();
    let e = Runner::new("{\"model\": ").err().expect("invalid JSON");
    assert_eq!(e.code, code::CONFIG);
    assert!(e.message.contains("invalid JSON"), "{e}");
    // A work_dir keeps whatever the library writes before validation out of the cwd.
    let wd = work_dir("badcfg");
    let e = Runner::from_value(&json!({"work_dir": wd.to_string_lossy(), "model": {"type": "ToyModle"}}))
        .err()
        .expect("unknown type");
    assert_eq!(e.code, code::CONFIG);
    assert!(
        e.message.contains("model.type") && e.message.contains("ToyModel"),
        "{e}"
    );
    let e = Runner::new("{\0}").err().expect("NUL");
    assert_eq!(e.code, code::INVALID_ARGUMENT);
}

#[test]
fn val_and_test_run_their_hooks() {
    let _g = serial();
    let mut runner = toy_runner("valtest", 1, json!({}));
    let stages_seen: Rc<RefCell<Vec<Stage>>> = Rc::default();
    let s = stages_seen.clone();
    runner
        .register_hook(
            "evals",
            PRIORITY_NORMAL,
            Stage::AfterValEpoch | Stage::AfterTestEpoch,
            move |ctx| {
                assert_eq!(ctx.metrics(), vec![("acc".to_string(), 1.0)]);
                s.borrow_mut().push(ctx.stage());
                HookAction::Continue
            },
        )
        .unwrap();
    runner.val().unwrap();
    runner.test().unwrap();
    assert_eq!(*stages_seen.borrow(), vec![Stage::AfterValEpoch, Stage::AfterTestEpoch]);
    assert_eq!(runner.metrics().unwrap(), vec![("acc".to_string(), 1.0)]);
}

#[test]
fn log_records_are_routed_to_a_rust_handler() {
    let _g = serial();
    let records: Arc<Mutex<Vec<(i32, String)>>> = Arc::default();
    let r = records.clone();
    set_log_handler(move |level: i32, msg: &str| r.lock().unwrap().push((level, msg.to_string())));
    let mut runner = toy_runner("log", 1, json!({"load_from": "/nonexistent/x.pth", "resume": false}));
    let e = runner.val().unwrap_err();
    assert_eq!(e.code, code::CHECKPOINT);
    assert!(e.message.contains("/nonexistent/x.pth"), "{e}");
    drop(runner);
    clear_log_handler();
    assert_eq!(
        Arc::strong_count(&records),
        1,
        "the handler was dropped when routing stopped"
    );
    let recs = records.lock().unwrap();
    assert!(
        recs.iter().any(|(level, _)| *level == 40),
        "an ERROR record of the failed run: {recs:?}"
    );
}

#[test]
fn a_hook_that_panicked_fails_later_calls_naming_it_until_removed() {
    let _g = serial();
    let mut runner = toy_runner("poisoned", 1, json!({}));
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    runner
        .register_hook("fragile", PRIORITY_NORMAL, Stage::AfterTrainIter, move |_| {
            c.set(c.get() + 1);
            panic!("broken state");
        })
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| runner.train())).expect_err("the panic is re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"broken state"));
    for _ in 0..2 {
        let e = runner.train().expect_err("a poisoned hook is not skipped in silence");
        assert_eq!(e.code, code::FAILED_PRECONDITION, "{e}");
        assert!(
            e.message.contains("'fragile'") && e.message.contains("remove_hook"),
            "{e}"
        );
        let e = runner.val().unwrap_err();
        assert!(e.message.contains("'fragile'"), "{e}");
    }
    assert_eq!(calls.get(), 1, "called once, then neither skipped nor called");
    runner.remove_hook("fragile").unwrap();
    runner.train().unwrap();
}

#[test]
fn strings_with_a_nul_byte_are_invalid_argument_errors() {
    let _g = serial();
    let mut runner = toy_runner("nul", 1, json!({}));
    runner
        .register_hook("n", PRIORITY_NORMAL, Stage::AfterTrainIter, |_| HookAction::Continue)
        .unwrap();
    let e = runner.remove_hook("n\0junk").unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert!(e.message.contains("hook name"), "{e}");
    let info = runner.hooks_info();
    assert!(
        info.lines().any(|l| l.trim_end().ends_with(") n")),
        "hook n is still there: {info}"
    );
    let checked = Rc::new(Cell::new(0));
    let ch = checked.clone();
    runner
        .register_hook(
            "probe",
            PRIORITY_LOW,
            Stage::AfterTrainIter | Stage::BeforeSaveCheckpoint,
            move |ctx| {
                let invalid = |what: &str, r: Result<(), Error>| {
                    let e = r.expect_err(what);
                    assert_eq!(e.code, code::INVALID_ARGUMENT, "{what}: {e}");
                    assert!(e.message.contains("NUL"), "{what}: {e}");
                };
                if ctx.stage() == Stage::BeforeSaveCheckpoint {
                    invalid("checkpoint_put", ctx.checkpoint_put("k\0a", b"a"));
                    ctx.checkpoint_put("k", b"b").unwrap();
                    ch.set(ch.get() + 1);
                    return HookAction::Continue;
                }
                if ctx.iter() != 0 {
                    return HookAction::Continue;
                }
                let loss = ctx.scalar("train/loss").unwrap().unwrap();
                invalid("update_scalar", ctx.update_scalar("train/loss\0x", 1e9));
                assert_eq!(ctx.scalar("train/loss").unwrap(), Some(loss), "not overwritten");
                invalid("scalar", ctx.scalar("train/loss\0x").map(|_| ()));
                invalid("tensor", ctx.tensor("loss\0x").map(|_| ()));
                invalid("checkpoint_get", ctx.checkpoint_get("k\0").map(|_| ()));
                invalid("set_error", ctx.set_error("a\0b"));
                ch.set(ch.get() + 1);
                HookAction::Continue
            },
        )
        .unwrap();
    runner.train().unwrap();
    assert_eq!(checked.get(), 2);
}

/// Panics when dropped.
struct DropBomb;
impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("DropBomb went off");
    }
}

const DROP_BOMB_CHILD: &str = "MMHOOK_TEST_DROP_BOMB_CHILD";

#[test]
fn a_panicking_drop_of_hook_state_with_an_unwritable_stderr_does_not_abort() {
    if std::env::var_os(DROP_BOMB_CHILD).is_some() {
        // The child process: its stderr is unwritable.
        let mut runner = toy_runner("drop_bomb", 1, json!({}));
        let bomb = DropBomb;
        runner
            .register_hook("bomb", PRIORITY_NORMAL, Stage::AfterTrainIter, move |_| {
                let _keep = &bomb;
                HookAction::Continue
            })
            .unwrap();
        drop(runner); // the library frees the hook: DropBomb panics, the report cannot be written
        println!("the process survived");
        return;
    }
    let _g = serial();
    // Every write to /dev/full fails (ENOSPC). (A closed or read-only stderr would not do:
    // std treats EBADF on stderr as success.)
    let stderr = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panicking_drop_of_hook_state_with_an_unwritable_stderr_does_not_abort",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DROP_BOMB_CHILD, "1")
        .stderr(stderr)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}", out.status);
    assert!(stdout.contains("the process survived"), "{stdout}");
}

#[test]
fn a_hook_reaching_its_runner_through_a_refcell_fails_the_run_instead_of_reentering() {
    let _g = serial();
    let cell: Rc<RefCell<Option<Runner>>> = Rc::new(RefCell::new(Some(toy_runner("refcell", 1, json!({})))));
    let inner = cell.clone();
    cell.borrow_mut()
        .as_mut()
        .unwrap()
        .register_hook("reenter", PRIORITY_NORMAL, Stage::AfterTrainIter, move |_| {
            // Would drop (take) or re-enter the running runner: the RefCell is borrowed.
            let taken = inner.borrow_mut().take();
            drop(taken);
            HookAction::Continue
        })
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| cell.borrow_mut().as_mut().unwrap().train()))
        .expect_err("the hook's borrow_mut panics and the panic is re-raised");
    drop(payload);
    let mut runner = cell.borrow_mut().take().expect("the runner is still there");
    assert_eq!(runner.iter(), 0);
    runner.remove_hook("reenter").unwrap();
    runner.val().unwrap();
}

#[test]
fn a_log_handler_may_replace_itself_and_call_the_library() {
    let _g = serial();
    let first: Arc<Mutex<Vec<String>>> = Arc::default();
    let second: Arc<Mutex<Vec<String>>> = Arc::default();
    let (f, s) = (first.clone(), second.clone());
    set_log_handler(move |level: i32, msg: &str| {
        if level < 40 {
            return;
        }
        let s = s.clone();
        // Replaces this very handler while it runs; it stays alive until it returns.
        set_log_handler(move |_: i32, msg: &str| s.lock().unwrap().push(msg.to_string()));
        f.lock()
            .unwrap()
            .push(format!("{msg} (library {})", library_version_string()));
    });
    let bad = json!({"load_from": "/nonexistent/x.pth", "resume": false});
    let mut runner = toy_runner("log_replace", 1, bad.clone());
    assert_eq!(runner.val().unwrap_err().code, code::CHECKPOINT);
    let mut runner2 = toy_runner("log_replace2", 1, bad);
    assert_eq!(runner2.val().unwrap_err().code, code::CHECKPOINT);
    drop((runner, runner2));
    clear_log_handler();
    assert_eq!(Arc::strong_count(&first), 1, "the first handler was dropped");
    assert_eq!(Arc::strong_count(&second), 1, "the second handler was dropped");
    assert!(!first.lock().unwrap().is_empty());
    assert!(
        !second.lock().unwrap().is_empty(),
        "the replacement received the second run's error"
    );
}

#[test]
fn add_hook_gives_a_taken_name_a_suffix_like_configs_do() {
    let _g = serial();
    let mut runner = toy_runner("add_hook", 1, json!({}));
    let drops = Rc::new(Cell::new(0));
    let hook = |d: DropCounter| {
        move |_: &mut HookCtx| {
            let _keep = &d;
            HookAction::Continue
        }
    };
    let first = runner
        .add_hook(
            "probe",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap();
    let second = runner
        .add_hook(
            "probe",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("probe", "probe_1"));
    // A built-in hook's name follows the same rule.
    let timer = runner
        .add_hook(
            "IterTimerHook",
            PRIORITY_LOW,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap();
    assert_eq!(timer, "IterTimerHook_1");
    // register_hook keeps refusing a taken name (the suffixed hook is dropped at once).
    let e = runner
        .register_hook(
            "probe",
            PRIORITY_NORMAL,
            Stage::AfterTrainIter,
            hook(DropCounter(drops.clone())),
        )
        .unwrap_err();
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert!(e.message.contains("already registered"), "{e}");
    assert_eq!(drops.get(), 1);
    // Removal takes the name given.
    runner.remove_hook("probe_1").unwrap();
    assert_eq!(drops.get(), 2);
    runner.train().unwrap();
    // The timing table names hooks by the names they got (hooks_info shows their types).
    let timing = runner.try_hook_timing_json().unwrap();
    assert!(timing.contains("\"hook\":\"IterTimerHook_1\""), "{timing}");
    assert!(timing.contains("\"hook\":\"probe\""), "{timing}");
    assert!(!timing.contains("probe_1") && !timing.contains("probe_2"), "{timing}");
    drop(runner);
    assert_eq!(drops.get(), 4);
}

#[test]
fn fallible_getters_return_the_library_text() {
    let _g = serial();
    let mut runner = toy_runner("try_getters", 1, json!({}));
    assert_eq!(runner.try_metrics_json().unwrap(), "{}");
    assert_eq!(runner.try_last_checkpoint().unwrap(), None);
    assert_eq!(runner.try_hook_timing_json().unwrap(), "[]");
    runner.train().unwrap();
    assert!(runner.try_metrics_json().unwrap().contains("\"acc\""));
    let ckpt = runner.try_last_checkpoint().unwrap().expect("a checkpoint");
    assert!(ckpt.ends_with("epoch_1.pth"), "{}", ckpt.display());
    assert_eq!(Some(ckpt), runner.last_checkpoint());
    let timing = runner.try_hook_timing_json().unwrap();
    assert!(timing.contains("\"hook\":\"CheckpointHook\""), "{timing}");
    // Times are recalibrated on each read: compare the hook names only.
    assert!(runner.hook_timing_json().contains("\"hook\":\"CheckpointHook\""));
    assert_eq!(runner.try_hooks_info().unwrap(), runner.hooks_info());
}

#[test]
fn ctx_errors_carry_the_library_message() {
    let _g = serial();
    let mut runner = toy_runner("ctx_errors", 1, json!({}));
    let checked = Rc::new(Cell::new(0));
    let c = checked.clone();
    runner
        .add_hook(
            "probe",
            PRIORITY_NORMAL,
            Stage::BeforeTrainIter | Stage::BeforeTrainEpoch,
            move |ctx| {
                if ctx.stage() == Stage::BeforeTrainEpoch {
                    assert_eq!(ctx.batch_idx(), None);
                    assert_eq!(ctx.param_group_count(), 1);
                    return HookAction::Continue;
                }
                let e = ctx.lr(7).unwrap_err();
                assert_eq!(e.code, code::INVALID_ARGUMENT);
                assert!(e.message.contains("parameter group 7 is out of range"), "{e}");
                let e = ctx.set_lr(0, f64::INFINITY).unwrap_err();
                assert!(e.message.contains("must be finite"), "{e}");
                let e = ctx.checkpoint_put("k", b"x").unwrap_err();
                assert_eq!(e.code, code::FAILED_PRECONDITION);
                assert!(e.message.contains("before_save_checkpoint only"), "{e}");
                assert_eq!(ctx.scalar("train/none").unwrap(), None);
                assert!(ctx.tensor("none").unwrap().is_none());
                assert_eq!(ctx.tensor("inputs").unwrap().expect("inputs").shape(), &[3, 2]);
                c.set(c.get() + 1);
                HookAction::Continue
            },
        )
        .unwrap();
    runner.train().unwrap();
    assert_eq!(checked.get(), 4);
}

#[test]
fn a_hook_runs_the_model_on_its_own_inputs() {
    let _g = serial();
    let mut runner = toy_runner("forward", 2, json!({}));
    let predictions: Rc<RefCell<Vec<f64>>> = Rc::default();
    let p = predictions.clone();
    runner
        .add_hook("sampler", PRIORITY_NORMAL, Stage::AfterTrainEpoch, move |ctx| {
            let x = Tensor::from_slice(&[0.25f32, 0.75], &[1, 2]).unwrap();
            let y = ctx.forward("predict", &[("inputs", &x)], "outputs").unwrap();
            assert_eq!(y.shape(), &[1, 1]);
            let again = ctx.forward("predict", &[("inputs", &x)], "outputs").unwrap();
            assert_eq!(y.to_vec_f64().unwrap(), again.to_vec_f64().unwrap());
            p.borrow_mut().push(y.to_vec_f64().unwrap()[0]);

            let e = ctx.forward("tensor", &[("inputs", &x)], "outputs").unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.contains("ToyModel"), "{e}");
            let e = ctx.forward("predict", &[("inputs", &x)], "logits").unwrap_err();
            assert_eq!(e.code, code::NOT_FOUND);
            assert!(e.message.contains("the model gave 'outputs'"), "{e}");
            let e = ctx.forward("predict", &[("in\0puts", &x)], "outputs").unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            let wide = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3]).unwrap();
            let e = ctx.forward("predict", &[("inputs", &wide)], "outputs").unwrap_err();
            assert_eq!(e.code, code::TORCH);
            assert!(e.message.contains("at after_train_epoch, mode 'predict'"), "{e}");
            HookAction::Continue
        })
        .unwrap();
    runner.train().unwrap();
    let seen = predictions.borrow();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|v| v.is_finite()));
    // Training went on between the two epochs: the model changed.
    assert_ne!(seen[0], seen[1]);
}

#[test]
fn host_tensors_check_their_length_against_the_shape() {
    let t = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    assert_eq!(t.shape(), &[2, 3]);
    assert_eq!(t.to_vec_f64().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let e = Tensor::from_slice(&[1u8, 2, 3], &[2, 2]).expect_err("length mismatch");
    assert_eq!(e.code, code::INVALID_ARGUMENT);
    assert!(e.message.contains("nbytes is 3 but the shape and dtype need 4"), "{e}");
    let e = Tensor::from_slice(&[1.0f64], &[-1]).expect_err("negative size");
    assert!(e.message.contains("shape[0] is -1"), "{e}");
    let scalar = Tensor::from_slice(&[2.5f64], &[]).unwrap();
    assert_eq!(scalar.shape(), &[] as &[i64]);
}

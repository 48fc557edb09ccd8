//! Configs as serde_json values: `Runner::from_value`, the strict reader (`config::from_str`,
//! `config::from_file`) and dotted-path overrides (`config::set_path`,
//! `config::apply_cfg_option`), with good and bad input; the errors name the path.
use mmhook::serde_json::{json, Value};
use mmhook::*;
use std::path::PathBuf;

mod common;
use common::serial;

fn work_dir(sub: &str) -> PathBuf {
    common::work_dir("rust-config", sub)
}

/// The toy training config (docs/design.md §A8: 12 samples, batch 3, 4 iterations per epoch).
fn toy(sub: &str) -> Value {
    json!({
        "work_dir": work_dir(sub).to_string_lossy(), "model": {"type": "ToyModel"},
        "train_dataloader": {"batch_size": 3, "num_workers": 0,
            "sampler": {"type": "DefaultSampler", "shuffle": false}, "dataset": {"type": "ToyDataset"}},
        "train_cfg": {"by_epoch": true, "max_epochs": 5},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "custom_hooks": [{"type": "EMAHook", "priority": 49}],
        "default_hooks": {"checkpoint": null},
        "randomness": {"seed": 0}, "log_level": "WARNING"
    })
}

/// The config error's message, checked to have code::CONFIG.
fn config_err(r: Result<(), Error>) -> String {
    let e = r.expect_err("an error");
    assert_eq!(e.code, code::CONFIG, "{e}");
    e.message
}

#[test]
fn from_value_trains_what_the_overrides_say() {
    let _g = serial();
    let mut cfg = toy("train");
    config::apply_cfg_option(&mut cfg, "train_cfg.max_epochs=2").unwrap();
    config::set_path(&mut cfg, "optim_wrapper.optimizer.lr", json!(0.05)).unwrap();
    let mut runner = Runner::from_value(&cfg).unwrap();
    let lrs: std::rc::Rc<std::cell::RefCell<Vec<f64>>> = Default::default();
    let l = lrs.clone();
    runner
        .add_hook("lr", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
            l.borrow_mut().push(ctx.lr(0).unwrap());
            HookAction::Continue
        })
        .unwrap();
    runner.train().unwrap();
    assert_eq!((runner.epoch(), runner.iter()), (2, 8));
    assert_eq!(lrs.borrow().len(), 8);
    assert!(lrs.borrow().iter().all(|&lr| lr == 0.05), "{:?}", lrs.borrow());
}

#[test]
fn from_value_refuses_a_non_object_and_passes_library_errors_on() {
    let _g = serial();
    for (v, got) in [
        (json!([1, 2]), "a list"),
        (json!("cfg.json"), "string"),
        (json!(null), "null"),
        (json!(3), "integer"),
    ] {
        let e = Runner::from_value(&v).err().expect("not an object");
        assert_eq!(e.code, code::CONFIG);
        assert_eq!(e.message, format!("config must be a JSON object, got {got}"));
    }
    let mut cfg = toy("badtype");
    cfg["model"]["type"] = json!("ToyModle");
    let e = Runner::from_value(&cfg).err().expect("unknown type");
    assert_eq!(e.code, code::CONFIG);
    assert!(
        e.message.contains("model.type") && e.message.contains("ToyModel"),
        "{e}"
    );
}

#[test]
fn set_path_walks_objects_and_list_indices() {
    let mut cfg = toy("unused");
    config::set_path(&mut cfg, "custom_hooks.0.priority", json!(40)).unwrap();
    assert_eq!(cfg["custom_hooks"][0]["priority"], json!(40));
    // A new key as the last part; an integer may become a number; null may become anything.
    config::set_path(&mut cfg, "train_cfg.val_interval", json!(2)).unwrap();
    config::set_path(&mut cfg, "train_cfg.max_epochs", json!(2.0)).unwrap();
    config::set_path(&mut cfg, "default_hooks.checkpoint", json!({"type": "CheckpointHook"})).unwrap();
    assert_eq!(
        cfg["train_cfg"],
        json!({"by_epoch": true, "max_epochs": 2.0, "val_interval": 2})
    );
    assert_eq!(cfg["default_hooks"]["checkpoint"]["type"], json!("CheckpointHook"));
    // Objects keep the order they were written in (serde_json's preserve_order).
    let keys: Vec<&String> = cfg["train_cfg"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["by_epoch", "max_epochs", "val_interval"]);
}

#[test]
fn set_path_errors_name_the_path() {
    let mut cfg = toy("unused");
    let before = cfg.clone();
    let set = |cfg: &mut Value, p: &str, v: Value| config_err(config::set_path(cfg, p, v));
    assert_eq!(
        set(&mut cfg, "train_cfgg.max_epochs", json!(3)),
        "train_cfgg.max_epochs: the config has no key 'train_cfgg' (did you mean 'train_cfg'?)"
    );
    assert_eq!(
        set(&mut cfg, "optim_wrapper.optimiser.lr", json!(1)),
        "optim_wrapper.optimiser.lr: optim_wrapper has no key 'optimiser' (did you mean 'optimizer'?)"
    );
    assert_eq!(
        set(&mut cfg, "nothing_like_it.x", json!(1)),
        "nothing_like_it.x: the config has no key 'nothing_like_it'"
    );
    assert_eq!(
        set(&mut cfg, "custom_hooks.5.priority", json!(1)),
        "custom_hooks.5.priority: custom_hooks: index 5 out of range (1 items)"
    );
    assert_eq!(
        set(&mut cfg, "custom_hooks.first", json!(1)),
        "custom_hooks.first: custom_hooks is a list: 'first' is not an index"
    );
    assert_eq!(
        set(&mut cfg, "train_cfg.max_epochs.value", json!(1)),
        "train_cfg.max_epochs.value: train_cfg.max_epochs is integer, not an object or list"
    );
    assert_eq!(
        set(&mut cfg, "train_cfg.max_epochs", json!("ten")),
        "train_cfg.max_epochs: expected integer, got \"ten\""
    );
    assert_eq!(
        set(&mut cfg, "train_cfg.by_epoch", json!(0)),
        "train_cfg.by_epoch: expected boolean, got 0"
    );
    assert_eq!(set(&mut cfg, "", json!(1)), ": empty path");
    assert_eq!(
        set(&mut cfg, "train_cfg..max_epochs", json!(1)),
        "train_cfg..max_epochs: empty key at part 2 (a doubled, leading or trailing '.')"
    );
    assert_eq!(
        set(&mut cfg, "train_cfg.", json!(1)),
        "train_cfg.: empty key at part 2 (a doubled, leading or trailing '.')"
    );
    assert_eq!(cfg, before, "a refused override changes nothing");
}

#[test]
fn cfg_options_read_json_or_take_text_as_a_string() {
    let mut cfg = toy("unused");
    config::apply_cfg_options(
        &mut cfg,
        [
            "train_cfg.max_epochs=3",
            "work_dir=runs/a b",
            "log_level=\"INFO\"",
            "custom_hooks=[{\"type\": \"EMAHook\"}, {\"type\": \"EMAHook\", \"momentum\": 0.5}]",
        ],
    )
    .unwrap();
    assert_eq!(cfg["train_cfg"]["max_epochs"], json!(3));
    assert_eq!(cfg["work_dir"], json!("runs/a b"));
    assert_eq!(cfg["log_level"], json!("INFO"));
    assert_eq!(cfg["custom_hooks"][1]["momentum"], json!(0.5));

    let apply = |cfg: &mut Value, o: &str| config_err(config::apply_cfg_option(cfg, o));
    assert_eq!(
        apply(&mut cfg, "train_cfg.max_epochs"),
        "--cfg-options 'train_cfg.max_epochs': expected KEY=VALUE"
    );
    assert_eq!(apply(&mut cfg, "=3"), "--cfg-options '=3': expected KEY=VALUE");
    assert_eq!(
        apply(&mut cfg, "train_cfg.max_epochs=ten"),
        "--cfg-options train_cfg.max_epochs: expected integer, got \"ten\""
    );
    assert_eq!(
        apply(&mut cfg, "train_cfg.max_epoch.x=3"),
        "--cfg-options train_cfg.max_epoch.x: train_cfg has no key 'max_epoch' (did you mean 'max_epochs'?)"
    );
    let e = apply(
        &mut cfg,
        "optim_wrapper.optimizer={\"type\": \"SGD\", \"lr\": 1, \"lr\": 2}",
    );
    assert!(
        e.starts_with("--cfg-options optim_wrapper.optimizer: lr: duplicate key"),
        "{e}"
    );
    // Stops at the first bad option; the ones before it are applied.
    let e = config::apply_cfg_options(&mut cfg, ["train_cfg.max_epochs=7", "bogus", "train_cfg.max_epochs=9"]);
    assert!(config_err(e).contains("'bogus'"));
    assert_eq!(cfg["train_cfg"]["max_epochs"], json!(7));
}

#[test]
fn strict_reader_refuses_duplicate_keys_bad_json_and_non_objects() {
    let v = config::from_str(r#"{"b": 1, "a": {"x": [1, {"y": null}]}}"#, "inline").unwrap();
    assert_eq!(v["a"]["x"][1]["y"], Value::Null);
    assert_eq!(
        v.to_string(),
        r#"{"b":1,"a":{"x":[1,{"y":null}]}}"#,
        "the order written"
    );

    let err = |text: &str| {
        let e = config::from_str(text, "inline").expect_err(text);
        assert_eq!(e.code, code::CONFIG, "{e}");
        e.message
    };
    let e = err(r#"{"a": {"x": [1, {"y": 1, "y": 2}]}}"#);
    assert!(
        e.starts_with("inline: a.x[1].y: duplicate key (each key may appear once in an object)"),
        "{e}"
    );
    assert!(err(r#"{"k": 1, "k": 1}"#).starts_with("inline: k: duplicate key"));
    let e = err(r#"{"model": "#);
    assert!(e.starts_with("inline: ") && e.contains("line 1"), "{e}");
    assert!(err(r#"{"a": 1} {"b": 2}"#).contains("trailing characters"));
    assert!(err(r#"{"lr": 1e999}"#).contains("number out of range"));
    assert_eq!(err("[1]"), "inline: config must be a JSON object, got a list");
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    assert!(err(&deep).contains("recursion limit"));
}

#[test]
fn from_file_reads_and_names_the_file() {
    let dir = work_dir("files");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, r#"{"train_cfg": {"max_epochs": 4}}"#).unwrap();
    assert_eq!(config::from_file(&good).unwrap()["train_cfg"]["max_epochs"], json!(4));

    let dup = dir.join("dup.json");
    std::fs::write(&dup, "{\"a\": 1,\n \"a\": 2}").unwrap();
    let e = config::from_file(&dup).unwrap_err();
    assert_eq!(e.code, code::CONFIG);
    assert!(
        e.message
            .starts_with(&format!("config file '{}': a: duplicate key", dup.display())),
        "{e}"
    );

    let missing = dir.join("missing.json");
    let e = config::from_file(&missing).unwrap_err();
    assert_eq!(e.code, code::IO);
    assert!(
        e.message.starts_with(&format!("config file '{}': ", missing.display())),
        "{e}"
    );
    let e = config::from_file(&dir).unwrap_err();
    assert_eq!(e.code, code::IO, "a folder: {e}");
}

#[test]
fn the_repository_configs_read_strictly() {
    // Every shipped config passes the strict reader, and the runner takes it as a Value.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v = config::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(v.is_object());
            n += 1;
        }
    }
    assert!(n >= 2, "configs found in {}: {n}", root.display());
}

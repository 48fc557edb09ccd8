//! Compares the Rust declarations with what a C compiler makes of capi/include/mmhook.h:
//! struct sizes and field offsets, and the values of the constants. The header directory is
//! MMHOOK_INCLUDE_DIR (default: the repository's capi/include); the compiler is $CC or `cc`.
use mmhook_sys::*;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <mmhook.h>
#define P(x) printf("%s %lld\n", #x, (long long)(x))
int main(void) {
  P(sizeof(mmh_hook_desc_t));
  P(offsetof(mmh_hook_desc_t, struct_size)); P(offsetof(mmh_hook_desc_t, name));
  P(offsetof(mmh_hook_desc_t, priority)); P(offsetof(mmh_hook_desc_t, stages));
  P(offsetof(mmh_hook_desc_t, fn)); P(offsetof(mmh_hook_desc_t, user_data));
  P(offsetof(mmh_hook_desc_t, user_data_free));
  P(sizeof(mmh_dataset_desc_t));
  P(offsetof(mmh_dataset_desc_t, struct_size)); P(offsetof(mmh_dataset_desc_t, len));
  P(offsetof(mmh_dataset_desc_t, get)); P(offsetof(mmh_dataset_desc_t, user_data));
  P(offsetof(mmh_dataset_desc_t, user_data_free));
  P(MMH_VERSION_MAJOR); P(MMH_VERSION_MINOR); P(MMH_VERSION_PATCH);
  P(MMH_E_HOOK_ABORTED); P(MMH_E_CANCELLED); P(MMH_STAGE_COUNT); P(MMH_STAGE_ON_EXCEPTION);
  P(MMH_STAGE_AFTER_TRAIN_ITER); P(MMH_STAGE_BEFORE_SAVE_CHECKPOINT); P(MMH_STAGES_ALL);
  P(MMH_PRIORITY_VERY_LOW); P(MMH_HOOK_ABORT); P(MMH_LOG_ERROR);
  P(sizeof(mmh_batch_field_t)); P(offsetof(mmh_batch_field_t, key));
  P(offsetof(mmh_batch_field_t, dtype)); P(offsetof(mmh_batch_field_t, shape));
  P(offsetof(mmh_batch_field_t, ndim));
  P(sizeof(mmh_batch_dataset_desc_t)); P(offsetof(mmh_batch_dataset_desc_t, len));
  P(offsetof(mmh_batch_dataset_desc_t, fill)); P(offsetof(mmh_batch_dataset_desc_t, fields));
  P(offsetof(mmh_batch_dataset_desc_t, num_fields));
  P(offsetof(mmh_batch_dataset_desc_t, user_data));
  P(offsetof(mmh_batch_dataset_desc_t, user_data_free));
  P(MMH_DTYPE_U8); P(MMH_DTYPE_F64);
  return 0;
}
"#;

fn include_dir() -> PathBuf {
    match std::env::var("MMHOOK_INCLUDE_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../capi/include"),
    }
}

#[test]
fn rust_layout_and_constants_match_the_c_header() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("mmhook_layout_probe.c");
    let exe = dir.join("mmhook_layout_probe");
    std::fs::write(&src, PROBE).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .arg("-std=c99")
        .arg("-I")
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler '{cc}': {e}"));
    assert!(status.success(), "compiling the layout probe failed");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let c: std::collections::HashMap<String, i64> = text
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let expect = [
        ("sizeof(mmh_hook_desc_t)", size_of::<mmh_hook_desc_t>() as i64),
        (
            "offsetof(mmh_hook_desc_t, struct_size)",
            offset_of!(mmh_hook_desc_t, struct_size) as i64,
        ),
        (
            "offsetof(mmh_hook_desc_t, name)",
            offset_of!(mmh_hook_desc_t, name) as i64,
        ),
        (
            "offsetof(mmh_hook_desc_t, priority)",
            offset_of!(mmh_hook_desc_t, priority) as i64,
        ),
        (
            "offsetof(mmh_hook_desc_t, stages)",
            offset_of!(mmh_hook_desc_t, stages) as i64,
        ),
        ("offsetof(mmh_hook_desc_t, fn)", offset_of!(mmh_hook_desc_t, fn_) as i64),
        (
            "offsetof(mmh_hook_desc_t, user_data)",
            offset_of!(mmh_hook_desc_t, user_data) as i64,
        ),
        (
            "offsetof(mmh_hook_desc_t, user_data_free)",
            offset_of!(mmh_hook_desc_t, user_data_free) as i64,
        ),
        ("sizeof(mmh_dataset_desc_t)", size_of::<mmh_dataset_desc_t>() as i64),
        (
            "offsetof(mmh_dataset_desc_t, struct_size)",
            offset_of!(mmh_dataset_desc_t, struct_size) as i64,
        ),
        (
            "offsetof(mmh_dataset_desc_t, len)",
            offset_of!(mmh_dataset_desc_t, len) as i64,
        ),
        (
            "offsetof(mmh_dataset_desc_t, get)",
            offset_of!(mmh_dataset_desc_t, get) as i64,
        ),
        (
            "offsetof(mmh_dataset_desc_t, user_data)",
            offset_of!(mmh_dataset_desc_t, user_data) as i64,
        ),
        (
            "offsetof(mmh_dataset_desc_t, user_data_free)",
            offset_of!(mmh_dataset_desc_t, user_data_free) as i64,
        ),
        ("MMH_VERSION_MAJOR", MMH_VERSION_MAJOR as i64),
        ("MMH_VERSION_MINOR", MMH_VERSION_MINOR as i64),
        ("MMH_VERSION_PATCH", MMH_VERSION_PATCH as i64),
        ("MMH_E_HOOK_ABORTED", MMH_E_HOOK_ABORTED as i64),
        ("MMH_E_CANCELLED", MMH_E_CANCELLED as i64),
        ("MMH_STAGE_COUNT", MMH_STAGE_COUNT as i64),
        ("MMH_STAGE_ON_EXCEPTION", MMH_STAGE_ON_EXCEPTION as i64),
        ("MMH_STAGE_AFTER_TRAIN_ITER", MMH_STAGE_AFTER_TRAIN_ITER as i64),
        (
            "MMH_STAGE_BEFORE_SAVE_CHECKPOINT",
            MMH_STAGE_BEFORE_SAVE_CHECKPOINT as i64,
        ),
        ("MMH_STAGES_ALL", MMH_STAGES_ALL as i64),
        ("MMH_PRIORITY_VERY_LOW", MMH_PRIORITY_VERY_LOW as i64),
        ("MMH_HOOK_ABORT", MMH_HOOK_ABORT as i64),
        ("MMH_LOG_ERROR", MMH_LOG_ERROR as i64),
        ("sizeof(mmh_batch_field_t)", size_of::<mmh_batch_field_t>() as i64),
        (
            "offsetof(mmh_batch_field_t, key)",
            offset_of!(mmh_batch_field_t, key) as i64,
        ),
        (
            "offsetof(mmh_batch_field_t, dtype)",
            offset_of!(mmh_batch_field_t, dtype) as i64,
        ),
        (
            "offsetof(mmh_batch_field_t, shape)",
            offset_of!(mmh_batch_field_t, shape) as i64,
        ),
        (
            "offsetof(mmh_batch_field_t, ndim)",
            offset_of!(mmh_batch_field_t, ndim) as i64,
        ),
        (
            "sizeof(mmh_batch_dataset_desc_t)",
            size_of::<mmh_batch_dataset_desc_t>() as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, len)",
            offset_of!(mmh_batch_dataset_desc_t, len) as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, fill)",
            offset_of!(mmh_batch_dataset_desc_t, fill) as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, fields)",
            offset_of!(mmh_batch_dataset_desc_t, fields) as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, num_fields)",
            offset_of!(mmh_batch_dataset_desc_t, num_fields) as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, user_data)",
            offset_of!(mmh_batch_dataset_desc_t, user_data) as i64,
        ),
        (
            "offsetof(mmh_batch_dataset_desc_t, user_data_free)",
            offset_of!(mmh_batch_dataset_desc_t, user_data_free) as i64,
        ),
        ("MMH_DTYPE_U8", MMH_DTYPE_U8 as i64),
        ("MMH_DTYPE_F64", MMH_DTYPE_F64 as i64),
    ];
    assert_eq!(c.len(), expect.len(), "probe output:\n{text}");
    for (name, rust) in expect {
        assert_eq!(
            c.get(name).copied(),
            Some(rust),
            "{name}: C says {:?}, Rust says {rust}",
            c.get(name)
        );
    }
}

//! Raw declarations of the mmhook C ABI (`capi/include/mmhook.h`), written by hand.
//!
//! Everything here mirrors the header one to one: opaque handle types, `int32_t` enum
//! typedefs with their constants, the versioned input structs (`#[repr(C)]`) and the
//! `extern "C"` functions. The safe API lives in the `mmhook` crate.
//!
//! The functions the C header marks `MMH_DEPRECATED` are declared too (the library keeps
//! exporting them); like the C macro, their `#[deprecated]` attribute is off by default and
//! switched on by the `warn-deprecated` feature.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

/// Incremented on ABI breaks (and the SONAME with it).
pub const MMH_VERSION_MAJOR: u32 = 0;
/// Incremented on additions.
pub const MMH_VERSION_MINOR: u32 = 2;
/// Incremented on fixes.
pub const MMH_VERSION_PATCH: u32 = 0;

/// An error: owned, released with `mmh_error_free`.
#[repr(C)]
pub struct mmh_error_t {
    _private: [u8; 0],
}
/// A runner: owned, released with `mmh_runner_destroy`.
#[repr(C)]
pub struct mmh_runner_t {
    _private: [u8; 0],
}
/// The context of one hook call: borrowed, valid only during that call.
#[repr(C)]
pub struct mmh_hook_ctx_t {
    _private: [u8; 0],
}
/// A tensor: borrowed from a ctx, or owned via `mmh_tensor_retain`.
#[repr(C)]
pub struct mmh_tensor_t {
    _private: [u8; 0],
}
/// One dataset sample being filled by a dataset's `get` callback (borrowed).
#[repr(C)]
pub struct mmh_sample_t {
    _private: [u8; 0],
}
/// One val/test batch handed to a metric's `process` callback (borrowed, valid during it).
#[repr(C)]
pub struct mmh_metric_batch_t {
    _private: [u8; 0],
}
/// The results writer of a metric's `compute` callback (borrowed, valid during it).
#[repr(C)]
pub struct mmh_metric_results_t {
    _private: [u8; 0],
}
/// DLPack's managed tensor; forward-declared only.
#[repr(C)]
pub struct DLManagedTensor {
    _private: [u8; 0],
}

/// Error codes (values of `mmh_error_code`).
pub type mmh_code_t = i32;
pub const MMH_OK: mmh_code_t = 0;
pub const MMH_E_INVALID_ARGUMENT: mmh_code_t = 1;
pub const MMH_E_NOT_FOUND: mmh_code_t = 2;
pub const MMH_E_UNAVAILABLE: mmh_code_t = 3;
pub const MMH_E_FAILED_PRECONDITION: mmh_code_t = 4;
pub const MMH_E_OOM: mmh_code_t = 5;
pub const MMH_E_HOOK_ABORTED: mmh_code_t = 6;
pub const MMH_E_TORCH: mmh_code_t = 7;
pub const MMH_E_ABI: mmh_code_t = 8;
pub const MMH_E_INTERNAL: mmh_code_t = 9;
pub const MMH_E_IO: mmh_code_t = 10;
pub const MMH_E_CONFIG: mmh_code_t = 11;
pub const MMH_E_CHECKPOINT: mmh_code_t = 12;
pub const MMH_E_DISTRIBUTED: mmh_code_t = 13;
pub const MMH_E_CANCELLED: mmh_code_t = 14;

/// Stage identifiers: MMEngine's Hook.stages order, then on_exception.
pub type mmh_stage_t = i32;
pub const MMH_STAGE_BEFORE_RUN: mmh_stage_t = 0;
pub const MMH_STAGE_AFTER_LOAD_CHECKPOINT: mmh_stage_t = 1;
pub const MMH_STAGE_BEFORE_TRAIN: mmh_stage_t = 2;
pub const MMH_STAGE_BEFORE_TRAIN_EPOCH: mmh_stage_t = 3;
pub const MMH_STAGE_BEFORE_TRAIN_ITER: mmh_stage_t = 4;
pub const MMH_STAGE_AFTER_TRAIN_ITER: mmh_stage_t = 5;
pub const MMH_STAGE_AFTER_TRAIN_EPOCH: mmh_stage_t = 6;
pub const MMH_STAGE_BEFORE_VAL: mmh_stage_t = 7;
pub const MMH_STAGE_BEFORE_VAL_EPOCH: mmh_stage_t = 8;
pub const MMH_STAGE_BEFORE_VAL_ITER: mmh_stage_t = 9;
pub const MMH_STAGE_AFTER_VAL_ITER: mmh_stage_t = 10;
pub const MMH_STAGE_AFTER_VAL_EPOCH: mmh_stage_t = 11;
pub const MMH_STAGE_AFTER_VAL: mmh_stage_t = 12;
pub const MMH_STAGE_BEFORE_SAVE_CHECKPOINT: mmh_stage_t = 13;
pub const MMH_STAGE_AFTER_TRAIN: mmh_stage_t = 14;
pub const MMH_STAGE_BEFORE_TEST: mmh_stage_t = 15;
pub const MMH_STAGE_BEFORE_TEST_EPOCH: mmh_stage_t = 16;
pub const MMH_STAGE_BEFORE_TEST_ITER: mmh_stage_t = 17;
pub const MMH_STAGE_AFTER_TEST_ITER: mmh_stage_t = 18;
pub const MMH_STAGE_AFTER_TEST_EPOCH: mmh_stage_t = 19;
pub const MMH_STAGE_AFTER_TEST: mmh_stage_t = 20;
pub const MMH_STAGE_AFTER_RUN: mmh_stage_t = 21;
pub const MMH_STAGE_ON_EXCEPTION: mmh_stage_t = 22;
pub const MMH_STAGE_COUNT: mmh_stage_t = 23;

/// The bit of one stage in a stage mask (`MMH_STAGE_BIT`).
pub const fn mmh_stage_bit(stage: mmh_stage_t) -> u64 {
    1u64 << stage
}
/// Every stage (`MMH_STAGES_ALL`).
pub const MMH_STAGES_ALL: u64 = mmh_stage_bit(MMH_STAGE_COUNT) - 1;

/// MMEngine's priority levels; a lower value runs earlier.
pub const MMH_PRIORITY_HIGHEST: i32 = 0;
pub const MMH_PRIORITY_VERY_HIGH: i32 = 10;
pub const MMH_PRIORITY_HIGH: i32 = 30;
pub const MMH_PRIORITY_ABOVE_NORMAL: i32 = 40;
pub const MMH_PRIORITY_NORMAL: i32 = 50;
pub const MMH_PRIORITY_BELOW_NORMAL: i32 = 60;
pub const MMH_PRIORITY_LOW: i32 = 70;
pub const MMH_PRIORITY_VERY_LOW: i32 = 90;
pub const MMH_PRIORITY_LOWEST: i32 = 100;

/// What a hook asks the runner to do next.
pub type mmh_hook_action_t = i32;
pub const MMH_HOOK_CONTINUE: mmh_hook_action_t = 0;
pub const MMH_HOOK_STOP: mmh_hook_action_t = 1;
pub const MMH_HOOK_ABORT: mmh_hook_action_t = -1;

/// Log levels passed to a log callback.
pub const MMH_LOG_DEBUG: i32 = 10;
pub const MMH_LOG_INFO: i32 = 20;
pub const MMH_LOG_WARNING: i32 = 30;
pub const MMH_LOG_ERROR: i32 = 40;

/// A hook: called at the stages of its mask with a borrowed ctx. Must not unwind.
pub type mmh_hook_fn =
    Option<unsafe extern "C" fn(ctx: *mut mmh_hook_ctx_t, user_data: *mut c_void) -> mmh_hook_action_t>;
/// Releases user data; runs exactly once.
pub type mmh_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
/// Builds a hook from its config entry (JSON text).
pub type mmh_hook_factory_fn = Option<
    unsafe extern "C" fn(entry_json: *const c_char, desc: *mut mmh_hook_desc_t, user_data: *mut c_void) -> mmh_code_t,
>;
/// Receives each log record.
pub type mmh_log_fn = Option<unsafe extern "C" fn(level: i32, message: *const c_char, user_data: *mut c_void)>;

/// A hook registration; fill with `mmh_hook_desc_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmh_hook_desc_t {
    pub struct_size: usize,
    pub name: *const c_char,
    pub priority: i32,
    pub stages: u64,
    pub fn_: mmh_hook_fn,
    pub user_data: *mut c_void,
    pub user_data_free: mmh_free_fn,
}

/// A dataset implemented outside the library; fill with `mmh_dataset_desc_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmh_dataset_desc_t {
    pub struct_size: usize,
    pub len: Option<unsafe extern "C" fn(user_data: *mut c_void) -> i64>,
    pub get: Option<
        unsafe extern "C" fn(
            index: i64,
            sample_seed: u64,
            sample: *mut mmh_sample_t,
            user_data: *mut c_void,
        ) -> mmh_code_t,
    >,
    pub user_data: *mut c_void,
    pub user_data_free: mmh_free_fn,
}

// Batch-level datasets

/// Element types of a batch dataset's fields (`mmh_batch_field_t::dtype`).
pub type mmh_dtype_t = i32;
pub const MMH_DTYPE_U8: mmh_dtype_t = 0;
pub const MMH_DTYPE_I32: mmh_dtype_t = 1;
pub const MMH_DTYPE_I64: mmh_dtype_t = 2;
pub const MMH_DTYPE_F32: mmh_dtype_t = 3;
pub const MMH_DTYPE_F64: mmh_dtype_t = 4;

/// The batch a batch dataset's `fill` callback is filling (borrowed, valid during the call).
#[repr(C)]
pub struct mmh_batch_t {
    _private: [u8; 0],
}

/// One field (batch key) of a batch dataset; fill with `mmh_batch_field_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmh_batch_field_t {
    pub struct_size: usize,
    pub key: *const c_char,
    pub dtype: mmh_dtype_t,
    pub shape: *const i64,
    pub ndim: usize,
}

/// Fills a whole batch of the samples `indices`.
pub type mmh_batch_fill_fn = Option<
    unsafe extern "C" fn(
        indices: *const i64,
        sample_seeds: *const u64,
        n: usize,
        batch: *mut mmh_batch_t,
        user_data: *mut c_void,
    ) -> mmh_code_t,
>;

/// A dataset that fills whole batches; fill with `mmh_batch_dataset_desc_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmh_batch_dataset_desc_t {
    pub struct_size: usize,
    pub len: Option<unsafe extern "C" fn(user_data: *mut c_void) -> i64>,
    pub fill: mmh_batch_fill_fn,
    pub fields: *const *const mmh_batch_field_t,
    pub num_fields: usize,
    pub user_data: *mut c_void,
    pub user_data_free: mmh_free_fn,
}

extern "C" {
    pub fn mmh_batch_field_init(field: *mut mmh_batch_field_t, struct_size: usize);
    pub fn mmh_batch_dataset_desc_init(desc: *mut mmh_batch_dataset_desc_t, struct_size: usize);
    pub fn mmh_batch_dataset_type_register(
        name: *const c_char,
        desc: *const mmh_batch_dataset_desc_t,
    ) -> *mut mmh_error_t;
    pub fn mmh_batch_get_buffer(
        batch: *mut mmh_batch_t,
        field: usize,
        data_out: *mut *mut c_void,
        numel_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_batch_set_dlpack(
        batch: *mut mmh_batch_t,
        field: usize,
        tensor: *mut DLManagedTensor,
    ) -> *mut mmh_error_t;
    pub fn mmh_batch_set_error(batch: *mut mmh_batch_t, message: *const c_char) -> *mut mmh_error_t;
}

/// A metric implemented outside the library; fill with `mmh_metric_desc_init` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmh_metric_desc_t {
    pub struct_size: usize,
    pub process: Option<unsafe extern "C" fn(batch: *mut mmh_metric_batch_t, user_data: *mut c_void) -> mmh_code_t>,
    pub compute: Option<unsafe extern "C" fn(results: *mut mmh_metric_results_t, user_data: *mut c_void) -> mmh_code_t>,
    pub reset: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
    pub user_data: *mut c_void,
    pub user_data_free: mmh_free_fn,
}

// Metric types (a block of its own in mmhook.h, after the dataset section).
extern "C" {
    pub fn mmh_metric_desc_init(desc: *mut mmh_metric_desc_t, struct_size: usize);
    pub fn mmh_metric_type_register(name: *const c_char, desc: *const mmh_metric_desc_t) -> *mut mmh_error_t;
    pub fn mmh_metric_type_unregister(name: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_metric_batch_get_data_tensor(
        batch: *const mmh_metric_batch_t,
        key: *const c_char,
        out: *mut *const mmh_tensor_t,
    ) -> *mut mmh_error_t;
    pub fn mmh_metric_batch_get_output_tensor(
        batch: *const mmh_metric_batch_t,
        key: *const c_char,
        out: *mut *const mmh_tensor_t,
    ) -> *mut mmh_error_t;
    pub fn mmh_metric_batch_set_error(batch: *mut mmh_metric_batch_t, message: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_metric_results_set_value(
        results: *mut mmh_metric_results_t,
        name: *const c_char,
        value: f64,
    ) -> *mut mmh_error_t;
    pub fn mmh_metric_results_set_error(results: *mut mmh_metric_results_t, message: *const c_char)
        -> *mut mmh_error_t;
}

extern "C" {

    // The convention's entry points (docs/c_api.md): every fallible call returns an error.
    pub fn mmh_runner_add_hook(
        runner: *mut mmh_runner_t,
        desc: *const mmh_hook_desc_t,
        name_buf: *mut c_char,
        name_cap: usize,
        name_len_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_runner_get_hooks_info(
        runner: *const mmh_runner_t,
        buf: *mut c_char,
        cap: usize,
        len_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_runner_get_metrics_json(
        runner: *const mmh_runner_t,
        buf: *mut c_char,
        cap: usize,
        len_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_runner_get_hook_timing_json(
        runner: *const mmh_runner_t,
        buf: *mut c_char,
        cap: usize,
        len_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_runner_get_last_checkpoint(
        runner: *const mmh_runner_t,
        buf: *mut c_char,
        cap: usize,
        len_out: *mut usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_runner_get_epoch(runner: *const mmh_runner_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_runner_get_iter(runner: *const mmh_runner_t, out: *mut i64) -> *mut mmh_error_t;

    pub fn mmh_hook_ctx_get_stage(ctx: *const mmh_hook_ctx_t, out: *mut mmh_stage_t) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_epoch(ctx: *const mmh_hook_ctx_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_iter(ctx: *const mmh_hook_ctx_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_batch_idx(ctx: *const mmh_hook_ctx_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_max_epochs(ctx: *const mmh_hook_ctx_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_max_iters(ctx: *const mmh_hook_ctx_t, out: *mut i64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_scalar(ctx: *const mmh_hook_ctx_t, key: *const c_char, out: *mut f64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_update_scalar(ctx: *mut mmh_hook_ctx_t, key: *const c_char, value: f64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_metric_count(ctx: *const mmh_hook_ctx_t, out: *mut usize) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_metric(
        ctx: *const mmh_hook_ctx_t,
        i: usize,
        out_name: *mut *const c_char,
        out_value: *mut f64,
    ) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_param_group_count(ctx: *const mmh_hook_ctx_t, out: *mut usize) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_lr(ctx: *const mmh_hook_ctx_t, group: usize, out: *mut f64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_set_lr(ctx: *mut mmh_hook_ctx_t, group: usize, lr: f64) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_tensor(
        ctx: *const mmh_hook_ctx_t,
        key: *const c_char,
        out: *mut *const mmh_tensor_t,
    ) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_set_error(ctx: *mut mmh_hook_ctx_t, message: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_error_message(ctx: *const mmh_hook_ctx_t, out: *mut *const c_char) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_put_checkpoint_state(
        ctx: *mut mmh_hook_ctx_t,
        key: *const c_char,
        data: *const c_void,
        len: usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_get_checkpoint_state(
        ctx: *const mmh_hook_ctx_t,
        key: *const c_char,
        buf: *mut c_void,
        cap: usize,
        len_out: *mut usize,
    ) -> *mut mmh_error_t;

    pub fn mmh_tensor_get_ndim(t: *const mmh_tensor_t, out: *mut usize) -> *mut mmh_error_t;
    pub fn mmh_tensor_get_shape(t: *const mmh_tensor_t, out: *mut *const i64) -> *mut mmh_error_t;
    pub fn mmh_tensor_get_numel(t: *const mmh_tensor_t, out: *mut usize) -> *mut mmh_error_t;

    pub fn mmh_hook_type_register(
        name: *const c_char,
        factory: mmh_hook_factory_fn,
        user_data: *mut c_void,
        user_data_free: mmh_free_fn,
    ) -> *mut mmh_error_t;
    pub fn mmh_hook_type_unregister(name: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_dataset_type_register(name: *const c_char, desc: *const mmh_dataset_desc_t) -> *mut mmh_error_t;
    pub fn mmh_dataset_type_unregister(name: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_sample_set_array_f32(
        sample: *mut mmh_sample_t,
        name: *const c_char,
        data: *const f32,
        shape: *const i64,
        ndim: usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_sample_set_array_i64(
        sample: *mut mmh_sample_t,
        name: *const c_char,
        data: *const i64,
        shape: *const i64,
        ndim: usize,
    ) -> *mut mmh_error_t;
    pub fn mmh_log_set_callback(
        fn_: mmh_log_fn,
        user_data: *mut c_void,
        user_data_free: mmh_free_fn,
    ) -> *mut mmh_error_t;

    // Deprecated (docs/c_api.md has the table): kept, as the library keeps them exported. With
    // the `warn-deprecated` feature each use warns, naming its replacement.
    // Version and names
    pub fn mmh_version_number() -> u32;
    pub fn mmh_version_string() -> *const c_char;
    pub fn mmh_stage_name(stage: mmh_stage_t) -> *const c_char;

    // Errors
    pub fn mmh_error_code(err: *const mmh_error_t) -> mmh_code_t;
    pub fn mmh_error_message(err: *const mmh_error_t) -> *const c_char;
    pub fn mmh_error_free(err: *mut mmh_error_t);

    // Runner
    pub fn mmh_runner_create(config_json: *const c_char, out: *mut *mut mmh_runner_t) -> *mut mmh_error_t;
    pub fn mmh_runner_destroy(runner: *mut mmh_runner_t);
    pub fn mmh_hook_desc_init(desc: *mut mmh_hook_desc_t, struct_size: usize);
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_add_hook"))]
    pub fn mmh_runner_register_hook(runner: *mut mmh_runner_t, desc: *const mmh_hook_desc_t) -> *mut mmh_error_t;
    pub fn mmh_runner_remove_hook(runner: *mut mmh_runner_t, name: *const c_char) -> *mut mmh_error_t;
    pub fn mmh_runner_train(runner: *mut mmh_runner_t) -> *mut mmh_error_t;
    pub fn mmh_runner_val(runner: *mut mmh_runner_t) -> *mut mmh_error_t;
    pub fn mmh_runner_test(runner: *mut mmh_runner_t) -> *mut mmh_error_t;
    pub fn mmh_runner_request_stop(runner: *mut mmh_runner_t);
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_get_hooks_info"))]
    pub fn mmh_runner_hooks_info(runner: *const mmh_runner_t, buf: *mut c_char, cap: usize) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_get_metrics_json"))]
    pub fn mmh_runner_metrics_json(runner: *const mmh_runner_t, buf: *mut c_char, cap: usize) -> usize;
    #[cfg_attr(
        feature = "warn-deprecated",
        deprecated(note = "use mmh_runner_get_hook_timing_json")
    )]
    pub fn mmh_runner_hook_timing_json(runner: *const mmh_runner_t, buf: *mut c_char, cap: usize) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_get_last_checkpoint"))]
    pub fn mmh_runner_last_checkpoint(runner: *const mmh_runner_t, buf: *mut c_char, cap: usize) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_get_epoch"))]
    pub fn mmh_runner_epoch(runner: *const mmh_runner_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_runner_get_iter"))]
    pub fn mmh_runner_iter(runner: *const mmh_runner_t) -> i64;

    // Inside a hook call
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_stage"))]
    pub fn mmh_ctx_stage(ctx: *const mmh_hook_ctx_t) -> mmh_stage_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_epoch"))]
    pub fn mmh_ctx_epoch(ctx: *const mmh_hook_ctx_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_iter"))]
    pub fn mmh_ctx_iter(ctx: *const mmh_hook_ctx_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_batch_idx"))]
    pub fn mmh_ctx_batch_idx(ctx: *const mmh_hook_ctx_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_max_epochs"))]
    pub fn mmh_ctx_max_epochs(ctx: *const mmh_hook_ctx_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_max_iters"))]
    pub fn mmh_ctx_max_iters(ctx: *const mmh_hook_ctx_t) -> i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_scalar"))]
    pub fn mmh_ctx_scalar(ctx: *const mmh_hook_ctx_t, key: *const c_char, out: *mut f64) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_update_scalar"))]
    pub fn mmh_ctx_update_scalar(ctx: *mut mmh_hook_ctx_t, key: *const c_char, value: f64) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_metric_count"))]
    pub fn mmh_ctx_metric_count(ctx: *const mmh_hook_ctx_t) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_metric"))]
    pub fn mmh_ctx_metric_at(
        ctx: *const mmh_hook_ctx_t,
        i: usize,
        out_name: *mut *const c_char,
        out_value: *mut f64,
    ) -> mmh_code_t;
    #[cfg_attr(
        feature = "warn-deprecated",
        deprecated(note = "use mmh_hook_ctx_get_param_group_count")
    )]
    pub fn mmh_ctx_param_group_count(ctx: *const mmh_hook_ctx_t) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_lr"))]
    pub fn mmh_ctx_lr(ctx: *const mmh_hook_ctx_t, group: usize, out: *mut f64) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_set_lr"))]
    pub fn mmh_ctx_set_lr(ctx: *mut mmh_hook_ctx_t, group: usize, lr: f64) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_tensor"))]
    pub fn mmh_ctx_tensor(ctx: *const mmh_hook_ctx_t, key: *const c_char, out: *mut *const mmh_tensor_t) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_set_error"))]
    pub fn mmh_ctx_set_error(ctx: *mut mmh_hook_ctx_t, message: *const c_char) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_ctx_get_error_message"))]
    pub fn mmh_ctx_error_message(ctx: *const mmh_hook_ctx_t, out: *mut *const c_char) -> mmh_code_t;
    #[cfg_attr(
        feature = "warn-deprecated",
        deprecated(note = "use mmh_hook_ctx_put_checkpoint_state")
    )]
    pub fn mmh_ctx_checkpoint_put(
        ctx: *mut mmh_hook_ctx_t,
        key: *const c_char,
        data: *const c_void,
        len: usize,
    ) -> mmh_code_t;
    #[cfg_attr(
        feature = "warn-deprecated",
        deprecated(note = "use mmh_hook_ctx_get_checkpoint_state")
    )]
    pub fn mmh_ctx_checkpoint_get(
        ctx: *const mmh_hook_ctx_t,
        key: *const c_char,
        buf: *mut c_void,
        cap: usize,
        out_len: *mut usize,
    ) -> mmh_code_t;

    // Tensors
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_tensor_get_ndim"))]
    pub fn mmh_tensor_ndim(t: *const mmh_tensor_t) -> usize;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_tensor_get_shape"))]
    pub fn mmh_tensor_shape(t: *const mmh_tensor_t) -> *const i64;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_tensor_get_numel"))]
    pub fn mmh_tensor_numel(t: *const mmh_tensor_t) -> usize;
    pub fn mmh_tensor_copy_to_host_f64(t: *const mmh_tensor_t, dst: *mut f64, count: usize) -> *mut mmh_error_t;
    pub fn mmh_tensor_retain(t: *const mmh_tensor_t, out: *mut *mut mmh_tensor_t) -> *mut mmh_error_t;
    pub fn mmh_tensor_free(t: *mut mmh_tensor_t);
    pub fn mmh_tensor_to_dlpack(t: *const mmh_tensor_t, out: *mut *mut DLManagedTensor) -> *mut mmh_error_t;
    pub fn mmh_tensor_from_host(
        dtype: mmh_dtype_t,
        shape: *const i64,
        ndim: usize,
        data: *const c_void,
        nbytes: usize,
        out: *mut *mut mmh_tensor_t,
    ) -> *mut mmh_error_t;
    pub fn mmh_hook_ctx_forward(
        ctx: *mut mmh_hook_ctx_t,
        mode: *const c_char,
        keys: *const *const c_char,
        inputs: *const *const mmh_tensor_t,
        n: usize,
        output_key: *const c_char,
        out: *mut *mut mmh_tensor_t,
    ) -> *mut mmh_error_t;

    // Type registries
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_hook_type_register"))]
    pub fn mmh_register_hook_type(
        name: *const c_char,
        factory: mmh_hook_factory_fn,
        user_data: *mut c_void,
        user_data_free: mmh_free_fn,
    ) -> *mut mmh_error_t;
    pub fn mmh_dataset_desc_init(desc: *mut mmh_dataset_desc_t, struct_size: usize);
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_dataset_type_register"))]
    pub fn mmh_register_dataset_type(name: *const c_char, desc: *const mmh_dataset_desc_t) -> *mut mmh_error_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_sample_set_array_f32"))]
    pub fn mmh_sample_set_f32(
        sample: *mut mmh_sample_t,
        name: *const c_char,
        data: *const f32,
        shape: *const i64,
        ndim: usize,
    ) -> mmh_code_t;
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_sample_set_array_i64"))]
    pub fn mmh_sample_set_i64(
        sample: *mut mmh_sample_t,
        name: *const c_char,
        data: *const i64,
        shape: *const i64,
        ndim: usize,
    ) -> mmh_code_t;
    #[cfg_attr(
        feature = "warn-deprecated",
        deprecated(note = "use mmh_hook_type_unregister or mmh_dataset_type_unregister")
    )]
    pub fn mmh_unregister_type(name: *const c_char) -> *mut mmh_error_t;

    // Logging
    #[cfg_attr(feature = "warn-deprecated", deprecated(note = "use mmh_log_set_callback"))]
    pub fn mmh_log_set(fn_: mmh_log_fn, user_data: *mut c_void, user_data_free: mmh_free_fn);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    // The layout of the versioned structs on x86-64 (LP64): what a C compiler gives for
    // capi/include/mmhook.h. tests/layout.rs also compares against a C program.
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    fn hook_desc_layout_matches_c_on_x86_64() {
        assert_eq!(size_of::<mmh_hook_desc_t>(), 56);
        assert_eq!(align_of::<mmh_hook_desc_t>(), 8);
        assert_eq!(offset_of!(mmh_hook_desc_t, struct_size), 0);
        assert_eq!(offset_of!(mmh_hook_desc_t, name), 8);
        assert_eq!(offset_of!(mmh_hook_desc_t, priority), 16);
        assert_eq!(offset_of!(mmh_hook_desc_t, stages), 24);
        assert_eq!(offset_of!(mmh_hook_desc_t, fn_), 32);
        assert_eq!(offset_of!(mmh_hook_desc_t, user_data), 40);
        assert_eq!(offset_of!(mmh_hook_desc_t, user_data_free), 48);
    }

    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    fn dataset_desc_layout_matches_c_on_x86_64() {
        assert_eq!(size_of::<mmh_dataset_desc_t>(), 40);
        assert_eq!(align_of::<mmh_dataset_desc_t>(), 8);
        assert_eq!(offset_of!(mmh_dataset_desc_t, struct_size), 0);
        assert_eq!(offset_of!(mmh_dataset_desc_t, len), 8);
        assert_eq!(offset_of!(mmh_dataset_desc_t, get), 16);
        assert_eq!(offset_of!(mmh_dataset_desc_t, user_data), 24);
        assert_eq!(offset_of!(mmh_dataset_desc_t, user_data_free), 32);
    }

    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    fn batch_dataset_layout_matches_c_on_x86_64() {
        assert_eq!(size_of::<mmh_batch_field_t>(), 40);
        assert_eq!(offset_of!(mmh_batch_field_t, key), 8);
        assert_eq!(offset_of!(mmh_batch_field_t, dtype), 16);
        assert_eq!(offset_of!(mmh_batch_field_t, shape), 24);
        assert_eq!(offset_of!(mmh_batch_field_t, ndim), 32);
        assert_eq!(size_of::<mmh_batch_dataset_desc_t>(), 56);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, len), 8);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, fill), 16);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, fields), 24);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, num_fields), 32);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, user_data), 40);
        assert_eq!(offset_of!(mmh_batch_dataset_desc_t, user_data_free), 48);
    }

    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    fn metric_desc_layout_matches_c_on_x86_64() {
        assert_eq!(size_of::<mmh_metric_desc_t>(), 48);
        assert_eq!(align_of::<mmh_metric_desc_t>(), 8);
        assert_eq!(offset_of!(mmh_metric_desc_t, process), 8);
        assert_eq!(offset_of!(mmh_metric_desc_t, compute), 16);
        assert_eq!(offset_of!(mmh_metric_desc_t, reset), 24);
        assert_eq!(offset_of!(mmh_metric_desc_t, user_data), 32);
        assert_eq!(offset_of!(mmh_metric_desc_t, user_data_free), 40);
    }

    #[test]
    fn stage_masks() {
        assert_eq!(MMH_STAGES_ALL, (1u64 << 23) - 1);
        assert_eq!(mmh_stage_bit(MMH_STAGE_ON_EXCEPTION), 1u64 << 22);
    }

    #[test]
    fn desc_init_fills_defaults() {
        let mut d = std::mem::MaybeUninit::<mmh_hook_desc_t>::zeroed();
        unsafe { mmh_hook_desc_init(d.as_mut_ptr(), size_of::<mmh_hook_desc_t>()) };
        let d = unsafe { d.assume_init() };
        assert_eq!(d.struct_size, size_of::<mmh_hook_desc_t>());
        assert_eq!(d.priority, MMH_PRIORITY_NORMAL);
        assert_eq!(d.stages, 0);
        assert!(d.fn_.is_none());
        assert!(d.user_data_free.is_none());
    }

    // The convention's functions report misuse as errors with messages, not sentinels.
    #[test]
    fn new_getters_report_null_handles() {
        let mut v = 7i64;
        let e = unsafe { mmh_runner_get_epoch(std::ptr::null(), &mut v) };
        assert_eq!(unsafe { mmh_error_code(e) }, MMH_E_INVALID_ARGUMENT);
        let msg = unsafe { std::ffi::CStr::from_ptr(mmh_error_message(e)) };
        assert_eq!(msg.to_str().unwrap(), "runner is NULL");
        unsafe { mmh_error_free(e) };
        assert_eq!(v, 7);
        let mut len = 0usize;
        let e = unsafe { mmh_runner_get_hook_timing_json(std::ptr::null(), std::ptr::null_mut(), 0, &mut len) };
        assert_eq!(unsafe { mmh_error_code(e) }, MMH_E_INVALID_ARGUMENT);
        unsafe { mmh_error_free(e) };
        let mut stage = -5;
        let e = unsafe { mmh_hook_ctx_get_stage(std::ptr::null(), &mut stage) };
        assert_eq!(unsafe { mmh_error_code(e) }, MMH_E_INVALID_ARGUMENT);
        unsafe { mmh_error_free(e) };
        assert_eq!(stage, -5);
    }

    #[test]
    fn version_matches_header() {
        let v = unsafe { mmh_version_number() };
        assert_eq!(v >> 16, MMH_VERSION_MAJOR);
        assert!((v >> 8) & 0xff >= MMH_VERSION_MINOR);
        let s = unsafe { std::ffi::CStr::from_ptr(mmh_version_string()) };
        assert!(s.to_str().unwrap().starts_with(&format!("{}.", MMH_VERSION_MAJOR)));
        let name = unsafe { std::ffi::CStr::from_ptr(mmh_stage_name(MMH_STAGE_ON_EXCEPTION)) };
        assert_eq!(name.to_str().unwrap(), "on_exception");
        assert!(unsafe { mmh_stage_name(MMH_STAGE_COUNT) }.is_null());
    }
}

//! Safe Rust API of the mmhook training engine, over the C ABI of `libmmhook.so`.
//!
//! ```no_run
//! use mmhook::{HookAction, Runner, Stage, PRIORITY_NORMAL};
//! # let config_json = "{}";
//! let mut runner = Runner::new(config_json)?;
//! runner.add_hook("loss_printer", PRIORITY_NORMAL, Stage::AfterTrainIter, |ctx| {
//!     if let Ok(Some(loss)) = ctx.scalar("train/loss") {
//!         println!("iter {} loss {loss:.4}", ctx.iter());
//!     }
//!     HookAction::Continue
//! })?;
//! runner.train()?;
//! # Ok::<(), mmhook::Error>(())
//! ```
//!
//! Hooks are closures `FnMut(&mut HookCtx) -> HookAction`. They run on the thread that called
//! [`Runner::train`] (or `val`/`test`), one at a time, in priority order. A panic inside a hook
//! is caught at the FFI boundary, fails the run like `HookAction::Abort` (the message names the
//! hook and carries the panic text), and is re-raised by `train()` once the library has
//! returned, so the engine always unwinds cleanly. The hook that panicked is skipped for the
//! rest of that call; since its captured state may be broken, every later `train`/`val`/`test`
//! then fails at once with [`code::FAILED_PRECONDITION`], naming it, until it is removed with
//! [`Runner::remove_hook`] (and registered anew if wanted). It is never skipped in silence.
//!
//! # Threads
//!
//! - A [`Runner`] is neither `Send` nor `Sync`: it lives on one thread, and its hooks run on
//!   that thread. `train`/`val`/`test` take `&mut self`, so calls on one runner never overlap,
//!   and nothing (not its own hooks, not another thread) can drop it or call it while it runs.
//!   Dropping it destroys it and drops every hook closure, on the dropping thread.
//! - [`StopHandle`] (from [`Runner::request_stop_handle`]) is `Send + Sync`: its
//!   `request_stop` is safe from any thread and from hooks, at any time, and a no-op once the
//!   runner is dropped.
//! - [`HookCtx`] and [`TensorView`] are borrowed for one hook call and are not `Send`; keep a
//!   tensor with [`TensorView::retain`]. The borrow checker enforces both (see their docs).
//! - A log handler ([`set_log_handler`]) is `Send + Sync`: the library calls it from any thread
//!   (data loader workers too), possibly from several at once. It may call back into the
//!   library: create and run other runners, or replace or clear the handler (the old one is
//!   dropped once its calls in progress have returned). Records logged while it runs on that
//!   thread go to the console and log file only, never back into it. A panic in it is
//!   swallowed.
//! - Strings holding a NUL byte are never passed on cut short: every call taking a string
//!   returns a [`code::INVALID_ARGUMENT`] error for them.
//! - No panic crosses into the library: every callback catches them, and nothing it writes to
//!   stderr can panic.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::fmt;
use std::io::Write;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub use mmhook_sys as sys;
/// The `serde_json` this crate builds configs with, so callers use the same `Value` type.
pub use serde_json;

mod batch_dataset;
pub mod config;
pub use batch_dataset::{
    register_batch_dataset, unregister_dataset_type, BatchDataset, BatchWriter, DType, Element, Field,
};
mod metric;
pub use metric::{register_metric, unregister_metric, Metric, MetricBatch};

/// Error codes of [`Error::code`] (the `MMH_E_*` values of the C ABI).
pub mod code {
    use mmhook_sys as sys;
    pub const OK: i32 = sys::MMH_OK;
    pub const INVALID_ARGUMENT: i32 = sys::MMH_E_INVALID_ARGUMENT;
    pub const NOT_FOUND: i32 = sys::MMH_E_NOT_FOUND;
    pub const UNAVAILABLE: i32 = sys::MMH_E_UNAVAILABLE;
    pub const FAILED_PRECONDITION: i32 = sys::MMH_E_FAILED_PRECONDITION;
    pub const OOM: i32 = sys::MMH_E_OOM;
    pub const HOOK_ABORTED: i32 = sys::MMH_E_HOOK_ABORTED;
    pub const TORCH: i32 = sys::MMH_E_TORCH;
    pub const ABI: i32 = sys::MMH_E_ABI;
    pub const INTERNAL: i32 = sys::MMH_E_INTERNAL;
    pub const IO: i32 = sys::MMH_E_IO;
    pub const CONFIG: i32 = sys::MMH_E_CONFIG;
    pub const CHECKPOINT: i32 = sys::MMH_E_CHECKPOINT;
    pub const DISTRIBUTED: i32 = sys::MMH_E_DISTRIBUTED;
    pub const CANCELLED: i32 = sys::MMH_E_CANCELLED;

    /// A short name of a code ("hook aborted"), for messages built on this side.
    pub fn name(code: i32) -> &'static str {
        match code {
            OK => "ok",
            INVALID_ARGUMENT => "invalid argument",
            NOT_FOUND => "not found",
            UNAVAILABLE => "unavailable",
            FAILED_PRECONDITION => "failed precondition",
            OOM => "out of memory",
            HOOK_ABORTED => "hook aborted",
            TORCH => "torch error",
            ABI => "ABI mismatch",
            INTERNAL => "internal error",
            IO => "I/O error",
            CONFIG => "config error",
            CHECKPOINT => "checkpoint error",
            DISTRIBUTED => "distributed error",
            CANCELLED => "cancelled",
            _ => "unknown error",
        }
    }
}

/// MMEngine's priority levels; a lower value runs earlier.
pub const PRIORITY_HIGHEST: i32 = sys::MMH_PRIORITY_HIGHEST;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_VERY_HIGH: i32 = sys::MMH_PRIORITY_VERY_HIGH;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_HIGH: i32 = sys::MMH_PRIORITY_HIGH;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_ABOVE_NORMAL: i32 = sys::MMH_PRIORITY_ABOVE_NORMAL;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_NORMAL: i32 = sys::MMH_PRIORITY_NORMAL;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_BELOW_NORMAL: i32 = sys::MMH_PRIORITY_BELOW_NORMAL;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_LOW: i32 = sys::MMH_PRIORITY_LOW;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_VERY_LOW: i32 = sys::MMH_PRIORITY_VERY_LOW;
/// See [`PRIORITY_HIGHEST`].
pub const PRIORITY_LOWEST: i32 = sys::MMH_PRIORITY_LOWEST;

// ------------------------------------------------------------------------------------------
// Errors

/// An error of the library (or of this binding): a `code` (see [`code`]) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// One of the [`code`] constants.
    pub code: i32,
    /// What went wrong; names the option, hook, stage or file concerned.
    pub message: String,
}

impl Error {
    /// An error made on this side of the boundary.
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// Takes ownership of a library error (NULL means success).
    fn from_raw(err: *mut sys::mmh_error_t) -> Result<(), Error> {
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: err is a live error returned by the library; the message lives as long as err.
        let e = unsafe {
            let code = sys::mmh_error_code(err);
            let message = CStr::from_ptr(sys::mmh_error_message(err))
                .to_string_lossy()
                .into_owned();
            sys::mmh_error_free(err);
            Error { code, message }
        };
        Err(e)
    }

    /// Like [`from_raw`](Self::from_raw), but an error with code `absent` is `Ok(false)`: the
    /// thing asked for does not exist ([`code::NOT_FOUND`] for a scalar, tensor, ...).
    fn from_raw_found(err: *mut sys::mmh_error_t, absent: i32) -> Result<bool, Error> {
        match Error::from_raw(err) {
            Ok(()) => Ok(true),
            Err(e) if e.code == absent => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mmhook error {} ({}): {}",
            self.code,
            code::name(self.code),
            self.message
        )
    }
}

impl std::error::Error for Error {}

/// A C copy of `s`. C strings end at the first NUL, so a string holding one would reach the
/// library cut short (another key, another hook's name): it is refused instead.
fn cstring(s: &str, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::new(code::INVALID_ARGUMENT, format!("{what} {s:?} contains a NUL byte")))
}

/// Reads a `(buf, cap, len_out) -> error` getter into a String, retrying with the full length
/// when the buffer was too small.
fn read_buffer(mut get: impl FnMut(*mut c_char, usize, *mut usize) -> *mut sys::mmh_error_t) -> Result<String, Error> {
    let mut cap = 256usize;
    loop {
        let mut buf = vec![0u8; cap];
        let mut len = 0usize;
        Error::from_raw(get(buf.as_mut_ptr() as *mut c_char, cap, &mut len))?;
        if len < cap {
            buf.truncate(len);
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        cap = len + 1;
    }
}

// ------------------------------------------------------------------------------------------
// Versions

/// The binding's version of the ABI (the header it was written against).
pub const BINDING_VERSION: (u32, u32, u32) = (sys::MMH_VERSION_MAJOR, sys::MMH_VERSION_MINOR, sys::MMH_VERSION_PATCH);

/// The loaded library's version (major, minor, patch).
pub fn library_version() -> (u32, u32, u32) {
    // SAFETY: never fails.
    let v = unsafe { sys::mmh_version_number() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// The loaded library's version string ("0.2.0").
pub fn library_version_string() -> String {
    // SAFETY: static storage.
    unsafe { CStr::from_ptr(sys::mmh_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// Refuses a library whose major version differs from the binding's, or whose minor version is
/// older (it may lack functions the binding calls). [`Runner::new`] calls this.
pub fn check_version() -> Result<(), Error> {
    check_version_of(library_version())
}

fn check_version_of(lib: (u32, u32, u32)) -> Result<(), Error> {
    let (major, minor, _) = BINDING_VERSION;
    if lib.0 != major || lib.1 < minor {
        return Err(Error::new(
            code::ABI,
            format!(
                "libmmhook {}.{}.{} is incompatible with the Rust binding {}.{}.{} (needs {}.x with x >= {})",
                lib.0, lib.1, lib.2, major, minor, BINDING_VERSION.2, major, minor
            ),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Stages, stage sets, actions

/// A hook stage: MMEngine's `Hook.stages` order, then `on_exception`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Stage {
    BeforeRun = 0,
    AfterLoadCheckpoint,
    BeforeTrain,
    BeforeTrainEpoch,
    BeforeTrainIter,
    AfterTrainIter,
    AfterTrainEpoch,
    BeforeVal,
    BeforeValEpoch,
    BeforeValIter,
    AfterValIter,
    AfterValEpoch,
    AfterVal,
    BeforeSaveCheckpoint,
    AfterTrain,
    BeforeTest,
    BeforeTestEpoch,
    BeforeTestIter,
    AfterTestIter,
    AfterTestEpoch,
    AfterTest,
    AfterRun,
    OnException,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 23] = [
        Stage::BeforeRun,
        Stage::AfterLoadCheckpoint,
        Stage::BeforeTrain,
        Stage::BeforeTrainEpoch,
        Stage::BeforeTrainIter,
        Stage::AfterTrainIter,
        Stage::AfterTrainEpoch,
        Stage::BeforeVal,
        Stage::BeforeValEpoch,
        Stage::BeforeValIter,
        Stage::AfterValIter,
        Stage::AfterValEpoch,
        Stage::AfterVal,
        Stage::BeforeSaveCheckpoint,
        Stage::AfterTrain,
        Stage::BeforeTest,
        Stage::BeforeTestEpoch,
        Stage::BeforeTestIter,
        Stage::AfterTestIter,
        Stage::AfterTestEpoch,
        Stage::AfterTest,
        Stage::AfterRun,
        Stage::OnException,
    ];

    /// The stage of a raw `mmh_stage_t`, if in range.
    pub fn from_raw(raw: i32) -> Option<Stage> {
        if (0..sys::MMH_STAGE_COUNT).contains(&raw) {
            Some(Stage::ALL[raw as usize])
        } else {
            None
        }
    }

    /// The raw `mmh_stage_t`.
    pub fn raw(self) -> i32 {
        self as i32
    }

    /// MMEngine's name ("after_train_iter"), from the library.
    pub fn name(self) -> &'static str {
        // SAFETY: in-range stages have static names.
        let p = unsafe { sys::mmh_stage_name(self as i32) };
        if p.is_null() {
            return "";
        }
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
    }

    /// The one-stage set.
    pub fn bit(self) -> Stages {
        Stages(sys::mmh_stage_bit(self as i32))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of stages (the `stages` mask of a hook). Build with `Stage::A | Stage::B`,
/// `Stages::ALL`, or `Stages::from_iter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stages(pub u64);

impl Stages {
    /// Every stage.
    pub const ALL: Stages = Stages(sys::MMH_STAGES_ALL);
    /// No stage.
    pub const NONE: Stages = Stages(0);

    /// Whether `stage` is in the set.
    pub fn contains(self, stage: Stage) -> bool {
        self.0 & stage.bit().0 != 0
    }
}

impl From<Stage> for Stages {
    fn from(s: Stage) -> Stages {
        s.bit()
    }
}

impl FromIterator<Stage> for Stages {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Stages {
        Stages(iter.into_iter().fold(0, |m, s| m | s.bit().0))
    }
}

impl<T: Into<Stages>> std::ops::BitOr<T> for Stages {
    type Output = Stages;
    fn bitor(self, rhs: T) -> Stages {
        Stages(self.0 | rhs.into().0)
    }
}

impl<T: Into<Stages>> std::ops::BitOr<T> for Stage {
    type Output = Stages;
    fn bitor(self, rhs: T) -> Stages {
        Stages(self.bit().0 | rhs.into().0)
    }
}

/// What a hook asks the runner to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Go on.
    Continue,
    /// Graceful stop, like EarlyStoppingHook, at the next loop boundary.
    Stop,
    /// Fail the run with [`code::HOOK_ABORTED`] and the text of [`HookCtx::set_error`].
    Abort,
}

impl HookAction {
    fn raw(self) -> i32 {
        match self {
            HookAction::Continue => sys::MMH_HOOK_CONTINUE,
            HookAction::Stop => sys::MMH_HOOK_STOP,
            HookAction::Abort => sys::MMH_HOOK_ABORT,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Hook context and tensors

/// The context of one hook call. Only reachable as `&mut HookCtx` inside the hook, so it
/// cannot outlive the call, and it is not `Send`, so no other thread can use it:
///
/// ```compile_fail
/// use mmhook::{HookAction, HookCtx, Runner, Stage, PRIORITY_NORMAL};
/// use std::{cell::RefCell, rc::Rc};
/// let mut runner = Runner::new("{}").unwrap();
/// let kept: Rc<RefCell<Option<&mut HookCtx>>> = Rc::default();
/// let k = kept.clone();
/// runner
///     .register_hook("keeper", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
///         *k.borrow_mut() = Some(ctx); // the ctx would outlive its call
///         HookAction::Continue
///     })
///     .unwrap();
/// ```
///
/// ```compile_fail
/// use mmhook::{HookAction, Runner, Stage, PRIORITY_NORMAL};
/// let mut runner = Runner::new("{}").unwrap();
/// runner
///     .register_hook("sender", PRIORITY_NORMAL, Stage::AfterTrainIter, |ctx| {
///         std::thread::scope(|s| {
///             s.spawn(|| ctx.iter()); // HookCtx is not Sync: no use from another thread
///         });
///         HookAction::Continue
///     })
///     .unwrap();
/// ```
pub struct HookCtx {
    raw: *mut sys::mmh_hook_ctx_t,
}

impl HookCtx {
    /// The raw context (valid during this hook call only).
    pub fn as_raw(&mut self) -> *mut sys::mmh_hook_ctx_t {
        self.raw
    }

    /// A value getter of the live ctx. Only a dead or NULL ctx makes one fail, which the
    /// borrow checker rules out: `fallback` is never returned to safe code.
    fn get<T: Copy>(
        &self,
        fallback: T,
        f: unsafe extern "C" fn(*const sys::mmh_hook_ctx_t, *mut T) -> *mut sys::mmh_error_t,
    ) -> T {
        let mut v = fallback;
        // SAFETY: the ctx is live during the call (the borrow checker keeps `self` there).
        match Error::from_raw(unsafe { f(self.raw, &mut v) }) {
            Ok(()) => v,
            Err(_) => fallback,
        }
    }

    /// The stage being called.
    pub fn stage(&self) -> Stage {
        Stage::from_raw(self.get(-1, sys::mmh_hook_ctx_get_stage)).expect("the library passed an out-of-range stage")
    }

    /// `runner.epoch` (completed epochs).
    pub fn epoch(&self) -> i64 {
        self.get(-1, sys::mmh_hook_ctx_get_epoch)
    }

    /// `runner.iter` (completed iterations).
    pub fn iter(&self) -> i64 {
        self.get(-1, sys::mmh_hook_ctx_get_iter)
    }

    /// The batch index in iteration stages; `None` elsewhere.
    pub fn batch_idx(&self) -> Option<i64> {
        let mut i = -1;
        // NOT_FOUND outside the iteration stages.
        match Error::from_raw_found(
            unsafe { sys::mmh_hook_ctx_get_batch_idx(self.raw, &mut i) },
            code::NOT_FOUND,
        ) {
            Ok(true) => Some(i),
            _ => None,
        }
    }

    /// `runner.max_epochs` (0 without a train loop).
    pub fn max_epochs(&self) -> i64 {
        self.get(-1, sys::mmh_hook_ctx_get_max_epochs)
    }

    /// `runner.max_iters` (0 without a train loop).
    pub fn max_iters(&self) -> i64 {
        self.get(-1, sys::mmh_hook_ctx_get_max_iters)
    }

    /// The current value of a message-hub scalar ("train/loss"); `Ok(None)` if the hub has no
    /// such scalar. A key holding a NUL byte is an [`code::INVALID_ARGUMENT`] error.
    pub fn scalar(&self, key: &str) -> Result<Option<f64>, Error> {
        let k = cstring(key, "scalar key")?;
        let mut v = 0.0;
        let found = Error::from_raw_found(
            unsafe { sys::mmh_hook_ctx_get_scalar(self.raw, k.as_ptr(), &mut v) },
            code::NOT_FOUND,
        )?;
        Ok(found.then_some(v))
    }

    /// Appends a value to a message-hub scalar (logged like the built-in ones).
    pub fn update_scalar(&mut self, key: &str, value: f64) -> Result<(), Error> {
        let k = cstring(key, "scalar key")?;
        Error::from_raw(unsafe { sys::mmh_hook_ctx_update_scalar(self.raw, k.as_ptr(), value) })
    }

    /// The metrics of the evaluation (after_val_epoch / after_test_epoch; empty elsewhere).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let n = self.get(0usize, sys::mmh_hook_ctx_get_metric_count);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut name: *const c_char = std::ptr::null();
            let mut value = 0.0;
            let err = unsafe { sys::mmh_hook_ctx_get_metric(self.raw, i, &mut name, &mut value) };
            if Error::from_raw(err).is_ok() && !name.is_null() {
                out.push((unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned(), value));
            }
        }
        out
    }

    /// Number of optimizer parameter groups (0 without an optimizer).
    pub fn param_group_count(&self) -> usize {
        self.get(0usize, sys::mmh_hook_ctx_get_param_group_count)
    }

    /// The learning rate of a parameter group.
    pub fn lr(&self, group: usize) -> Result<f64, Error> {
        let mut v = 0.0;
        Error::from_raw(unsafe { sys::mmh_hook_ctx_get_lr(self.raw, group, &mut v) })?;
        Ok(v)
    }

    /// Sets the learning rate of a parameter group.
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        Error::from_raw(unsafe { sys::mmh_hook_ctx_set_lr(self.raw, group, lr) })
    }

    /// A tensor of the call: "inputs", "targets" (iteration stages), "loss"
    /// (after_train_iter), "outputs" (after_val_iter / after_test_iter), or another batch key;
    /// `Ok(None)` if the call has no such tensor. A key holding a NUL byte is an
    /// [`code::INVALID_ARGUMENT`] error.
    pub fn tensor(&self, key: &str) -> Result<Option<TensorView<'_>>, Error> {
        let k = cstring(key, "tensor key")?;
        let mut t: *const sys::mmh_tensor_t = std::ptr::null();
        let found = Error::from_raw_found(
            unsafe { sys::mmh_hook_ctx_get_tensor(self.raw, k.as_ptr(), &mut t) },
            code::NOT_FOUND,
        )?;
        Ok((found && !t.is_null()).then_some(TensorView {
            raw: t,
            _ctx: std::marker::PhantomData,
        }))
    }

    /// Runs the model on the named `inputs` and returns its output `output` (an owned copy):
    /// `mode` is `"predict"` (the outputs val/test loops get) or `"tensor"` (the raw outputs of
    /// a TorchScript model with the dict contract). The model runs without gradients in eval
    /// mode and gets its training flag back after, so any stage may call this, e.g.
    /// [`Stage::AfterTrainEpoch`] to print a sample. Errors: [`code::INVALID_ARGUMENT`] (a bad
    /// mode, a key given twice, a NUL byte), [`code::NOT_FOUND`] (no such output; the message
    /// lists those there are), [`code::FAILED_PRECONDITION`] (mode `"tensor"` on a model
    /// without it) and the model's own errors ([`code::TORCH`]), each naming the stage and mode.
    pub fn forward(&mut self, mode: &str, inputs: &[(&str, &Tensor)], output: &str) -> Result<Tensor, Error> {
        let m = cstring(mode, "mode")?;
        let o = cstring(output, "output key")?;
        let keys = inputs
            .iter()
            .map(|(k, _)| cstring(k, "input key"))
            .collect::<Result<Vec<_>, _>>()?;
        let key_ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
        let tensor_ptrs: Vec<*const sys::mmh_tensor_t> = inputs.iter().map(|(_, t)| t.raw as *const _).collect();
        let mut raw: *mut sys::mmh_tensor_t = std::ptr::null_mut();
        Error::from_raw(unsafe {
            sys::mmh_hook_ctx_forward(
                self.raw,
                m.as_ptr(),
                key_ptrs.as_ptr(),
                tensor_ptrs.as_ptr(),
                inputs.len(),
                o.as_ptr(),
                &mut raw,
            )
        })?;
        Ok(Tensor { raw })
    }

    /// Sets the message of a [`HookAction::Abort`]. A message holding a NUL byte is an
    /// [`code::INVALID_ARGUMENT`] error (the library would keep only the text before it).
    pub fn set_error(&mut self, message: &str) -> Result<(), Error> {
        let m = cstring(message, "error message")?;
        Error::from_raw(unsafe { sys::mmh_hook_ctx_set_error(self.raw, m.as_ptr()) })
    }

    /// The failure's message during `on_exception`; `None` elsewhere.
    pub fn error_message(&self) -> Option<String> {
        let mut p: *const c_char = std::ptr::null();
        let ok = Error::from_raw(unsafe { sys::mmh_hook_ctx_get_error_message(self.raw, &mut p) }).is_ok();
        (ok && !p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Stores bytes under `hook_states/<hook name>/<key>` of the checkpoint being saved
    /// (before_save_checkpoint only; [`code::FAILED_PRECONDITION`] elsewhere).
    pub fn checkpoint_put(&mut self, key: &str, data: &[u8]) -> Result<(), Error> {
        let k = cstring(key, "checkpoint key")?;
        Error::from_raw(unsafe {
            sys::mmh_hook_ctx_put_checkpoint_state(self.raw, k.as_ptr(), data.as_ptr() as *const c_void, data.len())
        })
    }

    /// Reads bytes stored by [`checkpoint_put`](Self::checkpoint_put) from the checkpoint being
    /// loaded (after_load_checkpoint only); `Ok(None)` if the key is absent.
    pub fn checkpoint_get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let k = cstring(key, "checkpoint key")?;
        let mut buf = vec![0u8; 64];
        loop {
            let mut len = 0usize;
            let err = unsafe {
                sys::mmh_hook_ctx_get_checkpoint_state(
                    self.raw,
                    k.as_ptr(),
                    buf.as_mut_ptr() as *mut c_void,
                    buf.len(),
                    &mut len,
                )
            };
            if !Error::from_raw_found(err, code::NOT_FOUND)? {
                return Ok(None);
            }
            if len <= buf.len() {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            buf.resize(len, 0);
        }
    }
}

mod sealed {
    /// Implemented by this crate's tensor types only: [`super::TensorRef`]'s methods pass
    /// `as_raw_tensor()` to the library, which must be a live handle.
    pub trait Sealed {}
}

/// Read access shared by borrowed and owned tensors ([`TensorView`], [`Tensor`]).
///
/// Sealed: its provided methods hand [`as_raw_tensor`](Self::as_raw_tensor) to the library,
/// so only this crate's types, which hold live handles, implement it. Safe code cannot forge
/// one:
///
/// ```compile_fail
/// #![forbid(unsafe_code)]
/// struct Forged;
/// impl mmhook::TensorRef for Forged {
///     fn as_raw_tensor(&self) -> *const mmhook::sys::mmh_tensor_t {
///         16 as *const _ // not a tensor: the library would read through it
///     }
/// }
/// ```
pub trait TensorRef: sealed::Sealed {
    /// The raw handle (live as long as `self`).
    fn as_raw_tensor(&self) -> *const sys::mmh_tensor_t;

    /// The shape.
    fn shape(&self) -> &[i64] {
        let t = self.as_raw_tensor();
        let mut n = 0usize;
        let mut p: *const i64 = std::ptr::null();
        // A live handle (sealed trait): these cannot fail; on error n stays 0.
        if Error::from_raw(unsafe { sys::mmh_tensor_get_ndim(t, &mut n) }).is_err()
            || Error::from_raw(unsafe { sys::mmh_tensor_get_shape(t, &mut p) }).is_err()
            || n == 0
            || p.is_null()
        {
            return &[];
        }
        // SAFETY: the shape lives as long as the handle, which outlives &self.
        unsafe { std::slice::from_raw_parts(p, n) }
    }

    /// Number of elements.
    fn numel(&self) -> usize {
        let mut n = 0usize;
        // A live handle (sealed trait): this cannot fail; on error n stays 0.
        let _ = Error::from_raw(unsafe { sys::mmh_tensor_get_numel(self.as_raw_tensor(), &mut n) });
        n
    }

    /// The elements, row-major, converted to f64 (copied to the host).
    fn to_vec_f64(&self) -> Result<Vec<f64>, Error> {
        let n = self.numel();
        let mut v = vec![0.0f64; n];
        Error::from_raw(unsafe { sys::mmh_tensor_copy_to_host_f64(self.as_raw_tensor(), v.as_mut_ptr(), n) })?;
        Ok(v)
    }

    /// An owned handle to the same tensor, usable after the hook call.
    fn retain(&self) -> Result<Tensor, Error> {
        let mut out: *mut sys::mmh_tensor_t = std::ptr::null_mut();
        Error::from_raw(unsafe { sys::mmh_tensor_retain(self.as_raw_tensor(), &mut out) })?;
        Ok(Tensor { raw: out })
    }
}

/// A tensor borrowed from a hook ctx: valid during the hook call, and the borrow checker keeps
/// it there:
///
/// ```compile_fail
/// use mmhook::{HookAction, Runner, Stage, TensorView, PRIORITY_NORMAL};
/// use std::{cell::RefCell, rc::Rc};
/// let mut runner = Runner::new("{}").unwrap();
/// let kept: Rc<RefCell<Vec<TensorView<'static>>>> = Rc::default();
/// let k = kept.clone();
/// runner
///     .register_hook("keeper", PRIORITY_NORMAL, Stage::AfterTrainIter, move |ctx| {
///         if let Ok(Some(t)) = ctx.tensor("loss") {
///             k.borrow_mut().push(t); // the view would outlive its call
///         }
///         HookAction::Continue
///     })
///     .unwrap();
/// ```
///
/// Keep a tensor beyond the call with [`TensorView::retain`].
pub struct TensorView<'a> {
    raw: *const sys::mmh_tensor_t,
    _ctx: std::marker::PhantomData<&'a HookCtx>,
}

impl TensorView<'_> {
    /// The shape.
    pub fn shape(&self) -> &[i64] {
        TensorRef::shape(self)
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        TensorRef::numel(self)
    }
    /// The elements as f64.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>, Error> {
        TensorRef::to_vec_f64(self)
    }
    /// An owned handle to the same tensor.
    pub fn retain(&self) -> Result<Tensor, Error> {
        TensorRef::retain(self)
    }
}

impl sealed::Sealed for TensorView<'_> {}
impl TensorRef for TensorView<'_> {
    fn as_raw_tensor(&self) -> *const sys::mmh_tensor_t {
        self.raw
    }
}

/// An owned tensor handle (from [`TensorView::retain`], [`Tensor::from_slice`] or
/// [`HookCtx::forward`]); freed on drop.
pub struct Tensor {
    raw: *mut sys::mmh_tensor_t,
}

impl Tensor {
    /// A tensor of `shape` holding a copy of `data` (row-major; `data.len()` must equal the
    /// product of `shape`, an empty shape meaning one scalar). A negative size or a length that
    /// does not match is a [`code::INVALID_ARGUMENT`] error naming both numbers.
    ///
    /// ```no_run
    /// let tokens = mmhook::Tensor::from_slice(&[1i64, 2, 3, 4], &[1, 4]).unwrap();
    /// assert_eq!(tokens.shape(), &[1, 4]);
    /// ```
    pub fn from_slice<T: Element>(data: &[T], shape: &[i64]) -> Result<Tensor, Error> {
        let mut raw: *mut sys::mmh_tensor_t = std::ptr::null_mut();
        Error::from_raw(unsafe {
            sys::mmh_tensor_from_host(
                T::DTYPE.raw(),
                shape.as_ptr(),
                shape.len(),
                data.as_ptr() as *const c_void,
                std::mem::size_of_val(data),
                &mut raw,
            )
        })?;
        Ok(Tensor { raw })
    }
    /// The shape.
    pub fn shape(&self) -> &[i64] {
        TensorRef::shape(self)
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        TensorRef::numel(self)
    }
    /// The elements as f64.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>, Error> {
        TensorRef::to_vec_f64(self)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor").field("shape", &self.shape()).finish()
    }
}

impl sealed::Sealed for Tensor {}
impl TensorRef for Tensor {
    fn as_raw_tensor(&self) -> *const sys::mmh_tensor_t {
        self.raw
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        unsafe { sys::mmh_tensor_free(self.raw) };
    }
}

// ------------------------------------------------------------------------------------------
// Runner

type PanicSlot = Rc<RefCell<Option<Box<dyn Any + Send + 'static>>>>;

/// A registered hook's name and health, shared by its [`HookBox`] and its [`Runner`].
struct HookState {
    /// The name the library gave the hook (a taken name gets a `_<n>` suffix).
    name: RefCell<String>,
    /// Set when the closure panicked. The rest of that call skips it (the call is failing and
    /// the panic is re-raised); later calls refuse to start until the hook is removed, since its
    /// captured state may be broken.
    poisoned: Cell<bool>,
}

/// What a registered hook's `user_data` points to; freed by `free_hook` exactly once.
struct HookBox {
    f: Box<dyn FnMut(&mut HookCtx) -> HookAction>,
    state: Rc<HookState>,
    panics: PanicSlot,
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Drops a panic payload. Its own `Drop` may panic too; that second payload is leaked rather
/// than dropped (which could panic again).
fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(inner);
    }
}

/// The body of every `extern "C"` function of this crate: unwinding into C is undefined
/// behaviour (and aborts), so a panic becomes `fallback`.
fn ffi_boundary<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            dispose(payload);
            fallback
        }
    }
}

unsafe extern "C" fn hook_trampoline(ctx: *mut sys::mmh_hook_ctx_t, user_data: *mut c_void) -> sys::mmh_hook_action_t {
    ffi_boundary(sys::MMH_HOOK_ABORT, || {
        // SAFETY: user_data is the HookBox registered with this trampoline; hooks of one runner
        // run one at a time, so this is the only reference.
        let hb = unsafe { &mut *(user_data as *mut HookBox) };
        if hb.state.poisoned.get() {
            return sys::MMH_HOOK_CONTINUE;
        }
        let mut hctx = HookCtx { raw: ctx };
        match catch_unwind(AssertUnwindSafe(|| (hb.f)(&mut hctx))) {
            Ok(action) => action.raw(),
            Err(payload) => {
                hb.state.poisoned.set(true);
                let text = format!(
                    "panic in Rust hook '{}': {}",
                    hb.state.name.borrow(),
                    panic_text(&*payload)
                );
                let _ = hctx.set_error(&text.replace('\0', "\\0"));
                let mut slot = hb.panics.borrow_mut();
                if slot.is_none() {
                    *slot = Some(payload);
                } else {
                    dispose(payload);
                }
                sys::MMH_HOOK_ABORT
            }
        }
    })
}

unsafe extern "C" fn free_hook(user_data: *mut c_void) {
    ffi_boundary((), || {
        // A panicking Drop of a captured value must not unwind into C: report it and go on.
        let r = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: created by Box::into_raw in register_hook; the library frees it exactly once.
            drop(unsafe { Box::from_raw(user_data as *mut HookBox) });
        }));
        if let Err(p) = r {
            // Not eprintln!, which panics when stderr is closed or full.
            let _ = writeln!(
                std::io::stderr(),
                "mmhook: a hook's captured state panicked while being dropped: {}",
                panic_text(&*p)
            );
            dispose(p);
        }
    })
}

/// Shared between a [`Runner`] and its [`StopHandle`]s: the runner pointer, cleared (under the
/// lock) before the runner is destroyed.
struct StopShared {
    runner: Mutex<usize>,
}

/// Asks a runner to stop after the current iteration; `Send + Sync`, usable from any thread,
/// and harmless after the runner is gone.
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<StopShared>,
}

impl StopHandle {
    /// Asks the running loop to stop after the current iteration (a no-op once the runner is
    /// dropped).
    pub fn request_stop(&self) {
        let guard = self.shared.runner.lock().unwrap_or_else(|e| e.into_inner());
        if *guard != 0 {
            // SAFETY: the pointer is live while it is non-zero under the lock (Drop clears it
            // under the same lock before destroying); the call is safe from any thread.
            unsafe { sys::mmh_runner_request_stop(*guard as *mut sys::mmh_runner_t) };
        }
    }
}

/// A training runner built from a JSON config (MMEngine's config keys).
///
/// Not `Send`: its hooks may capture thread-bound state (`Rc`), and they run on the thread
/// that calls `train`/`val`/`test`. Use [`Runner::request_stop_handle`] to stop it from
/// another thread.
///
/// `train`/`val`/`test` take `&mut self` and hooks are `'static` closures, so safe code can
/// neither drop a running runner nor call into it again while it runs. Not from its own hook:
///
/// ```compile_fail
/// use mmhook::{HookAction, Runner, Stage, PRIORITY_NORMAL};
/// let mut runner = Runner::new("{}").unwrap();
/// runner
///     .register_hook("dropper", PRIORITY_NORMAL, Stage::AfterTrainIter, move |_ctx| {
///         drop(runner); // the hook cannot own the runner that holds it
///         HookAction::Continue
///     })
///     .unwrap();
/// ```
///
/// ```compile_fail
/// use mmhook::{HookAction, Runner, Stage, PRIORITY_NORMAL};
/// let mut runner = Runner::new("{}").unwrap();
/// runner
///     .register_hook("again", PRIORITY_NORMAL, Stage::AfterTrainIter, |_ctx| {
///         let _ = runner.train(); // the hook cannot borrow its runner
///         HookAction::Continue
///     })
///     .unwrap();
/// ```
///
/// Nor from another thread:
///
/// ```compile_fail
/// use mmhook::Runner;
/// let mut runner = Runner::new("{}").unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| runner.train()); // Runner is not Send
///     drop(runner);
/// });
/// ```
///
/// A hook that reaches its runner through shared ownership (`Rc<RefCell<Runner>>`) finds it
/// borrowed for the whole call: `borrow_mut` panics, which fails the run like any hook panic.
pub struct Runner {
    raw: *mut sys::mmh_runner_t,
    panics: PanicSlot,
    /// The registered hooks, checked for a poisoned one before each call.
    hooks: Vec<Rc<HookState>>,
    stop: Arc<StopShared>,
}

impl Runner {
    /// Creates a runner from a JSON config. Checks the library version first.
    pub fn new(config_json: &str) -> Result<Runner, Error> {
        check_version()?;
        let cfg = cstring(config_json, "config_json")?;
        let mut raw: *mut sys::mmh_runner_t = std::ptr::null_mut();
        Error::from_raw(unsafe { sys::mmh_runner_create(cfg.as_ptr(), &mut raw) })?;
        Ok(Runner {
            raw,
            panics: Rc::new(RefCell::new(None)),
            hooks: Vec::new(),
            stop: Arc::new(StopShared {
                runner: Mutex::new(raw as usize),
            }),
        })
    }

    /// Creates a runner from a config held as a [`serde_json::Value`] (built with
    /// `serde_json::json!`, read with [`config::from_file`], changed with
    /// [`config::set_path`]). A value that is not a JSON object is a [`code::CONFIG`] error
    /// naming its type; everything else is checked by the library as for [`Runner::new`].
    pub fn from_value(config: &serde_json::Value) -> Result<Runner, Error> {
        config::check_object(config)?;
        Runner::new(&config.to_string())
    }

    /// The raw handle (owned by this Runner).
    pub fn as_raw(&self) -> *mut sys::mmh_runner_t {
        self.raw
    }

    /// Adds a hook closure called at `stages` with `priority` (0..=100, lower runs earlier)
    /// and returns the name it got: `name`, or, when a hook of this runner (a built-in one, one
    /// from the config, or one added before) already has it, the first free `name_<n>`
    /// (n = 1, 2, ...), as for two config entries of one type. Checkpoint state and
    /// [`remove_hook`](Self::remove_hook) use that name. The closure is dropped exactly once:
    /// when the hook is removed, when the runner is dropped, or now if adding fails.
    pub fn add_hook<F>(&mut self, name: &str, priority: i32, stages: impl Into<Stages>, f: F) -> Result<String, Error>
    where
        F: FnMut(&mut HookCtx) -> HookAction + 'static,
    {
        let cname = cstring(name, "hook name")?;
        let state = Rc::new(HookState {
            name: RefCell::new(name.to_string()),
            poisoned: Cell::new(false),
        });
        let hb = Box::new(HookBox {
            f: Box::new(f),
            state: state.clone(),
            panics: self.panics.clone(),
        });
        let mut desc = std::mem::MaybeUninit::<sys::mmh_hook_desc_t>::zeroed();
        unsafe { sys::mmh_hook_desc_init(desc.as_mut_ptr(), std::mem::size_of::<sys::mmh_hook_desc_t>()) };
        let mut desc = unsafe { desc.assume_init() };
        desc.name = cname.as_ptr();
        desc.priority = priority;
        desc.stages = stages.into().0;
        desc.fn_ = Some(hook_trampoline);
        desc.user_data = Box::into_raw(hb) as *mut c_void;
        desc.user_data_free = Some(free_hook);
        // A suffix is "_" and at most 10 digits: this always holds the name given.
        let mut given = vec![0u8; name.len() + 32];
        let mut len = 0usize;
        // From here the library owns the box: it calls free_hook on failure too.
        Error::from_raw(unsafe {
            sys::mmh_runner_add_hook(
                self.raw,
                &desc,
                given.as_mut_ptr() as *mut c_char,
                given.len(),
                &mut len,
            )
        })?;
        given.truncate(len.min(given.len() - 1));
        let given = String::from_utf8_lossy(&given).into_owned();
        *state.name.borrow_mut() = given.clone();
        self.hooks.push(state);
        Ok(given)
    }

    /// Registers a hook closure like [`add_hook`](Self::add_hook), but refuses a taken name
    /// with a [`code::INVALID_ARGUMENT`] error (this method's behaviour since 0.1, kept;
    /// `add_hook` follows the library's one rule and reports the name given). The closure is
    /// dropped exactly once: when the hook is removed, when the runner is dropped, or now if
    /// registration fails.
    pub fn register_hook<F>(&mut self, name: &str, priority: i32, stages: impl Into<Stages>, f: F) -> Result<(), Error>
    where
        F: FnMut(&mut HookCtx) -> HookAction + 'static,
    {
        let given = self.add_hook(name, priority, stages, f)?;
        if given != name {
            // The name was taken: take the suffixed hook out again (its closure is dropped).
            self.remove_hook(&given)?;
            return Err(Error::new(
                code::INVALID_ARGUMENT,
                format!("a hook named '{name}' is already registered"),
            ));
        }
        Ok(())
    }

    /// Removes the hook named `name` (its closure is dropped).
    pub fn remove_hook(&mut self, name: &str) -> Result<(), Error> {
        let cname = cstring(name, "hook name")?;
        Error::from_raw(unsafe { sys::mmh_runner_remove_hook(self.raw, cname.as_ptr()) })?;
        self.hooks.retain(|h| *h.name.borrow() != name);
        Ok(())
    }

    fn run(&mut self, f: unsafe extern "C" fn(*mut sys::mmh_runner_t) -> *mut sys::mmh_error_t) -> Result<(), Error> {
        if let Some(h) = self.hooks.iter().find(|h| h.poisoned.get()) {
            return Err(Error::new(
                code::FAILED_PRECONDITION,
                format!(
                    "hook '{}' panicked in an earlier call and its state may be broken: remove it \
                     (remove_hook) and register it anew before the next train/val/test",
                    h.name.borrow()
                ),
            ));
        }
        let result = Error::from_raw(unsafe { f(self.raw) });
        // A hook panicked: the library has unwound its loops; continue the panic here.
        let payload = self.panics.borrow_mut().take();
        if let Some(p) = payload {
            resume_unwind(p);
        }
        result
    }

    /// Trains. A panic of a hook is re-raised here after the library returned.
    pub fn train(&mut self) -> Result<(), Error> {
        self.run(sys::mmh_runner_train)
    }

    /// Validates once.
    pub fn val(&mut self) -> Result<(), Error> {
        self.run(sys::mmh_runner_val)
    }

    /// Tests once.
    pub fn test(&mut self) -> Result<(), Error> {
        self.run(sys::mmh_runner_test)
    }

    /// Asks the running loop to stop after the current iteration.
    pub fn request_stop(&self) {
        self.request_stop_handle().request_stop();
    }

    /// A handle that can stop this runner from any thread (or from a hook).
    pub fn request_stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.stop.clone(),
        }
    }

    /// MMEngine's `get_hooks_info()` text: per stage, the hooks with their priorities; an error
    /// if the library could not produce it.
    pub fn try_hooks_info(&self) -> Result<String, Error> {
        read_buffer(|b, c, l| unsafe { sys::mmh_runner_get_hooks_info(self.raw, b, c, l) })
    }

    /// [`try_hooks_info`](Self::try_hooks_info), with `""` for an error (kept from 0.1; prefer
    /// the fallible one).
    pub fn hooks_info(&self) -> String {
        self.try_hooks_info().unwrap_or_default()
    }

    /// The metrics of the last val/test as JSON text (`{}` before any); an error if the library
    /// could not produce it.
    pub fn try_metrics_json(&self) -> Result<String, Error> {
        read_buffer(|b, c, l| unsafe { sys::mmh_runner_get_metrics_json(self.raw, b, c, l) })
    }

    /// [`try_metrics_json`](Self::try_metrics_json), with `"{}"` for an error (kept from 0.1;
    /// prefer the fallible one).
    pub fn metrics_json(&self) -> String {
        self.try_metrics_json().unwrap_or_else(|_| "{}".to_string())
    }

    /// The metrics of the last val/test, in order (a null value reads as NaN).
    pub fn metrics(&self) -> Result<Vec<(String, f64)>, Error> {
        let text = self.try_metrics_json()?;
        parse_flat_json_numbers(&text).ok_or_else(|| {
            Error::new(
                code::INTERNAL,
                format!("unexpected metrics JSON from the library: {text}"),
            )
        })
    }

    /// The hook timing table (hook, stage, calls, total_ms, max_ms, timed_calls) as JSON text;
    /// an error if the library could not produce it.
    pub fn try_hook_timing_json(&self) -> Result<String, Error> {
        read_buffer(|b, c, l| unsafe { sys::mmh_runner_get_hook_timing_json(self.raw, b, c, l) })
    }

    /// [`try_hook_timing_json`](Self::try_hook_timing_json), with `"[]"` for an error (kept
    /// from 0.1; prefer the fallible one).
    pub fn hook_timing_json(&self) -> String {
        self.try_hook_timing_json().unwrap_or_else(|_| "[]".to_string())
    }

    /// The path of the newest checkpoint (`None` if none was written); an error if the library
    /// could not say.
    pub fn try_last_checkpoint(&self) -> Result<Option<std::path::PathBuf>, Error> {
        let s = read_buffer(|b, c, l| unsafe { sys::mmh_runner_get_last_checkpoint(self.raw, b, c, l) })?;
        Ok((!s.is_empty()).then(|| s.into()))
    }

    /// [`try_last_checkpoint`](Self::try_last_checkpoint), with `None` for an error (kept from
    /// 0.1; prefer the fallible one).
    pub fn last_checkpoint(&self) -> Option<std::path::PathBuf> {
        self.try_last_checkpoint().ok().flatten()
    }

    /// Completed epochs.
    pub fn epoch(&self) -> i64 {
        let mut v = 0;
        // The handle is live while self is: this cannot fail (v stays 0 if it did).
        let _ = Error::from_raw(unsafe { sys::mmh_runner_get_epoch(self.raw, &mut v) });
        v
    }

    /// Completed iterations.
    pub fn iter(&self) -> i64 {
        let mut v = 0;
        let _ = Error::from_raw(unsafe { sys::mmh_runner_get_iter(self.raw, &mut v) });
        v
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        {
            let mut guard = self.stop.runner.lock().unwrap_or_else(|e| e.into_inner());
            *guard = 0;
        }
        // Frees every registered hook's closure (free_hook, exactly once each).
        unsafe { sys::mmh_runner_destroy(self.raw) };
    }
}

// ------------------------------------------------------------------------------------------
// Logging

type LogFn = Box<dyn Fn(i32, &str) + Send + Sync>;

unsafe extern "C" fn log_trampoline(level: i32, message: *const c_char, user_data: *mut c_void) {
    ffi_boundary((), || {
        let f = unsafe { &*(user_data as *const LogFn) };
        let m = if message.is_null() {
            std::borrow::Cow::Borrowed("")
        } else {
            unsafe { CStr::from_ptr(message) }.to_string_lossy()
        };
        f(level, &m);
    })
}

unsafe extern "C" fn log_free(user_data: *mut c_void) {
    ffi_boundary((), || drop(unsafe { Box::from_raw(user_data as *mut LogFn) }))
}

/// Routes the engine's log records (level: 10 debug, 20 info, 30 warning, 40 error; message
/// without the time/level prefix) to `handler`, replacing any previous handler (which is
/// dropped). Process-wide; the handler may be called from any thread. A panic inside it is
/// swallowed.
pub fn set_log_handler<F>(handler: F)
where
    F: Fn(i32, &str) + Send + Sync + 'static,
{
    // Out of memory is the only failure; the library then drops the handler (log_free) and
    // keeps the previous routing.
    let _ = try_set_log_handler(handler);
}

/// [`set_log_handler`], reporting a failure ([`code::OOM`]: the previous handler stays, this
/// one is dropped).
pub fn try_set_log_handler<F>(handler: F) -> Result<(), Error>
where
    F: Fn(i32, &str) + Send + Sync + 'static,
{
    let b: Box<LogFn> = Box::new(Box::new(handler));
    Error::from_raw(unsafe {
        sys::mmh_log_set_callback(Some(log_trampoline), Box::into_raw(b) as *mut c_void, Some(log_free))
    })
}

/// Stops routing log records to a handler (the handler is dropped).
pub fn clear_log_handler() {
    // With no callback the library cannot fail.
    let _ = Error::from_raw(unsafe { sys::mmh_log_set_callback(None, std::ptr::null_mut(), None) });
}

// ------------------------------------------------------------------------------------------
// The flat {"name": number, ...} objects of mmh_runner_get_metrics_json.

/// The metrics in the library's order (a null value reads as NaN); None for anything else.
fn parse_flat_json_numbers(text: &str) -> Option<Vec<(String, f64)>> {
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::Null => Some((k, f64::NAN)),
                v => v.as_f64().map(|x| (k, x)),
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn version_check_refuses_other_major_and_older_minor() {
        let (major, minor, _) = BINDING_VERSION;
        assert!(check_version_of((major, minor, 0)).is_ok());
        assert!(check_version_of((major, minor + 1, 3)).is_ok());
        let e = check_version_of((major + 1, minor, 0)).unwrap_err();
        assert_eq!(e.code, code::ABI);
        if minor > 0 {
            assert_eq!(check_version_of((major, minor - 1, 9)).unwrap_err().code, code::ABI);
        }
        assert!(check_version().is_ok(), "the linked library: {:?}", library_version());
    }

    #[test]
    fn flat_json_numbers() {
        assert_eq!(parse_flat_json_numbers("{}"), Some(vec![]));
        let v = parse_flat_json_numbers("{\"acc\":1.0,\"a\\\"b\": -2.5e-1, \"n\":null}").unwrap();
        assert_eq!(v[0], ("acc".to_string(), 1.0));
        assert_eq!(v[1], ("a\"b".to_string(), -0.25));
        assert!(v[2].1.is_nan());
        assert_eq!(parse_flat_json_numbers("{\"x\": [1]}"), None);
        assert_eq!(parse_flat_json_numbers("{\"x\": 1} junk"), None);
        assert_eq!(parse_flat_json_numbers("[1]"), None);
        // The library's order, not sorted.
        let v = parse_flat_json_numbers("{\"z\": 1, \"a\": 2}").unwrap();
        assert_eq!(v, vec![("z".to_string(), 1.0), ("a".to_string(), 2.0)]);
    }

    #[test]
    fn stages_compose() {
        let s = Stage::AfterTrainIter | Stage::AfterValEpoch;
        assert!(s.contains(Stage::AfterTrainIter) && s.contains(Stage::AfterValEpoch));
        assert!(!s.contains(Stage::BeforeRun));
        assert_eq!(Stages::ALL.0, (1u64 << 23) - 1);
        assert_eq!(Stage::from_raw(22), Some(Stage::OnException));
        assert_eq!(Stage::from_raw(23), None);
        assert_eq!(Stage::AfterTrainIter.name(), "after_train_iter");
        let all: Stages = Stage::ALL.iter().copied().collect();
        assert_eq!(all, Stages::ALL);
    }
}

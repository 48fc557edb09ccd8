//! Metric types written in Rust (`mmh_metric_type_register`): a [`Metric`] registered by name
//! with [`register_metric`] can be named in a config's `val_evaluator`/`test_evaluator`
//! (`{"type": "MyMetric"}`, optionally with `"prefix"`) like a built-in metric.
//!
//! Per evaluation the library calls [`Metric::reset`], [`Metric::process`] once per val/test
//! batch, [`Metric::compute`] once, then [`Metric::reset`] again. The metric is process-wide:
//! every config entry naming the type, in every runner, uses the one value (behind a mutex, so
//! two runners evaluating it at once on two threads take turns, their batches mixed: give each
//! concurrent use a type of its own). A C/Rust metric is single-process: an evaluation with a
//! world size above 1 fails naming the type.
//!
//! An `Err(text)` from `process` or `compute` fails the run with [`code::INVALID_ARGUMENT`];
//! the message names the type, the callback and `text`. A panic is caught at the boundary and
//! fails the run the same way, with [`code::INTERNAL`] and the panic text; the metric is then
//! broken (its state may be half-updated) and every later call of it fails
//! ([`code::FAILED_PRECONDITION`]), naming it, until it is unregistered. A NaN from `compute` fails the run ([`code::INVALID_ARGUMENT`],
//! naming the value): `save_best` and early stopping cannot rank it. Infinities are kept.
use super::*;
use std::marker::PhantomData;

/// A metric implemented in Rust (MMEngine's `BaseMetric`).
pub trait Metric: Send + 'static {
    /// Accumulates one batch: the loader's batch and the model's predict outputs.
    fn process(&mut self, batch: &MetricBatch<'_>) -> Result<(), String>;
    /// The metrics (names without prefix) over the batches since the last reset, in order.
    fn compute(&mut self) -> Result<Vec<(String, f64)>, String>;
    /// Drops the accumulated state (called before and after each evaluation).
    fn reset(&mut self) {}
}

/// One val/test batch handed to [`Metric::process`]; valid during that call only.
pub struct MetricBatch<'a> {
    raw: *mut sys::mmh_metric_batch_t,
    _call: PhantomData<&'a ()>,
}

impl MetricBatch<'_> {
    /// The loader batch's tensor `key` ("inputs", "targets" for the built-in datasets), or
    /// `None` when it has no such key.
    pub fn data(&self, key: &str) -> Result<Option<TensorView<'_>>, Error> {
        self.tensor(key, false)
    }

    /// The model's predict output `key` ("outputs" for the built-in models), or `None`.
    pub fn output(&self, key: &str) -> Result<Option<TensorView<'_>>, Error> {
        self.tensor(key, true)
    }

    fn tensor(&self, key: &str, output: bool) -> Result<Option<TensorView<'_>>, Error> {
        let k = cstring(key, "key")?;
        let mut out: *const sys::mmh_tensor_t = std::ptr::null();
        // SAFETY: raw is the live batch of this process call (the borrow keeps it there).
        let err = unsafe {
            if output {
                sys::mmh_metric_batch_get_output_tensor(self.raw, k.as_ptr(), &mut out)
            } else {
                sys::mmh_metric_batch_get_data_tensor(self.raw, k.as_ptr(), &mut out)
            }
        };
        if !Error::from_raw_found(err, code::NOT_FOUND)? {
            return Ok(None);
        }
        Ok(Some(TensorView {
            raw: out,
            _ctx: PhantomData,
        }))
    }
}

struct MetricBox {
    name: String,
    metric: Mutex<Box<dyn Metric>>,
    /// Set by a panic: the metric's state may be half-updated.
    broken: std::sync::atomic::AtomicBool,
}

/// The metric behind user_data, or the message of a metric that panicked earlier.
fn locked(mb: &MetricBox) -> Result<std::sync::MutexGuard<'_, Box<dyn Metric>>, String> {
    if mb.broken.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(format!(
            "Rust metric '{}' panicked in an earlier call; unregister it",
            mb.name
        ));
    }
    mb.metric
        .lock()
        .map_err(|_| format!("Rust metric '{}' panicked in an earlier call; unregister it", mb.name))
}

/// Runs one callback body: Ok, an Err text (INVALID_ARGUMENT) or a panic (INTERNAL, and the
/// metric is marked broken: FAILED_PRECONDITION from then on). `report`
/// hands the text to the library.
fn run_callback(
    mb: &MetricBox,
    what: &str,
    body: impl FnOnce(&mut dyn Metric) -> Result<(), String>,
    report: impl Fn(&str),
) -> sys::mmh_code_t {
    let mut guard = match locked(mb) {
        Ok(g) => g,
        Err(text) => {
            report(&text);
            return sys::MMH_E_FAILED_PRECONDITION;
        }
    };
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut **guard)));
    match result {
        Ok(Ok(())) => sys::MMH_OK,
        Ok(Err(text)) => {
            report(&text);
            sys::MMH_E_INVALID_ARGUMENT
        }
        Err(payload) => {
            mb.broken.store(true, std::sync::atomic::Ordering::SeqCst);
            let text = format!("panic in Rust metric '{}' {what}: {}", mb.name, panic_text(&*payload));
            dispose(payload);
            report(&text);
            sys::MMH_E_INTERNAL
        }
    }
}

fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

unsafe extern "C" fn metric_process(batch: *mut sys::mmh_metric_batch_t, user_data: *mut c_void) -> sys::mmh_code_t {
    ffi_boundary(sys::MMH_E_INTERNAL, || {
        // SAFETY: user_data is the MetricBox registered with this trampoline, alive until freed.
        let mb = unsafe { &*(user_data as *const MetricBox) };
        let view = MetricBatch {
            raw: batch,
            _call: PhantomData,
        };
        run_callback(
            mb,
            "process",
            |m| m.process(&view),
            |text| {
                let t = c_text(text);
                let _ = Error::from_raw(unsafe { sys::mmh_metric_batch_set_error(batch, t.as_ptr()) });
            },
        )
    })
}

unsafe extern "C" fn metric_compute(
    results: *mut sys::mmh_metric_results_t,
    user_data: *mut c_void,
) -> sys::mmh_code_t {
    ffi_boundary(sys::MMH_E_INTERNAL, || {
        // SAFETY: as in metric_process.
        let mb = unsafe { &*(user_data as *const MetricBox) };
        run_callback(
            mb,
            "compute",
            |m| {
                for (name, value) in m.compute()? {
                    let n =
                        CString::new(name.as_str()).map_err(|_| format!("result name {name:?} contains a NUL byte"))?;
                    Error::from_raw(unsafe { sys::mmh_metric_results_set_value(results, n.as_ptr(), value) })
                        .map_err(|e| format!("result {name:?}: {}", e.message))?;
                }
                Ok(())
            },
            |text| {
                let t = c_text(text);
                let _ = Error::from_raw(unsafe { sys::mmh_metric_results_set_error(results, t.as_ptr()) });
            },
        )
    })
}

unsafe extern "C" fn metric_reset(user_data: *mut c_void) {
    ffi_boundary((), || {
        // SAFETY: as in metric_process.
        let mb = unsafe { &*(user_data as *const MetricBox) };
        // A panic marks the metric broken: the next process/compute reports it.
        if let Ok(mut m) = locked(mb) {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| m.reset())) {
                mb.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                dispose(p);
            }
        }
    })
}

unsafe extern "C" fn metric_free(user_data: *mut c_void) {
    ffi_boundary((), || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: created by Box::into_raw in register_metric; the library frees it once.
            drop(unsafe { Box::from_raw(user_data as *mut MetricBox) });
        }));
        if let Err(p) = r {
            let _ = writeln!(
                std::io::stderr(),
                "mmhook: a metric panicked while being dropped: {}",
                panic_text(&*p)
            );
            dispose(p);
        }
    })
}

/// Registers `metric` as the metric type `name` (process-wide). Errors: a NUL in `name`, an
/// empty name, a name taken by a built-in or registered metric type
/// ([`code::INVALID_ARGUMENT`]). On error `metric` is dropped.
pub fn register_metric<M: Metric>(name: &str, metric: M) -> Result<(), Error> {
    let c_name = cstring(name, "metric type name")?;
    let boxed = Box::new(MetricBox {
        name: name.to_string(),
        metric: Mutex::new(Box::new(metric)),
        broken: std::sync::atomic::AtomicBool::new(false),
    });
    let mut desc = std::mem::MaybeUninit::<sys::mmh_metric_desc_t>::zeroed();
    // SAFETY: init fills the whole struct.
    let mut desc = unsafe {
        sys::mmh_metric_desc_init(desc.as_mut_ptr(), std::mem::size_of::<sys::mmh_metric_desc_t>());
        desc.assume_init()
    };
    desc.process = Some(metric_process);
    desc.compute = Some(metric_compute);
    desc.reset = Some(metric_reset);
    desc.user_data = Box::into_raw(boxed) as *mut c_void;
    desc.user_data_free = Some(metric_free);
    // The library owns user_data from here on, also on error (it frees it then).
    Error::from_raw(unsafe { sys::mmh_metric_type_register(c_name.as_ptr(), &desc) })
}

/// Removes a metric type registered with [`register_metric`]; the metric is dropped once no
/// runner built from it is alive. [`code::NOT_FOUND`] if no such type was registered.
pub fn unregister_metric(name: &str) -> Result<(), Error> {
    let c_name = cstring(name, "metric type name")?;
    Error::from_raw(unsafe { sys::mmh_metric_type_unregister(c_name.as_ptr()) })
}

//! Batch-level datasets written in Rust: one call fills a whole batch (`mmh_batch_dataset_*`).
//!
//! A [`BatchDataset`] declares its fields ([`Field`]: key, [`DType`], per-sample shape) and
//! fills the batch of the sampler's `indices` into typed slices over the library's buffers
//! ([`BatchWriter::field`]): no per-sample call, no copy after the dataset's writes. Register
//! the type with [`register_batch_dataset`]; configs then name it (`{"type": name}`).
//!
//! Loader workers may fill batches from several threads: the dataset sits behind a mutex, so
//! fills of one registration run one at a time. A panic in `fill_batch` is caught at the
//! boundary and fails the run with an error naming the type; every later fill of that
//! registration fails too, saying so (its state may be broken).

use std::marker::PhantomData;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::{cstring, dispose, panic_text, sys, Error};

/// Element type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// `u8`
    U8,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl DType {
    pub(crate) fn raw(self) -> sys::mmh_dtype_t {
        match self {
            DType::U8 => sys::MMH_DTYPE_U8,
            DType::I32 => sys::MMH_DTYPE_I32,
            DType::I64 => sys::MMH_DTYPE_I64,
            DType::F32 => sys::MMH_DTYPE_F32,
            DType::F64 => sys::MMH_DTYPE_F64,
        }
    }
}

/// An element type of a field's slice: `u8`, `i32`, `i64`, `f32` or `f64`.
pub trait Element: Copy + sealed::Sealed {
    /// The field dtype this type reads and writes.
    const DTYPE: DType;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Element for u8 {
    const DTYPE: DType = DType::U8;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for i64 {
    const DTYPE: DType = DType::I64;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for f64 {
    const DTYPE: DType = DType::F64;
}

/// A declared field (batch key) of a batch dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The batch key ("inputs", "targets").
    pub key: String,
    /// The element type.
    pub dtype: DType,
    /// The shape of one sample (empty: one scalar per sample, a batch of shape `[n]`).
    pub shape: Vec<i64>,
}

impl Field {
    /// A field `key` of `dtype` whose samples have `shape`.
    pub fn new(key: &str, dtype: DType, shape: &[i64]) -> Field {
        Field {
            key: key.to_string(),
            dtype,
            shape: shape.to_vec(),
        }
    }
}

/// A dataset that fills whole batches.
pub trait BatchDataset: Send + 'static {
    /// Number of samples.
    fn len(&self) -> i64;
    /// Whether the dataset has no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills the samples `indices` (the sampler's choice: shuffled, sharded, resumed) into
    /// `batch`, sample i at row i of every field; every declared field must be taken with
    /// [`BatchWriter::field`]. An `Err` fails the run with its text.
    fn fill_batch(&mut self, indices: &[i64], batch: &mut BatchWriter<'_>) -> Result<(), String>;
}

/// The batch being filled: typed mutable slices over the library's buffers, one per field.
pub struct BatchWriter<'a> {
    raw: *mut sys::mmh_batch_t,
    fields: &'a [Field],
    seeds: &'a [u64],
    taken: Vec<bool>,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> BatchWriter<'a> {
    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.seeds.len()
    }

    /// Whether the batch is empty (never, in a run).
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// The per-sample seeds (random transforms draw only from these).
    pub fn seeds(&self) -> &'a [u64] {
        self.seeds
    }

    /// The buffer of field `key`: `len()` rows of its per-sample shape, row-major, zeroed.
    /// Each field can be taken once per batch (so the slices never alias); `T` must match its
    /// dtype.
    pub fn field<T: Element>(&mut self, key: &str) -> Result<&'a mut [T], String> {
        let index = self
            .fields
            .iter()
            .position(|f| f.key == key)
            .ok_or_else(|| format!("field '{key}' is not declared"))?;
        let declared = self.fields[index].dtype;
        if declared != T::DTYPE {
            return Err(format!("field '{key}' is {declared:?}, not {:?}", T::DTYPE));
        }
        if self.taken[index] {
            return Err(format!("field '{key}' was already taken for this batch"));
        }
        let mut data: *mut c_void = std::ptr::null_mut();
        let mut numel = 0usize;
        // SAFETY: raw is the live batch of this fill call; the out pointers are valid.
        let err = unsafe { sys::mmh_batch_get_buffer(self.raw, index, &mut data, &mut numel) };
        Error::from_raw(err).map_err(|e| format!("field '{key}': {}", e.message))?;
        self.taken[index] = true;
        if numel == 0 {
            return Ok(&mut []);
        }
        // SAFETY: the library's buffer holds numel zero-initialised elements of T's dtype
        // (checked above), stays valid until the fill call returns (which 'a cannot outlive),
        // and is handed out once, so no other slice aliases it.
        Ok(unsafe { std::slice::from_raw_parts_mut(data as *mut T, numel) })
    }
}

/// What a registration's `user_data` points to; freed by `free_box` exactly once.
struct DatasetBox {
    name: String,
    fields: Vec<Field>,
    dataset: Mutex<Box<dyn BatchDataset>>,
    /// Set when fill_batch panicked: the dataset's state may be broken, later fills fail.
    poisoned: AtomicBool,
}

/// Registers `dataset` as the batch dataset type `name` (process-wide; configs name it with
/// `{"type": name}`), with the declared `fields`. Errors: a name or key with a NUL byte, and
/// the library's (a taken name, an empty or repeated key, a negative size). On error the
/// dataset is dropped. Remove the type with [`unregister_dataset_type`].
pub fn register_batch_dataset<D: BatchDataset>(name: &str, fields: &[Field], dataset: D) -> Result<(), Error> {
    let cname = cstring(name, "dataset type name")?;
    let keys = fields
        .iter()
        .map(|f| cstring(&f.key, "field key"))
        .collect::<Result<Vec<_>, _>>()?;
    let raw_fields: Vec<sys::mmh_batch_field_t> = fields
        .iter()
        .zip(&keys)
        .map(|(f, key)| {
            // SAFETY: a zeroed struct is a valid argument for _init, which fills it.
            let mut rf: sys::mmh_batch_field_t = unsafe { std::mem::zeroed() };
            // SAFETY: rf is a valid, writable struct of that size.
            unsafe { sys::mmh_batch_field_init(&mut rf, std::mem::size_of::<sys::mmh_batch_field_t>()) };
            rf.key = key.as_ptr();
            rf.dtype = f.dtype.raw();
            rf.shape = if f.shape.is_empty() {
                std::ptr::null()
            } else {
                f.shape.as_ptr()
            };
            rf.ndim = f.shape.len();
            rf
        })
        .collect();
    let ptrs: Vec<*const sys::mmh_batch_field_t> = raw_fields.iter().map(|f| f as *const _).collect();
    let boxed = Box::new(DatasetBox {
        name: name.to_string(),
        fields: fields.to_vec(),
        dataset: Mutex::new(Box::new(dataset)),
        poisoned: AtomicBool::new(false),
    });
    // SAFETY: a zeroed struct is a valid argument for _init, which fills it.
    let mut desc: sys::mmh_batch_dataset_desc_t = unsafe { std::mem::zeroed() };
    // SAFETY: desc is a valid, writable struct of that size.
    unsafe { sys::mmh_batch_dataset_desc_init(&mut desc, std::mem::size_of::<sys::mmh_batch_dataset_desc_t>()) };
    desc.len = Some(len_trampoline);
    desc.fill = Some(fill_trampoline);
    desc.fields = ptrs.as_ptr();
    desc.num_fields = ptrs.len();
    desc.user_data = Box::into_raw(boxed) as *mut c_void;
    desc.user_data_free = Some(free_box);
    // SAFETY: every pointer in desc is valid for the call (the library copies what it keeps);
    // the library now owns user_data and calls free_box exactly once, also on error.
    Error::from_raw(unsafe { sys::mmh_batch_dataset_type_register(cname.as_ptr(), &desc) })
}

/// Removes a dataset type registered from this process (batch or per-sample); its dataset is
/// dropped once no runner uses it.
pub fn unregister_dataset_type(name: &str) -> Result<(), Error> {
    let cname = cstring(name, "dataset type name")?;
    // SAFETY: cname is a valid C string for the call.
    Error::from_raw(unsafe { sys::mmh_dataset_type_unregister(cname.as_ptr()) })
}

unsafe extern "C" fn len_trampoline(user_data: *mut c_void) -> i64 {
    // -1 makes the loader fail the run (a negative length) rather than unwinding into C.
    crate::ffi_boundary(-1, || {
        // SAFETY: user_data is the DatasetBox registered with this trampoline, alive until
        // free_box.
        let b = unsafe { &*(user_data as *const DatasetBox) };
        let d = b.dataset.lock().unwrap_or_else(|e| e.into_inner());
        d.len()
    })
}

fn set_batch_error(batch: *mut sys::mmh_batch_t, text: &str) {
    if let Ok(c) = std::ffi::CString::new(text.replace('\0', "\\0")) {
        // SAFETY: batch is the live batch of this fill call; c is a valid C string.
        let err = unsafe { sys::mmh_batch_set_error(batch, c.as_ptr()) };
        let _ = Error::from_raw(err);
    }
}

unsafe extern "C" fn fill_trampoline(
    indices: *const i64,
    seeds: *const u64,
    n: usize,
    batch: *mut sys::mmh_batch_t,
    user_data: *mut c_void,
) -> sys::mmh_code_t {
    crate::ffi_boundary(sys::MMH_E_INTERNAL, || {
        // SAFETY: user_data is the DatasetBox registered with this trampoline, alive until
        // free_box; the library passes n indices and n seeds, valid during the call.
        let b = unsafe { &*(user_data as *const DatasetBox) };
        let (indices, seeds) = if n == 0 {
            (&[][..], &[][..])
        } else {
            unsafe {
                (
                    std::slice::from_raw_parts(indices, n),
                    std::slice::from_raw_parts(seeds, n),
                )
            }
        };
        let mut guard = b.dataset.lock().unwrap_or_else(|e| e.into_inner());
        if b.poisoned.load(Ordering::SeqCst) {
            set_batch_error(
                batch,
                &format!("Rust batch dataset '{}' panicked in an earlier fill", b.name),
            );
            return sys::MMH_E_FAILED_PRECONDITION;
        }
        let mut writer = BatchWriter {
            raw: batch,
            fields: &b.fields,
            seeds,
            taken: vec![false; b.fields.len()],
            _not_send: PhantomData,
        };
        match catch_unwind(AssertUnwindSafe(|| guard.fill_batch(indices, &mut writer))) {
            Ok(Ok(())) => sys::MMH_OK,
            Ok(Err(text)) => {
                set_batch_error(batch, &text);
                sys::MMH_E_INVALID_ARGUMENT
            }
            Err(payload) => {
                let text = format!("panic in Rust batch dataset '{}': {}", b.name, panic_text(&*payload));
                dispose(payload);
                b.poisoned.store(true, Ordering::SeqCst);
                set_batch_error(batch, &text);
                sys::MMH_E_INTERNAL
            }
        }
    })
}

unsafe extern "C" fn free_box(user_data: *mut c_void) {
    crate::ffi_boundary((), || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: created by Box::into_raw in register_batch_dataset; the library frees it
            // exactly once.
            drop(unsafe { Box::from_raw(user_data as *mut DatasetBox) });
        }));
        if let Err(p) = r {
            dispose(p);
        }
    })
}

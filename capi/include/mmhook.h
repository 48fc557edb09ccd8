/**
 * @file mmhook.h
 * @brief The stable C ABI of libmmhook.so.
 *
 * Plain C99; includes only <stddef.h> and <stdint.h>. Every symbol is prefixed `mmh_` /
 * `MMH_`. Rules (docs/c_api.md, "Conventions", which also states the lifecycle and
 * re-entrancy rules): every function that can fail returns `mmh_error_t *` (NULL on success,
 * freed with mmh_error_free()) and hands its results out through pointer parameters; no
 * exception crosses this boundary; names are `mmh_<object>_<verb>[_<what>]`, the object
 * being the type without `_t` (`mmh_runner_`, `mmh_hook_ctx_`, `mmh_tensor_`) or a registry
 * (`mmh_hook_type_`, `mmh_dataset_type_`); handles are opaque, created by `mmh_X_create` and
 * released by `mmh_X_destroy` (NULL accepted, never fails, any order); strings in are UTF-8,
 * NUL-terminated and copied when kept; strings out are borrowed with a stated lifetime or
 * written into a caller buffer (`buf`, `cap`, `size_t *len_out`: the text is truncated to
 * cap - 1 bytes and NUL-terminated, *len_out is its full length, so a caller whose buffer was
 * too small retries with *len_out + 1 bytes); callbacks take `user_data` last and
 * `user_data_free` runs exactly once; input structs start with `struct_size`, are filled by
 * their `_init` function, and any struct_size from the struct's first version on is accepted.
 *
 * The functions written before this convention (returning `mmh_code_t`, or a -1/0/""
 * sentinel that hides a failure) are marked @c MMH_DEPRECATED: they stay exported and keep
 * working; docs/c_api.md maps each to its replacement.
 *
 * Threads: hooks run on the thread that called mmh_runner_train/val/test, one at a time, in
 * priority order. Calls on one runner must not overlap, except mmh_runner_request_stop().
 */
#ifndef MMHOOK_H
#define MMHOOK_H

#include <stddef.h>
#include <stdint.h>

/** Marks the exported functions: default visibility while building libmmhook.so, nothing for
 * its users. */
#if defined(MMH_BUILDING_LIBRARY)
#define MMH_API __attribute__((visibility("default")))
#else
#define MMH_API
#endif

/** Marks a function kept for compatibility, naming its replacement. Expands to nothing unless
 *  the including program defines MMH_WARN_DEPRECATED before including this header: existing
 *  users' -Werror builds keep compiling; define it to be warned of each use
 *  (`deprecated` attribute, GCC, Clang and MSVC). */
#if defined(MMH_WARN_DEPRECATED) && !defined(MMH_BUILDING_LIBRARY)
#if defined(__GNUC__) || defined(__clang__)
#define MMH_DEPRECATED(msg) __attribute__((deprecated(msg)))
#elif defined(_MSC_VER)
#define MMH_DEPRECATED(msg) __declspec(deprecated(msg))
#else
#define MMH_DEPRECATED(msg)
#endif
#else
#define MMH_DEPRECATED(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define MMH_VERSION_MAJOR 0 /**< Incremented on ABI breaks (and the SONAME with it). */
#define MMH_VERSION_MINOR 2 /**< Incremented on additions. */
#define MMH_VERSION_PATCH 0 /**< Incremented on fixes. */

/** An error: owned by the caller, released with mmh_error_free(). */
typedef struct mmh_error mmh_error_t;
/** A runner: owned by the caller, released with mmh_runner_destroy(). */
typedef struct mmh_runner mmh_runner_t;
/** The context of one hook call: borrowed, valid only during that call. */
typedef struct mmh_hook_ctx mmh_hook_ctx_t;
/** A tensor: borrowed from a ctx (valid during the hook call), or owned via mmh_tensor_retain(). */
typedef struct mmh_tensor mmh_tensor_t;
/** One dataset sample being filled by a C dataset's `get` callback (borrowed). */
typedef struct mmh_sample mmh_sample_t;
/** DLPack's managed tensor (<dlpack/dlpack.h>); forward-declared only. */
struct DLManagedTensor;

/** Error codes (values of mmh_error_code()). */
typedef int32_t mmh_code_t;
enum {
  MMH_OK = 0,                    /**< success */
  MMH_E_INVALID_ARGUMENT = 1,    /**< a NULL handle, NULL string, out-of-range value */
  MMH_E_NOT_FOUND = 2,           /**< a key, scalar, tensor or type that does not exist */
  MMH_E_UNAVAILABLE = 3,         /**< not available in this build or state */
  MMH_E_FAILED_PRECONDITION = 4, /**< called at the wrong time (e.g. a ctx outside its call) */
  MMH_E_OOM = 5,                 /**< out of memory */
  MMH_E_HOOK_ABORTED = 6,        /**< a hook returned MMH_HOOK_ABORT */
  MMH_E_TORCH = 7,               /**< LibTorch raised an error */
  MMH_E_ABI = 8,                 /**< struct_size or version mismatch */
  MMH_E_INTERNAL = 9,            /**< a bug or an unexpected exception */
  MMH_E_IO = 10,                 /**< a file could not be read or written */
  MMH_E_CONFIG = 11,             /**< a bad config (the message names the JSON path) */
  MMH_E_CHECKPOINT = 12,         /**< a bad checkpoint (the message names the file) */
  MMH_E_DISTRIBUTED = 13,        /**< a distributed-training failure */
  MMH_E_CANCELLED = 14           /**< the run was cancelled */
};

/** Stage identifiers: MMEngine's Hook.stages order, then on_exception. */
typedef int32_t mmh_stage_t;
enum {
  MMH_STAGE_BEFORE_RUN = 0,
  MMH_STAGE_AFTER_LOAD_CHECKPOINT,
  MMH_STAGE_BEFORE_TRAIN,
  MMH_STAGE_BEFORE_TRAIN_EPOCH,
  MMH_STAGE_BEFORE_TRAIN_ITER,
  MMH_STAGE_AFTER_TRAIN_ITER,
  MMH_STAGE_AFTER_TRAIN_EPOCH,
  MMH_STAGE_BEFORE_VAL,
  MMH_STAGE_BEFORE_VAL_EPOCH,
  MMH_STAGE_BEFORE_VAL_ITER,
  MMH_STAGE_AFTER_VAL_ITER,
  MMH_STAGE_AFTER_VAL_EPOCH,
  MMH_STAGE_AFTER_VAL,
  MMH_STAGE_BEFORE_SAVE_CHECKPOINT,
  MMH_STAGE_AFTER_TRAIN,
  MMH_STAGE_BEFORE_TEST,
  MMH_STAGE_BEFORE_TEST_EPOCH,
  MMH_STAGE_BEFORE_TEST_ITER,
  MMH_STAGE_AFTER_TEST_ITER,
  MMH_STAGE_AFTER_TEST_EPOCH,
  MMH_STAGE_AFTER_TEST,
  MMH_STAGE_AFTER_RUN,
  MMH_STAGE_ON_EXCEPTION,
  MMH_STAGE_COUNT
};
/** The bit of one stage in a stage mask. */
#define MMH_STAGE_BIT(s) (UINT64_C(1) << (s))
/** Every stage. */
#define MMH_STAGES_ALL (MMH_STAGE_BIT(MMH_STAGE_COUNT) - 1)

/** MMEngine's priority levels; a lower value runs earlier. */
enum {
  MMH_PRIORITY_HIGHEST = 0,
  MMH_PRIORITY_VERY_HIGH = 10,
  MMH_PRIORITY_HIGH = 30,
  MMH_PRIORITY_ABOVE_NORMAL = 40,
  MMH_PRIORITY_NORMAL = 50,
  MMH_PRIORITY_BELOW_NORMAL = 60,
  MMH_PRIORITY_LOW = 70,
  MMH_PRIORITY_VERY_LOW = 90,
  MMH_PRIORITY_LOWEST = 100
};

/** What a hook asks the runner to do next. */
typedef int32_t mmh_hook_action_t;
enum {
  MMH_HOOK_CONTINUE = 0, /**< go on */
  MMH_HOOK_STOP = 1,     /**< graceful stop, like EarlyStoppingHook, at the next loop boundary */
  MMH_HOOK_ABORT = -1    /**< fail the run with MMH_E_HOOK_ABORTED and mmh_ctx_set_error()'s text */
};

/** A hook: called at the stages of its mask with a borrowed ctx. Must not unwind. */
typedef mmh_hook_action_t (*mmh_hook_fn)(mmh_hook_ctx_t *ctx, void *user_data);
/** Releases user data; runs exactly once. */
typedef void (*mmh_free_fn)(void *user_data);

/** A hook registration; fill with mmh_hook_desc_init() first. */
typedef struct mmh_hook_desc {
  size_t struct_size; /**< set by mmh_hook_desc_init */
  const char *name;   /**< copied; unique per runner; names the hook in logs, errors, checkpoints */
  int32_t priority;   /**< 0..100, default MMH_PRIORITY_NORMAL */
  uint64_t stages;    /**< OR of MMH_STAGE_BIT(...); the hook is called only at these */
  mmh_hook_fn fn;     /**< the callback (required) */
  void *user_data;    /**< passed to fn; ownership passes to the library */
  mmh_free_fn user_data_free; /**< may be NULL; runs exactly once (removal, runner destroy, failed
                                 registration) */
} mmh_hook_desc_t;

/* ------------------------------------------------------------------------------------------ */
/* Version and names                                                                          */

/** Library version at run time: major << 16 | minor << 8 | patch. Never fails. */
MMH_API uint32_t mmh_version_number(void);
/** Library version as "major.minor.patch"; static storage. Never fails. */
MMH_API const char *mmh_version_string(void);
/** MMEngine's name of a stage ("before_run", ...); static storage; NULL if out of range. */
MMH_API const char *mmh_stage_name(mmh_stage_t stage);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */

/** The code of an error; MMH_OK for NULL. */
MMH_API mmh_code_t mmh_error_code(const mmh_error_t *err);
/** The message of an error (lives as long as err); "" for NULL. */
MMH_API const char *mmh_error_message(const mmh_error_t *err);
/** Frees an error; NULL is accepted. */
MMH_API void mmh_error_free(mmh_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Runner                                                                                     */

/**
 * Creates a runner from a JSON config (MMEngine's config keys as JSON).
 * Errors: MMH_E_INVALID_ARGUMENT (NULL argument), MMH_E_CONFIG (bad JSON or config; the message
 * names the JSON path), MMH_E_IO (work_dir not writable), MMH_E_UNAVAILABLE (work_dir in use:
 * another process's run or a live runner of this process holds its lock until destroyed; the
 * message names the holder's pid). On error *out is set to NULL.
 * Parsing is strict: a key written twice in one object, and nesting deeper than 256 levels,
 * are MMH_E_CONFIG errors naming the JSON path.
 */
MMH_API mmh_error_t *mmh_runner_create(const char *config_json, mmh_runner_t **out);
/**
 * Destroys a runner and frees every registered hook's user data; NULL is accepted.
 * Called while a train/val/test call of this runner is in progress (from one of its hooks, or
 * from another thread), it requests a stop (as mmh_runner_request_stop) and returns at once;
 * the runner is destroyed when that call returns. From then on the handle is invalid for the
 * caller of mmh_runner_destroy; the running call may go on using it until it returns, and no
 * new train/val/test may start on it (MMH_E_FAILED_PRECONDITION). A second destroy of a handle
 * whose destroy is pending is ignored.
 */
MMH_API void mmh_runner_destroy(mmh_runner_t *runner);
/** Fills a hook description with defaults (priority NORMAL, no stages). `struct_size` =
 *  sizeof(mmh_hook_desc_t) of the caller's header; does nothing for a NULL desc. */
MMH_API void mmh_hook_desc_init(mmh_hook_desc_t *desc, size_t struct_size);
/**
 * Adds a hook to the runner. A name already taken by a hook of this runner (one added from C,
 * a built-in hook such as "IterTimerHook", or one built from the config) gets the first free
 * `<name>_<n>`, n = 1, 2, ..., exactly as two config entries of one type do; the name the hook
 * got is written into name_buf (truncated to name_cap - 1 bytes, NUL-terminated) and its full
 * length into *name_len_out. name_buf, name_cap and name_len_out may be NULL, 0 and NULL when the
 * caller does not need the name; strlen(desc->name) + 32 bytes always hold it.
 * Errors: MMH_E_INVALID_ARGUMENT (NULL runner/desc/fn, NULL or empty or non-UTF-8 name,
 * priority outside 0..100, stage bits beyond MMH_STAGE_COUNT, name_buf NULL with name_cap > 0),
 * MMH_E_ABI (struct_size below the first version's), MMH_E_FAILED_PRECONDITION (while the
 * runner is running). On error the hook is not added and user_data_free runs now (except for
 * MMH_E_ABI, when its place in the struct is unknown, and a NULL desc).
 */
MMH_API mmh_error_t *mmh_runner_add_hook(mmh_runner_t *runner, const mmh_hook_desc_t *desc,
                                         char *name_buf, size_t name_cap, size_t *name_len_out);
/**
 * Registers a hook, refusing a name that is taken.
 * @deprecated Use mmh_runner_add_hook(), which follows the one rule for taken names (a
 * `_<n>` suffix, as in configs) and reports the name. This function keeps its behaviour:
 * errors as mmh_runner_add_hook(), plus MMH_E_INVALID_ARGUMENT for a taken name (user_data_free
 * then runs now).
 */
MMH_DEPRECATED("use mmh_runner_add_hook")
MMH_API mmh_error_t *mmh_runner_register_hook(mmh_runner_t *runner, const mmh_hook_desc_t *desc);
/** Removes the hook named `name` (its user_data_free runs). MMH_E_NOT_FOUND if absent. */
MMH_API mmh_error_t *mmh_runner_remove_hook(mmh_runner_t *runner, const char *name);
/** Trains. Errors: any code; a hook failure names the hook and stage. */
MMH_API mmh_error_t *mmh_runner_train(mmh_runner_t *runner);
/** Validates once. */
MMH_API mmh_error_t *mmh_runner_val(mmh_runner_t *runner);
/** Tests once. */
MMH_API mmh_error_t *mmh_runner_test(mmh_runner_t *runner);
/**
 * Asks the running loop to stop after the current iteration (a validation pass: after the
 * current batch, without metrics); safe from any thread and from a signal handler. NULL ok.
 * In a data-parallel run the ranks vote on stopping during each iteration, so a request on
 * any rank stops every rank after the same iteration (the next one when the request comes
 * after this iteration's vote), and a validation pass runs to its end.
 */
MMH_API void mmh_runner_request_stop(mmh_runner_t *runner);
/**
 * Writes MMEngine's get_hooks_info() text into buf (truncated to cap - 1 bytes,
 * NUL-terminated) and its full length (without the NUL) into *len_out. buf may be NULL when
 * cap is 0 (a length query). Errors: MMH_E_INVALID_ARGUMENT (NULL runner or len_out, NULL buf
 * with cap > 0), MMH_E_OOM, MMH_E_INTERNAL; on error buf and *len_out are left unchanged.
 * May be called from the runner's hooks.
 */
MMH_API mmh_error_t *mmh_runner_get_hooks_info(const mmh_runner_t *runner, char *buf, size_t cap,
                                               size_t *len_out);
/** Writes the last val/test metrics as a JSON object ("{}" before any) into buf; buffer,
 *  length and errors as mmh_runner_get_hooks_info(). */
MMH_API mmh_error_t *mmh_runner_get_metrics_json(const mmh_runner_t *runner, char *buf, size_t cap,
                                                 size_t *len_out);
/** Writes the hook timing table as a JSON array into buf: one object per (hook, stage) with
 *  hook, stage, calls, total_ms, max_ms, timed_calls. By default per-iteration stages are timed
 *  one call in 64 and total_ms is extrapolated (timed_calls says how many were measured);
 *  MMHOOK_HOOK_TIMING=all times every call. Buffer, length and errors as
 *  mmh_runner_get_hooks_info(). */
MMH_API mmh_error_t *mmh_runner_get_hook_timing_json(const mmh_runner_t *runner, char *buf,
                                                     size_t cap, size_t *len_out);
/** Writes the path of the newest checkpoint ("" if none was written) into buf; buffer, length
 *  and errors as mmh_runner_get_hooks_info(). */
MMH_API mmh_error_t *mmh_runner_get_last_checkpoint(const mmh_runner_t *runner, char *buf,
                                                    size_t cap, size_t *len_out);
/** Sets *out to the runner's completed epochs. MMH_E_INVALID_ARGUMENT for a NULL runner or
 *  out. */
MMH_API mmh_error_t *mmh_runner_get_epoch(const mmh_runner_t *runner, int64_t *out);
/** Sets *out to the runner's completed iterations; errors as mmh_runner_get_epoch(). */
MMH_API mmh_error_t *mmh_runner_get_iter(const mmh_runner_t *runner, int64_t *out);
/** Writes MMEngine's get_hooks_info() text into buf; returns the full length.
 *  @deprecated Use mmh_runner_get_hooks_info(): this one returns the length of "" for a NULL
 *  runner and on any failure. */
MMH_DEPRECATED("use mmh_runner_get_hooks_info")
MMH_API size_t mmh_runner_hooks_info(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the last val/test metrics as JSON into buf; returns the full length.
 *  @deprecated Use mmh_runner_get_metrics_json(): this one writes "{}" on any failure. */
MMH_DEPRECATED("use mmh_runner_get_metrics_json")
MMH_API size_t mmh_runner_metrics_json(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the hook timing table as JSON into buf; returns the full length.
 *  @deprecated Use mmh_runner_get_hook_timing_json(): this one writes "[]" on any failure. */
MMH_DEPRECATED("use mmh_runner_get_hook_timing_json")
MMH_API size_t mmh_runner_hook_timing_json(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the path of the newest checkpoint into buf; returns the full length.
 *  @deprecated Use mmh_runner_get_last_checkpoint(): this one writes "" (as for "no
 *  checkpoint") on any failure. */
MMH_DEPRECATED("use mmh_runner_get_last_checkpoint")
MMH_API size_t mmh_runner_last_checkpoint(const mmh_runner_t *runner, char *buf, size_t cap);
/** Completed epochs of the runner.
 *  @deprecated Use mmh_runner_get_epoch(): this one returns 0 for a NULL runner. */
MMH_DEPRECATED("use mmh_runner_get_epoch")
MMH_API int64_t mmh_runner_epoch(const mmh_runner_t *runner);
/** Completed iterations of the runner.
 *  @deprecated Use mmh_runner_get_iter(): this one returns 0 for a NULL runner. */
MMH_DEPRECATED("use mmh_runner_get_iter")
MMH_API int64_t mmh_runner_iter(const mmh_runner_t *runner);

/* ------------------------------------------------------------------------------------------ */
/* Inside a hook call. Counters follow MMEngine: runner.epoch, runner.iter, batch_idx.         */
/* Every mmh_hook_ctx_* function fails with MMH_E_INVALID_ARGUMENT for a NULL ctx, string or   */
/* out pointer, and with MMH_E_FAILED_PRECONDITION for a ctx used outside its hook call; on    */
/* error its out parameters are left unchanged.                                               */

/** Sets *out to the stage being called. */
MMH_API mmh_error_t *mmh_hook_ctx_get_stage(const mmh_hook_ctx_t *ctx, mmh_stage_t *out);
/** Sets *out to runner.epoch. */
MMH_API mmh_error_t *mmh_hook_ctx_get_epoch(const mmh_hook_ctx_t *ctx, int64_t *out);
/** Sets *out to runner.iter. */
MMH_API mmh_error_t *mmh_hook_ctx_get_iter(const mmh_hook_ctx_t *ctx, int64_t *out);
/** Sets *out to batch_idx; MMH_E_NOT_FOUND outside the iteration stages (they alone have a
 *  batch). */
MMH_API mmh_error_t *mmh_hook_ctx_get_batch_idx(const mmh_hook_ctx_t *ctx, int64_t *out);
/** Sets *out to runner.max_epochs (0 without a train loop). */
MMH_API mmh_error_t *mmh_hook_ctx_get_max_epochs(const mmh_hook_ctx_t *ctx, int64_t *out);
/** Sets *out to runner.max_iters (0 without a train loop). */
MMH_API mmh_error_t *mmh_hook_ctx_get_max_iters(const mmh_hook_ctx_t *ctx, int64_t *out);
/** Sets *out to the current value of a message-hub scalar ("train/loss"); MMH_E_NOT_FOUND if
 *  the hub has none of that name. */
MMH_API mmh_error_t *mmh_hook_ctx_get_scalar(const mmh_hook_ctx_t *ctx, const char *key,
                                             double *out);
/** Appends a value to a message-hub scalar (logged like the built-in ones).
 *  MMH_E_INVALID_ARGUMENT also for a key that is not UTF-8. */
MMH_API mmh_error_t *mmh_hook_ctx_update_scalar(mmh_hook_ctx_t *ctx, const char *key, double value);
/** Sets *out to the number of metrics (after_val_epoch / after_test_epoch; 0 elsewhere). */
MMH_API mmh_error_t *mmh_hook_ctx_get_metric_count(const mmh_hook_ctx_t *ctx, size_t *out);
/** Sets *out_name and *out_value to the i-th metric (the name lives during the hook call).
 *  MMH_E_NOT_FOUND if i is not below the metric count. */
MMH_API mmh_error_t *mmh_hook_ctx_get_metric(const mmh_hook_ctx_t *ctx, size_t i,
                                             const char **out_name, double *out_value);
/** Sets *out to the number of optimizer parameter groups (with MMEngine's base group when
 *  there are several; 0 without an optimizer). */
MMH_API mmh_error_t *mmh_hook_ctx_get_param_group_count(const mmh_hook_ctx_t *ctx, size_t *out);
/** Sets *out to the learning rate of a group. MMH_E_INVALID_ARGUMENT if group is out of range,
 *  MMH_E_FAILED_PRECONDITION without an optimizer. */
MMH_API mmh_error_t *mmh_hook_ctx_get_lr(const mmh_hook_ctx_t *ctx, size_t group, double *out);
/** Sets the learning rate of a group. MMH_E_INVALID_ARGUMENT if group is out of range or lr is
 *  negative, NaN, infinite or beyond float's range (FLT_MAX); MMH_E_FAILED_PRECONDITION without
 *  an optimizer. */
MMH_API mmh_error_t *mmh_hook_ctx_set_lr(mmh_hook_ctx_t *ctx, size_t group, double lr);
/** Sets *out to a tensor of the call: "inputs", "targets" (iteration stages), "loss"
 *  (after_train_iter), "outputs" (after_val_iter / after_test_iter), or any other batch/output
 *  key. Borrowed: valid during the call; keep it with mmh_tensor_retain(). MMH_E_NOT_FOUND if
 *  the call has no such tensor. */
MMH_API mmh_error_t *mmh_hook_ctx_get_tensor(const mmh_hook_ctx_t *ctx, const char *key,
                                             const mmh_tensor_t **out);
/** Sets the message of an MMH_HOOK_ABORT (copied). MMH_E_INVALID_ARGUMENT also for a message
 *  that is not UTF-8. */
MMH_API mmh_error_t *mmh_hook_ctx_set_error(mmh_hook_ctx_t *ctx, const char *message);
/** Sets *out to the failure's message during on_exception (it lives during the call);
 *  MMH_E_NOT_FOUND at other stages. */
MMH_API mmh_error_t *mmh_hook_ctx_get_error_message(const mmh_hook_ctx_t *ctx, const char **out);
/** Stores `len` bytes under `hook_states/<hook name>/<key>` of the checkpoint being saved.
 *  MMH_E_FAILED_PRECONDITION outside before_save_checkpoint; MMH_E_INVALID_ARGUMENT also for a
 *  key that is not UTF-8 and for NULL data with len > 0. */
MMH_API mmh_error_t *mmh_hook_ctx_put_checkpoint_state(mmh_hook_ctx_t *ctx, const char *key,
                                                       const void *data, size_t len);
/** Reads bytes stored by mmh_hook_ctx_put_checkpoint_state() from the checkpoint being loaded:
 *  copies up to cap bytes into buf and sets *len_out to the full length (buf may be NULL when
 *  cap is 0). MMH_E_NOT_FOUND if the checkpoint has no such entry, MMH_E_FAILED_PRECONDITION
 *  outside after_load_checkpoint, MMH_E_INVALID_ARGUMENT for a NULL len_out or a NULL buf with
 *  cap > 0. */
MMH_API mmh_error_t *mmh_hook_ctx_get_checkpoint_state(const mmh_hook_ctx_t *ctx, const char *key,
                                                       void *buf, size_t cap, size_t *len_out);

/* The functions below return an mmh_code_t, or -1/0 when the ctx is NULL or used outside its  */
/* call: the error has no message, and a sentinel cannot be told from a value.                */

/** The stage being called; -1 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_stage(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_stage")
MMH_API mmh_stage_t mmh_ctx_stage(const mmh_hook_ctx_t *ctx);
/** runner.epoch; -1 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_epoch(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_epoch")
MMH_API int64_t mmh_ctx_epoch(const mmh_hook_ctx_t *ctx);
/** runner.iter; -1 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_iter(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_iter")
MMH_API int64_t mmh_ctx_iter(const mmh_hook_ctx_t *ctx);
/** batch_idx; -1 outside iteration stages and outside a call.
 *  @deprecated Use mmh_hook_ctx_get_batch_idx(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_batch_idx")
MMH_API int64_t mmh_ctx_batch_idx(const mmh_hook_ctx_t *ctx);
/** runner.max_epochs (0 without a train loop); -1 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_max_epochs(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_max_epochs")
MMH_API int64_t mmh_ctx_max_epochs(const mmh_hook_ctx_t *ctx);
/** runner.max_iters (0 without a train loop); -1 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_max_iters(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_max_iters")
MMH_API int64_t mmh_ctx_max_iters(const mmh_hook_ctx_t *ctx);
/** The current value of a message-hub scalar; MMH_E_NOT_FOUND if absent.
 *  @deprecated Use mmh_hook_ctx_get_scalar(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_scalar")
MMH_API mmh_code_t mmh_ctx_scalar(const mmh_hook_ctx_t *ctx, const char *key, double *out);
/** Appends a value to a message-hub scalar.
 *  @deprecated Use mmh_hook_ctx_update_scalar(). */
MMH_DEPRECATED("use mmh_hook_ctx_update_scalar")
MMH_API mmh_code_t mmh_ctx_update_scalar(mmh_hook_ctx_t *ctx, const char *key, double value);
/** Number of metrics; 0 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_metric_count(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_metric_count")
MMH_API size_t mmh_ctx_metric_count(const mmh_hook_ctx_t *ctx);
/** The i-th metric; MMH_E_NOT_FOUND if i is out of range.
 *  @deprecated Use mmh_hook_ctx_get_metric(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_metric")
MMH_API mmh_code_t mmh_ctx_metric_at(const mmh_hook_ctx_t *ctx, size_t i, const char **out_name,
                                     double *out_value);
/** Number of optimizer parameter groups; 0 outside a call.
 *  @deprecated Use mmh_hook_ctx_get_param_group_count(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_param_group_count")
MMH_API size_t mmh_ctx_param_group_count(const mmh_hook_ctx_t *ctx);
/** Learning rate of a group.
 *  @deprecated Use mmh_hook_ctx_get_lr(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_lr")
MMH_API mmh_code_t mmh_ctx_lr(const mmh_hook_ctx_t *ctx, size_t group, double *out);
/** Sets the learning rate of a group.
 *  @deprecated Use mmh_hook_ctx_set_lr(). */
MMH_DEPRECATED("use mmh_hook_ctx_set_lr")
MMH_API mmh_code_t mmh_ctx_set_lr(mmh_hook_ctx_t *ctx, size_t group, double lr);
/** A tensor of the call (borrowed); MMH_E_NOT_FOUND if absent.
 *  @deprecated Use mmh_hook_ctx_get_tensor(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_tensor")
MMH_API mmh_code_t mmh_ctx_tensor(const mmh_hook_ctx_t *ctx, const char *key,
                                  const mmh_tensor_t **out);
/** Sets the message of an MMH_HOOK_ABORT (copied).
 *  @deprecated Use mmh_hook_ctx_set_error(). */
MMH_DEPRECATED("use mmh_hook_ctx_set_error")
MMH_API mmh_code_t mmh_ctx_set_error(mmh_hook_ctx_t *ctx, const char *message);
/** The failure's message during on_exception; MMH_E_NOT_FOUND elsewhere.
 *  @deprecated Use mmh_hook_ctx_get_error_message(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_error_message")
MMH_API mmh_code_t mmh_ctx_error_message(const mmh_hook_ctx_t *ctx, const char **out);
/** Stores bytes under `hook_states/<hook name>/<key>` (before_save_checkpoint only).
 *  @deprecated Use mmh_hook_ctx_put_checkpoint_state(). */
MMH_DEPRECATED("use mmh_hook_ctx_put_checkpoint_state")
MMH_API mmh_code_t mmh_ctx_checkpoint_put(mmh_hook_ctx_t *ctx, const char *key, const void *data,
                                          size_t len);
/** Reads bytes stored by mmh_ctx_checkpoint_put (after_load_checkpoint only).
 *  @deprecated Use mmh_hook_ctx_get_checkpoint_state(). */
MMH_DEPRECATED("use mmh_hook_ctx_get_checkpoint_state")
MMH_API mmh_code_t mmh_ctx_checkpoint_get(const mmh_hook_ctx_t *ctx, const char *key, void *buf,
                                          size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* Tensors: metadata, a safe copy, zero-copy DLPack.                                          */

/** Sets *out to the number of dimensions. MMH_E_INVALID_ARGUMENT for a NULL tensor or out. */
MMH_API mmh_error_t *mmh_tensor_get_ndim(const mmh_tensor_t *t, size_t *out);
/** Sets *out to the shape (ndim values; it lives as long as t; may be NULL when ndim is 0).
 *  MMH_E_INVALID_ARGUMENT for a NULL tensor or out. */
MMH_API mmh_error_t *mmh_tensor_get_shape(const mmh_tensor_t *t, const int64_t **out);
/** Sets *out to the number of elements. MMH_E_INVALID_ARGUMENT for a NULL tensor or out. */
MMH_API mmh_error_t *mmh_tensor_get_numel(const mmh_tensor_t *t, size_t *out);
/** Number of dimensions (0 for NULL).
 *  @deprecated Use mmh_tensor_get_ndim(). */
MMH_DEPRECATED("use mmh_tensor_get_ndim")
MMH_API size_t mmh_tensor_ndim(const mmh_tensor_t *t);
/** The shape (ndim values); lives as long as t. NULL for NULL.
 *  @deprecated Use mmh_tensor_get_shape(). */
MMH_DEPRECATED("use mmh_tensor_get_shape")
MMH_API const int64_t *mmh_tensor_shape(const mmh_tensor_t *t);
/** Number of elements (0 for NULL).
 *  @deprecated Use mmh_tensor_get_numel(). */
MMH_DEPRECATED("use mmh_tensor_get_numel")
MMH_API size_t mmh_tensor_numel(const mmh_tensor_t *t);
/** Copies the elements (row-major, converted to double) into dst, which holds `count` values;
 *  MMH_E_INVALID_ARGUMENT if count differs from numel. */
MMH_API mmh_error_t *mmh_tensor_copy_to_host_f64(const mmh_tensor_t *t, double *dst, size_t count);
/** Makes an owned handle to the same tensor (free with mmh_tensor_free). */
MMH_API mmh_error_t *mmh_tensor_retain(const mmh_tensor_t *t, mmh_tensor_t **out);
/** Frees an owned handle; NULL is accepted (borrowed handles must not be passed). */
MMH_API void mmh_tensor_free(mmh_tensor_t *t);
/** Exports the tensor (detached) as DLPack; the consumer calls (*out)->deleter(*out). */
MMH_API mmh_error_t *mmh_tensor_to_dlpack(const mmh_tensor_t *t, struct DLManagedTensor **out);

/* ------------------------------------------------------------------------------------------ */
/* Type registries: hooks and datasets implemented in C, named from JSON configs.             */

/** Builds a hook from its config entry (JSON text): fills *desc (already initialised) and
 *  returns MMH_OK, or an error code (the config is then rejected naming the entry). */
typedef mmh_code_t (*mmh_hook_factory_fn)(const char *entry_json, mmh_hook_desc_t *desc,
                                          void *user_data);
/** Registers a hook type for `custom_hooks`/`default_hooks` entries ({"type": name, ...}).
 *  Registrations are process-wide; the factory may be called from any thread that creates a
 *  runner. The hook is named desc->name as the factory left it, or `name` if it left it NULL;
 *  a taken name gets a `_<n>` suffix (see mmh_runner_add_hook()). Errors:
 *  MMH_E_INVALID_ARGUMENT (NULL factory, NULL, empty or non-UTF-8 name, a name taken by a
 *  built-in or registered hook type). On error user_data_free runs now; otherwise at
 *  mmh_hook_type_unregister(). */
MMH_API mmh_error_t *mmh_hook_type_register(const char *name, mmh_hook_factory_fn factory,
                                            void *user_data, mmh_free_fn user_data_free);
/** Removes a hook type registered from C (its user_data_free runs once no runner being built
 *  uses it). MMH_E_NOT_FOUND if no hook type of that name was registered from C (also when
 *  only a dataset type has it); MMH_E_INVALID_ARGUMENT for a NULL name. */
MMH_API mmh_error_t *mmh_hook_type_unregister(const char *name);
/** Registers a hook type.
 *  @deprecated Use mmh_hook_type_register() (same arguments and behaviour; the name follows
 *  the `mmh_<object>_<verb>` rule, and it pairs with mmh_hook_type_unregister()). */
MMH_DEPRECATED("use mmh_hook_type_register")
MMH_API mmh_error_t *mmh_register_hook_type(const char *name, mmh_hook_factory_fn factory,
                                            void *user_data, mmh_free_fn user_data_free);

/** A dataset implemented in C. `get` may be called from loader worker threads concurrently
 *  when num_workers > 0; it fills `sample` with named arrays. */
typedef struct mmh_dataset_desc {
  size_t struct_size;              /**< set by mmh_dataset_desc_init */
  int64_t (*len)(void *user_data); /**< number of samples: 0 to 2^32 (more is a config error) */
  /** Fills one sample; returns MMH_OK, or an mmh_code_t that fails the run with that code (a
   *  number outside mmh_code_t fails it with MMH_E_INTERNAL; the message keeps the number and,
   *  when an mmh_sample_set_* call failed, why it failed). */
  mmh_code_t (*get)(int64_t index, uint64_t sample_seed, mmh_sample_t *sample, void *user_data);
  void *user_data;            /**< passed to len and get */
  mmh_free_fn user_data_free; /**< may be NULL; runs exactly once */
} mmh_dataset_desc_t;
/** Fills a dataset description with defaults. `struct_size` = sizeof(mmh_dataset_desc_t) of
 *  the caller's header; does nothing for a NULL desc. */
MMH_API void mmh_dataset_desc_init(mmh_dataset_desc_t *desc, size_t struct_size);
/** Registers a dataset type named `name` for configs ({"type": name}); process-wide. Any
 *  struct_size from the struct's first version on is accepted (fields a smaller one lacks take
 *  their defaults). Errors: MMH_E_INVALID_ARGUMENT (NULL desc, len or get; NULL, empty or
 *  non-UTF-8 name; a name taken by a built-in or registered dataset type), MMH_E_ABI
 *  (struct_size below the first version's). On error user_data_free runs now (except for a
 *  NULL desc and MMH_E_ABI); otherwise at mmh_dataset_type_unregister(). */
MMH_API mmh_error_t *mmh_dataset_type_register(const char *name, const mmh_dataset_desc_t *desc);
/** Removes a dataset type registered from C (its user_data_free runs once no dataset built
 *  from it is alive). MMH_E_NOT_FOUND if no dataset type of that name was registered from C
 *  (also when only a hook type has it); MMH_E_INVALID_ARGUMENT for a NULL name. */
MMH_API mmh_error_t *mmh_dataset_type_unregister(const char *name);
/** Registers a dataset type.
 *  @deprecated Use mmh_dataset_type_register() (same arguments and behaviour). */
MMH_DEPRECATED("use mmh_dataset_type_register")
MMH_API mmh_error_t *mmh_register_dataset_type(const char *name, const mmh_dataset_desc_t *desc);
/** Removes the hook type and the dataset type of that name registered from C (both, when both
 *  kinds have it). MMH_E_NOT_FOUND if neither has it.
 *  @deprecated Use mmh_hook_type_unregister() or mmh_dataset_type_unregister(): one function
 *  for two registries cannot say which it means. */
MMH_DEPRECATED("use mmh_hook_type_unregister or mmh_dataset_type_unregister")
MMH_API mmh_error_t *mmh_unregister_type(const char *name);

/** Sets a float32 array of a sample (copied) from `get`. shape holds ndim sizes (may be NULL
 *  when ndim is 0); data holds their product of values (may be NULL when that is 0). Errors:
 *  MMH_E_INVALID_ARGUMENT (NULL sample or name, a name that is not UTF-8, NULL shape with
 *  ndim > 0, a negative size, NULL data), MMH_E_OOM. The run's error names the failure too
 *  when `get` passes the code on. */
MMH_API mmh_error_t *mmh_sample_set_array_f32(mmh_sample_t *sample, const char *name,
                                              const float *data, const int64_t *shape, size_t ndim);
/** Sets an int64 array of a sample (copied); ndim 0 gives a scalar (a class label). Arguments
 *  and errors as mmh_sample_set_array_f32(). */
MMH_API mmh_error_t *mmh_sample_set_array_i64(mmh_sample_t *sample, const char *name,
                                              const int64_t *data, const int64_t *shape,
                                              size_t ndim);
/** Sets a float32 array of a sample (copied).
 *  @deprecated Use mmh_sample_set_array_f32(), whose error carries the message. */
MMH_DEPRECATED("use mmh_sample_set_array_f32")
MMH_API mmh_code_t mmh_sample_set_f32(mmh_sample_t *sample, const char *name, const float *data,
                                      const int64_t *shape, size_t ndim);
/** Sets an int64 array of a sample (copied); ndim 0 gives a scalar.
 *  @deprecated Use mmh_sample_set_array_i64(), whose error carries the message. */
MMH_DEPRECATED("use mmh_sample_set_array_i64")
MMH_API mmh_code_t mmh_sample_set_i64(mmh_sample_t *sample, const char *name, const int64_t *data,
                                      const int64_t *shape, size_t ndim);

/* ------------------------------------------------------------------------------------------ */
/* Batch-level datasets: one host call fills a whole batch (no per-sample call).              */

/** Element types of a batch dataset's fields (mmh_batch_field_t.dtype). */
typedef int32_t mmh_dtype_t;
enum {
  MMH_DTYPE_U8 = 0,  /**< uint8_t */
  MMH_DTYPE_I32 = 1, /**< int32_t */
  MMH_DTYPE_I64 = 2, /**< int64_t */
  MMH_DTYPE_F32 = 3, /**< float */
  MMH_DTYPE_F64 = 4  /**< double */
};

/** The batch a batch dataset's `fill` callback is filling (borrowed, valid during the call). */
typedef struct mmh_batch mmh_batch_t;

/** One field (batch key) of a batch dataset, declared at registration. */
typedef struct mmh_batch_field {
  size_t struct_size;   /**< set by mmh_batch_field_init */
  const char *key;      /**< the batch key ("inputs", "targets"); UTF-8, copied */
  mmh_dtype_t dtype;    /**< one of MMH_DTYPE_*; default MMH_DTYPE_F32 */
  const int64_t *shape; /**< the per-sample shape, ndim sizes >= 0 (NULL when ndim is 0); copied */
  size_t ndim;          /**< 0 (default) gives one scalar per sample, a batch of shape [n] */
} mmh_batch_field_t;
/** Fills a field declaration with defaults. `struct_size` = sizeof(mmh_batch_field_t) of the
 *  caller's header; does nothing for a NULL field. */
MMH_API void mmh_batch_field_init(mmh_batch_field_t *field, size_t struct_size);

/** Fills the `n` samples `indices` (chosen by the sampler: shuffled, sharded by rank, resumed)
 *  into `batch`, sample i at row i of every field: it gets each field's buffer with
 *  mmh_batch_get_buffer() and writes it, or hands a tensor over with mmh_batch_set_dlpack()
 *  (every field must be filled one way or the other). `sample_seeds[i]` is
 *  the seed of sample i (random transforms draw only from it). Returns MMH_OK, or an
 *  mmh_code_t that fails the run with that code (a number outside mmh_code_t with
 *  MMH_E_INTERNAL); the message names the dataset type and the stage and holds the text of
 *  mmh_batch_set_error() or, when an mmh_batch_* call failed, why. May be called from loader
 *  worker threads concurrently when num_workers > 0. */
typedef mmh_code_t (*mmh_batch_fill_fn)(const int64_t *indices, const uint64_t *sample_seeds,
                                        size_t n, mmh_batch_t *batch, void *user_data);

/** A dataset implemented in C that fills whole batches. */
typedef struct mmh_batch_dataset_desc {
  size_t struct_size;              /**< set by mmh_batch_dataset_desc_init */
  int64_t (*len)(void *user_data); /**< number of samples: 0 to 2^32 (more is a config error) */
  mmh_batch_fill_fn fill;          /**< fills one batch */
  /** num_fields declarations, each initialised with mmh_batch_field_init(); copied. Keys are
   *  distinct and non-empty. */
  const mmh_batch_field_t *const *fields;
  size_t num_fields;          /**< at least 1 */
  void *user_data;            /**< passed to len and fill */
  mmh_free_fn user_data_free; /**< may be NULL; runs exactly once */
} mmh_batch_dataset_desc_t;
/** Fills a batch dataset description with defaults. `struct_size` =
 *  sizeof(mmh_batch_dataset_desc_t) of the caller's header; does nothing for a NULL desc. */
MMH_API void mmh_batch_dataset_desc_init(mmh_batch_dataset_desc_t *desc, size_t struct_size);
/** Registers a batch dataset type named `name` for configs ({"type": name}), in the one
 *  registry of dataset types (mmh_dataset_type_unregister() removes it). Any struct_size from
 *  the structs' first versions on is accepted. Errors: MMH_E_INVALID_ARGUMENT (NULL desc, len,
 *  fill or fields; no fields; a NULL field, key or shape with ndim > 0; an empty, repeated or
 *  non-UTF-8 key; an unknown dtype; a negative size; a NULL, empty or non-UTF-8 name; a name
 *  taken by a built-in or registered dataset type), MMH_E_ABI (a struct_size below the first
 *  version's), MMH_E_OOM. The message names the type and the field. On error user_data_free
 *  runs now (except for a NULL desc and a desc whose own struct_size is MMH_E_ABI); otherwise
 *  once the type is unregistered and no dataset built from it is alive. */
MMH_API mmh_error_t *mmh_batch_dataset_type_register(const char *name,
                                                     const mmh_batch_dataset_desc_t *desc);
/** The buffer of field `field` (its index in the description) of a batch being filled: `n` rows
 *  of the field's per-sample shape, C-contiguous, of its dtype, zero-initialised, owned by the
 *  library. *data_out gets the pointer and *numel_out the element count (n times the product
 *  of the shape); both stay valid until `fill` returns; a second call for the same field gives the
 *  same buffer. Errors: MMH_E_INVALID_ARGUMENT (NULL batch, data_out or numel_out; a field
 *  index out of range), MMH_E_OOM. */
MMH_API mmh_error_t *mmh_batch_get_buffer(mmh_batch_t *batch, size_t field, void **data_out,
                                          size_t *numel_out);
/** Hands field `field` of a batch being filled over as a DLPack tensor, zero-copy: its shape
 *  must be [n, per-sample shape...] (any strides; NULL strides mean C-contiguous), its dtype the
 *  declared one (MMH_DTYPE_U8: kDLUInt 8, I32/I64: kDLInt 32/64, F32/F64: kDLFloat 32/64, one
 *  lane) and its memory on the CPU (kDLCPU). The library takes ownership of `tensor` in every
 *  case, success or error: its deleter runs exactly once, possibly on another thread and after
 *  `fill` returned (when the batch is freed), or at once on error. A field set this way is
 *  filled; setting it again replaces the tensor, and mmh_batch_get_buffer() refuses it.
 *  Errors (the message names the field): MMH_E_INVALID_ARGUMENT (NULL batch or tensor, a
 *  field index out of range, another batch size, dtype, number of dimensions or size, NULL
 *  data, a device other than the CPU), MMH_E_OOM. */
MMH_API mmh_error_t *mmh_batch_set_dlpack(mmh_batch_t *batch, size_t field,
                                          struct DLManagedTensor *tensor);
/** Says why the fill call failed: `message` (UTF-8, copied) goes into the run's error when
 *  `fill` returns a code other than MMH_OK. Errors: MMH_E_INVALID_ARGUMENT (NULL batch or
 *  message, a message that is not UTF-8), MMH_E_OOM. */
MMH_API mmh_error_t *mmh_batch_set_error(mmh_batch_t *batch, const char *message);

/* ------------------------------------------------------------------------------------------ */
/* Running the model from a hook (sampling, visualisation, probing).                          */

/** Makes an owned tensor (free with mmh_tensor_free) holding a copy of `data`: `ndim` sizes in
 *  `shape` (each >= 0; ndim may be 0 for a scalar, and shape then NULL), C-contiguous elements
 *  of `dtype`, `nbytes` bytes in all (the product of the sizes times the element size).
 *  Errors: MMH_E_INVALID_ARGUMENT (NULL out; NULL shape with ndim > 0; NULL data with
 *  nbytes > 0; an unknown dtype; a negative size; nbytes differing from what shape and dtype
 *  need, both numbers in the message), MMH_E_OOM. */
MMH_API mmh_error_t *mmh_tensor_from_host(mmh_dtype_t dtype, const int64_t *shape, size_t ndim,
                                          const void *data, size_t nbytes, mmh_tensor_t **out);
/** Runs the runner's model from inside a hook call on the batch made of `n` named tensors
 *  (keys[i] names inputs[i]; borrowed or owned handles; moved to the model's device) and sets
 *  *out to an owned handle (free with mmh_tensor_free) of output `output_key`. `mode` is
 *  "predict" (the model's predict outputs, as val/test loops get them) or "tensor" (the raw
 *  outputs of a TorchScriptModel with the dict contract). The model runs without gradients and
 *  in eval mode (dropout off, BatchNorm statistics untouched); its training flag is restored
 *  after, so any stage may call this, e.g. after_train_epoch to print a sample. Errors:
 *  MMH_E_INVALID_ARGUMENT (NULL or non-UTF-8 arguments, n > 0 with NULL keys or inputs, a NULL
 *  input, a key given twice, a mode other than the two), MMH_E_NOT_FOUND (output_key not among
 *  the outputs: the message lists those there are), MMH_E_FAILED_PRECONDITION (ctx outside its
 *  call; mode "tensor" on a model without it), and the model's own errors (MMH_E_TORCH for
 *  LibTorch's, e.g. a wrong shape), each message naming the stage and the mode. */
MMH_API mmh_error_t *mmh_hook_ctx_forward(mmh_hook_ctx_t *ctx, const char *mode,
                                          const char *const *keys,
                                          const mmh_tensor_t *const *inputs, size_t n,
                                          const char *output_key, mmh_tensor_t **out);

/* ------------------------------------------------------------------------------------------ */
/* Metric types: metrics implemented in C, named from val_evaluator/test_evaluator.           */

/** One val/test batch handed to a C metric's `process` callback: the loader's batch and the
 *  model's predict outputs (borrowed; valid only during that call). */
typedef struct mmh_metric_batch mmh_metric_batch_t;
/** The writer of a C metric's `compute` callback: takes the named results (borrowed; valid
 *  only during that call). */
typedef struct mmh_metric_results mmh_metric_results_t;

/** A metric implemented in C (MMEngine's BaseMetric). Per evaluation mmhook calls `reset`
 *  (when set) before the first batch, `process` once per val/test batch, then `compute` once,
 *  then `reset` again. Every metric built from one registered type (several config entries,
 *  several runners) shares the one `user_data`: a type must not be evaluated by two runners at
 *  the same time. The callbacks run on the thread that called mmh_runner_train/val/test and
 *  must not unwind. */
typedef struct mmh_metric_desc {
  size_t struct_size; /**< set by mmh_metric_desc_init */
  /** Accumulates one batch (read its tensors with mmh_metric_batch_get_data_tensor() and
   *  mmh_metric_batch_get_output_tensor()); returns MMH_OK, or an mmh_code_t that fails the
   *  run with that code (MMH_E_INTERNAL for a number outside mmh_code_t). The run's error
   *  names the metric type, "process" and the text given to mmh_metric_batch_set_error(). */
  mmh_code_t (*process)(mmh_metric_batch_t *batch, void *user_data);
  /** Writes the metrics over the batches since the last reset with
   *  mmh_metric_results_set_value(). A NaN value fails the run with MMH_E_INVALID_ARGUMENT
   *  naming the type and the value's name (save_best and early stopping cannot rank NaN);
   *  infinities are kept. Errors as for `process` ("compute", mmh_metric_results_set_error()). */
  mmh_code_t (*compute)(mmh_metric_results_t *results, void *user_data);
  /** Drops the accumulated state; may be NULL (a metric without state). */
  void (*reset)(void *user_data);
  void *user_data;            /**< passed to the callbacks; ownership passes to the library */
  mmh_free_fn user_data_free; /**< may be NULL; runs exactly once */
} mmh_metric_desc_t;
/** Fills a metric description with defaults (no callbacks). `struct_size` =
 *  sizeof(mmh_metric_desc_t) of the caller's header; does nothing for a NULL desc. */
MMH_API void mmh_metric_desc_init(mmh_metric_desc_t *desc, size_t struct_size);
/**
 * Registers a metric type named `name` for `val_evaluator`/`test_evaluator` entries
 * ({"type": name} or {"type": name, "prefix": "p"}, which names the results "p/<name>"), usable
 * like a built-in metric, also in a list or an {"type": "Evaluator"}. Process-wide and
 * thread-safe. Multi-process evaluation is refused: with a world size above 1 the evaluation
 * fails with MMH_E_DISTRIBUTED naming the metric type (a C metric cannot be gathered across
 * processes). Any struct_size from the struct's first version on is accepted.
 * Errors: MMH_E_INVALID_ARGUMENT (NULL desc, process or compute; NULL, empty or non-UTF-8 name;
 * a name taken by a built-in or registered metric type), MMH_E_ABI (struct_size below the first
 * version's), MMH_E_OOM. On error user_data_free runs now (except for a NULL desc and
 * MMH_E_ABI); otherwise once the type is unregistered and no metric built from it is alive.
 */
MMH_API mmh_error_t *mmh_metric_type_register(const char *name, const mmh_metric_desc_t *desc);
/** Removes a metric type registered from C (its user_data_free runs once no metric built from
 *  it is alive). MMH_E_NOT_FOUND if no metric type of that name was registered from C;
 *  MMH_E_INVALID_ARGUMENT for a NULL name. */
MMH_API mmh_error_t *mmh_metric_type_unregister(const char *name);
/** Sets *out to the loader batch's tensor `key` (borrowed, read-only, valid during the
 *  `process` call). Errors: MMH_E_INVALID_ARGUMENT (NULL batch, key or out),
 *  MMH_E_FAILED_PRECONDITION (batch used outside its call), MMH_E_NOT_FOUND (no such key). */
MMH_API mmh_error_t *mmh_metric_batch_get_data_tensor(const mmh_metric_batch_t *batch,
                                                      const char *key, const mmh_tensor_t **out);
/** Sets *out to the model's predict output `key` ("outputs" for the built-in models); as
 *  mmh_metric_batch_get_data_tensor(). */
MMH_API mmh_error_t *mmh_metric_batch_get_output_tensor(const mmh_metric_batch_t *batch,
                                                        const char *key, const mmh_tensor_t **out);
/** Sets the message (copied) the run's error carries when `process` returns a code other than
 *  MMH_OK. Errors: MMH_E_INVALID_ARGUMENT (NULL batch or message, message not UTF-8),
 *  MMH_E_FAILED_PRECONDITION (outside the call). */
MMH_API mmh_error_t *mmh_metric_batch_set_error(mmh_metric_batch_t *batch, const char *message);
/** Records the result `name` (copied; without the prefix) = value. Setting a name again
 *  replaces its value; results keep the order of their first setting. Errors:
 *  MMH_E_INVALID_ARGUMENT (NULL results or name, an empty or non-UTF-8 name),
 *  MMH_E_FAILED_PRECONDITION (outside the `compute` call). */
MMH_API mmh_error_t *mmh_metric_results_set_value(mmh_metric_results_t *results, const char *name,
                                                  double value);
/** Sets the message (copied) the run's error carries when `compute` returns a code other than
 *  MMH_OK; errors as mmh_metric_batch_set_error(). */
MMH_API mmh_error_t *mmh_metric_results_set_error(mmh_metric_results_t *results,
                                                  const char *message);

/* ------------------------------------------------------------------------------------------ */
/* Logging                                                                                    */

/** Log levels passed to a log callback. */
enum { MMH_LOG_DEBUG = 10, MMH_LOG_INFO = 20, MMH_LOG_WARNING = 30, MMH_LOG_ERROR = 40 };
/** Receives each log record (message without the time/level prefix; valid during the call). */
typedef void (*mmh_log_fn)(int32_t level, const char *message, void *user_data);
/** Routes the engine's log records to `fn` (in addition to the console and log file), or stops
 *  routing when fn is NULL. The previous user_data_free runs when replaced, after the new
 *  routing is in place and outside any engine lock (it may call mmh_log_set_callback itself).
 *  `fn` runs with no engine lock held and may call any mmhook function, including creating and
 *  running a runner; log records produced during its call on that thread go to the console and
 *  log file only, never back into `fn`. It may be called from several threads at once.
 *  With fn NULL, routing stops and user_data_free (if any) runs now. Errors: MMH_E_OOM (the
 *  previous routing stays in place; user_data_free runs now, as on every error). */
MMH_API mmh_error_t *mmh_log_set_callback(mmh_log_fn fn, void *user_data,
                                          mmh_free_fn user_data_free);
/** Routes the engine's log records to `fn`, or stops routing when fn is NULL.
 *  @deprecated Use mmh_log_set_callback(): when memory runs out this one keeps the previous
 *  routing without saying so. */
MMH_DEPRECATED("use mmh_log_set_callback")
MMH_API void mmh_log_set(mmh_log_fn fn, void *user_data, mmh_free_fn user_data_free);

#ifdef __cplusplus
}
#endif

#endif /* MMHOOK_H */

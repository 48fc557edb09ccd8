/**
 * @file mmhook.h
 * @brief The stable C ABI of libmmhook.so.
 *
 * Plain C99; includes only <stddef.h> and <stdint.h>. Every symbol is prefixed `mmh_` /
 * `MMH_`. Rules (docs/c_api.md, which also states the lifecycle and re-entrancy
 * rules): errors are returned as `mmh_error_t *` (NULL on success) and freed
 * with mmh_error_free(); no exception crosses this boundary; handles are opaque, created by
 * `mmh_X_create` and released by `mmh_X_destroy` (NULL accepted, never fails, any order);
 * strings in are UTF-8, NUL-terminated and copied when kept; strings out are borrowed with a
 * stated lifetime or written into a caller buffer (`buf`, `cap`, returning the full length);
 * callbacks take `user_data` last and `user_data_free` runs exactly once; input structs start
 * with `struct_size` and are filled by their `_init` function.
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

#ifdef __cplusplus
extern "C" {
#endif

#define MMH_VERSION_MAJOR 0 /**< Incremented on ABI breaks (and the SONAME with it). */
#define MMH_VERSION_MINOR 1 /**< Incremented on additions. */
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
/** Fills a hook description with defaults (priority NORMAL, no stages). `struct_size` = sizeof. */
MMH_API void mmh_hook_desc_init(mmh_hook_desc_t *desc, size_t struct_size);
/**
 * Registers a hook. Errors: MMH_E_INVALID_ARGUMENT (NULL runner/desc/fn/name, priority out of
 * range, stage bits beyond MMH_STAGE_COUNT, duplicate name), MMH_E_ABI (struct_size too small),
 * MMH_E_FAILED_PRECONDITION (while the runner is running). On error user_data_free runs now.
 */
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
 * current batch, without metrics); safe from any thread. NULL ok.
 */
MMH_API void mmh_runner_request_stop(mmh_runner_t *runner);
/** Writes MMEngine's get_hooks_info() text into buf (NUL-terminated, truncated to cap);
 *  returns the full length without the NUL. 0 for a NULL runner. */
MMH_API size_t mmh_runner_hooks_info(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the last val/test metrics as a JSON object into buf; returns the full length. */
MMH_API size_t mmh_runner_metrics_json(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the hook timing table (hook, stage, calls, total_ms, max_ms, timed_calls) as JSON into
 *  buf. By default per-iteration stages are timed one call in 64 and total_ms is extrapolated
 *  (timed_calls says how many were measured); MMHOOK_HOOK_TIMING=all times every call. */
MMH_API size_t mmh_runner_hook_timing_json(const mmh_runner_t *runner, char *buf, size_t cap);
/** Writes the path of the newest checkpoint ("" if none) into buf; returns the full length. */
MMH_API size_t mmh_runner_last_checkpoint(const mmh_runner_t *runner, char *buf, size_t cap);
/** Completed epochs / iterations of the runner (0 for NULL). */
MMH_API int64_t mmh_runner_epoch(const mmh_runner_t *runner);
/** See mmh_runner_epoch. */
MMH_API int64_t mmh_runner_iter(const mmh_runner_t *runner);

/* ------------------------------------------------------------------------------------------ */
/* Inside a hook call. Counters follow MMEngine: runner.epoch, runner.iter, batch_idx.         */
/* Every function returns MMH_E_INVALID_ARGUMENT for NULL arguments and                        */
/* MMH_E_FAILED_PRECONDITION for a ctx used outside its hook call (getters then return -1/0).  */

/** The stage being called; -1 outside a call. */
MMH_API mmh_stage_t mmh_ctx_stage(const mmh_hook_ctx_t *ctx);
/** runner.epoch. */
MMH_API int64_t mmh_ctx_epoch(const mmh_hook_ctx_t *ctx);
/** runner.iter. */
MMH_API int64_t mmh_ctx_iter(const mmh_hook_ctx_t *ctx);
/** batch_idx; -1 outside iteration stages. */
MMH_API int64_t mmh_ctx_batch_idx(const mmh_hook_ctx_t *ctx);
/** runner.max_epochs (0 without a train loop). */
MMH_API int64_t mmh_ctx_max_epochs(const mmh_hook_ctx_t *ctx);
/** runner.max_iters (0 without a train loop). */
MMH_API int64_t mmh_ctx_max_iters(const mmh_hook_ctx_t *ctx);
/** The current value of a message-hub scalar ("train/loss"); MMH_E_NOT_FOUND if absent. */
MMH_API mmh_code_t mmh_ctx_scalar(const mmh_hook_ctx_t *ctx, const char *key, double *out);
/** Appends a value to a message-hub scalar (logged like the built-in ones). */
MMH_API mmh_code_t mmh_ctx_update_scalar(mmh_hook_ctx_t *ctx, const char *key, double value);
/** Number of metrics (after_val_epoch / after_test_epoch; 0 elsewhere). */
MMH_API size_t mmh_ctx_metric_count(const mmh_hook_ctx_t *ctx);
/** The i-th metric; the name lives during the hook call. MMH_E_NOT_FOUND if i is out of range. */
MMH_API mmh_code_t mmh_ctx_metric_at(const mmh_hook_ctx_t *ctx, size_t i, const char **out_name,
                                     double *out_value);
/** Number of optimizer parameter groups (with MMEngine's base group when there are several). */
MMH_API size_t mmh_ctx_param_group_count(const mmh_hook_ctx_t *ctx);
/** Learning rate of a group; MMH_E_INVALID_ARGUMENT if group is out of range,
 *  MMH_E_FAILED_PRECONDITION without an optimizer. */
MMH_API mmh_code_t mmh_ctx_lr(const mmh_hook_ctx_t *ctx, size_t group, double *out);
/** Sets the learning rate of a group; MMH_E_INVALID_ARGUMENT if group is out of range or lr is
 *  negative, NaN, infinite or beyond float's range (FLT_MAX). */
MMH_API mmh_code_t mmh_ctx_set_lr(mmh_hook_ctx_t *ctx, size_t group, double lr);
/** A tensor of the call: "inputs", "targets" (iteration stages), "loss" (after_train_iter),
 *  "outputs" (after_val_iter / after_test_iter), or any other batch/output key. Borrowed: valid
 *  during the call; keep it with mmh_tensor_retain(). MMH_E_NOT_FOUND if absent. */
MMH_API mmh_code_t mmh_ctx_tensor(const mmh_hook_ctx_t *ctx, const char *key,
                                  const mmh_tensor_t **out);
/** Sets the message of an MMH_HOOK_ABORT (copied). */
MMH_API mmh_code_t mmh_ctx_set_error(mmh_hook_ctx_t *ctx, const char *message);
/** The failure's message during on_exception (lives during the call); MMH_E_NOT_FOUND elsewhere. */
MMH_API mmh_code_t mmh_ctx_error_message(const mmh_hook_ctx_t *ctx, const char **out);
/** Stores bytes under `hook_states/<hook name>/<key>` (before_save_checkpoint only). */
MMH_API mmh_code_t mmh_ctx_checkpoint_put(mmh_hook_ctx_t *ctx, const char *key, const void *data,
                                          size_t len);
/** Reads bytes stored by mmh_ctx_checkpoint_put (after_load_checkpoint only): copies up to cap
 *  bytes into buf and sets *out_len to the full length. MMH_E_NOT_FOUND if absent. */
MMH_API mmh_code_t mmh_ctx_checkpoint_get(const mmh_hook_ctx_t *ctx, const char *key, void *buf,
                                          size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* Tensors: metadata, a safe copy, zero-copy DLPack.                                          */

/** Number of dimensions (0 for NULL). */
MMH_API size_t mmh_tensor_ndim(const mmh_tensor_t *t);
/** The shape (ndim values); lives as long as t. NULL for NULL. */
MMH_API const int64_t *mmh_tensor_shape(const mmh_tensor_t *t);
/** Number of elements (0 for NULL). */
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
 *  Registrations are process-wide. MMH_E_INVALID_ARGUMENT if the name is taken. On error
 *  user_data_free runs now; otherwise at mmh_unregister_type(). */
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
/** Fills a dataset description with defaults. */
MMH_API void mmh_dataset_desc_init(mmh_dataset_desc_t *desc, size_t struct_size);
/** Registers a dataset type named `name` for configs ({"type": name}); process-wide. */
MMH_API mmh_error_t *mmh_register_dataset_type(const char *name, const mmh_dataset_desc_t *desc);
/** Sets a float32 array of a sample (copied). */
MMH_API mmh_code_t mmh_sample_set_f32(mmh_sample_t *sample, const char *name, const float *data,
                                      const int64_t *shape, size_t ndim);
/** Sets an int64 array of a sample (copied); ndim 0 gives a scalar (a class label). */
MMH_API mmh_code_t mmh_sample_set_i64(mmh_sample_t *sample, const char *name, const int64_t *data,
                                      const int64_t *shape, size_t ndim);
/** Removes a hook or dataset type registered from C (its user_data_free runs).
 *  MMH_E_NOT_FOUND if no C type has that name. */
MMH_API mmh_error_t *mmh_unregister_type(const char *name);

/* ------------------------------------------------------------------------------------------ */
/* Logging                                                                                    */

/** Log levels passed to a log callback. */
enum { MMH_LOG_DEBUG = 10, MMH_LOG_INFO = 20, MMH_LOG_WARNING = 30, MMH_LOG_ERROR = 40 };
/** Receives each log record (message without the time/level prefix; valid during the call). */
typedef void (*mmh_log_fn)(int32_t level, const char *message, void *user_data);
/** Routes the engine's log records to `fn` (in addition to the console and log file), or stops
 *  routing when fn is NULL. The previous user_data_free runs when replaced, after the new
 *  routing is in place and outside any engine lock (it may call mmh_log_set itself).
 *  `fn` runs with no engine lock held and may call any mmhook function, including creating and
 *  running a runner; log records produced during its call on that thread go to the console and
 *  log file only, never back into `fn`. It may be called from several threads at once. */
MMH_API void mmh_log_set(mmh_log_fn fn, void *user_data, mmh_free_fn user_data_free);

#ifdef __cplusplus
}
#endif

#endif /* MMHOOK_H */

/**
 * @file mmhook.h
 * @brief The stable C ABI of libmmhook.so (see CAPI.md). Plain C99; includes only <stddef.h>
 * and <stdint.h>. Every symbol is prefixed `mmh_` / `MMH_`.
 */
#ifndef MMHOOK_H
#define MMHOOK_H

#include <stddef.h>
#include <stdint.h>

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

/** Stage identifiers: MMEngine's Hook.stages order, then on_exception. */
typedef int32_t mmh_stage_t;
enum {
  MMH_STAGE_BEFORE_RUN = 0, MMH_STAGE_AFTER_LOAD_CHECKPOINT, MMH_STAGE_BEFORE_TRAIN,
  MMH_STAGE_BEFORE_TRAIN_EPOCH, MMH_STAGE_BEFORE_TRAIN_ITER, MMH_STAGE_AFTER_TRAIN_ITER,
  MMH_STAGE_AFTER_TRAIN_EPOCH, MMH_STAGE_BEFORE_VAL, MMH_STAGE_BEFORE_VAL_EPOCH,
  MMH_STAGE_BEFORE_VAL_ITER, MMH_STAGE_AFTER_VAL_ITER, MMH_STAGE_AFTER_VAL_EPOCH,
  MMH_STAGE_AFTER_VAL, MMH_STAGE_BEFORE_SAVE_CHECKPOINT, MMH_STAGE_AFTER_TRAIN,
  MMH_STAGE_BEFORE_TEST, MMH_STAGE_BEFORE_TEST_EPOCH, MMH_STAGE_BEFORE_TEST_ITER,
  MMH_STAGE_AFTER_TEST_ITER, MMH_STAGE_AFTER_TEST_EPOCH, MMH_STAGE_AFTER_TEST,
  MMH_STAGE_AFTER_RUN, MMH_STAGE_ON_EXCEPTION, MMH_STAGE_COUNT
};

/** Library version at run time: major << 16 | minor << 8 | patch. Never fails. */
MMH_API uint32_t mmh_version_number(void);
/** Library version as "major.minor.patch"; static storage, never freed. */
MMH_API const char *mmh_version_string(void);
/** MMEngine's name of a stage ("before_run", ...); static storage; NULL if out of range. */
MMH_API const char *mmh_stage_name(mmh_stage_t stage);

#ifdef __cplusplus
}
#endif

#endif /* MMHOOK_H */

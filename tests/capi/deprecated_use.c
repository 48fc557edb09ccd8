/* Compiled by the capi.deprecation_opt_in test with MMH_WARN_DEPRECATED: the call below must
 * be reported as deprecated, naming its replacement. Never linked. */
#include <mmhook.h>

size_t mmh_deprecated_use(const mmh_runner_t *runner, char *buf, size_t cap);
size_t mmh_deprecated_use(const mmh_runner_t *runner, char *buf, size_t cap) {
  return mmh_runner_hook_timing_json(runner, buf, cap);
}

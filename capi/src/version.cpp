#include "mmhook.h"

#include "mmhook/engine/stage.h"

extern "C" {

uint32_t mmh_version_number(void) {
  return (MMH_VERSION_MAJOR << 16) | (MMH_VERSION_MINOR << 8) | MMH_VERSION_PATCH;
}

const char *mmh_version_string(void) {
#define MMH_STR2(x) #x
#define MMH_STR(x) MMH_STR2(x)
  return MMH_STR(MMH_VERSION_MAJOR) "." MMH_STR(MMH_VERSION_MINOR) "." MMH_STR(MMH_VERSION_PATCH);
}

const char *mmh_stage_name(mmh_stage_t stage) {
  // stage_name() returns views of NUL-terminated literals.
  const auto name = mmhook::stage_name(static_cast<mmhook::Stage>(stage));
  return name.empty() ? nullptr : name.data();
}

}  // extern "C"

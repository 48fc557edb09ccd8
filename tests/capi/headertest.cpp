// The public header compiles alone as C++17.
#include <mmhook.h>

int mmh_headertest_cxx();
int mmh_headertest_cxx() {
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  return static_cast<int>(MMH_STAGE_COUNT) + desc.priority;
}

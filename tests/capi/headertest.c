/* The public header compiles alone as strict C99 (-std=c99 -pedantic -Werror). */
#include <mmhook.h>

int mmh_headertest_c(void);
int mmh_headertest_c(void) {
  mmh_hook_desc_t desc;
  mmh_hook_desc_init(&desc, sizeof desc);
  return (int)(MMH_STAGE_COUNT + MMH_STAGES_ALL + desc.priority);
}

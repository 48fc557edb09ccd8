#include "mmhook/engine/hook.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "mmhook/engine/runner.h"

namespace mmhook {

std::string Hook::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  std::string name = (status == 0 && demangled) ? demangled.get() : mangled;
  const size_t template_pos = name.find('<');
  const size_t colon = name.rfind("::", template_pos);
  if (colon != std::string::npos) name = name.substr(colon + 2);
  return name;
}

bool Hook::every_n_epochs(const Runner& runner, int64_t n, int64_t start) {
  const int64_t d = runner.epoch() + 1 - start;
  return n > 0 && d >= 0 && d % n == 0;
}

bool Hook::every_n_inner_iters(int64_t batch_idx, int64_t n) {
  return n > 0 && (batch_idx + 1) % n == 0;
}

bool Hook::every_n_train_iters(const Runner& runner, int64_t n, int64_t start) {
  const int64_t d = runner.iter() + 1 - start;
  return n > 0 && d >= 0 && d % n == 0;
}

bool Hook::end_of_epoch(int64_t dataloader_len, int64_t batch_idx) {
  return batch_idx + 1 == dataloader_len;
}

bool Hook::is_last_train_epoch(const Runner& runner) {
  return runner.epoch() + 1 == runner.max_epochs();
}

bool Hook::is_last_train_iter(const Runner& runner) {
  return runner.iter() + 1 == runner.max_iters();
}

}  // namespace mmhook

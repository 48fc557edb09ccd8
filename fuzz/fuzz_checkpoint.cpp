// libFuzzer target: the checkpoint loader (`deserialize_checkpoint`) on arbitrary bytes.
// Contract: it returns a checkpoint whose every tensor can be read, or throws mmhook::Error
// kCheckpoint naming the file. Any other exception, a crash or a sanitizer report is a bug.
#include "fuzz_common.h"

#include <mmhook/checkpoint/checkpoint.h>

#include <ATen/core/ivalue.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(reinterpret_cast<const char*>(data),
                                reinterpret_cast<const char*>(data) + size);
  mmhook::fuzz::expect_mmhook_error(mmhook::Code::kCheckpoint, "fuzz.pth", [&] {
    const mmhook::Checkpoint ckpt = mmhook::deserialize_checkpoint(bytes, "fuzz.pth");
    // Read every tensor's bytes (the checksum walks them all): a tensor whose sizes or
    // storage offset reach past its storage must have been rejected by the loader.
    (void)mmhook::checkpoint_checksum(c10::IValue(ckpt.dict()));
  });
  return 0;
}

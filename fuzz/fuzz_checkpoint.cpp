// libFuzzer target: the checkpoint loader (`deserialize_checkpoint`) on arbitrary bytes.
// Contract: it returns a checkpoint whose every tensor can be read, or throws mmhook::Error
// kCheckpoint naming the file. Any other exception, a crash or a sanitizer report is a bug.
#include "fuzz_common.h"

#include <mmhook/checkpoint/checkpoint.h>

#include <ATen/core/ivalue.h>

#include <optional>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(reinterpret_cast<const char*>(data),
                                reinterpret_cast<const char*>(data) + size);
  std::optional<mmhook::Checkpoint> ckpt;
  mmhook::fuzz::expect_mmhook_error(mmhook::Code::kCheckpoint, "fuzz.pth", [&] {
    ckpt = mmhook::deserialize_checkpoint(bytes, "fuzz.pth");
  });
  if (!ckpt) return 0;
  // Read every tensor's bytes (the checksum walks them all): a tensor whose sizes or storage
  // offset reach past its storage must have been rejected by the loader. The checksum may
  // refuse a kind of tensor it does not hash (quantized, sparse) with an mmhook::Error.
  mmhook::fuzz::expect_mmhook_error(
      std::nullopt, "", [&] { (void)mmhook::checkpoint_checksum(c10::IValue(ckpt->dict())); });
  return 0;
}

// libFuzzer target: the idx dataset reader (`read_idx_file`, plain and gzipped) on arbitrary
// bytes. Contract: a uint8 tensor of the header's dims, or mmhook::Error naming the file.
#include "fuzz_common.h"

#include <mmhook/data/mnist.h>

#include <ATen/core/Tensor.h>

#include <cstdio>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = mmhook::fuzz::scratch_dir() + "/fuzz.idx";
  mmhook::fuzz::write_file(path, data, size);
  // The first byte of a plain file is 0 (the magic's high byte), of a gzip file 0x1f; both
  // kinds reach the reader. Each input is tried as images and as labels.
  for (const uint32_t magic : {0x803u, 0x801u}) {
    mmhook::fuzz::expect_mmhook_error(std::nullopt, path, [&] {
      const at::Tensor t = mmhook::read_idx_file(path, magic);
      // Touch every element: the tensor must own as many bytes as its dims say.
      if (t.numel() > 0) (void)t.sum().item<int64_t>();
    });
  }
  return 0;
}

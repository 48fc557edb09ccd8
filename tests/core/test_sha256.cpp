// sha256_hex (core/sha256.h) against FIPS 180-4's examples and the padding boundaries.

#include "mmhook/core/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace mmhook {
namespace {

std::string sha(const std::string& s) { return sha256_hex(s.data(), s.size()); }

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, PaddingBoundaries) {
  // 55 bytes fit one block with the length; 56 and 64 need a second.
  EXPECT_EQ(sha(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256Test, EveryByteValueCountsAndNulBytesAreData) {
  const std::string zeros(3, '\0');
  EXPECT_EQ(sha(zeros).size(), 64U);
  EXPECT_NE(sha(zeros), sha(""));
  EXPECT_NE(sha(zeros), sha(std::string(2, '\0')));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string flipped = all;
  flipped[200] = static_cast<char>(flipped[200] ^ 1);
  EXPECT_NE(sha(all), sha(flipped));
  EXPECT_EQ(sha(all), sha(all));
}

}  // namespace
}  // namespace mmhook

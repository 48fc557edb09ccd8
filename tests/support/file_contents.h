#pragma once
// The whole content of a file as bytes ("" when it cannot be opened), for tests that check what
// was written.

#include <fstream>
#include <iterator>
#include <string>

namespace mmhook::testing {

inline std::string file_contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace mmhook::testing

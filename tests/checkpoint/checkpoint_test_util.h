#pragma once
// Helpers shared by the checkpoint tests: scratch folders, file bytes, Python runs, deep compare.

#include <gtest/gtest.h>
#include <torch/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mmhook::testing {

/// A fresh folder under the system temp folder, removed at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("mmhook_ckpt_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" +
             info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }
  /// Names of the entries in the folder, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Whether Debian's Python has torch.
inline bool python_has_torch() {
  static const bool has = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return has;
}

/// Runs `/usr/bin/python3 script args` with the script written to `dir`; returns the exit status
/// and puts stdout+stderr in `output`.
inline int run_python(const ScratchDir& dir, const std::string& script, const std::string& args,
                      std::string& output) {
  const auto script_path = dir.file("script.py");
  const auto out_path = dir.file("script.out");
  write_text(script_path, script);
  const std::string cmd =
      "/usr/bin/python3 '" + script_path + "' " + args + " >'" + out_path + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out_path);
  output.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return rc;
}

/// Deep equality of IValue trees (tensors: dtype, shape and values; dicts: keys in order).
inline ::testing::AssertionResult ivalue_equal(const c10::IValue& a, const c10::IValue& b,
                                               const std::string& where = "root") {
  auto fail = [&](const std::string& why) {
    return ::testing::AssertionFailure() << where << ": " << why;
  };
  if (a.isTensor() || b.isTensor()) {
    if (!a.isTensor() || !b.isTensor()) return fail("tensor vs non-tensor");
    const auto& x = a.toTensor();
    const auto& y = b.toTensor();
    if (x.scalar_type() != y.scalar_type()) return fail("dtype differs");
    if (x.sizes() != y.sizes()) return fail("shape differs");
    if (!torch::equal(x, y)) return fail("values differ");
    return ::testing::AssertionSuccess();
  }
  if (a.isGenericDict() || b.isGenericDict()) {
    if (!a.isGenericDict() || !b.isGenericDict()) return fail("dict vs non-dict");
    const auto x = a.toGenericDict();
    const auto y = b.toGenericDict();
    if (x.size() != y.size()) return fail("dict sizes differ");
    auto it = y.begin();
    for (const auto& e : x) {
      if (!(e.key() == it->key())) return fail("dict keys differ in order or value");
      auto r = ivalue_equal(
          e.value(), it->value(),
          where + "." +
              (e.key().isString() ? e.key().toStringRef() : std::to_string(e.key().toInt())));
      if (!r) return r;
      ++it;
    }
    return ::testing::AssertionSuccess();
  }
  if (a.isList() || b.isList() || a.isTuple() || b.isTuple()) {
    if (a.isList() != b.isList() || a.isTuple() != b.isTuple())
      return fail("list/tuple kind differs");
    std::vector<c10::IValue> x, y;
    if (a.isList()) {
      for (const auto& v : a.toListRef()) x.push_back(v);
      for (const auto& v : b.toListRef()) y.push_back(v);
    } else {
      x = a.toTupleRef().elements().vec();
      y = b.toTupleRef().elements().vec();
    }
    if (x.size() != y.size()) return fail("lengths differ");
    for (size_t i = 0; i < x.size(); ++i) {
      auto r = ivalue_equal(x[i], y[i], where + "[" + std::to_string(i) + "]");
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (a.tagKind() != b.tagKind())
    return fail(std::string("kinds differ: ") + a.tagKind() + " vs " + b.tagKind());
  if (a.isDouble()) {
    return a.toDouble() == b.toDouble() ? ::testing::AssertionSuccess() : fail("doubles differ");
  }
  return a == b ? ::testing::AssertionSuccess() : fail("values differ");
}

}  // namespace mmhook::testing

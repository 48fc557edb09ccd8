#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/serialize.h>
#include <torch/types.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "checkpoint/checkpoint_test_util.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

using testing::ivalue_equal;
using testing::ScratchDir;

// The error raised by `fn`; fails the test when nothing is thrown.
template <class Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected mmhook::Error";
  return Error(Code::kOk, "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A checkpoint shaped like MMEngine's: meta, state_dict, optimizer (PyTorch layout with int
// keys), message_hub, and mmhook's hook_states.
Checkpoint make_mmengine_like_checkpoint() {
  Checkpoint ckpt;
  ckpt.set_meta("epoch", int64_t{2});
  ckpt.set_meta("iter", int64_t{8});
  ckpt.set_meta("seed", int64_t{42});
  ckpt.set_meta("experiment_name", std::string("toy_20240101_000000"));
  auto state_dict = make_generic_dict();
  state_dict.insert("linear1.weight", torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}}));
  state_dict.insert("linear1.bias", torch::tensor({0.0f, 0.1f}));
  state_dict.insert("bn.num_batches_tracked", torch::tensor(int64_t{7}));
  ckpt.set("state_dict", state_dict);

  auto param_state = make_generic_dict();
  param_state.insert("momentum_buffer", torch::full({2, 2}, 0.5f));
  auto state = c10::impl::GenericDict(c10::IntType::get(), c10::AnyType::get());
  state.insert(int64_t{0}, param_state);
  auto group = make_generic_dict();
  group.insert("lr", 0.01);
  group.insert("momentum", 0.9);
  group.insert("nesterov", false);
  group.insert("params", c10::List<int64_t>({0, 1}));
  auto groups = make_generic_list();
  groups.push_back(group);
  auto optimizer = make_generic_dict();
  optimizer.insert("state", state);
  optimizer.insert("param_groups", groups);
  ckpt.set("optimizer", optimizer);

  auto message_hub = make_generic_dict();
  message_hub.insert("runtime_info",
                     json_to_ivalue(nlohmann::json::parse(R"({"epoch": 1, "iter": 7})")));
  ckpt.set("message_hub", message_hub);
  const char blob[] = {'a', 'b', 'c', '\0', '\xff'};
  ckpt.put_hook_state("CHook", "blob", bytes_to_ivalue(blob, sizeof blob));
  ckpt.put_hook_state("EMAHook", "steps", int64_t{5});
  return ckpt;
}

// ------------------------------------------------------------------------------- dict access

TEST(CheckpointTest, SetGetEraseKeepInsertionOrder) {
  Checkpoint ckpt;
  EXPECT_TRUE(ckpt.keys().empty());
  ckpt.set("meta", make_generic_dict());
  ckpt.set("state_dict", make_generic_dict());
  ckpt.set("optimizer", int64_t{1});
  ckpt.set("meta", int64_t{3});  // replacing keeps the position
  EXPECT_EQ(ckpt.keys(), (std::vector<std::string>{"meta", "state_dict", "optimizer"}));
  EXPECT_EQ(ckpt.get("meta").toInt(), 3);
  EXPECT_TRUE(ckpt.contains("optimizer"));
  EXPECT_TRUE(ckpt.erase("optimizer"));
  EXPECT_FALSE(ckpt.erase("optimizer"));
  EXPECT_FALSE(ckpt.contains("optimizer"));
}

TEST(CheckpointTest, GetOfMissingKeyIsNotFoundNamingIt) {
  Checkpoint ckpt;
  ckpt.set("meta", make_generic_dict());
  const auto e = error_of([&] { ckpt.get("ema_state_dict"); });
  EXPECT_EQ(e.code(), Code::kNotFound);
  EXPECT_TRUE(contains(e.what(), "'ema_state_dict'")) << e.what();
}

TEST(CheckpointTest, MetaIsCreatedOnDemandAndLive) {
  Checkpoint ckpt;
  EXPECT_EQ(ckpt.meta().size(), 0u);
  EXPECT_FALSE(ckpt.contains("meta"));
  ckpt.set_meta("epoch", int64_t{4});
  ckpt.set_meta("iter", int64_t{16});
  EXPECT_EQ(ckpt.meta().at("epoch").toInt(), 4);
  ckpt.meta().insert_or_assign("iter", int64_t{17});  // a live view of the stored dict
  EXPECT_EQ(ckpt.get("meta").toGenericDict().at("iter").toInt(), 17);
}

TEST(CheckpointTest, HookStatesNestPerHookAndKey) {
  Checkpoint ckpt;
  EXPECT_FALSE(ckpt.get_hook_state("EMAHook", "steps").has_value());
  ckpt.put_hook_state("EMAHook", "steps", int64_t{5});
  ckpt.put_hook_state("EMAHook", "decay", 0.999);
  const std::string raw("\x01\x00\x02", 3);
  ckpt.put_hook_state("my_c_hook", "state", bytes_to_ivalue(raw.data(), raw.size()));
  EXPECT_EQ(ckpt.get_hook_state("EMAHook", "steps")->toInt(), 5);
  EXPECT_DOUBLE_EQ(ckpt.get_hook_state("EMAHook", "decay")->toDouble(), 0.999);
  EXPECT_FALSE(ckpt.get_hook_state("EMAHook", "missing").has_value());
  EXPECT_FALSE(ckpt.get_hook_state("OtherHook", "steps").has_value());
  const auto blob = *ckpt.get_hook_state("my_c_hook", "state");
  EXPECT_EQ(blob.toTensor().scalar_type(), torch::kByte);
  EXPECT_EQ(ivalue_to_bytes(blob), raw);
  const auto hooks = ckpt.get("hook_states").toGenericDict();
  EXPECT_EQ(hooks.size(), 2u);
}

TEST(CheckpointTest, NonStringTopLevelKeyIsRejected) {
  auto dict = c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get());
  dict.insert(int64_t{1}, int64_t{2});
  EXPECT_EQ(error_of([&] { Checkpoint c(dict); }).code(), Code::kCheckpoint);
}

// -------------------------------------------------------------------------------- checksum

// A fixed dict whose digests are pinned below: a change to either algorithm breaks them.
c10::IValue known_answer_dict() {
  auto meta = make_generic_dict();
  meta.insert("epoch", int64_t{3});
  meta.insert("note", std::string("known answer"));
  auto state = make_generic_dict();
  state.insert("w", torch::arange(37, torch::kFloat));
  state.insert("b", torch::tensor({1.5, -2.0}, torch::kDouble));
  auto top = make_generic_dict();
  top.insert("meta", meta);
  top.insert("state_dict", state);
  top.insert("lr", 0.1);
  return c10::IValue(top);
}

TEST(CheckpointChecksumTest, KnownAnswersOfBothFormats) {
  // mmhook 0.1's FNV-1a over every byte (this value was computed by 0.1's code): files it wrote
  // must keep verifying.
  EXPECT_EQ(checkpoint_checksum(known_answer_dict(), ChecksumFormat::kFnv1a64), "2a84e19346a9c5a4");
  // The mmh64 value is not derived from a spec: it was recorded from the code that defined the
  // format, and freezes it, so that files written since keep verifying. An algorithm change
  // needs a new prefix, not a new value here.
  EXPECT_EQ(checkpoint_checksum(known_answer_dict()), "mmh64:21b677b1b8a35f27");
  EXPECT_EQ(checksum_format("2a84e19346a9c5a4"), ChecksumFormat::kFnv1a64);
  EXPECT_EQ(checksum_format("mmh64:2a84e19346a9c5a4"), ChecksumFormat::kMmh64);
  for (const char* bad :
       {"", "2a84e19346a9c5a", "2A84E19346A9C5A4", "mmh64:", "mmh64:2a84e19346a9c5a4 ",
        "sha256:2a84e19346a9c5a4", "mmh65:2a84e19346a9c5a4", "2a84e19346a9c5g4"})
    EXPECT_EQ(checksum_format(bad), std::nullopt) << bad;
}

TEST(CheckpointChecksumTest, EveryBitFlipInTensorDataChangesTheDigest) {
  // 77 bytes: two 32-byte blocks, a whole word after them and a 5-byte tail.
  const at::Tensor original = torch::arange(77, torch::kInt32).to(torch::kByte);
  auto dict_with = [](const at::Tensor& t) {
    auto d = make_generic_dict();
    d.insert("t", t);
    return c10::IValue(d);
  };
  const std::string sum = checkpoint_checksum(dict_with(original));
  std::set<std::string> seen{sum};
  for (int64_t byte = 0; byte < original.numel(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      at::Tensor flipped = original.clone();
      auto* p = flipped.data_ptr<uint8_t>();
      p[byte] = static_cast<uint8_t>(p[byte] ^ (1u << bit));
      const std::string s = checkpoint_checksum(dict_with(flipped));
      EXPECT_NE(s, sum) << "byte " << byte << " bit " << bit;
      seen.insert(s);
    }
  }
  EXPECT_EQ(seen.size(), 1u + 77u * 8u);  // and no two flips collide
  // The same bytes in another dtype or shape, or one byte more or less, differ too.
  EXPECT_NE(checkpoint_checksum(dict_with(original.view(torch::kInt8))), sum);
  EXPECT_NE(checkpoint_checksum(dict_with(original.view({7, 11}))), sum);
  EXPECT_NE(checkpoint_checksum(dict_with(original.narrow(0, 0, 76))), sum);
}

TEST(CheckpointChecksumTest, CheckpointsWithTheOldChecksumStillLoad) {
  // A file as mmhook 0.1 wrote it: meta.checksum is FNV-1a over every byte, 16 hex digits.
  auto dict = make_mmengine_like_checkpoint().dict().copy();
  auto meta = dict.at("meta").toGenericDict().copy();
  dict.insert_or_assign("meta", meta);
  meta.insert_or_assign("checksum",
                        checkpoint_checksum(c10::IValue(dict), ChecksumFormat::kFnv1a64));
  const auto bytes = torch::jit::pickle_save(c10::IValue(dict));
  const auto loaded = deserialize_checkpoint(bytes, "old.pth");
  EXPECT_EQ(loaded.meta().at("checksum").toStringRef().size(), 16u);
  // ... and a damaged one of those is still caught.
  dict.at("state_dict").toGenericDict().at("linear1.weight").toTensor()[0][0] = 7.0f;
  try {
    deserialize_checkpoint(torch::jit::pickle_save(c10::IValue(dict)), "old.pth");
    FAIL() << "expected a checksum mismatch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST(CheckpointChecksumTest, AChecksumInNoKnownFormatIsNamed) {
  auto dict = make_mmengine_like_checkpoint().dict().copy();
  auto meta = dict.at("meta").toGenericDict().copy();
  meta.insert_or_assign("checksum", std::string("sha256:$(touch x)\n\"!"));
  dict.insert_or_assign("meta", meta);
  try {
    deserialize_checkpoint(torch::jit::pickle_save(c10::IValue(dict)), "odd.pth");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("odd.pth"), std::string::npos) << what;
    EXPECT_NE(what.find("meta.checksum 'sha256:$(touch x)\\x0a\"!' is in no known format"),
              std::string::npos)
        << what;
  }
}

TEST(CheckpointChecksumTest, DeterministicAndSensitiveToContent) {
  const auto a = make_mmengine_like_checkpoint();
  const auto b = make_mmengine_like_checkpoint();
  const auto sum = checkpoint_checksum(a.dict());
  EXPECT_EQ(sum.size(), 22u);  // mmh64: and 16 hex digits
  EXPECT_EQ(sum, checkpoint_checksum(b.dict()));
  // The stored checksum itself is not part of the digest.
  b.meta().insert_or_assign("checksum", std::string("whatever"));
  EXPECT_EQ(sum, checkpoint_checksum(b.dict()));
  // One element of one tensor, a dtype, a shape, a scalar type or a key changes it.
  b.get("state_dict").toGenericDict().at("linear1.weight").toTensor()[0][1] = 0.25f;
  EXPECT_NE(sum, checkpoint_checksum(b.dict()));
  const auto c = make_mmengine_like_checkpoint();
  c.get("state_dict")
      .toGenericDict()
      .insert_or_assign("linear1.bias", torch::tensor({0.0, 0.1}, torch::kDouble));
  EXPECT_NE(sum, checkpoint_checksum(c.dict()));
  const auto d = make_mmengine_like_checkpoint();
  d.get("state_dict")
      .toGenericDict()
      .insert_or_assign("linear1.bias", torch::tensor({{0.0f, 0.1f}}));
  EXPECT_NE(sum, checkpoint_checksum(d.dict()));
  auto e = make_mmengine_like_checkpoint();
  e.set_meta("epoch", 2.0);
  EXPECT_NE(sum, checkpoint_checksum(e.dict()));
}

TEST(CheckpointChecksumTest, SerializeStoresChecksumWithoutTouchingCaller) {
  const auto ckpt = make_mmengine_like_checkpoint();
  const auto bytes = serialize_checkpoint(ckpt);
  EXPECT_FALSE(ckpt.meta().contains("checksum"));
  const auto loaded = deserialize_checkpoint(bytes, "mem");
  const auto stored = loaded.meta().at("checksum").toStringRef();
  EXPECT_EQ(stored, checkpoint_checksum(ckpt.dict()));
  EXPECT_EQ(loaded.keys(), ckpt.keys());
  // A checkpoint without meta gets one, first, as MMEngine's layout has it.
  Checkpoint bare;
  bare.set("state_dict", make_generic_dict());
  EXPECT_EQ(deserialize_checkpoint(serialize_checkpoint(bare), "mem").keys(),
            (std::vector<std::string>{"meta", "state_dict"}));
}

// ------------------------------------------------------------------------------ round trip

TEST(CheckpointFileTest, NestedRoundTripKeepsEveryValue) {
  ScratchDir dir;
  auto ckpt = make_mmengine_like_checkpoint();
  auto nested = make_generic_dict();
  nested.insert("doubles", c10::List<double>({0.5, -1.25, 1e-300}));
  nested.insert(
      "mixed",
      json_to_ivalue(nlohmann::json::parse(R"([1, 2.5, "x", null, true, [[]], {"k": {"v": 3}}])")));
  nested.insert("tuple", c10::ivalue::Tuple::create(
                             {c10::IValue(int64_t{1}), c10::IValue(std::string("two"))}));
  nested.insert("half", torch::arange(6, torch::kHalf).reshape({2, 3}));
  nested.insert("uint8", torch::tensor({0, 128, 255}, torch::kByte));
  nested.insert("bool", torch::tensor({true, false}));
  nested.insert("int64", torch::tensor({int64_t{1} << 40, int64_t{-3}}));
  nested.insert("noncontig", torch::arange(12, torch::kFloat).reshape({3, 4}).t());
  nested.insert("scalar", torch::tensor(3.5, torch::kDouble));
  nested.insert("empty", torch::zeros({0, 4}));
  nested.insert("neg_zero_nan", torch::tensor({-0.0f, std::nanf("")}));
  ckpt.set("loop_state", nested);

  const auto path = dir.file("epoch_2.pth");
  save_checkpoint_file(path, ckpt);
  const auto loaded = load_checkpoint_file(path);
  auto expected = loaded.dict().copy();
  auto meta = loaded.meta().copy();
  EXPECT_EQ(meta.at("checksum").toStringRef().size(), 22u);
  EXPECT_EQ(meta.erase("checksum"), 1u);
  expected.insert_or_assign("meta", meta);
  auto original = ckpt.dict().copy();
  // NaN != NaN, compare that tensor bit-wise instead.
  const auto nan_loaded = loaded.get("loop_state").toGenericDict().at("neg_zero_nan").toTensor();
  EXPECT_TRUE(torch::equal(nan_loaded.view(torch::kInt),
                           nested.at("neg_zero_nan").toTensor().view(torch::kInt)));
  EXPECT_EQ(expected.at("loop_state").toGenericDict().erase("neg_zero_nan"), 1u);
  EXPECT_EQ(nested.erase("neg_zero_nan"), 1u);
  EXPECT_TRUE(ivalue_equal(c10::IValue(expected), c10::IValue(original)));
  // The non-contiguous view comes back with the same values.
  EXPECT_TRUE(torch::equal(loaded.get("loop_state").toGenericDict().at("noncontig").toTensor(),
                           torch::arange(12, torch::kFloat).reshape({3, 4}).t()));
  EXPECT_EQ(ivalue_to_bytes(*loaded.get_hook_state("CHook", "blob")), std::string("abc\0\xff", 5));
}

TEST(CheckpointFileTest, LastCheckpointTextFileRoundTrip) {
  ScratchDir dir;
  const auto path = dir.file("last_checkpoint");
  write_file_atomic(path, dir.file("epoch_1.pth"));
  EXPECT_EQ(read_text_file(path), dir.file("epoch_1.pth"));
  write_file_atomic(path, dir.file("epoch_2.pth"));
  EXPECT_EQ(read_text_file(path), dir.file("epoch_2.pth"));
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"last_checkpoint"}));
}

TEST(CheckpointFileTest, ReadTextFileOfMissingFileIsIoNamingIt) {
  ScratchDir dir;
  const auto e = error_of([&] { read_text_file(dir.file("nope.txt")); });
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_TRUE(contains(e.what(), dir.file("nope.txt"))) << e.what();
  EXPECT_TRUE(contains(e.what(), std::strerror(ENOENT))) << e.what();
}

// --------------------------------------------------------------------------------- atomicity

TEST(CheckpointAtomicWriteTest, LeavesOnlyTheTargetAndReplacesIt) {
  ScratchDir dir;
  const auto path = dir.file("iter_4.pth");
  auto ckpt = make_mmengine_like_checkpoint();
  save_checkpoint_file(path, ckpt);
  ckpt.set_meta("iter", int64_t{99});
  save_checkpoint_file(path, ckpt);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"iter_4.pth"}));
  EXPECT_EQ(load_checkpoint_file(path).meta().at("iter").toInt(), 99);
  const auto perms = std::filesystem::status(path).permissions();
  EXPECT_NE(perms & std::filesystem::perms::others_read, std::filesystem::perms::none);
}

TEST(CheckpointAtomicWriteTest, MissingFolderIsIoNamingThePath) {
  ScratchDir dir;
  const auto path = dir.file("no_such_dir/epoch_1.pth");
  const auto e = error_of([&] { save_checkpoint_file(path, make_mmengine_like_checkpoint()); });
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), std::strerror(ENOENT))) << e.what();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CheckpointAtomicWriteTest, FolderThatIsAFileKeepsThatFileIntact) {
  ScratchDir dir;
  const auto previous = dir.file("epoch_1.pth");
  save_checkpoint_file(previous, make_mmengine_like_checkpoint());
  const auto before = testing::read_bytes(previous);
  const auto path = previous + "/epoch_2.pth";
  const auto e = error_of([&] { save_checkpoint_file(path, make_mmengine_like_checkpoint()); });
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), std::strerror(ENOTDIR))) << e.what();
  EXPECT_EQ(testing::read_bytes(previous), before);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"epoch_1.pth"}));
}

TEST(CheckpointAtomicWriteTest, FailedRenameRemovesTheTempFile) {
  ScratchDir dir;
  // The target is a non-empty folder: the temp file is written, then rename fails.
  const auto path = dir.file("epoch_3.pth");
  std::filesystem::create_directories(path + "/keep");
  const auto e = error_of([&] { save_checkpoint_file(path, make_mmengine_like_checkpoint()); });
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), "rename")) << e.what();
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"epoch_3.pth"}));
  EXPECT_TRUE(std::filesystem::is_directory(path + "/keep"));
}

TEST(CheckpointAtomicWriteTest, ReadOnlyFolderKeepsPreviousFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores folder permissions";
  ScratchDir dir;
  const auto path = dir.file("epoch_1.pth");
  auto ckpt = make_mmengine_like_checkpoint();
  save_checkpoint_file(path, ckpt);
  const auto before = testing::read_bytes(path);
  std::filesystem::permissions(
      dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  ckpt.set_meta("epoch", int64_t{5});
  const auto e = error_of([&] { save_checkpoint_file(path, ckpt); });
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), std::strerror(EACCES))) << e.what();
  EXPECT_EQ(testing::read_bytes(path), before);
  EXPECT_EQ(load_checkpoint_file(path).meta().at("epoch").toInt(), 2);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"epoch_1.pth"}));
}

// -------------------------------------------------------------------------------- corruption

// Loads `path` and returns the error, checking it is kCheckpoint and names the file.
Error load_error(const std::string& path) {
  auto e = error_of([&] { load_checkpoint_file(path); });
  EXPECT_EQ(e.code(), Code::kCheckpoint) << e.what();
  EXPECT_TRUE(contains(e.what(), "checkpoint '" + path + "': ")) << e.what();
  return e;
}

TEST(CheckpointCorruptionTest, FlippedTensorByteIsDetected) {
  ScratchDir dir;
  auto ckpt = make_mmengine_like_checkpoint();
  const auto marker = torch::arange(1000.0f, 1064.0f);
  ckpt.get("state_dict").toGenericDict().insert("marker", marker);
  auto bytes = serialize_checkpoint(ckpt);
  // Find the tensor's raw data inside the archive and flip one bit in the middle of it.
  const auto* first = static_cast<const char*>(marker.data_ptr());
  const size_t len = static_cast<size_t>(marker.numel()) * sizeof(float);
  auto it = std::search(bytes.begin(), bytes.end(), first, first + len);
  ASSERT_NE(it, bytes.end());
  *(it + len / 2) ^= 0x01;
  const auto path = dir.file("epoch_1.pth");
  testing::write_bytes(path, bytes);
  const auto e = load_error(path);
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "checksum mismatch") || contains(what, "CRC") || contains(what, "crc"))
      << what;
}

TEST(CheckpointCorruptionTest, StaleChecksumIsChecksumMismatch) {
  ScratchDir dir;
  auto ckpt = make_mmengine_like_checkpoint();
  ckpt.set_meta("checksum", std::string("0123456789abcdef"));
  const auto path = dir.file("epoch_1.pth");
  testing::write_bytes(path, torch::pickle_save(c10::IValue(ckpt.dict())));
  const auto e = load_error(path);
  EXPECT_TRUE(contains(e.what(), "checksum mismatch")) << e.what();
  EXPECT_TRUE(contains(e.what(), "0123456789abcdef")) << e.what();
}

TEST(CheckpointCorruptionTest, NoChecksumIsAcceptedAsLegacy) {
  ScratchDir dir;
  const auto ckpt = make_mmengine_like_checkpoint();
  const auto path = dir.file("legacy.pth");
  testing::write_bytes(path, torch::pickle_save(c10::IValue(ckpt.dict())));
  const auto loaded = load_checkpoint_file(path);
  EXPECT_TRUE(ivalue_equal(c10::IValue(loaded.dict()), c10::IValue(ckpt.dict())));
}

TEST(CheckpointCorruptionTest, TruncatedFileNamesTheFile) {
  ScratchDir dir;
  const auto bytes = serialize_checkpoint(make_mmengine_like_checkpoint());
  const auto path = dir.file("epoch_1.pth");
  for (size_t keep : {bytes.size() / 2, bytes.size() - 10, size_t{100}}) {
    testing::write_bytes(path,
                         std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(keep)));
    const auto e = load_error(path);
    EXPECT_TRUE(contains(e.what(), "truncated")) << e.what();
  }
}

TEST(CheckpointCorruptionTest, EmptyFileNamesTheFile) {
  ScratchDir dir;
  const auto path = dir.file("empty.pth");
  testing::write_bytes(path, {});
  EXPECT_TRUE(contains(load_error(path).what(), "empty"));
}

TEST(CheckpointCorruptionTest, RandomBytesAreWrongFormat) {
  ScratchDir dir;
  const auto path = dir.file("random.pth");
  std::vector<char> bytes(4096);
  auto gen = torch::randint(0, 256, {4096}, torch::TensorOptions().dtype(torch::kByte));
  std::memcpy(bytes.data(), gen.data_ptr(), bytes.size());
  bytes[0] = 'Z';
  testing::write_bytes(path, bytes);
  EXPECT_TRUE(contains(load_error(path).what(), "not a PyTorch archive"));
  // Random bytes behind a zip signature are a corrupt archive.
  bytes[0] = 'P';
  bytes[1] = 'K';
  bytes[2] = 3;
  bytes[3] = 4;
  testing::write_bytes(path, bytes);
  EXPECT_TRUE(contains(load_error(path).what(), "truncated or corrupt"));
}

TEST(CheckpointCorruptionTest, MissingFileNamesTheFile) {
  ScratchDir dir;
  EXPECT_TRUE(contains(load_error(dir.file("epoch_9.pth")).what(), "file not found"));
}

TEST(CheckpointCorruptionTest, ArchiveOfANonDictIsWrongFormat) {
  ScratchDir dir;
  const auto path = dir.file("list.pth");
  testing::write_bytes(path, torch::pickle_save(c10::IValue(c10::List<int64_t>({1, 2}))));
  EXPECT_TRUE(contains(load_error(path).what(), "not a dict"));
}

TEST(CheckpointCorruptionTest, BareStateDictLoadsUnderStateDict) {
  auto sd = make_generic_dict();
  sd.insert("linear1.weight", torch::ones({2, 2}));
  sd.insert("linear1.bias", torch::zeros({2}));
  const auto loaded = deserialize_checkpoint(torch::pickle_save(c10::IValue(sd)), "bare.pth");
  EXPECT_EQ(loaded.keys(), std::vector<std::string>{"state_dict"});
  EXPECT_TRUE(ivalue_equal(loaded.get("state_dict"), c10::IValue(sd)));
}

// --------------------------------------------------------------------------- Python interop

size_t keys_of_state_dict(const Checkpoint& ckpt) {
  return ckpt.get("state_dict").toGenericDict().size();
}

TEST(CheckpointPythonTest, TorchLoadReadsMMEngineKeysAndValues) {
  if (!testing::python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  ScratchDir dir;
  const auto path = dir.file("epoch_2.pth");
  const auto ckpt = make_mmengine_like_checkpoint();
  save_checkpoint_file(path, ckpt);
  const std::string script = R"PY(
import sys, torch
ck = torch.load(sys.argv[1])
assert isinstance(ck, dict), type(ck)
assert list(ck.keys()) == ['meta', 'state_dict', 'optimizer', 'message_hub', 'hook_states'], list(ck.keys())
meta = ck['meta']
assert meta['epoch'] == 2 and meta['iter'] == 8 and meta['seed'] == 42, meta
assert meta['experiment_name'] == 'toy_20240101_000000'
assert meta['checksum'] == sys.argv[2], (meta['checksum'], sys.argv[2])
sd = ck['state_dict']
assert list(sd.keys()) == ['linear1.weight', 'linear1.bias', 'bn.num_batches_tracked'], list(sd.keys())
assert torch.equal(sd['linear1.weight'], torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
assert sd['bn.num_batches_tracked'].dtype == torch.int64 and int(sd['bn.num_batches_tracked']) == 7
opt = ck['optimizer']
assert list(opt.keys()) == ['state', 'param_groups']
assert list(opt['state'].keys()) == [0]
assert torch.equal(opt['state'][0]['momentum_buffer'], torch.full((2, 2), 0.5))
g = opt['param_groups'][0]
assert g['lr'] == 0.01 and g['momentum'] == 0.9 and g['nesterov'] is False and g['params'] == [0, 1], g
assert ck['message_hub']['runtime_info'] == {'epoch': 1, 'iter': 7}
blob = ck['hook_states']['CHook']['blob']
assert blob.dtype == torch.uint8 and bytes(blob.tolist()) == b'abc\x00\xff'
assert ck['hook_states']['EMAHook'] == {'steps': 5}
# Re-saving from Python keeps our checksum valid (same canonical content).
torch.save(ck, sys.argv[3])
print('OK')
)PY";
  std::string output;
  const auto resaved = dir.file("resaved.pth");
  const int rc = testing::run_python(
      dir, script, "'" + path + "' " + checkpoint_checksum(ckpt.dict()) + " '" + resaved + "'",
      output);
  ASSERT_EQ(rc, 0) << output;
  EXPECT_TRUE(contains(output, "OK")) << output;
  const auto back = load_checkpoint_file(resaved);
  EXPECT_EQ(back.meta().at("checksum").toStringRef(), checkpoint_checksum(ckpt.dict()));
  EXPECT_TRUE(ivalue_equal(back.get("optimizer"), ckpt.get("optimizer")));
}

TEST(CheckpointPythonTest, LoadsPythonSavedStateDictAndCheckpoint) {
  if (!testing::python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  ScratchDir dir;
  const std::string script = R"PY(
import sys, torch
class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(2, 2)
        self.bn = torch.nn.BatchNorm1d(2)
    def forward(self, x):
        return self.bn(self.linear1(x))
m = Toy()
with torch.no_grad():
    m.linear1.weight.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    m.linear1.bias.copy_(torch.tensor([0.0, 0.1]))
    m.bn.running_mean.copy_(torch.tensor([1.5, -2.0]))
    m.bn.num_batches_tracked.fill_(7)
torch.save(m.state_dict(), sys.argv[1])
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
m(torch.ones(3, 2)).sum().backward()
opt.step()
# One-item dicts pickle with SETITEM, which LibTorch 1.13's unpickler lacks.
torch.save({'meta': {'epoch': 3}, 'state_dict': m.state_dict(), 'optimizer': opt.state_dict(),
            'message_hub': {'runtime_info': {'iter': 12}}, 'hook_states': {'EMAHook': {'steps': [5]}}}, sys.argv[2])
torch.save(m.state_dict(), sys.argv[3], _use_new_zipfile_serialization=False)
print('OK')
)PY";
  std::string output;
  const auto bare = dir.file("bare.pth");
  const auto full = dir.file("full.pth");
  const auto legacy = dir.file("legacy.pth");
  ASSERT_EQ(testing::run_python(dir, script, bare + " " + full + " " + legacy, output), 0)
      << output;

  const auto b = load_checkpoint_file(bare);
  EXPECT_EQ(b.keys(), std::vector<std::string>{"state_dict"});
  const auto sd = b.get("state_dict").toGenericDict();
  std::vector<std::string> names;
  for (const auto& e : sd) names.push_back(e.key().toStringRef());
  EXPECT_EQ(names, (std::vector<std::string>{"linear1.weight", "linear1.bias", "bn.weight",
                                             "bn.bias", "bn.running_mean", "bn.running_var",
                                             "bn.num_batches_tracked"}));
  EXPECT_TRUE(torch::equal(sd.at("linear1.weight").toTensor(),
                           torch::tensor({{0.1f, 0.2f}, {0.3f, 0.4f}})));
  EXPECT_TRUE(torch::equal(sd.at("bn.running_mean").toTensor(), torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(sd.at("bn.num_batches_tracked").toTensor().item<int64_t>(), 7);

  const auto f = load_checkpoint_file(full);
  EXPECT_EQ(f.keys(), (std::vector<std::string>{"meta", "state_dict", "optimizer", "message_hub",
                                                "hook_states"}));
  EXPECT_EQ(f.meta().size(), 1u);
  EXPECT_EQ(f.meta().at("epoch").toInt(), 3);
  EXPECT_EQ(ivalue_to_json(f.get("message_hub")),
            nlohmann::json::parse(R"({"runtime_info": {"iter": 12}})"));
  EXPECT_EQ(ivalue_to_json(*f.get_hook_state("EMAHook", "steps")), nlohmann::json::parse("[5]"));
  EXPECT_EQ(keys_of_state_dict(f), 7u);
  const auto opt = f.get("optimizer").toGenericDict();
  EXPECT_DOUBLE_EQ(opt.at("param_groups").toListRef()[0].toGenericDict().at("lr").toDouble(), 0.01);
  EXPECT_EQ(opt.at("state").toGenericDict().size(), 4u);

  const auto e = load_error(legacy);
  EXPECT_TRUE(contains(e.what(), "legacy")) << e.what();
}

}  // namespace
}  // namespace mmhook

// docs/design.md §B7.2 and §B9 check 98.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <torch/serialize.h>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/logging/message_hub.h"

namespace mmhook {
namespace {

TEST(MessageHubTest, CurrentInstanceIsTheNewestLiveHub) {
  MessageHub& fallback = MessageHub::get_current_instance();
  EXPECT_EQ(fallback.name(), "mmengine");
  {
    MessageHub a("a");
    EXPECT_EQ(&MessageHub::get_current_instance(), &a);
    MessageHub b("b");
    EXPECT_EQ(MessageHub::get_current_instance().name(), "b");
  }
  // The current hub died: the process-wide "mmengine" hub is current again.
  EXPECT_EQ(&MessageHub::get_current_instance(), &fallback);
}

TEST(MessageHubTest, UpdateScalarAppendsToHistory) {
  MessageHub hub("scalars");
  hub.update_scalar("train/loss", 1);
  hub.update_scalar("train/loss", 3.0);
  ASSERT_TRUE(hub.has_scalar("train/loss"));
  EXPECT_EQ(hub.get_scalar("train/loss").log_history(), (std::vector<double>{1.0, 3.0}));
  EXPECT_DOUBLE_EQ(hub.get_scalar("train/loss").mean(), 2.0);
  hub.update_scalars(OrderedMap<double>{{"b", 1.0}, {"a", 2.0}});
  EXPECT_EQ(hub.log_scalars().keys(), (std::vector<std::string>{"train/loss", "b", "a"}));
}

TEST(MessageHubTest, UpdateScalarsWithValueAndCount) {
  MessageHub hub("counts");
  hub.update_scalars(OrderedMap<ScalarValue>{{"loss", ScalarValue{1.0, 2}}});
  EXPECT_DOUBLE_EQ(hub.get_scalar("loss").mean(), 0.5);
  EXPECT_EQ(hub.get_scalar("loss").count_history(), (std::vector<int64_t>{2}));
}

TEST(MessageHubTest, GetScalarOnMissingKeyIsNotFound) {
  MessageHub hub("missing");
  try {
    hub.get_scalar("nope");
    FAIL() << "missing scalar must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST(MessageHubTest, InfoOverwritePopAndDefaults) {
  MessageHub hub("info");
  EXPECT_TRUE(hub.get_info("absent").is_null());
  EXPECT_EQ(hub.get_info("absent", 3), 3);
  hub.update_info("iter", 1);
  hub.update_info("iter", 2);
  EXPECT_EQ(hub.get_info("iter"), 2);
  EXPECT_EQ(hub.pop_info("iter"), 2);
  EXPECT_FALSE(hub.has_info("iter"));
  EXPECT_EQ(hub.pop_info("iter", "gone"), "gone");
  hub.update_info_dict({{"a", 1}, {"b", "x"}});
  EXPECT_EQ(hub.get_info("b"), "x");
  EXPECT_TRUE(hub.is_resumed("a"));
  EXPECT_TRUE(hub.is_resumed("b"));
}

TEST(MessageHubTest, ResumedFlagCannotChange) {
  MessageHub hub("flags");
  hub.update_scalar("s", 1.0, 1, false);
  hub.update_scalar("s", 2.0, 1, false);
  EXPECT_THROW(hub.update_scalar("s", 3.0, 1, true), Error);
  hub.update_info("i", 1, true);
  EXPECT_THROW(hub.update_info("i", 2, false), Error);
  EXPECT_EQ(hub.get_info("i"), 1);
}

TEST(MessageHubTest, StateDictKeepsOnlyResumedKeys) {
  MessageHub hub("state");
  hub.update_scalar("train/lr", 0.1);
  hub.update_scalar("train/lr", 0.05);
  hub.update_scalar("train/time", 1.5, 1, false);
  hub.update_info("epoch", 2);
  hub.update_info("eta", 3.5, false);
  hub.update_info("meta", {{"classes", {"cat", "dog"}}, {"ok", true}, {"none", nullptr}});

  const c10::IValue state = hub.state_dict();
  ASSERT_TRUE(state.isGenericDict());
  const auto root = state.toGenericDict();
  const auto scalars = root.at("log_scalars").toGenericDict();
  EXPECT_TRUE(scalars.contains("train/lr"));
  EXPECT_FALSE(scalars.contains("train/time"));
  const auto lr = scalars.at("train/lr").toGenericDict();
  EXPECT_EQ(lr.at("log_history").toDoubleVector(), (std::vector<double>{0.1, 0.05}));
  EXPECT_EQ(lr.at("count_history").toIntVector(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(lr.at("max_length").toInt(), 1000000);
  const auto info = root.at("runtime_info").toGenericDict();
  EXPECT_EQ(info.at("epoch").toInt(), 2);
  EXPECT_FALSE(info.contains("eta"));
  const auto flags = root.at("resumed_keys").toGenericDict();
  EXPECT_TRUE(flags.at("train/lr").toBool());
  EXPECT_FALSE(flags.at("eta").toBool());

  // Through a PyTorch pickle and back into a fresh hub.
  const std::vector<char> bytes = torch::pickle_save(state);
  const c10::IValue loaded = torch::pickle_load(bytes);
  MessageHub fresh("fresh");
  fresh.load_state_dict(loaded);
  EXPECT_EQ(fresh.get_scalar("train/lr").log_history(), (std::vector<double>{0.1, 0.05}));
  EXPECT_FALSE(fresh.has_scalar("train/time"));
  EXPECT_EQ(fresh.get_info("epoch"), 2);
  EXPECT_FALSE(fresh.has_info("eta"));
  EXPECT_EQ(fresh.get_info("meta"), hub.get_info("meta"));
  EXPECT_TRUE(fresh.is_resumed("train/lr"));
  EXPECT_EQ(fresh.log_scalars().keys(), (std::vector<std::string>{"train/lr"}));
}

TEST(MessageHubTest, LoadStateDictRejectsMalformedInput) {
  MessageHub good("good");
  good.update_scalar("loss", 1.0);
  c10::IValue state = good.state_dict();

  MessageHub hub("bad");
  EXPECT_THROW(hub.load_state_dict(c10::IValue(int64_t{3})), Error);

  auto missing = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  missing.insert("log_scalars", state.toGenericDict().at("log_scalars"));
  try {
    hub.load_state_dict(c10::IValue(missing));
    FAIL() << "missing runtime_info must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCheckpoint);
    EXPECT_NE(std::string(e.what()).find("runtime_info"), std::string::npos);
  }

  auto root = state.toGenericDict().copy();
  auto scalars = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  auto entry = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  entry.insert("log_history", c10::IValue(c10::List<double>({1.0, 2.0})));
  entry.insert("count_history", c10::IValue(c10::List<int64_t>({1})));
  scalars.insert("loss", c10::IValue(entry));
  root.insert_or_assign("log_scalars", c10::IValue(scalars));
  try {
    hub.load_state_dict(c10::IValue(root));
    FAIL() << "mismatched history lengths must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCheckpoint);
    EXPECT_NE(std::string(e.what()).find("log_scalars.loss"), std::string::npos);
  }
  EXPECT_FALSE(hub.has_scalar("loss"));  // nothing loaded from a bad state
}

// The state dict must read in Python as plain dicts/lists (torch.load without mmhook types).
TEST(MessageHubTest, StateDictLoadsInPythonAsPlainDicts) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with torch is not available";
  }
  MessageHub hub("python");
  hub.update_scalar("train/loss", 0.5);
  hub.update_scalar("train/loss", 1.5, 2);
  hub.update_info("epoch", 2);
  hub.update_info("dataset_meta", {{"classes", {"a", "b"}}, {"scale", 0.25}, {"none", nullptr}});
  const auto dir =
      std::filesystem::temp_directory_path() / ("mmhook_hub_py_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "hub.pth").string();
  const std::vector<char> bytes = torch::pickle_save(hub.state_dict());
  std::ofstream(file, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string script =
      "import torch, sys\n"
      "s = torch.load(sys.argv[1])\n"
      "assert type(s) is dict, type(s)\n"
      "b = s['log_scalars']['train/loss']\n"
      "assert b == {'log_history': [0.5, 1.5], 'count_history': [1, 2], 'max_length': 1000000}, b\n"
      "assert s['runtime_info'] == {'epoch': 2, 'dataset_meta': {'classes': ['a', 'b'], 'none': "
      "None, 'scale': 0.25}}, s\n"
      "assert s['resumed_keys'] == {'train/loss': True, 'epoch': True, 'dataset_meta': True}, s\n";
  const std::string py = (dir / "check.py").string();
  std::ofstream(py) << script;
  EXPECT_EQ(std::system(("/usr/bin/python3 " + py + " " + file).c_str()), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mmhook

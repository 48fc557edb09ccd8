// Config text is read strictly: duplicate keys and excessive nesting are errors naming the JSON
// path, and no input can exhaust the stack of the process that parses it.

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "mmhook/config/json_parse.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

std::string error_of(const std::string& text) {
  try {
    (void)parse_config_text(text, "config file 'x.json'");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig) << e.what();
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected: " << part;
}

TEST(JsonParseTest, ReadsWhatNlohmannReadsIncludingComments) {
  const nlohmann::json v = parse_config_text(
      "// a comment\n{\"a\": [1, 2.5, \"s\", null, true, {\"b\": {}}], /* c */ \"c\": -3}",
      "config");
  EXPECT_EQ(v, nlohmann::json::parse(R"({"a": [1, 2.5, "s", null, true, {"b": {}}], "c": -3})"));
  std::istringstream in(R"({"x": {"y": [[1], [2]]}})");
  EXPECT_EQ(parse_config_stream(in, "config")["x"]["y"][1][0], 2);
}

TEST(JsonParseTest, DuplicateKeyNamesItsPath) {
  // nlohmann's parser keeps the last value in silence.
  expect_contains(error_of(R"({"lr": 0.1, "lr": 0.2})"), "config file 'x.json': lr: duplicate key");
  expect_contains(
      error_of(R"({"optim_wrapper": {"optimizer": {"lr": 1, "type": "SGD", "lr": 2}}})"),
      "optim_wrapper.optimizer.lr: duplicate key");
  expect_contains(error_of(R"({"custom_hooks": [{"type": "A"}, {"type": "B", "type": "C"}]})"),
                  "custom_hooks[1].type: duplicate key");
  // The same key in different objects is fine.
  EXPECT_EQ(error_of(R"({"a": {"type": 1}, "b": {"type": 2}})"), "");
}

TEST(JsonParseTest, DeepNestingIsRefusedWithThePath) {
  // 100k levels used to overflow the stack in a recursive copy of the parsed config.
  const int depth = 100000;
  std::string text = "{\"model\": ";
  text += std::string(depth, '[') + std::string(depth, ']') + "}";
  const std::string msg = error_of(text);
  expect_contains(msg, "config file 'x.json': model[0][0]");
  expect_contains(msg, "nested deeper than 256 levels");
  EXPECT_LT(msg.size(), 400u);  // the path is cut, not 100k characters long
  // Exactly at the limit is accepted.
  std::string ok = std::string(kMaxConfigDepth, '[') + std::string(kMaxConfigDepth, ']');
  EXPECT_EQ(error_of(ok), "");
  std::string over = std::string(kMaxConfigDepth + 1, '[') + std::string(kMaxConfigDepth + 1, ']');
  expect_contains(error_of(over), "nested deeper than");
}

TEST(JsonParseTest, InvalidJsonAndNumberOverflowNameTheSource) {
  expect_contains(error_of("{\"a\": 1,}"), "config file 'x.json': invalid JSON:");
  expect_contains(error_of("{\"a\": 1e400}"),
                  "config file 'x.json': invalid JSON: number overflow");
  expect_contains(error_of(""), "config file 'x.json': invalid JSON:");
  // The library's exception id is not part of the message.
  EXPECT_EQ(error_of("[1,]").find("[json.exception"), std::string::npos);
}

TEST(JsonParseTest, DepthCheckOfABuiltValueIsIterative) {
  nlohmann::json v = nlohmann::json::array();
  nlohmann::json* p = &v;
  for (int i = 0; i < 300; ++i) {
    p->push_back(nlohmann::json::object());
    p = &(*p)[0];
    (*p)["k"] = nlohmann::json::array();
    p = &(*p)["k"];
  }
  try {
    check_json_depth(v, "config");
    FAIL() << "no error";
  } catch (const Error& e) {
    expect_contains(e.what(), "config: [0].k[0].k");
    expect_contains(e.what(), "nested deeper than 256 levels");
  }
  EXPECT_NO_THROW(check_json_depth(nlohmann::json::parse(R"({"a": [{"b": 1}]})"), "config"));
}

}  // namespace
}  // namespace mmhook

#include <gtest/gtest.h>
#include <torch/types.h>

#include "mmhook/checkpoint/ivalue_json.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

TEST(IValueJsonTest, ScalarsMapToIValueKinds) {
  EXPECT_TRUE(json_to_ivalue(nullptr).isNone());
  EXPECT_TRUE(json_to_ivalue(true).toBool());
  EXPECT_EQ(json_to_ivalue(-7).toInt(), -7);
  EXPECT_EQ(json_to_ivalue(uint64_t{42}).toInt(), 42);
  EXPECT_DOUBLE_EQ(json_to_ivalue(0.25).toDouble(), 0.25);
  EXPECT_EQ(json_to_ivalue("abc").toStringRef(), "abc");
}

TEST(IValueJsonTest, ObjectsBecomeStringAnyDictsInIterationOrder) {
  const auto j = nlohmann::json::parse(
      R"({"zeta": 1, "alpha": [1, 2.5, "x", null, {"k": false}], "mid": {"a": 1}})");
  const auto v = json_to_ivalue(j);
  ASSERT_TRUE(v.isGenericDict());
  const auto dict = v.toGenericDict();
  EXPECT_EQ(*dict.keyType(), *c10::StringType::get());
  EXPECT_EQ(*dict.valueType(), *c10::AnyType::get());
  std::vector<std::string> keys;
  for (const auto& e : dict) keys.push_back(e.key().toStringRef());
  std::vector<std::string> expected;
  for (auto it = j.begin(); it != j.end(); ++it) expected.push_back(it.key());
  EXPECT_EQ(keys, expected);
  const auto list = dict.at("alpha").toList();
  EXPECT_EQ(*list.elementType(), *c10::AnyType::get());
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list.get(0).toInt(), 1);
  EXPECT_DOUBLE_EQ(list.get(1).toDouble(), 2.5);
  EXPECT_EQ(list.get(2).toStringRef(), "x");
  EXPECT_TRUE(list.get(3).isNone());
  EXPECT_FALSE(list.get(4).toGenericDict().at("k").toBool());
}

TEST(IValueJsonTest, RoundTripIsIdentity) {
  const auto j = nlohmann::json::parse(
      R"({"epoch": 3, "lr": 0.01, "name": "run", "ok": true, "none": null,
          "hist": [[1, 2], [3.5]], "nested": {"best_acc": 0.875, "keep_ckpt_ids": [1, 2, 3]}})");
  EXPECT_EQ(ivalue_to_json(json_to_ivalue(j)), j);
}

TEST(IValueJsonTest, OneElementTensorsBecomeNumbers) {
  EXPECT_EQ(ivalue_to_json(torch::tensor(2.5)), nlohmann::json(2.5));
  EXPECT_EQ(ivalue_to_json(torch::tensor({7}, torch::kLong)), nlohmann::json(7));
  EXPECT_TRUE(ivalue_to_json(torch::tensor({7}, torch::kLong)).is_number_integer());
  EXPECT_EQ(ivalue_to_json(torch::tensor(true)), nlohmann::json(true));
}

TEST(IValueJsonTest, LargerTensorsAreInvalidArgument) {
  try {
    ivalue_to_json(torch::zeros({2, 3}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
}

TEST(IValueJsonTest, TuplesBecomeArraysAndIntKeysBecomeText) {
  auto dict = c10::impl::GenericDict(c10::IntType::get(), c10::AnyType::get());
  dict.insert(int64_t{0},
              c10::IValue(c10::ivalue::Tuple::create({c10::IValue(0.9), c10::IValue(0.999)})));
  EXPECT_EQ(ivalue_to_json(c10::IValue(dict)), nlohmann::json::parse(R"({"0": [0.9, 0.999]})"));
}

TEST(IValueJsonTest, OutOfRangeUnsignedIsInvalidArgument) {
  try {
    json_to_ivalue(nlohmann::json(uint64_t{1} << 63));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
  }
}

TEST(IValueJsonTest, MakeGenericDictIsStringToAny) {
  auto dict = make_generic_dict();
  EXPECT_EQ(dict.size(), 0u);
  EXPECT_EQ(*dict.keyType(), *c10::StringType::get());
  EXPECT_EQ(*dict.valueType(), *c10::AnyType::get());
}

}  // namespace
}  // namespace mmhook

// Registry on its own: types added and removed by name, unknown types with a hint, the built
// object's unread keys rejected, extra factory arguments passed through.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmhook/config/registry.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

struct Shape {
  virtual ~Shape() = default;
  double size = 0;
  int scale = 1;
};
struct Square : Shape {};

void add_square(Registry<Shape, int>& r) {
  r.add("Square", [](const ConfigNode& cfg, int scale) {
    auto s = std::make_shared<Square>();
    s->size = cfg.get<double>("size", 1.0);
    s->scale = scale;
    return s;
  });
}

TEST(RegistryTest, BuildsByTypeWithExtraArguments) {
  Registry<Shape, int> r("shape");
  add_square(r);
  const auto s = r.build(ConfigNode(nlohmann::json{{"type", "Square"}, {"size", 2.5}}, "shape"), 3);
  EXPECT_NE(dynamic_cast<Square*>(s.get()), nullptr);
  EXPECT_EQ(s->size, 2.5);
  EXPECT_EQ(s->scale, 3);
  EXPECT_TRUE(r.contains("Square"));
  EXPECT_EQ(r.names(), std::vector<std::string>{"Square"});
  EXPECT_EQ(r.kind(), "shape");
}

TEST(RegistryTest, ErrorsNameThePathAndHint) {
  Registry<Shape, int> r("shape");
  add_square(r);
  try {
    (void)r.build(ConfigNode(nlohmann::json{{"type", "Sqare"}}, "model.head"), 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model.head.type: unknown shape type 'Sqare' (did you mean 'Square'?)");
  }
  try {  // a key the factory never read
    (void)r.build(ConfigNode(nlohmann::json{{"type", "Square"}, {"sise", 2}}, "model.head"), 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "model.head.sise: unknown key (did you mean 'size'?)");
  }
  try {
    r.add("Square", [](const ConfigNode&, int) { return std::make_shared<Square>(); });
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "shape type 'Square' is already registered");
  }
  EXPECT_TRUE(r.remove("Square"));
  EXPECT_FALSE(r.remove("Square"));
  EXPECT_FALSE(r.contains("Square"));
}

}  // namespace
}  // namespace mmhook

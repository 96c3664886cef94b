/*
 * Configs: TOML parses to the expected JSON types, overrides apply in order, and unknown keys,
 * wrong types and TOML syntax errors are errors that name the key or the file and line.
 */
#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "io/config.h"

namespace clustermim {
namespace {

const nlohmann::json kDefaults = {
    {"data", {{"dataset", "fashion-mnist"}, {"image_size", 0}}},
    {"pretrain", {{"epochs", 10}, {"blr", 1.5e-4}, {"bf16", true}, {"methods", {"a"}}}}};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, TomlFileThenOverrides) {
  const nlohmann::json file = parse_toml(
      "[data]\ndataset = \"cifar\"\n[pretrain]\nepochs = 3\nblr = 1\nmethods = [\"x\", \"y\"]\n",
      "run.toml");
  const nlohmann::json c =
      resolve_config(kDefaults, file, {"pretrain.epochs=7", "pretrain.bf16=false"}, "run.toml");
  EXPECT_EQ(c["data"]["dataset"], "cifar");
  EXPECT_EQ(c["data"]["image_size"], 0);
  EXPECT_EQ(c["pretrain"]["epochs"], 7);
  EXPECT_DOUBLE_EQ(c["pretrain"]["blr"].get<double>(), 1.0);
  EXPECT_EQ(c["pretrain"]["bf16"], false);
  EXPECT_EQ(c["pretrain"]["methods"], nlohmann::json({"x", "y"}));
}

TEST(Config, OverrideValueKinds) {
  nlohmann::json c = kDefaults;
  apply_override(c, "data.dataset=/tmp/a b.tar.gz");
  EXPECT_EQ(c["data"]["dataset"], "/tmp/a b.tar.gz");
  apply_override(c, "pretrain.methods=[\"m\"]");
  EXPECT_EQ(c["pretrain"]["methods"], nlohmann::json({"m"}));
}

TEST(Config, UnknownKeyNamesIt) {
  const nlohmann::json file = parse_toml("[pretrain]\nepoch = 3\n", "run.toml");
  const std::string msg = error_of([&] { resolve_config(kDefaults, file, {}, "run.toml"); });
  EXPECT_NE(msg.find("run.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pretrain.epoch"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { resolve_config(kDefaults, nullptr, {"nope=1"}, "x"); }), "");
}

TEST(Config, WrongTypeIsAnError) {
  const std::string msg =
      error_of([&] { resolve_config(kDefaults, nullptr, {"pretrain.epochs=2.5"}, "x"); });
  EXPECT_NE(msg.find("pretrain.epochs"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { resolve_config(kDefaults, nullptr, {"pretrain=3"}, "x"); }), "");
  EXPECT_NE(error_of([&] { resolve_config(kDefaults, nullptr, {"=3"}, "x"); }), "");
}

TEST(Config, TomlSyntaxErrorNamesFileAndLine) {
  const std::string msg = error_of([] { parse_toml("[data]\ndataset = \n", "bad.toml"); });
  EXPECT_EQ(msg.rfind("bad.toml:2:", 0), 0u) << msg;
}

}  // namespace
}  // namespace clustermim

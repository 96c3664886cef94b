/*
 * Fuzz target: TOML configs and --set overrides, checked against a defaults tree.
 */
#include <string>

#include "fuzz_common.h"
#include "io/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  static const nlohmann::json defaults = {
      {"data", {{"dataset", "fashion-mnist"}, {"image_size", 0}}},
      {"pretrain", {{"epochs", 10}, {"blr", 1.5e-4}, {"bf16", true}, {"methods", {"a"}}}}};
  const std::string text(data, data + size);
  fuzz::accept_or_reject([&] { resolve_config(defaults, parse_toml(text, "fuzz.toml"), {}, "fuzz.toml"); });
  fuzz::accept_or_reject([&] {
    nlohmann::json config = defaults;
    apply_override(config, text);
    resolve_config(defaults, nullptr, {text}, "--set");
  });
  return 0;
}

/*
 * TOML configs with overrides (see config.h).
 */
#include "io/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace clustermim {

namespace {

nlohmann::json toml_to_json(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : *t) out[std::string(key.str())] = toml_to_json(value);
    return out;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& value : *a) out.push_back(toml_to_json(value));
    return out;
  }
  if (const auto* v = node.as_integer()) return v->get();
  if (const auto* v = node.as_floating_point()) return v->get();
  if (const auto* v = node.as_boolean()) return v->get();
  if (const auto* v = node.as_string()) return v->get();
  const auto& where = node.source().begin;
  fail(node.source().path ? *node.source().path : std::string("config"), ":", where.line, ":",
       where.column, ": dates and times are not valid settings");
}

/// TOML allows non-ASCII text only inside strings and comments. Checking that before parsing
/// gives a clear error and keeps other bytes away from toml++ 3.3's whitespace classifier, which
/// reaches __builtin_unreachable() on some code points (found by tests/fuzz/fuzz_config.cpp).
void check_ascii_outside_strings(const std::string& text, const std::string& source) {
  int line = 1;
  size_t i = 0;
  auto starts = [&](const char* token) { return text.compare(i, std::strlen(token), token) == 0; };
  auto skip_string = [&](const char* close, bool escapes) {
    const size_t open = std::strlen(close);
    for (i += open; i < text.size() && !starts(close); ++i) {
      if (text[i] == '\n') ++line;
      if (escapes && text[i] == '\\') ++i;
    }
    i += open;
  };
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (starts("\"\"\"")) skip_string("\"\"\"", true);
    else if (starts("'''")) skip_string("'''", false);
    else if (c == '"') skip_string("\"", true);
    else if (c == '\'') skip_string("'", false);
    else if (c == '#') i = std::min(text.find('\n', i), text.size());
    else {
      CM_REQUIRE(c < 0x80, source, ":", line, ": non-ASCII character outside a string or comment");
      if (c == '\n') ++line;
      ++i;
    }
  }
}

bool same_kind(const nlohmann::json& expected, const nlohmann::json& given) {
  if (expected.is_number_float()) return given.is_number();
  if (expected.is_number_integer()) return given.is_number_integer();
  if (expected.is_null()) return true;
  return expected.type() == given.type();
}

void merge_checked(nlohmann::json& base, const nlohmann::json& layer, const std::string& prefix,
                   const std::string& source) {
  CM_REQUIRE(layer.is_object(), source, ": '", prefix, "' must be a table");
  for (const auto& [key, value] : layer.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    CM_REQUIRE(base.contains(key), source, ": unknown setting '", path, "'");
    nlohmann::json& target = base[key];
    if (target.is_object()) {
      merge_checked(target, value, path, source);
      continue;
    }
    CM_REQUIRE(same_kind(target, value), source, ": '", path, "' must be a ", target.type_name(),
               ", got ", value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    target = value;
  }
}

}  // namespace

nlohmann::json parse_toml(const std::string& text, const std::string& source) {
  try {
    check_ascii_outside_strings(text, source);
    return toml_to_json(toml::parse(text, source));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    fail(source, ":", where.line, ":", where.column, ": ", e.description());
  }
}

nlohmann::json load_toml_file(const std::string& path) {
  std::ifstream in(path);
  CM_REQUIRE(in.good(), path, ": cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_toml(text.str(), path);
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CM_REQUIRE(eq != std::string::npos && eq > 0, "--set '", assignment,
             "': expected key.path=value");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;

  nlohmann::json layer = nlohmann::json::object();
  nlohmann::json* node = &layer;
  std::stringstream parts(key);
  std::string part;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.')) path.push_back(part);
  for (size_t i = 0; i + 1 < path.size(); ++i) node = &(*node)[path[i]];
  (*node)[path.back()] = value;
  merge_checked(config, layer, "", "--set " + key);
}

nlohmann::json resolve_config(const nlohmann::json& defaults, const nlohmann::json& file,
                              const std::vector<std::string>& overrides,
                              const std::string& source) {
  nlohmann::json config = defaults;
  if (!file.is_null()) merge_checked(config, file, "", source);
  for (const std::string& o : overrides) apply_override(config, o);
  return config;
}

}  // namespace clustermim

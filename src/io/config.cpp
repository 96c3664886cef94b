/*
 * TOML configs with overrides (see config.h).
 */
#include "io/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

/// The length of the UTF-8 sequence at text[i] and its code point in *cp, or 0 where the bytes are
/// not valid UTF-8 (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF).
size_t decode_utf8(const std::string& text, size_t i, char32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  const size_t n = lead >= 0xF8 ? 0 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  char32_t value = lead & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(k) & 0x3F);
  }
  const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (value < smallest[n] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return n;
}

std::string unicode_escape(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, cp <= 0xFFFF ? "\\u%04X" : "\\U%08X", static_cast<unsigned>(cp));
  return buf;
}

/// toml++ 3.3's whitespace classifier reaches __builtin_unreachable() on many non-ASCII code
/// points (U+00A1..U+0499 among them), and toml++ classifies the characters of keys, of
/// multi-line strings and of everything between them (found by tests/fuzz/fuzz_config.cpp). So
/// toml++ only ever sees ASCII: non-ASCII text is allowed in double-quoted strings, where it
/// becomes the equivalent \uXXXX escape, and in comments, where it is dropped; elsewhere, and as
/// invalid UTF-8, it is an error naming the line.
std::string escape_non_ascii(const std::string& text, const std::string& source) {
  enum class Mode { kBare, kComment, kBasic, kBasicMulti, kLiteral, kLiteralMulti };
  Mode mode = Mode::kBare;
  std::string out;
  out.reserve(text.size());
  int line = 1;
  size_t i = 0;
  const auto at = [&](const char* token) { return text.compare(i, std::strlen(token), token) == 0; };
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      char32_t cp = 0;
      const size_t n = decode_utf8(text, i, &cp);
      CM_REQUIRE(n > 0, source, ":", line, ": invalid UTF-8");
      CM_REQUIRE(mode == Mode::kComment || mode == Mode::kBasic || mode == Mode::kBasicMulti,
                 source, ":", line,
                 ": non-ASCII text is allowed only in \"double-quoted\" strings and comments");
      if (mode != Mode::kComment) out += unicode_escape(cp);
      i += n;
      continue;
    }
    size_t n = 1;
    switch (mode) {
      case Mode::kBare:
        if (at("\"\"\"")) mode = Mode::kBasicMulti, n = 3;
        else if (at("'''")) mode = Mode::kLiteralMulti, n = 3;
        else if (c == '"') mode = Mode::kBasic;
        else if (c == '\'') mode = Mode::kLiteral;
        else if (c == '#') mode = Mode::kComment;
        break;
      case Mode::kComment:
        if (c == '\n') mode = Mode::kBare;
        break;
      case Mode::kBasic:
        if (c == '"' || c == '\n') mode = Mode::kBare;
        break;
      case Mode::kBasicMulti:
        if (at("\"\"\"")) mode = Mode::kBare, n = 3;
        break;
      case Mode::kLiteral:
        if (c == '\'' || c == '\n') mode = Mode::kBare;
        break;
      case Mode::kLiteralMulti:
        if (at("'''")) mode = Mode::kBare, n = 3;
        break;
    }
    if (c == '\\' && (mode == Mode::kBasic || mode == Mode::kBasicMulti) && i + 1 < text.size()) {
      CM_REQUIRE(static_cast<unsigned char>(text[i + 1]) < 0x80, source, ":", line,
                 ": a backslash in a string must start an escape such as \\n or \\u00E9");
      n = 2;
    }
    line += static_cast<int>(std::count(text.begin() + i, text.begin() + i + n, '\n'));
    out.append(text, i, n);
    i += n;
  }
  return out;
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
    if (target.is_array() && !target.empty()) {  // a list holds what the default's list holds
      for (const nlohmann::json& item : value) {
        CM_REQUIRE(same_kind(target.front(), item), source, ": '", path, "' must be a list of ",
                   target.front().type_name(), "s, got ",
                   item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
    target = value;
  }
}

}  // namespace

nlohmann::json parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml_to_json(toml::parse(escape_non_ascii(text, source), source));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    fail(source, ":", where.line, ":", where.column, ": ", e.description());
  }
}

nlohmann::json load_toml_file(const std::string& path) {
  std::error_code ec;
  CM_REQUIRE(!std::filesystem::is_directory(path, ec), path, ": is a folder, expected a config file");
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

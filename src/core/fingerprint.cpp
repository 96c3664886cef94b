/*
 * Content hashes and provenance records (see fingerprint.h).
 */
#include "core/fingerprint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace clustermim {

namespace fs = std::filesystem;

namespace {

/// Values longer than this are reported as "differs" rather than printed.
constexpr size_t kPrintableValue = 40;

void flatten(const std::string& prefix, const nlohmann::json& value,
             std::map<std::string, std::string>& out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) flatten(prefix + "." + key, item, out);
    return;
  }
  out[prefix] = value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

void Fingerprint::add_bytes(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = hash_;
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  hash_ = h;
}

void Fingerprint::add(const std::string& text) {
  const uint64_t size = text.size();
  add_bytes(&size, sizeof(size));
  add_bytes(text.data(), text.size());
}

void Fingerprint::add_path(const std::string& path, bool recursive) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) {
    add("missing:" + path);
    return;
  }
  const auto stat_of = [](const fs::directory_entry& e) {
    std::error_code ignored;
    const auto mtime = e.last_write_time(ignored).time_since_epoch().count();
    const auto size = e.is_regular_file(ignored) ? e.file_size(ignored) : 0;
    return std::to_string(size) + "@" + std::to_string(mtime);
  };
  add(canonical.string());
  add(stat_of(fs::directory_entry(canonical, ec)));
  if (!recursive || !fs::is_directory(canonical, ec)) return;
  std::vector<std::string> lines;
  for (fs::recursive_directory_iterator it(canonical, ec), end; !ec && it != end; it.increment(ec)) {
    lines.push_back(it->path().lexically_relative(canonical).string() + " " + stat_of(*it));
  }
  std::sort(lines.begin(), lines.end());
  for (const std::string& line : lines) add(line);
}

std::string Fingerprint::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash_));
  return buf;
}

Provenance& Provenance::set(const std::string& name, const std::string& value) {
  items_[name] = value;
  return *this;
}

Provenance& Provenance::set_all(const std::string& prefix, const nlohmann::json& value) {
  flatten(prefix, value, items_);
  return *this;
}

std::string Provenance::digest() const {
  Fingerprint fp;
  for (const auto& [name, value] : items_) {
    fp.add(name);
    fp.add(value);
  }
  return fp.hex();
}

nlohmann::json Provenance::to_json() const { return nlohmann::json(items_); }

Provenance Provenance::from_json(const nlohmann::json& record) {
  Provenance p;
  if (!record.is_object()) return p;
  for (const auto& [name, value] : record.items()) {
    if (value.is_string()) p.items_[name] = value.get<std::string>();
  }
  return p;
}

std::string Provenance::describe_mismatch(const Provenance& stored) const {
  std::vector<std::string> names;
  for (const auto& [name, value] : items_) names.push_back(name);
  for (const auto& [name, value] : stored.items_) {
    if (items_.count(name) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& name : names) {
    const auto now = items_.find(name);
    const auto then = stored.items_.find(name);
    const bool has_now = now != items_.end(), has_then = then != stored.items_.end();
    if (has_now && has_then && now->second == then->second) continue;
    if (!out.empty()) out += "; ";
    if (!has_then) {
      out += name + " is not recorded there";
    } else if (!has_now) {
      out += name + " is recorded there but not asked for now";
    } else if (now->second.size() > kPrintableValue || then->second.size() > kPrintableValue) {
      out += name + " differs";
    } else {
      out += name + " is " + then->second + " there, " + now->second + " now";
    }
  }
  return out;
}

}  // namespace clustermim

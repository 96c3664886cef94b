/*
 * CPU and GPU model names (see machine.h).
 */
#include "core/machine.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

namespace clustermim {

namespace {

/// The text after "key:" on the first line of `path` that starts with `key`, trimmed; "" if none.
std::string read_field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0 || line.find(':') == std::string::npos) continue;
    const auto first = line.find_first_not_of(" \t", line.find(':') + 1);
    const auto last = line.find_last_not_of(" \t\r");
    return first == std::string::npos ? "" : line.substr(first, last - first + 1);
  }
  return "";
}

}  // namespace

std::string cpu_model(const std::string& cpuinfo) {
  const std::string model = read_field(cpuinfo, "model name");
  return model.empty() ? "unknown" : model;
}

std::string gpu_model(const std::string& driver_dir) {
  std::vector<std::string> models;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(driver_dir, ec)) {
    const std::string model = read_field((entry.path() / "information").string(), "Model");
    if (!model.empty()) models.push_back(model);
  }
  if (models.empty()) return "";
  std::sort(models.begin(), models.end());
  if (models.size() > 1 && models.front() == models.back())
    return std::to_string(models.size()) + "x " + models.front();
  std::string joined = models.front();
  for (size_t i = 1; i < models.size(); ++i) joined += ", " + models[i];
  return joined;
}

}  // namespace clustermim

/*
 * Run configuration: TOML files + `--set key.path=value` overrides, resolved against defaults.
 *
 * A config is a JSON object (nested tables). Resolution = defaults, then the file, then each
 * override in order. Every key of the file and of the overrides must exist in the defaults, so a
 * typo ("pretrain.epoch") is an error naming the key instead of a silently ignored setting, and
 * a value must have the default's type (an integer may stand where a float is expected). The
 * resolved config is what gets saved next to a run's outputs. Torch-free (fuzzed in CI).
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clustermim {

/// Parses TOML text into a JSON object; `source` names the file in errors.
nlohmann::json parse_toml(const std::string& text, const std::string& source);

/// Reads and parses a TOML file.
nlohmann::json load_toml_file(const std::string& path);

/// Applies "a.b.c=value" to `config`. The value is read as JSON when it parses (numbers,
/// true/false, [arrays], "quoted"), else as a plain string.
void apply_override(nlohmann::json& config, const std::string& assignment);

/// defaults <- file (may be null) <- overrides, with the key and type checks described above.
nlohmann::json resolve_config(const nlohmann::json& defaults, const nlohmann::json& file,
                              const std::vector<std::string>& overrides,
                              const std::string& source);

}  // namespace clustermim

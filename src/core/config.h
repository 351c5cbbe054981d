// A validated, fully merged configuration.
//
// Files are YAML. A file may name `_BASE_: other.yaml` (or a list of files), resolved
// against its own folder; its values override the base's. Command-line overrides
// `key.sub=value` are applied last and parsed as YAML scalars or lists ([1, 2]).
// Every key must be declared in the ConfigSchema; unknown keys, wrong types and
// out-of-range values throw ConfigError naming the key, the value and the file.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config_schema.h"

namespace toonreid {

class Config {
 public:
  // All defaults of `schema`. The schema must outlive the Config.
  explicit Config(const ConfigSchema& schema);

  long long get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  const std::vector<long long>& get_int_list(const std::string& key) const;
  const std::vector<double>& get_float_list(const std::string& key) const;
  const std::vector<std::string>& get_string_list(const std::string& key) const;
  const ConfigValue& get(const std::string& key) const;

  // Where the value of `key` came from: "default", a file path, or "command line".
  const std::string& source(const std::string& key) const;

  // Parses `yaml_text` as the value of `key` (typed and range-checked) and records
  // `source` for error messages. Throws ConfigError.
  void set_from_text(const std::string& key, const std::string& yaml_text, const std::string& source);
  // Applies one `key.sub=value` override.
  void apply_override(const std::string& assignment);

  // The merged configuration as YAML, in schema order; with docs, each option is
  // preceded by a comment giving its meaning and constraints.
  std::string to_yaml(bool with_docs = false) const;

  // A ConfigError message prefix naming the key, its value and its source.
  std::string describe(const std::string& key) const;

  const ConfigSchema& schema() const { return *schema_; }

 private:
  const OptionSpec& spec(const std::string& key) const;
  const ConfigSchema* schema_;
  std::map<std::string, ConfigValue> values_;
  std::map<std::string, std::string> sources_;
};

// Loads `file` (with its _BASE_ chain), then applies `overrides`.
Config load_config(const ConfigSchema& schema, const std::filesystem::path& file,
                   const std::vector<std::string>& overrides = {});

// A configuration from YAML text (no _BASE_), e.g. the one stored in a checkpoint.
Config load_config_text(const ConfigSchema& schema, const std::string& yaml_text, const std::string& source);

// Defaults plus overrides, for commands run without a config file.
Config make_config(const ConfigSchema& schema, const std::vector<std::string>& overrides = {});

}  // namespace toonreid

// The schema of toonreid's configuration: every option's key, type, default, range
// and documentation, declared in code by the module that reads it. This is the one
// place defaults live; `toonreid config defaults` prints it as annotated YAML.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace toonreid {

enum class ValueKind { Int, Float, Bool, String, IntList, FloatList, StringList };

using ConfigValue = std::variant<long long, double, bool, std::string, std::vector<long long>,
                                 std::vector<double>, std::vector<std::string>>;

const char* kind_name(ValueKind kind);
std::string format_value(const ConfigValue& value);

// One option. Constraints are checked on every value, defaults included.
struct OptionSpec {
  std::string key;  // dotted path, e.g. "loader.workers"
  ValueKind kind = ValueKind::Int;
  ConfigValue default_value;
  std::string doc;
  std::optional<double> min_value;       // numbers and number lists: each element >= min
  std::optional<double> max_value;       // each element <= max
  bool exclusive_min = false;            // min is a strict bound
  std::vector<std::string> choices;      // strings and string lists: allowed values
  std::optional<std::size_t> list_size;  // lists: exact length
  bool list_may_be_empty = true;

  // Fluent setters so that declarations read as one line per option.
  OptionSpec& min(double v) { min_value = v; return *this; }
  OptionSpec& greater_than(double v) { min_value = v; exclusive_min = true; return *this; }
  OptionSpec& max(double v) { max_value = v; return *this; }
  OptionSpec& range(double lo, double hi) { min_value = lo; max_value = hi; return *this; }
  OptionSpec& one_of(std::vector<std::string> allowed) { choices = std::move(allowed); return *this; }
  OptionSpec& size(std::size_t n) { list_size = n; return *this; }
  OptionSpec& non_empty() { list_may_be_empty = false; return *this; }

  // Empty string when the value satisfies every constraint, else why not.
  std::string violation(const ConfigValue& value) const;
};

class ConfigSchema {
 public:
  OptionSpec& add_int(std::string key, long long def, std::string doc);
  OptionSpec& add_float(std::string key, double def, std::string doc);
  OptionSpec& add_bool(std::string key, bool def, std::string doc);
  OptionSpec& add_string(std::string key, std::string def, std::string doc);
  OptionSpec& add_int_list(std::string key, std::vector<long long> def, std::string doc);
  OptionSpec& add_float_list(std::string key, std::vector<double> def, std::string doc);
  OptionSpec& add_string_list(std::string key, std::vector<std::string> def, std::string doc);

  // Documents a section (the first path component), printed above its options.
  void describe_section(std::string section, std::string doc);

  const OptionSpec* find(const std::string& key) const;
  const std::vector<OptionSpec>& options() const { return options_; }
  std::string section_doc(const std::string& section) const;
  // True when `prefix` names a section or sub-section (e.g. "input.erasing").
  bool is_section(const std::string& prefix) const;
  // The known key closest to `key` by edit distance, for "did you mean" hints.
  std::string closest_key(const std::string& key) const;

 private:
  OptionSpec& add(std::string key, ValueKind kind, ConfigValue def, std::string doc);
  std::vector<OptionSpec> options_;
  std::vector<std::pair<std::string, std::string>> section_docs_;
};

}  // namespace toonreid

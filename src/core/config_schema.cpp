#include "core/config_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace toonreid {

const char* kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::Int: return "an integer";
    case ValueKind::Float: return "a number";
    case ValueKind::Bool: return "a boolean (true/false)";
    case ValueKind::String: return "a string";
    case ValueKind::IntList: return "a list of integers";
    case ValueKind::FloatList: return "a list of numbers";
    case ValueKind::StringList: return "a list of strings";
  }
  return "?";
}

namespace {

std::string format_double(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  std::string s = out.str();
  // Keep floats recognisable as floats when printed back as YAML.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

template <class T, class F>
std::string join_list(const std::vector<T>& xs, F fmt) {
  std::string s = "[";
  for (std::size_t i = 0; i < xs.size(); ++i) s += (i ? ", " : "") + fmt(xs[i]);
  return s + "]";
}

// Strings that YAML would read as something else (or not at all) are double-quoted.
std::string quote_if_needed(const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(":#[]{},&*!|>'\"%@`") == std::string::npos &&
               v.front() != ' ' && v.back() != ' ' && v.front() != '-' && v.front() != '?';
  static const char* kReserved[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "True", "False"};
  for (const char* r : kReserved)
    if (v == r) plain = false;
  if (plain && (std::isdigit(static_cast<unsigned char>(v.front())) || v.front() == '.' || v.front() == '+')) plain = false;
  if (plain) return v;
  std::string s = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') s += '\\';
    s += c;
  }
  return s + "\"";
}

std::string describe_bound(const OptionSpec& spec) {
  std::ostringstream out;
  if (spec.min_value && spec.max_value)
    out << "in [" << *spec.min_value << ", " << *spec.max_value << "]";
  else if (spec.min_value)
    out << (spec.exclusive_min ? "> " : ">= ") << *spec.min_value;
  else if (spec.max_value)
    out << "<= " << *spec.max_value;
  return out.str();
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string format_value(const ConfigValue& value) {
  struct Visitor {
    std::string operator()(long long v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_double(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return quote_if_needed(v); }
    std::string operator()(const std::vector<long long>& v) const {
      return join_list(v, [](long long x) { return std::to_string(x); });
    }
    std::string operator()(const std::vector<double>& v) const { return join_list(v, format_double); }
    std::string operator()(const std::vector<std::string>& v) const {
      return join_list(v, quote_if_needed);
    }
  };
  return std::visit(Visitor{}, value);
}

std::string OptionSpec::violation(const ConfigValue& value) const {
  auto check_number = [&](double v) -> std::string {
    if (!std::isfinite(v)) return "must be a finite number";
    bool low = min_value && (exclusive_min ? v <= *min_value : v < *min_value);
    bool high = max_value && v > *max_value;
    if (low || high) return "must be " + describe_bound(*this);
    return {};
  };
  auto check_choice = [&](const std::string& v) -> std::string {
    if (choices.empty() || std::find(choices.begin(), choices.end(), v) != choices.end()) return {};
    std::string allowed;
    for (const auto& c : choices) allowed += (allowed.empty() ? "" : ", ") + c;
    return "must be one of: " + allowed;
  };
  auto check_size = [&](std::size_t n) -> std::string {
    if (list_size && n != *list_size) return "must have exactly " + std::to_string(*list_size) + " elements";
    if (!list_may_be_empty && n == 0) return "must not be empty";
    return {};
  };
  std::string why;
  switch (kind) {
    case ValueKind::Int: return check_number(static_cast<double>(std::get<long long>(value)));
    case ValueKind::Float: return check_number(std::get<double>(value));
    case ValueKind::Bool: return {};
    case ValueKind::String: return check_choice(std::get<std::string>(value));
    case ValueKind::IntList: {
      const auto& xs = std::get<std::vector<long long>>(value);
      if (!(why = check_size(xs.size())).empty()) return why;
      for (long long x : xs)
        if (!(why = check_number(static_cast<double>(x))).empty()) return "each element " + why;
      return {};
    }
    case ValueKind::FloatList: {
      const auto& xs = std::get<std::vector<double>>(value);
      if (!(why = check_size(xs.size())).empty()) return why;
      for (double x : xs)
        if (!(why = check_number(x)).empty()) return "each element " + why;
      return {};
    }
    case ValueKind::StringList: {
      const auto& xs = std::get<std::vector<std::string>>(value);
      if (!(why = check_size(xs.size())).empty()) return why;
      for (const auto& x : xs)
        if (!(why = check_choice(x)).empty()) return "each element " + why;
      return {};
    }
  }
  return {};
}

OptionSpec& ConfigSchema::add(std::string key, ValueKind kind, ConfigValue def, std::string doc) {
  if (find(key) != nullptr) throw std::logic_error("config option declared twice: " + key);
  if (key.find('.') == std::string::npos) throw std::logic_error("config option needs a section: " + key);
  OptionSpec spec;
  spec.key = std::move(key);
  spec.kind = kind;
  spec.default_value = std::move(def);
  spec.doc = std::move(doc);
  options_.push_back(std::move(spec));
  return options_.back();
}

OptionSpec& ConfigSchema::add_int(std::string key, long long def, std::string doc) {
  return add(std::move(key), ValueKind::Int, def, std::move(doc));
}
OptionSpec& ConfigSchema::add_float(std::string key, double def, std::string doc) {
  return add(std::move(key), ValueKind::Float, def, std::move(doc));
}
OptionSpec& ConfigSchema::add_bool(std::string key, bool def, std::string doc) {
  return add(std::move(key), ValueKind::Bool, def, std::move(doc));
}
OptionSpec& ConfigSchema::add_string(std::string key, std::string def, std::string doc) {
  return add(std::move(key), ValueKind::String, std::move(def), std::move(doc));
}
OptionSpec& ConfigSchema::add_int_list(std::string key, std::vector<long long> def, std::string doc) {
  return add(std::move(key), ValueKind::IntList, std::move(def), std::move(doc));
}
OptionSpec& ConfigSchema::add_float_list(std::string key, std::vector<double> def, std::string doc) {
  return add(std::move(key), ValueKind::FloatList, std::move(def), std::move(doc));
}
OptionSpec& ConfigSchema::add_string_list(std::string key, std::vector<std::string> def, std::string doc) {
  return add(std::move(key), ValueKind::StringList, std::move(def), std::move(doc));
}

void ConfigSchema::describe_section(std::string section, std::string doc) {
  section_docs_.emplace_back(std::move(section), std::move(doc));
}

const OptionSpec* ConfigSchema::find(const std::string& key) const {
  for (const auto& o : options_)
    if (o.key == key) return &o;
  return nullptr;
}

std::string ConfigSchema::section_doc(const std::string& section) const {
  for (const auto& [name, doc] : section_docs_)
    if (name == section) return doc;
  return {};
}

bool ConfigSchema::is_section(const std::string& prefix) const {
  const std::string p = prefix + ".";
  return std::any_of(options_.begin(), options_.end(),
                     [&](const OptionSpec& o) { return o.key.compare(0, p.size(), p) == 0; });
}

std::string ConfigSchema::closest_key(const std::string& key) const {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& o : options_) {
    std::size_t d = edit_distance(key, o.key);
    if (d < best_d) best_d = d, best = o.key;
  }
  // Only suggest plausible typos, not unrelated keys.
  return best_d <= std::max<std::size_t>(2, key.size() / 4) ? best : std::string();
}

}  // namespace toonreid

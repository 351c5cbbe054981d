#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

const char* kBaseKey = "_BASE_";

std::string node_text(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

template <class T>
bool try_scalar(const YAML::Node& node, T& out) {
  if (!node.IsScalar()) return false;
  try {
    out = node.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

// Converts a YAML node to the option's type; returns false on a type mismatch.
bool convert_node(const YAML::Node& node, ValueKind kind, ConfigValue& out) {
  auto scalar_list = [&](auto element) -> bool {
    using T = decltype(element);
    if (!node.IsSequence()) return false;
    std::vector<T> xs;
    for (const auto& item : node) {
      T x{};
      if (!try_scalar(item, x)) return false;
      xs.push_back(x);
    }
    out = std::move(xs);
    return true;
  };
  switch (kind) {
    case ValueKind::Int: {
      long long v;
      if (!try_scalar(node, v)) return false;
      out = v;
      return true;
    }
    case ValueKind::Float: {
      double v;
      if (!try_scalar(node, v)) return false;
      out = v;
      return true;
    }
    case ValueKind::Bool: {
      bool v;
      if (!try_scalar(node, v)) return false;
      out = v;
      return true;
    }
    case ValueKind::String: {
      if (node.IsNull()) {
        out = std::string();
        return true;
      }
      std::string v;
      if (!try_scalar(node, v)) return false;
      out = v;
      return true;
    }
    case ValueKind::IntList: return scalar_list(0LL);
    case ValueKind::FloatList: return scalar_list(0.0);
    case ValueKind::StringList: return scalar_list(std::string());
  }
  return false;
}

// Flattens a YAML map into (dotted key, leaf node) pairs, stopping at schema options so
// that list-valued options keep their sequence.
void flatten(const ConfigSchema& schema, const YAML::Node& node, const std::string& prefix,
             const std::string& source, std::vector<std::pair<std::string, YAML::Node>>& out) {
  for (const auto& item : node) {
    std::string name = item.first.as<std::string>();
    if (prefix.empty() && name == kBaseKey) continue;
    std::string key = prefix.empty() ? name : prefix + "." + name;
    if (schema.find(key) != nullptr) {
      out.emplace_back(key, item.second);
    } else if (schema.is_section(key)) {
      if (!item.second.IsMap())
        throw ConfigError(source + ": '" + key + "' is a section; expected a map of options, got '" +
                          node_text(item.second) + "'");
      flatten(schema, item.second, key, source, out);
    } else {
      std::string hint = schema.closest_key(key);
      throw ConfigError(source + ": unknown key '" + key + "'" +
                        (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
    }
  }
}

YAML::Node load_yaml_file(const fs::path& file) {
  if (!fs::exists(file)) throw ConfigError("config file not found: " + file.string());
  try {
    YAML::Node root = YAML::LoadFile(file.string());
    if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw ConfigError(file.string() + ": the top level must be a map of options");
    return root;
  } catch (const YAML::Exception& e) {
    throw ConfigError(file.string() + ": invalid YAML: " + e.what());
  }
}

void apply_file(Config& config, const fs::path& file, std::vector<fs::path>& chain) {
  fs::path canonical = fs::weakly_canonical(file);
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end())
    throw ConfigError(file.string() + ": _BASE_ inheritance forms a cycle");
  chain.push_back(canonical);
  YAML::Node root = load_yaml_file(file);
  if (YAML::Node base = root[kBaseKey]) {
    std::vector<std::string> bases;
    if (base.IsScalar()) {
      bases.push_back(base.as<std::string>());
    } else if (base.IsSequence()) {
      for (const auto& b : base) bases.push_back(b.as<std::string>());
    } else {
      throw ConfigError(file.string() + ": _BASE_ must be a file name or a list of file names");
    }
    for (const auto& b : bases) {
      fs::path base_path = fs::path(b).is_absolute() ? fs::path(b) : file.parent_path() / b;
      if (!fs::exists(base_path))
        throw ConfigError(file.string() + ": _BASE_ file not found: " + base_path.string());
      apply_file(config, base_path, chain);
    }
  }
  std::vector<std::pair<std::string, YAML::Node>> leaves;
  flatten(config.schema(), root, "", file.string(), leaves);
  for (const auto& [key, node] : leaves) config.set_from_text(key, node_text(node), file.string());
  chain.pop_back();
}

}  // namespace

Config::Config(const ConfigSchema& schema) : schema_(&schema) {
  for (const auto& o : schema.options()) {
    std::string why = o.violation(o.default_value);
    if (!why.empty()) throw std::logic_error("default of '" + o.key + "' " + why);
    values_[o.key] = o.default_value;
    sources_[o.key] = "default";
  }
}

const OptionSpec& Config::spec(const std::string& key) const {
  const OptionSpec* s = schema_->find(key);
  if (s == nullptr) throw std::logic_error("config key not declared in the schema: " + key);
  return *s;
}

const ConfigValue& Config::get(const std::string& key) const {
  spec(key);
  return values_.at(key);
}

namespace {
template <class T>
const T& typed(const Config& config, const std::string& key) {
  const ConfigValue& v = config.get(key);
  if (!std::holds_alternative<T>(v)) throw std::logic_error("config key read with the wrong type: " + key);
  return std::get<T>(v);
}
}  // namespace

long long Config::get_int(const std::string& key) const { return typed<long long>(*this, key); }
double Config::get_float(const std::string& key) const { return typed<double>(*this, key); }
bool Config::get_bool(const std::string& key) const { return typed<bool>(*this, key); }
const std::string& Config::get_string(const std::string& key) const { return typed<std::string>(*this, key); }
const std::vector<long long>& Config::get_int_list(const std::string& key) const {
  return typed<std::vector<long long>>(*this, key);
}
const std::vector<double>& Config::get_float_list(const std::string& key) const {
  return typed<std::vector<double>>(*this, key);
}
const std::vector<std::string>& Config::get_string_list(const std::string& key) const {
  return typed<std::vector<std::string>>(*this, key);
}

const std::string& Config::source(const std::string& key) const {
  spec(key);
  return sources_.at(key);
}

std::string Config::describe(const std::string& key) const {
  return source(key) + ": " + key + " = " + format_value(get(key));
}

void Config::set_from_text(const std::string& key, const std::string& yaml_text, const std::string& source) {
  const OptionSpec* s = schema_->find(key);
  if (s == nullptr) {
    std::string hint = schema_->closest_key(key);
    throw ConfigError(source + ": unknown key '" + key + "'" +
                      (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
  }
  YAML::Node node;
  try {
    node = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": " + key + " = '" + yaml_text + "' is not valid YAML: " + e.what());
  }
  ConfigValue value;
  if (!convert_node(node, s->kind, value))
    throw ConfigError(source + ": " + key + " = '" + yaml_text + "': expected " + kind_name(s->kind));
  std::string why = s->violation(value);
  if (!why.empty()) throw ConfigError(source + ": " + key + " = " + format_value(value) + ": " + why);
  values_[key] = std::move(value);
  sources_[key] = source;
}

void Config::apply_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("command line: override '" + assignment + "' must look like key.sub=value");
  set_from_text(assignment.substr(0, eq), assignment.substr(eq + 1), "command line");
}

std::string Config::to_yaml(bool with_docs) const {
  std::ostringstream out;
  std::vector<std::string> open;  // nested path currently open
  for (const auto& o : schema_->options()) {
    // Split "a.b.c" into path components.
    std::vector<std::string> parts;
    std::stringstream ss(o.key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    std::vector<std::string> path(parts.begin(), parts.end() - 1);
    std::size_t common = 0;
    while (common < open.size() && common < path.size() && open[common] == path[common]) ++common;
    for (std::size_t depth = common; depth < path.size(); ++depth) {
      if (depth == 0) {
        if (out.tellp() > 0) out << "\n";
        if (with_docs) {
          std::string doc = schema_->section_doc(path[0]);
          if (!doc.empty()) out << "# " << doc << "\n";
        }
      }
      out << std::string(2 * depth, ' ') << path[depth] << ":\n";
    }
    open = path;
    std::string indent(2 * path.size(), ' ');
    if (with_docs) {
      std::string constraint;
      if (!o.choices.empty()) {
        for (const auto& c : o.choices) constraint += (constraint.empty() ? "one of: " : ", ") + c;
      } else if (o.min_value || o.max_value) {
        std::ostringstream b;
        if (o.min_value && o.max_value) b << "range [" << *o.min_value << ", " << *o.max_value << "]";
        else if (o.min_value) b << (o.exclusive_min ? "> " : ">= ") << *o.min_value;
        else b << "<= " << *o.max_value;
        constraint = b.str();
      }
      out << indent << "# " << o.doc << (constraint.empty() ? "" : " (" + constraint + ")") << "\n";
    }
    out << indent << parts.back() << ": " << format_value(values_.at(o.key));
    const std::string& src = sources_.at(o.key);
    if (!with_docs && src != "default") out << "  # from " << src;
    out << "\n";
  }
  return out.str();
}

Config load_config(const ConfigSchema& schema, const fs::path& file, const std::vector<std::string>& overrides) {
  Config config(schema);
  std::vector<fs::path> chain;
  apply_file(config, file, chain);
  for (const auto& o : overrides) config.apply_override(o);
  return config;
}

Config load_config_text(const ConfigSchema& schema, const std::string& yaml_text, const std::string& source) {
  Config config(schema);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": invalid YAML: " + e.what());
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw ConfigError(source + ": the top level must be a map of options");
  if (root[kBaseKey]) throw ConfigError(source + ": _BASE_ is only allowed in config files");
  std::vector<std::pair<std::string, YAML::Node>> leaves;
  flatten(schema, root, "", source, leaves);
  for (const auto& [key, node] : leaves) config.set_from_text(key, node_text(node), source);
  return config;
}

Config make_config(const ConfigSchema& schema, const std::vector<std::string>& overrides) {
  Config config(schema);
  for (const auto& o : overrides) config.apply_override(o);
  return config;
}

}  // namespace toonreid

#include "model/torch_export.h"

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace toonreid {

namespace {

// JSON as the IValues pickle_save writes as Python dicts, lists and scalars.
c10::IValue to_ivalue(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
      for (const auto& [k, v] : j.items()) d.insert(k, to_ivalue(v));
      return d;
    }
    case nlohmann::json::value_t::array: {
      c10::impl::GenericList l(c10::AnyType::get());
      for (const auto& v : j) l.push_back(to_ivalue(v));
      return l;
    }
    case nlohmann::json::value_t::string: return j.get<std::string>();
    case nlohmann::json::value_t::boolean: return j.get<bool>();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return j.get<int64_t>();
    case nlohmann::json::value_t::number_float: return j.get<double>();
    case nlohmann::json::value_t::null: return c10::IValue();
    default: throw Error("export: metadata of an unsupported JSON type");
  }
}

}  // namespace

bool exported_entry(const std::string& name) { return name.rfind("head.classifier.", 0) != 0; }

void write_torch_export(ReidModel& model, const nlohmann::json& meta, const std::filesystem::path& file) {
  c10::Dict<std::string, torch::Tensor> state;
  auto keep = [&](const std::string& name, const torch::Tensor& t) {
    // A fresh contiguous CPU copy: the file's storages hold exactly these tensors.
    if (exported_entry(name)) state.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  };
  for (const auto& p : model->named_parameters()) keep(p.key(), p.value());
  for (const auto& b : model->named_buffers()) keep(b.key(), b.value());
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("format", std::string(kTorchExportFormat));
  top.insert("meta", to_ivalue(meta));
  top.insert("state_dict", state);
  const std::vector<char> bytes = torch::pickle_save(top);
  try {
    write_file_atomically(file, std::string_view(bytes.data(), bytes.size()));
  } catch (const std::exception& e) {
    throw Error("export: cannot write " + file.string() + ": " + e.what());
  }
}

}  // namespace toonreid

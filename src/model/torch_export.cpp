#include "model/torch_export.h"

#include <ATen/core/Dict.h>
#include <nlohmann/json.hpp>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace toonreid {

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
  // As JSON text: torch 1.13's weights-only unpickler has no opcode for floats (BINFLOAT).
  top.insert("meta", meta.dump());
  top.insert("state_dict", state);
  // pickle_save's zip layout, but with untagged dicts and lists: its type tags
  // (torch.jit._pickle.restore_type_tag) are refused by torch.load(weights_only=True).
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* b, size_t n) { pickled.insert(pickled.end(), b, b + n); }, nullptr,
                              nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(top);
  pickler.stop();
  std::vector<char> bytes;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* b, size_t n) -> size_t {
      bytes.insert(bytes.end(), static_cast<const char*>(b), static_cast<const char*>(b) + n);
      return n;
    });
    torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  }  // the writer ends the zip on destruction
  try {
    write_file_atomically(file, std::string_view(bytes.data(), bytes.size()));
  } catch (const std::exception& e) {
    throw Error("export: cannot write " + file.string() + ": " + e.what());
  }
}

}  // namespace toonreid

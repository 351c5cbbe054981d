// toonreid export (--weights CKPT [--config C] | --config C) --format pytorch|onnx --out FILE
//                 [--python /usr/bin/python3] [--opset 13] [key=value ...]
#include <iostream>

#include "cli/commands.h"
#include "recipe/model_export.h"

namespace toonreid::cli {

void add_export_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "export", "Write a model's embedding network for PyTorch (toonreid_torch.load) or ONNX runtimes");
  struct Args {
    std::string config, weights, format = "pytorch", out, python = "/usr/bin/python3";
    int opset = 13;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config,
                  "YAML config (without --weights: export its pretrained network; default: the checkpoint's own)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->weights, "Checkpoint to export")->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "pytorch (a torch.load file) or onnx")
      ->check(CLI::IsMember({"pytorch", "onnx"}));
  cmd->add_option("--out", args->out, "Output file")->required();
  cmd->add_option("--python", args->python, "onnx: the Python with torch and onnx (default /usr/bin/python3, where Debian installs python3-torch)");
  cmd->add_option("--opset", args->opset, "onnx: the operator set")->check(CLI::Range(9, 17));
  cmd->add_option("overrides", args->overrides, "Config overrides key.sub=value");
  cmd->callback([args] {
    RunSetup run = export_setup(args->config, args->weights, args->overrides);
    ExportRequest request;
    request.weights = args->weights;
    request.format = parse_export_format(args->format);
    request.out = args->out;
    request.python = args->python;
    request.onnx_opset = args->opset;
    export_model(run, request);
    std::cout << args->out << "\n";
  });
}

}  // namespace toonreid::cli

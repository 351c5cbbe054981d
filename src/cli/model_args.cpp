#include "cli/model_args.h"

namespace toonreid::cli {

void add_model_args(CLI::App* cmd, ModelArgs& a, bool weights) {
  cmd->add_option("--config", a.config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data, "Data set folder or manifest (default: data.root)");
  cmd->add_option("--split", a.split,
                  "Split to use (default: data.test_split); 'validation': the identities data.val_identities holds out");
  if (weights) {
    cmd->add_option("--weights", a.weights, "Checkpoint (default: the config's pretrained initialisation)");
    cmd->add_option("--features", a.features,
                    "Features saved by extract / eval --save (.npy or .trm, one row per record of the split) "
                    "instead of running a model")->check(CLI::ExistingFile)->excludes("--weights");
  }
  auto* q = cmd->add_option("--query-split", a.query_split,
                            "Rank this split's images against --gallery-split's (any domains) instead of C2P and P2C");
  auto* g = cmd->add_option("--gallery-split", a.gallery_split, "Gallery split for --query-split");
  q->needs(g);
  g->needs(q);
  cmd->add_option("overrides", a.overrides, "Config overrides key.sub=value");
}

}  // namespace toonreid::cli

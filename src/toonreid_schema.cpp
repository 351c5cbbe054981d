#include "toonreid_schema.h"

#include "core/distributed.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/training_selection.h"
#include "data/transforms.h"
#include "engine/lr_schedule.h"
#include "engine/objective.h"
#include "engine/trainer.h"
#include "face/face_aligner.h"
#include "model/reid_model.h"
#include "retrieval/features.h"
#include "mining/identity_mining.h"
#include "retrieval/open_set_score.h"
#include "retrieval/postprocess.h"

namespace toonreid {

void add_pipeline_options(ConfigSchema& schema) {
  schema.describe_section("pipeline", "toonreid pipeline: the stages to run and each stage's config overrides.");
  schema.add_string_list("pipeline.stages", {"baseline", "mdl", "identity_mining", "kmeans", "rerank", "ensemble"},
                         "Stages in order: baseline, mdl, identity_mining, kmeans, rerank, ensemble");
  schema.add_string("pipeline.output_dir", "runs/pipeline", "Folder of the stage folders and the comparison");
  schema.add_string("pipeline.base", "latest",
                    "Models the rerank and ensemble stages use: the latest trained in recipe order (IM, then MDL), "
                    "or the best two by mean C2P/P2C mAP on the validation identities (data.val_identities)")
      .one_of({"latest", "best"});
  schema.add_string_list("pipeline.baseline", {}, "Overrides of the baseline training");
  schema.add_string_list("pipeline.mdl_stage1", {"data.selection=mdl_pretrain"},
                         "Overrides of MDL stage 1 (pre-training on the target domain + N identities of the other)");
  schema.add_string_list("pipeline.mdl_stage2",
                         {"data.selection=target_domain", "solver.freeze_stages=2", "solver.base_lr=0.001",
                          "solver.head_lr_factor=10"},
                         "Overrides of MDL stage 2 (fine-tuning on the target domain; started from stage 1)");
  schema.add_string_list("pipeline.retrain", {},
                         "Overrides of the retraining with pseudo-labels (started from the mined model)");
  schema.add_string_list("pipeline.ensemble_members", {},
                         "Further members of the ensemble stage beside its two models: checkpoints, 'pretrained' or "
                         "'pretrained:CONFIG' (another config's network and input pipeline, zero-shot: a second "
                         "backbone; the path relative to the working folder)");
  schema.add_string("pipeline.ensemble_combine", "distances",
                    "How the ensemble stage combines its members: their re-ranked distances, or their features "
                    "(concatenated with the weights, then re-ranked)")
      .one_of({"distances", "features"});
  schema.add_string("pipeline.ensemble_weights", "equal",
                    "The members' weights: equal, or chosen on the validation identities (data.val_identities) on a "
                    "grid of step pipeline.ensemble_weight_step")
      .one_of({"equal", "validation"});
  schema.add_float("pipeline.ensemble_weight_step", 0.1, "Grid step of pipeline.ensemble_weights: validation")
      .range(0.01, 0.5);
}

ConfigSchema toonreid_schema() {
  ConfigSchema schema;
  add_run_options(schema);
  add_data_options(schema);
  add_training_selection_options(schema);
  add_input_options(schema);
  add_face_options(schema);
  add_sampler_options(schema);
  add_loader_options(schema);
  add_dist_options(schema);
  add_model_options(schema);
  add_loss_options(schema);
  add_solver_options(schema);
  add_train_options(schema);
  add_test_options(schema);
  add_retrieval_options(schema);
  add_open_set_options(schema);
  add_mining_options(schema);
  add_pipeline_options(schema);
  return schema;
}

}  // namespace toonreid

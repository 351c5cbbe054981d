#include "toonreid_schema.h"

#include "core/distributed.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/training_selection.h"
#include "data/transforms.h"
#include "engine/solver.h"
#include "engine/objective.h"
#include "engine/trainer_builder.h"
#include "face/face_aligner.h"
#include "model/reid_model.h"
#include "recipe/pipeline.h"
#include "retrieval/features.h"
#include "mining/identity_mining.h"
#include "retrieval/open_set_score.h"
#include "retrieval/postprocess.h"
#include "serve/gallery_index.h"

namespace toonreid {

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
  add_data_parallel_options(schema);
  add_model_options(schema);
  add_loss_options(schema);
  add_solver_options(schema);
  add_train_options(schema);
  add_test_options(schema);
  add_retrieval_options(schema);
  add_index_options(schema);
  add_open_set_options(schema);
  add_mining_options(schema);
  add_pipeline_options(schema);
  return schema;
}

}  // namespace toonreid

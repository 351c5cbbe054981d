// The complete configuration schema: every module declares its own section, and this
// composition root (above every module, below the programs) collects them.
#pragma once

#include "core/config_schema.h"

namespace toonreid {

ConfigSchema toonreid_schema();

// The `pipeline` section (toonreid pipeline's stages and their overrides): declared here
// because the pipeline is a program-level composition of every module.
void add_pipeline_options(ConfigSchema& schema);

}  // namespace toonreid

// The complete configuration schema: every module declares its own section, and this
// composition root (above every module, below the programs) collects them.
#pragma once

#include "core/config_schema.h"

namespace toonreid {

ConfigSchema toonreid_schema();

}  // namespace toonreid

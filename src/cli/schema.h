// The complete configuration schema: every module declares its own section.
#pragma once

#include "core/config_schema.h"

namespace toonreid {

ConfigSchema toonreid_schema();

}  // namespace toonreid

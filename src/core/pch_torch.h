// Precompiled header for files that use LibTorch: pch_common.h plus ATen and the parts
// of the C++ API the library uses. <torch/torch.h> as a whole would make a 670 MB header
// that costs ~10 s to load in every file, so it is left out.
#pragma once

#include "core/pch_common.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/instancenorm.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/types.h>
#include <torch/utils.h>

// Precompiled header for files that do not use LibTorch: the standard library and the
// light third-party headers. Files that include <torch/...> or <ATen/...> get
// pch_torch.h instead (the build sorts files by their includes, cmake/PchGroups.cmake).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

// Ensembles of several models' retrieval results: a weighted mean of their distance
// matrices (each optionally normalised first, since models' distance scales differ), or
// one concatenated feature whose squared Euclidean distance is the weighted sum of the
// models' squared distances.
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

namespace toonreid {

enum class MatrixNormalization {
  None,    // as is
  MinMax,  // (d - min) / (max - min) over the whole matrix
  ZScore,  // (d - mean) / std over the whole matrix
};
MatrixNormalization parse_normalization(const std::string& name);  // none, minmax, zscore

// sum_i w_i * normalise(D_i) / sum_i w_i; all matrices of one shape; weights empty = equal.
torch::Tensor combine_distances(const std::vector<torch::Tensor>& matrices, const std::vector<double>& weights,
                                MatrixNormalization normalization);

// [N, sum D_i]: each model's rows L2-normalised and scaled by sqrt(w_i / sum w).
torch::Tensor combine_features(const std::vector<torch::Tensor>& features, const std::vector<double>& weights);

}  // namespace toonreid

// Distances between embeddings: Euclidean, cosine (1 - cos) and angular (arccos of the
// cosine, radians). Computed blockwise with matrix products, so the temporary memory
// stays bounded (a block of query rows at a time) whatever the query and gallery sizes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

namespace toonreid {

enum class DistanceKind { Euclidean, Cosine, Angular };

// "euclidean", "cosine", "angular"; other names throw an Error listing these.
DistanceKind parse_distance(const std::string& name);
std::string distance_name(DistanceKind kind);
const std::vector<std::string>& distance_names();

// Rows of one block such that a [rows, columns] float block takes about `bytes`.
int64_t block_rows_for(int64_t columns, int64_t bytes = 64 << 20);

// Calls fn(first_row, block) for consecutive blocks of query rows, block = [rows, G]
// float distances. Features are [Q, D] and [G, D] (converted to float).
void for_each_distance_block(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind,
                             int64_t block_rows, const std::function<void(int64_t, const torch::Tensor&)>& fn);

// The full [Q, G] float matrix (computed block by block).
torch::Tensor pairwise_distances(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind);

// Distance of one pair of feature rows (length `dim`), the same definition as above.
float pair_distance(const float* a, const float* b, int64_t dim, DistanceKind kind);

}  // namespace toonreid

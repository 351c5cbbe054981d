#include "retrieval/query_expansion.h"

#include "core/error.h"
#include "retrieval/distance.h"

namespace toonreid {

torch::Tensor expand_queries(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                             const QueryExpansionOptions& o) {
  if (o.k < 1) throw Error("query expansion: k must be at least 1");
  if (o.alpha < 0) throw Error("query expansion: alpha must not be negative");
  torch::NoGradGuard no_grad;
  auto unit = [](const torch::Tensor& x) { return x / x.norm(2, 1, true).clamp_min(1e-12); };
  torch::Tensor q = unit(query_features.to(torch::kFloat)), g = unit(gallery_features.to(torch::kFloat));
  const int64_t k = std::min<int64_t>(o.k, g.size(0));
  torch::Tensor out = torch::empty_like(q);
  // Blocks of queries bound the [rows, G] similarity block.
  const int64_t rows = block_rows_for(g.size(0));
  for (int64_t s = 0; s < q.size(0); s += rows) {
    torch::Tensor qb = q.narrow(0, s, std::min(rows, q.size(0) - s));
    auto [sim, idx] = torch::mm(qb, g.t()).topk(k, 1);
    torch::Tensor w = sim.clamp_min(0).pow(o.alpha);                       // [rows, k]
    torch::Tensor neighbours = g.index_select(0, idx.reshape(-1)).view({qb.size(0), k, g.size(1)});
    out.narrow(0, s, qb.size(0)).copy_(unit(qb + (w.unsqueeze(2) * neighbours).sum(1)));
  }
  return out;
}

}  // namespace toonreid

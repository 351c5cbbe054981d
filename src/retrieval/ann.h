// Approximate nearest-neighbour search structures, for every part that needs one (the
// gallery index's search, re-ranking's gallery neighbours). One description language,
// after FAISS's index_factory strings:
//
//   "Flat"               exact search
//   "IVF" | "IVF<n>"     inverted lists over k-means cells: n cells (bare: the user's rule
//                        from the data size, see below)
//   "HNSW" | "HNSW<M>"   hierarchical navigable small-world graph of degree M
//
// optionally followed by comma-separated parameters: nprobe=P (IVF: cells searched),
// efConstruction=E, efSearch=S (HNSW), e.g. "HNSW32,efSearch=128", "IVF1024,nprobe=16".
// Parameters a description leaves out keep the user's defaults, which live here too:
//
//   gallery index (serve/)  Flat; IVF ~4 sqrt(N) cells, nprobe 16; HNSW32, efC 40, efS 64
//   re-ranking (retrieval/) HNSW16, efC 64, efS 64; IVF ~sqrt(G) cells, nprobe 8
//
// Data convention (FAISS's): n vectors of d floats are n x d row-major (row i at
// data + i * d).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <faiss/MetricType.h>

namespace faiss {
struct Index;
}

namespace toonreid {

class Config;
class ConfigSchema;

enum class AnnKind { Exact, Ivf, Hnsw };
AnnKind parse_ann_kind(const std::string& name);  // "flat" / "exact", "ivf", "hnsw"
const char* ann_kind_name(AnnKind kind);          // "flat", "ivf", "hnsw"

struct AnnSpec {
  AnnKind kind = AnnKind::Exact;
  int ivf_lists = 0;  // cells; 0: the user's rule from the data size
  int ivf_probe = 16;
  int hnsw_m = 32;
  int hnsw_ef_construction = 40;
  int hnsw_ef_search = 64;
};

// The two users' defaults (table above) for a structure of `kind`.
AnnSpec gallery_ann_defaults(AnnKind kind = AnnKind::Exact);
AnnSpec rerank_ann_defaults(AnnKind kind = AnnKind::Hnsw);

// Parses `description` (see above; a bare kind name "flat", "ivf", "hnsw" is accepted
// too) over `defaults`. Throws Error naming the description and the part not understood.
AnnSpec parse_ann(const std::string& description, const AnnSpec& defaults);
// The description that parses back to `spec` ("HNSW32,efConstruction=40,efSearch=64").
std::string describe_ann(const AnnSpec& spec);

// Declares `<prefix>.search` (a description or a kind name) and its parameters
// `<prefix>.ivf_lists`, `.ivf_probe`, `.hnsw_m`, `.hnsw_ef_construction`, `.hnsw_ef_search`
// with `defaults`; `what` says in the help what the structure is for.
void add_ann_options(ConfigSchema& schema, const std::string& prefix, const AnnSpec& defaults, const std::string& what);
// Reads them: the parameter keys first, then whatever the description of `.search` sets.
AnnSpec ann_options(const Config& config, const std::string& prefix);

// A FAISS structure for `spec` over `dim`-d vectors under `metric`. IVF needs training
// vectors `train` [n, dim] (n >= 1) and spec.ivf_lists > 0 (the caller applies its rule
// for 0); Flat and HNSW ignore `train`. Ensures: an empty index, trained when IVF.
std::unique_ptr<faiss::Index> make_ann_index(const AnnSpec& spec, int64_t dim, faiss::MetricType metric,
                                             const float* train = nullptr, int64_t n = 0);

}  // namespace toonreid

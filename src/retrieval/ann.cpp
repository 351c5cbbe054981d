#include "retrieval/ann.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {

AnnKind parse_ann_kind(const std::string& name) {
  if (name == "flat" || name == "exact") return AnnKind::Exact;
  if (name == "ivf") return AnnKind::Ivf;
  if (name == "hnsw") return AnnKind::Hnsw;
  throw Error("unknown search structure '" + name + "' (flat, ivf or hnsw)");
}

const char* ann_kind_name(AnnKind kind) {
  switch (kind) {
    case AnnKind::Exact: return "flat";
    case AnnKind::Ivf: return "ivf";
    case AnnKind::Hnsw: return "hnsw";
  }
  return "?";
}

AnnSpec gallery_ann_defaults(AnnKind kind) {
  AnnSpec s;
  s.kind = kind;
  s.ivf_lists = 0;  // about 4 sqrt(N) at the first add, at most N / 39 (serve/gallery_index.cpp)
  s.ivf_probe = 16;
  s.hnsw_m = 32;
  s.hnsw_ef_construction = 40;  // FAISS's own default
  s.hnsw_ef_search = 64;
  return s;
}

AnnSpec rerank_ann_defaults(AnnKind kind) {
  AnnSpec s;
  s.kind = kind;
  s.ivf_lists = 0;  // about sqrt(G) (retrieval/rerank.cpp)
  s.ivf_probe = 8;
  s.hnsw_m = 16;
  s.hnsw_ef_construction = 64;
  s.hnsw_ef_search = 64;
  return s;
}

namespace {

int parse_count(const std::string& text, const std::string& description, const std::string& part) {
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    throw Error("search structure '" + description + "': '" + part + "' needs a positive whole number");
  const int v = std::stoi(text);
  if (v < 1) throw Error("search structure '" + description + "': '" + part + "' needs a positive whole number");
  return v;
}

}  // namespace

AnnSpec parse_ann(const std::string& description, const AnnSpec& defaults) {
  AnnSpec s = defaults;
  std::vector<std::string> parts;
  std::stringstream in(description);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  if (parts.empty() || parts[0].empty()) throw Error("search structure: empty description");
  std::string head = parts[0];
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "flat" || lower == "exact") {
    s.kind = AnnKind::Exact;
  } else if (lower.rfind("ivf", 0) == 0) {
    s.kind = AnnKind::Ivf;
    if (lower.size() > 3) s.ivf_lists = parse_count(head.substr(3), description, head);
  } else if (lower.rfind("hnsw", 0) == 0) {
    s.kind = AnnKind::Hnsw;
    if (lower.size() > 4) s.hnsw_m = parse_count(head.substr(4), description, head);
    if (s.hnsw_m < 2) throw Error("search structure '" + description + "': HNSW needs a degree M of at least 2");
  } else {
    throw Error("search structure '" + description + "': '" + head + "' is not Flat, IVF<n> or HNSW<M>");
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const auto eq = p.find('=');
    const std::string key = eq == std::string::npos ? p : p.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : p.substr(eq + 1);
    if (key == "nprobe" && s.kind == AnnKind::Ivf) s.ivf_probe = parse_count(value, description, p);
    else if (key == "efConstruction" && s.kind == AnnKind::Hnsw) s.hnsw_ef_construction = parse_count(value, description, p);
    else if (key == "efSearch" && s.kind == AnnKind::Hnsw) s.hnsw_ef_search = parse_count(value, description, p);
    else
      throw Error("search structure '" + description + "': '" + p + "' is not a parameter of " + ann_kind_name(s.kind) +
                  " (IVF: nprobe; HNSW: efConstruction, efSearch)");
  }
  return s;
}

std::string describe_ann(const AnnSpec& s) {
  switch (s.kind) {
    case AnnKind::Exact: return "Flat";
    case AnnKind::Ivf:
      return "IVF" + (s.ivf_lists > 0 ? std::to_string(s.ivf_lists) : std::string()) + ",nprobe=" + std::to_string(s.ivf_probe);
    case AnnKind::Hnsw:
      return "HNSW" + std::to_string(s.hnsw_m) + ",efConstruction=" + std::to_string(s.hnsw_ef_construction) +
             ",efSearch=" + std::to_string(s.hnsw_ef_search);
  }
  return "?";
}

void add_ann_options(ConfigSchema& schema, const std::string& prefix, const AnnSpec& d, const std::string& what) {
  schema.add_string(prefix + ".search", ann_kind_name(d.kind),
                    what + ": flat, ivf, hnsw, or a description such as HNSW32,efSearch=128 or IVF1024,nprobe=16 "
                           "(retrieval/ann.h); its parameters override the keys below");
  schema.add_int(prefix + ".ivf_lists", d.ivf_lists, "ivf: k-means cells (0: from the data size)").range(0, 10000000);
  schema.add_int(prefix + ".ivf_probe", d.ivf_probe, "ivf: cells searched per query").range(1, 100000);
  schema.add_int(prefix + ".hnsw_m", d.hnsw_m, "hnsw: graph degree M").range(2, 512);
  schema.add_int(prefix + ".hnsw_ef_construction", d.hnsw_ef_construction, "hnsw: efConstruction").range(1, 100000);
  schema.add_int(prefix + ".hnsw_ef_search", d.hnsw_ef_search, "hnsw: efSearch").range(1, 100000);
}

AnnSpec ann_options(const Config& config, const std::string& prefix) {
  AnnSpec s;
  s.ivf_lists = static_cast<int>(config.get_int(prefix + ".ivf_lists"));
  s.ivf_probe = static_cast<int>(config.get_int(prefix + ".ivf_probe"));
  s.hnsw_m = static_cast<int>(config.get_int(prefix + ".hnsw_m"));
  s.hnsw_ef_construction = static_cast<int>(config.get_int(prefix + ".hnsw_ef_construction"));
  s.hnsw_ef_search = static_cast<int>(config.get_int(prefix + ".hnsw_ef_search"));
  try {
    return parse_ann(config.get_string(prefix + ".search"), s);
  } catch (const Error& e) {
    throw ConfigError(config.describe(prefix + ".search") + ": " + e.what());
  }
}

std::unique_ptr<faiss::Index> make_ann_index(const AnnSpec& spec, int64_t dim, faiss::MetricType metric,
                                             const float* train, int64_t n) {
  const int d = static_cast<int>(dim);
  switch (spec.kind) {
    case AnnKind::Exact:
      if (metric == faiss::METRIC_INNER_PRODUCT) return std::make_unique<faiss::IndexFlatIP>(d);
      return std::make_unique<faiss::IndexFlatL2>(d);
    case AnnKind::Hnsw: {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(d, std::max(2, spec.hnsw_m), metric);
      h->hnsw.efConstruction = std::max(1, spec.hnsw_ef_construction);
      h->hnsw.efSearch = std::max(1, spec.hnsw_ef_search);
      return h;
    }
    case AnnKind::Ivf: {
      if (spec.ivf_lists < 1) throw Error("IVF: the number of cells must be chosen (ivf_lists > 0)");
      if (n < 1 || train == nullptr) throw Error("IVF: training vectors are needed");
      faiss::IndexFlat* quantizer = metric == faiss::METRIC_INNER_PRODUCT
                                        ? static_cast<faiss::IndexFlat*>(new faiss::IndexFlatIP(d))
                                        : static_cast<faiss::IndexFlat*>(new faiss::IndexFlatL2(d));
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, static_cast<std::size_t>(dim),
                                                       static_cast<std::size_t>(spec.ivf_lists), metric);
      ivf->own_fields = true;
      ivf->train(n, train);
      ivf->nprobe = static_cast<std::size_t>(std::clamp(spec.ivf_probe, 1, spec.ivf_lists));
      return ivf;
    }
  }
  throw Error("unknown search structure");
}

}  // namespace toonreid

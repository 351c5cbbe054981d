// The one description language of search structures (retrieval/ann.h): parsing,
// printing, the config keys it declares, and the FAISS structures it builds.
#include "retrieval/ann.h"

#include <gtest/gtest.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/Index.h>

#include <random>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {
namespace {

TEST(Ann, DescriptionsParseOverTheDefaultsAndPrintBack) {
  const AnnSpec gallery = gallery_ann_defaults(AnnKind::Exact);
  EXPECT_EQ(parse_ann("Flat", gallery).kind, AnnKind::Exact);
  EXPECT_EQ(parse_ann("exact", gallery).kind, AnnKind::Exact);
  const AnnSpec h = parse_ann("HNSW48,efSearch=128", gallery);
  EXPECT_EQ(h.kind, AnnKind::Hnsw);
  EXPECT_EQ(h.hnsw_m, 48);
  EXPECT_EQ(h.hnsw_ef_search, 128);
  EXPECT_EQ(h.hnsw_ef_construction, gallery.hnsw_ef_construction);  // left out: the default
  const AnnSpec bare = parse_ann("hnsw", rerank_ann_defaults());
  EXPECT_EQ(bare.hnsw_m, 16);  // re-ranking's default degree
  const AnnSpec ivf = parse_ann("IVF1024,nprobe=12", gallery);
  EXPECT_EQ(ivf.kind, AnnKind::Ivf);
  EXPECT_EQ(ivf.ivf_lists, 1024);
  EXPECT_EQ(ivf.ivf_probe, 12);
  EXPECT_EQ(parse_ann("IVF", gallery).ivf_lists, 0);  // the user's rule from the data size
  for (const AnnSpec& s : {h, ivf, gallery, rerank_ann_defaults(AnnKind::Ivf)}) {
    const AnnSpec back = parse_ann(describe_ann(s), AnnSpec{});
    EXPECT_EQ(back.kind, s.kind) << describe_ann(s);
    if (s.kind == AnnKind::Hnsw) {
      EXPECT_EQ(back.hnsw_m, s.hnsw_m);
      EXPECT_EQ(back.hnsw_ef_construction, s.hnsw_ef_construction);
      EXPECT_EQ(back.hnsw_ef_search, s.hnsw_ef_search);
    }
    if (s.kind == AnnKind::Ivf) {
      EXPECT_EQ(back.ivf_lists, s.ivf_lists);
      EXPECT_EQ(back.ivf_probe, s.ivf_probe);
    }
  }
  EXPECT_EQ(describe_ann(h), "HNSW48,efConstruction=40,efSearch=128");
}

TEST(Ann, BadDescriptionsAreRefusedNamingThePart) {
  auto message = [](const std::string& d) {
    try {
      parse_ann(d, AnnSpec{});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("LSH").find("'LSH'"), std::string::npos);
  EXPECT_NE(message("HNSW32,nprobe=4").find("'nprobe=4' is not a parameter of hnsw"), std::string::npos);
  EXPECT_NE(message("IVFx").find("'IVFx'"), std::string::npos);
  EXPECT_NE(message("HNSW1").find("at least 2"), std::string::npos);
  EXPECT_NE(message("IVF64,nprobe=0").find("positive whole number"), std::string::npos);
  EXPECT_NE(message("").find("empty"), std::string::npos);
  EXPECT_THROW(parse_ann_kind("lsh"), Error);
}

TEST(Ann, ConfigKeysOfEachUserKeepTheirDefaultsAndTakeADescription) {
  ConfigSchema schema;
  add_ann_options(schema, "a", gallery_ann_defaults(AnnKind::Exact), "test");
  add_ann_options(schema, "b", rerank_ann_defaults(AnnKind::Hnsw), "test");
  Config plain = make_config(schema);
  EXPECT_EQ(ann_options(plain, "a").kind, AnnKind::Exact);
  EXPECT_EQ(ann_options(plain, "a").ivf_probe, 16);
  EXPECT_EQ(ann_options(plain, "b").kind, AnnKind::Hnsw);
  EXPECT_EQ(ann_options(plain, "b").hnsw_m, 16);
  Config set = make_config(schema, {"a.search=HNSW24,efSearch=100", "a.hnsw_ef_construction=80", "b.search=ivf",
                                    "b.ivf_probe=3"});
  const AnnSpec a = ann_options(set, "a"), b = ann_options(set, "b");
  EXPECT_EQ(a.kind, AnnKind::Hnsw);
  EXPECT_EQ(a.hnsw_m, 24);
  EXPECT_EQ(a.hnsw_ef_search, 100);
  EXPECT_EQ(a.hnsw_ef_construction, 80);
  EXPECT_EQ(b.kind, AnnKind::Ivf);
  EXPECT_EQ(b.ivf_probe, 3);
  Config bad = make_config(schema, {"a.search=LSH16"});
  try {
    ann_options(bad, "a");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("a.search"), std::string::npos) << e.what();
  }
}

TEST(Ann, BuildsTheFaissStructureDescribedAndItFindsNeighbours) {
  const int d = 16, n = 2000;
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (auto& v : x) v = normal(rng);
  auto flat = make_ann_index(parse_ann("Flat", AnnSpec{}), d, faiss::METRIC_L2);
  EXPECT_NE(dynamic_cast<faiss::IndexFlatL2*>(flat.get()), nullptr);
  auto hnsw = make_ann_index(parse_ann("HNSW16,efConstruction=50,efSearch=70", AnnSpec{}), d, faiss::METRIC_INNER_PRODUCT);
  auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(hnsw.get());
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->hnsw.efConstruction, 50);
  EXPECT_EQ(h->hnsw.efSearch, 70);
  EXPECT_EQ(h->metric_type, faiss::METRIC_INNER_PRODUCT);
  EXPECT_THROW(make_ann_index(parse_ann("IVF", AnnSpec{}), d, faiss::METRIC_L2, x.data(), n), Error);  // lists unchosen
  auto ivf = make_ann_index(parse_ann("IVF20,nprobe=30", AnnSpec{}), d, faiss::METRIC_L2, x.data(), n);
  auto* v = dynamic_cast<faiss::IndexIVFFlat*>(ivf.get());
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->is_trained);
  EXPECT_EQ(v->nlist, 20u);
  EXPECT_EQ(v->nprobe, 20u);  // at most every list
  for (faiss::Index* index : {flat.get(), ivf.get()}) {
    index->add(n, x.data());
    float dist[2];
    faiss::Index::idx_t found[2];
    index->search(1, x.data() + 77 * d, 2, dist, found);
    EXPECT_EQ(found[0], 77);  // every row's nearest is itself
  }
}

}  // namespace
}  // namespace toonreid

#include <gtest/gtest.h>

#include <set>

#include "core/config.h"
#include "core/error.h"
#include "data/csv_manifest.h"
#include "data/training_selection.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

// Identities A..E; A-D have photos and cartoons, E only cartoons; all in "train" but X in "test".
Dataset sample_data() {
  std::vector<ImageRecord> r;
  for (const char* id : {"D", "B", "A", "C"}) {
    r.push_back({std::string(id) + "_p1.jpg", id, Domain::Photo, "train"});
    r.push_back({std::string(id) + "_p2.jpg", id, Domain::Photo, "train"});
    r.push_back({std::string(id) + "_c1.jpg", id, Domain::Cartoon, "train"});
  }
  r.push_back({"E_c1.jpg", "E", Domain::Cartoon, "train"});
  r.push_back({"X_p1.jpg", "X", Domain::Photo, "test"});
  return Dataset(r, "sample");
}

std::set<std::string> paths(const Dataset& d) {
  std::set<std::string> out;
  for (const auto& r : d.records()) out.insert(r.path.string());
  return out;
}

TEST(TrainingSelection, MdlStageOneTakesTheFirstAuxiliaryIdentitiesByName) {
  Dataset train = sample_data().split("train");
  MdlOptions o;
  o.target = Domain::Photo;
  o.aux_identities = 2;  // cartoons of A and B (sorted names), not C, D, E
  Dataset s1 = select_mdl_pretraining(train, o);
  EXPECT_EQ(s1.size(), 8u + 2u);
  EXPECT_TRUE(paths(s1).count("A_c1.jpg"));
  EXPECT_TRUE(paths(s1).count("B_c1.jpg"));
  EXPECT_FALSE(paths(s1).count("C_c1.jpg"));
  EXPECT_FALSE(paths(s1).count("E_c1.jpg"));
  // A person in both domains keeps one identity (labels come from names).
  EXPECT_EQ(make_labels(s1).names.size(), 4u);
  // Cartoon as target: all cartoons plus the photos of the first 2 identities.
  o.target = Domain::Cartoon;
  Dataset c1 = select_mdl_pretraining(train, o);
  EXPECT_EQ(c1.size(), 5u + 4u);
  // N larger than available, and N = 0.
  o.aux_identities = 100;
  EXPECT_EQ(select_mdl_pretraining(train, o).size(), train.size());
  o.aux_identities = 0;
  EXPECT_EQ(select_mdl_pretraining(train, o).size(), 5u);
  // A random subset: reproducible for a seed, still of size N.
  o.aux_identities = 2;
  o.random_aux = true;
  o.seed = 3;
  EXPECT_EQ(paths(select_mdl_pretraining(train, o)), paths(select_mdl_pretraining(train, o)));
  EXPECT_EQ(select_mdl_pretraining(train, o).size(), 5u + 4u);
}

TEST(TrainingSelection, StageTwoAndExtraManifests) {
  testing::TempDir dir;
  Dataset all = sample_data();
  Dataset photos = select_target_domain(all.split("train"), Domain::Photo);
  EXPECT_EQ(photos.size(), 8u);
  EXPECT_THROW(select_target_domain(all.split("test"), Domain::Cartoon), DataError);

  ConfigSchema schema = toonreid_schema();
  EXPECT_EQ(training_data(all, make_config(schema, {})).size(), 13u);
  EXPECT_EQ(training_data(all, make_config(schema, {"data.selection=target_domain", "mdl.target_domain=cartoon"})).size(), 5u);
  // Extra labelled records join; a name that already exists is refused, naming the file.
  for (const char* f : {"x1.jpg", "x2.jpg", "y.jpg"}) testing::write_text(dir / f, "not decoded here");
  write_csv_manifest(Dataset({{dir / "x1.jpg", "mined_00001", Domain::Photo, "train"},
                              {dir / "x2.jpg", "mined_00001", Domain::Cartoon, "train"}}),
                     dir / "mined.csv");
  Dataset more = training_data(all, make_config(schema, {"data.extra_train=[" + (dir / "mined.csv").string() + "]"}));
  EXPECT_EQ(more.size(), 15u);
  EXPECT_EQ(make_labels(more).names.size(), 6u);
  write_csv_manifest(Dataset({{dir / "y.jpg", "A", Domain::Photo, "train"}}), dir / "clash.csv");
  try {
    training_data(all, make_config(schema, {"data.extra_train=[" + (dir / "clash.csv").string() + "]"}));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("clash.csv: identity 'A'"), std::string::npos) << e.what();
  }
}

TEST(Validation, HeldOutIdentitiesAreDisjointDeterministicAndHaveBothDomains) {
  const Dataset all = sample_data();
  const Dataset train = all.split("train");
  const auto a = validation_identities(train, 2, 7);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(validation_identities(train, 2, 7), a);  // same seed, same identities
  for (const auto& id : a) EXPECT_NE(id, "E");      // E has no photos: never held out
  std::set<std::vector<std::string>> draws;
  for (std::uint64_t seed = 0; seed < 20; ++seed) draws.insert(validation_identities(train, 2, seed));
  EXPECT_GT(draws.size(), 1u);  // the seed matters
  EXPECT_TRUE(validation_identities(train, 0, 7).empty());
  EXPECT_THROW(validation_identities(train, 4, 7), DataError);  // A-D all held out: nothing left to train

  const ConfigSchema schema = toonreid_schema();
  const Config c = make_config(schema, {"data.val_identities=2", "run.seed=7"});
  const Dataset val = validation_data(all, c);
  const Dataset rest = training_data(all, c);
  std::set<std::string> val_ids, train_ids;
  for (const auto& r : val.records()) val_ids.insert(r.identity);
  for (const auto& r : rest.records()) train_ids.insert(r.identity);
  EXPECT_EQ(val_ids, std::set<std::string>(a.begin(), a.end()));
  for (const auto& id : val_ids) EXPECT_FALSE(train_ids.count(id)) << id;
  EXPECT_EQ(val.size() + rest.size(), train.size());  // nothing lost, nothing from the test split
  EXPECT_TRUE(validation_data(all, make_config(schema, {})).empty());
  EXPECT_EQ(training_data(all, make_config(schema, {})).size(), train.size());
}

}  // namespace
}  // namespace toonreid

// The in-memory form of a data set: a list of image records, each with an identity,
// a domain (photo or cartoon) and a split. Loaders (webcaricature.h, csv_manifest.h)
// produce it; samplers and the batch loader consume it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace toonreid {

enum class Domain { Photo = 0, Cartoon = 1 };

const char* domain_name(Domain d);  // "photo" / "cartoon"
// Parses "photo"/"cartoon" (also "p"/"c", "caricature"); throws DataError otherwise.
Domain parse_domain(const std::string& text);

struct ImageRecord {
  ImageRecord() = default;
  ImageRecord(std::filesystem::path path_, std::string identity_, Domain domain_ = Domain::Photo, std::string split_ = {},
              std::vector<float> landmarks_ = {})
      : path(std::move(path_)), identity(std::move(identity_)), domain(domain_), split(std::move(split_)),
        landmarks(std::move(landmarks_)) {}

  std::filesystem::path path;  // absolute or relative to the working directory
  std::string identity;
  Domain domain = Domain::Photo;
  std::string split;  // "train", "test", or a user's own split name; empty = unassigned
  // Landmarks a user supplied (WebCaricature's FacialPoints/, a manifest's `landmarks`
  // column): x0, y0, x1, y1, ... in image pixels; empty when there are none. When
  // present they replace face detection (src/face/).
  std::vector<float> landmarks;
  // When `path` is an image derived from another (an aligned face chip, input.align):
  // that image, which lists and manifests written for users name. Empty otherwise.
  std::filesystem::path original;
  // Which path of the face chain cut that chip (ssd, dlib, landmarks, letterbox, ...;
  // face/face_aligner.h), for results broken down by it. Empty when not aligned.
  std::string face_path;

  const std::filesystem::path& source_path() const { return original.empty() ? path : original; }
};

// Parses "x0 y0 x1 y1 ..." (spaces, tabs, commas or new lines between numbers) into
// landmarks of 5, 17 or 68 points; throws DataError naming `where` otherwise.
std::vector<float> parse_landmarks(const std::string& text, const std::string& where);

class Dataset {
 public:
  Dataset() = default;
  explicit Dataset(std::vector<ImageRecord> records, std::string origin = {});

  const std::vector<ImageRecord>& records() const { return records_; }
  std::size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  const ImageRecord& operator[](std::size_t i) const { return records_[i]; }
  // Where the data set was read from (root folder or manifest), for messages.
  const std::string& origin() const { return origin_; }
  // Problems a loader tolerated (empty folders, unassigned identities, ...), one per line.
  const std::vector<std::string>& warnings() const { return warnings_; }
  void add_warning(std::string w) { warnings_.push_back(std::move(w)); }

  // Identities in first-seen order (stable: loaders sort their input).
  std::vector<std::string> identities() const;
  std::vector<std::string> splits() const;
  // The records of one split; throws DataError when the split has no records.
  Dataset split(const std::string& name) const;
  // Records of one domain.
  Dataset domain(Domain d) const;

 private:
  std::vector<ImageRecord> records_;
  std::string origin_;
  std::vector<std::string> warnings_;
};

// Dense integer labels 0..n-1 for a data set's identities, in Dataset::identities() order.
struct LabelMap {
  std::vector<std::string> names;   // label -> identity
  std::vector<int> record_labels;   // record index -> label
};
LabelMap make_labels(const Dataset& data);

// Per split: identities, photos, cartoons; identities missing a domain.
struct SplitStats {
  std::string split;
  std::size_t identities = 0;
  std::size_t photos = 0;
  std::size_t cartoons = 0;
  std::vector<std::string> photo_only;    // identities without cartoons
  std::vector<std::string> cartoon_only;  // identities without photos
};
std::vector<SplitStats> compute_stats(const Dataset& data);

class ConfigSchema;
// Declares the `data` section: where the data set is and which splits to use.
void add_data_options(ConfigSchema& schema);

// Loads a data set from a WebCaricature-layout folder or a CSV manifest file.
Dataset open_dataset(const std::filesystem::path& root_or_manifest);

}  // namespace toonreid

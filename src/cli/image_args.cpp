#include "cli/image_args.h"

#include "core/error.h"

namespace toonreid::cli {

void add_images_args(CLI::App* cmd, ImagesArgs& a) {
  auto* data = cmd->add_option("--data", a.data, "Data set folder (WebCaricature layout)");
  auto* manifest = cmd->add_option("--manifest", a.manifest, "CSV manifest of images (path, identity, domain)");
  data->excludes(manifest);
  cmd->add_option("--split", a.split, "Only this split's images (default: all)");
  cmd->add_option("--domain", a.domain, "photo, cartoon or all")->check(CLI::IsMember({"photo", "cartoon", "all"}));
}

Dataset chosen_images(const ImagesArgs& a) {
  if (a.data.empty() && a.manifest.empty()) throw Error("give the images with --data or --manifest");
  Dataset all = open_dataset(a.data.empty() ? a.manifest : a.data);
  Dataset part = a.split.empty() ? all : all.split(a.split);
  std::vector<ImageRecord> keep;
  for (const auto& r : part.records())
    if (a.domain == "all" || a.domain == domain_name(r.domain)) keep.push_back(r);
  if (keep.empty()) throw Error((a.data.empty() ? a.manifest : a.data) + ": no images selected (split '" + a.split +
                                "', domain " + a.domain + ")");
  return Dataset(std::move(keep), all.origin());
}

}  // namespace toonreid::cli

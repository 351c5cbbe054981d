// toonreid data stats ROOT [--verify]
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/progress.h"
#include "data/contact_sheet.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/verify.h"

namespace toonreid::cli {

namespace {

void print_stats(const Dataset& data) {
  auto stats = compute_stats(data);
  std::printf("%-12s %10s %8s %9s %14s\n", "split", "identities", "photos", "cartoons", "one domain");
  std::size_t ids = 0, photos = 0, cartoons = 0;
  for (const auto& s : stats) {
    std::printf("%-12s %10zu %8zu %9zu %14zu\n", s.split.empty() ? "(none)" : s.split.c_str(), s.identities,
                s.photos, s.cartoons, s.photo_only.size() + s.cartoon_only.size());
    ids += s.identities, photos += s.photos, cartoons += s.cartoons;
  }
  std::printf("%-12s %10zu %8zu %9zu\n", "all", ids, photos, cartoons);
  for (const auto& s : stats) {
    auto list = [](const std::vector<std::string>& xs) {
      std::string out;
      for (std::size_t i = 0; i < xs.size() && i < 20; ++i) out += (i ? ", " : "") + xs[i];
      if (xs.size() > 20) out += ", ... (" + std::to_string(xs.size()) + ")";
      return out;
    };
    const char* split = s.split.empty() ? "(none)" : s.split.c_str();
    if (!s.photo_only.empty())
      std::printf("%s: %zu identities without cartoons: %s\n", split, s.photo_only.size(), list(s.photo_only).c_str());
    if (!s.cartoon_only.empty())
      std::printf("%s: %zu identities without photos: %s\n", split, s.cartoon_only.size(), list(s.cartoon_only).c_str());
  }
}

}  // namespace

void add_data_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("data", "Inspect data sets");
  cmd->require_subcommand(1);
  auto* stats = cmd->add_subcommand("stats", "Identities, photos and cartoons per split; optionally decode every image");
  struct Args {
    std::string root;
    bool verify = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  stats->add_option("root", args->root, "Data set folder (WebCaricature layout) or CSV manifest")->required();
  stats->add_flag("--verify", args->verify, "Decode every image and list the unreadable ones");
  stats->add_option("--threads", args->threads, "Decoding threads for --verify (0: all cores)")->check(CLI::NonNegativeNumber);
  stats->callback([args, &ctx] {
    Dataset data = open_dataset(args->root);
    for (const auto& w : data.warnings()) spdlog::warn("{}", w);
    std::printf("data set: %s (%zu images)\n", data.origin().c_str(), data.size());
    print_stats(data);
    if (!args->verify) return;
    std::vector<BadImage> bad;
    {
      ProgressBar bar(data.size(), "verify", ctx.show_progress());
      bad = verify_images(data, args->threads, [&](std::size_t done) { bar.advance(done - bar.count()); });
    }
    if (bad.empty()) {
      std::printf("verify: all %zu images decode\n", data.size());
      return;
    }
    std::printf("verify: %zu of %zu images are unreadable:\n", bad.size(), data.size());
    for (const auto& b : bad) std::printf("  %s: %s\n", b.path.c_str(), b.reason.c_str());
    ctx.exit_code = 3;
  });

  auto* preview = cmd->add_subcommand("preview", "Write a contact sheet: a row per identity, photos then cartoons");
  struct PreviewArgs {
    std::string root, out, split;
    ContactSheetOptions sheet;
  };
  auto pargs = std::make_shared<PreviewArgs>();
  preview->add_option("root", pargs->root, "Data set folder or CSV manifest")->required();
  preview->add_option("--out", pargs->out, "Output image (.png or .jpg)")->required();
  preview->add_option("--split", pargs->split, "Only identities of this split");
  preview->add_option("--identities", pargs->sheet.identities, "Rows")->capture_default_str()->check(CLI::Range(1, 1000));
  preview->add_option("--per-domain", pargs->sheet.per_domain, "Photos and cartoons per row")
      ->capture_default_str()->check(CLI::Range(1, 100));
  preview->add_option("--cell", pargs->sheet.cell, "Cell size in pixels")->capture_default_str()->check(CLI::Range(8, 1024));
  preview->callback([pargs] {
    Dataset data = open_dataset(pargs->root);
    if (!pargs->split.empty()) data = data.split(pargs->split);
    write_image(pargs->out, make_contact_sheet(data, pargs->sheet));
    std::printf("%s\n", pargs->out.c_str());
  });
}

}  // namespace toonreid::cli

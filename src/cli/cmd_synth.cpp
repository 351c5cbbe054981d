// toonreid synth --out DIR --identities N --photos K --cartoons K --size S --seed X
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/progress.h"
#include "data/synth/synth_dataset.h"

namespace toonreid::cli {

void add_synth_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("synth", "Generate the synthetic toon-face data set (WebCaricature layout)");
  struct Args {
    std::string out;
    synth::SynthOptions options;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  cmd->add_option("--out", args->out, "Output folder (must be new or empty)")->required();
  cmd->add_option("--identities", o.identities, "Number of identities")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("--photos", o.photos, "Photos per identity")->capture_default_str()->check(CLI::Range(1, 10000));
  cmd->add_option("--cartoons", o.cartoons, "Cartoons per identity")->capture_default_str()->check(CLI::Range(1, 10000));
  cmd->add_option("--size", o.size, "Image side in pixels")->capture_default_str()->check(CLI::Range(32, 1024));
  cmd->add_option("--seed", o.seed, "Random seed; the same seed gives the same images")->capture_default_str();
  cmd->add_option("--test-fraction", o.test_fraction, "Share of identities in the test split")
      ->capture_default_str()->check(CLI::Range(0.01, 0.99));
  cmd->add_option("--threads", o.threads, "Rendering threads (0: all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->callback([args, &ctx] {
    const auto& o = args->options;
    const std::size_t total = static_cast<std::size_t>(o.identities) * (o.photos + o.cartoons);
    Dataset data;
    {
      ProgressBar bar(total, "synth", ctx.show_progress());
      data = synth::generate(o, args->out, [&](std::size_t done) { bar.advance(done - bar.count()); });
    }
    spdlog::info("wrote {} images of {} identities to {}", data.size(), o.identities, args->out);
    std::printf("%s\n", args->out.c_str());
  });
}

}  // namespace toonreid::cli

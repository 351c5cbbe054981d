// toonreid config show CONFIG [key=value ...] | toonreid config defaults
#include <iostream>

#include "cli/commands.h"
#include "toonreid_schema.h"
#include "core/config.h"

namespace toonreid::cli {

void add_config_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand("config", "Inspect configurations");
  cmd->require_subcommand(1);

  auto* show = cmd->add_subcommand("show", "Print the fully merged config (defaults, _BASE_ chain, overrides)");
  struct ShowArgs {
    std::string file;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<ShowArgs>();
  show->add_option("config", args->file, "YAML config file")->required()->check(CLI::ExistingFile);
  show->add_option("overrides", args->overrides, "Overrides key.sub=value");
  show->callback([args] {
    ConfigSchema schema = toonreid_schema();
    Config config = load_config(schema, args->file, args->overrides);
    std::cout << config.to_yaml(false);
  });

  auto* defaults = cmd->add_subcommand("defaults", "Print every option with its default and documentation");
  defaults->callback([] {
    ConfigSchema schema = toonreid_schema();
    std::cout << Config(schema).to_yaml(true);
  });
}

}  // namespace toonreid::cli

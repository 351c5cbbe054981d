// Runs the `toonreid` program as a user would, capturing its output and exit code.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace toonreid::testing {

struct CliResult {
  int code;
  std::string out;  // stdout and stderr together
};

// run_cli with environment variables set for the one command ("NAME=value ...").
inline CliResult run_cli_env(const std::string& env, const std::string& args) {
  std::string cmd = "env " + env + " " + std::string(TOONREID_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  CliResult r{-1, {}};
  if (!pipe) return r;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) r.out.append(buf.data(), n);
  int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline CliResult run_cli(const std::string& args) { return run_cli_env("", args); }

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace toonreid::testing

#include "core/dist_env.h"

#include <cstdlib>

namespace toonreid {

namespace {

// An environment variable as an int in [lo, hi], or `fallback` when unset.
int env_int(const char* name, int fallback, int lo, int hi) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < lo || v > hi)
    throw DistributedError(std::string(name) + "=" + text + ": expected a whole number in [" + std::to_string(lo) +
                           ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

}  // namespace

std::optional<DistEnv> dist_env_from_environment() {
  const int world = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  if (world == 1) return std::nullopt;
  DistEnv e;
  e.world_size = world;
  if (!std::getenv("RANK")) throw DistributedError("WORLD_SIZE=" + std::to_string(world) + " but RANK is not set");
  e.rank = env_int("RANK", 0, 0, world - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", 1, 1, world);
  e.local_rank = env_int("LOCAL_RANK", 0, 0, e.local_world_size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return e;
}

}  // namespace toonreid

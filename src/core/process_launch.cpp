#include "core/process_launch.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>

#include "core/error.h"

extern char** environ;

namespace toonreid {

namespace {

using Clock = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "stopped";
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// This process's environment with `set`'s variables replaced.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (set.count(entry.substr(0, entry.find('='))) == 0) env.push_back(entry);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

// The environment of one rank: this process's, with the job's variables replaced.
std::vector<std::string> rank_environment(const LaunchOptions& o, int local_rank) {
  return environment_with({
      {"RANK", std::to_string(o.node_rank * o.nproc + local_rank)},
      {"WORLD_SIZE", std::to_string(o.nnodes * o.nproc)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc)},
      {"GROUP_RANK", std::to_string(o.node_rank)},
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(o.master_port)},
  });
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Blocks the signals the launcher waits for while it runs; restores the mask after.
class SignalMask {
 public:
  SignalMask() {
    sigemptyset(&set_);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SignalMask() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  const sigset_t& waited() const { return set_; }
  const sigset_t& original() const { return old_; }

 private:
  sigset_t set_, old_;
};

}  // namespace

int launch_local_ranks(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& o) {
  if (o.nproc < 1) throw Error("launch: --nproc must be at least 1");
  if (o.nnodes < 1) throw Error("launch: --nnodes must be at least 1");
  if (o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw Error("launch: --node-rank " + std::to_string(o.node_rank) + " is outside [0, " + std::to_string(o.nnodes) + ")");
  if (o.master_port < 1 || o.master_port > 65535) throw Error("launch: --master-port must be in [1, 65535]");
  if (args.empty()) throw Error("launch: no command given (toonreid launch --nproc N -- train ...)");

  SignalMask mask;
  std::map<pid_t, int> running;  // pid -> local rank
  auto signal_all = [&](int sig) {
    for (const auto& [pid, rank] : running) kill(pid, sig);
  };
  for (int local = 0; local < o.nproc; ++local) {
    // Everything the child needs is built before fork: after it, only exec.
    std::vector<std::string> argv_strings{program};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings = rank_environment(o, local);
    std::vector<char*> argv = pointers(argv_strings), envp = pointers(env_strings);
    const pid_t pid = fork();
    if (pid < 0) {
      signal_all(SIGTERM);
      throw Error(std::string("launch: cannot start a process: ") + std::strerror(errno));
    }
    if (pid == 0) {
      pthread_sigmask(SIG_SETMASK, &mask.original(), nullptr);
      execve(program.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    running[pid] = local;
  }

  int first_failure = 0;
  bool killed = false;
  Clock::time_point kill_at{};  // SIGKILL for those still running then (once stopping began)
  const auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.grace_s));
  while (!running.empty()) {
    timespec tick{0, 200 * 1000 * 1000};
    siginfo_t info;
    const int sig = sigtimedwait(&mask.waited(), &info, &tick);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      std::cerr << "launch: " << strsignal(sig) << ": passed on to " << running.size() << " process(es)" << std::endl;
      signal_all(sig);
      if (kill_at == Clock::time_point{}) kill_at = Clock::now() + grace;
    }
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = running.find(pid);
      if (it == running.end()) continue;
      const int rank = o.node_rank * o.nproc + it->second;
      running.erase(it);
      const int code = exit_code_of(status);
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        std::cerr << "launch: rank " << rank << " (pid " << pid << ") " << describe_status(status)
                  << (running.empty() ? "" : "; stopping the other ranks") << std::endl;
        signal_all(SIGTERM);
        kill_at = Clock::now() + grace;
      }
    }
    if (!killed && kill_at != Clock::time_point{} && Clock::now() > kill_at && !running.empty()) {
      std::cerr << "launch: " << running.size() << " process(es) still running after " << o.grace_s
                << " s; killing them" << std::endl;
      signal_all(SIGKILL);
      killed = true;
    }
  }
  return first_failure;
}

int run_program(const std::string& program, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& environment) {
  std::vector<std::string> argv_strings{program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = environment_with(environment);
  std::vector<char*> argv = pointers(argv_strings), envp = pointers(env_strings);
  const pid_t pid = fork();
  if (pid < 0) throw Error("cannot start " + program + ": " + std::strerror(errno));
  if (pid == 0) {
    execvpe(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error("waiting for " + program + ": " + std::strerror(errno));
  return exit_code_of(status);
}

}  // namespace toonreid

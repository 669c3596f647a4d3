#include "actors/thread_pinning.hpp"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <caf/actor_system_config.hpp>
#include <caf/thread_hook.hpp>

#include <atomic>
#include <cstring>
#include <vector>

namespace troupe {

namespace {

class pinning_hook : public caf::thread_hook {
 public:
  void init(caf::actor_system&) override {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &allowed)) cores_.push_back(c);
    }
  }

  void thread_started() override {
    // CAF 0.17 names its scheduler threads (and the I/O thread)
    // "caf.multiplexer"; timers and detached actors are left to the kernel.
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (cores_.empty() || std::strcmp(name, "caf.multiplexer") != 0) return;
    const int core = cores_[next_++ % cores_.size()];
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(core, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0 && !warned_.exchange(true)) {
      spdlog::warn("train.pin_threads: the kernel refused to pin a thread; running unpinned");
    }
  }

  void thread_terminates() override {}

 private:
  std::vector<int> cores_;  // written by init() before any thread starts
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> warned_{false};
};

}  // namespace

void enable_thread_pinning(caf::actor_system_config& cfg) {
  cfg.add_thread_hook<pinning_hook>();
}

}  // namespace troupe

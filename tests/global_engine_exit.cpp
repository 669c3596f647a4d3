// A service that keeps its engine, and a remote client of it, in globals
// and returns from main while remote clients come and go: the process must
// exit 0. It segfaulted at exit in every run: the engine ended after
// spdlog's and OpenSSL's statics while its actors still logged and checked
// logins, and a frame screen read a destroyed static set. Run by CTest
// (GlobalEngine.ExitsCleanlyWhileRemoteClientsComeAndGo), several times.
//
// `global_engine_exit exit-in-callback inproc|remote`: a completion callback
// calls exit(3) (a service's fatal-error handler) while the client is a
// global; the process must end at once with that code. It hung 10 s, then
// crashed: the client's destructor, run by exit() in the callback, handed
// the client to the reaper, which waited for a session the exit had
// stopped and then logged through a destroyed spdlog (GlobalEngine.
// ExitInACallbackEndsAtOnce).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace {
std::optional<troupe::engine> g_engine;  // a service's singleton
std::optional<troupe::client> g_client;
const char* const secret = "global-engine-exit-secret-0123456789";
}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  troupe::engine_options o;
  o.tables = {troupe::table::sparse("emb", 4).init(0.01f)};
  o.listen = "127.0.0.1:0";
  o.secret = secret;
  auto started = troupe::engine::start(o);
  if (!started) {
    std::fprintf(stderr, "%s\n", started.error().to_string().c_str());
    return 2;
  }
  g_engine.emplace(std::move(*started));
  const auto address = g_engine->address();
  if (mode == "exit-in-callback") {
    const bool remote = argc > 2 && std::string(argv[2]) == "remote";
    auto c = remote ? troupe::client::connect(address, secret) : g_engine->client();
    if (!c) {
      std::fprintf(stderr, "%s\n", c.error().to_string().c_str());
      return 2;
    }
    g_client.emplace(std::move(*c));
    g_client->lookup("emb", {1}, [](auto) { std::exit(3); });
    std::this_thread::sleep_for(std::chrono::seconds(30));
    return 4;  // the callback never ran
  }
  auto connected = troupe::client::connect(address, secret);
  if (!connected) {
    std::fprintf(stderr, "%s\n", connected.error().to_string().c_str());
    return 2;
  }
  g_client.emplace(std::move(*connected));
  // Clients that connect, look up and leave, until the process ends.
  for (int t = 0; t < 2; ++t) {
    std::thread([address] {
      for (;;) {
        if (auto c = troupe::client::connect(address, secret)) (void)c->lookup("emb", {1}).get();
      }
    }).detach();
  }
  for (int i = 0; i < 200; ++i) g_client->lookup("emb", {std::uint64_t(i)}, [](auto) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return 0;
}

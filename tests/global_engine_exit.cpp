// A service that keeps its engine, and a remote client of it, in globals
// and returns from main while remote clients come and go: the process must
// exit 0. It segfaulted at exit in every run: the engine ended after
// spdlog's and OpenSSL's statics while its actors still logged and checked
// logins, and a frame screen read a destroyed static set. Run by CTest
// (GlobalEngine.ExitsCleanlyWhileRemoteClientsComeAndGo), several times.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace {
std::optional<troupe::engine> g_engine;  // a service's singleton
std::optional<troupe::client> g_client;
const char* const secret = "global-engine-exit-secret-0123456789";
}  // namespace

int main() {
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

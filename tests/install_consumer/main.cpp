// Embeds Troupe the way a service does, through the public headers only (no
// CAF or Cap'n Proto include path is set for this target): an engine with a
// sparse table, a client, a push and a lookup. Exits 0 only if the lookup
// shows the SGD step.
#include <troupe/client.hpp>
#include <troupe/engine.hpp>
#include <troupe/table.hpp>

#include <cstdio>

int main() {
  troupe::engine_options opts;
  opts.tables = {troupe::table::sparse("emb", 2).sgd(0.5f)};  // rows start at 0
  auto eng = troupe::engine::start(opts);
  if (!eng) return std::fprintf(stderr, "%s\n", eng.error().to_string().c_str()), 1;
  auto c = eng->client().value();
  auto pushed = c.push("emb", {7}, {1.0f, 3.0f}).get();
  auto rows = c.lookup("emb", {7}).get();
  if (!pushed || !rows) return std::fprintf(stderr, "call failed\n"), 1;
  const float* r = rows->row(0);
  std::printf("push acknowledged, row 7 = [%g, %g] (expected [-0.5, -1.5])\n", r[0], r[1]);
  return r[0] == -0.5f && r[1] == -1.5f ? 0 : 1;
}

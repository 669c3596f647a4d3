#pragma once
// An engine a service starts in its own process: parameter shards holding
// the service's tables, served to in-process clients and, with `listen`, to
// clients in other processes that hold the same secret. Stopping it (or
// destroying it) ends the shards; its clients' calls then fail with
// stopped. Engines share no global state: a process may run several.
// start, stop, client and address may be called from any thread, and the
// engine and its clients may end on different threads.
//
//   troupe::engine_options opts;
//   opts.tables = {troupe::table::sparse("emb", 64).init(0.01f).sgd(0.1f)};
//   opts.shards = 4;
//   auto eng = troupe::engine::start(opts).value();
//   auto c = eng.client().value();
//   auto rows = c.lookup("emb", {1, 2, 3}).get();
//
// engine::train() runs a whole training job (a job TOML, see
// examples/fashion_mlp.toml) with its own scheduler, workers and shards.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "troupe/client.hpp"
#include "troupe/result.hpp"
#include "troupe/table.hpp"

namespace troupe {

struct engine_options {
  std::vector<table> tables;  ///< at least one, unique names
  std::uint32_t shards = 2;   ///< dense tables are cut into ranges, sparse rows hashed over these
  /// "HOST:PORT" to accept remote clients on (port 0: any free port); empty: in-process only.
  std::string listen;
  /// With `listen`: the shared secret (at least 16 bytes) clients must prove.
  /// Trailing whitespace (a file's final newline) is not part of it, as
  /// when `troupe serve --secret FILE` reads it.
  /// May be empty with `tls`: the client certificate is then the credential.
  std::string secret;
  /// With `listen`: TLS with mutual certificate authentication (tls.hpp).
  tls_options tls{};
  std::size_t threads = 0;  ///< scheduler threads (at most 1024); 0: one per core (at least 2)
  /// With `listen`: the shards run on the network thread, which answers a
  /// remote call without handing it to another thread and back (on a
  /// 2-core host a one-row lookup's round trip falls by ~40 us). Only for
  /// small calls: while a shard serves one, every other client waits.
  bool shards_on_network_thread = false;
  /// With `listen`: how long a client may stay silent before its connection
  /// counts as lost; heartbeats every tenth of it. Remote clients need the
  /// same (client_options::peer_timeout; their connect() refuses another
  /// one): each side drops a peer that heartbeats less often than its own
  /// timeout. Longer only for links whose
  /// round trip exceeds ~25 ms (about 40 times it; 60 under TLS). Checked to
  /// lie in [1 s, 600 s] also without `listen`.
  std::chrono::milliseconds peer_timeout{1000};
};

/// The headline numbers of a finished training job.
struct train_summary {
  double test_accuracy = 0;  ///< a classifier's; 0 for a regression
  double test_loss = 0;      ///< a classifier's log-loss, a regression's RMSE
  double samples_per_s = 0;
  double wall_s = 0;
  std::uint32_t epochs = 0;
  std::string line;        ///< the machine-readable summary line `troupe train` prints
  std::string output_dir;  ///< where job.toml, metrics.csv and summary.txt went
  bool regression = false;
  double test_mae = 0;  ///< a regression's mean absolute error
};

class engine {
 public:
  /// Starts the shards (and the listener), and returns once they hold their
  /// tables. Errors: bad_argument for invalid tables or options (dense
  /// tables past 80% of the machine's memory among them), internal
  /// ("out_of_memory: shard k cannot allocate its tables") past a limit the
  /// machine's size does not show (ulimit, a cgroup), unreachable when the
  /// address cannot be listened on.
  ///   auto eng = troupe::engine::start(opts);
  ///   if (!eng) return fail(eng.error());
  static result<engine> start(engine_options options);

  engine(engine&&) noexcept;
  engine& operator=(engine&&) noexcept;
  ~engine();  ///< stop()

  /// A client of this engine (no handshake: same process). Clients may
  /// outlive the engine; their calls then fail with stopped.
  ///   troupe::client c = eng.client().value();
  result<troupe::client> client(client_options options = {}) const;

  /// The address remote clients connect to ("127.0.0.1:41234"); empty
  /// without `listen`.
  ///   auto c = troupe::client::connect(eng.address(), secret);
  std::string address() const;

  /// Ends the shards and the listener; idempotent.
  ///   eng.stop();
  void stop();

  /// Runs a training job to its end: `job` is a path to a job TOML file, or
  /// empty for the built-in reference job. Errors: bad_argument for a bad
  /// job or a job file that cannot be read (missing, a directory), internal
  /// (with the reason) for a missing data set or a failed run.
  /// Defined in the Troupe::troupe_training library (with troupe::train of
  /// workload.hpp, which also takes TOML text and overrides).
  ///   auto s = troupe::engine::train("examples/spam_logreg.toml");
  ///   if (s) std::cout << s->line << "\n";
  static result<train_summary> train(const std::string& job);

  class impl;

 private:
  explicit engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace troupe

#include "actors/actor_config.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/cluster_types.hpp"
#include "actors/messages.hpp"
#include "actors/protocol.hpp"
#include "engine/job_config.hpp"

namespace troupe {

caf::atom_value troupe_error_category() {
  return caf::atom("troupe");
}

bool is_troupe_error(const caf::error& err, errc code) {
  // CAF 0.17's category() reads through a null pointer on an empty error.
  return err && err.category() == troupe_error_category() &&
         err.code() == static_cast<std::uint8_t>(code);
}

caf::error make_troupe_error(errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(code), troupe_error_category(),
                    caf::make_message(std::move(message)));
}

caf::error to_caf_error(const status& st) {
  return make_troupe_error(st.code(), st.message());
}

namespace {

std::string render_troupe_error(std::uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string out = to_string(static_cast<errc>(code));
  if (ctx.match_elements<std::string>()) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

}  // namespace

std::string describe(const caf::error& err) {
  if (!err) return "none";
  if (err.category() == troupe_error_category()) {
    return render_troupe_error(err.code(), err.category(), err.context());
  }
  // CAF's own codes with one line of context (e.g. connect_endpoint's):
  // "request_timeout: no answer from ..." rather than CAF's nested form.
  const auto& ctx = err.context();
  if (err.category() == caf::atom("system") && ctx.size() == 1 &&
      ctx.match_element<std::string>(0)) {
    return caf::to_string(static_cast<caf::sec>(err.code())) + ": " + ctx.get_as<std::string>(0);
  }
  return caf::to_string(err);
}

std::string describe(const std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

actor_config::actor_config(std::size_t threads, std::chrono::milliseconds peer_timeout) {
  load<caf::io::middleman>();
  register_cluster_types(*this);
  // By default heartbeats every 100 ms, peers silent for 1 s are lost: a
  // hung node is detected within ~1 s (see configure_cluster_timeouts).
  configure_cluster_timeouts(*this, peer_timeout);
  add_error_category(troupe_error_category(), render_troupe_error);
  // std::vector<char> (Cap'n Proto bytes) is a built-in CAF type; the rest
  // must carry the same names on every node.
  add_message_type<std::vector<float>>("troupe.floats");
  add_message_type<worker_progress>("troupe.worker_progress");
  add_message_type<shard_stats>("troupe.shard_stats");
  add_message_type<eval_result>("troupe.eval_result");
  add_message_type<job_summary>("troupe.job_summary");
  set("scheduler.policy", caf::atom("sharing"));
  // CAF starts max(cores, 4) threads; on a 2-core machine the extra two only
  // contend (1.5x more rounds/s for small pushes with one per core, measured by
  // `troupe bench pushpull`). BASP messages are handled on the I/O thread
  // itself: one copy fewer per message.
  set("scheduler.max-threads", actor_threads(threads));
  set("middleman.workers", std::size_t{0});
}

}  // namespace troupe

#include "actors/client_session.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "actors/service_runtime.hpp"

namespace troupe {

using wake_atom = caf::atom_constant<caf::atom("wake")>;

bool request_queue::submit(std::vector<outgoing_request>& parts, bool& wake) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return false;
  wake = items_.empty();
  for (auto& p : parts) items_.push_back(std::move(p));
  return true;
}

std::vector<outgoing_request> request_queue::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(items_, {});
}

std::vector<outgoing_request> request_queue::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  return std::exchange(items_, {});
}

namespace {

struct pending_part {
  std::string context;
  part_done done;
};

struct session_state {
  std::vector<shard_actor> shards;
  std::vector<caf::error> lost;  // per shard: why it is gone; none while it serves
  std::vector<std::unordered_map<std::uint64_t, pending_part>> pending;  // per shard
  // Per shard, requests waiting for a free slot of the window (BASP has no
  // flow control: many large messages in flight collapse its throughput).
  std::vector<std::deque<outgoing_request>> backlog;
  std::size_t window = 16;
  std::uint64_t next_part = 0;
  std::shared_ptr<request_queue> queue;
  std::chrono::milliseconds timeout{5000};
  static inline const char* name = "troupe.client_session";
};

using session_pointer = caf::stateful_actor<session_state>*;

void fail(const std::string& context, const part_done& done, api_error err) {
  err.message = context + ": " + err.message;
  done(nullptr, &err);
}

void pump(session_pointer self, std::uint32_t k);

// The reply (or error) of part `id` to shard `k`; ignored when the part was
// already failed (its shard was lost before the reply or timeout came).
void finish(session_pointer self, std::uint32_t k, std::uint64_t id, bytes* reply,
            const caf::error* err) {
  auto& pending = self->state.pending[k];
  auto it = pending.find(id);
  if (it == pending.end()) return;
  auto part = std::move(it->second);
  pending.erase(it);
  if (reply) {
    part.done(reply, nullptr);
  } else {
    const auto e = to_api_error(*err, part.context + " (shard " + std::to_string(k) + ")");
    part.done(nullptr, &e);
  }
  pump(self, k);
}

void send_now(session_pointer self, outgoing_request& req) {
  auto& st = self->state;
  const auto k = req.shard;
  const auto id = st.next_part++;
  st.pending[k].emplace(id, pending_part{std::move(req.context), std::move(req.done)});
  auto on_reply = [=](bytes& reply) { finish(self, k, id, &reply, nullptr); };
  auto on_error = [=](caf::error& err) { finish(self, k, id, nullptr, &err); };
  if (req.is_push) {
    self->request(st.shards[k], st.timeout, push_atom::value, std::move(req.message))
        .then(on_reply, on_error);
  } else {
    self->request(st.shards[k], st.timeout, pull_atom::value, std::move(req.message))
        .then(on_reply, on_error);
  }
}

// Sends now, or later once the shard's window has room; in order either way.
void send(session_pointer self, outgoing_request& req) {
  auto& st = self->state;
  const auto k = req.shard;
  if (k >= st.shards.size()) {
    return fail(req.context, req.done, {api_errc::internal, "no shard " + std::to_string(k)});
  }
  if (st.lost[k]) {
    return fail(req.context, req.done,
                {api_errc::peer_lost,
                 "shard " + std::to_string(k) + " is gone (" + describe(st.lost[k]) + ")"});
  }
  if (st.pending[k].size() >= st.window || !st.backlog[k].empty()) {
    st.backlog[k].push_back(std::move(req));
    return;
  }
  send_now(self, req);
}

void pump(session_pointer self, std::uint32_t k) {
  auto& st = self->state;
  while (!st.lost[k] && !st.backlog[k].empty() && st.pending[k].size() < st.window) {
    auto req = std::move(st.backlog[k].front());
    st.backlog[k].pop_front();
    send_now(self, req);
  }
}

void fail_backlog(std::deque<outgoing_request>& backlog, const api_error& err) {
  auto waiting = std::exchange(backlog, {});
  for (auto& req : waiting) fail(req.context, req.done, err);
}

void on_down(session_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) {
    if (caf::actor_cast<caf::actor_addr>(st.shards[k]) != dm.source) continue;
    st.lost[k] = dm.reason ? dm.reason : caf::make_error(caf::exit_reason::normal);
    spdlog::warn("client: shard {} lost ({}); {} pending requests fail", k, describe(st.lost[k]),
                 st.pending[k].size());
    const api_error lost{api_errc::peer_lost,
                         "shard " + std::to_string(k) + " lost (" + describe(st.lost[k]) + ")"};
    auto pending = std::exchange(st.pending[k], {});
    for (auto& [id, part] : pending) fail(part.context, part.done, lost);
    fail_backlog(st.backlog[k], lost);
  }
}

// Closes the queue and fails every call still waiting, so that no future
// and no wait() is left hanging once the session is gone.
void fail_everything(session_pointer self) {
  auto& st = self->state;
  const api_error stopped{api_errc::stopped, "the client was stopped"};
  for (auto& req : st.queue->close()) fail(req.context, req.done, stopped);
  for (auto& waiting : st.backlog) fail_backlog(waiting, stopped);
  for (auto& per_shard : st.pending) {
    auto pending = std::exchange(per_shard, {});
    for (auto& [id, part] : pending) fail(part.context, part.done, stopped);
  }
}

void on_exit(session_pointer self, const caf::exit_msg& msg) {
  fail_everything(self);
  self->quit(msg.reason);
}

// An exception escaping a handler ends the actor without an exit message:
// clean up as on_exit does, then quit with the error.
caf::error on_exception(session_pointer self, std::exception_ptr& eptr) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  spdlog::error("client: the session failed ({}); every pending call fails", what);
  fail_everything(self);
  return make_troupe_error(errc::stopped, "the client session failed: " + what);
}

caf::behavior session_behavior(caf::stateful_actor<session_state>* self,
                               std::vector<shard_actor> shards,
                               std::shared_ptr<request_queue> queue,
                               std::chrono::milliseconds timeout, std::size_t window) {
  auto& st = self->state;
  st.window = std::max<std::size_t>(1, window);
  st.shards = std::move(shards);
  st.lost.resize(st.shards.size());
  st.pending.resize(st.shards.size());
  st.backlog.resize(st.shards.size());
  st.queue = std::move(queue);
  st.timeout = timeout;
  for (const auto& s : st.shards) self->monitor(s);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_exception_handler(
      [=](caf::scheduled_actor*, std::exception_ptr& eptr) { return on_exception(self, eptr); });
  return {
      [=](wake_atom) {
        for (auto& req : self->state.queue->take()) send(self, req);
      },
  };
}

}  // namespace

caf::actor spawn_client_session(caf::actor_system& sys, std::vector<shard_actor> shards,
                                std::shared_ptr<request_queue> queue,
                                std::chrono::milliseconds timeout, std::size_t window) {
  return sys.spawn(session_behavior, std::move(shards), std::move(queue), timeout, window);
}

void wake_session(const caf::actor& session) {
  caf::anon_send(session, wake_atom::value);
}

}  // namespace troupe

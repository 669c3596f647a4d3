#include "actors/client_session.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <unordered_map>

#include <caf/default_attachable.hpp>

#include "actors/service_runtime.hpp"

namespace troupe {

using wake_atom = caf::atom_constant<caf::atom("wake")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using clock_type = std::chrono::steady_clock;

request_queue::outcome request_queue::submit(std::vector<outgoing_request>& parts, bool& wake) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return outcome::closed;
  // How many of these parts would wait beyond their shard's window.
  std::size_t added = 0;
  for (const auto& p : parts) {
    if (p.shard < open_.size() && open_[p.shard]++ >= window_) ++added;
  }
  if (waiting_ > 0 && waiting_ + added > limit_) {
    for (const auto& p : parts) {
      if (p.shard < open_.size()) --open_[p.shard];
    }
    return outcome::full;
  }
  wake = items_.empty();
  waiting_ += added;
  for (auto& p : parts) items_.push_back(std::move(p));
  return outcome::queued;
}

void request_queue::finished(std::uint32_t shard) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shard >= open_.size() || open_[shard] == 0) return;
  if (--open_[shard] >= window_) --waiting_;
}

std::size_t request_queue::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_;
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

// How long past its call's deadline a request keeps its window slot
// while the shard has not answered (see send_now).
constexpr auto reclaim_grace = std::chrono::seconds(30);

struct pending_part {
  std::string context;
  part_done done;
  clock_type::time_point reclaim_at;  // its slot is freed then, answered or not
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
  // The earliest sweep scheduled (backlog deadlines, slots to reclaim);
  // max: none.
  clock_type::time_point sweep_at = clock_type::time_point::max();
  static inline const char* name = "troupe.client_session";
};

using session_pointer = caf::stateful_actor<session_state>*;

void fail(const std::string& context, const part_done& done, api_error err) {
  err.message = context + ": " + err.message;
  done(nullptr, &err);
}

void pump(session_pointer self, std::uint32_t k);

// The error of a call to shard k, which ended with `reason`: an engine
// stopped on purpose (its shards end with user_shutdown, in this process or
// a remote one) is `stopped`, as its clock calls are; anything else lost it.
api_error shard_gone(std::uint32_t k, const caf::error& reason, const char* how) {
  if (reason == caf::exit_reason::user_shutdown) {
    return {api_errc::stopped,
            "shard " + std::to_string(k) + " " + how + ": the engine was stopped"};
  }
  return {api_errc::peer_lost,
          "shard " + std::to_string(k) + " " + how + " (" + describe(reason) + ")"};
}

// The reply (or error) of part `id` to shard `k`; ignored when the part was
// already failed (its shard was lost before the reply or timeout came).
void finish(session_pointer self, std::uint32_t k, std::uint64_t id, bytes* reply,
            const caf::error* err) {
  auto& pending = self->state.pending[k];
  auto it = pending.find(id);
  if (it == pending.end()) return;
  // A request that reached a shard already gone: why it went (an engine
  // stopped on purpose, or lost) comes with its down message. Said at once,
  // calls made around stop() failed with peer_lost, "outcome unknown",
  // instead of stopped.
  const bool gone = err && *err == caf::sec::request_receiver_down;
  if (gone && !self->state.lost[k]) return;  // on_down fails it with the reason
  auto part = std::move(it->second);
  pending.erase(it);
  self->state.queue->finished(k);
  if (reply) {
    part.done(reply, nullptr);
  } else if (gone) {
    fail(part.context, part.done, shard_gone(k, self->state.lost[k], "is gone"));
  } else {
    const auto e = to_api_error(*err, part.context + " (shard " + std::to_string(k) + ")");
    part.done(nullptr, &e);
  }
  pump(self, k);
}

// A request that waited in the client past its call's deadline.
void expire(outgoing_request& req) {
  fail(req.context, req.done,
       {api_errc::timeout,
        "no answer within the call's timeout (it waited in the client's queue "
        "for a free slot of the shard's window)"});
}

void sweep(session_pointer self);

// A sweep at `at` (at once when `at` passed), unless one comes earlier; at
// most `sweep_step` ahead (that sweep schedules the next). CAF's clock holds
// the session's memory until its delayed message is due: a sweep set for a
// call's deadline plus the grace kept every client ended since, ~1.7 KB
// each, for up to an hour with an hour's timeout.
void schedule_sweep(session_pointer self, clock_type::time_point at) {
  constexpr auto sweep_step = std::chrono::seconds(2);
  auto& st = self->state;
  const auto now = clock_type::now();
  at = std::min(at, now + sweep_step);
  if (at >= st.sweep_at) return;
  st.sweep_at = at;
  self->delayed_send(self,
                     std::chrono::ceil<std::chrono::milliseconds>(
                         std::max<clock_type::duration>(at - now, clock_type::duration::zero())),
                     sweep_atom::value);
}

void send_now(session_pointer self, outgoing_request& req) {
  auto& st = self->state;
  const auto k = req.shard;
  const auto now = clock_type::now();
  if (req.deadline <= now) {
    st.queue->finished(k);
    return expire(req);
  }
  // The call ends at its deadline by the client's deadline watch
  // (call::expire); the request itself keeps its slot of the shard's window
  // until its reply or error arrives, or `reclaim_grace` past the deadline
  // (a sweep frees it then). Freed at the call's deadline, a window bounded
  // nothing: a client with 5 ms timeouts kept hundreds of 16 MB pulls in
  // flight, buried the engine's network thread in replies nobody read, and
  // every client of the engine lost its connection. No CAF timeout: CAF
  // 0.17 keeps a request's timeout in its clock until it fires, even once
  // answered.
  const auto id = st.next_part++;
  const auto reclaim_at = req.deadline == clock_type::time_point::max()
                              ? clock_type::time_point::max()
                              : req.deadline + reclaim_grace;
  st.pending[k].emplace(id, pending_part{std::move(req.context), std::move(req.done), reclaim_at});
  if (reclaim_at != clock_type::time_point::max()) schedule_sweep(self, reclaim_at);
  auto on_reply = [=](bytes& reply) { finish(self, k, id, &reply, nullptr); };
  auto on_error = [=](caf::error& err) { finish(self, k, id, nullptr, &err); };
  if (req.is_push) {
    self->request(st.shards[k], caf::infinite, push_atom::value, std::move(req.message))
        .then(on_reply, on_error);
  } else {
    self->request(st.shards[k], caf::infinite, pull_atom::value, std::move(req.message))
        .then(on_reply, on_error);
  }
}

// Fails the backlogged requests whose deadline passed, frees the slots of
// requests unanswered `reclaim_grace` past theirs, and comes back at the
// next such time (each backlog is in call order, so its front expires
// first).
void sweep(session_pointer self) {
  auto& st = self->state;
  st.sweep_at = clock_type::time_point::max();
  const auto now = clock_type::now();
  auto next = clock_type::time_point::max();
  for (auto& backlog : st.backlog) {
    while (!backlog.empty() && backlog.front().deadline <= now) {
      auto req = std::move(backlog.front());
      backlog.pop_front();
      st.queue->finished(req.shard);
      expire(req);
    }
    if (!backlog.empty()) next = std::min(next, backlog.front().deadline);
  }
  for (std::uint32_t k = 0; k < st.pending.size(); ++k) {
    std::vector<std::uint64_t> overdue;
    for (const auto& [id, part] : st.pending[k]) {
      if (part.reclaim_at <= now) {
        overdue.push_back(id);
      } else {
        next = std::min(next, part.reclaim_at);
      }
    }
    const auto late = caf::make_error(caf::sec::request_timeout);
    for (const auto id : overdue) finish(self, k, id, nullptr, &late);
  }
  if (next != clock_type::time_point::max()) schedule_sweep(self, next);
}

// Sends now, or later once the shard's window has room; in order either way.
void send(session_pointer self, outgoing_request& req) {
  auto& st = self->state;
  const auto k = req.shard;
  if (k >= st.shards.size()) {
    return fail(req.context, req.done, {api_errc::internal, "no shard " + std::to_string(k)});
  }
  if (st.lost[k]) {
    st.queue->finished(k);
    return fail(req.context, req.done, shard_gone(k, st.lost[k], "is gone"));
  }
  if (st.pending[k].size() >= st.window || !st.backlog[k].empty()) {
    const auto deadline = req.deadline;
    st.backlog[k].push_back(std::move(req));
    if (deadline != clock_type::time_point::max()) schedule_sweep(self, deadline);
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

void fail_backlog(request_queue& queue, std::deque<outgoing_request>& backlog,
                  const api_error& err) {
  auto waiting = std::exchange(backlog, {});
  for (auto& req : waiting) {
    queue.finished(req.shard);
    fail(req.context, req.done, err);
  }
}

void on_down(session_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) {
    if (caf::actor_cast<caf::actor_addr>(st.shards[k]) != dm.source) continue;
    st.lost[k] = dm.reason ? dm.reason : caf::make_error(caf::exit_reason::normal);
    // An engine stopped on purpose with nothing pending is no news.
    const bool quiet = dm.reason == caf::exit_reason::user_shutdown && st.pending[k].empty() &&
                       st.backlog[k].empty();
    spdlog::log(quiet ? spdlog::level::info : spdlog::level::warn,
                "client: shard {} lost ({}); {} pending requests fail", k, describe(st.lost[k]),
                st.pending[k].size() + st.backlog[k].size());
    const api_error lost = shard_gone(k, st.lost[k], "lost");
    auto pending = std::exchange(st.pending[k], {});
    for (auto& [id, part] : pending) {
      st.queue->finished(k);
      fail(part.context, part.done, lost);
    }
    fail_backlog(*st.queue, st.backlog[k], lost);
  }
}

// Closes the queue and fails every call still waiting, so that no future
// and no wait() is left hanging once the session is gone.
void fail_everything(session_pointer self) {
  auto& st = self->state;
  const api_error stopped{api_errc::stopped, "the client was stopped"};
  for (auto& req : st.queue->close()) fail(req.context, req.done, stopped);
  for (auto& waiting : st.backlog) fail_backlog(*st.queue, waiting, stopped);
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
                               std::shared_ptr<request_queue> queue, std::size_t window) {
  auto& st = self->state;
  st.window = std::max<std::size_t>(1, window);
  st.shards = std::move(shards);
  st.lost.resize(st.shards.size());
  st.pending.resize(st.shards.size());
  st.backlog.resize(st.shards.size());
  st.queue = std::move(queue);
  for (const auto& s : st.shards) self->monitor(s);
  // CAF 0.17 keeps a monitor on the monitored actor until that one ends: a
  // table service's shards would keep one for every client that ever came
  // (~1.3 KB each). However the session ends, it takes its monitors along.
  // (The state is gone by then: the functor keeps its own addresses.)
  std::vector<caf::actor_addr> watched;
  for (const auto& s : st.shards) watched.push_back(s.address());
  self->attach_functor([me = self->address(), watched = std::move(watched)] {
    const caf::default_attachable::observe_token mine{me, caf::default_attachable::monitor};
    for (const auto& w : watched) {
      if (auto shard = caf::actor_cast<caf::strong_actor_ptr>(w)) shard->get()->detach(mine);
    }
  });
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_exception_handler(
      [=](caf::scheduled_actor*, std::exception_ptr& eptr) { return on_exception(self, eptr); });
  return {
      [=](wake_atom) {
        for (auto& req : self->state.queue->take()) send(self, req);
      },
      [=](sweep_atom) { sweep(self); },
  };
}

}  // namespace

caf::actor spawn_client_session(caf::actor_system& sys, std::vector<shard_actor> shards,
                                std::shared_ptr<request_queue> queue, std::size_t window) {
  return sys.spawn(session_behavior, std::move(shards), std::move(queue), window);
}

void wake_session(const caf::actor& session) {
  caf::anon_send(session, wake_atom::value);
}

}  // namespace troupe

#pragma once
// The inside of troupe::client (include/troupe/client.hpp), shared by the
// call implementations (service_client.cpp) and the public methods
// (client_api.cpp). Private to troupe_service.
//
//   auto p = std::make_unique<troupe::client::impl>(rt, std::move(info), opts, nullptr);
//   p->lookup("emb", {1, 2}, [](troupe::result<troupe::rows> r) { ... });

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/client_call.hpp"
#include "actors/client_reaper.hpp"
#include "actors/client_session.hpp"
#include "actors/service_client.hpp"
#include "engine/store/partitioner.hpp"

namespace troupe {

struct table_entry {
  table_spec spec;
  std::vector<key_range> ranges;  // dense: the shards' key ranges
};

inline table_info to_info(const table_spec& s) {
  return {s.name, s.kind == table_kind::sparse, s.size, s.width, s.max_row_id};
}

class client::impl {
 public:
  impl(std::shared_ptr<actor_runtime> rt, directory_actor directory, directory_info info,
       const client_options& opts, std::unique_ptr<caf::scoped_actor> auth)
      : rt_(std::move(rt)),
        auth_(std::move(auth)),
        directory_(std::move(directory)),
        id_(info.client_id),
        timeout_(opts.timeout) {
    client_reaper::note_client();
    const auto shards = static_cast<std::uint32_t>(info.shards.size());
    shards_ = shards;
    for (auto& spec : info.tables) {
      table_entry e{spec, {}};
      if (spec.kind == table_kind::dense) e.ranges = partition_range(spec.size, shards);
      by_name_.emplace(spec.name, tables_.size());
      tables_.push_back(std::move(e));
    }
    next_seq_.assign(shards, 0);
    queue_ = std::make_shared<request_queue>(opts.max_queued, shards, opts.window);
    session_ = spawn_client_session(rt_->sys, std::move(info.shards), queue_, opts.window);
  }

  ~impl() {
    const user_thread_call call;
    ending_->store(true);
    // First: no call may expire (and run its callback) once this returns;
    // the session then ends what is still open with `stopped`.
    watch_.stop();
    caf::scoped_actor self{rt_->sys};
    self->monitor(session_);
    self->send_exit(session_, caf::exit_reason::user_shutdown);
    self->receive([](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(10)) >>
                      [] { spdlog::warn("client: the session did not stop within 10 s"); });
    auth_.reset();  // before the runtime: it lives in its actor system
  }

  std::uint32_t id() const { return id_; }
  std::vector<table_info> tables() const {
    std::vector<table_info> out;
    for (const auto& t : tables_) out.push_back(to_info(t.spec));
    return out;
  }
  const table_entry* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tables_[it->second];
  }
  result<void> wait() { return tracker_->wait(); }
  std::shared_ptr<call_tracker> tracker() const { return tracker_; }
  std::shared_ptr<actor_runtime> runtime() const { return rt_; }

  void lookup(const std::string& name, std::vector<std::uint64_t> ids, callback<rows> done);
  void push(const std::string& name, std::vector<std::uint64_t> ids, std::vector<float> grads,
            callback<void> done);
  void pull(const std::string& name, std::uint64_t offset, std::uint64_t count,
            callback<std::vector<float>> done);
  void push_dense(const std::string& name, std::uint64_t offset, std::vector<float> grads,
                  callback<void> done);
  void advance_clock(const clock_group& group, callback<std::int64_t> done);
  void leave_clock(const clock_group& group, callback<void> done);

 private:
  // A table call, which wait() waits for, or (`clock`) a clock call, which
  // has no deadline: one parked until the slowest member caught up made
  // every wait() of the client (any thread's) block as long. The failures
  // of both are wait()'s to report.
  template <class T>
  std::shared_ptr<call<T>> start(callback<T> done, bool clock = false) {
    // Not make_shared: the deadline watch's weak reference would keep the
    // whole call allocated until its deadline, not just a control block.
    return std::shared_ptr<call<T>>(
        std::make_unique<call<T>>(std::move(done), clock ? clock_tracker_ : tracker_, tracker_));
  }
  // The call ends with `timeout` at its deadline even while the session
  // cannot run (deadline_watch.hpp).
  template <class T>
  void watch(const std::shared_ptr<call<T>>& c, const std::string& context) {
    c->context = context;
    c->timeout = timeout_;
    watch_.add(c->started + timeout_, c);
  }
  template <class T>
  void refuse(const std::shared_ptr<call<T>>& c, api_errc code, std::string message) {
    c->fail({code, std::move(message)});
    c->complete();
  }
  // The table `name` of the wanted kind, or refuses the call.
  template <class T>
  const table_entry* table_for(const std::shared_ptr<call<T>>& c, const std::string& name,
                               bool sparse);
  template <class T>
  void send(const std::shared_ptr<call<T>>& c, std::vector<outgoing_request> parts);
  // Pushes: sequence numbers and queueing in one critical section; `build`
  // makes the parts given the next sequence number of each shard.
  template <class Build>
  void send_push(const std::shared_ptr<call<void>>& c, Build build);
  // Stamps each part with the call's deadline and queues them all, or none.
  // Queues `parts` with the deadline of a call made at `started`.
  request_queue::outcome submit(std::vector<outgoing_request>& parts, bool& wake,
                                std::chrono::steady_clock::time_point started);
  template <class T>
  void refuse_unqueued(const std::shared_ptr<call<T>>& c, request_queue::outcome why);

  std::shared_ptr<actor_runtime> rt_;
  std::unique_ptr<caf::scoped_actor> auth_;
  directory_actor directory_;  // keeps the clock groups
  // This client's steps, by group and member; shared with the calls under
  // way, which take a refused step back.
  struct member_steps {
    std::int64_t next = 0;      // the step the last call sent
    std::int64_t accepted = 0;  // the highest step the directory answered
    std::set<std::int64_t> in_flight;
  };
  struct clock_steps {
    std::mutex mutex;
    std::map<std::pair<std::string, std::uint32_t>, member_steps> steps;
  };
  std::shared_ptr<clock_steps> clocks_ = std::make_shared<clock_steps>();
  // Set as the client ends: a clock call the directory then refuses (its
  // member left with the client's session) ends `stopped`.
  std::shared_ptr<std::atomic<bool>> ending_ = std::make_shared<std::atomic<bool>>(false);
  std::uint32_t id_ = 0;
  std::uint32_t shards_ = 0;
  std::chrono::milliseconds timeout_{5000};  // every call's deadline, from its start
  std::vector<table_entry> tables_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::shared_ptr<call_tracker> tracker_ = std::make_shared<call_tracker>();
  std::shared_ptr<call_tracker> clock_tracker_ = std::make_shared<call_tracker>();
  deadline_watch watch_;
  std::shared_ptr<request_queue> queue_;
  caf::actor session_;
  // Pushes take their sequence numbers and enter the queue under this lock,
  // so each shard receives them in increasing order.
  std::mutex push_order_;
  std::vector<std::uint64_t> next_seq_;
  // Set once a duplicate acknowledgement was logged (on the session's thread).
  std::shared_ptr<std::atomic<bool>> warned_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace troupe

#include "actors/shard.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/typed_broker.hpp>

#include <optional>

#include "actors/actor_config.hpp"
#include "actors/log_throttle.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "actors/shared_transport.hpp"
#include "engine/node_paths.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/shard_store.hpp"

namespace troupe {

namespace {

struct shard_state {
  explicit shard_state() = default;
  std::unique_ptr<shard_store> store;
  shard_stats stats;
  host_context ctx;
  // A peer can send bad requests as fast as the network allows.
  log_throttle refusals{"shard"};  // named in shard_behavior
  shard_actor backup;              // primary-backup replication; invalid: none
  // Acknowledgements waiting for the backup, by forward number.
  std::map<std::uint64_t, std::pair<caf::typed_response_promise<bytes>, bytes>> forwards;
  std::uint64_t next_forward = 0;
  // A backup could not read shared memory: forwards go as bytes from then on
  // (this shard still reads envelopes and answers pulls through it).
  bool forward_bytes = false;
  // keep_best: the state as keep_best's evaluator read it in round
  // `held_round` (each table as of its pull), until a checkpoint writes it
  // or the next round replaces it.
  std::uint64_t held_round = 0;
  std::unique_ptr<shard_snapshot> held;
  std::uint64_t backup_missed_round = 0;  // the round under way when the backup came
  static inline const char* name = "troupe.shard";
};

// A shard runs as an ordinary actor on CAF's scheduler threads, or as a
// broker on the middleman's I/O thread (shard_thread::io): a request that
// came over the network is then answered on the thread that read it, with
// no hand-off to a scheduler thread and back (one wake-up of another thread
// each way, about half a small request's round trip on this 2-core host).
// The behaviour is the same code for both.
template <class>
struct broker_for;
template <class... Sigs>
struct broker_for<caf::typed_actor<Sigs...>> {
  using type = caf::io::typed_broker<Sigs...>;
};
using scheduled_shard = shard_actor::stateful_pointer<shard_state>;
using io_shard = caf::stateful_actor<shard_state, broker_for<shard_actor>::type>*;

// The job name in the checkpoint header of a primary's state sent to its
// backup; the second while the primary, restored from a checkpoint, lets
// workers skip seqs once (the backup must too, should it be promoted).
constexpr const char* replica_snapshot_name = "replica";
constexpr const char* replica_resync_snapshot_name = "replica-resync";

template <class Self>
caf::error reject(Self self, const char* what, const status& st) {
  ++self->state.stats.pushes_rejected;
  if (self->state.ctx.metrics) self->state.ctx.metrics->add_rejected();
  if (self->state.refusals.admit()) {
    spdlog::warn("shard {}: rejected {}: {}", self->state.store->id(), what, st.to_string());
  }
  return to_caf_error(st);
}

template <class Self>
void stray_message(Self self, const std::string& what) {
  if (!self->state.refusals.admit()) return;
  const auto& sender = self->current_sender();
  spdlog::warn("shard {}: ignored {} from {}", self->state.store->id(), what,
               sender ? caf::to_string(sender->address()) : std::string{"(anonymous)"});
}

// Requests from nodes that are not part of the cluster are refused before
// they are even decoded.
template <class Self>
caf::error check_peer(Self self) {
  const auto& guard = self->state.ctx.guard;
  if (!guard || sender_allowed(self, *guard)) return {};
  ++self->state.stats.pushes_rejected;
  if (self->state.ctx.metrics) self->state.ctx.metrics->add_rejected();
  const auto& sender = self->current_sender();
  if (self->state.refusals.admit()) {
    spdlog::warn("shard {}: refused a request from unauthenticated node {}",
                 self->state.store->id(),
                 sender ? caf::to_string(sender->node()) : std::string{"(anonymous)"});
  }
  return make_troupe_error(errc::bad_config, "not authenticated with this cluster");
}

// Building a reply may throw (an allocation, a message over Cap'n Proto's
// limits): the request gets an error and the shard keeps serving, as nothing
// may crash a node. kj::Exception is no std::exception, hence the last catch.
template <class F>
status guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const troupe_error& e) {
    return {e.code(), e.what()};
  } catch (const std::bad_alloc&) {
    // Not the caller's sizes (it was reported as wrong_width): this
    // process's memory, say a table's new rows past a memory limit.
    return {errc::out_of_memory,
            std::string(what) + " failed: this shard's process is out of memory"};
  } catch (const std::exception& e) {
    return {errc::wrong_size, std::string(what) + " failed: " + e.what()};
  } catch (...) {
    return {errc::wrong_size, std::string(what) + " failed: its reply could not be built"};
  }
}

// Sends push `n` on to the backup (through shared memory when it runs in
// another process on this host) and acknowledges it once the backup has it.
template <class Self, class Release>
void forward_to_backup(Self self, std::uint64_t n, caf::message push, Release release) {
  auto& st = self->state;
  const auto id = st.store->id();
  auto out =
      st.forward_bytes ? push : for_destination(st.ctx, self->node(), st.backup.node(), push);
  self->request(caf::actor_cast<caf::actor>(st.backup), std::chrono::seconds(120), std::move(out))
      .then([=](const bytes&) { release(); },
            [=](caf::error& err) {
              if (self->state.forwards.count(n) == 0) return;  // released already
              // A backup that could not read shared memory is replaced too:
              // resending inline could reorder this push behind later ones.
              // Forwards go as bytes through the socket from then on, to
              // every later backup (one on the same node would refuse again);
              // this shard itself goes on reading envelopes from its pushers.
              if (is_shared_memory_error(err)) self->state.forward_bytes = true;
              spdlog::warn("shard {}: backup failed ({}); stopping it so that it is replaced", id,
                           describe(err));
              // A backup that missed a push must never be promoted: end it, and
              // the scheduler (which monitors it) makes a new one from our state.
              if (self->state.backup) {
                self->send_exit(self->state.backup, caf::exit_reason::user_shutdown);
              }
              self->state.backup = shard_actor{};
              release();
            });
}

// keep_best: keeps the state an evaluation reads, so that the checkpoint of
// its model, asked for once the scores say it is the best so far, holds
// exactly what was scored (training goes on meanwhile). A full copy at the
// round's first pull, then each further table as its own pull reads it.
// The backup is told to do the same: CAF keeps the order of messages from
// one actor to another, so it gets this after every push applied here
// before, and holds the same state, should it be promoted before the
// checkpoint is written.
template <class Self>
status hold_state(Self self, std::uint32_t table, std::uint64_t round) {
  auto& st = self->state;
  auto held = guarded("hold", [&] {
    if (st.held && st.held_round == round) {
      replace_table(*st.held, st.store->snapshot_table(table), table);
    } else {
      st.held.reset();  // before the copy: never two at once
      st.held = std::make_unique<shard_snapshot>(st.store->snapshot());
      st.held_round = round;
    }
    return status{};
  });
  // Not to a backup attached in the middle of this round: it missed the
  // round's first hold and would hold a mix; without one it writes its
  // current state, and says so.
  if (st.backup && round != st.backup_missed_round) {
    self->send(st.backup, hold_atom::value, table, round);
  }
  return held;
}

// The reply to `pull` for `sender`: for a puller in another process on this
// host, built straight in a slot of this process's shared memory (no copy)
// and answered by its envelope. `with_push`: asked for by a push.
template <class Self>
caf::expected<bytes> answer_pull(Self self, const pull_request_view& pull,
                                 const caf::strong_actor_ptr& sender, bool with_push = false) {
  auto& st = self->state;
  bytes reply;
  shared_write slot;
  reply_buffer in_slot;
  const status read = guarded("pull", [&] {
    if (pull.accept_shared && sender) {
      slot = begin_shared(st.ctx, self->node(), sender->node());
      in_slot = {slot.data(), slot.capacity(), 0};
    }
    return st.store->read_pull(pull, reply, slot ? &in_slot : nullptr);
  });
  if (!read) {
    if (st.refusals.admit()) {
      spdlog::warn("shard {}: rejected pull: {}", st.store->id(), read.to_string());
    }
    return to_caf_error(read);
  }
  ++st.stats.pulls;
  if (st.ctx.metrics) {
    st.ctx.metrics->add_pull(in_slot.used > 0 ? in_slot.used : reply.size(), with_push);
  }
  if (in_slot.used > 0) {
    if (auto env = publish_shared(st.ctx, slot, in_slot.used)) return std::move(*env);
    // Cannot happen (the slot was ours and the reply fit); the puller asks again inline.
    return make_troupe_error(errc::shared_memory, "a pull reply built in shared memory was lost");
  }
  if (!pull.accept_shared || !sender) return reply;
  slot = shared_write{};  // unused (a sparse reply, or one too large): reply_for may take it
  return reply_for(st.ctx, self->node(), sender->node(), std::move(reply));
}

// Fills in the row ids of a push or pull that came by key-list name
// (shard_store::complete_keys), counted on the node's metrics.
template <class Self, class View>
status complete_keys(Self self, View& view) {
  auto st = self->state.store->complete_keys(view);
  if (const auto& metrics = self->state.ctx.metrics) {
    if (st.code() == errc::unknown_key_list) {
      metrics->add_key_list_refused();
    } else if (st && view.keys_omitted) {
      metrics->add_by_key_list();
    }
  }
  return st;
}

// The pull a dense push asks for with PushRequest.pullAfter: its own range.
// A push that came through the socket (its sender may have stopped using
// shared memory since it first sent it) gets bytes, whatever it asked for.
pull_request_view pull_after(const push_view& push, bool came_shared) {
  pull_request_view pull;
  pull.table = push.table;
  pull.worker = push.worker;
  pull.offset = push.offset;
  pull.count = push.count;
  pull.accept_shared = came_shared && push.pull_after == push_header::pull_after_kind::shared;
  return pull;
}

template <class Self>
shard_actor::behavior_type shard_behavior(Self self, std::uint32_t id,
                                          std::vector<shard_table> tables, host_context ctx) {
  self->state.ctx = std::move(ctx);
  self->state.store = std::make_unique<shard_store>(id);
  self->state.refusals = log_throttle{"shard " + std::to_string(id) + ": refusals"};
  self->state.stats.shard = id;
  // CAF's defaults print every unexpected message in full, without a limit,
  // and end the shard on an error message nobody asked for (a peer's bug):
  // a shard keeps serving, and says so in throttled warnings.
  self->set_default_handler(
      [=](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
        stray_message(self, "an unexpected message");
        return caf::make_error(caf::sec::unexpected_message);
      });
  self->set_error_handler([=](caf::error& err) {
    stray_message(self, "an error message nobody asked for (" + describe(err) + ")");
  });
  // An exception that escapes a handler (none should: see guarded) or the
  // tables' allocation below ends the shard with its message as the reason,
  // logged once, rather than CAF's bare "unhandled exception".
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    try {
      std::rethrow_exception(eptr);
    } catch (const troupe_error& e) {
      spdlog::error("{}", e.what());
      return make_troupe_error(e.code(), e.what());
    } catch (...) {
      const auto why = "shard " + std::to_string(id) + ": " + describe(eptr);
      spdlog::error("{}", why);
      return caf::make_error(caf::sec::runtime_error, why);
    }
  });
  try {
    for (const auto& t : tables) {
      if (t.spec.kind == table_kind::sparse) {
        self->state.store->add_sparse(t.spec, t.shards);
      } else {
        self->state.store->add_dense(t.spec, t.range);
      }
    }
  } catch (const std::bad_alloc&) {
    // Past a memory limit the machine's size does not show (ulimit, a
    // cgroup): the shard ends with this reason, which its spawner reports,
    // rather than with CAF's "unhandled exception".
    std::uint64_t keys = 0;
    for (const auto& t : tables) keys += t.range.size();
    throw troupe_error(errc::out_of_memory,
                       "shard " + std::to_string(id) + " cannot allocate its tables (" +
                           std::to_string(keys) + " dense values, with their optimizer state)");
  }
  return {
      [=](push_atom, const bytes& in) -> caf::result<bytes> {
        if (auto err = check_peer(self)) return err;
        // From a daemon on this host the push may come as an envelope: it is
        // applied where it lies, in the sender's shared memory.
        shared_slot slot;
        const bool shared = is_shared_envelope(in);
        if (shared) {
          if (auto st = claim_shared(self->state.ctx, in, slot); !st) {
            spdlog::warn("shard {}: {}; the sender resends through the socket", id, st.to_string());
            return to_caf_error(st);
          }
        }
        push_ack ack;
        bytes reply;
        bool notify = false;
        std::optional<pull_request_view> then_pull;  // PushRequest.pullAfter
        std::optional<bytes> in_full;                // for the backup: came by key-list name
        // A worker of this process scanned its step's gradients before
        // sending any (PushRequest.checkedFinite): no second scan here. A
        // push from another process is scanned whatever it says (see the
        // schema on what an authenticated peer forging frames could do).
        const auto& from = self->current_sender();
        const bool own_process = from && from->node() == self->node();
        const status st = guarded("push", [&] {
          push_view push;
          auto bad = shared ? decode_push(slot.data(), slot.size(), push) : decode_push(in, push);
          if (!bad) return bad;
          if (bad = complete_keys(self, push); !bad) return bad;
          // The backup may not hold the list: it gets the ids, and their
          // name, so that it holds them should it become the primary. Built
          // first: nothing is applied here that could not go on.
          if (push.keys_omitted && self->state.backup) in_full = encode_push_in_full(push);
          if (bad = self->state.store->apply_push(push, ack, own_process); !bad) return bad;
          notify = push.notify_applied;
          if (push.pull_after != push_header::pull_after_kind::none && !push.sparse) {
            then_pull = pull_after(push, shared);
          }
          reply = encode_push_ack(ack);
          return status{};
        });
        if (st.code() == errc::out_of_order || st.code() == errc::unknown_key_list) {
          // Not a bad push: one before it is missing, or its row ids are not
          // held here, and the sender resends.
          spdlog::info("shard {}: {}", id, st.message());
          return to_caf_error(st);
        }
        if (!st) return reject(self, "push", st);
        if (ack.duplicate) {
          ++self->state.stats.pushes_duplicate;
        } else {
          ++self->state.stats.pushes_applied;
        }
        if (self->state.ctx.metrics) {
          self->state.ctx.metrics->add_push(shared ? slot.size() : in.size());
        }
        auto& backup = self->state.backup;
        // Duplicates too: the original may still be on its way to the backup,
        // and this acknowledgement must not overtake it.
        if (!backup) return reply;
        // The pusher may go on once the push is applied here (the staleness
        // bound counts applied steps); the reply, which frees the push for
        // good, waits for the backup. Only workers ask for this.
        // A pull asked for with the push rides on the notice; empty when it
        // failed (the worker then pulls as usual).
        if (notify) {
          if (const auto& sender = self->current_sender()) {
            bytes values;
            if (then_pull) {
              if (auto r = answer_pull(self, *then_pull, sender, true)) values = std::move(*r);
            }
            self->send(caf::actor_cast<worker_actor>(sender), applied_atom::value, id, reply,
                       std::move(values));
          }
        }
        // Acknowledged only once the backup has it too: a push the worker saw
        // acknowledged survives the loss of this primary.
        auto promise = self->template make_response_promise<bytes>();
        const auto n = self->state.next_forward++;
        self->state.forwards.emplace(n, std::make_pair(promise, reply));
        auto release = [=] {
          auto& fw = self->state.forwards;
          if (auto it = fw.find(n); it != fw.end()) {
            it->second.first.deliver(it->second.second);
            fw.erase(it);
          }
        };
        // The push travels on without a copy of its ~MBs: the content is
        // moved out of this mailbox element (`in` is not read again). An
        // envelope goes on as it is to a backup on this host, which frees
        // the slot; elsewhere (or to backups since one could not read it)
        // its bytes do. Longer than a state transfer that may be queued
        // ahead of it.
        caf::message forward;
        if (in_full) {
          forward = caf::make_message(push_atom::value, std::move(*in_full));
        } else if (shared &&
                   (self->state.forward_bytes || same_host_pid(self->node(), backup.node()) == 0)) {
          forward =
              caf::make_message(push_atom::value, bytes(slot.data(), slot.data() + slot.size()));
        } else {
          if (shared) slot.pass_on();
          forward = self->current_mailbox_element()->move_content_to_message();
        }
        forward_to_backup(self, n, std::move(forward), release);
        return promise;
      },
      [=](pull_atom, const bytes& msg) -> caf::result<bytes> {
        if (auto err = check_peer(self)) return err;
        pull_request_view pull;
        const status decoded = guarded("pull", [&] {
          auto st = decode_pull_request(msg, pull);
          return st ? complete_keys(self, pull) : st;
        });
        if (decoded.code() == errc::unknown_key_list) {
          spdlog::info("shard {}: {}", id, decoded.message());  // the puller sends them in full
          return to_caf_error(decoded);
        }
        if (!decoded) {
          if (self->state.refusals.admit()) {
            spdlog::warn("shard {}: rejected pull: {}", id, decoded.to_string());
          }
          return to_caf_error(decoded);
        }
        if (pull.hold_round != 0) {
          if (auto held = hold_state(self, pull.table, pull.hold_round); !held) {
            // The pull is still answered: its checkpoint falls back to the current state.
            spdlog::warn("shard {}: cannot keep the state evaluation round {} reads: {}", id,
                         pull.hold_round, held.to_string());
          }
        }
        auto reply = answer_pull(self, pull, self->current_sender());
        if (!reply) return std::move(reply.error());
        return std::move(*reply);
      },
      [=](checkpoint_atom, const std::string& dir, const std::string& job, std::int64_t clock,
          std::uint64_t held_round) -> caf::result<std::string> {
        if (auto err = check_peer(self)) return err;
        const auto& root = self->state.ctx.checkpoint_root;
        if (!root.empty() && !is_within(root, dir)) {
          spdlog::error(
              "shard {}: refused a checkpoint into {}: outside this node's "
              "checkpoint_dir {}",
              id, dir, root);
          return make_troupe_error(
              errc::bad_config,
              "checkpoint directory " + dir + " is outside the node's checkpoint_dir " + root);
        }
        const auto t0 = std::chrono::steady_clock::now();
        const checkpoint_header header{job, id, clock};
        auto& s = self->state;
        const bool held = held_round != 0 && s.held && s.held_round == held_round;
        if (held_round != 0 && !held) {
          // A copy that took over since (or a round replaced by a newer one).
          spdlog::warn(
              "shard {}: the state evaluation round {} read is not held here; checkpointing "
              "the current one at clock {}",
              id, held_round, clock);
        }
        const auto st = held ? write_checkpoint(dir, header, *s.held)
                             : write_checkpoint(dir, header, s.store->snapshot());
        if (!st) {
          spdlog::error("shard {}: checkpoint at clock {} failed: {}", id, clock, st.to_string());
          return to_caf_error(st);
        }
        if (held) s.held.reset();
        prune_checkpoints(dir, id, 3);
        spdlog::debug(
            "shard {}: checkpoint at clock {} in {:.1f} ms", id, clock,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        return dir + "/" + checkpoint_file_name(id, clock);
      },
      [=](restore_atom, const bytes& data, bool keep_sequences) -> caf::result<std::uint64_t> {
        if (auto err = check_peer(self)) return err;
        checkpoint ck;
        status st = decode_checkpoint(data.data(), data.size(), ck);
        if (st) st = self->state.store->restore(std::move(ck.snapshot));
        if (st && !keep_sequences) self->state.store->forget_sequences();
        // A checkpoint lacks the pushes since it: in-order senders skip seqs once.
        const bool replica =
            ck.header.job == replica_snapshot_name || ck.header.job == replica_resync_snapshot_name;
        if (st && ck.header.job != replica_snapshot_name) self->state.store->allow_resync();
        if (!st) {
          spdlog::error("shard {}: cannot restore: {}", id, st.to_string());
          return to_caf_error(st);
        }
        // A backup must hold what its primary holds (a resumed job restores
        // primaries after their backups were attached).
        if (self->state.backup) {
          self->request(self->state.backup, std::chrono::seconds(120), restore_atom::value, data,
                        keep_sequences)
              .then([](std::uint64_t) {},
                    [=](caf::error& err) {
                      spdlog::warn("shard {}: backup refused the restored state: {}", id,
                                   describe(err));
                      if (self->state.backup) {
                        self->send_exit(self->state.backup, caf::exit_reason::user_shutdown);
                      }
                      self->state.backup = shard_actor{};
                    });
        }
        // A new backup's first state comes from its primary, not from a file.
        if (replica) {
          spdlog::info("shard {}: holds its primary's state (version {})", id,
                       self->state.store->total_version());
        } else {
          spdlog::info("shard {}: restored from the checkpoint of clock {}", id, ck.header.clock);
        }
        return self->state.store->total_version();
      },
      [=](replica_atom, const caf::actor& handle) -> caf::result<bool> {
        if (auto err = check_peer(self)) return err;
        auto backup = caf::actor_cast<shard_actor>(handle);
        // Pushes still waiting for the old backup are acknowledged now: the
        // old one is gone, and a new one starts from a snapshot that has them.
        for (auto& [n, entry] : self->state.forwards) entry.first.deliver(entry.second);
        self->state.forwards.clear();
        self->state.backup = backup;
        self->state.backup_missed_round = self->state.held ? self->state.held_round : 0;
        if (!backup) return true;
        // The backup gets the current state first; CAF keeps the order of
        // messages from one actor to another, so every forwarded push arrives
        // after it.
        checkpoint_header header{self->state.store->resync_pending() ? replica_resync_snapshot_name
                                                                     : replica_snapshot_name,
                                 id, 0};
        const auto file = encode_checkpoint(header, self->state.store->snapshot());
        bytes data(file.begin(), file.end());
        auto promise = self->template make_response_promise<bool>();
        self->request(backup, std::chrono::seconds(120), restore_atom::value, std::move(data), true)
            .then(
                [=](std::uint64_t) mutable {
                  spdlog::info("shard {}: backup in sync", id);
                  promise.deliver(true);
                },
                [=](caf::error& err) mutable {
                  spdlog::warn("shard {}: backup refused the state: {}", id, describe(err));
                  if (self->state.backup == backup) self->state.backup = shard_actor{};
                  promise.deliver(err);
                });
        return promise;
      },
      [=](hold_atom, std::uint32_t table, std::uint64_t round) {
        if (check_peer(self) || round == 0) return;  // round 0 names no evaluation
        if (auto held = hold_state(self, table, round); !held) {
          // A later checkpoint of that round writes the current state, and says so.
          spdlog::warn("shard {}: cannot keep the state evaluation round {} read: {}", id, round,
                       held.to_string());
        }
      },
      [=](stats_atom) {
        auto s = self->state.stats;
        s.version = self->state.store->total_version();
        return s;
      },
  };
}

}  // namespace

shard_actor spawn_shard(caf::actor_system& sys, std::uint32_t shard_id,
                        std::vector<shard_table> tables, host_context ctx, shard_thread thread) {
  if (thread == shard_thread::io) {
    return sys.middleman().spawn_broker(shard_behavior<io_shard>, shard_id, std::move(tables),
                                        std::move(ctx));
  }
  return sys.spawn(shard_behavior<scheduled_shard>, shard_id, std::move(tables), std::move(ctx));
}

}  // namespace troupe

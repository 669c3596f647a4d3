// troupe::client's clock groups (include/troupe/client.hpp): SSP for a
// service's own training loop, kept by the engine's table directory
// (actors/table_directory.hpp). Each call is a short-lived actor waiting for
// the directory's answer, so that a member held back by the bound blocks
// nothing but its own future.
#include "actors/actor_config.hpp"
#include "actors/client_impl.hpp"

namespace troupe {

namespace {

// A group's name in an error: a refused one may be a megabyte long.
std::string shown_name(const std::string& name) {
  return name.size() <= 256
             ? name
             : name.substr(0, 64) + "... (" + std::to_string(name.size()) + " bytes)";
}

// Refused before anything is sent; empty when the group is well-formed.
std::string check_group(const clock_group& g) {
  if (g.name.empty() || g.name.size() > 256) return "a clock group needs a name of 1-256 bytes";
  if (g.members == 0 || g.members > 65536) return "a clock group has 1 to 65536 members";
  if (g.member >= g.members) {
    return "member " + std::to_string(g.member) + " of a group of " + std::to_string(g.members);
  }
  if (g.staleness < -1) return "staleness must be >= 0, or -1 for unbounded";
  return {};
}

// A refusal of the directory names its group already: the caller reads it
// as it was written ("clock group 'g': member 5 of 2 members"), not behind a
// second group prefix and the engine's internal code name.
api_error clock_error(const caf::error& err, const clock_group& group) {
  auto e = to_api_error(err, "clock group '" + group.name + "'");
  if (err && err.category() == troupe_error_category() && err.context().size() == 1 &&
      err.context().match_element<std::string>(0)) {
    e.message = err.context().get_as<std::string>(0);
  }
  return e;
}

// A call the directory bounced because it had ended (request_receiver_down,
// which does not say why). In this process only engine.stop() ends it, and
// so does the client's own end: stopped, as a waiting advance_clock hears
// from the directory's down message. A remote one may also have been lost.
api_error directory_gone(caf::event_based_actor* self, const directory_actor& dir, bool ending,
                         const clock_group& group) {
  const bool stopped = ending || dir.node() == self->node();
  return {stopped ? api_errc::stopped : api_errc::peer_lost,
          "clock group '" + group.name + "': the engine keeping it ended"};
}

}  // namespace

void client::impl::advance_clock(const clock_group& group, callback<std::int64_t> done) {
  const user_thread_call call;
  auto c = start<std::int64_t>(std::move(done), true);
  if (auto why = check_group(group); !why.empty()) {
    return refuse(c, api_errc::bad_argument,
                  "clock group '" + shown_name(group.name) + "': " + why);
  }
  std::int64_t clock = 0;
  {
    // Absolute step counts: a call lost on the way is made good by the
    // next. Per member: one client may drive several members of a group.
    std::lock_guard<std::mutex> lock(clocks_->mutex);
    auto& m = clocks_->steps[{group.name, group.member}];
    clock = ++m.next;
    m.in_flight.insert(clock);
  }
  // The session stands for this client: the directory watches it, and a
  // client that ends leaves its groups.
  // The group travels as the spawn argument: CAF 0.17 dereferences a null
  // argument tuple when a function is spawned with none (UBSan stops there).
  rt_->sys.spawn(
      [c, dir = directory_, session = session_, clock, clocks = clocks_, ending = ending_](
          caf::event_based_actor* self, const clock_group& group) {
        // No timeout (the slowest member may take any time), so the
        // directory is watched instead: one that ends (the engine stopped,
        // its process or the link to it lost) drops the calls it keeps
        // without an answer. Nothing else holds this actor but the
        // directory's promise, so the pending response holds it too (until
        // it quits): otherwise it would go with the promise, unreachable,
        // before its down message came, and the call with it, unanswered.
        // Taken back before quitting: CAF 0.17 keeps a monitor on the
        // directory until the directory ends (~1 KB a call, for good).
        self->monitor(dir);
        const auto finish = [=] {
          self->demonitor(dir.address());
          c->complete();
          self->quit();
        };
        const auto keep = caf::actor_cast<caf::strong_actor_ptr>(self);
        self->set_down_handler([=](caf::down_msg& down) {
          if (down.source != dir.address()) return;
          // Its own client ending is `stopped` too, whatever the link did.
          const auto code = down.reason == caf::exit_reason::user_shutdown || ending->load()
                                ? api_errc::stopped
                                : api_errc::peer_lost;
          c->fail({code, "clock group '" + group.name + "': the engine keeping it ended (" +
                             caf::to_string(down.reason) + ")"});
          c->complete();
          self->quit();
        });
        self->request(dir, caf::infinite, clock_atom::value, group.name, group.member,
                      group.members, group.staleness, clock, session)
            .then(
                [=, keep = keep](std::int64_t slowest) {
                  {
                    std::lock_guard<std::mutex> lock(clocks->mutex);
                    auto& m = clocks->steps[{group.name, group.member}];
                    m.in_flight.erase(clock);
                    m.accepted = std::max(m.accepted, clock);
                  }
                  c->value = slowest;
                  finish();
                },
                [=, keep = keep](caf::error& err) {
                  {
                    std::lock_guard<std::mutex> lock(clocks->mutex);
                    auto& m = clocks->steps[{group.name, group.member}];
                    m.in_flight.erase(clock);
                    // The directory refused the step without recording it:
                    // the member's next call is the step after the highest
                    // still possible (answered, or in flight), whatever
                    // order refusals come back in (a step ahead would let
                    // its group run past the bound).
                    if (err && err.category() == troupe_error_category()) {
                      const std::int64_t flying = m.in_flight.empty() ? 0 : *m.in_flight.rbegin();
                      m.next = std::max(m.accepted, flying);
                    }
                  }
                  // Its own client ending made the directory drop the
                  // member: the call was stopped, as ~client promises.
                  if (ending->load()) {
                    c->fail({api_errc::stopped, "clock group '" + group.name +
                                                    "': the client ended while the call waited"});
                  } else if (err == caf::sec::request_receiver_down) {
                    c->fail(directory_gone(self, dir, false, group));
                  } else {
                    c->fail(clock_error(err, group));
                  }
                  finish();
                });
      },
      group);
}

void client::impl::leave_clock(const clock_group& group, callback<void> done) {
  const user_thread_call call;
  auto c = start<void>(std::move(done), true);
  if (auto why = check_group(group); !why.empty()) {
    return refuse(c, api_errc::bad_argument,
                  "clock group '" + shown_name(group.name) + "': " + why);
  }
  rt_->sys.spawn(
      [c, dir = directory_, session = session_, clocks = clocks_, ending = ending_](
          caf::event_based_actor* self, const clock_group& group) {
        self->request(dir, std::chrono::seconds(30), leave_atom::value, group.name, group.member,
                      session)
            .then(
                [=](bool) {
                  // Left for good: its step count goes (new rounds take new names).
                  {
                    std::lock_guard<std::mutex> lock(clocks->mutex);
                    clocks->steps.erase({group.name, group.member});
                  }
                  c->complete();
                },
                [=](caf::error& err) {
                  if (err == caf::sec::request_receiver_down) {
                    c->fail(directory_gone(self, dir, *ending, group));
                  } else {
                    c->fail(clock_error(err, group));
                  }
                  c->complete();
                });
      },
      group);
}

}  // namespace troupe

#include "actors/preauth_payload.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/proxy_registry.hpp>
#include <caf/scoped_execution_unit.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace troupe {

namespace {

// Types no peer may send before authenticating: reading a group handle makes
// CAF's group module spawn a broker actor it keeps for good (a flood of them
// grew a daemon by hundreds of MB), and a group_down_msg carries one. CAF's
// system messages act on the receiving actor before its handlers see them
// (scheduled_actor::categorize): an exit_msg with exit_reason::kill ends any
// actor, an error ends one without an error handler, a down_msg naming one
// of this process's actors (their ids are guessable, the node id is told in
// CAF's handshake) makes the node forget a hosted actor, and timeouts and
// stream messages drive internals. Each ended or corrupted the daemon for
// anyone who could connect.
//
// A constant array, not a static set: an engine kept in a global ends after
// function-local statics are destroyed, and its network thread screened
// frames against a destroyed set (a segfault at exit).
bool refused_type(const std::string& name) {
  static constexpr std::string_view refused[] = {
      "@group",   "@group_down",      "@exit",         "@down",          "@error",
      "@timeout", "@open_stream_msg", "@upstream_msg", "@downstream_msg"};
  for (const auto r : refused) {
    if (name == r) return true;
  }
  return false;
}

// CAF's binary format, read by CAF's own deserializer, except that
//  * a sequence may not claim more elements than bytes are left (every
//    element of every type Troupe and CAF exchange takes at least one byte);
//  * objects and sequences may nest at most max_depth deep (CAF reads them
//    by recursion: a few thousand nested config_value lists would overflow
//    the network thread's stack);
//  * before authentication, a message may not hold a refused type;
//  * long raw byte runs (a Cap'n Proto blob in a push) are skipped, not
//    copied: only their length matters here.
// Refusals and failed reads are sticky and kept here: CAF 0.17's
// message::load loses the error of an element it could not read (an empty
// message comes back, no error).
class bounded_deserializer final : public caf::deserializer {
 public:
  static constexpr int max_depth = 64;

  bounded_deserializer(caf::execution_unit* ctx, const std::uint8_t* data, std::size_t size,
                       bool authenticated)
      : caf::deserializer(ctx),
        inner_(ctx, reinterpret_cast<const char*>(data), size),
        authenticated_(authenticated) {}

  /// Why the payload was refused; empty when it was not.
  const std::string& refusal() const { return refusal_; }
  std::size_t remaining() const { return inner_.remaining(); }

  caf::error begin_object(std::uint16_t& nr, std::string& name) override {
    if (auto err = check(inner_.begin_object(nr, name))) return err;
    if (auto err = enter()) return err;
    // A message's element types: "@<>+@atom+@str".
    if (!authenticated_ && nr == 0 && name.compare(0, 4, "@<>+") == 0) {
      for (std::size_t at = 4; at <= name.size();) {
        const auto end = std::min(name.find('+', at), name.size());
        if (const auto type = name.substr(at, end - at); refused_type(type)) {
          refusal_ = "a message holding a " + type;
          return stop();
        }
        at = end + 1;
      }
    }
    return caf::none;
  }
  caf::error end_object() override {
    --depth_;
    return check(inner_.end_object());
  }
  caf::error begin_sequence(std::size_t& num) override {
    if (auto err = check(inner_.begin_sequence(num))) return err;
    if (auto err = enter()) return err;
    if (num > inner_.remaining()) {
      refusal_ = "a sequence of " + std::to_string(num) + " elements in " +
                 std::to_string(inner_.remaining()) + " bytes";
      num = 0;
      return stop();
    }
    return caf::none;
  }
  caf::error end_sequence() override {
    --depth_;
    return check(inner_.end_sequence());
  }
  caf::error apply_raw(std::size_t num_bytes, void* data) override {
    if (num_bytes < 4096) return check(inner_.apply_raw(num_bytes, data));
    if (!refusal_.empty()) return stop();
    if (num_bytes > inner_.remaining()) {
      refusal_ = "cut short (" + std::to_string(num_bytes) + " raw bytes in " +
                 std::to_string(inner_.remaining()) + ")";
      return stop();
    }
    inner_.skip(num_bytes);
    return caf::none;
  }

 protected:
  caf::error apply_impl(std::int8_t& x) override { return read(x); }
  caf::error apply_impl(std::uint8_t& x) override { return read(x); }
  caf::error apply_impl(std::int16_t& x) override { return read(x); }
  caf::error apply_impl(std::uint16_t& x) override { return read(x); }
  caf::error apply_impl(std::int32_t& x) override { return read(x); }
  caf::error apply_impl(std::uint32_t& x) override { return read(x); }
  caf::error apply_impl(std::int64_t& x) override { return read(x); }
  caf::error apply_impl(std::uint64_t& x) override { return read(x); }
  caf::error apply_impl(float& x) override { return read(x); }
  caf::error apply_impl(double& x) override { return read(x); }
  caf::error apply_impl(long double& x) override { return read(x); }
  // CAF checks a string's length against the bytes left itself; u16/u32
  // strings grow one read element at a time.
  caf::error apply_impl(std::string& x) override { return read(x); }
  caf::error apply_impl(std::u16string& x) override { return read(x); }
  caf::error apply_impl(std::u32string& x) override { return read(x); }

 private:
  static caf::error stop() { return caf::make_error(caf::sec::end_of_stream); }
  // Once refused or cut short, nothing more is read; a failed read is
  // remembered even where CAF would lose its error.
  caf::error check(caf::error err) {
    if (!refusal_.empty()) return stop();
    if (err) refusal_ = "cut short (" + caf::to_string(err) + ")";
    return err;
  }
  template <class T>
  caf::error read(T& x) {
    if (!refusal_.empty()) return stop();
    return check(inner_.apply(x));
  }
  caf::error enter() {
    if (++depth_ <= max_depth) return caf::none;
    refusal_ = "nested more than " + std::to_string(max_depth) + " deep";
    return stop();
  }

  caf::binary_deserializer inner_;
  const bool authenticated_;
  int depth_ = 0;
  std::string refusal_;
};

// Handles of actors read as null: a dry run must not make proxies (the BASP
// broker makes them when it reads the message for real). A handle of an
// actor on a third node is refused: for one, CAF's broker learns an indirect
// route and starts talking to that node, on an unauthenticated peer's word.
class no_proxies final : public caf::proxy_registry::backend {
 public:
  /// `peer`: the node the peer named (null: none yet); `any`: every node
  /// may be named (an authenticated peer's messages carry handles of actors
  /// all over the cluster).
  no_proxies(const caf::node_id* peer, bool any) : peer_(peer), any_(any) {}
  caf::strong_actor_ptr make_proxy(caf::node_id node, caf::actor_id) override {
    if (!any_ && (peer_ == nullptr || node != *peer_) && !third_) third_ = std::move(node);
    return nullptr;
  }
  void set_last_hop(caf::node_id*) override {}
  const std::optional<caf::node_id>& third_node() const { return third_; }

 private:
  const caf::node_id* peer_;
  const bool any_;
  std::optional<caf::node_id> third_;
};

// What a message read before authentication may ask of CAF itself. Named
// receivers: only the query CAF's BASP sends to a node it meets
// (`SpawnServ`, `(sys, get, "info")`); by id, never CAF's config server
// (which keeps every key/value put into it for good: a flood of puts grew a
// daemon without bound) or its spawn server. Routed messages would make CAF
// learn a route, spawn a helper and keep a table entry for a node named only
// by the unauthenticated peer, so none are read; monitor and down messages
// must come from the peer itself (named in its handshake) to this node: a
// forged source would register monitors that nothing removes, or kill this
// node's proxies of another node's actors.
std::string refused_receiver(caf::actor_system& sys, const basp_header& header,
                             const caf::node_id* peer, const caf::node_id& from,
                             const caf::node_id& to,
                             const std::vector<caf::strong_actor_ptr>& stages,
                             const caf::message& msg) {
  const auto id_of = [](const caf::strong_actor_ptr& ptr) {
    return ptr ? ptr->id() : caf::invalid_actor_id;
  };
  switch (header.operation) {
    case basp_op::direct_message:
      if ((header.flags & basp_flag::named_receiver) != 0) {
        const bool info_query =
            header.dest_actor == static_cast<std::uint64_t>(caf::atom("SpawnServ")) &&
            stages.empty() && msg.match_elements<caf::sys_atom, caf::get_atom, std::string>() &&
            msg.get_as<std::string>(2) == "info";
        return info_query ? std::string{} : "a message to a named CAF service";
      }
      if (header.dest_actor == id_of(sys.config_serv()) ||
          header.dest_actor == id_of(sys.spawn_serv())) {
        return "a message to a CAF service";
      }
      return {};
    case basp_op::routed_message:
      return "a routed message";
    case basp_op::client_handshake:
      return peer != nullptr && from == *peer ? std::string{}
                                              : "a second handshake naming another node";
    case basp_op::monitor_message:
    case basp_op::down_message:
      if (peer == nullptr || from != *peer) return "a monitor or down message of another node";
      if (to != sys.node()) return "a monitor or down message for another node";
      return {};
    default:
      return {};
  }
}

// CAF 0.17 ends any actor that receives an exit_msg with exit_reason::kill,
// whatever its exit handler says: from an authenticated peer (a bug, a stolen
// secret) it stopped a node actor, and with it every job on the node. No
// Troupe actor ends with kill while linked across nodes (only the listener's
// middleman and an embedded engine's idle node are killed, both locally), so
// none is legitimate traffic.
bool killing_exit(const caf::message& msg) {
  return msg.match_elements<caf::exit_msg>() &&
         msg.get_as<caf::exit_msg>(0).reason == caf::exit_reason::kill;
}

// Reads the payload the way BASP will; before authentication also what it
// holds and asks for. Empty: it may go to BASP.
std::string why_unreadable(caf::actor_system& sys, const basp_header& header,
                           const std::uint8_t* data, std::size_t size, const caf::node_id* peer,
                           bool authenticated) {
  no_proxies backend{peer, authenticated};
  caf::proxy_registry proxies{sys, backend};
  caf::scoped_execution_unit unit{&sys};
  unit.proxy_registry_ptr(&proxies);
  bounded_deserializer source{&unit, data, size, authenticated};
  caf::node_id from;
  caf::node_id to;
  std::vector<caf::strong_actor_ptr> stages;
  caf::message msg;
  caf::error err;
  // CAF 0.17 throws from some of its readers instead of returning an error
  // (a config_value of an unknown type: std::runtime_error "invalid type
  // found"); on the network thread that was std::terminate, the node and
  // its jobs gone for one packet from anyone who could connect.
  std::string thrown;
  try {
    switch (header.operation) {
      case basp_op::direct_message:
        err = source(stages, msg);
        break;
      case basp_op::routed_message:
        err = source(from, to, stages, msg);
        break;
      case basp_op::monitor_message:
        err = source(from, to);
        break;
      case basp_op::down_message: {
        caf::error reason;
        err = source(from, to, reason);
        break;
      }
      case basp_op::client_handshake:
        // The first is read by the screen; CAF clients repeat it (with the
        // select-connection flag), and a repeat must name the same node.
        err = source(from);
        break;
      default:  // heartbeats carry nothing
        return {};
    }
  } catch (const std::exception& e) {
    thrown = std::string("CAF cannot read it (") + e.what() + ")";
  } catch (...) {
    thrown = "CAF cannot read it";
  }
  if (!thrown.empty()) return thrown;
  if (!source.refusal().empty()) return source.refusal();
  if (err) return sys.render(err);
  // What is left when CAF gave up on an element (an unknown type).
  if (source.remaining() != 0) return std::to_string(source.remaining()) + " bytes after its end";
  if (authenticated) return killing_exit(msg) ? "an exit message with exit_reason::kill" : "";
  if (backend.third_node()) {
    return "a handle of an actor on another node (" + caf::to_string(*backend.third_node()) + ")";
  }
  return refused_receiver(sys, header, peer, from, to, stages, msg);
}

}  // namespace

status check_preauth_payload(caf::actor_system& sys, const basp_header& header,
                             const std::vector<std::uint8_t>& payload, const caf::node_id* peer) {
  auto why = why_unreadable(sys, header, payload.data(), payload.size(), peer, false);
  if (why.empty()) return {};
  return {errc::malformed_message,
          "a message (BASP operation " + std::to_string(header.operation) + ") of " +
              std::to_string(payload.size()) +
              " bytes sent before authenticating that this node will not read: " + why};
}

status check_authenticated_payload(caf::actor_system& sys, const basp_header& header,
                                   const std::uint8_t* data, std::size_t size) {
  auto why = why_unreadable(sys, header, data, size, nullptr, true);
  if (why.empty()) return {};
  return {errc::malformed_message, "a message (BASP operation " + std::to_string(header.operation) +
                                       ") of " + std::to_string(size) +
                                       " bytes that CAF cannot read: " + why};
}

}  // namespace troupe

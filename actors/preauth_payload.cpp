#include "actors/preauth_payload.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/proxy_registry.hpp>
#include <caf/scoped_execution_unit.hpp>

#include <string>

namespace troupe {

namespace {

// CAF's binary format, read by CAF's own deserializer, except that a
// sequence may not claim more elements than bytes are left (every element
// of every type Troupe and CAF exchange takes at least one byte). A refusal
// is sticky and kept here: CAF 0.17's message::load loses the error of an
// element it could not read (an empty message comes back, no error).
class bounded_deserializer final : public caf::deserializer {
 public:
  bounded_deserializer(caf::execution_unit* ctx, const std::vector<std::uint8_t>& bytes)
      : caf::deserializer(ctx),
        inner_(ctx, reinterpret_cast<const char*>(bytes.data()), bytes.size()) {}

  /// Why a length was refused; empty when none was.
  const std::string& refusal() const { return refusal_; }
  std::size_t remaining() const { return inner_.remaining(); }

  caf::error begin_object(std::uint16_t& nr, std::string& name) override {
    return refused() ? stop() : inner_.begin_object(nr, name);
  }
  caf::error end_object() override { return refused() ? stop() : inner_.end_object(); }
  caf::error begin_sequence(std::size_t& num) override {
    if (refused()) return stop();
    if (auto err = inner_.begin_sequence(num)) return err;
    if (num > inner_.remaining()) {
      refusal_ = "a sequence of " + std::to_string(num) + " elements in " +
                 std::to_string(inner_.remaining()) + " bytes";
      num = 0;
      return stop();
    }
    return caf::none;
  }
  caf::error end_sequence() override { return refused() ? stop() : inner_.end_sequence(); }
  caf::error apply_raw(std::size_t num_bytes, void* data) override {
    return refused() ? stop() : inner_.apply_raw(num_bytes, data);
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
  bool refused() const { return !refusal_.empty(); }
  static caf::error stop() { return caf::make_error(caf::sec::end_of_stream); }
  template <class T>
  caf::error read(T& x) {
    return refused() ? stop() : inner_.apply(x);
  }

  caf::binary_deserializer inner_;
  std::string refusal_;
};

// Handles of actors on other nodes read as null: a dry run must not make
// proxies (the BASP broker makes them when it reads the message for real).
class no_proxies final : public caf::proxy_registry::backend {
 public:
  caf::strong_actor_ptr make_proxy(caf::node_id, caf::actor_id) override { return nullptr; }
  void set_last_hop(caf::node_id*) override {}
};

// BASP 3 operations (caf/io/basp/message_type.hpp).
enum : std::uint8_t {
  op_direct_message = 2,
  op_routed_message = 3,
  op_monitor_message = 4,
  op_down_message = 5,
};

}  // namespace

status check_preauth_payload(caf::actor_system& sys, const basp_header& header,
                             const std::vector<std::uint8_t>& payload) {
  no_proxies backend;
  caf::proxy_registry proxies{sys, backend};
  caf::scoped_execution_unit unit{&sys};
  unit.proxy_registry_ptr(&proxies);
  bounded_deserializer source{&unit, payload};
  caf::node_id from;
  caf::node_id to;
  std::vector<caf::strong_actor_ptr> stages;
  caf::message msg;
  caf::error err;
  switch (header.operation) {
    case op_direct_message:
      err = source(stages, msg);
      break;
    case op_routed_message:
      err = source(from, to, stages, msg);
      break;
    case op_monitor_message:
      err = source(from, to);
      break;
    case op_down_message: {
      caf::error reason;
      err = source(from, to, reason);
      break;
    }
    default:  // handshakes are read by the screen, heartbeats carry nothing
      return {};
  }
  std::string why;
  if (!source.refusal().empty()) {
    why = source.refusal();
  } else if (err) {
    why = sys.render(err);
  } else if (source.remaining() != 0) {
    why = std::to_string(source.remaining()) + " bytes after its end";
  } else if (msg.empty() &&
             (header.operation == op_direct_message || header.operation == op_routed_message)) {
    why = "no content that could be read";  // what CAF makes of an element it could not read
  } else {
    return {};
  }
  return {errc::malformed_message,
          "a message (BASP operation " + std::to_string(header.operation) + ") of " +
              std::to_string(payload.size()) +
              " bytes sent before authenticating that this node will not read: " + why};
}

}  // namespace troupe

#include "actors/guarded_listener.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <caf/all.hpp>
#include <caf/detail/socket_guard.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/openssl/session.hpp>
#include <caf/policy/tcp.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "actors/actor_config.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using caf::io::network::rw_state;

// The TLS error that ended a connection, or "" when the peer just closed it
// (CAF never sends close_notify, so an EOF without one is a normal close).
std::string tls_failure() {
  std::string out;
  while (const auto code = ERR_get_error()) {
    if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) continue;
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  if (out.empty()) return out;
  // A plain client's first bytes are a BASP header, no TLS record, and
  // OpenSSL says only "wrong version number": name the likely cause.
  const bool plain = out.find("wrong version number") != std::string::npos;
  return "TLS handshake or record failed: " + out +
         (plain ? " (a client without TLS? this listener takes TLS only)" : "");
}

// What an accepted socket holds before anything reads it: a first byte, an
// end of file before any byte (the peer closed), or nothing yet.
enum class first_byte { waiting, closed, none_yet };
first_byte peek_first_byte(native_socket fd) {
  char c = 0;
  const auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 ? first_byte::waiting : n == 0 ? first_byte::closed : first_byte::none_yet;
}

// The stream policy of a screened socket: TCP or TLS underneath, and every
// byte read goes through the connection's screen before CAF gets it.
class screened_transport {
 public:
  screened_transport(std::unique_ptr<connection_screen> screen, caf::openssl::session_ptr tls)
      : screen_(std::move(screen)), tls_(std::move(tls)) {}

  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    if (tls_) ERR_clear_error();
    const auto st = tls_ ? tls_->read_some(result, fd, buf, len)
                         : caf::policy::tcp::read_some(result, fd, buf, len);
    if (st == rw_state::failure) {
      screen_->transport_failed(tls_ ? tls_failure() : std::string{});
      return st;
    }
    if (st == rw_state::success && result > 0 && !screen_->screen(buf, result)) {
      result = 0;
      return rw_state::failure;
    }
    return st;
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    if (!tls_) return caf::policy::tcp::write_some(result, fd, buf, len);
    // A TLS handshake advances on writes too (CAF's server handshake waits in
    // the write buffer): its failure may show here first.
    ERR_clear_error();
    const auto st = tls_->write_some(result, fd, buf, len);
    if (st == rw_state::failure) screen_->transport_failed(tls_failure());
    return st;
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    return tls_ && tls_->must_read_more(fd, threshold);
  }

 private:
  std::unique_ptr<connection_screen> screen_;
  caf::openssl::session_ptr tls_;
};

class screened_scribe : public caf::io::scribe {
 public:
  screened_scribe(default_multiplexer& mpx, native_socket fd,
                  std::unique_ptr<connection_screen> screen, caf::openssl::session_ptr tls)
      : caf::io::scribe(caf::io::network::conn_hdl_from_socket(fd)),
        tls_(tls != nullptr),
        screen_(screen.get()),
        stream_(mpx, fd, std::move(screen), std::move(tls)) {}

  // Each frame as CAF hands it to BASP: an authenticated peer's payload is
  // checked here, in place, that CAF can read it. A reader that throws made
  // the BASP broker quit (CAF catches it and ends the actor), and with it
  // every connection of the process; now the one connection closes, as if
  // the read had failed.
  bool consume(caf::execution_unit* ctx, const void* buf, size_t size) override {
    if (!screen_->check_frame(buf, size)) {
      io_failure(ctx, caf::io::network::operation::read);
      return false;
    }
    return caf::io::scribe::consume(ctx, buf, size);
  }

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) launch();
  }
  void ack_writes(bool enable) override { stream_.ack_writes(enable); }
  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }
  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }
  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }
  void flush() override { stream_.flush(this); }
  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }
  std::uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }
  void add_to_loop() override { stream_.activate(this); }
  void remove_from_loop() override { stream_.passivate(); }

 private:
  void launch() {
    launched_ = true;
    stream_.start(this);
    // A TLS handshake may need to write before anything is sent.
    if (tls_) stream_.force_empty_write(this);
  }

  bool launched_ = false;
  bool tls_;
  connection_screen* screen_;  // owned by stream_'s transport, as long-lived as this
  caf::io::network::stream_impl<screened_transport> stream_;
};

caf::io::basp_broker* basp_of(const caf::actor& broker) {
  return static_cast<caf::io::basp_broker*>(caf::actor_cast<caf::abstract_actor*>(broker));
}

class screened_doorman : public caf::io::network::doorman_impl {
 public:
  screened_doorman(default_multiplexer& mpx, native_socket fd, std::shared_ptr<frame_guard> guard,
                   bool tls, caf::io::basp_broker* basp)
      : caf::io::network::doorman_impl(mpx, fd), guard_(std::move(guard)), tls_(tls), basp_(basp) {}

  bool new_connection() override {
    if (detached()) return false;   // the broker let go while events were pending
    forget_departed_nodes(*basp_);  // here, on the I/O thread the broker runs on
    auto& mpx = acceptor_.backend();
    const auto fd = acceptor_.accepted_socket();
    caf::detail::socket_guard closer{fd};
    caf::io::network::nonblocking(fd, true);
    auto screen = std::make_unique<connection_screen>(guard_, mpx.system(), fd);
    if (!screen->admitted()) return false;
    caf::openssl::session_ptr tls;
    if (tls_) {
      // A peer that closed without sending a byte (a health check, or a
      // client first checking that this node answers, engine/tcp_probe.hpp)
      // just closed, as on plain TCP: nothing to refuse or log.
      const auto first = peek_first_byte(fd);
      if (first == first_byte::closed) return false;
      ERR_clear_error();
      try {  // CAF throws when the certificate files went away since the start
        tls = caf::openssl::make_session(mpx.system(), fd, true);
      } catch (const std::exception& e) {
        spdlog::error("{}: cannot start a TLS session: {}", guard_->options().name, e.what());
      }
      if (!tls) {
        // Usually the peer's first bytes were no TLS at all (a plain client).
        const auto why = tls_failure();
        // (Its close may also come just after the look above.)
        if (why.empty() && first == first_byte::none_yet) return false;
        guard_->refuse(screen->peer(), why.empty() ? "no TLS session could be started" : why);
        return false;
      }
    }
    auto scribe = caf::make_counted<screened_scribe>(mpx, fd, std::move(screen), std::move(tls));
    closer.release();  // the scribe owns the socket now
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

 private:
  std::shared_ptr<frame_guard> guard_;
  bool tls_;
  caf::io::basp_broker* basp_;  // outlives every doorman (stopped after them)
};

// A middleman actor whose published ports take screened doormen; everything
// else (connect, unpublish, ...) is CAF's.
class screened_middleman : public caf::io::middleman_actor_impl {
 public:
  screened_middleman(caf::actor_config& cfg, caf::actor broker, std::shared_ptr<frame_guard> guard,
                     bool tls)
      : caf::io::middleman_actor_impl(cfg, broker),
        guard_(std::move(guard)),
        tls_(tls),
        basp_(basp_of(broker)) {}

  const char* name() const override { return "troupe.screened_middleman"; }

 protected:
  caf::expected<caf::io::doorman_ptr> open(std::uint16_t port, const char* addr,
                                           bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd) return std::move(fd.error());
    auto& mpx = static_cast<default_multiplexer&>(system().middleman().backend());
    return caf::make_counted<screened_doorman>(mpx, *fd, guard_, tls_, basp_);
  }

 private:
  std::shared_ptr<frame_guard> guard_;
  bool tls_;
  caf::io::basp_broker* basp_;
};

}  // namespace

struct guarded_listener::impl {
  caf::actor_system* sys = nullptr;
  caf::io::middleman_actor middleman;
  caf::actor_addr whom;
  std::uint16_t port = 0;
  std::shared_ptr<frame_guard> guard;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread sweeper;

  void sweep_until_stopped() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::milliseconds(250));
      if (!stopping) guard->sweep();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (sweeper.joinable()) sweeper.join();
    if (!middleman) return;
    caf::scoped_actor self{*sys};
    if (port != 0) {
      self->request(middleman, std::chrono::seconds(5), caf::unpublish_atom::value, whom, port)
          .receive([] {}, [](caf::error&) {});
    }
    self->send_exit(middleman, caf::exit_reason::kill);
    self->wait_for(middleman);
    middleman = nullptr;
  }
};

guarded_listener::guarded_listener(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

guarded_listener::~guarded_listener() {
  impl_->stop();
}

std::uint16_t guarded_listener::port() const {
  return impl_->port;
}

void forget_departed_nodes(caf::io::basp_broker& basp) {
  auto& servers = basp.spawn_servers;
  const auto& registry = basp.system().registry();
  for (auto it = servers.begin(); it != servers.end();) {
    if (basp.instance.tbl().lookup(it->first)) {
      ++it;
      continue;
    }
    // Its node is gone. The helper ends on its own only once that node's
    // spawn server answered it (a peer that left before answering leaves
    // it waiting 5 minutes): it is told to end, and its handle goes on a
    // later call, once it has ended (its cleanup took it out of the
    // registry). Dropping the last handle of a live helper left it to be
    // destroyed by the clock's pending timeout at the system's end, after
    // the clock had stopped: a segfault in ~actor_system.
    if (registry.get<caf::strong_actor_ptr>(it->second.id()) == nullptr) {
      it = servers.erase(it);
      continue;
    }
    caf::anon_send_exit(it->second, caf::exit_reason::kill);
    ++it;
  }
}

std::size_t remembered_nodes(caf::actor_system& sys) {
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto* basp = basp_of(broker);
  std::promise<std::size_t> count;
  auto answer = count.get_future();
  sys.middleman().backend().dispatch([&] { count.set_value(basp->spawn_servers.size()); });
  return answer.get();
}

std::unique_ptr<guarded_listener> guarded_listener::publish(
    caf::actor_system& sys, caf::strong_actor_ptr whom, std::set<std::string> sigs,
    const std::string& host, std::uint16_t port, listen_options opts) {
  if (opts.tls && !sys.has_openssl_manager()) {
    throw troupe_error(errc::bad_config, "TLS listener without TLS files configured");
  }
  auto p = std::make_unique<impl>();
  p->sys = &sys;
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  // Asked by the screens on the middleman's I/O thread, where the broker
  // runs; its routing table locks itself besides. The broker outlives the
  // listener (stopped before the middleman).
  auto* basp = basp_of(broker);
  opts.guard.route_of = [basp](const caf::node_id& id) -> std::optional<std::int64_t> {
    if (auto hdl = basp->instance.tbl().lookup_direct(id)) return hdl->id();
    return std::nullopt;
  };
  p->guard = std::make_shared<frame_guard>(std::move(opts.guard));
  p->whom = caf::actor_cast<caf::actor_addr>(whom);
  p->middleman =
      sys.spawn<screened_middleman, caf::detached + caf::hidden>(broker, p->guard, opts.tls);
  caf::error failed;
  {
    caf::scoped_actor self{sys};
    self->request(p->middleman, std::chrono::seconds(30), caf::publish_atom::value, port,
                  std::move(whom), std::move(sigs), host, true)
        .receive([&](std::uint16_t actual) { p->port = actual; },
                 [&](caf::error& err) { failed = std::move(err); });
  }
  std::unique_ptr<guarded_listener> out{new guarded_listener(std::move(p))};
  if (failed) {
    // CAF's own text ("tcp socket creation failed") never says why.
    const bool port_refused = failed.compare(caf::make_error(caf::sec::cannot_open_port)) == 0;
    throw troupe_error(errc::io_error,
                       "cannot listen on " + host + ":" + std::to_string(port) + ": " +
                           describe(failed) +
                           (port_refused ? " (is the port in use by another process, or the "
                                           "address not one of this machine's?)"
                                         : ""));
  }
  out->impl_->sweeper = std::thread([raw = out->impl_.get()] { raw->sweep_until_stopped(); });
  return out;
}

}  // namespace troupe

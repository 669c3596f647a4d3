// troupe::client::connect: reach a remote engine's table directory with a
// bounded wait (actors/remote_connect.hpp), over TLS when the options say
// so, prove the secret, read the directory.
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/remote_connect.hpp"
#include "actors/service_client.hpp"
#include "actors/tls_config.hpp"
#include "engine/address.hpp"
#include "engine/auth.hpp"

namespace troupe {

namespace {

// What an engine that closed or refused the handshake may mean (the engine
// logs which): the message said only "system_error(disconnect_during_handshake)".
std::string handshake_hint(const caf::error& err, bool tls) {
  if (closed_before_handshake(err)) {
    return tls ? " (closed during the TLS handshake on every try: is this client's certificate "
                 "signed by the engine's CA, and does the engine listen with TLS? it logs why; "
                 "or it refuses newcomers during a flood of connections)"
               : " (closed during the handshake on every try: does the engine listen with TLS? "
                 "then this client needs options.tls too; or it refuses newcomers during a "
                 "flood of connections)";
  }
  // A plain client whose first try lost CAF's handshake race waits for the
  // engine to speak first on the next: one that listens with TLS never does.
  if (!tls && accepted_but_silent(err)) {
    return " (an engine that listens with TLS sends nothing first: then this client needs "
           "options.tls too)";
  }
  if (tls && err == caf::make_error(caf::sec::cannot_connect_to_node)) {
    return " (the TLS handshake failed: does the engine listen with TLS, and is its certificate "
           "signed by options.tls.ca?)";
  }
  return {};
}

result<directory_actor> reach_directory(actor_runtime& rt, caf::scoped_actor& self,
                                        const std::string& host, std::uint16_t port,
                                        std::chrono::milliseconds timeout, bool tls) {
  const auto where = host + ":" + std::to_string(port);
  auto ep = connect_endpoint(*self.ptr(), host, port, timeout);
  if (!ep && ep.error() == caf::make_error(caf::sec::no_actor_published_at_port)) {
    return {api_errc::unreachable, "nothing is published at " + where};
  }
  if (!ep && ep.error() == caf::make_error(caf::sec::connection_timeout)) {
    // Something accepts connections there but never finished CAF's handshake.
    return {api_errc::timeout, "no handshake from " + where + " within connect_timeout (" +
                                   std::to_string(timeout.count()) +
                                   " ms): is it a Troupe engine?"};
  }
  if (!ep) {
    auto e = to_api_error(ep.error(), "connecting to " + where);
    if (e.code == api_errc::internal) e.code = api_errc::unreachable;
    e.message += handshake_hint(ep.error(), tls);
    return e;
  }
  if (!rt.sys.assignable<directory_actor>(ep->interface)) {
    return {api_errc::unreachable,
            "the actor at " + where + " is no Troupe engine (a node daemon?)"};
  }
  return caf::actor_cast<directory_actor>(std::move(ep->actor));
}

// An engine that went away during connect() (it was shutting down, or its
// process ended) was not reached: `unreachable`, one of connect's documented
// errors, not the peer_lost of a client that had been connected. CAF 0.17
// leaves a request unanswered when its connection drops; such a connect
// waits out connect_timeout and says so.
api_error gone_while_connecting(api_error e) {
  if (e.code == api_errc::peer_lost) {
    e.code = api_errc::unreachable;
    e.message += " (the engine went away while connecting: is it shutting down?)";
  } else if (e.code == api_errc::timeout) {
    e.message += " (no answer within connect_timeout: is the engine shutting down or hung?)";
  }
  return e;
}

}  // namespace

result<client> client::connect(const std::string& address, const std::string& given_secret,
                               client_options options) {
  const user_thread_call call;
  const auto secret = trim_secret(given_secret);
  if (auto why = check_client_options(options); !why.empty()) {
    return {api_errc::bad_argument, why};
  }
  std::pair<std::string, std::uint16_t> hp;
  try {
    hp = parse_address(address, false);
  } catch (const troupe_error& e) {
    return {api_errc::bad_argument, e.what()};
  }
  const bool tls = options.tls.enabled();
  if (!(tls && secret.empty()) && secret.size() < min_secret_bytes) {
    return {api_errc::bad_argument, "the secret must have at least " +
                                        std::to_string(min_secret_bytes) + " bytes (or use TLS)"};
  }
  std::shared_ptr<actor_runtime> rt;
  try {
    rt = std::make_shared<actor_runtime>(0, options.tls, options.peer_timeout);
  } catch (const troupe_error& e) {
    return {api_errc::bad_argument, e.what()};
  }
  // Its life is this process's admission to the engine: the client keeps it.
  auto auth = std::make_unique<caf::scoped_actor>(rt->sys);
  // On a refusal `auth` goes first, explicitly: it lives in rt's actor system.
  auto refuse = [&](api_error e) -> result<client> {
    auth.reset();
    return e;
  };
  auto dir = reach_directory(*rt, *auth, hp.first, hp.second, options.connect_timeout, tls);
  if (!dir) return refuse(dir.error());
  auto node = caf::actor_cast<node_actor>(*dir);  // the directory speaks the node's handshake
  if (secret.empty()) {
    // TLS only: the certificate was the credential.
  } else if (auto err = authenticate(*auth, node, secret, options.connect_timeout)) {
    auto e = to_api_error(err, "authenticating with " + address);
    if (e.code == api_errc::internal) e.code = api_errc::auth_failed;
    return refuse(gone_while_connecting(std::move(e)));
  }
  auto opened = open_client(std::move(rt), *dir, options, std::move(auth));
  if (!opened && secret.empty() && opened.error().code == api_errc::auth_failed) {
    // It read "table directory: bad_config: not authenticated (send hello
    // and auth)": the engine's words to a peer, not the fix.
    return api_error{api_errc::auth_failed,
                     "the engine at " + address +
                         " wants the cluster secret as well as the TLS certificate: give "
                         "client::connect the secret"};
  }
  if (!opened) return gone_while_connecting(opened.error());
  return opened;
}

}  // namespace troupe

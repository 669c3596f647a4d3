// troupe::client's public methods: futures over the callback calls, and
// building a client from a table directory.
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "actors/client_impl.hpp"
#include "actors/client_reaper.hpp"
#include "actors/cluster_types.hpp"

namespace troupe {

namespace {

template <class T, class Call>
std::future<result<T>> with_future(Call&& issue) {
  auto p = std::make_shared<std::promise<result<T>>>();
  auto f = p->get_future();
  issue([p](result<T> r) { p->set_value(std::move(r)); });
  return f;
}

// The client's inside for one call, held until the call returns (a
// callback run before it returns may end the client); or, for a moved-from
// client, nothing: the call is answered `stopped` instead of crashing, and a
// callback that throws (or is empty) is logged and dropped, as on every
// other path (call::complete).
template <class Done>
std::shared_ptr<client::impl> live(const std::shared_ptr<client::impl>& p, Done& done) {
  if (p) return p;
  try {
    const callback_scope scope;
    done({api_errc::stopped, "this client was moved from"});
  } catch (const std::exception& e) {
    spdlog::error("client: a completion callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("client: a completion callback threw a non-standard exception");
  }
  return nullptr;
}

// Ends a client's inside: here, with its last reference, or, in a
// completion callback, on the reaper's thread (actors/client_reaper.hpp).
void retire(std::shared_ptr<client::impl> p) {
  if (!p || !callback_scope::active()) return;
  client_reaper::instance().retire(std::move(p));
}

}  // namespace

client::client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    retire(std::exchange(impl_, std::move(other.impl_)));
  }
  return *this;
}
client::~client() {
  retire(std::move(impl_));
}

std::future<result<rows>> client::lookup(const std::string& table, std::vector<std::uint64_t> ids) {
  return with_future<rows>(
      [&](callback<rows> done) { lookup(table, std::move(ids), std::move(done)); });
}
void client::lookup(const std::string& table, std::vector<std::uint64_t> ids, callback<rows> done) {
  if (auto p = live(impl_, done)) p->lookup(table, std::move(ids), std::move(done));
}

std::future<result<void>> client::push(const std::string& table, std::vector<std::uint64_t> ids,
                                       std::vector<float> grads) {
  return with_future<void>(
      [&](callback<void> done) { push(table, std::move(ids), std::move(grads), std::move(done)); });
}
void client::push(const std::string& table, std::vector<std::uint64_t> ids,
                  std::vector<float> grads, callback<void> done) {
  if (auto p = live(impl_, done)) p->push(table, std::move(ids), std::move(grads), std::move(done));
}

std::future<result<std::vector<float>>> client::pull(const std::string& table, std::uint64_t offset,
                                                     std::uint64_t count) {
  return with_future<std::vector<float>>(
      [&](callback<std::vector<float>> done) { pull(table, offset, count, std::move(done)); });
}
void client::pull(const std::string& table, std::uint64_t offset, std::uint64_t count,
                  callback<std::vector<float>> done) {
  if (auto p = live(impl_, done)) p->pull(table, offset, count, std::move(done));
}

std::future<result<void>> client::push_dense(const std::string& table, std::uint64_t offset,
                                             std::vector<float> grads) {
  return with_future<void>(
      [&](callback<void> done) { push_dense(table, offset, std::move(grads), std::move(done)); });
}
void client::push_dense(const std::string& table, std::uint64_t offset, std::vector<float> grads,
                        callback<void> done) {
  if (auto p = live(impl_, done)) p->push_dense(table, offset, std::move(grads), std::move(done));
}

std::future<result<std::int64_t>> client::advance_clock(const clock_group& group) {
  return with_future<std::int64_t>(
      [&](callback<std::int64_t> done) { advance_clock(group, std::move(done)); });
}
void client::advance_clock(const clock_group& group, callback<std::int64_t> done) {
  if (auto p = live(impl_, done)) p->advance_clock(group, std::move(done));
}
std::future<result<void>> client::leave_clock(const clock_group& group) {
  return with_future<void>([&](callback<void> done) {
    if (auto p = live(impl_, done)) p->leave_clock(group, std::move(done));
  });
}

result<void> client::wait() {
  if (!impl_) return {api_errc::stopped, "this client was moved from"};
  if (callback_scope::active()) {
    return {api_errc::bad_argument,
            "wait() in a completion callback (of any client) could wait for calls whose "
            "callbacks this very thread has yet to run; call it on another thread"};
  }
  // The calls' bookkeeping only, not the client: a callback may end the
  // client meanwhile (its calls then end `stopped`, and this returns), and
  // its teardown must not wait for this wait().
  const auto tracker = impl_->tracker();
  return tracker->wait();
}
std::vector<table_info> client::tables() const {
  return impl_ ? impl_->tables() : std::vector<table_info>{};
}
result<table_info> client::table(const std::string& name) const {
  if (!impl_) return {api_errc::stopped, "this client was moved from"};
  if (const auto* t = impl_->find(name)) return to_info(t->spec);
  return {api_errc::unknown_table, "no table '" + name + "'"};
}
std::uint32_t client::id() const {
  return impl_ ? impl_->id() : 0;
}

std::string check_client_options(const client_options& opts) {
  // now() + timeout must not overflow: a year is beyond any call.
  constexpr std::chrono::milliseconds most = std::chrono::hours(24 * 366);
  for (const auto& [name, t] :
       {std::pair{"timeout", opts.timeout}, std::pair{"connect_timeout", opts.connect_timeout}}) {
    if (t.count() <= 0 || t > most) {
      return std::string("client_options::") + name + " of " + std::to_string(t.count()) +
             " ms: it must lie between 1 ms and a year";
    }
  }
  if (opts.window == 0) return "client_options::window must be at least 1";
  if (opts.max_queued == 0) return "client_options::max_queued must be at least 1";
  if (auto why = check_peer_timeout(opts.peer_timeout); !why.empty()) {
    return "client_options::" + why;
  }
  return {};
}

result<client> open_client(std::shared_ptr<actor_runtime> rt, const directory_actor& directory,
                           const client_options& opts, std::unique_ptr<caf::scoped_actor> auth) {
  if (auto why = check_client_options(opts); !why.empty()) {
    auth.reset();  // it lives in rt's actor system
    return {api_errc::bad_argument, why};
  }
  std::optional<directory_info> info;
  api_error failure;
  auto ask = [&](caf::scoped_actor& self) {
    self->request(directory, opts.connect_timeout, directory_atom::value)
        .receive([&](directory_info& i) { info = std::move(i); },
                 [&](caf::error& err) { failure = to_api_error(err, "table directory"); });
  };
  if (auth) {
    ask(*auth);
  } else {
    caf::scoped_actor self{rt->sys};
    ask(self);
  }
  // `auth` lives in rt's actor system: on a refusal it must go before `rt`,
  // and the order in which parameters are destroyed is not ours to choose.
  if (!info || info->shards.empty()) {
    auth.reset();
    if (!info) return failure;
    return {api_errc::internal, "the engine has no shards"};
  }
  // A remote client's runtime runs with its options' peer timeout, an
  // in-process one shares the engine's (and so always agrees). A mismatch
  // would show up later as a connection one side drops for heartbeating too
  // seldom; here both values can still be named.
  if (const auto mine = configured_peer_timeout(rt->sys).count(); info->peer_timeout_ms != mine) {
    auth.reset();
    return {api_errc::bad_argument,
            "peer timeout mismatch: the engine's is " + std::to_string(info->peer_timeout_ms) +
                " ms, client_options::peer_timeout " + std::to_string(mine) +
                " ms; both ends need the same (the engine's: engine_options::peer_timeout or "
                "troupe serve --peer-timeout)"};
  }
  return client{std::make_unique<client::impl>(std::move(rt), directory, std::move(*info), opts,
                                               std::move(auth))};
}

}  // namespace troupe

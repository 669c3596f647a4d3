#include "engine/wire/shared_memory.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <utility>

#include "engine/wire/capnp_message.hpp"
#include "schemas/troupe.capnp.h"

namespace troupe {

namespace {

constexpr std::uint64_t kMagic = 0x31304d4853505254ULL;  // "TRPSHM01"
constexpr std::uint32_t kPrefixWord = 0xffffffffu;       // never a segment count - 1
constexpr std::uint32_t kPrefixTag = 0x4d485354u;        // "TSHM"
constexpr std::uint16_t kEnvelopeVersion = 1;
constexpr std::size_t kHeaderBytes = 64;
constexpr std::size_t kMetaBytes = 64;  // one cache line per slot: no false sharing
constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kMaxRegionBytes = std::uint64_t{1} << 34;

enum phase : std::uint64_t { free_ = 0, writing = 1, ready = 2, reading = 3 };

struct region_header {
  std::uint64_t magic;
  std::uint64_t token;
  std::uint32_t slots;
  std::uint32_t reserved;
  std::uint64_t slot_bytes;
};

struct slot_meta {
  std::atomic<std::uint64_t> state;  // generation << 2 | phase
  std::uint64_t length;
  std::int64_t published_ns;
  // Who reads it in place: pid << 32 | the low 32 bits of the generation
  // claimed, so that a signature left by an earlier claim is never taken for
  // this one's; and since when.
  std::atomic<std::uint64_t> reader;
  std::atomic<std::int64_t> reading_since_ns;
};

static_assert(sizeof(region_header) <= kHeaderBytes);
static_assert(sizeof(slot_meta) <= kMetaBytes);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the slot state is shared between processes");

std::uint64_t word(std::uint64_t generation, phase p) {
  return generation << 2 | p;
}

std::size_t data_offset(std::uint64_t slots) {
  return (kHeaderBytes + slots * kMetaBytes + kPage - 1) / kPage * kPage;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::uint64_t reader_word(std::uint32_t pid, std::uint64_t generation) {
  return std::uint64_t{pid} << 32 | (generation & 0xffffffffu);
}

// Whether the slot, read in place at `generation` for longer than
// `check_ns`, has lost its reader: the process that signed the claim is gone.
// A claim not yet signed, or a reader we may not signal, counts as alive.
bool reader_gone(const slot_meta& m, std::uint64_t generation, std::int64_t now,
                 std::int64_t check_ns) {
  const auto r = m.reader.load(std::memory_order_acquire);
  // 0: unsigned (a slot passed on is unsigned before it is ready again).
  if (r == 0 || (r & 0xffffffffu) != (generation & 0xffffffffu)) return false;
  if (now - m.reading_since_ns.load(std::memory_order_relaxed) < check_ns) return false;
  const auto pid = static_cast<pid_t>(r >> 32);
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

std::string errno_text() {
  return std::strerror(errno);
}

struct envelope {
  std::uint32_t pid = 0;
  std::int32_t fd = -1;
  std::uint64_t token = 0;
  std::uint32_t slot = 0;
  std::uint64_t generation = 0;
  std::uint64_t length = 0;
};

bytes encode_envelope(const envelope& e) {
  flat_builder b(16);
  auto m = b.initRoot<wire::SharedBytes>();
  m.setVersion(kEnvelopeVersion);
  m.setPid(e.pid);
  m.setFd(e.fd);
  m.setToken(e.token);
  m.setSlot(e.slot);
  m.setGeneration(e.generation);
  m.setLength(e.length);
  const bytes body = b.finish();
  bytes out(8 + body.size());
  std::memcpy(out.data(), &kPrefixWord, 4);
  std::memcpy(out.data() + 4, &kPrefixTag, 4);
  std::memcpy(out.data() + 8, body.data(), body.size());
  return out;
}

status decode_envelope(const bytes& in, envelope& e) {
  if (!is_shared_envelope(in)) return {errc::malformed_message, "not a shared-memory envelope"};
  // Behind the 8-byte prefix, read in place.
  return with_reader(
      in.data() + 8, in.size() - 8, nullptr, [&](capnp::MessageReader& reader) -> status {
        auto m = reader.getRoot<wire::SharedBytes>();
        if (m.getVersion() != kEnvelopeVersion) {
          return {errc::version_mismatch,
                  "shared-memory envelope version " + std::to_string(m.getVersion())};
        }
        e.pid = m.getPid();
        e.fd = m.getFd();
        e.token = m.getToken();
        e.slot = m.getSlot();
        e.generation = m.getGeneration();
        e.length = m.getLength();
        return {};
      });
}

}  // namespace

bool is_shared_envelope(const bytes& msg) {
  if (msg.size() < 16) return false;
  std::uint32_t w[2];
  std::memcpy(w, msg.data(), 8);
  return w[0] == kPrefixWord && w[1] == kPrefixTag;
}

// One mapped region: this process's own (fd kept open, it names the region
// to readers) or another process's (fd closed once mapped).
struct shared_memory::region {
  void* base = MAP_FAILED;
  std::size_t size = 0;
  int fd = -1;
  std::uint64_t token = 0;
  std::uint32_t slots = 0;
  std::uint64_t slot_bytes = 0;
  std::uint64_t last_use = 0;
  // Own region only: when each slot's reader was last looked for, so that a
  // slot read in place for long (a slow step) costs one kill(pid, 0) per
  // `reader_check`, not one per message.
  std::unique_ptr<std::atomic<std::int64_t>[]> last_check;

  region() = default;
  region(const region&) = delete;
  region& operator=(const region&) = delete;
  ~region() {
    if (base != MAP_FAILED) munmap(base, size);
    if (fd >= 0) close(fd);
  }

  char* bytes_at(std::size_t offset) const { return static_cast<char*>(base) + offset; }
  region_header* header() const { return reinterpret_cast<region_header*>(base); }
  slot_meta* meta(std::uint32_t i) const {
    return reinterpret_cast<slot_meta*>(bytes_at(kHeaderBytes + i * kMetaBytes));
  }
  char* data(std::uint32_t i) const { return bytes_at(data_offset(slots) + i * slot_bytes); }
  bool may_check(std::uint32_t i, std::int64_t now, std::int64_t every_ns) const {
    auto& t = last_check[i];
    auto before = t.load(std::memory_order_relaxed);
    return now - before >= every_ns && t.compare_exchange_strong(before, now);
  }
};

shared_memory::shared_memory(shared_memory_limits limits) : limits_(limits) {
  if (limits_.slots == 0) limits_.slots = 1;
  limits_.slot_bytes = (limits_.slot_bytes + 7) / 8 * 8;
  available_ = create_region();
}

status shared_memory::create_region() {
  auto fail = [](const std::string& what) -> status {
    return {errc::io_error, "shared memory unavailable: " + what + ": " + errno_text()};
  };
  auto r = std::make_unique<region>();
  r->slots = limits_.slots;
  r->slot_bytes = limits_.slot_bytes;
  r->size = data_offset(r->slots) + r->slots * r->slot_bytes;
  r->fd = memfd_create("troupe-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (r->fd < 0) return fail("memfd_create");
  if (ftruncate(r->fd, static_cast<off_t>(r->size)) != 0) return fail("sizing the region");
  // Sealed against shrinking: a reader's mapping can never lose its pages.
  if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return fail("sealing the region");
  }
  r->base = mmap(nullptr, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
  if (r->base == MAP_FAILED) return fail("mapping the region");
  std::random_device rd;
  r->token = (std::uint64_t{rd()} << 32) ^ rd();
  auto* h = r->header();
  h->token = r->token;
  h->slots = r->slots;
  h->slot_bytes = r->slot_bytes;
  h->magic = kMagic;
  r->last_check = std::make_unique<std::atomic<std::int64_t>[]>(r->slots);  // zeroed
  own_ = std::move(r);
  return {};
}

shared_memory::~shared_memory() = default;

std::optional<bytes> shared_memory::share(const bytes& msg) {
  region* r = own_.get();
  if (r == nullptr || msg.empty() || msg.size() > r->slot_bytes) {
    inline_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  auto w = begin_write();
  if (!w) return std::nullopt;
  std::memcpy(w.data(), msg.data(), msg.size());
  return publish(w, msg.size());
}

shared_write shared_memory::begin_write() {
  shared_write w;
  region* r = own_.get();
  if (r == nullptr) {
    inline_.fetch_add(1, std::memory_order_relaxed);
    return w;
  }
  const auto now = now_ns();
  const auto expiry_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.expiry).count();
  const auto check_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.reader_check).count();
  const std::uint32_t start = cursor_.fetch_add(1, std::memory_order_relaxed);
  for (std::uint32_t k = 0; k < r->slots; ++k) {
    const std::uint32_t i = (start + k) % r->slots;
    auto* m = r->meta(i);
    std::uint64_t s = m->state.load(std::memory_order_acquire);
    std::uint64_t gen = s >> 2;
    if ((s & 3) == ready && now - m->published_ns > expiry_ns &&
        m->state.compare_exchange_strong(s, word(gen, free_), std::memory_order_acq_rel)) {
      // Nobody took it: its reader died or dropped the envelope.
      reclaimed_.fetch_add(1, std::memory_order_relaxed);
      s = word(gen, free_);
    } else if ((s & 3) == reading && r->may_check(i, now, check_ns) &&
               reader_gone(*m, gen, now, check_ns) &&
               m->state.compare_exchange_strong(s, word(gen, free_), std::memory_order_acq_rel)) {
      // Its reader died while reading it in place (a worker killed mid-step
      // holds its pull replies so): nobody else would ever free it.
      reclaimed_.fetch_add(1, std::memory_order_relaxed);
      s = word(gen, free_);
    }
    if ((s & 3) != free_) continue;
    if (!m->state.compare_exchange_strong(s, word(gen + 1, writing), std::memory_order_acq_rel)) {
      continue;
    }
    w.state_ = &m->state;
    w.generation_ = gen + 1;
    w.slot_ = i;
    w.data_ = r->data(i);
    w.capacity_ = r->slot_bytes;
    return w;
  }
  inline_.fetch_add(1, std::memory_order_relaxed);
  return w;
}

std::optional<bytes> shared_memory::publish(shared_write& w, std::size_t size) {
  region* r = own_.get();
  if (!w || r == nullptr || size == 0 || size > w.capacity_) {
    w.release();
    return std::nullopt;
  }
  auto* m = r->meta(w.slot_);
  m->length = size;
  m->published_ns = now_ns();
  m->state.store(word(w.generation_, ready), std::memory_order_release);
  shared_.fetch_add(1, std::memory_order_relaxed);
  envelope e;
  e.pid = static_cast<std::uint32_t>(getpid());
  e.fd = r->fd;
  e.token = r->token;
  e.slot = w.slot_;
  e.generation = w.generation_;
  e.length = size;
  w.state_ = nullptr;  // published: the reader frees it
  w.data_ = nullptr;
  w.capacity_ = 0;
  return encode_envelope(e);
}

status shared_memory::open_peer(std::uint32_t pid, std::int32_t fd, std::uint64_t token,
                                std::shared_ptr<region>& out) {
  const auto key = std::make_pair(pid, token);
  std::lock_guard<std::mutex> lock(peers_mu_);
  ++peer_uses_;
  if (auto it = peers_.find(key); it != peers_.end()) {
    it->second->last_use = peer_uses_;
    out = it->second;
    return {};
  }
  const std::string who = "the shared memory of process " + std::to_string(pid);
  if (fd < 0) return {errc::malformed_message, who + ": negative descriptor"};
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  auto r = std::make_shared<region>();
  // A magic link to the memfd (O_NOFOLLOW would refuse it); fstat and the
  // seals below check what it is. Until then it could be anything the peer
  // holds open: no blocking open (a device, a FIFO) and no terminal taken
  // as this process's controlling one.
  r->fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (r->fd < 0) return {errc::io_error, who + ": cannot open " + path + ": " + errno_text()};
  struct stat st {};
  if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return {errc::io_error, who + ": " + path + " is no memory region"};
  }
  if (st.st_uid != geteuid()) {
    return {errc::bad_config, who + ": region owned by another user"};
  }
  const int seals = fcntl(r->fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    return {errc::bad_config, who + ": region is not sealed against shrinking"};
  }
  if (st.st_size < static_cast<off_t>(kHeaderBytes) ||
      static_cast<std::uint64_t>(st.st_size) > kMaxRegionBytes) {
    return {errc::wrong_size, who + ": region of " + std::to_string(st.st_size) + " bytes"};
  }
  r->size = static_cast<std::size_t>(st.st_size);
  r->base = mmap(nullptr, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
  if (r->base == MAP_FAILED) return {errc::io_error, who + ": cannot map: " + errno_text()};
  close(r->fd);
  r->fd = -1;
  const auto* h = r->header();
  if (h->magic != kMagic || h->token != token) {
    return {errc::bad_config, who + ": region does not match the envelope"};
  }
  r->slots = h->slots;
  r->slot_bytes = h->slot_bytes;
  if (r->slots == 0 || r->slot_bytes == 0 || r->slot_bytes > kMaxRegionBytes ||
      r->slots > kMaxRegionBytes / r->slot_bytes ||
      data_offset(r->slots) + std::uint64_t{r->slots} * r->slot_bytes > r->size) {
    return {errc::wrong_size, who + ": region header does not fit its size"};
  }
  r->last_use = peer_uses_;
  if (peers_.size() >= limits_.max_peers) {
    auto oldest = peers_.begin();
    for (auto it = peers_.begin(); it != peers_.end(); ++it) {
      if (it->second->last_use < oldest->second->last_use) oldest = it;
    }
    peers_.erase(oldest);  // a take() still copying holds its own reference
  }
  peers_.emplace(key, r);
  out = std::move(r);
  return {};
}

std::size_t shared_memory::forget_peers() {
  std::lock_guard<std::mutex> lock(peers_mu_);
  const std::size_t n = peers_.size();
  peers_.clear();  // a claim or take still reading holds its own reference
  return n;
}

std::size_t shared_memory::peers_mapped() const {
  std::lock_guard<std::mutex> lock(peers_mu_);
  return peers_.size();
}

status shared_memory::claim(const bytes& in, shared_slot& out) {
  out = shared_slot{};
  envelope e;
  if (auto st = decode_envelope(in, e); !st) return st;
  std::shared_ptr<region> r;
  if (auto st = open_peer(e.pid, e.fd, e.token, r); !st) return st;
  if (e.slot >= r->slots || e.length == 0 || e.length > r->slot_bytes) {
    return {errc::wrong_size, "shared-memory envelope: slot " + std::to_string(e.slot) + " of " +
                                  std::to_string(r->slots) + ", " + std::to_string(e.length) +
                                  " bytes"};
  }
  auto* m = r->meta(e.slot);
  std::uint64_t expected = word(e.generation, ready);
  if (!m->state.compare_exchange_strong(expected, word(e.generation, reading),
                                        std::memory_order_acq_rel)) {
    return {errc::timeout, "shared-memory slot " + std::to_string(e.slot) + " of process " +
                               std::to_string(e.pid) + " was taken or reclaimed already"};
  }
  if (m->length != e.length) {
    // A damaged envelope: the slot stays with the reader of the real one.
    m->state.store(word(e.generation, ready), std::memory_order_release);
    return {errc::wrong_size, "shared-memory slot holds " + std::to_string(m->length) +
                                  " bytes, the envelope says " + std::to_string(e.length)};
  }
  m->reading_since_ns.store(now_ns(), std::memory_order_relaxed);
  m->reader.store(reader_word(static_cast<std::uint32_t>(getpid()), e.generation),
                  std::memory_order_release);
  out.state_ = &m->state;
  out.reader_ = &m->reader;
  out.generation_ = e.generation;
  out.data_ = r->data(e.slot);
  out.size_ = e.length;
  out.region_ = std::move(r);
  taken_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

status shared_memory::take(const bytes& in, bytes& out) {
  out.clear();
  shared_slot slot;
  if (auto st = claim(in, slot); !st) return st;
  out.resize(slot.size());
  std::memcpy(out.data(), slot.data(), slot.size());
  return {};
}

shared_slot& shared_slot::operator=(shared_slot&& other) noexcept {
  if (this != &other) {
    release(false);
    region_ = std::move(other.region_);
    state_ = std::exchange(other.state_, nullptr);
    reader_ = std::exchange(other.reader_, nullptr);
    generation_ = other.generation_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

shared_write& shared_write::operator=(shared_write&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::exchange(other.state_, nullptr);
    generation_ = other.generation_;
    slot_ = other.slot_;
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void shared_write::release() {
  if (state_ == nullptr) return;
  state_->store(word(generation_, free_), std::memory_order_release);
  state_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

void shared_slot::release(bool keep) {
  if (state_ == nullptr) return;
  // Passed on: unsigned first, so that the next reader's claim is never
  // judged by this process's signature (were it to die meanwhile).
  if (keep) reader_->store(0, std::memory_order_relaxed);
  // From `reading` only: a slot its writer took back (it judged this
  // process gone) is the writer's again, and a newer message's.
  auto expected = word(generation_, reading);
  state_->compare_exchange_strong(expected, word(generation_, keep ? ready : free_),
                                  std::memory_order_acq_rel);
  state_ = nullptr;
  reader_ = nullptr;
  data_ = nullptr;
  size_ = 0;
  region_.reset();
}

shared_memory::counters shared_memory::stats() const {
  counters c;
  c.shared = shared_.load(std::memory_order_relaxed);
  c.inline_ = inline_.load(std::memory_order_relaxed);
  c.taken = taken_.load(std::memory_order_relaxed);
  c.reclaimed = reclaimed_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace troupe

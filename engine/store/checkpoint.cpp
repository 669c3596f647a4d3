#include "engine/store/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <set>
#include <system_error>
#include <utility>

#include "engine/physical_memory.hpp"
#include "engine/shared_dir.hpp"
#include "engine/store/progress_files.hpp"
#include "engine/unique_fd.hpp"

namespace troupe {

static_assert(sizeof(float) == 4, "checkpoints store IEEE-754 float32");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints copy numbers in host byte order and need a little-endian host"
#endif

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'T', 'R', 'O', 'U', 'P', 'E', 'C', 'K'};
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kSizeAt = 12;
constexpr std::size_t kHeaderCrcAt = 20;
constexpr std::size_t kBodyAt = 24;
constexpr std::size_t kTrailer = 4;  // CRC-32 of everything before it
// Version 2 files lack only the in-order senders (version 3): a shard
// restored from one learns them again from those senders' next pushes.
constexpr std::uint32_t kOldestReadable = 2;

std::uint32_t crc_of(std::uint32_t crc, const void* p, std::size_t n) {
  return static_cast<std::uint32_t>(crc32_z(crc, static_cast<const Bytef*>(p), n));
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

template <class T>
T load_at(const char* data, std::size_t at) {
  T v;
  std::memcpy(&v, data + at, sizeof v);
  return v;
}

// --- the body, one field list for both directions ---------------------------

/// Where encoded bytes go: nowhere (to measure the body first, so that a file
/// is written in one pass without a second copy of the snapshot), a vector or
/// a file. The running CRC-32 covers every byte put.
class out_stream {
 public:
  out_stream() = default;
  explicit out_stream(std::vector<char>* buf) : buf_(buf) {}
  explicit out_stream(std::FILE* file) : file_(file) {}

  void put(const void* p, std::size_t n) {
    if (n == 0 || failed_) return;
    const char* c = static_cast<const char*>(p);
    if (buf_ != nullptr) buf_->insert(buf_->end(), c, c + n);
    if (file_ != nullptr && std::fwrite(c, 1, n, file_) != n) failed_ = true;
    if (buf_ != nullptr || file_ != nullptr) crc_ = crc_of(crc_, c, n);
    size_ += n;
  }
  template <class T>
  void pod(const T& v, const char* = nullptr) {
    put(&v, sizeof v);
  }
  template <class E>
  void enumeration(E e, E, const char*) {
    pod(static_cast<std::uint8_t>(e));
  }
  void str(const std::string& s, const char*) {
    pod(static_cast<std::uint32_t>(s.size()));
    put(s.data(), s.size());
  }
  template <class T>
  void list(const std::vector<T>& v, const char*) {
    pod(static_cast<std::uint64_t>(v.size()));
    put(v.data(), v.size() * sizeof(T));
  }
  template <class T, class F>
  void items(const std::vector<T>& v, std::size_t, const char*, F&& each) {
    pod(static_cast<std::uint64_t>(v.size()));
    for (const auto& x : v) each(x);
  }

  std::uint64_t size() const { return size_; }
  std::uint32_t crc() const { return crc_; }
  bool failed() const { return failed_; }

 private:
  std::vector<char>* buf_ = nullptr;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint32_t crc_ = 0;
  bool failed_ = false;
};

/// Bounded reads from the body: every length is compared with the bytes left
/// before anything is allocated, and the first problem is kept with its
/// byte offset; later reads then do nothing.
class in_stream {
 public:
  in_stream(const char* data, std::size_t begin, std::size_t end)
      : data_(data), pos_(begin), end_(end) {}

  bool ok() const { return error_.ok(); }
  const status& error() const { return error_; }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return end_ - pos_; }

  bool fail(const char* what, std::size_t at, const std::string& problem) {
    if (ok()) {
      error_ = {errc::malformed_message,
                std::string(what) + " at byte " + std::to_string(at) + " " + problem};
    }
    return false;
  }
  bool take(void* out, std::size_t n, const char* what) {
    if (!ok()) return false;
    if (n > left()) {
      return fail(
          what, pos_,
          "needs " + std::to_string(n) + " bytes, " + std::to_string(left()) + " left in the body");
    }
    if (n > 0) std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return true;
  }
  template <class T>
  bool pod(T& v, const char* what) {
    return take(&v, sizeof v, what);
  }
  template <class E>
  void enumeration(E& e, E max, const char* what) {
    std::uint8_t v = 0;
    if (!pod(v, what)) return;
    if (v > static_cast<std::uint8_t>(max)) fail(what, pos_ - 1, "is " + std::to_string(v));
    e = static_cast<E>(v);
  }
  /// A count of elements that take at least `min_bytes` each.
  bool count(std::uint64_t& n, std::size_t min_bytes, const char* what) {
    if (!pod(n, what)) return false;
    if (n <= left() / min_bytes) return true;
    return fail(what, pos_ - sizeof n,
                "counts " + std::to_string(n) + ", too many for the " + std::to_string(left()) +
                    " bytes left");
  }
  void str(std::string& s, const char* what) {
    std::uint32_t n = 0;
    if (!pod(n, what)) return;
    if (n > left()) {
      fail(what, pos_ - sizeof n, "has length " + std::to_string(n) + ", past the body");
      return;
    }
    s.assign(data_ + pos_, n);
    pos_ += n;
  }
  template <class T>
  void list(std::vector<T>& v, const char* what) {
    std::uint64_t n = 0;
    if (!count(n, sizeof(T), what)) return;
    v.resize(n);
    take(v.data(), n * sizeof(T), what);
  }
  /// Elements are appended one by one, so a bogus count costs at most the
  /// bytes that are really there.
  template <class T, class F>
  void items(std::vector<T>& v, std::size_t min_bytes, const char* what, F&& each) {
    std::uint64_t n = 0;
    if (!count(n, min_bytes, what)) return;
    for (std::uint64_t i = 0; i < n && ok(); ++i) each(v.emplace_back());
  }

 private:
  const char* data_;
  std::size_t pos_, end_;
  status error_;
};

// The field order of a table spec and of the body, for out_stream (const
// objects) and in_stream alike. Changing it needs a new format version.
template <class Ar, class Spec>
void spec_fields(Ar& ar, Spec& t) {
  ar.pod(t.id, "table id");
  ar.str(t.name, "table name");
  ar.enumeration(t.kind, table_kind::sparse, "table kind");
  ar.pod(t.size, "table size");
  ar.pod(t.width, "table width");
  ar.items(t.init, 12, "init segment count", [&](auto& seg) {
    ar.pod(seg.end, "init segment end");
    ar.pod(seg.bound, "init segment bound");
  });
  ar.pod(t.row_init_bound, "row init bound");
  ar.pod(t.seed, "seed");
  ar.pod(t.max_rows, "max rows");
  auto& p = t.optimizer;
  ar.enumeration(p.kind, optimizer_kind::adam, "optimizer kind");
  ar.pod(p.learning_rate, "learning rate");
  ar.pod(p.momentum, "momentum");
  ar.pod(p.beta1, "beta1");
  ar.pod(p.beta2, "beta2");
  ar.pod(p.epsilon, "epsilon");
  ar.pod(p.weight_decay, "weight decay");
}

constexpr std::size_t kMinSliceBytes = 64;  // a spec alone takes more

template <class Ar, class Header, class Snapshot>
void body_fields(Ar& ar, Header& h, Snapshot& s, std::uint32_t version) {
  ar.str(h.job, "job name");
  ar.pod(h.shard_id, "header shard id");
  ar.pod(h.clock, "clock");
  ar.pod(s.shard_id, "snapshot shard id");
  ar.items(s.dense, kMinSliceBytes, "dense table count", [&](auto& d) {
    spec_fields(ar, d.spec);
    ar.pod(d.range.begin, "range begin");
    ar.pod(d.range.end, "range end");
    ar.list(d.values, "dense values");
    ar.list(d.state, "dense optimizer state");
    ar.list(d.steps, "dense step counts");
    ar.pod(d.version, "dense version");
  });
  ar.items(s.sparse, kMinSliceBytes, "sparse table count", [&](auto& p) {
    spec_fields(ar, p.spec);
    ar.pod(p.shards, "shard count");
    ar.list(p.keys, "row keys");
    ar.list(p.values, "sparse values");
    ar.list(p.state, "sparse optimizer state");
    ar.list(p.steps, "row step counts");
    ar.pod(p.version, "sparse version");
  });
  ar.items(s.last_seq, 12, "worker seq count", [&](auto& ws) {
    ar.pod(ws.first, "worker id");
    ar.pod(ws.second, "worker seq");
  });
  if (version >= 3) ar.list(s.in_order, "in-order workers");
}

std::uint64_t body_size(const checkpoint_header& h, const shard_snapshot& s) {
  out_stream counter;
  body_fields(counter, h, s, checkpoint_format_version);
  return counter.size();
}

void put_file(out_stream& o, const checkpoint_header& h, const shard_snapshot& s,
              std::uint64_t body) {
  o.put(kMagic, sizeof kMagic);
  o.pod(checkpoint_format_version);
  o.pod(body);
  o.pod(o.crc());  // of the 20 bytes so far
  body_fields(o, h, s, checkpoint_format_version);
  o.pod(o.crc());
}

status malformed(std::string message) {
  return {errc::malformed_message, std::move(message)};
}

status errno_status(const std::string& what) {
  return {errc::io_error, what + ": " + std::strerror(errno)};
}

}  // namespace

std::string checkpoint_file_name(std::uint32_t shard_id, std::int64_t clock) {
  return "shard-" + std::to_string(shard_id) + "-clock-" + std::to_string(clock) + ".ckpt";
}

std::vector<char> encode_checkpoint(const checkpoint_header& header, const shard_snapshot& snap) {
  const std::uint64_t body = body_size(header, snap);
  std::vector<char> out;
  out.reserve(kBodyAt + body + kTrailer);
  out_stream o(&out);
  put_file(o, header, snap, body);
  return out;
}

// Checked in file order so that the message names the first thing wrong:
// a torn write is "truncated", a flipped bit a checksum mismatch.
status decode_checkpoint(const char* data, std::size_t size, checkpoint& out) {
  if (size > 0 && std::memcmp(data, kMagic, std::min(size, sizeof kMagic)) != 0) {
    return malformed("bad magic: not a Troupe checkpoint (it should start with \"TROUPECK\")");
  }
  if (size < kVersionAt + sizeof(std::uint32_t)) {
    return malformed("truncated at byte " + std::to_string(size) + " of at least " +
                     std::to_string(kBodyAt + kTrailer) + " (inside the header)");
  }
  const auto version = load_at<std::uint32_t>(data, kVersionAt);
  if (version < kOldestReadable || version > checkpoint_format_version) {
    // Version 1 counted Adam's steps per dense slice, not per key: resuming
    // from it would silently change the trajectory, so it is refused too.
    const char* why =
        version == 1 ? "; version 1 lacks the per-key update counts of dense tables" : "";
    return {errc::version_mismatch, "unsupported checkpoint format version " +
                                        std::to_string(version) + " (this build reads " +
                                        std::to_string(kOldestReadable) + " to " +
                                        std::to_string(checkpoint_format_version) + why + ")"};
  }
  if (size < kBodyAt) {
    return malformed("truncated at byte " + std::to_string(size) + " of at least " +
                     std::to_string(kBodyAt + kTrailer) + " (inside the header)");
  }
  const auto header_crc = load_at<std::uint32_t>(data, kHeaderCrcAt);
  if (const auto crc = crc_of(0, data, kHeaderCrcAt); crc != header_crc) {
    return malformed("checksum mismatch in the header: stored " + hex(header_crc) + ", computed " +
                     hex(crc));
  }
  const auto body = load_at<std::uint64_t>(data, kSizeAt);
  if (body > SIZE_MAX - kBodyAt - kTrailer) return malformed("body size " + std::to_string(body));
  const std::size_t total = kBodyAt + body + kTrailer;
  if (size < total) {
    return malformed("truncated at byte " + std::to_string(size) + " of " + std::to_string(total));
  }
  if (size > total) {
    return malformed(std::to_string(size - total) +
                     " unexpected bytes after the checksum at byte " + std::to_string(total));
  }
  const auto stored = load_at<std::uint32_t>(data, total - kTrailer);
  if (const auto crc = crc_of(0, data, total - kTrailer); crc != stored) {
    return malformed("checksum mismatch: stored " + hex(stored) + ", computed " + hex(crc));
  }
  checkpoint c;
  in_stream in(data, kBodyAt, kBodyAt + body);
  body_fields(in, c.header, c.snapshot, version);
  if (!in.ok()) return in.error();
  if (in.left() != 0) {
    return malformed(std::to_string(in.left()) + " unused bytes at the end of the body at byte " +
                     std::to_string(in.pos()));
  }
  if (c.header.shard_id != c.snapshot.shard_id) {
    return malformed("the header names shard " + std::to_string(c.header.shard_id) +
                     " but the snapshot holds shard " + std::to_string(c.snapshot.shard_id));
  }
  out = std::move(c);
  return {};
}

// --- files ------------------------------------------------------------------

namespace {

status read_whole_file(const std::string& path, std::vector<char>& out) {
  // Not blocking: a FIFO by a checkpoint's name would wait for a writer.
  unique_fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (!f) return errno_status("cannot open");
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return errno_status("cannot stat");
  if (!S_ISREG(st.st_mode)) return {errc::io_error, "not a regular file"};
  // A shard's state is held in memory: a file larger than the machine's
  // memory is no checkpoint this machine could have written, and reading it
  // whole would exhaust it.
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (const auto ram = physical_memory_bytes(); ram > 0 && size > ram / 2) {
    return {errc::io_error, std::to_string(size) + " bytes, more than half of this machine's " +
                                std::to_string(ram) + " bytes of memory"};
  }
  try {
    out.resize(static_cast<std::size_t>(size));
  } catch (const std::bad_alloc&) {
    return {errc::io_error, std::to_string(size) + " bytes: more than this process can hold"};
  }
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(f.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("cannot read at byte " + std::to_string(got));
    if (n == 0) break;  // shrank since fstat: decode reports the truncation
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return {};
}

/// Reads a checkpoint; messages do not repeat the path (callers add it).
status load(const std::string& path, checkpoint& out) {
  std::vector<char> data;
  if (auto st = read_whole_file(path, data); !st) return st;
  return decode_checkpoint(data.data(), data.size(), out);
}

struct checkpoint_file {
  std::int64_t clock = 0;
  std::string name;
  bool tmp = false;  ///< an unfinished write: "<name>.tmp"
};

/// The checkpoint files of one shard in `dir`, newest first (a complete file
/// before a .tmp of the same clock). Other names are ignored.
status list_checkpoints(const std::string& dir, std::uint32_t shard_id,
                        std::vector<checkpoint_file>& out) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  const std::string prefix = "shard-" + std::to_string(shard_id) + "-clock-";
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    checkpoint_file f;
    f.name = it->path().filename().string();
    if (f.name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* first = f.name.data() + prefix.size();
    const char* last = f.name.data() + f.name.size();
    const auto [end, err] = std::from_chars(first, last, f.clock);
    if (err != std::errc() || f.clock < 0) continue;
    const std::string rest(end, last);
    f.tmp = rest == ".ckpt.tmp";
    // The round trip rejects "007" and other names this code never writes.
    if ((rest == ".ckpt" || f.tmp) &&
        checkpoint_file_name(shard_id, f.clock) + (f.tmp ? ".tmp" : "") == f.name) {
      out.push_back(std::move(f));
    }
  }
  if (ec) return {errc::io_error, "cannot list checkpoint directory " + dir + ": " + ec.message()};
  std::sort(out.begin(), out.end(), [](const checkpoint_file& a, const checkpoint_file& b) {
    return a.clock != b.clock ? a.clock > b.clock : !a.tmp && b.tmp;
  });
  return {};
}

/// Loads a file and checks that it holds what its name says.
status load_named(const std::string& path, std::uint32_t shard_id, std::int64_t clock,
                  checkpoint& out) {
  if (auto st = load(path, out); !st) return st;
  if (out.header.shard_id != shard_id || out.header.clock != clock) {
    return malformed("it holds shard " + std::to_string(out.header.shard_id) + " at clock " +
                     std::to_string(out.header.clock) + ", not what its name says");
  }
  return {};
}

}  // namespace

status sync_directory(const std::string& dir) {
  unique_fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!f) return errno_status("cannot open directory " + dir);
  if (::fsync(f.get()) != 0) return errno_status("cannot fsync directory " + dir);
  return {};
}

status write_checkpoint(const std::string& dir, const checkpoint_header& header,
                        const shard_snapshot& snap) {
  if (header.shard_id != snap.shard_id) {
    return {errc::bad_config, "checkpoint header names shard " + std::to_string(header.shard_id) +
                                  " but the snapshot is of shard " + std::to_string(snap.shard_id)};
  }
  if (header.clock < 0) {
    return {errc::bad_config, "negative checkpoint clock " + std::to_string(header.clock)};
  }
  std::error_code ec;
  const bool created = !fs::exists(dir, ec);
  // Group-writable below a shared directory: the trainer writes its
  // progress files here and reads these back (engine/shared_dir.hpp).
  if (auto st = make_shared_dir(dir); !st) return {errc::io_error, "checkpoints: " + st.message()};
  const auto path = (fs::path(dir) / checkpoint_file_name(header.shard_id, header.clock)).string();
  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) return errno_status("cannot create " + tmp);
  share_file(::fileno(file), dir);
  out_stream o(file);
  put_file(o, header, snap, body_size(header, snap));
  status st;
  if (o.failed() || std::fflush(file) != 0) {
    st = errno_status("cannot write " + tmp);
  } else if (::fsync(::fileno(file)) != 0) {
    st = errno_status("cannot fsync " + tmp);
  }
  if (std::fclose(file) != 0 && st.ok()) st = errno_status("cannot close " + tmp);
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = errno_status("cannot rename " + tmp + " to " + path);
  }
  if (!st) {
    std::remove(tmp.c_str());
    return st;
  }
  if (auto synced = sync_directory(dir); !synced) return synced;
  if (created) {  // the new directory's own entry lives in its parent
    auto self = fs::path(dir).lexically_normal();
    if (!self.has_filename()) self = self.parent_path();  // "a/b/" -> "a/b"
    const auto parent = self.parent_path();
    return sync_directory(parent.empty() ? "." : parent.string());
  }
  return {};
}

status read_checkpoint(const std::string& path, checkpoint& out) {
  if (auto st = load(path, out); !st) return {st.code(), path + ": " + st.message()};
  return {};
}

status find_latest_checkpoint(const std::string& dir, std::uint32_t shard_id,
                              latest_checkpoint& out) {
  out = latest_checkpoint{};
  std::vector<checkpoint_file> files;
  if (auto st = list_checkpoints(dir, shard_id, files); !st) return st;
  std::vector<std::string> skipped;
  std::string used;
  for (const auto& f : files) {
    if (f.tmp) {
      skipped.push_back(f.name + " is an unfinished write");
      continue;
    }
    const std::string path = (fs::path(dir) / f.name).string();
    if (auto st = load_named(path, shard_id, f.clock, out.data); !st) {
      const char* what = st.code() == errc::io_error ? " is unreadable (" : " is corrupt (";
      skipped.push_back(f.name + what + st.message() + ")");
      continue;
    }
    out.path = path;
    used = f.name;
    break;
  }
  if (!out.found()) out.data = checkpoint{};
  const std::string tail = out.found() ? "; using " + used : "; no older complete checkpoint";
  for (auto& line : skipped) out.warnings.push_back(line + tail);
  return {};
}

status prune_checkpoints(const std::string& dir, std::uint32_t shard_id, std::size_t keep,
                         std::vector<std::string>* removed) {
  if (keep == 0) return {errc::bad_config, "prune_checkpoints must keep at least 1 checkpoint"};
  std::vector<checkpoint_file> files;
  if (auto st = list_checkpoints(dir, shard_id, files); !st) return st;
  // The files of the newest `keep` - 1 complete sets (a progress file names
  // each; the round being written may make one more) stay, whatever this
  // shard's own count says: while another shard fails round after round,
  // counting only its own files would delete every set that can be resumed
  // from.
  const auto progress = list_progress_clocks(dir);
  const std::set<std::int64_t> complete(
      progress.begin(), progress.begin() + static_cast<std::ptrdiff_t>(
                                               std::min<std::size_t>(keep - 1, progress.size())));
  std::size_t kept = 0;
  status result;
  for (const auto& f : files) {  // newest first
    const std::string path = (fs::path(dir) / f.name).string();
    bool drop = true;
    if (f.tmp) {
      drop = kept > 0;  // newer than every complete one: maybe a write in progress
    } else if (kept < keep || complete.count(f.clock) > 0) {
      checkpoint c;
      const auto st = load_named(path, shard_id, f.clock, c);
      // Only a damaged file goes: one unreadable now (no descriptor left,
      // no permission) may be the good one.
      drop = !st && st.code() != errc::io_error;
      if (!drop) ++kept;
    }
    if (!drop) continue;
    std::error_code ec;
    if (fs::remove(path, ec)) {
      if (removed != nullptr) removed->push_back(path);
    } else if (ec && result.ok()) {
      result = {errc::io_error, "cannot remove " + path + ": " + ec.message()};
    }
  }
  return result;
}

}  // namespace troupe

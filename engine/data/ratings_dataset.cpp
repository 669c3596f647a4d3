#include "engine/data/ratings_dataset.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/errors.hpp"

namespace troupe {

double ratings_dataset::mean() const {
  if (ratings.empty()) return 0;
  return std::accumulate(ratings.begin(), ratings.end(), 0.0) / static_cast<double>(size());
}

namespace {

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

ratings_split load_movielens(const std::string& dir, std::uint64_t seed, double test_fraction) {
  const std::string path = dir + "/ratings.csv";
  if (!std::filesystem::exists(path)) {
    throw troupe_error(errc::missing_dataset,
                       path +
                           " not found: run scripts/fetch-data.sh movielens (it extracts the "
                           "ratings from Debian's r-cran-dslabs)");
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  ratings_dataset all;
  std::size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string user, item, rating;
    if (!std::getline(ss, user, ',') || !std::getline(ss, item, ',') ||
        !std::getline(ss, rating, ',')) {
      throw troupe_error(errc::io_error, path + ":" + std::to_string(number) +
                                             ": expected "
                                             "user,item,rating");
    }
    try {
      all.users.push_back(std::stoull(unquote(user)));
      all.items.push_back(std::stoull(unquote(item)));
      all.ratings.push_back(std::stof(unquote(rating)));
    } catch (const std::exception&) {
      throw troupe_error(errc::io_error, path + ":" + std::to_string(number) + ": not a number");
    }
  }
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const auto n_test = static_cast<std::size_t>(test_fraction * static_cast<double>(all.size()));
  ratings_split out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto& d = i < n_test ? out.test : out.train;
    d.users.push_back(all.users[order[i]]);
    d.items.push_back(all.items[order[i]]);
    d.ratings.push_back(all.ratings[order[i]]);
  }
  return out;
}

}  // namespace troupe

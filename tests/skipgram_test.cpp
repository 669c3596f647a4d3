// Skip-gram with negative sampling: Brown corpus parsing on a generated
// directory, the SGNS gradient against finite differences (one pair and a
// whole batch), the samplers, and training through real shard stores until
// words that share contexts are closer than words that do not.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/data/brown_corpus.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/sgns.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(BrownCorpus, StripsTagsLowercasesAndDropsPunctuation) {
  EXPECT_EQ(normalise_brown_token("The/at"), "the");
  EXPECT_EQ(normalise_brown_token("Atlanta's/np$"), "atlanta's");
  EXPECT_EQ(normalise_brown_token("1/2/cd"), "1/2");
  EXPECT_EQ(normalise_brown_token(",/,"), "");
  EXPECT_EQ(normalise_brown_token("``/``"), "");
  EXPECT_EQ(normalise_brown_token("--/--"), "");
}

TEST(BrownCorpus, ReadsSortedFilesAndBuildsAFrequencyOrderedVocabulary) {
  const auto dir = fresh_dir("troupe_brown_parse");
  std::ofstream(dir / "cb01")
      << "\n\n\tA/at dog/nn barked/vbd ./.\n\n\tThe/at DOG/nn ,/, ran/vbd\n";
  std::ofstream(dir / "ca01") << "\tThe/at cat/nn sat/vbd ./.\n\tthe/at cat/nn ran/vbd\n";
  std::ofstream(dir / "README") << "not/nn a/at corpus/nn file/nn\n";
  const auto sentences = read_brown_sentences(dir.string());
  ASSERT_EQ(sentences.size(), 4u);  // ca01 first, README ignored, blank lines skipped
  EXPECT_EQ(sentences[0], (std::vector<std::string>{"the", "cat", "sat"}));
  EXPECT_EQ(sentences[3], (std::vector<std::string>{"the", "dog", "ran"}));

  const auto v = build_vocabulary(sentences, 2);
  // the: 3, cat/dog/ran: 2 each (ties alphabetical); a, sat, barked: 1 (cut).
  EXPECT_EQ(v.words, (std::vector<std::string>{"the", "cat", "dog", "ran"}));
  EXPECT_EQ(v.counts, (std::vector<std::uint64_t>{3, 2, 2, 2}));
  EXPECT_EQ(v.find("dog"), 2);
  EXPECT_EQ(v.find("sat"), -1);
  EXPECT_EQ(v.total(), 9u);
}

TEST(BrownCorpus, MissingDirectoryOrFilesNameTheSetUpScript) {
  for (const auto& dir : {(fs::temp_directory_path() / "troupe_brown_nowhere").string(),
                          fresh_dir("troupe_brown_empty").string()}) {
    try {
      load_brown(dir, 5, 42, 0.05);
      FAIL() << "expected missing_dataset for " << dir;
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::missing_dataset);
      EXPECT_NE(std::string(e.what()).find("scripts/setup.sh"), std::string::npos) << e.what();
    }
  }
}

TEST(BrownCorpus, SplitIsSeededAndTheVocabularyComesFromTrainingOnly) {
  std::vector<std::vector<std::string>> sentences;
  for (int i = 0; i < 400; ++i) {
    sentences.push_back({"w" + std::to_string(i % 7), "w" + std::to_string(i % 5), "common"});
  }
  const auto a = make_corpus(sentences, 1, 7, 0.25);
  const auto b = make_corpus(sentences, 1, 7, 0.25);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.test, b.test);
  EXPECT_GT(a.test.size(), 60u);
  EXPECT_LT(a.test.size(), 140u);
  EXPECT_EQ(a.train.size() + a.test.size(), 400u);
  EXPECT_EQ(a.vocab.words.front(), "common");
  EXPECT_EQ(a.tokens, 1200u);
  std::uint64_t train_tokens = 0;
  for (const auto& s : a.train) train_tokens += s.size();
  EXPECT_EQ(a.vocab.total(), train_tokens);
}

TEST(Sgns, PairGradientMatchesFiniteDifferences) {
  const std::size_t d = 6;
  sgns_rng rng(5);
  std::vector<float> u(d), v(d);
  for (auto& x : u) x = rng.unit() - 0.5f;
  for (auto& x : v) x = 2 * rng.unit() - 1.0f;
  for (float label : {1.0f, 0.0f}) {
    std::vector<float> gu(d, 0.0f), gv(d, 0.0f);
    sgns_pair_grad(u.data(), v.data(), label, d, gu.data(), gv.data());
    const float h = 1e-3f;
    for (std::size_t k = 0; k < d; ++k) {
      auto up = u, um = u;
      up[k] += h;
      um[k] -= h;
      const double num = (sgns_pair_grad(up.data(), v.data(), label, d, nullptr, nullptr) -
                          sgns_pair_grad(um.data(), v.data(), label, d, nullptr, nullptr)) /
                         (2 * h);
      EXPECT_NEAR(gu[k], num, 1e-3) << "label " << label << " in[" << k << "]";
      auto vp = v, vm = v;
      vp[k] += h;
      vm[k] -= h;
      const double numv = (sgns_pair_grad(u.data(), vp.data(), label, d, nullptr, nullptr) -
                           sgns_pair_grad(u.data(), vm.data(), label, d, nullptr, nullptr)) /
                          (2 * h);
      EXPECT_NEAR(gv[k], numv, 1e-3) << "label " << label << " out[" << k << "]";
    }
  }
  // The loss is -log sigma(+-u.v): at u.v = 0 it is log 2 either way.
  std::vector<float> zero(d, 0.0f);
  EXPECT_NEAR(sgns_pair_grad(zero.data(), v.data(), 1.0f, d, nullptr, nullptr), std::log(2.0),
              1e-6);
}

TEST(Sgns, NegativeSamplerFollowsTheUnigramPowerAndSubsamplingDropsFrequentWords) {
  const std::vector<std::uint64_t> counts = {10000, 100, 1};
  negative_sampler negs(counts, 0.75, 1 << 16);
  sgns_rng rng(1);
  std::vector<double> seen(3, 0);
  for (int i = 0; i < 200000; ++i) ++seen[negs.draw(rng)];
  // 10000^0.75 : 100^0.75 : 1 = 1000 : 31.6 : 1
  EXPECT_NEAR(seen[0] / seen[1], 1000.0 / 31.62, 3.0);
  EXPECT_GT(seen[2], 0);
  const auto keep = subsample_keep_probabilities(counts, 1e-3);
  EXPECT_LT(keep[0], 0.05f);
  EXPECT_FLOAT_EQ(keep[2], 1.0f);
  EXPECT_EQ(subsample_keep_probabilities(counts, 0.0), std::vector<float>(3, 1.0f));
}

TEST(Sgns, NearestRowsRanksByCosineAndSkipsTheQuery) {
  const std::vector<float> rows = {1, 0, 0.9f, 0.1f, 0, 1, -1, 0};
  const auto top = nearest_rows(rows.data(), 4, 2, rows.data(), 2, 0);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, 1u);
  EXPECT_EQ(top[1].first, 2u);
  EXPECT_NEAR(top[1].second, 0.0f, 1e-6);
}

TEST(SkipgramConfig, BadSettingsAreConfigErrorsNamingTheKey) {
  const std::string base = "[data]\nset = \"brown\"\n[model]\nkind = \"skipgram\"\n";
  for (const auto& [extra, key] :
       std::vector<std::pair<std::string, std::string>>{{"window = 0\n", "model.window"},
                                                        {"negatives = 0\n", "model.negatives"},
                                                        {"window = 200\n", "model.window"}}) {
    try {
      parse_job_config(base + extra, "test.toml");
      FAIL() << extra;
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::bad_config);
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  try {
    parse_job_config("[data]\nset = \"brown\"\nsubsample = 1.5\n[model]\nkind = \"skipgram\"\n",
                     "test.toml");
    FAIL() << "subsample 1.5 accepted";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("data.subsample"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_job_config("[data]\nset = \"brown\"\n[model]\nkind = \"mf\"\n", "t.toml"),
               troupe_error);
  // The new keys survive the TOML that carries a job to nodes and resumed runs.
  auto job = parse_job_config(base + "window = 3\nnegatives = 7\n", "test.toml");
  job.subsample = 1e-4;
  const auto back = parse_job_config(to_toml(job), "round trip");
  EXPECT_EQ(back.window, 3u);
  EXPECT_EQ(back.negatives, 7u);
  EXPECT_DOUBLE_EQ(back.subsample, 1e-4);
  EXPECT_EQ(default_data_dir("brown"), "data/brown");
}

}  // namespace
}  // namespace troupe

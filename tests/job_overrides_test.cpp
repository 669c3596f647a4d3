// `--set KEY=VALUE`: any job key by its dotted path, checked exactly like the
// job file; values are TOML where they can be and strings otherwise.
#include <gtest/gtest.h>

#include "engine/errors.hpp"
#include "engine/job_overrides.hpp"

namespace troupe {
namespace {

job_config with(const std::vector<std::string>& sets, job_config job = default_job_config()) {
  std::vector<job_override> overrides;
  for (const auto& s : sets) overrides.push_back(parse_job_override(s));
  return apply_job_overrides(job, overrides);
}

std::string error_of(const std::vector<std::string>& sets) {
  try {
    with(sets);
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    return e.what();
  }
  return "";
}

TEST(JobOverrides, SetsKeysOfEveryType) {
  const auto job = with({"model.dim=64", "train.learning_rate=0.01", "train.optimizer=adam",
                         "model.layers=[784, 64, 10]", "job.name=my run", "data.subsample=0"});
  EXPECT_EQ(job.embedding_dim, 64u);
  EXPECT_FLOAT_EQ(job.optimizer.learning_rate, 0.01f);
  EXPECT_EQ(job.optimizer.kind, optimizer_kind::adam);
  EXPECT_EQ(job.model.sizes, (std::vector<int>{784, 64, 10}));
  EXPECT_EQ(job.name, "my run");
  EXPECT_EQ(job.subsample, 0.0);
  // Everything not overridden is the job's.
  EXPECT_EQ(job.workers, default_job_config().workers);
}

// A job named by default after its model and data follows them through
// --set (it kept "fashion_mlp" and runs/fashion_mlp whatever it trained);
// a name or directory given explicitly stays.
TEST(JobOverrides, ADefaultNameFollowsTheModelAndData) {
  const auto spam = with({"model.kind=logreg", "data.set=spam-assassin"});
  EXPECT_EQ(spam.name, "logreg_spam-assassin");
  EXPECT_EQ(spam.output_dir, "runs/logreg_spam-assassin");
  const auto named = with({"model.kind=logreg", "data.set=spam-assassin", "job.name=mine"});
  EXPECT_EQ(named.name, "mine");
  EXPECT_EQ(named.output_dir, "runs/mine");
  auto placed = default_job_config();
  placed.output_dir = "/tmp/elsewhere";
  EXPECT_EQ(with({"model.kind=logreg", "data.set=spam-assassin"}, placed).output_dir,
            "/tmp/elsewhere");
  EXPECT_EQ(with({"train.learning_rate=0.01"}).name, "fashion_mlp");
}

TEST(JobOverrides, StalenessTakesIntegersAndInf) {
  EXPECT_EQ(with({"train.staleness=inf"}).staleness, staleness_unbounded);
  EXPECT_EQ(with({"train.staleness=inf", "train.staleness=3"}).staleness, 3);
  EXPECT_EQ(with({"train.staleness=\"inf\""}).staleness, staleness_unbounded);
}

// data.label_column takes an index or a header name, whichever the job
// file had: an index given over a name was read as the name "-1".
TEST(JobOverrides, ALabelColumnTakesAnIndexOrANameWhateverItWas) {
  const auto csv = parse_job_config(
      "[data]\nformat = \"csv\"\ntrain = \"x.csv\"\nlabel_column = \"label\"\n", "job.toml", false);
  ASSERT_EQ(csv.data.label_name, "label");
  for (const auto& [text, index] : {std::pair{"-1", -1LL}, {"0", 0LL}, {"3", 3LL}}) {
    const auto job = with({std::string("data.label_column=") + text}, csv);
    EXPECT_TRUE(job.data.label_name.empty()) << text << ": " << job.data.label_name;
    EXPECT_EQ(job.data.label_index, index) << text;
  }
  EXPECT_EQ(with({"data.label_column=2", "data.label_column=target"}, csv).data.label_name,
            "target");
  EXPECT_EQ(with({"data.header=auto", "data.header=false"}, csv).data.header, 0);
  // A tab as a shell passes it (the TOML string "\t" works too): refused as
  // "'\t' is none of ..." although the message offered it.
  EXPECT_EQ(with({"data.delimiter=\\t"}, csv).data.delimiter, "\t");
  EXPECT_EQ(with({"data.delimiter=\"\\t\""}, csv).data.delimiter, "\t");
}

TEST(JobOverrides, HiddenReplacesLayersAndBack) {
  EXPECT_EQ(with({"model.hidden=[32]"}).model.sizes, (std::vector<int>{0, 32, 0}));
  EXPECT_EQ(with({"model.hidden=[32]", "model.layers=[784, 16, 10]"}).model.sizes,
            (std::vector<int>{784, 16, 10}));
}

// A target metric the job never chose follows the model: `--set
// model.loss=mse` makes a regression judged by its loss (the override was
// refused: "a regression has no accuracy", as if the file had said
// accuracy). One the job chose stays.
TEST(JobOverrides, AnImpliedTargetMetricFollowsTheModel) {
  const auto reg = with({"model.loss=mse"});
  EXPECT_EQ(reg.target_metric, "loss");
  EXPECT_EQ(with({"model.loss=softmax"}, reg).target_metric, "accuracy");
  auto chosen = default_job_config();
  chosen.target_metric = "loss";  // a classifier judged by its log-loss
  EXPECT_EQ(with({"train.workers=3"}, chosen).target_metric, "loss");
  EXPECT_NE(error_of({"job.target_metric=accuracy", "model.loss=mse"})
                .find("a regression has no accuracy"),
            std::string::npos);
}

TEST(JobOverrides, ALaterOverrideWins) {
  EXPECT_EQ(with({"train.workers=3", "train.workers=5"}).workers, 5u);
}

TEST(JobOverrides, AStringKeyKeepsTextThatLooksLikeANumber) {
  EXPECT_EQ(with({"job.name=123"}).name, "123");
  EXPECT_EQ(with({"job.output_dir=runs/1.5"}).output_dir, "runs/1.5");
}

TEST(JobOverrides, CreatesAMissingSection) {
  auto job = default_job_config();  // no [cluster] section in its TOML
  job = with({"cluster.replication=1"}, job);
  EXPECT_EQ(job.replication, 1u);
}

// Overrides go through the job's TOML text: every cluster key must survive
// it, also without nodes (they may come from --nodes). Replication and the
// TLS files were dropped when no node was named.
TEST(JobOverrides, ClusterKeysSurviveAnOverrideWithoutNodes) {
  auto job = default_job_config();
  job.replication = 1;
  job.tls.certificate = "a.pem";
  job.tls.key = "a.key";
  job.tls.ca = "ca.pem";
  job.tls.passphrase_file = "pass";
  const auto out = apply_job_overrides(job, {parse_job_override("train.batch=64")}, false);
  EXPECT_EQ(out.replication, 1u);
  EXPECT_EQ(out.tls.certificate, "a.pem");
  EXPECT_EQ(out.tls.key, "a.key");
  EXPECT_EQ(out.tls.ca, "ca.pem");
  EXPECT_EQ(out.tls.passphrase_file, "pass");
  // Node indices beyond 32 bits are refused, not cut to another node.
  EXPECT_NE(error_of({"cluster.shard_nodes=[4294967296]"}).find("cluster.shard_nodes"),
            std::string::npos);
}

// A longer peer timeout (for links with long round trips) survives the
// TOML text too, alone; outside [1, 600] s it is refused by name.
TEST(JobOverrides, PeerTimeoutSurvivesAnOverrideAndIsChecked) {
  auto job = with({"cluster.peer_timeout_s=12.5"}, default_job_config());
  EXPECT_EQ(job.peer_timeout_s, 12.5);
  const auto out = apply_job_overrides(job, {parse_job_override("train.batch=64")}, false);
  EXPECT_EQ(out.peer_timeout_s, 12.5);
  EXPECT_EQ(with({"cluster.peer_timeout_s=3"}, default_job_config()).peer_timeout_s, 3.0);
  EXPECT_NE(error_of({"cluster.peer_timeout_s=0.5"})
                .find("cluster.peer_timeout_s: expected seconds in [1, 600]"),
            std::string::npos);
  EXPECT_NE(error_of({"cluster.peer_timeout_s=601"}).find("cluster.peer_timeout_s"),
            std::string::npos);
  // Written only when set: a node built before the key refuses keys it
  // does not know, and every cluster job's text goes to its nodes.
  auto plain = default_job_config();
  plain.replication = 1;
  EXPECT_EQ(to_toml(plain).find("peer_timeout_s"), std::string::npos);
  // A job built in code is checked too (a 0 ms heartbeat turns CAF's
  // failure detection off).
  plain.peer_timeout_s = 0.005;
  EXPECT_THROW(validate(plain), troupe_error);
}

// How long a job waits for other jobs' slots: survives the TOML text the
// nodes get, written only when set; outside [0, 86400] s (NaN too) refused.
TEST(JobOverrides, SlotWaitSurvivesAnOverrideAndIsChecked) {
  auto job = with({"cluster.slot_wait_s=0"}, default_job_config());
  EXPECT_EQ(job.slot_wait_s, 0.0);
  const auto out = apply_job_overrides(job, {parse_job_override("train.batch=64")}, false);
  EXPECT_EQ(out.slot_wait_s, 0.0);
  EXPECT_EQ(with({"cluster.slot_wait_s=600"}, default_job_config()).slot_wait_s, 600.0);
  EXPECT_NE(error_of({"cluster.slot_wait_s=-1"})
                .find("cluster.slot_wait_s: expected seconds in [0, 86400]"),
            std::string::npos);
  EXPECT_NE(error_of({"cluster.slot_wait_s=nan"}).find("cluster.slot_wait_s"), std::string::npos);
  auto plain = default_job_config();
  plain.replication = 1;
  EXPECT_EQ(to_toml(plain).find("slot_wait_s"), std::string::npos);
  plain.slot_wait_s = 1e9;
  EXPECT_THROW(validate(plain), troupe_error);
}

TEST(JobOverrides, BadKeysAndValuesAreErrorsNamingTheKey) {
  EXPECT_NE(error_of({"model.dimm=3"}).find("model.dimm: unknown key"), std::string::npos);
  EXPECT_NE(error_of({"optim.lr=3"}).find("optim: unknown key"), std::string::npos);
  EXPECT_NE(error_of({"model.dim=0"}).find("model.dim: 0 is out of range"), std::string::npos);
  EXPECT_NE(error_of({"model.dim=abc"}).find("model.dim: expected an integer"), std::string::npos);
  EXPECT_NE(error_of({"train.learning_rate=-1"}).find("train.learning_rate"), std::string::npos);
  EXPECT_NE(error_of({"train.staleness=-2"}).find("train.staleness"), std::string::npos);
  EXPECT_NE(error_of({"train.staleness=sometimes"})
                .find("train.staleness: 'sometimes' is neither an integer >= 0 nor \"inf\""),
            std::string::npos);
  EXPECT_NE(error_of({"train.workers.x=1"}).find("workers is a value, not a section"),
            std::string::npos);
  EXPECT_NE(error_of({"train.optimizer=rmsprop"}).find("train.optimizer"), std::string::npos);
  // Present but empty is refused, not read as the default.
  EXPECT_NE(error_of({"train.optimizer="}).find("train.optimizer: an empty value"),
            std::string::npos);
  EXPECT_NE(error_of({"train.backend="}).find("train.backend: an empty value"), std::string::npos);
}

TEST(JobOverrides, MalformedOverridesAreErrors) {
  for (const char* text : {"model.dim", "=3", "dim=3", "model..dim=3", ".dim=3", "model.=3"}) {
    EXPECT_THROW(parse_job_override(text), troupe_error) << text;
  }
  const auto o = parse_job_override("job.name=a=b");
  EXPECT_EQ(o.key, "job.name");
  EXPECT_EQ(o.value, "a=b");
}

TEST(JobOverrides, KeepsRuntimeOnlyFields) {
  auto job = default_job_config();
  job.resume_from = "runs/x/checkpoints";
  job.metrics_listen = "127.0.0.1:9100";
  job.job_file = "jobs/x.toml";
  const auto out = with({"train.workers=3"}, job);
  EXPECT_EQ(out.resume_from, job.resume_from);
  EXPECT_EQ(out.metrics_listen, job.metrics_listen);
  EXPECT_EQ(out.job_file, job.job_file);
}

// Files named on the command line replace the default job's built-in set:
// it was refused, "give either a built-in data set or data.format with
// files, not both", of a set nobody gave.
TEST(JobOverrides, AFormatOnTheCommandLineTrainsOnFiles) {
  const auto job = with({"data.format=csv", "data.train=x.csv"}, default_job_config());
  EXPECT_EQ(job.data_set, "files");
  EXPECT_EQ(job.data.train, "x.csv");
  // Named together, the set given is checked as before.
  EXPECT_NE(
      error_of({"data.format=csv", "data.train=x.csv", "data.set=fashion-mnist"}).find("not both"),
      std::string::npos);
}

TEST(JobOverrides, AppliesToTomlText) {
  const auto text = apply_job_overrides(
      "[train]\nworkers = 2\n", "t.toml",
      {parse_job_override("train.workers=4"), parse_job_override("model.dim=8")});
  const auto job = parse_job_config(text, "t.toml");
  EXPECT_EQ(job.workers, 4u);
  EXPECT_EQ(job.embedding_dim, 8u);
}

TEST(JobOverrides, FloatsRoundTripExactly) {
  const auto job = with({"job.target_accuracy=0.8765432109876543"});
  EXPECT_EQ(job.target_accuracy, 0.8765432109876543);
  EXPECT_EQ(with({"train.workers=3"}).optimizer.learning_rate,
            default_job_config().optimizer.learning_rate);
}

}  // namespace
}  // namespace troupe

// Settings a job sets but would not read. A job.toml writes every key with
// its value, so only values other than the defaults are named: those are
// what a user typed and expects to matter.
#include <sstream>

#include "engine/job_config.hpp"

namespace troupe {

namespace {

template <class T>
std::string text_of(const T& v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

class unread_notes {
 public:
  /// Names `key = value` as unread for `why` when `value` is not `fallback`.
  template <class T>
  void unless_default(const std::string& key, const T& value, const T& fallback,
                      const std::string& why) {
    if (value != fallback) add(key, text_of(value), why);
  }
  void add(const std::string& key, const std::string& value, const std::string& why) {
    notes_.push_back(key + " = " + value + " is not used: " + why);
  }
  std::vector<std::string> take() { return std::move(notes_); }

 private:
  std::vector<std::string> notes_;
};

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// The [data] keys that the job's data set or file format does not read.
void data_notes(const job_config& job, unread_notes& notes) {
  const job_config defaults;
  const data_spec none;
  const auto& d = job.data;
  if (job.data_set == "fashion-mnist") {
    notes.unless_default("data.test_fraction", job.test_fraction, defaults.test_fraction,
                         "fashion-mnist has a test set of its own");
  } else if (d.from_files() && !d.test.empty()) {
    notes.unless_default("data.test_fraction", job.test_fraction, defaults.test_fraction,
                         "the test rows come from data.test (" + d.test + ")");
  }
  if (job.data_set != "spam-assassin" && job.data_set != "brown") {
    notes.unless_default("data.min_count", job.min_count, defaults.min_count,
                         "only the spam-assassin and brown vocabularies read it (this job's data "
                         "is " +
                             quoted(job.data_set) + ")");
  }
  if (!d.from_files()) {
    // The built-in sets come prepared; the file keys apply to data.format.
    if (d.normalize != none.normalize) {
      notes.add(
          "data.normalize", quoted(d.normalize),
          "only data from files (data.format) is normalised; " + job.data_set + " comes prepared");
    }
    return;
  }
  if (d.test.empty() && !d.test_labels.empty()) {
    notes.add("data.test_labels", quoted(d.test_labels),
              "there is no data.test: the test rows are split off the training file");
  }
  if (d.validation.empty() && !d.validation_labels.empty()) {
    notes.add("data.validation_labels", quoted(d.validation_labels),
              "there is no data.validation file" +
                  std::string(d.validation_fraction > 0
                                  ? ": the validation rows are split off the training file"
                                  : ""));
  }
  if (d.normalize != "scale") {
    notes.unless_default("data.scale", d.scale, none.scale,
                         "only normalize = \"scale\" reads it (this job's normalize is " +
                             quoted(d.normalize) + ")");
  }
  const bool text_columns = d.format == "csv" || d.format == "ratings";
  if (!text_columns) {
    const auto why =
        "only csv and ratings files have delimiters and headers (this job's format "
        "is " +
        quoted(d.format) + ")";
    if (d.delimiter != none.delimiter) notes.add("data.delimiter", quoted(d.delimiter), why);
    notes.unless_default("data.header", d.header, none.header, why);
  }
  if (d.format != "ratings") {
    const auto why = "only format = \"ratings\" reads it (this job's is " + quoted(d.format) + ")";
    if (d.user_column != none.user_column)
      notes.add("data.user_column", quoted(d.user_column), why);
    if (d.item_column != none.item_column)
      notes.add("data.item_column", quoted(d.item_column), why);
    if (d.rating_column != none.rating_column) {
      notes.add("data.rating_column", quoted(d.rating_column), why);
    }
  }
  if (d.format == "libsvm" || d.format == "ratings") {
    const auto why = d.format == "libsvm" ? std::string("a libsvm row begins with its label")
                                          : std::string("a rating's value is data.rating_column");
    if (!d.label_name.empty())
      notes.add("data.label_column", quoted(d.label_name), why);
    else
      notes.unless_default("data.label_column", d.label_index, none.label_index, why);
  }
}

// The [model] and [train] keys that a built-in model kind does not read.
void model_notes(const job_config& job, unread_notes& notes) {
  const job_config defaults;
  const auto& kind = job.model_kind;
  const auto this_kind = " (this job's is " + quoted(kind) + ")";
  if (job.optimizer.kind != optimizer_kind::momentum) {
    notes.unless_default("train.momentum", job.optimizer.momentum, optimizer_spec{}.momentum,
                         "only optimizer = \"momentum\" reads it (this job's optimizer is " +
                             quoted(to_string(job.optimizer.kind)) + ")");
  }
  if (job.model.activation != mlp_spec{}.activation) {
    const auto value = quoted(to_string(job.model.activation));
    if (kind != "mlp") {
      notes.add("model.activation", value, "only model.kind = \"mlp\" reads it" + this_kind);
    } else if (job.model.sizes.size() == 2) {
      notes.add("model.activation", value,
                "it applies between hidden layers, and this model has none (" +
                    std::to_string(job.model.sizes[0]) + " inputs straight to " +
                    std::to_string(job.model.sizes[1]) + " outputs)");
    }
  }
  if (kind != "mf" && kind != "skipgram") {
    notes.unless_default("model.dim", job.embedding_dim, defaults.embedding_dim,
                         "only the mf and skipgram models have embeddings" + this_kind);
  }
  if (kind != "mf") {
    notes.unless_default("model.l2", job.l2, defaults.l2,
                         "only model.kind = \"mf\" reads it" + this_kind);
  }
  if (kind != "skipgram") {
    const auto why = "only model.kind = \"skipgram\" reads it" + this_kind;
    notes.unless_default("model.window", job.window, defaults.window, why);
    notes.unless_default("model.negatives", job.negatives, defaults.negatives, why);
    notes.unless_default("data.subsample", job.subsample, defaults.subsample, why);
  }
  if (job.stages == 1) {
    notes.unless_default("model.micro_batches", job.micro_batches, defaults.micro_batches,
                         "only a model split into stages (model.stages > 1) cuts its batches");
  }
}

}  // namespace

std::vector<std::string> unread_settings_warnings(const job_config& job) {
  unread_notes notes;
  // A user's own workload kind gets the whole job and may read any key for
  // tables or data of its own: only the built-in kinds are judged.
  if (job.model_kind == "mlp" || job.model_kind == "logreg" || job.model_kind == "mf" ||
      job.model_kind == "skipgram") {
    model_notes(job, notes);
    data_notes(job, notes);
  }
  return notes.take();
}

}  // namespace troupe

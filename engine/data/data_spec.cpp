#include "engine/data/data_spec.hpp"

#include <sstream>

#include "engine/job_sections.hpp"
#include "engine/toml_read.hpp"

namespace troupe {

using namespace toml_read;

const std::set<std::string>& data_spec_keys() {
  static const std::set<std::string> keys{"format",
                                          "train",
                                          "test",
                                          "validation",
                                          "train_labels",
                                          "test_labels",
                                          "validation_labels",
                                          "validation_fraction",
                                          "label_column",
                                          "delimiter",
                                          "header",
                                          "user_column",
                                          "item_column",
                                          "rating_column",
                                          "normalize",
                                          "scale"};
  return keys;
}

void read_data_spec(const toml::table& t, const std::string& src, data_spec& out) {
  read_string(t, "format", "data", src, out.format);
  read_string(t, "train", "data", src, out.train);
  read_string(t, "test", "data", src, out.test);
  read_string(t, "validation", "data", src, out.validation);
  read_string(t, "train_labels", "data", src, out.train_labels);
  read_string(t, "test_labels", "data", src, out.test_labels);
  read_string(t, "validation_labels", "data", src, out.validation_labels);
  read_double(t, "validation_fraction", "data", src, out.validation_fraction);
  if (const auto* node = t.get("label_column")) {
    if (node->is_integer()) {
      out.label_index = *node->value<long long>();
      out.label_name.clear();
    } else if (node->is_string()) {
      out.label_name = *node->value<std::string>();
      if (out.label_name.empty()) bad(src, "data.label_column", "an empty column name");
    } else {
      bad(src, "data.label_column", "expected a column index or a header name");
    }
  }
  read_string(t, "delimiter", "data", src, out.delimiter);
  // `--set data.delimiter=\t` on a command line (a TOML string would be
  // "\t"): the two characters, which no delimiter is, mean a tab.
  if (out.delimiter == "\\t") out.delimiter = "\t";
  if (const auto* node = t.get("header")) {
    if (node->is_boolean()) {
      out.header = *node->value<bool>() ? 1 : 0;
    } else if (node->is_string() && *node->value<std::string>() == "auto") {
      out.header = -1;
    } else {
      bad(src, "data.header", "expected true, false or \"auto\"");
    }
  }
  read_string(t, "user_column", "data", src, out.user_column);
  read_string(t, "item_column", "data", src, out.item_column);
  read_string(t, "rating_column", "data", src, out.rating_column);
  read_string(t, "normalize", "data", src, out.normalize);
  read_double(t, "scale", "data", src, out.scale);
}

void validate(const data_spec& d) {
  auto fail = [](const std::string& key, const std::string& why) {
    throw troupe_error(errc::bad_config, "data." + key + ": " + why);
  };
  if (!d.from_files()) {
    if (!d.train.empty() || !d.test.empty() || !d.validation.empty()) {
      fail("format", "data files need a format: csv, libsvm, idx, npy or ratings");
    }
    return;
  }
  if (d.format != "csv" && d.format != "libsvm" && d.format != "idx" && d.format != "npy" &&
      d.format != "ratings") {
    fail("format", "unknown format '" + d.format + "' (known: csv, libsvm, idx, npy, ratings)");
  }
  if (d.train.empty()) fail("train", "the training file is missing");
  if (!(d.validation_fraction >= 0 && d.validation_fraction < 1)) {
    fail("validation_fraction", "must lie in [0, 1)");
  }
  if (!d.validation.empty() && d.validation_fraction > 0) {
    fail("validation_fraction", "a validation file and a validation fraction exclude each other");
  }
  const bool separate_labels = d.format == "idx" || d.format == "npy";
  if (separate_labels && d.train_labels.empty()) {
    fail("train_labels", d.format + " data needs its labels in a file of their own");
  }
  if (!d.test.empty() && !d.train_labels.empty() && d.test_labels.empty()) {
    fail("test_labels", "the training labels are in their own file, so the test labels must be");
  }
  if (!d.validation.empty() && !d.train_labels.empty() && d.validation_labels.empty()) {
    fail("validation_labels",
         "the training labels are in their own file, so the validation labels must be");
  }
  if (d.format == "libsvm" || d.format == "ratings") {
    if (!d.train_labels.empty()) fail("train_labels", d.format + " rows carry their own labels");
  }
  if (!d.train_labels.empty() && (!d.label_name.empty() || d.label_index != -1)) {
    // It was not read: the label would not be where the file said.
    fail("label_column",
         "the labels are in a file of their own (train_labels), so no column of the data is "
         "the label; leave label_column out");
  }
  if (d.delimiter != "auto" && d.delimiter != "," && d.delimiter != ";" && d.delimiter != "\t" &&
      d.delimiter != " ") {
    fail("delimiter", "'" + d.delimiter + "' is none of auto, \",\", \";\", \"\\t\", \" \"");
  }
  if (d.normalize != "none" && d.normalize != "scale" && d.normalize != "standardize") {
    fail("normalize", "'" + d.normalize + "' is none of none, scale, standardize");
  }
  // Features are multiplied by 1 / scale as a float: both must be finite.
  if (d.normalize == "scale" && !(d.scale > 0)) fail("scale", "must be positive");
  if (d.normalize == "scale" && !(d.scale >= 1e-30 && d.scale <= 1e30)) {
    fail("scale", "must lie in [1e-30, 1e30] (features are divided by it as floats)");
  }
  if (d.format == "libsvm" && d.normalize == "standardize") {
    fail("normalize", "standardize would make sparse libsvm rows dense; use none or scale");
  }
  if (d.format == "ratings" && d.normalize != "none") {
    fail("normalize", "ratings have no features to normalise");
  }
}

std::string to_toml_lines(const data_spec& d) {
  std::ostringstream out;
  out.precision(17);
  if (!d.from_files()) {
    // A built-in set's validation rows (split from its training rows).
    if (d.validation_fraction > 0) out << "validation_fraction = " << d.validation_fraction << "\n";
    return out.str();
  }
  out << "format = " << quote(d.format) << "\ntrain = " << quote(d.train)
      << "\ntest = " << quote(d.test) << "\nvalidation = " << quote(d.validation)
      << "\ntrain_labels = " << quote(d.train_labels) << "\ntest_labels = " << quote(d.test_labels)
      << "\nvalidation_labels = " << quote(d.validation_labels)
      << "\nvalidation_fraction = " << d.validation_fraction << "\nlabel_column = ";
  if (d.label_name.empty()) {
    out << d.label_index;
  } else {
    out << quote(d.label_name);
  }
  out << "\ndelimiter = " << quote(d.delimiter) << "\nheader = ";
  out << (d.header < 0 ? "\"auto\"" : d.header ? "true" : "false");
  out << "\nuser_column = " << quote(d.user_column) << "\nitem_column = " << quote(d.item_column)
      << "\nrating_column = " << quote(d.rating_column) << "\nnormalize = " << quote(d.normalize)
      << "\nscale = " << d.scale << "\n";
  return out.str();
}

}  // namespace troupe

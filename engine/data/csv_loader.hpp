#pragma once
// Dense tables from CSV files (plain or .gz): one row per line, one column
// the label (or the regression target), the others features. Streams the
// file and reserves exactly, so it never holds two copies of the data.
//
//   csv_options o;            // delimiter and header detected, label = last column
//   dataset d = load_csv("data/sklearn/digits.csv.gz", o);
//   // d.rows == 1797, d.cols == 64, d.classes == 10
//
// Every malformed line is a troupe_error(io_error) naming file and line:
// wrong field counts, fields that are no number, NaN or infinite values,
// labels that are no class number (an integer >= 0).

#include <string>
#include <string_view>
#include <vector>

#include "engine/data/dataset.hpp"

namespace troupe {

struct csv_options {
  std::string delimiter = "auto";  ///< auto, ",", ";", "\t", " " (runs of blanks)
  int header = -1;                 ///< -1: a first line with a field that is no number; 0; 1
  std::string label_name;          ///< the label column by header name, else label_index
  long long label_index = -1;      ///< negative counts from the end
  /// With label_name empty: the label is the column of this name when the
  /// header has one, else label_index (a test file read like its training
  /// file, whose label was chosen by index, whatever its column order).
  std::string label_name_if_present;
  bool has_label = true;    ///< false: every column is a feature
  bool regression = false;  ///< labels are targets (floats), not classes
};

dataset load_csv(const std::string& path, const csv_options& o);

/// Labels (or targets) in a file of their own, one value per line (CSV, a
/// single column; an idx1 file when `path` names one, see idx_loader.hpp).
/// Sets into.labels or into.targets; their count must equal into.rows.
void load_label_file(const std::string& path, bool regression, dataset& into);

// -- field helpers shared by the CSV-like loaders ------------------------------

/// The delimiter of a line: ',' ';' or '\t' when present, else ' ' (blanks).
char detect_delimiter(std::string_view line);
/// Splits on `delim` (' ': runs of blanks); fields are trimmed and unquoted.
/// A field in double quotes may hold the delimiter ("a,b" is one field; ""
/// inside stays as it is); a quoted field cannot span lines.
void split_fields(std::string_view line, char delim, std::vector<std::string_view>& out);
/// True when some field is text that is no number (finite or not), or the
/// fields are the column numbers 0, 1, ..., k-1 (pandas' header of unnamed
/// columns, perhaps after its index column's empty name): such a first line
/// is a header. "nan" is data, and an error on its line; so is an
/// empty field among numbers ("0.5,,0.3" is a row with a value missing, not
/// a header), while a header may leave a name empty (",a,b,y", pandas' index).
bool looks_like_header(const std::vector<std::string_view>& fields);
/// A warning when `d`'s header, found by guessing (data.header = "auto"),
/// is mostly numbers: perhaps a row of data with a missing value
/// ("1.0,?,3.0,4.0,1"), which would otherwise be dropped without a word.
/// Empty otherwise.
std::string numeric_header_warning(const dataset& d);
/// numeric_header_warning for the training, validation and test sets of a
/// job (null ones skipped): each file is read with its own guess, and a test
/// file's first row lost as a header is a row less to score. A file named
/// twice (a test set split off the training file) is warned about once.
std::vector<std::string> numeric_header_warnings(const std::vector<const dataset*>& sets);
/// Parses a finite float; false when `text` is no number or not finite.
bool parse_float(std::string_view text, float& out);
/// A label as a class number (an integer in [0, 2^31)); false otherwise.
bool parse_class(std::string_view text, std::int32_t& out);

}  // namespace troupe

// The loaders of users' own files (csv, libsvm, idx, npy, ratings) on
// generated files: what they read, and a clear error naming file and line for
// every malformed input (nothing crashes, nothing is read half).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "data_files.hpp"
#include "engine/data/csv_loader.hpp"
#include "engine/data/idx_loader.hpp"
#include "engine/data/libsvm_loader.hpp"
#include "engine/data/npy_loader.hpp"
#include "engine/data/ratings_csv.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;

// The error message of `f`, which must throw troupe_error with `code`.
template <class F>
std::string error_of(F f, errc code = errc::io_error) {
  try {
    f();
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CsvLoader, ReadsFeaturesAndTheLastColumnAsLabel) {
  temp_dir dir("csv_basic");
  const auto path = dir.write("a.csv", "1,2,3,0\n4,5,6,2\n\n7,8,9.5,1\n");
  const auto d = load_csv(path, csv_options{});
  EXPECT_EQ(d.rows, 3u);
  EXPECT_EQ(d.cols, 3u);
  EXPECT_EQ(d.classes, 3);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9.5f}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 2, 1}));
}

TEST(CsvLoader, HeaderLabelByNameDelimitersAndGzip) {
  temp_dir dir("csv_header");
  csv_options o;
  o.label_name = "y";
  const auto semi = load_csv(dir.write("s.csv", "y;a;b\n1;0.5;2\n0;1;-3\n"), o);
  EXPECT_EQ(semi.rows, 2u);
  EXPECT_EQ(semi.features, (std::vector<float>{0.5f, 2, 1, -3}));
  EXPECT_EQ(semi.labels, (std::vector<std::int32_t>{1, 0}));
  csv_options first;
  first.label_index = 0;
  const auto blanks = load_csv(dir.write_gz("w.txt.gz", "3  1.5 2\r\n 4\t2.5 3\r\n"), first);
  EXPECT_EQ(blanks.rows, 2u);
  EXPECT_EQ(blanks.features, (std::vector<float>{1.5f, 2, 2.5f, 3}));
  EXPECT_EQ(blanks.labels, (std::vector<std::int32_t>{3, 4}));
  // scikit-learn's "569,30,malignant,benign" first line is no data: a header.
  const auto sk =
      load_csv(dir.write("sk.csv", "2,2,no,yes\n0.1,0.2,1\n0.3,0.4,0\n"), csv_options{});
  EXPECT_EQ(sk.rows, 2u);
  EXPECT_EQ(sk.cols, 2u);
}

// A value missing in the first row is that row's error, not a header that
// silently drops it; a header may leave a name empty (pandas' index column).
TEST(CsvLoader, AFirstRowWithAMissingValueIsNoHeader) {
  temp_dir dir("csv_missing_first");
  try {
    load_csv(dir.write("m.csv", "0.5,,0.3,1\n0.1,0.2,0.3,0\n"), csv_options{});
    FAIL() << "the first row's missing value went unnoticed";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find(":1: field 2 ('') is not a finite number"),
              std::string::npos)
        << e.what();
  }
  csv_options o;
  o.label_name = "y";
  const auto pandas = load_csv(dir.write("p.csv", ",a,y\n0,0.5,1\n1,0.7,0\n"), o);
  EXPECT_EQ(pandas.rows, 2u);
  EXPECT_EQ(pandas.feature_names, (std::vector<std::string>{"a"}));  // the index left out
  EXPECT_EQ(numeric_header_warning(pandas), "");
  // A first row that is data with a value other than a number missing is
  // taken as a header (as documented), and said to be mostly numbers.
  const auto guessed = load_csv(dir.write("q.csv", "1.0,?,3.0,4.0,1\n1,2,3,4,0\n"), csv_options{});
  EXPECT_EQ(guessed.rows, 1u);
  const auto note = numeric_header_warning(guessed);
  EXPECT_NE(note.find("4 of its 5 fields are numbers"), std::string::npos) << note;
  EXPECT_NE(note.find("data.header = false"), std::string::npos) << note;
}

// pandas writes the column numbers 0, 1, ... as the header of a frame of
// unnamed columns: that line was read as a row of data (its "label" the
// last column's number, a class no row had). It is a header now, said so.
TEST(CsvLoader, PandasColumnNumbersAreAHeader) {
  temp_dir dir("csv_column_numbers");
  const auto numbered = load_csv(
      dir.write("n.csv", "0,1,2,3,4\n0.5,0.1,0.2,0.3,1\n0.7,0.2,0.1,0.9,0\n"), csv_options{});
  EXPECT_EQ(numbered.rows, 2u);
  EXPECT_EQ(numbered.classes, 2);
  auto note = numeric_header_warning(numbered);
  EXPECT_NE(note.find("n.csv: its first line, the column numbers 0 to 4 (as pandas writes them), "
                      "was taken as a header; if it is a row of data, set data.header = false"),
            std::string::npos)
      << note;
  // With pandas' index column (its name empty), and the label in the middle.
  csv_options middle;
  middle.label_index = 2;
  const auto indexed = load_csv(dir.write("i.csv", ",0,1,2\n0,0.5,1,0.3\n1,0.7,0,0.9\n"), middle);
  EXPECT_EQ(indexed.rows, 2u);
  note = numeric_header_warning(indexed);
  EXPECT_NE(note.find("the column numbers 0 to 2"), std::string::npos) << note;
  // Out of order, or too few to tell from data: a row of data, as before.
  for (const auto* text : {"1,0,2,3\n0,1,1,0\n", "0,1\n1,0\n", "0,1,2,3,1\n0,1,1,0,1\n"}) {
    EXPECT_EQ(load_csv(dir.write("d.csv", text), csv_options{}).rows, 2u) << text;
  }
  // An empty field elsewhere than first is a value missing from a row of
  // data (that row's error), not pandas' index name.
  EXPECT_THROW(load_csv(dir.write("m.csv", "0,,1,2\n0,1,1,0\n"), csv_options{}), troupe_error);
}

// pandas' index column (df.to_csv() without index=False: a first column
// unnamed in the header, row numbers) was trained on as a feature: a noise
// set sorted by class scored 100%. Distinct whole numbers there are left
// out, with a note; anything else there, or a name, keeps the column.
TEST(CsvLoader, PandasIndexColumnIsNoFeature) {
  temp_dir dir("csv_pandas_index");
  // Shuffled before it was written, as a split's test set is.
  const auto d = load_csv(dir.write("i.csv", ",a,b,y\n7,0.5,1.5,1\n2,0.7,2.5,0\n5,0.9,3.5,1\n"),
                          csv_options{});
  EXPECT_EQ(d.cols, 2u);
  EXPECT_EQ(d.features, (std::vector<float>{0.5f, 1.5f, 0.7f, 2.5f, 0.9f, 3.5f}));
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_TRUE(has(d.notes[0],
                  "i.csv: its first column, unnamed in the header and holding "
                  "distinct whole numbers, is the index pandas writes"))
      << d.notes[0];
  for (const auto* text : {"idx,a,y\n0,0.5,1\n1,0.7,0\n",  // named: a feature
                           ",a,y\n0,0.5,1\n0,0.7,0\n",     // repeated: a feature
                           ",a,y\n0.5,0.5,1\n1,0.7,0\n",   // not whole
                           ",y\n0,1\n1,0\n"}) {            // the only feature
    const auto kept = load_csv(dir.write("k.csv", text), csv_options{});
    EXPECT_EQ(kept.cols, text[1] == 'y' ? 1u : 2u) << text;
    EXPECT_TRUE(kept.notes.empty()) << text;
  }
}

// A label named where no header is, or named twice: said as such (they
// read "no column 'label' in the header", and "label '0.0580' is not a
// class number" after the first of the two was taken).
TEST(CsvLoader, ALabelNamedWithoutAHeaderOrTwiceIsSaidAsSuch) {
  temp_dir dir("csv_label_names");
  csv_options o;
  o.label_name = "label";
  auto msg = error_of([&] { load_csv(dir.write("plain.csv", "0.5,0.1,1\n0.7,0.2,0\n"), o); },
                      errc::bad_config);
  EXPECT_TRUE(has(msg, "names the column 'label', but the file has no header")) << msg;
  msg = error_of([&] { load_csv(dir.write("twice.csv", "a,label,label\n0.5,0.06,1\n"), o); },
                 errc::bad_config);
  EXPECT_TRUE(has(msg, "names the column 'label' more than once")) << msg;
  EXPECT_EQ(load_csv(dir.write("once.csv", "a,label,b\n0.5,1,0.06\n0.7,0,0.2\n"), o).rows, 2u);
}

// Each file of a job is guessed on its own: a test file whose first row of
// data was taken as a header is warned about like a training file, and a
// file named twice (a test set split off the training file) once.
TEST(CsvLoader, EveryFileOfAJobIsCheckedForANumericHeader) {
  temp_dir dir("csv_numeric_headers");
  const auto train =
      load_csv(dir.write("train.csv", "1.0,2.0,3.0,4.0,1\n1,2,3,4,0\n"), csv_options{});
  const auto test = load_csv(dir.write("test.csv", "1.0,?,3.0,4.0,1\n1,2,3,4,0\n"), csv_options{});
  const auto validation = load_csv(dir.write("val.csv", "a,b,c,d,y\n1,2,3,4,0\n"), csv_options{});
  ASSERT_EQ(test.rows, 1u);  // the first row went as a header
  const auto notes = numeric_header_warnings({&train, &validation, nullptr, &test, &test});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].rfind(test.source + ": its first line was taken as a header", 0), 0u)
      << notes[0];
  EXPECT_TRUE(numeric_header_warnings({&train, &validation}).empty());
}

// A pipe or FIFO was read twice (to count rows, then to load): a process
// substitution loaded as "no data rows", a FIFO waited for a second writer
// for good. Refused at once, saying what to do.
TEST(CsvLoader, APipeOrFifoIsRefusedNotReadTwice) {
  temp_dir dir("csv_fifo");
  const auto fifo = dir.file("data.csv");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& load : std::vector<std::function<void()>>{[&] { load_csv(fifo, csv_options{}); },
                                                             [&] {
                                                               dataset d;
                                                               d.rows = 1;
                                                               load_label_file(fifo, false, d);
                                                             }}) {
    try {
      load();
      FAIL() << "a FIFO was read";
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::io_error);
      EXPECT_NE(std::string(e.what()).find("is no regular file (a pipe, FIFO"), std::string::npos)
          << e.what();
    }
  }
}

TEST(CsvLoader, RegressionTargetsAreFloats) {
  temp_dir dir("csv_regression");
  csv_options o;
  o.regression = true;
  const auto d = load_csv(dir.write("r.csv", "1,2,151.5\n3,4,-75\n"), o);
  EXPECT_EQ(d.targets, (std::vector<float>{151.5f, -75.f}));
  EXPECT_TRUE(d.labels.empty());
  EXPECT_EQ(d.classes, 0);
}

// Values too small for a float are ordinary data (p-values, probabilities),
// read as the nearest float (0 below ~1.4e-45); too large ones are refused
// as beyond a float's range. Both were "not a finite number".
TEST(CsvLoader, TinyValuesReadAsTheNearestFloatHugeOnesAreRefused) {
  temp_dir dir("csv_range");
  const csv_options o;
  const auto d = load_csv(dir.write("tiny.csv", "1e-46,-1e-50,1e-400,1e-40,0\n1,2,3,4,1\n"), o);
  ASSERT_EQ(d.rows, 2u);
  EXPECT_EQ(d.features[0], 0.0f);
  EXPECT_EQ(d.features[1], 0.0f);
  EXPECT_TRUE(std::signbit(d.features[1]));
  EXPECT_EQ(d.features[2], 0.0f);
  EXPECT_GT(d.features[3], 0.0f);  // a subnormal float, as before
  const auto msg = error_of([&] { load_csv(dir.write("huge.csv", "1,2,0\n1e39,2,1\n"), o); });
  EXPECT_TRUE(
      has(msg, "huge.csv:2: field 1 ('1e39') is not a finite number within a float's range"))
      << msg;
}

TEST(CsvLoader, MalformedFilesAreErrorsNamingFileAndLine) {
  temp_dir dir("csv_bad");
  const csv_options o;
  auto msg = error_of([&] { load_csv(dir.write("cols.csv", "1,2,0\n1,2,3,0\n"), o); });
  EXPECT_TRUE(has(msg, "cols.csv:2: 4 fields, but the first row has 3")) << msg;
  msg = error_of([&] { load_csv(dir.write("nan.csv", "1,2,0\nnan,2,1\n"), o); });
  EXPECT_TRUE(has(msg, "nan.csv:2: field 1 ('nan') is not a finite number")) << msg;
  msg = error_of([&] { load_csv(dir.write("word.csv", "1,2,0\n1,x,1\n"), o); });
  EXPECT_TRUE(has(msg, "word.csv:2: field 2 ('x')")) << msg;
  msg = error_of([&] { load_csv(dir.write("inf.csv", "1,inf,0\n"), o); });
  EXPECT_TRUE(has(msg, "inf.csv:1")) << msg;
  // A file with no line ends (a binary file, a gzip bomb) is refused once a
  // line passes text_lines::max_line_bytes, not read until memory runs out;
  // a device is no data file at all.
  msg = error_of([&] { load_csv(dir.write_gz("bomb.csv.gz", std::string(65 << 20, '1')), o); });
  EXPECT_TRUE(has(msg, "bomb.csv.gz:1: a line longer than 64 MiB: not a text data file")) << msg;
  msg = error_of([&] { load_csv("/dev/zero", o); });
  EXPECT_TRUE(has(msg, "/dev/zero is no regular file")) << msg;
  for (const char* label : {"-1", "2.5", "1e12"}) {
    msg = error_of([&] { load_csv(dir.write("lab.csv", std::string("1,2,") + label + "\n"), o); });
    EXPECT_TRUE(has(msg, "lab.csv:1: label '" + std::string(label) + "' is not a class number"))
        << msg;
  }
  msg = error_of([&] { load_csv(dir.write("empty.csv", ""), o); });
  EXPECT_TRUE(has(msg, "empty.csv: no data rows")) << msg;
  msg = error_of([&] { load_csv(dir.write("blank.csv", "\n  \n"), o); });
  EXPECT_TRUE(has(msg, "no data rows")) << msg;
  msg = error_of([&] { load_csv(dir.write("header.csv", "a,b,c\n"), o); });
  EXPECT_TRUE(has(msg, "no data rows")) << msg;
  msg = error_of([&] { load_csv(dir.file("absent.csv"), o); }, errc::missing_dataset);
  EXPECT_TRUE(has(msg, "absent.csv not found")) << msg;
  csv_options named;
  named.label_name = "label";
  msg = error_of([&] { load_csv(dir.write("n.csv", "a,b\n1,2\n"), named); }, errc::bad_config);
  EXPECT_TRUE(has(msg, "no column 'label'")) << msg;
  csv_options far;
  far.label_index = 7;
  msg = error_of([&] { load_csv(dir.write("f.csv", "1,2\n"), far); }, errc::bad_config);
  EXPECT_TRUE(has(msg, "label column 7 but the rows have 2 columns")) << msg;
  // A corrupt gzip stream is an error, not garbage rows.
  auto gz = dir.write_gz("c.csv.gz", std::string(4000, '1') + ",0\n");
  {
    std::fstream f(gz, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.write("\xff\xff\xff\xff\xff\xff", 6);
  }
  msg = error_of([&] { load_csv(gz, o); });
  EXPECT_TRUE(has(msg, "c.csv.gz")) << msg;
}

// A gzip file cut short (an interrupted download) reads as an ordinary end
// of file to zlib: it must be an error, not a data set with rows missing
// and its last row cut in the middle of a number.
TEST(CsvLoader, ATruncatedGzipFileIsAnErrorNotFewerRows) {
  temp_dir dir("csv_cut");
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::to_string(i) + "," + std::to_string(i * 37) + ",1\n";
  const auto whole = dir.write_gz("whole.csv.gz", text);
  EXPECT_EQ(load_csv(whole, csv_options{}).rows, 3000u);
  const auto size = std::filesystem::file_size(whole);
  for (const auto keep : {size / 2, size - 4}) {  // mid-stream; only the trailer missing
    std::filesystem::copy_file(whole, dir.file("cut.csv.gz"),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(dir.file("cut.csv.gz"), keep);
    const auto msg = error_of([&] { load_csv(dir.file("cut.csv.gz"), csv_options{}); });
    EXPECT_TRUE(has(msg, "cut.csv.gz: truncated")) << msg;
  }
}

// UTF-16 text (NUL bytes in every ASCII character) read as bytes: the
// error stopped at the first NUL ("d/u16.csv:2: field 1 ('"). It is named
// as such, and a control byte in a field is shown as \xNN.
TEST(CsvLoader, Utf16TextIsNamedAndControlBytesShown) {
  temp_dir dir("csv_utf16");
  const std::string ascii = "a,b,label\n1,2,0\n";
  std::string utf16 = "\xFF\xFE";
  for (const char c : ascii) utf16 += std::string{c, '\0'};
  auto msg = error_of([&] { load_csv(dir.write("u16.csv", utf16), csv_options{}); });
  EXPECT_TRUE(has(msg, "u16.csv: UTF-16 text (its byte order mark): a data file must be UTF-8"))
      << msg;
  msg = error_of([&] { load_csv(dir.write("nobom.csv", utf16.substr(2)), csv_options{}); });
  EXPECT_TRUE(has(msg, "nobom.csv: NUL bytes in its first line (UTF-16 text?)")) << msg;
  msg = error_of([&] { load_csv(dir.write("q.csv", "1,2,0\n\"3,4,1\n"), csv_options{}); });
  EXPECT_TRUE(has(msg,
                  "q.csv:2: 1 fields, but the first row has 3 (a double quote on it is never "
                  "closed"))
      << msg;
  const std::string nul("1,2,0\n3,x\0y,1\n", 14);
  msg = error_of([&] { load_csv(dir.write("ctl.csv", nul), csv_options{}); });
  EXPECT_TRUE(has(msg, "ctl.csv:2: field 2 ('x\\x00y') is not a finite number")) << msg;
}

// A UTF-8 byte order mark (some editors and Excel write one) is no part of
// the first field: the first row stays a data row, a header keeps its names.
TEST(CsvLoader, AByteOrderMarkIsSkipped) {
  temp_dir dir("csv_bom");
  const auto rows = load_csv(dir.write("b.csv",
                                       "\xEF\xBB\xBF"
                                       "1,2,0\n3,4,1\n"),
                             csv_options{});
  EXPECT_EQ(rows.rows, 2u);
  EXPECT_EQ(rows.features, (std::vector<float>{1, 2, 3, 4}));
  csv_options named;
  named.label_name = "y";
  const auto header = load_csv(dir.write("h.csv",
                                         "\xEF\xBB\xBF"
                                         "y,a\n1,2\n"),
                               named);
  EXPECT_EQ(header.labels, (std::vector<std::int32_t>{1}));
}

// RFC 4180 quoting: a quoted field may hold the delimiter ("a,x" is one
// header name; it split into two and the header then named 5 columns for
// rows of 4).
TEST(CsvLoader, AQuotedFieldMayHoldTheDelimiter) {
  temp_dir dir("csv_quotes");
  csv_options o;
  o.label_name = "label";
  const auto d =
      load_csv(dir.write("q.csv", "\"a,x\", \"b\" ,c,label\n\"1.5\",2,3,0\n4,\"5\",6,1\n"), o);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a,x", "b", "c"}));
  EXPECT_EQ(d.features, (std::vector<float>{1.5f, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 1}));
  const auto tabs = load_csv(dir.write("t.tsv", "\"n\tm\"\tlabel\n7\t1\n"), o);
  EXPECT_EQ(tabs.feature_names, (std::vector<std::string>{"n\tm"}));
  // The delimiter is detected outside quotes, and blanks as delimiters
  // leave a quoted field whole too.
  const auto semi = load_csv(dir.write("s.csv", "\"a,x\";c;label\n1;2;0\n"), o);
  EXPECT_EQ(semi.feature_names, (std::vector<std::string>{"a,x", "c"}));
  EXPECT_EQ(semi.features, (std::vector<float>{1, 2}));
  const auto blanks = load_csv(dir.write("b.txt", "\"a b\"  c label\n1 2 0\n"), o);
  EXPECT_EQ(blanks.feature_names, (std::vector<std::string>{"a b", "c"}));
  // A quote left open runs to the end of its line: one field, an error.
  const auto msg =
      error_of([&] { load_csv(dir.write("open.csv", "1,2,0\n1,\"2,0\n"), csv_options{}); });
  EXPECT_TRUE(has(msg, "open.csv:2: 2 fields, but the first row has 3")) << msg;
}

// Classic Mac OS line ends ("\r" alone) end lines like "\n" and "\r\n" (a
// 300-row file read as one line: "no data rows"), also where a "\r" is the
// last byte the reader has so far.
TEST(CsvLoader, CarriageReturnsAloneEndLines) {
  temp_dir dir("csv_cr");
  const auto d =
      load_csv(dir.write("mac.csv", "a,b,y\r1,2,0\r3,4,1\r\n5,6,2\n7,8,1\r"), csv_options{});
  EXPECT_EQ(d.rows, 4u);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  // 8-byte lines: the reader's 256 KiB chunks end on a "\r"; after a 9-byte
  // first line, on the "\r" of a "\r\n".
  std::string lone, pairs = "9,9,999\r\n";
  for (int i = 0; i < 100000; ++i) {
    lone += "1,2,345\r";
    pairs += "1,2,34\r\n";
  }
  const auto a = load_csv(dir.write("lone.csv", lone), csv_options{});
  EXPECT_EQ(a.rows, 100000u);
  EXPECT_EQ(a.classes, 346);
  const auto b = load_csv(dir.write("pairs.csv", pairs), csv_options{});
  EXPECT_EQ(b.rows, 100001u);
  EXPECT_EQ(std::count(b.labels.begin(), b.labels.end(), 34), 100000);
}

// A message shows a long bad field by its start and length (a 30 MB field
// was echoed in full).
TEST(CsvLoader, AMessageShowsOnlyTheStartOfALongField) {
  temp_dir dir("csv_long");
  const auto msg = error_of([&] {
    load_csv(dir.write("long.csv", "1,2,0\n1," + std::string(100000, 'x') + ",1\n"), csv_options{});
  });
  EXPECT_TRUE(has(msg, "long.csv:2: field 2 ('xxxx")) << msg.substr(0, 200);
  EXPECT_TRUE(has(msg, "... (100000 bytes)")) << msg.substr(0, 200);
  EXPECT_LT(msg.size(), 200u);
}

TEST(CsvLoader, LabelFilesMatchTheRows) {
  temp_dir dir("csv_labels");
  csv_options o;
  o.has_label = false;
  auto d = load_csv(dir.write("x.csv", "1 2\n3 4\n5 6\n"), o);
  EXPECT_EQ(d.cols, 2u);
  load_label_file(dir.write("y.csv", "1.5e2\n7\n-2\n"), true, d);
  EXPECT_EQ(d.targets, (std::vector<float>{150.f, 7.f, -2.f}));
  load_label_file(dir.write("c.csv", "label\n0\n4\n1\n"), false, d);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 4, 1}));
  EXPECT_EQ(d.classes, 5);
  auto msg = error_of([&] { load_label_file(dir.write("short.csv", "1\n2\n"), false, d); });
  EXPECT_TRUE(has(msg, "2 labels for 3 rows")) << msg;
  msg = error_of([&] { load_label_file(dir.write("two.csv", "1,2\n"), false, d); });
  EXPECT_TRUE(has(msg, "two.csv:1: 2 fields")) << msg;
  // A first line that is a number, but no label, is that line's error: it
  // was dropped as a header ("29 labels for 30 rows", or line 3's error).
  msg = error_of([&] { load_label_file(dir.write("neg.csv", "-1\n1\n-1\n"), false, d); });
  EXPECT_TRUE(has(msg, "neg.csv:1: label '-1' is not a class number")) << msg;
  msg = error_of([&] { load_label_file(dir.write("nan.csv", "nan\n1\n2\n"), true, d); });
  EXPECT_TRUE(has(msg, "nan.csv:1: target 'nan' is not a finite number")) << msg;
}

TEST(LibsvmLoader, ReadsSparseRowsInAnyOrder) {
  temp_dir dir("libsvm");
  const auto d = load_libsvm(dir.write("a.svm", "+1 3:0.5 1:2 # comment\n-1 qid:4 7:1\n\n0 \n"));
  EXPECT_EQ(d.rows, 3u);
  EXPECT_EQ(d.features, 8u);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1, 0, 0}));
  EXPECT_EQ(d.cols, (std::vector<std::uint32_t>{1, 3, 7}));
  EXPECT_EQ(d.values, (std::vector<float>{2, 0.5f, 1}));
  EXPECT_EQ(d.row_nnz(2), 0u);
  EXPECT_TRUE(validate(d).ok());
}

TEST(LibsvmLoader, MalformedLinesAreErrors) {
  temp_dir dir("libsvm_bad");
  auto msg = error_of([&] { load_libsvm(dir.write("a", "1 2:1\n1 3\n")); });
  EXPECT_TRUE(has(msg, "a:2: '3' is not an index:value pair")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("big", "1 4294967296:1\n")); });
  EXPECT_TRUE(has(msg, "big:1: feature index in '4294967296:1' is beyond the largest one")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("huge", "1 99999999999999999999:1\n")); });
  EXPECT_TRUE(has(msg, "is beyond the largest one (4294967294)")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("b", "1 2:1 2:3\n")); });
  EXPECT_TRUE(has(msg, "b:1: an index appears twice")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("c", "1 2:nan\n")); });
  EXPECT_TRUE(has(msg, "c:1: value of '2:nan' is not a finite number")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("d", "0.5 2:1\n")); });
  EXPECT_TRUE(has(msg, "d:1: label '0.5'")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("e", "1 -2:1\n")); });
  EXPECT_TRUE(has(msg, "e:1:")) << msg;
  msg = error_of([&] { load_libsvm(dir.write("f", "# only a comment\n")); });
  EXPECT_TRUE(has(msg, "no data rows")) << msg;
}

TEST(IdxLoader, ReadsAnyShapeAndLabels) {
  temp_dir dir("idx");
  const auto x = dir.write_bytes(
      "x.idx", testing_files::idx_ubyte({3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}));
  auto d = load_idx_features(x);
  EXPECT_EQ(d.rows, 3u);
  EXPECT_EQ(d.cols, 4u);
  EXPECT_EQ(d.features.back(), 255.f);  // as stored: normalising is the job's choice
  const auto y = dir.write_bytes("y.idx", testing_files::idx_ubyte({3}, {2, 0, 25}));
  load_label_file(y, false, d);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{2, 0, 25}));
  EXPECT_EQ(d.classes, 26);
}

TEST(IdxLoader, MalformedFilesAreErrors) {
  temp_dir dir("idx_bad");
  auto msg = error_of([&] {
    load_idx_features(dir.write_bytes("t", testing_files::idx_ubyte({3, 2}, {1, 2, 3})));
  });
  EXPECT_TRUE(has(msg, "is truncated")) << msg;
  msg = error_of([&] {
    load_idx_features(dir.write_bytes("l", testing_files::idx_ubyte({1, 2}, {1, 2, 3})));
  });
  EXPECT_TRUE(has(msg, "trailing bytes")) << msg;
  msg = error_of([&] { load_idx_features(dir.write("m", "not idx at all")); });
  EXPECT_TRUE(has(msg, "not an idx file")) << msg;
  // A header claiming four billion rows fails at the truncation, not in an allocation.
  msg = error_of([&] {
    load_idx_features(dir.write_bytes("huge", testing_files::idx_ubyte({0xffffffffu, 1000}, {1})));
  });
  EXPECT_TRUE(has(msg, "is truncated")) << msg;
  // Dimensions whose product wraps around (to 0 here) are refused by the
  // header, not read as an empty row that a later copy sizes by them.
  msg = error_of([&] {
    load_idx_features(
        dir.write_bytes("wrap", testing_files::idx_ubyte({8, 0x80000000u, 0x40000000u}, {})));
  });
  EXPECT_TRUE(has(msg, "more than can be addressed")) << msg;
  msg = error_of([&] {
    load_idx_features(dir.write_bytes("wide", testing_files::idx_ubyte({1, 0x10000, 0x10000}, {})));
  });
  EXPECT_TRUE(has(msg, "wider than a model input can be")) << msg;
  dataset two;
  two.rows = 2;
  msg = error_of([&] {
    load_idx_labels(dir.write_bytes("y", testing_files::idx_ubyte({3}, {0, 1, 2})), false, two);
  });
  EXPECT_TRUE(has(msg, "3 labels for 2 rows")) << msg;
}

TEST(NpyLoader, ReadsFloatFeaturesAndIntegerLabels) {
  temp_dir dir("npy");
  const float x[6] = {1, 2, 3, 4, 5, 6.5f};
  const auto xp = dir.write_bytes("x.npy", testing_files::npy("<f4", "(3, 2)", x, sizeof x));
  auto d = load_npy_features(xp);
  EXPECT_EQ(d.rows, 3u);
  EXPECT_EQ(d.cols, 2u);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  const std::int64_t y[3] = {1, 0, 7};
  load_npy_labels(dir.write_bytes("y.npy", testing_files::npy("<i8", "(3,)", y, sizeof y)), false,
                  d);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1, 0, 7}));
  EXPECT_EQ(d.classes, 8);
  const double t[3] = {0.5, -1, 2};
  load_npy_labels(dir.write_bytes("t.npy", testing_files::npy("<f8", "(3, 1)", t, sizeof t)), true,
                  d);
  EXPECT_EQ(d.targets, (std::vector<float>{0.5f, -1, 2}));
}

TEST(NpyLoader, MalformedFilesAreErrors) {
  temp_dir dir("npy_bad");
  const float x[4] = {1, 2, 3, NAN};
  auto msg = error_of([&] {
    load_npy_features(dir.write_bytes("nan.npy", testing_files::npy("<f4", "(2, 2)", x, sizeof x)));
  });
  EXPECT_TRUE(has(msg, "nan.npy: row 2 holds a value that is not a finite number")) << msg;
  // A double beyond a float's range became inf, and the job failed on a
  // "non-finite gradient" blamed on the learning rate.
  const double big[4] = {1, 2, 1e300, 4};
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("big.npy", testing_files::npy("<f8", "(2, 2)", big, 32)));
  });
  EXPECT_TRUE(has(msg,
                  "big.npy: row 2 holds a value that is not a finite number within a "
                  "float's range"))
      << msg;
  auto two =
      load_npy_features(dir.write_bytes("ok.npy", testing_files::npy("<f8", "(2, 1)", big, 16)));
  msg = error_of([&] {
    load_npy_labels(dir.write_bytes("bigt.npy", testing_files::npy("<f8", "(2,)", big + 1, 16)),
                    true, two);
  });
  EXPECT_TRUE(has(msg,
                  "bigt.npy: row 2 has target 1e+300, which is not a finite number within a "
                  "float's range"))
      << msg;
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("f.npy", testing_files::npy("<f4", "(2, 2)", x, 16, true)));
  });
  EXPECT_TRUE(has(msg, "Fortran order")) << msg;
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("s.npy", testing_files::npy("<f4", "(3, 2)", x, sizeof x)));
  });
  EXPECT_TRUE(has(msg, "data bytes, shape needs 6 values of 4 bytes")) << msg;
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("c.npy", testing_files::npy("<c8", "(1, 2)", x, 16)));
  });
  EXPECT_TRUE(has(msg, "dtype <c8 is not supported")) << msg;
  // Python objects ('|O', pickled): their dtype, not the raw header (it
  // was "malformed header '{'descr': '|O', ...", padding included).
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("o.npy", testing_files::npy("|O", "(1, 2)", x, 16)));
  });
  EXPECT_TRUE(has(msg, "dtype |O is not supported")) << msg;
  msg = error_of([&] { load_npy_features(dir.write("e.npy", "")); });
  EXPECT_TRUE(has(msg, "empty")) << msg;
  msg = error_of([&] { load_npy_features(dir.write("g.npy", "garbage garbage")); });
  EXPECT_TRUE(has(msg, "not an .npy file")) << msg;
  msg = error_of([&] { load_npy_features(dir.write_gz("z.npy.gz", "\x93NUMPY and the rest")); });
  EXPECT_TRUE(has(msg, "z.npy.gz: gzip-compressed: .npy files are memory-mapped")) << msg;
  dataset d;
  d.rows = 2;
  const float bad[2] = {0.5f, 1};
  msg = error_of([&] {
    load_npy_labels(dir.write_bytes("l.npy", testing_files::npy("<f4", "(2,)", bad, sizeof bad)),
                    false, d);
  });
  EXPECT_TRUE(has(msg, "l.npy: row 1 has label 0.5, which is not a class number")) << msg;
  // 2^31 - 1 would make 2^31 classes: no int.
  const std::int64_t top[2] = {0, 2147483647};
  msg = error_of([&] {
    load_npy_labels(dir.write_bytes("top.npy", testing_files::npy("<i8", "(2,)", top, sizeof top)),
                    false, d);
  });
  EXPECT_TRUE(has(msg, "row 2 has label 2147483647, which is not a class number")) << msg;
  // A shape whose product wraps around to the 8 values the file holds.
  const float eight[8] = {};
  msg = error_of([&] {
    load_npy_features(dir.write_bytes(
        "wrap.npy", testing_files::npy("<f4", "(8, 2305843009213693953)", eight, sizeof eight)));
  });
  EXPECT_TRUE(has(msg, "more than can be addressed")) << msg;
  msg = error_of([&] {
    load_npy_features(dir.write_bytes("neg.npy", testing_files::npy("<f4", "(-1, 2)", x, 8)));
  });
  EXPECT_TRUE(has(msg, "malformed shape (-1, 2)")) << msg;
}

// This process's open descriptors.
std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A node daemon refuses job after job with bad files; each refusal used to
// leave the file open (the loader threw from a constructor after open()),
// until the daemon could not accept connections any more.
TEST(NpyLoader, RefusedFilesLeaveNoDescriptorOpen) {
  temp_dir dir("npy_fds");
  const auto empty = dir.write("e.npy", "");
  const auto garbage = dir.write("g.npy", "garbage garbage");
  const auto before = open_descriptors();
  for (int i = 0; i < 20; ++i) {
    error_of([&] { load_npy_features(empty); });
    error_of([&] { load_npy_features(garbage); });
  }
  EXPECT_EQ(open_descriptors(), before);
}

TEST(RatingsCsv, NamedColumnsAndErrors) {
  temp_dir dir("ratings");
  ratings_csv_options o;
  o.user_column = "u";
  o.item_column = "i";
  o.rating_column = "r";
  const auto d = load_ratings_csv(dir.write("r.csv", "ts,r,i,u\n9,4.5,10,1\n9,3,11,2\n"), o);
  EXPECT_EQ(d.users, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(d.items, (std::vector<std::uint64_t>{10, 11}));
  EXPECT_EQ(d.ratings, (std::vector<float>{4.5f, 3}));
  auto msg = error_of([&] { load_ratings_csv(dir.write("m.csv", "a,b,c\n1,2,3\n"), o); },
                      errc::bad_config);
  EXPECT_TRUE(has(msg, "no column 'u' (data.user_column)")) << msg;
  msg = error_of([&] { load_ratings_csv(dir.write("x.csv", "u,i,r\n1,2,3\nab,2,3\n"), o); });
  EXPECT_TRUE(has(msg, "x.csv:3: user id 'ab'")) << msg;
  msg = error_of([&] { load_ratings_csv(dir.write("n.csv", "u,i,r\n1,2,nan\n"), o); });
  EXPECT_TRUE(has(msg, "n.csv:2: rating 'nan'")) << msg;
  msg = error_of([&] { load_ratings_csv(dir.write("c.csv", "u,i,r\n1,2\n"), o); });
  EXPECT_TRUE(has(msg, "c.csv:2")) << msg;
  msg = error_of([&] { load_ratings_csv(dir.write("e.csv", "u,i,r\n"), o); });
  EXPECT_TRUE(has(msg, "no ratings")) << msg;
  // Without a header, columns are given by index.
  ratings_csv_options idx;
  idx.user_column = "0";
  idx.item_column = "1";
  idx.rating_column = "2";
  EXPECT_EQ(load_ratings_csv(dir.write("i.csv", "5,6,1.5\n"), idx).users[0], 5u);
}

}  // namespace
}  // namespace troupe

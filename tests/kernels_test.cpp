// Checks every backend kernel against a naive double-precision reference, on
// each backend this machine can run (CUDA tests skip, with the reason, when
// there is no GPU or no CUDA build).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/backend.hpp"

namespace troupe::kernels {

// Found by ADL, so test names and ctest listings read "cpu"/"cuda".
void PrintTo(backend_kind kind, std::ostream* os) {
  *os << (kind == backend_kind::cpu ? "cpu" : kind == backend_kind::cuda ? "cuda" : "auto");
}

namespace {

std::vector<float> random_floats(std::size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Row-major, like the backend; leaves C's padding columns alone.
void reference_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const std::vector<float>& a,
                    int lda, const std::vector<float>& b, int ldb, float beta,
                    std::vector<float>& c, int ldc) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      float& out = c[i * ldc + j];
      out = static_cast<float>(beta == 0.f ? alpha * acc : alpha * acc + beta * double(out));
    }
  }
}

struct xent_reference {
  double loss_sum = 0;
  int correct = 0;
  std::vector<float> grad;
};

xent_reference reference_xent(int rows, int classes, const std::vector<float>& logits,
                              const std::vector<std::int32_t>& labels) {
  xent_reference ref;
  ref.grad.resize(logits.size());
  for (int r = 0; r < rows; ++r) {
    const float* x = &logits[r * classes];
    int arg = 0;
    for (int c = 1; c < classes; ++c) arg = x[c] > x[arg] ? c : arg;
    const double max = x[arg];
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(double(x[c]) - max);
    ref.loss_sum += std::log(sum) - (double(x[labels[r]]) - max);
    ref.correct += arg == labels[r] ? 1 : 0;
    for (int c = 0; c < classes; ++c) {
      const double p = std::exp(double(x[c]) - max) / sum;
      ref.grad[r * classes + c] = static_cast<float>((p - (c == labels[r] ? 1 : 0)) / rows);
    }
  }
  return ref;
}

std::string kind_name(backend_kind kind) {
  return kind == backend_kind::cpu ? "cpu" : "cuda";
}

class KernelsTest : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    if (GetParam() == backend_kind::cuda && !cuda_available()) {
      std::string reason = "unknown";
      try {
        make_backend(backend_kind::cuda);
      } catch (const std::exception& e) {
        reason = e.what();
      }
      GTEST_SKIP() << "no CUDA device: " << reason;
    }
    backend_ = make_backend(GetParam());
  }

  device_array to_device(const std::vector<float>& host) {
    auto d = backend_->alloc(host.size());
    backend_->upload(host.data(), host.size(), d.data());
    return d;
  }
  std::vector<float> to_host(const device_array& d) {
    std::vector<float> host(d.size());
    backend_->download(d.data(), d.size(), host.data());
    return host;
  }

  std::mt19937 rng_{20240611};
  std::unique_ptr<backend> backend_;
};

TEST_P(KernelsTest, NameSaysWhichBackend) {
  const std::string name = backend_->name();
  if (GetParam() == backend_kind::cpu) {
    EXPECT_EQ(name, "cpu");
  } else {
    EXPECT_EQ(name.rfind("cuda:", 0), 0u) << name;
  }
}

TEST_P(KernelsTest, AllocZeroFillsAndAligns) {
  EXPECT_TRUE(backend_->alloc(0).empty());
  for (std::size_t n : {1u, 17u, 4099u}) {
    // Dirty a block first so a recycled allocation would show stale data.
    to_device(std::vector<float>(n, 3.f));
    const auto d = backend_->alloc(n);
    ASSERT_EQ(d.size(), n);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(d.data()) % 64, 0u);
    EXPECT_EQ(to_host(d), std::vector<float>(n, 0.f));
  }
}

TEST_P(KernelsTest, DeviceArrayMovesOwnership) {
  auto a = to_device({1.f, 2.f, 3.f});
  const float* ptr = a.data();
  device_array b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.data(), ptr);
  device_array c = to_device({9.f});
  c = std::move(b);  // releases c's old array
  EXPECT_EQ(to_host(c), (std::vector<float>{1.f, 2.f, 3.f}));
}

TEST_P(KernelsTest, UploadDownloadFillZeroRoundTrip) {
  const auto host = random_floats(1001, rng_);
  auto d = to_device(host);
  EXPECT_EQ(to_host(d), host);
  backend_->fill_zero(d.data() + 10, 100);
  auto expected = host;
  std::fill(expected.begin() + 10, expected.begin() + 110, 0.f);
  EXPECT_EQ(to_host(d), expected);
}

// Uploads return before the device has the data (staged in pinned memory on
// CUDA): the host buffer must be reusable at once, also when more is uploaded
// than the staging holds, so that it is reused from its start.
TEST_P(KernelsTest, UploadSourceIsReusableAtOnceBeyondStagingCapacity) {
  constexpr std::size_t n = 300'000;  // 1.2 MB; 40 of them exceed 4 MiB staging several times
  std::vector<device_array> arrays;
  std::vector<float> host(n);
  for (int i = 0; i < 40; ++i) {
    std::fill(host.begin(), host.end(), static_cast<float>(i));
    arrays.push_back(backend_->alloc(n));
    backend_->upload(host.data(), n, arrays.back().data());
  }
  std::fill(host.begin(), host.end(), -1.f);
  for (int i = 0; i < 40; ++i) {
    const auto got = to_host(arrays[i]);
    ASSERT_EQ(got.front(), static_cast<float>(i));
    ASSERT_EQ(got.back(), static_cast<float>(i));
    ASSERT_EQ(std::count(got.begin(), got.end(), static_cast<float>(i)),
              static_cast<std::ptrdiff_t>(n))
        << "array " << i;
  }
}

// A queued download sees every kernel queued before it (on CUDA it runs on
// its own stream, behind an event: a long GEMM first, so that a copy that
// did not wait would read the zeros), lands only by finish_downloads, and
// kernels queued after it run meanwhile.
TEST_P(KernelsTest, DownloadAsyncSeesEarlierKernelsAndLandsAtFinish) {
  const bool gpu = GetParam() == backend_kind::cuda;
  const int m = gpu ? 4096 : 48;  // ~0.14 TFLOP on a GPU: milliseconds
  const std::vector<float> ones(static_cast<std::size_t>(m) * m, 1.f);
  auto a = to_device(ones), b = to_device(ones);
  auto c = backend_->alloc(ones.size());
  backend_->gemm(false, false, m, m, m, 1.f, a.data(), m, b.data(), m, 0.f, c.data(), m);
  std::vector<float> got_c(ones.size(), NAN);
  backend_->download_async(c.data(), got_c.size(), got_c.data());

  const auto x = random_floats(5000, rng_);
  const auto y = random_floats(5000, rng_);
  auto dx = to_device(x), dy = to_device(y), dz = to_device(y);
  backend_->axpy(x.size(), 2.f, dx.data(), dy.data());  // y += 2x, then download y
  std::vector<float> got_y(y.size(), NAN), got_head(100, NAN);
  backend_->download_async(dy.data(), y.size(), got_y.data());
  backend_->download_async(dx.data(), got_head.size(), got_head.data());
  backend_->axpy(x.size(), 1.f, dx.data(), dz.data());  // later work, another array
  if (gpu) {
    // Staged, not yet in the destination.
    EXPECT_TRUE(std::isnan(got_y.front()));
    EXPECT_TRUE(std::isnan(got_c.back()));
  }
  backend_->finish_downloads();
  ASSERT_EQ(std::count(got_c.begin(), got_c.end(), static_cast<float>(m)),
            static_cast<std::ptrdiff_t>(got_c.size()));
  for (std::size_t i = 0; i < y.size(); ++i) {
    ASSERT_NEAR(got_y[i], y[i] + 2.f * x[i], 1e-5f) << "at " << i;
  }
  for (std::size_t i = 0; i < got_head.size(); ++i) ASSERT_EQ(got_head[i], x[i]);
  const auto z = to_host(dz);
  for (std::size_t i = 0; i < z.size(); ++i) ASSERT_NEAR(z[i], y[i] + x[i], 1e-5f);
  backend_->finish_downloads();  // nothing pending: a no-op
}

// Requests larger than what the staging held so far make it grow while
// copies out of (or into) the outgrown region may still be in flight.
TEST_P(KernelsTest, StagingGrowsWhileEarlierCopiesAreInFlight) {
  const std::size_t sizes[] = {300'000, 1'500'000, 3'000'000, 200'000};
  std::vector<device_array> arrays;
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    const std::vector<float> host(sizes[i], static_cast<float>(i + 1));
    arrays.push_back(backend_->alloc(sizes[i]));
    backend_->upload(host.data(), sizes[i], arrays.back().data());
  }
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    out.emplace_back(sizes[i], 0.f);
    backend_->download_async(arrays[i].data(), sizes[i], out.back().data());
  }
  backend_->finish_downloads();
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    ASSERT_EQ(std::count(out[i].begin(), out[i].end(), static_cast<float>(i + 1)),
              static_cast<std::ptrdiff_t>(sizes[i]))
        << "array " << i;
  }
}

// More queued downloads than the staging holds: the full staging is emptied
// into its destinations first, and every destination ends up right.
TEST_P(KernelsTest, ManyAsyncDownloadsBeyondStagingCapacity) {
  constexpr std::size_t n = 700'000;  // 2.8 MB each, 12 of them
  std::vector<device_array> arrays;
  std::vector<float> host(n);
  for (int i = 0; i < 12; ++i) {
    std::fill(host.begin(), host.end(), static_cast<float>(i + 1));
    arrays.push_back(backend_->alloc(n));
    backend_->upload(host.data(), n, arrays.back().data());
  }
  std::vector<std::vector<float>> out(12, std::vector<float>(n, 0.f));
  for (int i = 0; i < 12; ++i) backend_->download_async(arrays[i].data(), n, out[i].data());
  backend_->finish_downloads();
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(std::count(out[i].begin(), out[i].end(), static_cast<float>(i + 1)),
              static_cast<std::ptrdiff_t>(n))
        << "array " << i;
  }
}

TEST_P(KernelsTest, GemmMatchesReferenceForAllTransposes) {
  struct shape {
    int m, n, k;
  };
  for (const shape s : {shape{5, 7, 9}, shape{67, 45, 33}, shape{1, 130, 3}}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        SCOPED_TRACE("m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                     " k=" + std::to_string(s.k) + " ta=" + std::to_string(ta) +
                     " tb=" + std::to_string(tb));
        // Stored shapes, with padded row strides so a mixed-up ld shows.
        const int a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k, lda = a_cols + 3;
        const int b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n, ldb = b_cols + 2;
        const int ldc = s.n + 5;
        const auto a = random_floats(std::size_t(a_rows) * lda, rng_);
        const auto b = random_floats(std::size_t(b_rows) * ldb, rng_);
        auto c = random_floats(std::size_t(s.m) * ldc, rng_);
        auto da = to_device(a), db = to_device(b), dc = to_device(c);
        backend_->gemm(ta, tb, s.m, s.n, s.k, 0.75f, da.data(), lda, db.data(), ldb, -0.5f,
                       dc.data(), ldc);
        reference_gemm(ta, tb, s.m, s.n, s.k, 0.75f, a, lda, b, ldb, -0.5f, c, ldc);
        const auto got = to_host(dc);
        for (std::size_t i = 0; i < c.size(); ++i) {
          ASSERT_NEAR(got[i], c[i], 1e-4f * (1.f + std::fabs(c[i]))) << "at " << i;
        }
      }
    }
  }
}

TEST_P(KernelsTest, GemmWithBetaZeroIgnoresNaNInC) {
  const int m = 6, n = 5, k = 4;
  const auto a = random_floats(m * k, rng_), b = random_floats(k * n, rng_);
  std::vector<float> c(m * n, std::numeric_limits<float>::quiet_NaN());
  auto da = to_device(a), db = to_device(b), dc = to_device(c);
  backend_->gemm(false, false, m, n, k, 1.f, da.data(), k, db.data(), n, 0.f, dc.data(), n);
  reference_gemm(false, false, m, n, k, 1.f, a, k, b, n, 0.f, c, n);
  const auto got = to_host(dc);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(got[i], c[i], 1e-5f) << "at " << i;
}

TEST_P(KernelsTest, AddBiasAddsPerColumn) {
  const int rows = 13, cols = 37;
  auto x = random_floats(rows * cols, rng_);
  const auto bias = random_floats(cols, rng_);
  auto dx = to_device(x), dbias = to_device(bias);
  backend_->add_bias(rows, cols, dbias.data(), dx.data());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) x[r * cols + c] += bias[c];
  }
  EXPECT_EQ(to_host(dx), x);
}

TEST_P(KernelsTest, BiasGradSumsColumnsWithBeta) {
  struct shape {
    int rows, cols;
  };
  for (const shape s : {shape{300, 10}, shape{3, 100}, shape{1, 1}, shape{1000, 33}}) {
    for (const float beta : {0.f, 1.f, 0.5f}) {
      SCOPED_TRACE("rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                   " beta=" + std::to_string(beta));
      const auto dy = random_floats(std::size_t(s.rows) * s.cols, rng_);
      // With beta 0 the old gradient must not be read, not even a NaN.
      auto db = beta == 0.f ? std::vector<float>(s.cols, std::numeric_limits<float>::quiet_NaN())
                            : random_floats(s.cols, rng_);
      auto ddy = to_device(dy), ddb = to_device(db);
      backend_->bias_grad(s.rows, s.cols, ddy.data(), beta, ddb.data());
      const auto got = to_host(ddb);
      for (int c = 0; c < s.cols; ++c) {
        double want = beta == 0.f ? 0.0 : double(beta) * db[c];
        for (int r = 0; r < s.rows; ++r) want += dy[r * s.cols + c];
        EXPECT_NEAR(got[c], want, 1e-3) << "column " << c;
      }
    }
  }
}

TEST_P(KernelsTest, ReluForwardAndBackwardIncludingAliasing) {
  auto x = random_floats(2053, rng_);
  x[0] = 0.f;
  x[1] = -0.f;
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;

  auto dx = to_device(x);
  auto dy_out = backend_->alloc(x.size());
  backend_->relu_forward(x.size(), dx.data(), dy_out.data());
  EXPECT_EQ(to_host(dy_out), y);
  backend_->relu_forward(x.size(), dx.data(), dx.data());  // in place
  EXPECT_EQ(to_host(dx), y);

  const auto grad = random_floats(x.size(), rng_);
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = y[i] > 0.f ? grad[i] : 0.f;
  auto dgrad = to_device(grad);
  auto dresult = backend_->alloc(x.size());
  backend_->relu_backward(x.size(), dy_out.data(), dgrad.data(), dresult.data());
  EXPECT_EQ(to_host(dresult), want);
  backend_->relu_backward(x.size(), dy_out.data(), dgrad.data(), dgrad.data());  // in place
  EXPECT_EQ(to_host(dgrad), want);
}

TEST_P(KernelsTest, SoftmaxXentMatchesReference) {
  struct scenario {
    int rows, classes;
    float scale, offset;
  };
  // Narrow and wide heads; offsets of +-1e4 overflow a naive exp() in float.
  for (const scenario s :
       {scenario{17, 10, 3.f, 0.f}, scenario{4, 1000, 5.f, 0.f}, scenario{8, 10, 3.f, 1e4f},
        scenario{9, 3, 20.f, -1e4f}, scenario{300, 1, 1.f, 0.f}}) {
    SCOPED_TRACE("rows=" + std::to_string(s.rows) + " classes=" + std::to_string(s.classes) +
                 " offset=" + std::to_string(s.offset));
    auto logits = random_floats(std::size_t(s.rows) * s.classes, rng_, s.scale);
    for (auto& v : logits) v += s.offset;
    // Even rows are labelled with their arg-max, so `correct` is non-trivial.
    std::vector<std::int32_t> labels(s.rows);
    std::uniform_int_distribution<int> pick(0, s.classes - 1);
    for (int r = 0; r < s.rows; ++r) {
      const auto row = logits.begin() + r * s.classes;
      labels[r] = r % 2 == 0 ? int(std::max_element(row, row + s.classes) - row) : pick(rng_);
    }
    const auto ref = reference_xent(s.rows, s.classes, logits, labels);

    auto dlogits = to_device(logits);
    auto dgrad = backend_->alloc(logits.size());
    const auto got =
        backend_->softmax_xent(s.rows, s.classes, dlogits.data(), labels.data(), dgrad.data());
    EXPECT_TRUE(std::isfinite(got.loss_sum));
    EXPECT_NEAR(got.loss_sum, ref.loss_sum, 1e-4 * (s.rows + std::fabs(ref.loss_sum)));
    EXPECT_EQ(got.correct, ref.correct);
    const auto grad = to_host(dgrad);
    for (std::size_t i = 0; i < grad.size(); ++i) {
      ASSERT_NEAR(grad[i], ref.grad[i], 1e-6f) << "at " << i;
    }

    const auto no_grad =
        backend_->softmax_xent(s.rows, s.classes, dlogits.data(), labels.data(), nullptr);
    EXPECT_NEAR(no_grad.loss_sum, got.loss_sum, 1e-9 * (1 + std::fabs(got.loss_sum)));
    EXPECT_EQ(no_grad.correct, got.correct);

    // The gradient may overwrite the logits it is computed from.
    const auto in_place =
        backend_->softmax_xent(s.rows, s.classes, dlogits.data(), labels.data(), dlogits.data());
    EXPECT_NEAR(in_place.loss_sum, got.loss_sum, 1e-9 * (1 + std::fabs(got.loss_sum)));
    EXPECT_EQ(to_host(dlogits), grad);
  }
}

TEST_P(KernelsTest, SoftmaxXentRejectsOutOfRangeLabels) {
  auto logits = to_device(random_floats(2 * 10, rng_));
  for (const std::int32_t bad : {10, -1}) {
    const std::vector<std::int32_t> labels{0, bad};
    EXPECT_THROW(backend_->softmax_xent(2, 10, logits.data(), labels.data(), nullptr),
                 std::out_of_range);
  }
}

TEST_P(KernelsTest, TanhAndSigmoidForwardAndBackwardIncludingAliasing) {
  const auto x = random_floats(1031, rng_, 6.f);
  const auto grad = random_floats(x.size(), rng_);
  for (const bool is_tanh : {true, false}) {
    SCOPED_TRACE(is_tanh ? "tanh" : "sigmoid");
    std::vector<double> y(x.size()), want_dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      y[i] = is_tanh ? std::tanh(double(x[i])) : 1.0 / (1.0 + std::exp(-double(x[i])));
    }
    auto dx = to_device(x);
    auto dy = backend_->alloc(x.size());
    auto forward = [&](const float* in, float* out) {
      is_tanh ? backend_->tanh_forward(x.size(), in, out)
              : backend_->sigmoid_forward(x.size(), in, out);
    };
    forward(dx.data(), dy.data());
    const auto got_y = to_host(dy);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got_y[i], y[i], 2e-6) << "at " << i;
    forward(dx.data(), dx.data());  // in place
    EXPECT_EQ(to_host(dx), got_y);

    for (std::size_t i = 0; i < x.size(); ++i) {
      const double yi = got_y[i];
      want_dx[i] = grad[i] * (is_tanh ? 1.0 - yi * yi : yi * (1.0 - yi));
    }
    auto dgrad = to_device(grad);
    auto dresult = backend_->alloc(x.size());
    auto backward = [&](float* out) {
      is_tanh ? backend_->tanh_backward(x.size(), dy.data(), dgrad.data(), out)
              : backend_->sigmoid_backward(x.size(), dy.data(), dgrad.data(), out);
    };
    backward(dresult.data());
    const auto got_dx = to_host(dresult);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got_dx[i], want_dx[i], 1e-6) << i;
    backward(dgrad.data());  // in place
    EXPECT_EQ(to_host(dgrad), got_dx);
  }
}

TEST_P(KernelsTest, LogisticXentMatchesReference) {
  for (const float offset : {0.f, 60.f, -60.f}) {  // +-60: exp() overflows a naive float loss
    SCOPED_TRACE("offset=" + std::to_string(offset));
    const int rows = 333;
    auto logits = random_floats(rows, rng_, 4.f);
    for (auto& z : logits) z += offset;
    std::vector<std::int32_t> labels(rows);
    for (int r = 0; r < rows; ++r) labels[r] = (r * 7 + 3) % 5 < 2 ? 1 : 0;
    double loss = 0;
    int correct = 0;
    std::vector<float> want(rows);
    for (int r = 0; r < rows; ++r) {
      const double z = logits[r], y = labels[r];
      const double t = y == 1 ? -z : z;
      loss += t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
      correct += (z >= 0) == (y == 1) ? 1 : 0;
      want[r] = static_cast<float>((1.0 / (1.0 + std::exp(-z)) - y) / rows);
    }
    auto dlogits = to_device(logits);
    auto dgrad = backend_->alloc(rows);
    const auto got = backend_->logistic_xent(rows, dlogits.data(), labels.data(), dgrad.data());
    EXPECT_NEAR(got.loss_sum, loss, 1e-4 * (rows + loss));
    EXPECT_EQ(got.correct, correct);
    const auto grad = to_host(dgrad);
    for (int r = 0; r < rows; ++r) ASSERT_NEAR(grad[r], want[r], 1e-7f) << "row " << r;
    const auto in_place =
        backend_->logistic_xent(rows, dlogits.data(), labels.data(), dlogits.data());
    EXPECT_NEAR(in_place.loss_sum, got.loss_sum, 1e-9 * (1 + got.loss_sum));
    EXPECT_EQ(to_host(dlogits), grad);
  }
  auto two = to_device({0.f, 0.f});
  for (const std::int32_t bad : {2, -1}) {
    const std::vector<std::int32_t> labels{0, bad};
    try {
      backend_->logistic_xent(2, two.data(), labels.data(), nullptr);
      ADD_FAILURE() << "label " << bad << " accepted";
    } catch (const std::out_of_range& e) {
      // The message names the loss that refused the label, and the label.
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("logistic_xent: label " + std::to_string(bad) + " of row 1", 0), 0u)
          << what;
    }
  }
}

TEST_P(KernelsTest, SquaredErrorMatchesReference) {
  const int rows = 257, cols = 3;
  const auto outputs = random_floats(rows * cols, rng_, 5.f);
  const auto targets = random_floats(rows * cols, rng_, 5.f);
  double sq = 0, abs_err = 0;
  std::vector<float> want(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const double e = double(outputs[i]) - targets[i];
    sq += e * e;
    abs_err += std::fabs(e);
    want[i] = static_cast<float>(2 * e / rows);
  }
  auto dout = to_device(outputs);
  auto dgrad = backend_->alloc(outputs.size());
  const auto got = backend_->squared_error(rows, cols, dout.data(), targets.data(), dgrad.data());
  EXPECT_NEAR(got.loss_sum, sq, 1e-5 * sq);
  EXPECT_NEAR(got.abs_err_sum, abs_err, 1e-5 * abs_err);
  EXPECT_EQ(got.correct, 0);
  const auto grad = to_host(dgrad);
  for (std::size_t i = 0; i < grad.size(); ++i) ASSERT_NEAR(grad[i], want[i], 1e-6f) << i;
  const auto none = backend_->squared_error(rows, cols, dout.data(), targets.data(), nullptr);
  EXPECT_NEAR(none.loss_sum, got.loss_sum, 1e-9 * got.loss_sum);
  const auto zero = backend_->squared_error(0, cols, nullptr, nullptr, nullptr);
  EXPECT_EQ(zero.loss_sum, 0.0);
}

TEST_P(KernelsTest, AxpyAddsScaledVector) {
  const auto x = random_floats(1001, rng_);
  auto y = random_floats(1001, rng_);
  auto dx = to_device(x), dy = to_device(y);
  backend_->axpy(x.size(), -0.5f, dx.data(), dy.data());
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += -0.5f * x[i];
  const auto got = to_host(dy);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(got[i], y[i], 1e-6f) << "at " << i;
}

TEST_P(KernelsTest, EmptyInputsAreNoOps) {
  backend_->gemm(false, false, 0, 5, 3, 1.f, nullptr, 3, nullptr, 5, 0.f, nullptr, 5);
  backend_->gemm(true, true, 4, 0, 3, 1.f, nullptr, 4, nullptr, 3, 0.f, nullptr, 1);
  backend_->add_bias(0, 5, nullptr, nullptr);
  backend_->relu_forward(0, nullptr, nullptr);
  backend_->relu_backward(0, nullptr, nullptr, nullptr);
  backend_->axpy(0, 1.f, nullptr, nullptr);
  backend_->fill_zero(nullptr, 0);
  backend_->upload(nullptr, 0, nullptr);
  backend_->download(nullptr, 0, nullptr);
  backend_->download_async(nullptr, 0, nullptr);
  backend_->finish_downloads();
  const auto r = backend_->softmax_xent(0, 10, nullptr, nullptr, nullptr);
  EXPECT_EQ(r.loss_sum, 0.0);
  EXPECT_EQ(r.correct, 0);
  // Zero rows still apply beta: the sum over no rows is 0.
  auto db = to_device({7.f, 7.f});
  backend_->bias_grad(0, 2, nullptr, 0.f, db.data());
  EXPECT_EQ(to_host(db), (std::vector<float>{0.f, 0.f}));
  backend_->synchronize();
}

INSTANTIATE_TEST_SUITE_P(Backends, KernelsTest,
                         ::testing::Values(backend_kind::cpu, backend_kind::cuda),
                         [](const auto& info) { return kind_name(info.param); });

TEST(BackendKind, ParsesTheThreeNames) {
  EXPECT_EQ(parse_backend_kind("cpu"), backend_kind::cpu);
  EXPECT_EQ(parse_backend_kind("cuda"), backend_kind::cuda);
  EXPECT_EQ(parse_backend_kind("auto"), backend_kind::automatic);
}

TEST(BackendKind, RejectsOtherNamesSayingWhatIsAccepted) {
  for (const std::string bad : {"gpu", "", "CPU", "automatic"}) {
    try {
      parse_backend_kind(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("\"" + bad + "\""), std::string::npos) << what;
      EXPECT_NE(what.find("cpu, cuda or auto"), std::string::npos) << what;
    }
  }
}

TEST(MakeBackend, CudaWithoutGpuThrowsSayingWhy) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  try {
    make_backend(backend_kind::cuda);
    ADD_FAILURE() << "make_backend(cuda) succeeded without a GPU";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("built without CUDA") != std::string::npos ||
                what.find("no GPU") != std::string::npos)
        << what;
  }
}

TEST(MakeBackend, AutomaticPicksCudaOnlyWithAGpu) {
  const auto b = make_backend(backend_kind::automatic);
  if (cuda_available()) {
    EXPECT_EQ(b->name().rfind("cuda:", 0), 0u) << b->name();
  } else {
    EXPECT_EQ(b->name(), "cpu");
  }
}

// The CUDA backend is a module loaded on demand: a process that only uses the
// CPU (or asks for `auto` without a GPU) never maps cuBLAS or the runtime.
TEST(MakeBackend, ACpuOnlyRunMapsNoCudaLibrary) {
  auto cpu = make_backend(backend_kind::cpu);
  auto a = cpu->alloc(4);
  cpu->gemm(false, false, 2, 2, 2, 1.f, a.data(), 2, a.data(), 2, 0.f, a.data(), 2);
  if (!cuda_available()) make_backend(backend_kind::automatic);  // picks the CPU
  std::ifstream maps("/proc/self/maps");
  ASSERT_TRUE(maps.good());
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("libopenblas"), std::string::npos) << "the CPU backend's BLAS is mapped";
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: `auto` loaded the CUDA module";
  EXPECT_EQ(text.find("libcublas"), std::string::npos) << text;
  EXPECT_EQ(text.find("libcudart"), std::string::npos) << text;
  EXPECT_EQ(text.find("libtroupe_cuda"), std::string::npos) << text;
}

TEST(MakeBackend, AMissingCudaModuleIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  try {
    make_backend(backend_kind::cuda);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA backend requested but"), std::string::npos)
        << e.what();
  }
}

TEST(MakeBackend, CpuThreadCount) {
  EXPECT_THROW(make_backend(backend_kind::cpu, -1), std::invalid_argument);
  EXPECT_NO_THROW(make_backend(backend_kind::cpu, 0));
  EXPECT_NO_THROW(make_backend(backend_kind::cpu, 2));
  make_backend(backend_kind::cpu, 1);  // the setting is process-wide: restore the default
}

}  // namespace
}  // namespace troupe::kernels

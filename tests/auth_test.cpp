// Cluster-secret challenge-response: secret files, nonces, proofs.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/auth.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("troupe_auth_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    return path;
  }

  errc error_of(const std::string& path) {
    try {
      load_secret(path);
    } catch (const troupe_error& e) {
      return e.code();
    }
    return errc::ok;
  }

  fs::path dir_;
};

TEST_F(SecretFile, LoadsTheSecretWithoutItsTrailingNewline) {
  EXPECT_EQ(load_secret(write("ok", "0123456789abcdef0123\n")), "0123456789abcdef0123");
  EXPECT_EQ(load_secret(write("crlf", "0123456789abcdef\r\n")), "0123456789abcdef");
}

TEST_F(SecretFile, MissingEmptyOrShortSecretsAreTypedErrors) {
  EXPECT_EQ(error_of((dir_ / "absent").string()), errc::io_error);
  EXPECT_EQ(error_of(write("empty", "")), errc::bad_config);
  EXPECT_EQ(error_of(write("blank", " \n\n")), errc::bad_config);
  EXPECT_EQ(error_of(write("short", "0123456789abcde\n")), errc::bad_config);  // 15 bytes
}

// Issue 12, problem 4: a secret every user of the machine can read was used
// silently. Now it is refused with the mode and the fix; group access stays
// allowed (root:troupe 0640 is a usual way to share it with a service).
TEST_F(SecretFile, SecretsOtherUsersCanReadAreRefusedWithTheFix) {
  const auto path = write("open", "0123456789abcdef0123\n");
  fs::permissions(path, fs::perms::others_read, fs::perm_options::add);
  EXPECT_EQ(error_of(path), errc::bad_config);
  try {
    load_secret(path);
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("mode 0604"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600 " + path), std::string::npos) << e.what();
  }
  fs::permissions(path, fs::perms::others_read, fs::perm_options::remove);
  fs::permissions(path, fs::perms::group_read, fs::perm_options::add);
  EXPECT_EQ(load_secret(path), "0123456789abcdef0123");
}

TEST(Auth, NoncesAre32RandomBytesInHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto n = make_nonce();
    ASSERT_EQ(n.size(), 64u);
    EXPECT_EQ(n.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Auth, ProofIsHmacSha256OverNonceAndContext) {
  // printf 'abc123|troupe-auth-v1|client|n1|n2' | openssl dgst -sha256 -hmac 'sixteen-byte-key!'
  const auto context = auth_context("client", "n1", "n2");
  EXPECT_EQ(context, "troupe-auth-v1|client|n1|n2");
  EXPECT_EQ(auth_proof("sixteen-byte-key!", "abc123", context),
            "58d777585a01d5f3776fd7f88d7e3c37a063dc3dde9a6e69e47ea7d13f4ea291");
}

TEST(Auth, OnlyTheRightSecretNonceAndContextVerify) {
  const std::string secret = "a-cluster-secret-of-some-length";
  const auto nonce = make_nonce();
  const auto ctx = auth_context("client", "A", "B");
  const auto proof = auth_proof(secret, nonce, ctx);
  EXPECT_TRUE(verify_proof(secret, nonce, ctx, proof));
  EXPECT_FALSE(verify_proof("another-cluster-secret-here", nonce, ctx, proof));
  EXPECT_FALSE(verify_proof(secret, make_nonce(), ctx, proof));
  EXPECT_FALSE(verify_proof(secret, nonce, auth_context("node", "A", "B"), proof));
  EXPECT_FALSE(verify_proof(secret, nonce, auth_context("client", "B", "A"), proof));
  EXPECT_FALSE(verify_proof(secret, nonce, ctx, proof.substr(0, 63)));
  EXPECT_FALSE(verify_proof(secret, nonce, ctx, ""));
  EXPECT_FALSE(verify_proof(secret, "", ctx, auth_proof(secret, "", ctx)));
}

}  // namespace
}  // namespace troupe

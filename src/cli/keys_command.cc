// airlock keys generate|jwks|thumbprint

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/files.h"
#include "common/random.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_set.h"

namespace airlock::cli {
namespace {

// 64 random bytes, written as their 86-character base64url text. As in Airflow, the HMAC
// key is the text's bytes (86 of them), not the decoded 64.
constexpr size_t kSecretRandomBytes = 64;
constexpr mode_t kKeyFileMode = 0600;

struct GenerateArgs {
  std::string type;
  int bits = 2048;
  std::string out;
};

void Generate(const GenerateArgs& args) {
  std::string contents;
  std::string kid;
  if (args.type == "secret") {
    auto bytes = RandomBytes(kSecretRandomBytes);
    if (!bytes) Exit(kExitFailure, bytes.error());
    contents = jwt::Base64UrlEncode(*bytes);
  } else {
    auto key = jwt::Key::Generate(args.type == "rsa" ? jwt::KeyType::kRsa : jwt::KeyType::kEd25519,
                                  args.bits);
    if (!key) Exit(kExitUsage, key.error());
    auto pem = (*key)->PrivatePem();
    if (!pem) Exit(kExitFailure, pem.error());
    contents = std::move(*pem);
    kid = (*key)->kid();
  }
  if (auto ok = WriteNewFile(args.out, contents, kKeyFileMode); !ok) {
    Exit(kExitFailure, ok.error());
  }
  if (!kid.empty()) std::cout << kid << "\n";
}

void Jwks(const std::vector<std::string>& files) {
  std::vector<jwt::KeyEntry> entries;
  for (const auto& file : files) {
    auto key = jwt::LoadKeyFile(file);
    if (!key) Exit(kExitUsage, key.error());
    if ((*key)->type() == jwt::KeyType::kSecret) {
      Exit(kExitUsage, file + ": an HMAC secret has no public part and is never published");
    }
    entries.push_back({std::move(*key), jwt::KeyState::kRetired});
  }
  auto set = jwt::KeySet::Create(std::move(entries));
  if (!set) Exit(kExitUsage, set.error());
  std::cout << set->ToJwks() << "\n";
}

void Thumbprint(const std::string& file) {
  auto key = jwt::LoadKeyFile(file);
  if (!key) Exit(kExitUsage, key.error());
  std::cout << (*key)->thumbprint() << "\n";
}

}  // namespace

void RegisterKeysCommands(CLI::App& app) {
  CLI::App* keys = app.add_subcommand("keys", "Generate keys and print their JWKS and thumbprints");
  keys->require_subcommand(1);

  auto generate_args = std::make_shared<GenerateArgs>();
  CLI::App* generate = keys->add_subcommand(
      "generate",
      "Write a new private key (PEM) or HMAC secret to --out with mode 0600, refusing to "
      "overwrite an existing file. A secret is 64 random bytes written as 86 characters of "
      "base64url with no newline; use the file as [api_auth] jwt_secret (the HMAC key is "
      "the text's bytes). For rsa/ed25519 the key's RFC 7638 kid is printed on stdout.");
  generate->add_option("--type", generate_args->type, "ed25519, rsa or secret")
      ->required()
      ->check(CLI::IsMember({"ed25519", "rsa", "secret"}));
  generate->add_option("--bits", generate_args->bits, "RSA modulus size")
      ->default_val(2048)
      ->check(CLI::Range(2048, 8192));
  generate->add_option("--out", generate_args->out, "File to create")->required();
  generate->callback([generate_args] { Generate(*generate_args); });

  auto jwks_files = std::make_shared<std::vector<std::string>>();
  CLI::App* jwks = keys->add_subcommand(
      "jwks", "Print the JWKS (public parts only, RFC 7638 kids) of PEM or JWK key files");
  jwks->add_option("files", *jwks_files, "PEM (private or public) or JWK files")->required();
  jwks->callback([jwks_files] { Jwks(*jwks_files); });

  auto thumb_file = std::make_shared<std::string>();
  CLI::App* thumb =
      keys->add_subcommand("thumbprint", "Print the RFC 7638 SHA-256 thumbprint of a key");
  thumb->add_option("file", *thumb_file, "A PEM key or a JWK (JSON)")->required();
  thumb->callback([thumb_file] { Thumbprint(*thumb_file); });
}

}  // namespace airlock::cli

// airlock keys generate|jwks|thumbprint

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/files.h"
#include "common/random.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_directory.h"
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

struct RotateArgs {
  std::string dir;
  std::string type = "ed25519";
  int bits = 2048;
  int keep_retired = 1;
};

void PrintKeySet(const jwt::KeySet& set) {
  for (const auto& e : set.entries()) {
    std::cout << e.key->kid() << " " << jwt::KeyStateName(e.state) << " "
              << jwt::AlgorithmName(e.key->algorithm()) << "\n";
  }
}

void Rotate(const RotateArgs& args) {
  jwt::RotateOptions options;
  options.type = args.type == "rsa" ? jwt::KeyType::kRsa : jwt::KeyType::kEd25519;
  options.rsa_bits = args.bits;
  options.keep_retired = args.keep_retired;
  auto set = jwt::KeyDirectory(args.dir).Rotate(options);
  if (!set) Exit(kExitFailure, set.error());
  PrintKeySet(*set);
}

void List(const std::string& dir) {
  auto set = jwt::KeyDirectory(dir).Load();
  if (!set) Exit(kExitFailure, set.error());
  PrintKeySet(*set);
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

  auto rotate_args = std::make_shared<RotateArgs>();
  CLI::App* rotate = keys->add_subcommand(
      "rotate",
      "One rotation step of a key directory (keys.json + one 0600 PEM per key): an empty "
      "directory gets an active and a next key; otherwise next becomes active, active "
      "becomes retired, a new next key is made, and retired keys beyond --keep-retired are "
      "deleted. Next and retired keys validate and are published; only the active key "
      "signs. A running api-server or scheduler whose [api_auth] jwt_private_key_path names "
      "the directory picks the rotation up within seconds, without a restart. Prints one "
      "line per key: kid, state, algorithm.");
  rotate->add_option("--dir", rotate_args->dir, "Key directory (created if missing)")->required();
  rotate->add_option("--type", rotate_args->type, "Type of new keys: ed25519 or rsa")
      ->default_val("ed25519")
      ->check(CLI::IsMember({"ed25519", "rsa"}));
  rotate->add_option("--bits", rotate_args->bits, "RSA modulus size of new keys")
      ->default_val(2048)
      ->check(CLI::Range(2048, 8192));
  rotate
      ->add_option("--keep-retired", rotate_args->keep_retired,
                   "Retired keys to keep for validating older tokens")
      ->default_val(1)
      ->check(CLI::Range(0, 100));
  rotate->callback([rotate_args] { Rotate(*rotate_args); });

  auto list_dir = std::make_shared<std::string>();
  CLI::App* list = keys->add_subcommand(
      "list", "Print the keys of a key directory: kid, state, algorithm (one line each)");
  list->add_option("--dir", *list_dir, "Key directory")->required();
  list->callback([list_dir] { List(*list_dir); });
}

}  // namespace airlock::cli

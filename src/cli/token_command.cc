// airlock token mint|verify|inspect

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/clock.h"
#include "http/client.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"

namespace airlock::cli {
namespace {

struct MintArgs {
  std::string key_file;
  std::string secret_file;
  std::string alg;
  std::vector<std::string> aud;
  std::string iss;
  std::string sub;
  std::string scope;
  int64_t ttl = 600;
  std::string kid;
  std::vector<std::string> claims;  // NAME=JSON
};

struct VerifyArgs {
  std::string key_file;
  std::string secret_file;
  std::string jwks;
  std::vector<std::string> algs;
  std::vector<std::string> aud;
  std::string iss;
  int64_t leeway = jwt::kDefaultLeewaySeconds;
  std::string token;
};

// The single key given by --key or --secret-file, with `alg` pinned (nullopt = GUESS).
jwt::KeyPtr LoadOneKey(const std::string& key_file, const std::string& secret_file,
                       std::optional<jwt::Algorithm> alg, const std::string& kid) {
  Result<jwt::KeyPtr> key = !key_file.empty() ? jwt::LoadKeyFile(key_file, alg, kid)
                                              : jwt::LoadSecretFile(secret_file, alg);
  if (!key) Exit(kExitUsage, key.error());
  if (!kid.empty() && (*key)->kid() != kid) {
    key = (*key)->With((*key)->algorithm(), kid);
    if (!key) Exit(kExitUsage, key.error());
  }
  return *key;
}

void Mint(const MintArgs& args) {
  std::optional<jwt::Algorithm> alg;
  if (!args.alg.empty()) alg = ParseAlgorithmFlag(args.alg);
  jwt::KeyPtr key = LoadOneKey(args.key_file, args.secret_file, alg, args.kid);
  if (!key->can_sign()) Exit(kExitUsage, "the key is public only and cannot sign");

  jwt::MintRequest request;
  request.sub = args.sub;
  request.aud = args.aud;
  if (!args.iss.empty()) request.iss = args.iss;
  if (!args.scope.empty()) request.scope = args.scope;
  request.ttl_seconds = args.ttl;
  for (const auto& claim : args.claims) {
    size_t eq = claim.find('=');
    if (eq == std::string::npos || eq == 0) Exit(kExitUsage, "--claim must be NAME=JSON");
    request.extra_claims.emplace_back(claim.substr(0, eq), claim.substr(eq + 1));
  }
  jwt::TokenSigner signer(std::make_shared<jwt::StaticKeySource>(jwt::KeySet::Single(key)),
                          SystemClock::Instance());
  auto token = signer.Mint(request);
  if (!token) Exit(kExitUsage, token.error());
  std::cout << *token << "\n";
}

void Verify(const VerifyArgs& args) {
  std::vector<jwt::Algorithm> algs;
  for (const auto& a : args.algs) algs.push_back(ParseAlgorithmFlag(a));
  std::shared_ptr<jwt::KeySource> source;
  if (!args.jwks.empty()) {
    jwt::JwksSourceOptions options;
    options.background_polling = false;
    // One --alg is what [api_auth] jwt_algorithm is to the api-server: JWKs without "alg"
    // are pinned to it, JWKs naming another algorithm are not used.
    if (algs.size() == 1) options.algorithm = algs[0];
    auto jwks = jwt::JwksKeySource::Create(
        args.jwks, [](const std::string& url) { return http::FetchUrl(url); },
        SystemClock::Instance(), options);
    if (!jwks) Exit(kExitUsage, jwks.error());
    source = std::move(*jwks);
  } else {
    if (algs.size() > 1) {
      Exit(kExitUsage, "with --key or --secret-file give at most one --alg (it pins the key)");
    }
    std::optional<jwt::Algorithm> pinned;
    if (!algs.empty()) pinned = algs[0];
    source = std::make_shared<jwt::StaticKeySource>(
        jwt::KeySet::Single(LoadOneKey(args.key_file, args.secret_file, pinned, "")));
  }
  jwt::ValidatorOptions options;
  options.audiences = args.aud;
  if (!args.iss.empty()) options.issuer = args.iss;
  options.leeway_seconds = args.leeway;
  options.allowed_algorithms = algs;
  auto validator = jwt::Validator::Create(source, options, SystemClock::Instance());
  if (!validator) Exit(kExitUsage, validator.error());

  std::string token = ReadTokenArgument(args.token);
  auto claims = (*validator)->Validate(token);
  if (!claims) Exit(kExitFailure, "invalid token: " + claims.error().message);
  std::cout << claims->payload_json << "\n";
}

void Inspect(const std::string& argument) {
  std::string token = ReadTokenArgument(argument);
  auto decoded = jwt::DecodeUnverified(token);
  if (!decoded) Exit(kExitFailure, "cannot decode token: " + decoded.error().message);
  boost::json::error_code ec;
  boost::json::value payload = boost::json::parse(decoded->payload, ec);
  if (ec) Exit(kExitFailure, "cannot decode token: the payload is not JSON");
  boost::json::object out;
  out["verified"] = false;
  out["header"] = boost::json::parse(decoded->header_json);
  out["claims"] = std::move(payload);
  std::cerr << "airlock: UNVERIFIED: the signature was not checked; do not trust these values\n";
  std::cout << boost::json::serialize(out) << "\n";
}

}  // namespace

void RegisterTokenCommands(CLI::App& app) {
  CLI::App* token = app.add_subcommand("token", "Mint, verify and inspect JWTs");
  token->require_subcommand(1);

  auto mint_args = std::make_shared<MintArgs>();
  CLI::App* mint = token->add_subcommand(
      "mint",
      "Sign a token and print it followed by a newline. Claims: jti (fresh uuid4 hex), "
      "iss, aud, sub, scope, iat, nbf = iat, exp = iat + ttl, and any --claim.");
  // Repeatable options take one value per flag (allow_extra_args(false)): CLI11 would
  // otherwise let "--aud A" swallow the words after it, so "verify --aud A X TOKEN" would
  // silently accept audience X instead of refusing the stray argument.
  auto* key_opt = mint->add_option("--key", mint_args->key_file, "Private key (PEM)");
  auto* secret_opt = mint->add_option(
      "--secret-file", mint_args->secret_file,
      "HMAC secret file: its exact bytes, except that one trailing newline is dropped");
  key_opt->excludes(secret_opt);
  mint->add_option("--alg", mint_args->alg, "HS512, RS256, RS512 or EdDSA (default: from the key)");
  mint->add_option("--aud", mint_args->aud, "Audience (repeat for several)")
      ->required()
      ->allow_extra_args(false);
  mint->add_option("--iss", mint_args->iss, "Issuer");
  mint->add_option("--sub", mint_args->sub, "Subject")->required();
  mint->add_option("--scope", mint_args->scope, "Token scope, e.g. execution or workload");
  mint->add_option("--ttl", mint_args->ttl, "Lifetime in seconds")
      ->default_val(600)
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 86400));
  mint->add_option(
      "--kid", mint_args->kid,
      "Key id to put in the header (default: RFC 7638; not for HS512, whose tokens carry none)");
  mint->add_option("--claim", mint_args->claims, "Extra claim NAME=JSON (repeatable)")
      ->allow_extra_args(false);
  mint->callback([mint_args] {
    if (mint_args->key_file.empty() == mint_args->secret_file.empty()) {
      Exit(kExitUsage, "give exactly one of --key or --secret-file");
    }
    if (!mint_args->secret_file.empty() && !mint_args->kid.empty()) {
      Exit(kExitUsage, "--kid does not apply to --secret-file: HS512 tokens carry no kid");
    }
    Mint(*mint_args);
  });

  auto verify_args = std::make_shared<VerifyArgs>();
  CLI::App* verify = token->add_subcommand(
      "verify",
      "Validate a token (signature, exp/iat/nbf with leeway, aud, iss and every strict "
      "parsing rule). Valid: exit 0 and the claims as one JSON object on stdout. Invalid: "
      "exit 1 and one line on stderr saying why. Bad usage: exit 2.");
  auto* vkey =
      verify->add_option("--key", verify_args->key_file,
                         "PEM or JWK key file; a private key verifies with its public half");
  auto* vsecret = verify->add_option(
      "--secret-file", verify_args->secret_file,
      "HMAC secret file: its exact bytes, except that one trailing newline is dropped");
  auto* vjwks = verify->add_option("--jwks", verify_args->jwks, "JWKS file or http(s) URL");
  vkey->excludes(vsecret)->excludes(vjwks);
  vsecret->excludes(vjwks);
  verify
      ->add_option("--alg", verify_args->algs,
                   "Accepted algorithm (repeatable with --jwks; one --alg pins the key's "
                   "algorithm, or that of JWKs without \"alg\"; default: from the key)")
      ->allow_extra_args(false);
  verify->add_option("--aud", verify_args->aud, "Accepted audience (repeatable)")
      ->required()
      ->allow_extra_args(false);
  verify->add_option("--iss", verify_args->iss, "Required issuer");
  verify->add_option("--leeway", verify_args->leeway, "Clock leeway in seconds")
      ->default_val(jwt::kDefaultLeewaySeconds)
      ->check(CLI::Range(int64_t{0}, jwt::kMaxLeewaySeconds));
  verify->add_option("token", verify_args->token, "The token, or - to read it from stdin")
      ->required();
  verify->callback([verify_args] {
    int sources = !verify_args->key_file.empty() + !verify_args->secret_file.empty() +
                  !verify_args->jwks.empty();
    if (sources != 1) Exit(kExitUsage, "give exactly one of --key, --secret-file or --jwks");
    Verify(*verify_args);
  });

  auto inspect_token = std::make_shared<std::string>();
  CLI::App* inspect =
      token->add_subcommand("inspect",
                            "Print a token's header and claims WITHOUT verifying it, as "
                            "{\"verified\":false,\"header\":…,\"claims\":…}");
  inspect->add_option("token", *inspect_token, "The token, or - to read it from stdin")->required();
  inspect->callback([inspect_token] { Inspect(*inspect_token); });
}

}  // namespace airlock::cli

#include "http/client.h"

#include <strings.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <optional>

// Built twice (src/http/CMakeLists.txt): with TLS, and with AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
// for airlock-supervisor, which then links no OpenSSL and refuses https URLs.
#ifndef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#endif

namespace airlock::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Response headers larger than this are refused; JWKS and API responses have a handful.
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;

struct Target {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string host_header;
  std::string request_target;  // path and query
  std::string display;         // scheme://host:port/path — no userinfo, no query
};

Result<Target> ParseTarget(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return InvalidArgument("not an absolute URL");
  Target t;
  std::string scheme(parsed->scheme());
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return InvalidArgument("unsupported URL scheme '" + scheme + "' (http or https only)");
  }
  if (parsed->has_userinfo()) {
    return InvalidArgument("credentials in the URL are not supported");
  }
  if (parsed->host_type() == boost::urls::host_type::ipv6) {
    t.host = std::string(parsed->encoded_host_address());
  } else {
    t.host = std::string(parsed->host());
  }
  if (t.host.empty()) return InvalidArgument("URL has no host");
  t.port = parsed->has_port() ? std::string(parsed->port()) : (t.tls ? "443" : "80");
  std::string encoded_host(parsed->encoded_host_and_port());
  t.host_header = encoded_host;
  std::string path(parsed->encoded_path());
  if (path.empty()) path = "/";
  t.request_target = path;
  if (parsed->has_query()) t.request_target += "?" + std::string(parsed->encoded_query());
  t.display = scheme + "://" + encoded_host + path;
  return t;
}

#ifndef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
bool IsIpAddress(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}
#endif

Error Failed(ErrorCode code, const Target& target, std::string_view what) {
  return Error(code, target.display + ": " + std::string(what));
}

// What one attempt produced: a response, or the error that ended it.
using Outcome = Result<ClientResponse>;

template <typename Stream>
asio::awaitable<Outcome> Exchange(Stream& stream, const Target& target,
                                  const ClientRequest& request, const ClientOptions& options) {
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);

  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(target.request_target);
  req.version(11);
  req.set(bhttp::field::host, target.host_header);
  req.set(bhttp::field::user_agent, "airlock/0.1.0");
  req.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.insert(name, value);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    req.prepare_payload();
  }
  co_await bhttp::async_write(stream, req, token);
  if (ec)
    co_return std::unexpected(
        Failed(ErrorCode::kUnavailable, target, "write failed: " + ec.message()));

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  if (options.headers_only) {
    // The parser checks Content-Length against its body limit while reading the header;
    // no body byte is read here, so there is nothing to limit.
    parser.body_limit(boost::none);
    co_await bhttp::async_read_header(stream, buffer, parser, token);
  } else {
    parser.body_limit(options.max_body_bytes);
    co_await bhttp::async_read(stream, buffer, parser, token);
  }
  if (ec == bhttp::error::body_limit) {
    co_return std::unexpected(Failed(
        ErrorCode::kResourceExhausted, target,
        "response body is larger than " + std::to_string(options.max_body_bytes) + " bytes"));
  }
  if (ec)
    co_return std::unexpected(
        Failed(ErrorCode::kUnavailable, target, "read failed: " + ec.message()));

  auto& res = parser.get();
  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (!options.headers_only) out.body = std::move(res.body());
  co_return out;
}

#ifndef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
using TlsContext = asio::ssl::context;
#else
struct TlsContext {};  // never made: Send() refuses https first
#endif

asio::awaitable<Outcome> Run(const Target& target, const ClientRequest& request,
                             const ClientOptions& options, TlsContext* tls) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);

  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(target.host, target.port, token);
  if (ec)
    co_return std::unexpected(
        Failed(ErrorCode::kUnavailable, target, "cannot resolve host: " + ec.message()));

  tcp::socket socket(executor);
  co_await asio::async_connect(socket, endpoints, token);
  if (ec)
    co_return std::unexpected(
        Failed(ErrorCode::kUnavailable, target, "connect failed: " + ec.message()));

  if (!tls) co_return co_await Exchange(socket, target, request, options);

#ifdef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
  co_return std::unexpected(Failed(ErrorCode::kInternal, target, "no TLS in this program"));
#else
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls);
  SSL* ssl = stream.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool host_ok;
  if (IsIpAddress(target.host)) {
    host_ok = X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str()) == 1;
  } else {
    host_ok = X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0) == 1 &&
              SSL_set_tlsext_host_name(ssl, target.host.c_str()) == 1;
  }
  if (!host_ok)
    co_return std::unexpected(Failed(ErrorCode::kInternal, target, "cannot set up TLS host check"));

  co_await stream.async_handshake(asio::ssl::stream_base::client, token);
  if (ec) {
    std::string why = ec.message();
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
    co_return std::unexpected(
        Failed(ErrorCode::kUnavailable, target, "TLS handshake failed: " + why));
  }
  // No TLS shutdown exchange: the request said "Connection: close" and the response is
  // complete, so waiting for the peer's close_notify could only add latency.
  co_return co_await Exchange(stream, target, request, options);
#endif
}

#ifndef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
Result<std::unique_ptr<asio::ssl::context>> MakeTlsContext(const ClientOptions& options) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(options.ca_file, ec);
  }
  if (ec) return InvalidArgument("cannot load trusted CA certificates: " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}
#endif

}  // namespace

std::string ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), key.size()) == 0) {
      return value;
    }
  }
  return {};
}

std::string ClientResponse::Detail() const {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    if (const boost::json::value* detail = parsed.as_object().if_contains("detail")) {
      return detail->is_string() ? std::string(detail->as_string())
                                 : boost::json::serialize(*detail);
    }
  }
  return "HTTP " + std::to_string(status);
}

Result<ClientResponse> Send(const ClientRequest& request, const ClientOptions& options) {
  auto target = ParseTarget(request.url);
  if (!target) return std::unexpected(target.error());
  if (bhttp::string_to_verb(request.method) == bhttp::verb::unknown) {
    return InvalidArgument("unknown HTTP method '" + request.method + "'");
  }
  std::unique_ptr<TlsContext> tls;
  if (target->tls) {
#ifdef AIRLOCK_HTTP_CLIENT_WITHOUT_TLS
    return std::unexpected(Failed(ErrorCode::kFailedPrecondition, *target,
                                  "https is not available in this program (built without TLS)"));
#else
    auto ctx = MakeTlsContext(options);
    if (!ctx) return std::unexpected(ctx.error());
    tls = std::move(*ctx);
#endif
  }

  asio::io_context ioc(1);
  std::optional<Outcome> outcome;
  asio::co_spawn(
      ioc, Run(*target, request, options, tls.get()),
      [&outcome](std::exception_ptr error, Outcome result) {
        if (error) {
          outcome.emplace(std::unexpected(Error(ErrorCode::kInternal, "request failed")));
        } else {
          outcome.emplace(std::move(result));
        }
      });
  ioc.run_for(options.timeout);
  if (!outcome) {
    return std::unexpected(
        Failed(ErrorCode::kDeadlineExceeded, *target,
               "no complete response within " + std::to_string(options.timeout.count()) + " ms"));
  }
  return std::move(*outcome);
}

bool UsesTls(const std::string& url) {
  auto target = ParseTarget(url);
  return target && target->tls;
}

Result<std::string> FetchUrl(const std::string& url, const ClientOptions& options) {
  auto response = Send(ClientRequest{.method = "GET", .url = url}, options);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    auto target = ParseTarget(url);
    return Unavailable((target ? target->display : std::string("URL")) + ": HTTP status " +
                       std::to_string(response->status));
  }
  return std::move(response->body);
}

}  // namespace airlock::http
